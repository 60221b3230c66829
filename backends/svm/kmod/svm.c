// SPDX-License-Identifier: GPL-2.0
/* backends/svm/kmod/svm.c — the AMD SVM vendor ops: SVM on per CPU, one
 * VMCB per vCPU, intercepts, guest entry and the exits the module handles
 * itself (CPUID, MSRs, interrupts); the rest goes to user space.
 *
 * Guest entry (svm_entry.S): VMSAVE of the host's FS/GS/TR/LDTR and
 * syscall MSRs to a per-CPU page, VMLOAD of the guest's, VMRUN, VMSAVE
 * of the guest's, VMLOAD of the host's. VMRUN itself switches the rest
 * (segments, CRs, EFER, RIP/RSP/RAX, RFLAGS) through the VMCB and the
 * host save area (MSR VM_HSAVE_PA). */
#include <linux/cpumask.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/svm.h>

#include "lvs.h"
#include "svm_npt.h"
#include "svm_internal.h"

void lvs_svm_enter(u64 vmcb_pa, u64 *gprs, u64 host_vmsave_pa);

struct svm_cpu {
  struct page *hsave;       /* VM_HSAVE_PA: VMRUN's host save area */
  struct page *host_area;   /* host state for VMSAVE/VMLOAD */
  bool enabled;
  struct vmcb *last_vmcb;   /* the last guest this CPU entered */
};
static DEFINE_PER_CPU(struct svm_cpu, svm_cpus);

/* IOPM (12 KiB) and MSRPM (8 KiB), all ones: every port and MSR access
 * exits. Shared read-only by every VMCB. */
static void *iopm, *msrpm;
u32 lvs_svm_features;
u64 lvs_svm_cr4_allowed; /* svm_internal.h */

/* The ASID all guests share: a CPU's TLB is flushed whenever it enters a
 * different guest than last time (see svm_vcpu_run), so no two guests
 * ever see each other's translations. */
#define SVM_ASID 1

/* ---- turning SVM on and off ------------------------------------------ */

static int svm_cpu_enable(struct svm_cpu *c) {
  unsigned long flags;
  u64 efer;
  /* Interrupts off: another hypervisor enables SVM from an IPI, which
   * must not land between the check and the write. */
  local_irq_save(flags);
  rdmsrl(MSR_EFER, efer);
  if (efer & EFER_SVME) {
    local_irq_restore(flags);
    return -EBUSY; /* another hypervisor (kvm-amd) has this CPU */
  }
  wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(c->hsave));
  wrmsrl(MSR_EFER, efer | EFER_SVME);
  c->enabled = true;
  local_irq_restore(flags);
  return 0;
}

static void svm_cpu_disable(void *unused) {
  struct svm_cpu *c = this_cpu_ptr(&svm_cpus);
  u64 efer;
  if (!c->enabled)
    return;
  rdmsrl(MSR_EFER, efer);
  wrmsrl(MSR_EFER, efer & ~(u64)EFER_SVME);
  wrmsrl(MSR_VM_HSAVE_PA, 0);
  c->enabled = false;
  c->last_vmcb = NULL;
}

static void svm_free_global(void) {
  int cpu;
  for_each_possible_cpu(cpu) {
    struct svm_cpu *c = per_cpu_ptr(&svm_cpus, cpu);
    if (c->hsave)
      __free_page(c->hsave);
    if (c->host_area)
      __free_page(c->host_area);
    c->hsave = c->host_area = NULL;
  }
  free_pages((unsigned long)iopm, 2);
  free_pages((unsigned long)msrpm, 1);
  iopm = msrpm = NULL;
}

