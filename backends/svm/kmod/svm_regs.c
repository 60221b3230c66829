// SPDX-License-Identifier: GPL-2.0
/* backends/svm/kmod/svm_regs.c — a vCPU's state in the VMCB and beside
 * it: general registers, segments and control registers (checked before
 * VMRUN sees them), the MSRs the module emulates, event injection and
 * guest debugging. */
#include <linux/string.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>
#include <asm/svm.h>

#include "svm_internal.h"

/* ---- registers ---------------------------------------------------------- */

void svm_get_regs(struct lvs_vcpu *v, struct lvs_regs *r) {
  struct svm_vcpu *s = v->vendor;
  const struct vmcb_save_area *a = &s->vmcb->save;
  r->rax = a->rax, r->rcx = s->gprs[1], r->rdx = s->gprs[2];
  r->rbx = s->gprs[3], r->rsp = a->rsp, r->rbp = s->gprs[5];
  r->rsi = s->gprs[6], r->rdi = s->gprs[7];
  r->r8 = s->gprs[8], r->r9 = s->gprs[9], r->r10 = s->gprs[10];
  r->r11 = s->gprs[11], r->r12 = s->gprs[12], r->r13 = s->gprs[13];
  r->r14 = s->gprs[14], r->r15 = s->gprs[15];
  r->rip = a->rip, r->rflags = a->rflags;
}

void svm_set_regs(struct lvs_vcpu *v, const struct lvs_regs *r) {
  struct svm_vcpu *s = v->vendor;
  struct vmcb_save_area *a = &s->vmcb->save;
  a->rax = r->rax, s->gprs[1] = r->rcx, s->gprs[2] = r->rdx;
  s->gprs[3] = r->rbx, a->rsp = r->rsp, s->gprs[5] = r->rbp;
  s->gprs[6] = r->rsi, s->gprs[7] = r->rdi;
  s->gprs[8] = r->r8, s->gprs[9] = r->r9, s->gprs[10] = r->r10;
  s->gprs[11] = r->r11, s->gprs[12] = r->r12, s->gprs[13] = r->r13;
  s->gprs[14] = r->r14, s->gprs[15] = r->r15;
  /* User space moved the guest elsewhere: an IN in flight is dropped. */
  if (r->rip != a->rip)
    v->pending_in = 0;
  a->rip = r->rip;
  /* Bit 1 is always set; the reserved upper bits are not. */
  a->rflags = (r->rflags & 0x3f7fd7ull) | 2;
}

static void seg_get(struct lvs_segment *d, const struct vmcb_seg *s) {
  d->base = s->base, d->limit = s->limit, d->selector = s->selector;
  d->attrib = s->attrib;
}

static void seg_put(struct vmcb_seg *d, const struct lvs_segment *s) {
  d->base = s->base, d->limit = s->limit, d->selector = s->selector;
  d->attrib = s->attrib;
}

void svm_get_sregs(struct lvs_vcpu *v, struct lvs_sregs *o) {
  struct svm_vcpu *s = v->vendor;
  const struct vmcb_save_area *a = &s->vmcb->save;
  memset(o, 0, sizeof(*o));
  seg_get(&o->cs, &a->cs), seg_get(&o->ds, &a->ds), seg_get(&o->es, &a->es);
  seg_get(&o->fs, &a->fs), seg_get(&o->gs, &a->gs), seg_get(&o->ss, &a->ss);
  seg_get(&o->tr, &a->tr), seg_get(&o->ldt, &a->ldtr);
  seg_get(&o->gdt, &a->gdtr), seg_get(&o->idt, &a->idtr);
  o->cr0 = a->cr0, o->cr2 = a->cr2, o->cr3 = a->cr3, o->cr4 = a->cr4;
  o->cr8 = s->vmcb->control.int_ctl & V_TPR_MASK;
  o->efer = a->efer & ~(u64)EFER_SVME;
  o->apic_base = v->apic_base;
}

#define EFER_ALLOWED (EFER_SCE | EFER_LME | EFER_LMA | EFER_NX | EFER_FFXSR)


