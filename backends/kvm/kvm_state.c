/* backends/kvm/kvm_state.c — saved state of KVM VMs and vCPUs: the
 * in-kernel irqchip, PIT and clock; every register set, MSR, XSAVE,
 * local APIC, pending events and MP state of a vCPU. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "error.h"
#include "kvm_internal.h"
#include "snapshot/stream.h"

/*
 * The layout: a list of records, each a u32 tag, a u32 length and the
 * bytes of one KVM structure as the kernel's ABI defines it (the uapi
 * structures never change size or meaning), ended by tag 0. A loader
 * accepts each known tag once, with exactly the size of its structure;
 * the values inside are checked by the kernel when they are set (an
 * EINVAL names the record) and here where the kernel would not.
 */
enum {
  REC_END = 0,
  /* VM */
  REC_PIC_MASTER = 1,
  REC_PIC_SLAVE = 2,
  REC_IOAPIC = 3,
  REC_PIT = 4,
  REC_CLOCK = 5,
  /* vCPU */
  REC_CPUID = 16,
  REC_SREGS = 17,
  REC_REGS = 18,
  REC_XSAVE = 19,
  REC_FPU = 20,
  REC_XCRS = 21,
  REC_MSRS = 22,
  REC_MP_STATE = 23,
  REC_LAPIC = 24,
  REC_EVENTS = 25,
  REC_DEBUGREGS = 26,
  REC_MAX = 32
};

#define MAX_SAVED_MSRS 4096u
#define MAX_SAVED_CPUID 4096u

static int sys_error(const char *what, int id) {
  int e = errno;
  if (id < 0)
    return vmm__error(e == EINVAL ? VMM_EINVAL : VMM_EBACKEND,
                      "kvm: %s failed: %s", what, strerror(e));
  return vmm__error(e == EINVAL ? VMM_EINVAL : VMM_EBACKEND,
                    "kvm: vCPU %d: %s failed: %s", id, what, strerror(e));
}

static void rec(struct vmm__sw *w, uint32_t tag, const void *p, size_t n) {
  vmm__sw_u32(w, tag);
  vmm__sw_u32(w, (uint32_t)n);
  vmm__sw_bytes(w, p, n);
}

/* Reads the next record; false at the end or on error. */
static bool rec_next(struct vmm__sr *r, uint32_t *tag, struct vmm__sr *body,
                     uint32_t *seen) {
  *tag = vmm__sr_u32(r);
  if (vmm__sr_error(r) || *tag == REC_END)
    return false;
  uint32_t len = vmm__sr_u32(r);
  const uint8_t *p = vmm__sr_view(r, len);
  if (!p)
    return false;
  if (*tag >= REC_MAX)
    return vmm__sr_fail(r, "unknown KVM record %u (%u bytes)", *tag, len);
  if (*seen & (1u << *tag))
    return vmm__sr_fail(r, "KVM record %u appears twice", *tag);
  *seen |= 1u << *tag;
  vmm__sr_init(body, p, len, r->what);
  return true;
}

/* A fixed-size record: exactly `n` bytes. */
static bool rec_fixed(struct vmm__sr *r, struct vmm__sr *body, void *dst,
                      size_t n, const char *name) {
  if (body->len != n)
    return vmm__sr_fail(r, "KVM record %s has %zu bytes, the structure %zu",
                        name, body->len, n);
  memcpy(dst, body->p, n);
  return true;
}

/* ---- the VM ------------------------------------------------------------ */