static int svm_hw_setup(u32 *features) {
  u32 edx;
  u64 vm_cr;
  int cpu;

  if (boot_cpu_data.x86_vendor != X86_VENDOR_AMD &&
      boot_cpu_data.x86_vendor != X86_VENDOR_HYGON)
    return -ENODEV;
  if (cpuid_eax(0x80000000) < SVM_CPUID_FUNC ||
      !(cpuid_ecx(0x80000001) & (1u << 2))) {
    pr_err("libvmm-svm: the CPU has no SVM\n");
    return -ENODEV;
  }
  rdmsrl(MSR_VM_CR, vm_cr);
  if (vm_cr & (1 << SVM_VM_CR_SVM_DISABLE)) {
    pr_err("libvmm-svm: SVM is disabled by the firmware\n");
    return -ENODEV;
  }
  edx = cpuid_edx(SVM_CPUID_FUNC);
  lvs_svm_features = 0;
  if (edx & (1u << 0))
    lvs_svm_features |= LVS_FEAT_NPT;
  if (edx & (1u << 3))
    lvs_svm_features |= LVS_FEAT_NRIPS;
  if (edx & (1u << 7))
    lvs_svm_features |= LVS_FEAT_DECODE_ASSISTS;
  if (!(lvs_svm_features & LVS_FEAT_NPT))
    pr_warn("libvmm-svm: CPUID does not report nested paging; using it "
            "anyway (VMRUN fails if the CPU lacks it)\n");
  *features = lvs_svm_features;
  lvs_svm_cr4_allowed = X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE |
                X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE |
                X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
  if (cpuid_ecx(1) & (1u << 17))
    lvs_svm_cr4_allowed |= X86_CR4_PCIDE;
  if (cpuid_eax(0) >= 7) {
    u32 b7 = cpuid_ebx(7), c7 = cpuid_ecx(7);
    if (b7 & (1u << 0))
      lvs_svm_cr4_allowed |= X86_CR4_FSGSBASE;
    if (b7 & (1u << 7))
      lvs_svm_cr4_allowed |= X86_CR4_SMEP;
    if (b7 & (1u << 20))
      lvs_svm_cr4_allowed |= X86_CR4_SMAP;
    if (c7 & (1u << 2))
      lvs_svm_cr4_allowed |= X86_CR4_UMIP;
  }

  /* 12 KiB IOPM in a 16 KiB block, 8 KiB MSRPM: all intercepted. */
  iopm = (void *)__get_free_pages(GFP_KERNEL, 2);
  msrpm = (void *)__get_free_pages(GFP_KERNEL, 1);
  if (!iopm || !msrpm)
    goto nomem;
  memset(iopm, 0xff, PAGE_SIZE << 2);
  memset(msrpm, 0xff, PAGE_SIZE << 1);
  for_each_possible_cpu(cpu) {
    struct svm_cpu *c = per_cpu_ptr(&svm_cpus, cpu);
    c->hsave = alloc_pages_node(cpu_to_node(cpu), GFP_KERNEL | __GFP_ZERO, 0);
    c->host_area = alloc_pages_node(cpu_to_node(cpu),
                                    GFP_KERNEL | __GFP_ZERO, 0);
    if (!c->hsave || !c->host_area)
      goto nomem;
  }
  return 0;
nomem:
  svm_free_global();
  return -ENOMEM;
}

static void svm_hw_unsetup(void) {
  on_each_cpu(svm_cpu_disable, NULL, 1);
  svm_free_global();
}

/* ---- VMs: nested page tables --------------------------------------- */

static int svm_vm_init(struct lvs_vm *vm) {
  struct lvs_npt *npt = lvs_npt_alloc();
  if (!npt)
    return -ENOMEM;
  vm->vendor = npt;
  return 0;
}

static void svm_vm_free(struct lvs_vm *vm) { lvs_npt_free(vm->vendor); }

static int svm_map(struct lvs_vm *vm, u64 gpa, u64 hpa, bool writable) {
  return lvs_npt_map(vm->vendor, gpa, hpa, writable);
}

static void svm_unmap(struct lvs_vm *vm, u64 gpa) {
  lvs_npt_unmap(vm->vendor, gpa);
}

/* ---- vCPUs ------------------------------------------------------------ */

static void set_intercept(struct vmcb *vmcb, unsigned int bit) {
  vmcb->control.intercepts[bit / 32] |= 1u << (bit % 32);
}

static void seg_set(struct vmcb_seg *s, u16 sel, u16 attrib, u32 limit,
                    u64 base) {
  s->selector = sel, s->attrib = attrib, s->limit = limit, s->base = base;
}

