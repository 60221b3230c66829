/* backends/kvm/kvm_vcpu.c — KVM vCPUs: KVM_RUN, exit translation, state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "x86/regs_fields.h"
#include "kvm_internal.h"

static int ioctl_error(const struct kvm_vcpu *v, const char *what) {
  int e = errno;
  return vmm__error(e == ENOMEM ? VMM_ENOMEM
                    : e == EINVAL ? VMM_EINVAL : VMM_EBACKEND,
                    "kvm: vCPU %u: %s failed: %s", v->id, what, strerror(e));
}

/* Gives each vCPU its own APIC id in the CPUID leaves that report it. */
static void cpuid_fix_apic_id(struct kvm_cpuid2 *c, uint32_t id) {
  for (uint32_t i = 0; i < c->nent; i++) {
    struct kvm_cpuid_entry2 *e = &c->entries[i];
    if (e->function == 1)
      e->ebx = (e->ebx & 0x00ffffffu) | (id << 24);
    else if (e->function == 0xb || e->function == 0x1f)
      e->edx = id;
  }
}

static int install_cpuid(struct kvm_vcpu *v, struct kvm_cpuid2 *c) {
  if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
    return ioctl_error(v, "KVM_SET_CPUID2");
  free(v->cpuid);
  v->cpuid = c;
  return 0;
}

int vmm__kvm_vcpu_create(void *bvm, uint32_t id, void **bvcpu) {
  struct kvm_vm *k = bvm;
  struct kvm_vcpu *v = calloc(1, sizeof(*v));
  if (!v)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for a vCPU");
  v->id = id;
  v->kvm = k;
  v->fd = ioctl(k->fd, KVM_CREATE_VCPU, (unsigned long)id);
  if (v->fd < 0) {
    int rc = ioctl_error(v, "KVM_CREATE_VCPU");
    free(v);
    return rc;
  }
  int size = vmm__kvm_run_size();
  if (size < (int)sizeof(struct kvm_run)) {
    int rc = ioctl_error(v, "KVM_GET_VCPU_MMAP_SIZE");
    close(v->fd);
    free(v);
    return rc;
  }
  v->run_size = (size_t)size;
  v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
                0);
  if (v->run == MAP_FAILED) {
    int rc = ioctl_error(v, "mmap of kvm_run");
    close(v->fd);
    free(v);
    return rc;
  }
  /* By default the guest sees everything KVM supports on this host. */
  const struct kvm_cpuid2 *host = NULL;
  int rc = vmm__kvm_supported_cpuid(&host);
  if (rc == 0) {
    size_t bytes = sizeof(*host) + host->nent * sizeof(host->entries[0]);
    struct kvm_cpuid2 *c = malloc(bytes);
    if (!c) {
      rc = vmm__error(VMM_ENOMEM, "kvm: out of memory for CPUID");
    } else {
      memcpy(c, host, bytes);
      cpuid_fix_apic_id(c, id);
      rc = install_cpuid(v, c);
      if (rc < 0)
        free(c);
    }
  }
  if (rc < 0) {
    vmm__kvm_vcpu_destroy(v);
    return rc;
  }
  *bvcpu = v;
  return 0;
}

void vmm__kvm_vcpu_destroy(void *bvcpu) {
  struct kvm_vcpu *v = bvcpu;
  if (!v)
    return;
  munmap(v->run, v->run_size);
  close(v->fd);
  free(v->cpuid);
  free(v);
}

void vmm__kvm_vcpu_kick_set(void *bvcpu, int on) {
  struct kvm_vcpu *v = bvcpu;
  __atomic_store_n(&v->run->immediate_exit, (uint8_t)on, __ATOMIC_SEQ_CST);
}

/* Fills the INTERNAL_ERROR exit and the detailed message. */
static void internal_exit(struct kvm_vcpu *v, vmm_exit_t *exit, uint32_t kind,
                          uint32_t code, const char *what) {
  struct kvm_regs regs;
  memset(&exit->u.internal, 0, sizeof(exit->u.internal));
  exit->reason = VMM_EXIT_INTERNAL_ERROR;
  exit->u.internal.kind = kind;
  exit->u.internal.backend_code = code;
  if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
    exit->u.internal.rip = regs.rip;
  vmm__error(VMM_EBACKEND, "kvm: vCPU %u: %s (code %u) at rip 0x%llx",
             v->id, what, code, (unsigned long long)exit->u.internal.rip);
}

