/* backends/svm/svm_vcpu.c — vCPUs of the "svm" backend: LVS_RUN, exit
 * translation, register state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "x86/regs_fields.h"
#include "svm_internal.h"

int vmm__svm_ioctl_error(const struct svm_vcpu *v, const char *what) {
  int e = errno;
  return vmm__error(e == ENOMEM ? VMM_ENOMEM
                    : e == EINVAL ? VMM_EINVAL : VMM_EBACKEND,
                    "svm: vCPU %u: %s failed: %s", v->id, what, strerror(e));
}

static int push_cpuid(struct svm_vcpu *v, const vmm_cpuid_entry_t *entries,
                      size_t count) {
  if (count > LVS_MAX_CPUID)
    return vmm__error(VMM_E2BIG, "svm: %zu CPUID entries, the module takes "
                      "%u", count, LVS_MAX_CPUID);
  struct lvs_cpuid_entry *k = calloc(count ? count : 1, sizeof(*k));
  vmm_cpuid_entry_t *copy = calloc(count ? count : 1, sizeof(*copy));
  if (!k || !copy) {
    free(k);
    free(copy);
    return vmm__error(VMM_ENOMEM, "svm: out of memory for CPUID");
  }
  for (size_t i = 0; i < count; i++) {
    const vmm_cpuid_entry_t *e = &entries[i];
    k[i] = (struct lvs_cpuid_entry){
        .function = e->function, .index = e->index,
        .flags = (e->flags & VMM_CPUID_F_SIGNIFICANT_INDEX)
                     ? LVS_CPUID_SIGNIFICANT_INDEX : 0,
        .eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx};
    copy[i] = *e;
    copy[i].reserved = 0;
  }
  struct lvs_cpuid c = {.count = (uint32_t)count, .entries = (uintptr_t)k};
  int rc = 0;
  if (vmm__svm_ioctl(v->fd, LVS_SET_CPUID, &c) < 0) {
    rc = vmm__svm_ioctl_error(v, "LVS_SET_CPUID");
    free(copy);
  } else {
    free(v->cpuid);
    v->cpuid = copy;
    v->n_cpuid = count;
  }
  free(k);
  return rc;
}

int vmm__svm_vcpu_create(void *bvm, uint32_t id, void **bvcpu) {
  struct svm_vm *s = bvm;
  struct svm_vcpu *v = calloc(1, sizeof(*v));
  if (!v)
    return vmm__error(VMM_ENOMEM, "svm: out of memory for a vCPU");
  v->id = id;
  v->svm = s;
  v->fd = ioctl(s->fd, LVS_CREATE_VCPU, (unsigned long)id);
  if (v->fd < 0) {
    int rc = vmm__svm_ioctl_error(v, "LVS_CREATE_VCPU");
    free(v);
    return rc;
  }
  v->run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
  if (v->run == MAP_FAILED) {
    int rc = vmm__svm_ioctl_error(v, "mmap of the run page");
    close(v->fd);
    free(v);
    return rc;
  }
  /* The guest sees the filtered host CPUID, with its own APIC id. */
  const vmm_cpuid_entry_t *host;
  size_t n;
  vmm__svm_host_cpuid(&host, &n);
  vmm_cpuid_entry_t *c = malloc((n ? n : 1) * sizeof(*c));
  if (!c) {
    vmm__svm_vcpu_destroy(v);
    return vmm__error(VMM_ENOMEM, "svm: out of memory for CPUID");
  }
  memcpy(c, host, n * sizeof(*c));
  for (size_t i = 0; i < n; i++) {
    if (c[i].function == 1)
      c[i].ebx = (c[i].ebx & 0x00ffffffu) | (id << 24);
    else if (c[i].function == 0xb || c[i].function == 0x1f)
      c[i].edx = id;
  }
  int rc = push_cpuid(v, c, n);
  free(c);
  if (rc < 0) {
    vmm__svm_vcpu_destroy(v);
    return rc;
  }
  *bvcpu = v;
  return 0;
}

void vmm__svm_vcpu_destroy(void *bvcpu) {
  struct svm_vcpu *v = bvcpu;
  if (!v)
    return;
  munmap(v->run, 4096);
  close(v->fd);
  free(v->cpuid);
  free(v);
}

void vmm__svm_vcpu_kick_set(void *bvcpu, int on) {
  struct svm_vcpu *v = bvcpu;
  __atomic_store_n(&v->run->immediate_exit, (uint8_t)on, __ATOMIC_SEQ_CST);
}