int vmm__kvm_vm_state_save(void *bvm, struct vmm__sw *w) {
  struct kvm_vm *k = bvm;
  if (k->irqchip) {
    static const uint32_t chips[] = {KVM_IRQCHIP_PIC_MASTER,
                                     KVM_IRQCHIP_PIC_SLAVE,
                                     KVM_IRQCHIP_IOAPIC};
    static const uint32_t tags[] = {REC_PIC_MASTER, REC_PIC_SLAVE,
                                    REC_IOAPIC};
    for (int i = 0; i < 3; i++) {
      struct kvm_irqchip chip;
      memset(&chip, 0, sizeof(chip));
      chip.chip_id = chips[i];
      if (vmm__kvm_ioctl(k->fd, KVM_GET_IRQCHIP, &chip) < 0)
        return sys_error("KVM_GET_IRQCHIP", -1);
      rec(w, tags[i], &chip, sizeof(chip));
    }
    struct kvm_pit_state2 pit;
    memset(&pit, 0, sizeof(pit));
    if (vmm__kvm_ioctl(k->fd, KVM_GET_PIT2, &pit) < 0)
      return sys_error("KVM_GET_PIT2", -1);
    rec(w, REC_PIT, &pit, sizeof(pit));
  }
  struct kvm_clock_data clock;
  memset(&clock, 0, sizeof(clock));
  if (vmm__kvm_ioctl(k->fd, KVM_GET_CLOCK, &clock) < 0)
    return sys_error("KVM_GET_CLOCK", -1);
  rec(w, REC_CLOCK, &clock, sizeof(clock));
  vmm__sw_u32(w, REC_END);
  return 0;
}

int vmm__kvm_vm_state_load(void *bvm, struct vmm__sr *r) {
  struct kvm_vm *k = bvm;
  uint32_t tag, seen = 0;
  struct vmm__sr body;
  struct kvm_irqchip chips[3];
  struct kvm_pit_state2 pit;
  struct kvm_clock_data clock;
  while (rec_next(r, &tag, &body, &seen)) {
    switch (tag) {
    case REC_PIC_MASTER:
    case REC_PIC_SLAVE:
    case REC_IOAPIC: {
      struct kvm_irqchip *c = &chips[tag - REC_PIC_MASTER];
      if (!rec_fixed(r, &body, c, sizeof(*c), "irqchip"))
        break;
      uint32_t want = tag == REC_PIC_MASTER ? KVM_IRQCHIP_PIC_MASTER
                      : tag == REC_PIC_SLAVE ? KVM_IRQCHIP_PIC_SLAVE
                                             : KVM_IRQCHIP_IOAPIC;
      if (c->chip_id != want)
        vmm__sr_fail(r, "irqchip record %u names chip %u", tag, c->chip_id);
      break;
    }
    case REC_PIT:
      rec_fixed(r, &body, &pit, sizeof(pit), "PIT");
      break;
    case REC_CLOCK:
      rec_fixed(r, &body, &clock, sizeof(clock), "clock");
      break;
    default:
      vmm__sr_fail(r, "KVM record %u does not belong to a VM", tag);
    }
  }
  if (vmm__sr_error(r))
    return vmm__sr_finish(r);
  uint32_t chip_bits = 1u << REC_PIC_MASTER | 1u << REC_PIC_SLAVE |
                       1u << REC_IOAPIC | 1u << REC_PIT;
  if (k->irqchip && (seen & chip_bits) != chip_bits)
    vmm__sr_fail(r, "the VM has an in-kernel irqchip, the saved one did not");
  if (!k->irqchip && (seen & chip_bits))
    vmm__sr_fail(r, "the saved VM had an in-kernel irqchip, this one none");
  if (!(seen & (1u << REC_CLOCK)))
    vmm__sr_fail(r, "no clock record");
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  if (k->irqchip) {
    for (int i = 0; i < 3; i++)
      if (vmm__kvm_ioctl(k->fd, KVM_SET_IRQCHIP, &chips[i]) < 0)
        return sys_error("KVM_SET_IRQCHIP", -1);
    if (vmm__kvm_ioctl(k->fd, KVM_SET_PIT2, &pit) < 0)
      return sys_error("KVM_SET_PIT2", -1);
  }
  /* Only the clock value: the guest's kvmclock continues from where it
   * was saved, whatever the host's clocks did meanwhile. */
  struct kvm_clock_data set = {.clock = clock.clock};
  if (vmm__kvm_ioctl(k->fd, KVM_SET_CLOCK, &set) < 0)
    return sys_error("KVM_SET_CLOCK", -1);
  return 0;
}

/* ---- MSRs: the list KVM says to save, fetched once -------------------- */

static pthread_once_t msr_once = PTHREAD_ONCE_INIT;
static struct kvm_msr_list *msr_list;