__attribute__((hot)) int vmm__kvm_vcpu_run(void *bvcpu, vmm_exit_t *exit) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_run *run = v->run;
  v->sregs_valid = false; /* the guest may change them */
  if (ioctl(v->fd, KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN)
      return VMM_EINTR;
    return ioctl_error(v, "KVM_RUN");
  }
  /* Only the fields of the exit at hand are written: zeroing the whole
   * record on every exit showed up in the exit-latency profile. */
  exit->reserved = 0;
  switch (run->exit_reason) {
  case KVM_EXIT_IO:
    exit->reason = VMM_EXIT_IO;
    exit->u.io.port = run->io.port;
    exit->u.io.size = run->io.size;
    exit->u.io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
    exit->u.io.count = run->io.count;
    /* KVM keeps the data inside the run page; bound it before trusting. */
    if (run->io.data_offset >= v->run_size ||
        (uint64_t)run->io.size * run->io.count >
            v->run_size - run->io.data_offset) {
      internal_exit(v, exit, VMM_INTERNAL_UNKNOWN, KVM_EXIT_IO,
                    "I/O exit data outside the run area");
      return 0;
    }
    exit->u.io.data = (uint8_t *)run + run->io.data_offset;
    return 0;
  case KVM_EXIT_MMIO:
    exit->reason = VMM_EXIT_MMIO;
    exit->u.mmio.gpa = run->mmio.phys_addr;
    exit->u.mmio.size = run->mmio.len > 8 ? 8 : run->mmio.len;
    exit->u.mmio.is_write = run->mmio.is_write;
    exit->u.mmio.data = run->mmio.data;
    return 0;
  case KVM_EXIT_HLT:
    exit->reason = VMM_EXIT_HLT;
    return 0;
  case KVM_EXIT_SHUTDOWN:
    exit->reason = VMM_EXIT_SHUTDOWN;
    return 0;
  case KVM_EXIT_SYSTEM_EVENT:
    exit->reason = VMM_EXIT_SHUTDOWN;
    return 0;
  case KVM_EXIT_DEBUG:
    exit->reason = VMM_EXIT_DEBUG;
    memset(&exit->u.debug, 0, sizeof(exit->u.debug));
    exit->u.debug.exception = run->debug.arch.exception;
    exit->u.debug.rip = run->debug.arch.pc;
    exit->u.debug.dr6 = run->debug.arch.dr6;
    exit->u.debug.dr7 = run->debug.arch.dr7;
    return 0;
  case KVM_EXIT_INTR:
    return VMM_EINTR;
  case KVM_EXIT_FAIL_ENTRY:
    internal_exit(v, exit, VMM_INTERNAL_ENTRY_FAILED,
                  (uint32_t)run->fail_entry.hardware_entry_failure_reason,
                  "VM entry failed");
    return 0;
  case KVM_EXIT_INTERNAL_ERROR: {
    uint32_t sub = run->internal.suberror;
    uint32_t kind = sub == KVM_INTERNAL_ERROR_EMULATION
                        ? VMM_INTERNAL_EMULATION
                        : sub == KVM_INTERNAL_ERROR_DELIVERY_EV
                              ? VMM_INTERNAL_DELIVERY
                              : VMM_INTERNAL_UNKNOWN;
    internal_exit(v, exit, kind, sub,
                  kind == VMM_INTERNAL_EMULATION
                      ? "instruction emulation failed"
                      : "internal error");
    uint32_t nd = run->internal.ndata;
    if (nd > sizeof(run->internal.data) / sizeof(run->internal.data[0]))
      nd = sizeof(run->internal.data) / sizeof(run->internal.data[0]);
    for (uint32_t i = 0; i < nd && i < 4; i++)
      exit->u.internal.data[i] = run->internal.data[i];
#ifdef KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
    /* Newer kernels report the instruction bytes: flags, length, bytes. */
    if (sub == KVM_INTERNAL_ERROR_EMULATION && nd >= 3 &&
        (run->emulation_failure.flags &
         KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
      uint8_t len = run->emulation_failure.insn_size;
      if (len > 15)
        len = 15;
      exit->u.internal.insn_len = len;
      memcpy(exit->u.internal.insn, run->emulation_failure.insn_bytes, len);
    }
#endif
    return 0;
  }
  default:
    internal_exit(v, exit, VMM_INTERNAL_UNHANDLED_EXIT, run->exit_reason,
                  "exit reason libvmm does not handle");
    return 0;
  }
}