int svm_set_sregs(struct lvs_vcpu *v, const struct lvs_sregs *n) {
  struct svm_vcpu *s = v->vendor;
  struct vmcb_save_area *a = &s->vmcb->save;
  const struct lvs_segment *segs[] = {&n->cs, &n->ds, &n->es, &n->fs,
                                      &n->gs, &n->ss, &n->tr, &n->ldt};
  int rc;

  for (size_t i = 0; i < ARRAY_SIZE(segs); i++)
    if (segs[i]->attrib & ~0xfffu)
      return -EINVAL;
  /* Bases VMLOAD/VMRUN take as they are: canonical only. */
  if (!lvs_canonical(n->fs.base) || !lvs_canonical(n->gs.base) ||
      !lvs_canonical(n->tr.base) || !lvs_canonical(n->ldt.base) ||
      !lvs_canonical(n->gdt.base) || !lvs_canonical(n->idt.base))
    return -EINVAL;
  if ((n->efer & ~(u64)EFER_ALLOWED) || (n->cr0 >> 32) || n->cr8 > 15 ||
      (n->cr4 & ~lvs_svm_cr4_allowed) ||
      (n->gdt.limit | n->idt.limit) > 0xffff)
    return -EINVAL;
  rc = lvs_msr_set_common(v, 0x1b, n->apic_base);
  if (rc)
    return rc == -ENOENT ? -EINVAL : rc;
  seg_put(&a->cs, &n->cs), seg_put(&a->ds, &n->ds), seg_put(&a->es, &n->es);
  seg_put(&a->fs, &n->fs), seg_put(&a->gs, &n->gs), seg_put(&a->ss, &n->ss);
  seg_put(&a->tr, &n->tr), seg_put(&a->ldtr, &n->ldt);
  a->gdtr.base = n->gdt.base, a->gdtr.limit = n->gdt.limit;
  a->idtr.base = n->idt.base, a->idtr.limit = n->idt.limit;
  a->cr0 = n->cr0, a->cr2 = n->cr2, a->cr3 = n->cr3, a->cr4 = n->cr4;
  s->vmcb->control.int_ctl =
      (s->vmcb->control.int_ctl & ~V_TPR_MASK) | (u32)n->cr8;
  a->efer = n->efer | EFER_SVME;
  /* The CPL is SS.DPL in protected mode, 0 in real mode. */
  a->cpl = (n->cr0 & X86_CR0_PE) ? (n->ss.attrib >> 5) & 3 : 0;
  s->flush = true;
  return 0;
}

/* ---- MSRs --------------------------------------------------------------- */

static bool pat_valid(u64 pat) {
  for (int i = 0; i < 8; i++) {
    u8 t = (pat >> (8 * i)) & 0xff;
    if (t == 2 || t == 3 || t > 7)
      return false;
  }
  return true;
}

int svm_get_msr(struct lvs_vcpu *v, u32 index, u64 *value) {
  struct vmcb *vmcb = ((struct svm_vcpu *)v->vendor)->vmcb;
  struct vmcb_save_area *a = &vmcb->save;
  switch (index) {
  case MSR_EFER: *value = a->efer & ~(u64)EFER_SVME; return 0;
  case MSR_STAR: *value = a->star; return 0;
  case MSR_LSTAR: *value = a->lstar; return 0;
  case MSR_CSTAR: *value = a->cstar; return 0;
  case MSR_SYSCALL_MASK: *value = a->sfmask; return 0;
  case MSR_FS_BASE: *value = a->fs.base; return 0;
  case MSR_GS_BASE: *value = a->gs.base; return 0;
  case MSR_KERNEL_GS_BASE: *value = a->kernel_gs_base; return 0;
  case MSR_IA32_SYSENTER_CS: *value = a->sysenter_cs; return 0;
  case MSR_IA32_SYSENTER_ESP: *value = a->sysenter_esp; return 0;
  case MSR_IA32_SYSENTER_EIP: *value = a->sysenter_eip; return 0;
  case MSR_IA32_CR_PAT: *value = a->g_pat; return 0;
  case MSR_IA32_TSC: *value = rdtsc() + vmcb->control.tsc_offset; return 0;
  default: return lvs_msr_get_common(v, index, value);
  }
}

