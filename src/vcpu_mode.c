/* src/vcpu_mode.c — helpers that put a vCPU into real, protected or long mode. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vm_internal.h"

static vmm_segment_t seg(uint16_t sel, uint8_t type, uint8_t dpl, bool code64,
                         bool big) {
  vmm_segment_t s;
  memset(&s, 0, sizeof(s));
  s.base = 0;
  s.limit = 0xffffffffu;
  s.selector = sel;
  s.type = type;
  s.present = 1;
  s.dpl = dpl;
  s.s = 1;
  s.l = code64;
  s.db = big && !code64;
  s.g = 1;
  return s;
}

/* Encodes a flat code/data descriptor as it sits in a GDT. */
static uint64_t gdt_entry(uint8_t type, uint8_t dpl, bool code64, bool big) {
  uint64_t access = (uint64_t)(0x80 | (dpl << 5) | 0x10 | type);
  uint64_t flags = 0x8 /* G */ | (code64 ? 0x2 : 0) | (big ? 0x4 : 0);
  return 0xffffull | (access << 40) | (0xfull << 48) | (flags << 52);
}

static int get_state(vmm_vcpu_t *vcpu, vmm_sregs_t *sregs, const char *what) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "%s: not a live vCPU handle", what);
  if (atomic_load(&vcpu->running))
    return vmm__error(VMM_EBUSY, "%s: vCPU %u is running", what, vcpu->id);
  return vcpu->vm->ops->get_sregs(vcpu->bvcpu, sregs);
}

static int set_state(vmm_vcpu_t *vcpu, const vmm_sregs_t *sregs,
                     uint64_t rip, uint64_t rsp) {
  int rc = vcpu->vm->ops->set_sregs(vcpu->bvcpu, sregs);
  if (rc < 0)
    return rc;
  vmm_regs_t regs;
  memset(&regs, 0, sizeof(regs));
  regs.rip = rip;
  regs.rsp = rsp;
  regs.rflags = VMM_X86_RFLAGS_FIXED;
  return vcpu->vm->ops->set_regs(vcpu->bvcpu, &regs);
}

int vmm_vcpu_setup_real_mode(vmm_vcpu_t *vcpu, uint16_t cs_selector,
                             uint16_t ip, uint16_t sp) {
  vmm_sregs_t s;
  int rc = get_state(vcpu, &s, "vmm_vcpu_setup_real_mode");
  if (rc < 0)
    return rc;
  vmm_segment_t *all[] = {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    memset(all[i], 0, sizeof(vmm_segment_t));
    all[i]->limit = 0xffff;
    all[i]->present = 1;
    all[i]->s = 1;
    all[i]->type = all[i] == &s.cs ? 0xb : 0x3; /* code / data, accessed */
  }
  s.cs.selector = cs_selector;
  s.cs.base = (uint64_t)cs_selector << 4;
  s.cr0 = VMM_X86_CR0_ET;
  s.cr3 = s.cr4 = 0;
  s.efer = 0;
  return set_state(vcpu, &s, ip, sp);
}

int vmm_vcpu_setup_protected_mode(vmm_vcpu_t *vcpu, uint32_t entry,
                                  uint32_t stack) {
  vmm_sregs_t s;
  int rc = get_state(vcpu, &s, "vmm_vcpu_setup_protected_mode");
  if (rc < 0)
    return rc;
  /* Selectors follow the long-mode GDT layout so that a guest switching
   * between the helpers sees consistent numbers. */
  s.cs = seg(VMM_LM_SEL_CODE32 & ~3, 0xb, 0, false, true);
  s.ds = s.es = s.fs = s.gs = s.ss = seg(VMM_LM_SEL_KDATA, 0x3, 0, false,
                                         true);
  s.cr0 = VMM_X86_CR0_PE | VMM_X86_CR0_ET | VMM_X86_CR0_NE;
  s.cr3 = 0;
  s.cr4 = 0;
  s.efer = 0;
  return set_state(vcpu, &s, entry, stack);
}