/* ---- registers ------------------------------------------------------ */

int vmm__kvm_get_regs(void *bvcpu, vmm_regs_t *regs) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_regs k;
  if (ioctl(v->fd, KVM_GET_REGS, &k) < 0)
    return ioctl_error(v, "KVM_GET_REGS");
#define TO(f) regs->f = k.f;
  VMM__X86_GPRS(TO)
#undef TO
  return 0;
}

int vmm__kvm_set_regs(void *bvcpu, const vmm_regs_t *regs) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_regs k;
#define FROM(f) k.f = regs->f;
  VMM__X86_GPRS(FROM)
#undef FROM
  if (ioctl(v->fd, KVM_SET_REGS, &k) < 0)
    return ioctl_error(v, "KVM_SET_REGS");
  return 0;
}


int vmm__kvm_get_sregs(void *bvcpu, vmm_sregs_t *s) {
  struct kvm_vcpu *v = bvcpu;
  if (ioctl(v->fd, KVM_GET_SREGS, &v->sregs) < 0)
    return ioctl_error(v, "KVM_GET_SREGS");
  v->sregs_valid = true;
  const struct kvm_sregs k = v->sregs;
  memset(s, 0, sizeof(*s));
#define ONE_SEG(seg_)                                                         \
  do {                                                                        \
    vmm_segment_t *d = &s->seg_;                                              \
    const struct kvm_segment *src = &k.seg_;                                  \
    d->base = src->base, d->limit = src->limit, d->selector = src->selector;  \
    d->type = src->type, d->present = src->present, d->dpl = src->dpl;        \
    d->db = src->db, d->s = src->s, d->l = src->l, d->g = src->g;             \
    d->avl = src->avl, d->unusable = src->unusable;                           \
  } while (0);
  VMM__X86_SEGS(ONE_SEG)
#undef ONE_SEG
  s->gdt.base = k.gdt.base, s->gdt.limit = k.gdt.limit;
  s->idt.base = k.idt.base, s->idt.limit = k.idt.limit;
#define C(f) s->f = k.f;
  VMM__X86_CTRL_REGS(C)
#undef C
  return 0;
}

int vmm__kvm_set_sregs(void *bvcpu, const vmm_sregs_t *s) {
  struct kvm_vcpu *v = bvcpu;
  /* kvm_sregs also carries the pending-interrupt bitmap, which libvmm does
   * not model and must not clobber: start from the last values read, or
   * read them now if the guest ran since (a read costs ~5 us here). */
  if (!v->sregs_valid && ioctl(v->fd, KVM_GET_SREGS, &v->sregs) < 0)
    return ioctl_error(v, "KVM_GET_SREGS");
  struct kvm_sregs k = v->sregs;
#define ONE_SEG(seg_)                                                         \
  do {                                                                        \
    struct kvm_segment *d = &k.seg_;                                          \
    const vmm_segment_t *src = &s->seg_;                                      \
    d->base = src->base, d->limit = src->limit, d->selector = src->selector;  \
    d->type = src->type, d->present = src->present, d->dpl = src->dpl;        \
    d->db = src->db, d->s = src->s, d->l = src->l, d->g = src->g;             \
    d->avl = src->avl, d->unusable = src->unusable;                           \
  } while (0);
  VMM__X86_SEGS(ONE_SEG)
#undef ONE_SEG
  k.gdt.base = s->gdt.base, k.gdt.limit = s->gdt.limit;
  k.idt.base = s->idt.base, k.idt.limit = s->idt.limit;
#define C(f) k.f = s->f;
  VMM__X86_CTRL_REGS(C)
#undef C
  if (ioctl(v->fd, KVM_SET_SREGS, &k) < 0) {
    v->sregs_valid = false;
    return ioctl_error(v, "KVM_SET_SREGS");
  }
  v->sregs = k;
  v->sregs_valid = true;
  return 0;
}