int svm_set_msr(struct lvs_vcpu *v, u32 index, u64 value, bool guest) {
  struct vmcb *vmcb = ((struct svm_vcpu *)v->vendor)->vmcb;
  struct vmcb_save_area *a = &vmcb->save;
  switch (index) {
  case MSR_EFER:
    if (value & ~(u64)EFER_ALLOWED)
      return -EINVAL;
    if (guest) /* LMA is the CPU's to set */
      value = (value & ~(u64)EFER_LMA) | (a->efer & EFER_LMA);
    a->efer = value | EFER_SVME;
    return 0;
  case MSR_STAR: a->star = value; return 0;
  case MSR_LSTAR: case MSR_CSTAR: case MSR_FS_BASE: case MSR_GS_BASE:
  case MSR_KERNEL_GS_BASE:
    /* Addresses: canonical only (a non-canonical one would fault the
     * host on the next VMLOAD/VMRUN). */
    if (!lvs_canonical(value))
      return -EINVAL;
    if (index == MSR_LSTAR) a->lstar = value;
    else if (index == MSR_CSTAR) a->cstar = value;
    else if (index == MSR_FS_BASE) a->fs.base = value;
    else if (index == MSR_GS_BASE) a->gs.base = value;
    else a->kernel_gs_base = value;
    return 0;
  case MSR_SYSCALL_MASK: a->sfmask = value & 0xffffffffu; return 0;
  case MSR_IA32_SYSENTER_CS: a->sysenter_cs = value & 0xffff; return 0;
  case MSR_IA32_SYSENTER_ESP: a->sysenter_esp = value; return 0;
  case MSR_IA32_SYSENTER_EIP: a->sysenter_eip = value; return 0;
  case MSR_IA32_CR_PAT:
    if (!pat_valid(value))
      return -EINVAL;
    a->g_pat = value;
    return 0;
  case MSR_IA32_TSC:
    vmcb->control.tsc_offset = value - rdtsc();
    return 0;
  default:
    return lvs_msr_set_common(v, index, value);
  }
}

int svm_inject(struct lvs_vcpu *v, const struct lvs_event *ev) {
  struct vmcb_control_area *c = &((struct svm_vcpu *)v->vendor)->vmcb->control;
  if (c->event_inj & SVM_EVTINJ_VALID)
    return -EBUSY;
  c->event_inj_err = ev->error_code;
  c->event_inj = ev->vector | SVM_EVTINJ_VALID |
                 (ev->kind == LVS_EVENT_EXCEPTION ? SVM_EVTINJ_TYPE_EXEPT
                                                  : SVM_EVTINJ_TYPE_INTR) |
                 (ev->has_error ? SVM_EVTINJ_VALID_ERR : 0);
  return 0;
}

int svm_set_debug(struct lvs_vcpu *v, const struct lvs_debug *d) {
  struct svm_vcpu *s = v->vendor;
  unsigned int bp = INTERCEPT_EXCEPTION_OFFSET + 3;
  if (d->flags & LVS_DEBUG_HW_BP) {
    for (int i = 0; i < 4; i++)
      if (!lvs_canonical(d->dr[i]))
        return -EINVAL;
    if (d->dr7 >> 32)
      return -EINVAL;
  }
  s->debug = d->flags;
  memcpy(s->dr, d->dr, sizeof(s->dr));
  s->dr7 = (d->flags & LVS_DEBUG_HW_BP) ? (d->dr7 | 0x400) & ~0x2000ull
                                         : 0x400;
  s->vmcb->save.dr7 = s->dr7;
  if (d->flags & LVS_DEBUG_SW_BP)
    s->vmcb->control.intercepts[bp / 32] |= 1u << (bp % 32);
  else
    s->vmcb->control.intercepts[bp / 32] &= ~(1u << (bp % 32));
  return 0;
}