int vmm_vcpu_setup_long_mode(vmm_vcpu_t *vcpu, uint64_t entry, uint64_t stack,
                             uint64_t setup_gpa) {
  vmm_sregs_t s;
  int rc = get_state(vcpu, &s, "vmm_vcpu_setup_long_mode");
  if (rc < 0)
    return rc;
  if (setup_gpa & (VMM_PAGE_SIZE - 1))
    return vmm__error(VMM_EINVAL, "vmm_vcpu_setup_long_mode: setup_gpa "
                      "0x%llx is not 4 KiB aligned",
                      (unsigned long long)setup_gpa);
  vmm_vm_t *vm = vcpu->vm;

  /* Build the whole area on the host, then write it in one checked copy,
   * so a setup_gpa outside RAM changes nothing. */
  uint64_t *area = calloc(1, VMM_LONG_MODE_SETUP_SIZE);
  if (!area)
    return vmm__error(VMM_ENOMEM, "out of memory for the long-mode setup");
  uint64_t *gdt = &area[VMM_LM_GDT_OFFSET / 8];
  gdt[VMM_LM_SEL_KCODE / 8] = gdt_entry(0xb, 0, true, false);
  gdt[VMM_LM_SEL_KDATA / 8] = gdt_entry(0x3, 0, false, true);
  gdt[VMM_LM_SEL_CODE32 / 8] = gdt_entry(0xb, 3, false, true);
  gdt[VMM_LM_SEL_UDATA / 8] = gdt_entry(0x3, 3, false, true);
  gdt[VMM_LM_SEL_UCODE / 8] = gdt_entry(0xb, 3, true, false);
  /* 64-bit available TSS (type 9), 104 bytes, base split over 16 bytes. */
  /* The limit covers the I/O bitmap and the 0xff byte that must follow
   * it (the CPU reads two bytes per check). */
  uint64_t tss = setup_gpa + VMM_LM_TSS_OFFSET;
  uint64_t iomap_base = VMM_LM_IOMAP_OFFSET - VMM_LM_TSS_OFFSET;
  uint64_t tss_limit = iomap_base + 8192;
  gdt[VMM_LM_SEL_TSS / 8] = (tss_limit & 0xffff) | ((tss & 0xffffff) << 16) |
                            (0x89ull << 40) | ((tss_limit >> 16 & 0xf) << 48) |
                            ((tss >> 24 & 0xff) << 56);
  gdt[VMM_LM_SEL_TSS / 8 + 1] = tss >> 32;
  /* TSS: RSP0 = stack, so that interrupts taken in ring 3 land on a usable
   * stack; an all-zero (all ports allowed) I/O bitmap, because some KVMs
   * check the bitmap for ring-3 port I/O whatever IOPL says. */
  uint8_t *tssb = (uint8_t *)&area[VMM_LM_TSS_OFFSET / 8];
  memcpy(tssb + 4, &stack, 8);
  uint16_t iomap = (uint16_t)iomap_base;
  memcpy(tssb + 102, &iomap, 2);
  ((uint8_t *)area)[VMM_LM_IOMAP_OFFSET + 8192] = 0xff;
  /* Page tables: PML4[0] → PDPT, PDPT[0..3] → PD0..3, 2 MiB pages with
   * present, writable and user bits, identity over 4 GiB. */
  uint64_t *pml4 = &area[VMM_LM_PML4_OFFSET / 8];
  uint64_t *pdpt = &area[VMM_LM_PDPT_OFFSET / 8];
  uint64_t *pd = &area[VMM_LM_PD_OFFSET / 8];
  pml4[0] = (setup_gpa + VMM_LM_PDPT_OFFSET) | 0x7;
  for (uint64_t i = 0; i < 4; i++)
    pdpt[i] = (setup_gpa + VMM_LM_PD_OFFSET + i * 0x1000) | 0x7;
  for (uint64_t i = 0; i < 4 * 512; i++)
    pd[i] = (i << 21) | 0x87;
  rc = vmm_mem_write(vm, setup_gpa, area, VMM_LONG_MODE_SETUP_SIZE);
  free(area);
  if (rc < 0)
    return vmm__error_prefix(rc, "vmm_vcpu_setup_long_mode");

  s.cs = seg(VMM_LM_SEL_KCODE, 0xb, 0, true, false);
  s.ds = s.es = s.fs = s.gs = s.ss = seg(VMM_LM_SEL_KDATA, 0x3, 0, false,
                                         true);
  memset(&s.tr, 0, sizeof(s.tr));
  s.tr.base = tss;
  s.tr.limit = (uint32_t)tss_limit;
  s.tr.selector = VMM_LM_SEL_TSS;
  s.tr.type = 0xb; /* busy 64-bit TSS, as after LTR */
  s.tr.present = 1;
  s.gdt.base = setup_gpa + VMM_LM_GDT_OFFSET;
  s.gdt.limit = VMM_LM_SEL_TSS + 15;
  s.idt.base = 0;
  s.idt.limit = 0;
  s.cr0 = VMM_X86_CR0_PE | VMM_X86_CR0_MP | VMM_X86_CR0_ET |
          VMM_X86_CR0_NE | VMM_X86_CR0_WP | VMM_X86_CR0_AM | VMM_X86_CR0_PG;
  s.cr3 = setup_gpa + VMM_LM_PML4_OFFSET;
  s.cr4 = VMM_X86_CR4_PAE | VMM_X86_CR4_OSFXSR | VMM_X86_CR4_OSXMMEXCPT;
  s.efer = VMM_X86_EFER_LME | VMM_X86_EFER_LMA | VMM_X86_EFER_NXE;
  return set_state(vcpu, &s, entry, stack);
}