/*
 * KVM_GET_FPU / KVM_SET_FPU leave MXCSR out (a long-standing Linux quirk),
 * so where XSAVE exists the state travels through the XSAVE image: its
 * first 512 bytes are the FXSAVE layout (MXCSR at byte 24), loaded when
 * the header's XSTATE_BV (byte 512) has the x87 and SSE bits.
 */
#define XSAVE_MXCSR_WORD 6    /* byte 24 */
#define XSAVE_XSTATE_BV_WORD 128 /* byte 512 */
#define XSTATE_X87 (1u << 0)
#define XSTATE_SSE (1u << 1)

static struct kvm_xsave *xsave_get(struct kvm_vcpu *v, int *rc) {
  size_t size = vmm__kvm_xsave_size();
  struct kvm_xsave *x = calloc(1, size);
  if (!x) {
    *rc = vmm__error(VMM_ENOMEM, "kvm: out of memory for XSAVE state");
    return NULL;
  }
  unsigned long req = size > sizeof(*x) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
  if (ioctl(v->fd, req, x) < 0) {
    *rc = ioctl_error(v, "KVM_GET_XSAVE");
    free(x);
    return NULL;
  }
  return x;
}

int vmm__kvm_get_fpu(void *bvcpu, vmm_fpu_t *f) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_fpu k;
  if (ioctl(v->fd, KVM_GET_FPU, &k) < 0)
    return ioctl_error(v, "KVM_GET_FPU");
  memset(f, 0, sizeof(*f));
  memcpy(f->fpr, k.fpr, sizeof(f->fpr));
  f->fcw = k.fcw, f->fsw = k.fsw, f->ftwx = k.ftwx;
  f->last_opcode = k.last_opcode, f->last_ip = k.last_ip;
  f->last_dp = k.last_dp;
  memcpy(f->xmm, k.xmm, sizeof(f->xmm));
  f->mxcsr = k.mxcsr;
  if (vmm__kvm_xsave_size()) {
    int rc = 0;
    struct kvm_xsave *x = xsave_get(v, &rc);
    if (!x)
      return rc;
    f->mxcsr = x->region[XSAVE_MXCSR_WORD];
    free(x);
  }
  return 0;
}

/* Writes the whole legacy (FXSAVE-format) area of an XSAVE image. */
static void xsave_put_legacy(struct kvm_xsave *x, const vmm_fpu_t *f) {
  uint8_t *b = (uint8_t *)x->region;
  memcpy(b + 0, &f->fcw, 2);
  memcpy(b + 2, &f->fsw, 2);
  b[4] = f->ftwx;
  memcpy(b + 6, &f->last_opcode, 2);
  memcpy(b + 8, &f->last_ip, 8);
  memcpy(b + 16, &f->last_dp, 8);
  memcpy(b + 24, &f->mxcsr, 4);
  memcpy(b + 32, f->fpr, sizeof(f->fpr));
  memcpy(b + 160, f->xmm, sizeof(f->xmm));
}