/* The architectural reset state (as after INIT), with SVM's needs. */
static void vmcb_init(struct lvs_vcpu *v, struct svm_vcpu *s) {
  struct vmcb *vmcb = s->vmcb;
  struct vmcb_control_area *c = &vmcb->control;
  struct vmcb_save_area *a = &vmcb->save;
  static const unsigned int intercepts[] = {
      /* The host keeps its interrupts, NMIs and SMIs. */
      INTERCEPT_INTR, INTERCEPT_NMI, INTERCEPT_SMI,
      /* Emulated for the guest, or given to user space. */
      INTERCEPT_CPUID, INTERCEPT_HLT, INTERCEPT_IOIO_PROT,
      INTERCEPT_MSR_PROT, INTERCEPT_SHUTDOWN,
      /* CR4 writes are checked against what the CPU and the module
       * support (an unsupported bit must #GP, not poison the VMCB). */
      INTERCEPT_CR4_WRITE,
      /* Would touch host state or cache contents. */
      INTERCEPT_INVD, INTERCEPT_XSETBV, INTERCEPT_MONITOR, INTERCEPT_MWAIT,
      INTERCEPT_MWAIT_COND, INTERCEPT_RDPRU,
      /* No nested virtualization: the SVM instructions raise #UD. */
      INTERCEPT_VMRUN, INTERCEPT_VMMCALL, INTERCEPT_VMLOAD,
      INTERCEPT_VMSAVE, INTERCEPT_STGI, INTERCEPT_CLGI, INTERCEPT_SKINIT,
      INTERCEPT_INVLPGA,
      /* Debug registers 0-3 and 7 are the host's while the guest runs. */
      INTERCEPT_DR0_WRITE, INTERCEPT_DR1_WRITE, INTERCEPT_DR2_WRITE,
      INTERCEPT_DR3_WRITE, INTERCEPT_DR7_WRITE,
      /* #AC and #DB are reflected: a guest could otherwise loop in
       * microcode delivering them and never let the host back. */
      INTERCEPT_EXCEPTION_OFFSET + 1, INTERCEPT_EXCEPTION_OFFSET + 17,
      /* A machine check is the host's. */
      INTERCEPT_EXCEPTION_OFFSET + 18,
  };

  for (size_t i = 0; i < ARRAY_SIZE(intercepts); i++)
    set_intercept(vmcb, intercepts[i]);
  c->iopm_base_pa = __pa(iopm);
  c->msrpm_base_pa = __pa(msrpm);
  c->asid = SVM_ASID;
  c->tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
  /* Virtual interrupt masking: the guest's RFLAGS.IF and CR8 do not mask
   * the host's interrupts. */
  c->int_ctl = V_INTR_MASKING_MASK;
  c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
  c->nested_cr3 = lvs_npt_root_pa(v->vm->vendor);

  seg_set(&a->cs, 0xf000, 0x9b, 0xffff, 0xffff0000ull);
  seg_set(&a->ds, 0, 0x93, 0xffff, 0);
  a->es = a->ss = a->fs = a->gs = a->ds;
  seg_set(&a->gdtr, 0, 0, 0xffff, 0);
  a->idtr = a->gdtr;
  seg_set(&a->ldtr, 0, 0x82, 0xffff, 0);
  seg_set(&a->tr, 0, 0x8b, 0xffff, 0);
  a->cr0 = X86_CR0_ET | X86_CR0_CD | X86_CR0_NW;
  a->efer = EFER_SVME; /* VMRUN requires it; the guest never sees it */
  a->rflags = 2;
  a->rip = 0xfff0;
  a->dr6 = 0xffff0ff0;
  a->dr7 = 0x400;
  a->g_pat = 0x0007040600070406ull;
  s->gprs[2] = 0x600; /* RDX: family 6 signature, as after reset */
}