static void internal_exit(struct svm_vcpu *v, vmm_exit_t *exit, uint32_t kind,
                          const char *what) {
  vmm_regs_t r;
  memset(&exit->u.internal, 0, sizeof(exit->u.internal));
  exit->reason = VMM_EXIT_INTERNAL_ERROR;
  exit->u.internal.kind = kind;
  exit->u.internal.backend_code = (uint32_t)v->run->u.hw.exit_code;
  exit->u.internal.data[0] = v->run->u.hw.exit_code;
  exit->u.internal.data[1] = v->run->u.hw.info1;
  exit->u.internal.data[2] = v->run->u.hw.info2;
  exit->u.internal.data[3] = v->run->u.hw.exit_int_info;
  if (vmm__svm_get_regs(v, &r) == 0)
    exit->u.internal.rip = r.rip;
  vmm__error(VMM_EBACKEND, "svm: vCPU %u: %s (exit code 0x%llx, info "
             "0x%llx 0x%llx) at rip 0x%llx", v->id, what,
             (unsigned long long)v->run->u.hw.exit_code,
             (unsigned long long)v->run->u.hw.info1,
             (unsigned long long)v->run->u.hw.info2,
             (unsigned long long)exit->u.internal.rip);
}

/* SVM's exit codes for port I/O and CR4 writes. */
#define SVM_EXIT_IOIO 0x7b
#define SVM_EXIT_WRITE_CR4 0x14

__attribute__((hot)) int vmm__svm_vcpu_run(void *bvcpu, vmm_exit_t *exit) {
  struct svm_vcpu *v = bvcpu;
  if (v->pending != SVM_PEND_NONE) {
    int rc = vmm__svm_complete(v);
    if (rc < 0)
      return rc;
  }
  if (ioctl(v->fd, LVS_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN)
      return VMM_EINTR;
    return vmm__svm_ioctl_error(v, "LVS_RUN");
  }
  struct lvs_run *run = v->run;
  exit->reserved = 0;
  switch (run->exit_reason) {
  case LVS_EXIT_IO:
    exit->reason = VMM_EXIT_IO;
    exit->u.io.port = run->u.io.port;
    exit->u.io.size = run->u.io.size;
    exit->u.io.is_write = run->u.io.is_write;
    exit->u.io.count = 1;
    exit->u.io.data = run->u.io.data;
    return 0;
  case LVS_EXIT_MMIO:
    return vmm__svm_mmio_exit(v, exit);
  case LVS_EXIT_HLT:
    exit->reason = VMM_EXIT_HLT;
    return 0;
  case LVS_EXIT_SHUTDOWN:
    exit->reason = VMM_EXIT_SHUTDOWN;
    return 0;
  case LVS_EXIT_DEBUG:
    exit->reason = VMM_EXIT_DEBUG;
    memset(&exit->u.debug, 0, sizeof(exit->u.debug));
    exit->u.debug.exception = run->u.debug.exception;
    exit->u.debug.rip = run->u.debug.rip;
    exit->u.debug.dr6 = run->u.debug.dr6;
    exit->u.debug.dr7 = run->u.debug.dr7;
    return 0;
  case LVS_EXIT_ENTRY_FAILED:
    internal_exit(v, exit, VMM_INTERNAL_ENTRY_FAILED, "VMRUN refused the "
                  "guest state");
    return 0;
  case LVS_EXIT_UNHANDLED:
    if (run->u.hw.exit_code == SVM_EXIT_IOIO)
      return vmm__svm_strio_exit(v, exit);
    if (run->u.hw.exit_code == SVM_EXIT_WRITE_CR4)
      return vmm__svm_cr4_exit(v, exit);
    internal_exit(v, exit, VMM_INTERNAL_UNHANDLED_EXIT,
                  "exit the module and libvmm do not handle");
    return 0;
  default:
    internal_exit(v, exit, VMM_INTERNAL_UNHANDLED_EXIT, "unknown exit");
    return 0;
  }
}

/* ---- registers ---------------------------------------------------------- */