int vmm__kvm_set_fpu(void *bvcpu, const vmm_fpu_t *f) {
  struct kvm_vcpu *v = bvcpu;
  if (vmm__kvm_xsave_size()) {
    /* Through XSAVE, with the x87 and SSE components marked present, so
     * that MXCSR is set too and the rest of the extended state is kept. */
    int rc = 0;
    struct kvm_xsave *x = xsave_get(v, &rc);
    if (!x)
      return rc;
    xsave_put_legacy(x, f);
    x->region[XSAVE_XSTATE_BV_WORD] |= XSTATE_X87 | XSTATE_SSE;
    if (ioctl(v->fd, KVM_SET_XSAVE, x) < 0)
      rc = errno == EINVAL
               ? vmm__error(VMM_EINVAL, "kvm: vCPU %u: FPU state refused "
                            "(MXCSR 0x%x has reserved bits?)", v->id,
                            f->mxcsr)
               : ioctl_error(v, "KVM_SET_XSAVE");
    free(x);
    return rc;
  }
  struct kvm_fpu k;
  memset(&k, 0, sizeof(k));
  memcpy(k.fpr, f->fpr, sizeof(k.fpr));
  k.fcw = f->fcw, k.fsw = f->fsw, k.ftwx = f->ftwx;
  k.last_opcode = f->last_opcode, k.last_ip = f->last_ip;
  k.last_dp = f->last_dp;
  memcpy(k.xmm, f->xmm, sizeof(k.xmm));
  k.mxcsr = f->mxcsr;
  if (ioctl(v->fd, KVM_SET_FPU, &k) < 0)
    return ioctl_error(v, "KVM_SET_FPU");
  return 0;
}

/* ---- MSRs ----------------------------------------------------------- */

static struct kvm_msrs *msrs_alloc(size_t count) {
  return calloc(1, sizeof(struct kvm_msrs) +
                       count * sizeof(struct kvm_msr_entry));
}

int vmm__kvm_get_msrs(void *bvcpu, vmm_msr_entry_t *entries, size_t count) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_msrs *m = msrs_alloc(count);
  if (!m)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for MSRs");
  m->nmsrs = (uint32_t)count;
  for (size_t i = 0; i < count; i++)
    m->entries[i].index = entries[i].index;
  int n = ioctl(v->fd, KVM_GET_MSRS, m);
  int rc = 0;
  if (n < 0)
    rc = ioctl_error(v, "KVM_GET_MSRS");
  else if ((size_t)n < count)
    rc = vmm__error(VMM_EINVAL, "kvm: vCPU %u: MSR 0x%x cannot be read",
                    v->id, entries[n].index);
  for (size_t i = 0; rc == 0 && i < count; i++)
    entries[i].value = m->entries[i].data;
  free(m);
  return rc;
}

int vmm__kvm_set_msrs(void *bvcpu, const vmm_msr_entry_t *entries,
                      size_t count) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_msrs *m = msrs_alloc(count);
  if (!m)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for MSRs");
  m->nmsrs = (uint32_t)count;
  for (size_t i = 0; i < count; i++) {
    m->entries[i].index = entries[i].index;
    m->entries[i].data = entries[i].value;
  }
  int n = ioctl(v->fd, KVM_SET_MSRS, m);
  int rc = 0;
  if (n < 0)
    rc = ioctl_error(v, "KVM_SET_MSRS");
  else if ((size_t)n < count)
    rc = vmm__error(VMM_EINVAL, "kvm: vCPU %u: MSR 0x%x cannot be set to "
                    "0x%llx", v->id, entries[n].index,
                    (unsigned long long)entries[n].value);
  free(m);
  return rc;
}

/* ---- CPUID and debugging -------------------------------------------- */

int vmm__kvm_get_cpuid(void *bvcpu, vmm_cpuid_entry_t *entries,
                       size_t capacity, size_t *count) {
  struct kvm_vcpu *v = bvcpu;
  return vmm__kvm_cpuid_export(v->cpuid, entries, capacity, count);
}

int vmm__kvm_set_cpuid(void *bvcpu, const vmm_cpuid_entry_t *entries,
                       size_t count) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_cpuid2 *c =
      calloc(1, sizeof(*c) + count * sizeof(struct kvm_cpuid_entry2));
  if (!c)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for CPUID");
  c->nent = (uint32_t)count;
  for (size_t i = 0; i < count; i++) {
    struct kvm_cpuid_entry2 *e = &c->entries[i];
    e->function = entries[i].function;
    e->index = entries[i].index;
    e->flags = (entries[i].flags & VMM_CPUID_F_SIGNIFICANT_INDEX)
                   ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
    e->eax = entries[i].eax, e->ebx = entries[i].ebx;
    e->ecx = entries[i].ecx, e->edx = entries[i].edx;
  }
  int rc = install_cpuid(v, c);
  if (rc < 0)
    free(c);
  return rc;
}