static int svm_vcpu_init(struct lvs_vcpu *v) {
  struct svm_vcpu *s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
  if (!s)
    return -ENOMEM;
  s->vmcb = (struct vmcb *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
  if (!s->vmcb) {
    kfree(s);
    return -ENOMEM;
  }
  s->vmcb_pa = __pa(s->vmcb);
  s->last_cpu = -1;
  vmcb_init(v, s);
  v->vendor = s;
  return 0;
}

static void svm_vcpu_free(struct lvs_vcpu *v) {
  struct svm_vcpu *s = v->vendor;
  int cpu;
  if (!s)
    return;
  /* A CPU must not take a new VMCB at this address for the old guest. */
  for_each_possible_cpu(cpu)
    cmpxchg(&per_cpu_ptr(&svm_cpus, cpu)->last_vmcb, s->vmcb, NULL);
  free_page((unsigned long)s->vmcb);
  kfree(s);
  v->vendor = NULL;
}

static void inject_exception(struct vmcb *vmcb, u8 vector, bool has_err,
                             u32 err) {
  vmcb->control.event_inj = vector | SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT |
                            (has_err ? SVM_EVTINJ_VALID_ERR : 0);
  vmcb->control.event_inj_err = err;
}

/* ---- running ------------------------------------------------------------ */

/* Moves RIP past the intercepted instruction (`len` bytes when the CPU
 * does not save the next RIP). */
static void skip_insn(struct svm_vcpu *s, unsigned int len) {
  struct vmcb *vmcb = s->vmcb;
  if ((lvs_svm_features & LVS_FEAT_NRIPS) && vmcb->control.next_rip)
    vmcb->save.rip = vmcb->control.next_rip;
  else
    vmcb->save.rip += len;
  vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW_MASK;
}

static void exit_hw(struct lvs_vcpu *v, u32 reason) {
  const struct vmcb_control_area *c =
      &((struct svm_vcpu *)v->vendor)->vmcb->control;
  v->run->exit_reason = reason;
  v->run->u.hw.exit_code = ((u64)c->exit_code_hi << 32) | c->exit_code;
  v->run->u.hw.info1 = c->exit_info_1;
  v->run->u.hw.info2 = c->exit_info_2;
  v->run->u.hw.exit_int_info = c->exit_int_info;
  v->run->u.hw.pad = 0;
}

static int handle_ioio(struct lvs_vcpu *v, struct svm_vcpu *s) {
  struct vmcb *vmcb = s->vmcb;
  u64 info = vmcb->control.exit_info_1;
  u8 size = (info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT;
  bool in = info & SVM_IOIO_TYPE_MASK;

  if ((info & SVM_IOIO_STR_MASK) || (size != 1 && size != 2 && size != 4)) {
    exit_hw(v, LVS_EXIT_UNHANDLED); /* INS/OUTS: user space decides */
    return LVS_RUN_USER;
  }
  v->run->exit_reason = LVS_EXIT_IO;
  v->run->u.io.port = info >> 16;
  v->run->u.io.size = size;
  v->run->u.io.is_write = !in;
  v->run->u.io.count = 1;
  memset(v->run->u.io.data, 0, sizeof(v->run->u.io.data));
  if (in) {
    v->pending_in = size;
    v->pending_rip = vmcb->control.exit_info_2;
  } else {
    memcpy(v->run->u.io.data, &vmcb->save.rax, size);
    vmcb->save.rip = vmcb->control.exit_info_2; /* the next RIP */
  }
  return LVS_RUN_USER;
}

static void complete_in(struct lvs_vcpu *v, struct svm_vcpu *s) {
  u64 val = 0, *rax = &s->vmcb->save.rax;
  memcpy(&val, (const void *)v->run->u.io.data, v->pending_in);
  if (v->pending_in == 4)
    *rax = val & 0xffffffffu; /* a 32-bit result clears the upper half */
  else if (v->pending_in == 2)
    *rax = (*rax & ~0xffffull) | (val & 0xffff);
  else
    *rax = (*rax & ~0xffull) | (val & 0xff);
  s->vmcb->save.rip = v->pending_rip;
  v->pending_in = 0;
}

static int handle_npf(struct lvs_vcpu *v, struct svm_vcpu *s) {
  const struct vmcb_control_area *c = &s->vmcb->control;
  u64 gpa = c->exit_info_2, err = c->exit_info_1;
  struct lvs_region_k *r;

  /* A write (by an instruction, or by the CPU setting accessed/dirty
   * bits in the guest's page tables) to a dirty-logged page. */
  if ((err & 2) && lvs_dirty_fault(v->vm, gpa)) {
    s->flush = true; /* drop a cached read-only translation */
    return LVS_RUN_AGAIN;
  }
  r = lvs_region_find(v->vm, gpa);

  /* Bit 33: the fault hit the guest's own page tables, which must be RAM;
   * a fault inside RAM other than a write to ROM is not MMIO either. */
  if ((err & (1ull << 33)) ||
      (r && !((err & 2) && (r->flags & LVS_REGION_READONLY)))) {
    exit_hw(v, LVS_EXIT_UNHANDLED);
    return LVS_RUN_USER;
  }
  v->run->exit_reason = LVS_EXIT_MMIO;
  v->run->u.mmio.gpa = gpa;
  v->run->u.mmio.error_code = err;
  v->run->u.mmio.insn_len = 0;
  if ((lvs_svm_features & LVS_FEAT_DECODE_ASSISTS) && c->insn_len <= 15) {
    v->run->u.mmio.insn_len = c->insn_len;
    memcpy(v->run->u.mmio.insn, c->insn_bytes, c->insn_len);
  }
  return LVS_RUN_USER;
}

static int handle_exit(struct lvs_vcpu *v, struct svm_vcpu *s) {
  struct vmcb *vmcb = s->vmcb;
  struct vmcb_control_area *c = &vmcb->control;
  u32 code = c->exit_code;

  if (c->exit_code_hi || code == (u32)SVM_EXIT_ERR) {
    exit_hw(v, LVS_EXIT_ENTRY_FAILED);
    return LVS_RUN_USER;
  }
  /* An event whose delivery the exit interrupted is delivered again. */
  if (c->exit_int_info & SVM_EXITINTINFO_VALID) {
    c->event_inj = c->exit_int_info;
    c->event_inj_err = c->exit_int_info_err;
  }
  switch (code) {
  case SVM_EXIT_INTR:
  case SVM_EXIT_NMI:
  case SVM_EXIT_SMI:
    return LVS_RUN_AGAIN; /* the host takes it once GIF is set again */
  case SVM_EXIT_EXCP_BASE + 1:
    /* The debugger's step or breakpoint (DR6: BS, B0-B3), or the
     * guest's own #DB. */
    if ((s->debug & (LVS_DEBUG_SINGLESTEP | LVS_DEBUG_HW_BP)) &&
        (vmcb->save.dr6 & (DR_STEP | DR_TRAP_BITS))) {
      v->run->exit_reason = LVS_EXIT_DEBUG;
      v->run->u.debug.exception = 1;
      v->run->u.debug.pad = 0;
      v->run->u.debug.rip = vmcb->save.rip;
      v->run->u.debug.dr6 = vmcb->save.dr6;
      v->run->u.debug.dr7 = vmcb->save.dr7;
      vmcb->save.dr6 = DR6_RESERVED;
      /* An instruction breakpoint is a fault: RF lets the instruction
       * run when the debugger resumes. */
      if (v->run->u.debug.dr6 & DR_TRAP_BITS)
        vmcb->save.rflags |= X86_EFLAGS_RF;
      c->event_inj = 0; /* nothing to deliver to the guest */
      return LVS_RUN_USER;
    }
    inject_exception(vmcb, 1, false, 0);
    return LVS_RUN_AGAIN;
  case SVM_EXIT_EXCP_BASE + 3: /* only intercepted for LVS_DEBUG_SW_BP */
    v->run->exit_reason = LVS_EXIT_DEBUG;
    v->run->u.debug.exception = 3;
    v->run->u.debug.pad = 0;
    v->run->u.debug.rip = vmcb->save.rip;
    v->run->u.debug.dr6 = vmcb->save.dr6;
    v->run->u.debug.dr7 = vmcb->save.dr7;
    c->event_inj = 0;
    return LVS_RUN_USER;
  case SVM_EXIT_EXCP_BASE + 17:
    inject_exception(vmcb, 17, true, 0);
    return LVS_RUN_AGAIN;
  case SVM_EXIT_EXCP_BASE + 18:
    /* The hardware error happened while the guest ran: let the host's
     * machine-check handler see it (as KVM does). */
    asm volatile("int $0x12");
    exit_hw(v, LVS_EXIT_UNHANDLED);
    return LVS_RUN_USER;
  case SVM_EXIT_CPUID: {
    u32 out[4];
    lvs_cpuid_lookup(v, (u32)vmcb->save.rax, (u32)s->gprs[1], out);
    vmcb->save.rax = out[0], s->gprs[3] = out[1];
    s->gprs[1] = out[2], s->gprs[2] = out[3];
    skip_insn(s, 2);
    return LVS_RUN_AGAIN;
  }
  case SVM_EXIT_MSR: {
    u32 index = (u32)s->gprs[1];
    if (c->exit_info_1) {
      u64 value = (vmcb->save.rax & 0xffffffffu) | (s->gprs[2] << 32);
      if (svm_set_msr(v, index, value, true)) {
        inject_exception(vmcb, 13, true, 0);
        return LVS_RUN_AGAIN;
      }
    } else {
      u64 value;
      if (svm_get_msr(v, index, &value)) {
        inject_exception(vmcb, 13, true, 0);
        return LVS_RUN_AGAIN;
      }
      vmcb->save.rax = value & 0xffffffffu;
      s->gprs[2] = value >> 32;
    }
    skip_insn(s, 2);
    return LVS_RUN_AGAIN;
  }
  case SVM_EXIT_WRITE_CR4:
    /* With decode assists the source register is in EXITINFO1 (bit 63
     * valid) and NRIPS gives the length; else user space decodes the
     * MOV and sets CR4 through LVS_SET_SREGS (svm_mmio.c). */
    if ((lvs_svm_features & LVS_FEAT_DECODE_ASSISTS) &&
        (lvs_svm_features & LVS_FEAT_NRIPS) && (c->exit_info_1 >> 63)) {
      unsigned int reg = c->exit_info_1 & 15;
      u64 val = reg == 0 ? vmcb->save.rax
                : reg == 4 ? vmcb->save.rsp : s->gprs[reg];
      if (val & ~lvs_svm_cr4_allowed) {
        inject_exception(vmcb, 13, true, 0);
        return LVS_RUN_AGAIN;
      }
      vmcb->save.cr4 = val;
      s->flush = true;
      skip_insn(s, 3);
      return LVS_RUN_AGAIN;
    }
    exit_hw(v, LVS_EXIT_UNHANDLED);
    return LVS_RUN_USER;
  case SVM_EXIT_INVD:
    skip_insn(s, 2); /* the host's caches are not the guest's to drop */
    return LVS_RUN_AGAIN;
  case SVM_EXIT_HLT:
    skip_insn(s, 1);
    v->run->exit_reason = LVS_EXIT_HLT;
    return LVS_RUN_USER;
  case SVM_EXIT_IOIO:
    return handle_ioio(v, s);
  case SVM_EXIT_NPF:
    return handle_npf(v, s);
  case SVM_EXIT_SHUTDOWN:
    v->run->exit_reason = LVS_EXIT_SHUTDOWN;
    return LVS_RUN_USER;
  case SVM_EXIT_VMRUN: case SVM_EXIT_VMMCALL: case SVM_EXIT_VMLOAD:
  case SVM_EXIT_VMSAVE: case SVM_EXIT_STGI: case SVM_EXIT_CLGI:
  case SVM_EXIT_SKINIT: case SVM_EXIT_INVLPGA: case SVM_EXIT_MONITOR:
  case SVM_EXIT_MWAIT: case SVM_EXIT_MWAIT_COND: case SVM_EXIT_XSETBV:
  case SVM_EXIT_RDPRU:
    inject_exception(vmcb, 6, false, 0); /* #UD */
    return LVS_RUN_AGAIN;
  default:
    exit_hw(v, LVS_EXIT_UNHANDLED);
    return LVS_RUN_USER;
  }
}

struct fx_area {
  u8 b[512];
};

static void svm_complete(struct lvs_vcpu *v) {
  if (v->pending_in)
    complete_in(v, v->vendor);
}

static int svm_vcpu_run(struct lvs_vcpu *v) {
  struct svm_vcpu *s = v->vendor;
  struct vmcb *vmcb = s->vmcb;
  struct svm_cpu *c;
  int cpu, gen = atomic_read(&v->vm->npt_gen);

  if (v->pending_in)
    complete_in(v, s);
  /* Saves the caller's FPU state (restored on return to user space) and
   * keeps this task on this CPU until kernel_fpu_end(). */
  kernel_fpu_begin();
  cpu = smp_processor_id();
  c = this_cpu_ptr(&svm_cpus);
  if (!c->enabled) {
    int rc = svm_cpu_enable(c);
    if (rc) {
      kernel_fpu_end();
      return rc;
    }
  }
  if (c->last_vmcb != vmcb || s->last_cpu != cpu || s->npt_gen != gen ||
      s->flush)
    vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
  else
    vmcb->control.tlb_ctl = TLB_CONTROL_DO_NOTHING;
  c->last_vmcb = vmcb;
  s->last_cpu = cpu;
  s->npt_gen = gen;
  s->flush = false;
  vmcb->control.next_rip = 0;
  vmcb->control.clean = 0;
  if ((s->debug & LVS_DEBUG_SINGLESTEP) && !(vmcb->save.rflags & X86_EFLAGS_TF)) {
    vmcb->save.rflags |= X86_EFLAGS_TF;
    s->tf_added = true;
  }
  if (s->debug & LVS_DEBUG_HW_BP)
    vmcb->save.dr7 = s->dr7;
  asm volatile("fxrstorq %0" : : "m"(*(struct fx_area *)v->fx));

  /* GIF clear holds interrupts off even with IF set; the guest runs with
   * GIF set and host interrupts exit it (INTR intercept), to be taken
   * here after STGI. */
  local_irq_disable();
  asm volatile("clgi" ::: "memory");
  local_irq_enable();
  if (s->debug & LVS_DEBUG_HW_BP) {
    /* The debugger's breakpoints; the host's come back after the exit
     * (hw_breakpoint_restore). DR7 is loaded by VMRUN from the VMCB. */
    set_debugreg(s->dr[0], 0);
    set_debugreg(s->dr[1], 1);
    set_debugreg(s->dr[2], 2);
    set_debugreg(s->dr[3], 3);
  }
  lvs_svm_enter(s->vmcb_pa, s->gprs, page_to_phys(c->host_area));
  local_irq_disable();
  /* #VMEXIT leaves DR7 at its reset value: the host's breakpoints back. */
  if (hw_breakpoint_active())
    hw_breakpoint_restore();
  asm volatile("stgi" ::: "memory");
  local_irq_enable();

  asm volatile("fxsaveq %0" : "=m"(*(struct fx_area *)v->fx));
  kernel_fpu_end();
  vmcb->control.event_inj = 0;
  if (s->tf_added) {
    vmcb->save.rflags &= ~(u64)X86_EFLAGS_TF;
    s->tf_added = false;
  }
  return handle_exit(v, s);
}

const struct lvs_vendor_ops lvs_svm_ops = {
    .name = "svm",
    .hw_setup = svm_hw_setup,
    .hw_unsetup = svm_hw_unsetup,
    .vm_init = svm_vm_init,
    .vm_free = svm_vm_free,
    .map = svm_map,
    .unmap = svm_unmap,
    .vcpu_init = svm_vcpu_init,
    .vcpu_free = svm_vcpu_free,
    .vcpu_run = svm_vcpu_run,
    .get_regs = svm_get_regs,
    .set_regs = svm_set_regs,
    .get_sregs = svm_get_sregs,
    .set_sregs = svm_set_sregs,
    .get_msr = svm_get_msr,
    .set_msr = svm_set_msr,
    .inject = svm_inject,
    .set_debug = svm_set_debug,
    .complete = svm_complete,
};