static void msr_list_fetch(void) {
  struct kvm_msr_list probe = {.nmsrs = 0};
  /* E2BIG with nmsrs set to the count. */
  ioctl(vmm__kvm_sys_fd(), KVM_GET_MSR_INDEX_LIST, &probe);
  uint32_t n = probe.nmsrs;
  if (n == 0 || n > MAX_SAVED_MSRS)
    return;
  struct kvm_msr_list *l = calloc(1, sizeof(*l) + n * sizeof(uint32_t));
  if (!l)
    return;
  l->nmsrs = n;
  if (ioctl(vmm__kvm_sys_fd(), KVM_GET_MSR_INDEX_LIST, l) < 0) {
    free(l);
    return;
  }
  msr_list = l;
}

/*
 * Reads every listed MSR the vCPU can read into `out` (room for the whole
 * list): KVM_GET_MSRS stops at the first one it cannot read (an MSR of a
 * feature this vCPU lacks), which is then left out. *count gets how many.
 */
static int msrs_read(struct kvm_vcpu *v, struct kvm_msr_entry *out,
                     uint32_t *count) {
  const struct kvm_msr_list *l = msr_list;
  struct kvm_msrs *m =
      calloc(1, sizeof(*m) + l->nmsrs * sizeof(struct kvm_msr_entry));
  if (!m)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for MSRs");
  uint32_t n_out = 0, from = 0;
  int rc = 0;
  while (from < l->nmsrs) {
    uint32_t n = l->nmsrs - from;
    m->nmsrs = n;
    for (uint32_t i = 0; i < n; i++)
      m->entries[i] = (struct kvm_msr_entry){.index = l->indices[from + i]};
    int got = ioctl(v->fd, KVM_GET_MSRS, m);
    if (got < 0) {
      rc = sys_error("KVM_GET_MSRS", (int)v->id);
      break;
    }
    memcpy(out + n_out, m->entries, (size_t)got * sizeof(out[0]));
    n_out += (uint32_t)got;
    from += (uint32_t)got + 1; /* past the one it could not read */
  }
  free(m);
  *count = n_out;
  return rc;
}

/*
 * Sets saved MSRs. KVM_SET_MSRS stops at the first one it refuses; one
 * that already holds the saved value needs no setting (KVM lists MSRs it
 * then refuses to set in some configurations, e.g. the async-PF interrupt
 * MSR without an in-kernel local APIC) and is passed over; any other
 * refusal is an error naming the MSR.
 */
static int msrs_write(struct kvm_vcpu *v, struct kvm_msrs *m) {
  uint32_t from = 0;
  struct {
    struct kvm_msrs h;
    struct kvm_msr_entry e;
  } one;
  while (from < m->nmsrs) {
    uint32_t total = m->nmsrs;
    /* Shift the window: KVM reads entries from the header on. */
    struct kvm_msrs *win = m;
    struct kvm_msr_entry *first = &m->entries[from];
    if (from) {
      win = malloc(sizeof(*win) + (total - from) * sizeof(*first));
      if (!win)
        return vmm__error(VMM_ENOMEM, "kvm: out of memory for MSRs");
      memcpy(win->entries, first, (total - from) * sizeof(*first));
    }
    win->nmsrs = total - from;
    win->pad = 0;
    int n = ioctl(v->fd, KVM_SET_MSRS, win);
    if (win != m)
      free(win);
    m->nmsrs = total;
    if (n < 0)
      return sys_error("KVM_SET_MSRS", (int)v->id);
    from += (uint32_t)n;
    if (from >= total)
      break;
    const struct kvm_msr_entry *bad = &m->entries[from];
    memset(&one, 0, sizeof(one));
    one.h.nmsrs = 1;
    one.e.index = bad->index;
    if (ioctl(v->fd, KVM_GET_MSRS, &one) != 1 || one.e.data != bad->data)
      return vmm__error(VMM_EINVAL, "kvm: vCPU %u: MSR 0x%x cannot be set "
                        "to 0x%llx", v->id, bad->index,
                        (unsigned long long)bad->data);
    from++;
  }
  return 0;
}

/* ---- a vCPU ------------------------------------------------------------ */