int vmm__kvm_set_debug(void *bvcpu, uint32_t flags, const uint64_t *dr) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_guest_debug d;
  memset(&d, 0, sizeof(d));
  if (flags)
    d.control = KVM_GUESTDBG_ENABLE |
                ((flags & VMM_DEBUG_SINGLESTEP) ? KVM_GUESTDBG_SINGLESTEP : 0) |
                ((flags & VMM_DEBUG_SW_BREAKPOINTS) ? KVM_GUESTDBG_USE_SW_BP
                                                    : 0);
  if ((flags & VMM__DEBUG_HW_BREAKPOINTS) && dr) {
    d.control |= KVM_GUESTDBG_USE_HW_BP;
    for (int i = 0; i < 8; i++)
      d.arch.debugreg[i] = dr[i];
  }
  if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
    return ioctl_error(v, "KVM_SET_GUEST_DEBUG");
  return 0;
}

/* ---- multiprocessor state --------------------------------------------- */

int vmm__kvm_get_mp_state(void *bvcpu, uint32_t *state) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_mp_state mp;
  if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
    return ioctl_error(v, "KVM_GET_MP_STATE");
  switch (mp.mp_state) {
  case KVM_MP_STATE_RUNNABLE:
    *state = VMM_MP_RUNNABLE;
    break;
  case KVM_MP_STATE_UNINITIALIZED:
    *state = VMM_MP_UNINITIALIZED;
    break;
  case KVM_MP_STATE_INIT_RECEIVED:
    *state = VMM_MP_INIT_RECEIVED;
    break;
  case KVM_MP_STATE_HALTED:
    *state = VMM_MP_HALTED;
    break;
  case KVM_MP_STATE_SIPI_RECEIVED:
    *state = VMM_MP_SIPI_RECEIVED;
    break;
  default:
    *state = VMM_MP_OTHER;
    break;
  }
  return 0;
}

/* ---- event injection and address translation (the assist) ------------ */

/*
 * Through KVM_SET_VCPU_EVENTS, keeping what else is pending. An exception
 * goes in as an injected exception. An "interrupt" goes in as an injected
 * external interrupt: KVM treats vectors 3 and 4 as software exceptions
 * (and INT n as a software interrupt) whose length it adds to RIP itself,
 * from the last exit's instruction length (VMX) or by decoding (SVM); an
 * external-interrupt event is delivered with RIP as it is, which is what
 * the assist wants after moving RIP past the instruction.
 */
int vmm__kvm_inject_event(void *bvcpu, uint8_t vector, int kind,
                          int has_error, uint32_t error_code) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_vcpu_events ev;
  memset(&ev, 0, sizeof(ev));
  if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
    return ioctl_error(v, "KVM_GET_VCPU_EVENTS");
  if (ev.exception.injected || ev.exception.pending || ev.interrupt.injected)
    return vmm__error(VMM_EBUSY, "kvm: vCPU %u: an event is already being "
                      "delivered (exception %u, interrupt %u)", v->id,
                      ev.exception.nr, ev.interrupt.nr);
  ev.flags = 0; /* leave NMI, SIPI, SMM and the shadow as they are */
  if (kind == VMM__EVENT_EXCEPTION) {
    if (vector > 31)
      return vmm__error(VMM_EINVAL, "kvm: exception vector %u > 31", vector);
    ev.exception.injected = 1;
    ev.exception.nr = vector;
    ev.exception.has_error_code = has_error ? 1 : 0;
    ev.exception.error_code = error_code;
  } else {
    ev.interrupt.injected = 1;
    ev.interrupt.nr = vector;
    ev.interrupt.soft = 0;
  }
  if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
    return ioctl_error(v, "KVM_SET_VCPU_EVENTS");
  return 0;
}

int vmm__kvm_translate(void *bvcpu, uint64_t gva, uint64_t *gpa,
                       bool *valid) {
  struct kvm_vcpu *v = bvcpu;
  struct kvm_translation tr;
  memset(&tr, 0, sizeof(tr));
  tr.linear_address = gva;
  if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0)
    return ioctl_error(v, "KVM_TRANSLATE");
  *gpa = tr.physical_address;
  *valid = tr.valid != 0;
  return 0;
}