int vmm__svm_get_regs(void *bvcpu, vmm_regs_t *regs) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_regs k;
  if (vmm__svm_ioctl(v->fd, LVS_GET_REGS, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_REGS");
#define TO(f) regs->f = k.f;
  VMM__X86_GPRS(TO)
#undef TO
  return 0;
}

int vmm__svm_set_regs(void *bvcpu, const vmm_regs_t *regs) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_regs k;
#define FROM(f) k.f = regs->f;
  VMM__X86_GPRS(FROM)
#undef FROM
  if (vmm__svm_ioctl(v->fd, LVS_SET_REGS, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_REGS");
  /* The caller moved the guest elsewhere: an instruction in flight is
   * dropped (one that stays is finished at the next run). */
  if (v->pending != SVM_PEND_NONE && regs->rip != v->insn_rip)
    v->pending = SVM_PEND_NONE;
  return 0;
}

static void seg_from(vmm_segment_t *d, const struct lvs_segment *s) {
  memset(d, 0, sizeof(*d));
  d->base = s->base, d->limit = s->limit, d->selector = s->selector;
  d->type = s->attrib & 15;
  d->s = (s->attrib >> 4) & 1;
  d->dpl = (s->attrib >> 5) & 3;
  d->present = (s->attrib >> 7) & 1;
  d->avl = (s->attrib >> 8) & 1;
  d->l = (s->attrib >> 9) & 1;
  d->db = (s->attrib >> 10) & 1;
  d->g = (s->attrib >> 11) & 1;
  d->unusable = !d->present;
}

static void seg_to(struct lvs_segment *d, const vmm_segment_t *s) {
  d->base = s->base, d->limit = s->limit, d->selector = s->selector;
  d->attrib = s->unusable ? 0
              : (uint16_t)((s->type & 15) | (s->s & 1) << 4 |
                           (s->dpl & 3) << 5 | (s->present & 1) << 7 |
                           (s->avl & 1) << 8 | (s->l & 1) << 9 |
                           (s->db & 1) << 10 | (s->g & 1) << 11);
}


int vmm__svm_get_sregs(void *bvcpu, vmm_sregs_t *s) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_sregs k;
  if (vmm__svm_ioctl(v->fd, LVS_GET_SREGS, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_SREGS");
  memset(s, 0, sizeof(*s));
#define ONE(seg_) seg_from(&s->seg_, &k.seg_);
  VMM__X86_SEGS(ONE)
#undef ONE
  s->gdt.base = k.gdt.base, s->gdt.limit = (uint16_t)k.gdt.limit;
  s->idt.base = k.idt.base, s->idt.limit = (uint16_t)k.idt.limit;
#define C(f) s->f = k.f;
  VMM__X86_CTRL_REGS(C)
#undef C
  return 0;
}

int vmm__svm_set_sregs(void *bvcpu, const vmm_sregs_t *s) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_sregs k;
  memset(&k, 0, sizeof(k));
#define ONE(seg_) seg_to(&k.seg_, &s->seg_);
  VMM__X86_SEGS(ONE)
#undef ONE
  k.gdt.base = s->gdt.base, k.gdt.limit = s->gdt.limit;
  k.idt.base = s->idt.base, k.idt.limit = s->idt.limit;
#define C(f) k.f = s->f;
  VMM__X86_CTRL_REGS(C)
#undef C
  if (vmm__svm_ioctl(v->fd, LVS_SET_SREGS, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_SREGS");
  return 0;
}

/* The FXSAVE image: FCW 0, FSW 2, FTW 4, FOP 6, FIP 8, FDP 16, MXCSR 24,
 * ST0-7 at 32 (16 bytes each), XMM0-15 at 160. */
int vmm__svm_get_fpu(void *bvcpu, vmm_fpu_t *f) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_fpu k;
  if (vmm__svm_ioctl(v->fd, LVS_GET_FPU, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_FPU");
  const uint8_t *b = k.fxsave;
  memset(f, 0, sizeof(*f));
  memcpy(&f->fcw, b + 0, 2);
  memcpy(&f->fsw, b + 2, 2);
  f->ftwx = b[4];
  memcpy(&f->last_opcode, b + 6, 2);
  memcpy(&f->last_ip, b + 8, 8);
  memcpy(&f->last_dp, b + 16, 8);
  memcpy(&f->mxcsr, b + 24, 4);
  memcpy(f->fpr, b + 32, sizeof(f->fpr));
  memcpy(f->xmm, b + 160, sizeof(f->xmm));
  return 0;
}

int vmm__svm_set_fpu(void *bvcpu, const vmm_fpu_t *f) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_fpu k;
  if (vmm__svm_ioctl(v->fd, LVS_GET_FPU, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_FPU");
  uint8_t *b = k.fxsave;
  memcpy(b + 0, &f->fcw, 2);
  memcpy(b + 2, &f->fsw, 2);
  b[4] = f->ftwx;
  memcpy(b + 6, &f->last_opcode, 2);
  memcpy(b + 8, &f->last_ip, 8);
  memcpy(b + 16, &f->last_dp, 8);
  memcpy(b + 24, &f->mxcsr, 4);
  memcpy(b + 32, f->fpr, sizeof(f->fpr));
  memcpy(b + 160, f->xmm, sizeof(f->xmm));
  if (vmm__svm_ioctl(v->fd, LVS_SET_FPU, &k) < 0)
    return errno == EINVAL
               ? vmm__error(VMM_EINVAL, "svm: vCPU %u: FPU state refused "
                            "(MXCSR 0x%x has reserved bits?)", v->id,
                            f->mxcsr)
               : vmm__svm_ioctl_error(v, "LVS_SET_FPU");
  return 0;
}

/* ---- MSRs, CPUID, the rest -------------------------------------------- */

static int msrs(struct svm_vcpu *v, vmm_msr_entry_t *entries, size_t count,
                bool set) {
  for (size_t done = 0; done < count;) {
    struct lvs_msr m[LVS_MAX_MSRS];
    size_t n = count - done > LVS_MAX_MSRS ? LVS_MAX_MSRS : count - done;
    for (size_t i = 0; i < n; i++)
      m[i] = (struct lvs_msr){.index = entries[done + i].index,
                              .value = entries[done + i].value};
    struct lvs_msrs req = {.count = (uint32_t)n, .entries = (uintptr_t)m};
    int r = vmm__svm_ioctl(v->fd, set ? LVS_SET_MSRS : LVS_GET_MSRS, &req);
    if (r < 0)
      return vmm__svm_ioctl_error(v, set ? "LVS_SET_MSRS" : "LVS_GET_MSRS");
    for (int i = 0; !set && i < r; i++)
      entries[done + i].value = m[i].value;
    if ((size_t)r < n)
      return set ? vmm__error(VMM_EINVAL, "svm: vCPU %u: MSR 0x%x cannot be "
                              "set to 0x%llx", v->id, m[r].index,
                              (unsigned long long)m[r].value)
                 : vmm__error(VMM_EINVAL, "svm: vCPU %u: MSR 0x%x cannot be "
                              "read", v->id, m[r].index);
    done += n;
  }
  return 0;
}

int vmm__svm_get_msrs(void *bvcpu, vmm_msr_entry_t *entries, size_t count) {
  return msrs(bvcpu, entries, count, false);
}

int vmm__svm_set_msrs(void *bvcpu, const vmm_msr_entry_t *entries,
                      size_t count) {
  /* msrs() only writes entries back when reading. */
  return msrs(bvcpu, (vmm_msr_entry_t *)entries, count, true);
}

int vmm__svm_get_cpuid(void *bvcpu, vmm_cpuid_entry_t *entries,
                       size_t capacity, size_t *count) {
  struct svm_vcpu *v = bvcpu;
  *count = v->n_cpuid;
  memcpy(entries, v->cpuid,
         (v->n_cpuid < capacity ? v->n_cpuid : capacity) * sizeof(*entries));
  if (capacity < v->n_cpuid)
    return vmm__error(VMM_E2BIG, "svm: CPUID table has %zu entries, room "
                      "for %zu", v->n_cpuid, capacity);
  return 0;
}

int vmm__svm_set_cpuid(void *bvcpu, const vmm_cpuid_entry_t *entries,
                       size_t count) {
  return push_cpuid(bvcpu, entries, count);
}

int vmm__svm_set_debug(void *bvcpu, uint32_t flags, const uint64_t *dr) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_debug d = {
      .flags = ((flags & VMM_DEBUG_SINGLESTEP) ? LVS_DEBUG_SINGLESTEP : 0) |
               ((flags & VMM_DEBUG_SW_BREAKPOINTS) ? LVS_DEBUG_SW_BP : 0)};
  if ((flags & VMM__DEBUG_HW_BREAKPOINTS) && dr) {
    d.flags |= LVS_DEBUG_HW_BP;
    for (int i = 0; i < 4; i++)
      d.dr[i] = dr[i];
    d.dr7 = dr[7];
  }
  if (vmm__svm_ioctl(v->fd, LVS_SET_DEBUG, &d) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_DEBUG");
  return 0;
}

int vmm__svm_inject_event(void *bvcpu, uint8_t vector, int kind,
                          int has_error, uint32_t error_code) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_event ev = {
      .vector = vector,
      .kind = kind == VMM__EVENT_EXCEPTION ? LVS_EVENT_EXCEPTION
                                           : LVS_EVENT_INTERRUPT,
      .has_error = has_error ? 1 : 0,
      .error_code = has_error ? error_code : 0};
  if (vmm__svm_ioctl(v->fd, LVS_INJECT_EVENT, &ev) < 0) {
    if (errno == EBUSY)
      return vmm__error(VMM_EBUSY, "svm: vCPU %u: an event is already "
                        "being delivered", v->id);
    return vmm__svm_ioctl_error(v, "LVS_INJECT_EVENT");
  }
  return 0;
}

int vmm__svm_translate(void *bvcpu, uint64_t gva, uint64_t *gpa,
                       bool *valid) {
  vmm_sregs_t s;
  int rc = vmm__svm_get_sregs(bvcpu, &s);
  if (rc < 0)
    return rc;
  return vmm__svm_walk(bvcpu, &s, gva, false, gpa, valid);
}