int vmm__kvm_vcpu_state_save(void *bvcpu, struct vmm__sw *w) {
  struct kvm_vcpu *v = bvcpu;
  int id = (int)v->id;
  pthread_once(&msr_once, msr_list_fetch);
  if (!msr_list)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_GET_MSR_INDEX_LIST failed");

  /* CPUID first: the loader sets it before anything that depends on it. */
  rec(w, REC_CPUID, v->cpuid->entries,
      v->cpuid->nent * sizeof(v->cpuid->entries[0]));

  struct kvm_sregs sregs;
  if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
    return sys_error("KVM_GET_SREGS", id);
  rec(w, REC_SREGS, &sregs, sizeof(sregs));

  struct kvm_regs regs;
  if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
    return sys_error("KVM_GET_REGS", id);
  rec(w, REC_REGS, &regs, sizeof(regs));

  size_t xs = vmm__kvm_xsave_size();
  if (xs) {
    struct kvm_xsave *x = calloc(1, xs);
    if (!x)
      return vmm__error(VMM_ENOMEM, "kvm: out of memory for XSAVE state");
    unsigned long req = xs > sizeof(*x) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
    if (ioctl(v->fd, req, x) < 0) {
      free(x);
      return sys_error("KVM_GET_XSAVE", id);
    }
    rec(w, REC_XSAVE, x, xs);
    free(x);
  } else {
    struct kvm_fpu fpu;
    if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
      return sys_error("KVM_GET_FPU", id);
    rec(w, REC_FPU, &fpu, sizeof(fpu));
  }
  if (ioctl(vmm__kvm_sys_fd(), KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
    struct kvm_xcrs xcrs;
    memset(&xcrs, 0, sizeof(xcrs));
    if (ioctl(v->fd, KVM_GET_XCRS, &xcrs) < 0)
      return sys_error("KVM_GET_XCRS", id);
    rec(w, REC_XCRS, &xcrs, sizeof(xcrs));
  }

  struct kvm_msr_entry *msrs =
      calloc(msr_list->nmsrs, sizeof(struct kvm_msr_entry));
  if (!msrs)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory for MSRs");
  uint32_t n_msrs = 0;
  int rc = msrs_read(v, msrs, &n_msrs);
  if (rc == 0)
    rec(w, REC_MSRS, msrs, n_msrs * sizeof(msrs[0]));
  free(msrs);
  if (rc < 0)
    return rc;

  struct kvm_mp_state mp;
  if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
    return sys_error("KVM_GET_MP_STATE", id);
  rec(w, REC_MP_STATE, &mp, sizeof(mp));

  if (v->kvm->irqchip) {
    struct kvm_lapic_state lapic;
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
      return sys_error("KVM_GET_LAPIC", id);
    rec(w, REC_LAPIC, &lapic, sizeof(lapic));
  }

  struct kvm_vcpu_events ev;
  memset(&ev, 0, sizeof(ev));
  if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
    return sys_error("KVM_GET_VCPU_EVENTS", id);
  rec(w, REC_EVENTS, &ev, sizeof(ev));

  struct kvm_debugregs dbg;
  memset(&dbg, 0, sizeof(dbg));
  if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dbg) < 0)
    return sys_error("KVM_GET_DEBUGREGS", id);
  rec(w, REC_DEBUGREGS, &dbg, sizeof(dbg));
  vmm__sw_u32(w, REC_END);
  return 0;
}

/* What a vCPU's records hold once checked, before any is set. */
struct vcpu_saved {
  struct kvm_cpuid2 *cpuid;
  struct kvm_sregs sregs;
  struct kvm_regs regs;
  struct kvm_xsave *xsave;
  size_t xsave_len;
  struct kvm_fpu fpu;
  struct kvm_xcrs xcrs;
  struct kvm_msrs *msrs;
  struct kvm_mp_state mp;
  struct kvm_lapic_state lapic;
  struct kvm_vcpu_events events;
  struct kvm_debugregs dbg;
};

static void saved_free(struct vcpu_saved *s) {
  free(s->cpuid);
  free(s->xsave);
  free(s->msrs);
}

/* Checks what the kernel would not: counts, sizes, reserved words. */
static void parse_vcpu(struct vmm__sr *r, struct vcpu_saved *s,
                       uint32_t *seen) {
  uint32_t tag;
  struct vmm__sr b;
  while (rec_next(r, &tag, &b, seen)) {
    switch (tag) {
    case REC_CPUID: {
      size_t es = sizeof(struct kvm_cpuid_entry2);
      if (b.len % es || b.len / es == 0 || b.len / es > MAX_SAVED_CPUID) {
        vmm__sr_fail(r, "CPUID record of %zu bytes", b.len);
        break;
      }
      uint32_t n = (uint32_t)(b.len / es);
      s->cpuid = calloc(1, sizeof(*s->cpuid) + b.len);
      if (!s->cpuid) {
        vmm__sr_fail(r, "out of memory");
        break;
      }
      s->cpuid->nent = n;
      memcpy(s->cpuid->entries, b.p, b.len);
      break;
    }
    case REC_SREGS:
      rec_fixed(r, &b, &s->sregs, sizeof(s->sregs), "sregs");
      break;
    case REC_REGS:
      rec_fixed(r, &b, &s->regs, sizeof(s->regs), "regs");
      break;
    case REC_XSAVE: {
      size_t xs = vmm__kvm_xsave_size();
      if (!xs || b.len != xs) {
        vmm__sr_fail(r, "XSAVE record of %zu bytes; this host's is %zu",
                     b.len, xs);
        break;
      }
      s->xsave = malloc(xs);
      if (!s->xsave) {
        vmm__sr_fail(r, "out of memory");
        break;
      }
      memcpy(s->xsave, b.p, xs);
      s->xsave_len = xs;
      break;
    }
    case REC_FPU:
      rec_fixed(r, &b, &s->fpu, sizeof(s->fpu), "fpu");
      break;
    case REC_XCRS:
      if (rec_fixed(r, &b, &s->xcrs, sizeof(s->xcrs), "xcrs") &&
          s->xcrs.nr_xcrs > KVM_MAX_XCRS)
        vmm__sr_fail(r, "%u XCRs (at most %d)", s->xcrs.nr_xcrs,
                     KVM_MAX_XCRS);
      break;
    case REC_MSRS: {
      size_t es = sizeof(struct kvm_msr_entry);
      if (b.len % es || b.len / es > MAX_SAVED_MSRS) {
        vmm__sr_fail(r, "MSR record of %zu bytes", b.len);
        break;
      }
      s->msrs = calloc(1, sizeof(*s->msrs) + b.len);
      if (!s->msrs) {
        vmm__sr_fail(r, "out of memory");
        break;
      }
      s->msrs->nmsrs = (uint32_t)(b.len / es);
      memcpy(s->msrs->entries, b.p, b.len);
      for (uint32_t i = 0; i < s->msrs->nmsrs; i++)
        if (s->msrs->entries[i].reserved)
          vmm__sr_fail(r, "MSR entry %u has reserved bits set", i);
      break;
    }
    case REC_MP_STATE:
      if (rec_fixed(r, &b, &s->mp, sizeof(s->mp), "mp_state") &&
          s->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
        vmm__sr_fail(r, "MP state %u is not one KVM defines",
                     s->mp.mp_state);
      break;
    case REC_LAPIC:
      rec_fixed(r, &b, &s->lapic, sizeof(s->lapic), "lapic");
      break;
    case REC_EVENTS:
      rec_fixed(r, &b, &s->events, sizeof(s->events), "vcpu_events");
      break;
    case REC_DEBUGREGS:
      rec_fixed(r, &b, &s->dbg, sizeof(s->dbg), "debugregs");
      break;
    default:
      vmm__sr_fail(r, "KVM record %u does not belong to a vCPU", tag);
    }
  }
  const uint32_t need = 1u << REC_CPUID | 1u << REC_SREGS | 1u << REC_REGS |
                        1u << REC_MSRS | 1u << REC_MP_STATE |
                        1u << REC_EVENTS | 1u << REC_DEBUGREGS;
  if (!vmm__sr_error(r) && (*seen & need) != need)
    vmm__sr_fail(r, "vCPU records missing (have 0x%x, need 0x%x)", *seen,
                 need);
  if (!vmm__sr_error(r) && !(*seen & (1u << REC_XSAVE | 1u << REC_FPU)))
    vmm__sr_fail(r, "no FPU or XSAVE record");
}

int vmm__kvm_vcpu_state_load(void *bvcpu, struct vmm__sr *r) {
  struct kvm_vcpu *v = bvcpu;
  int id = (int)v->id;
  struct vcpu_saved s;
  memset(&s, 0, sizeof(s));
  uint32_t seen = 0;
  parse_vcpu(r, &s, &seen);
  if (!vmm__sr_error(r) && v->kvm->irqchip != !!(seen & (1u << REC_LAPIC)))
    vmm__sr_fail(r, v->kvm->irqchip ? "no local APIC record, but the VM "
                 "has an in-kernel irqchip" : "a local APIC record, but the "
                 "VM has no in-kernel irqchip");
  int rc = vmm__sr_finish(r);
  if (rc < 0) {
    saved_free(&s);
    return rc;
  }
  /* The order KVM needs: CPUID before MSRs that depend on features, EFER
   * and CR4 (sregs) before the MSRs and XSAVE state they enable, the APIC
   * base (sregs) before the local APIC, events last. */
  v->sregs_valid = false;
  if (ioctl(v->fd, KVM_SET_CPUID2, s.cpuid) < 0) {
    rc = sys_error("KVM_SET_CPUID2", id);
    goto out;
  }
  free(v->cpuid);
  v->cpuid = s.cpuid;
  s.cpuid = NULL;
  if (ioctl(v->fd, KVM_SET_SREGS, &s.sregs) < 0) {
    rc = sys_error("KVM_SET_SREGS", id);
    goto out;
  }
  if (ioctl(v->fd, KVM_SET_REGS, &s.regs) < 0) {
    rc = sys_error("KVM_SET_REGS", id);
    goto out;
  }
  if (s.xsave ? ioctl(v->fd, KVM_SET_XSAVE, s.xsave) < 0
              : ioctl(v->fd, KVM_SET_FPU, &s.fpu) < 0) {
    rc = sys_error(s.xsave ? "KVM_SET_XSAVE" : "KVM_SET_FPU", id);
    goto out;
  }
  if ((seen & (1u << REC_XCRS)) && ioctl(v->fd, KVM_SET_XCRS, &s.xcrs) < 0) {
    rc = sys_error("KVM_SET_XCRS", id);
    goto out;
  }
  if ((rc = msrs_write(v, s.msrs)) < 0)
    goto out;
  if (ioctl(v->fd, KVM_SET_MP_STATE, &s.mp) < 0) {
    rc = sys_error("KVM_SET_MP_STATE", id);
    goto out;
  }
  if ((seen & (1u << REC_LAPIC)) && ioctl(v->fd, KVM_SET_LAPIC, &s.lapic) < 0) {
    rc = sys_error("KVM_SET_LAPIC", id);
    goto out;
  }
  if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &s.events) < 0) {
    rc = sys_error("KVM_SET_VCPU_EVENTS", id);
    goto out;
  }
  if (ioctl(v->fd, KVM_SET_DEBUGREGS, &s.dbg) < 0) {
    rc = sys_error("KVM_SET_DEBUGREGS", id);
    goto out;
  }
out:
  saved_free(&s);
  return rc;
}

/*
 * KVM finishes the instruction of the last exit (writes a port read's
 * data to RAX and moves RIP past it; the same for MMIO) at the start of
 * the next KVM_RUN, before it looks at immediate_exit: a run with the flag
 * set does exactly that and returns EINTR without entering the guest.
 */
int vmm__kvm_vcpu_complete(void *bvcpu) {
  struct kvm_vcpu *v = bvcpu;
  uint8_t was = __atomic_load_n(&v->run->immediate_exit, __ATOMIC_SEQ_CST);
  __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  int r = ioctl(v->fd, KVM_RUN, 0);
  int e = errno;
  __atomic_store_n(&v->run->immediate_exit, was, __ATOMIC_SEQ_CST);
  v->sregs_valid = false;
  if (r == 0 || (r < 0 && e != EINTR && e != EAGAIN)) {
    errno = e;
    return r == 0 ? vmm__error(VMM_EBACKEND, "kvm: vCPU %u: KVM_RUN with "
                               "immediate_exit entered the guest", v->id)
                  : sys_error("KVM_RUN (completion)", (int)v->id);
  }
  return 0;
}
