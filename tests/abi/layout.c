/* tests/abi/layout.c — the layout of public structs and the values of public
 * constants, frozen: changing one breaks programs built against an older
 * libvmm.so.0 without a recompile. A failure here means: undo the change,
 * or (when it is deliberate) bump the SONAME and then update this table.
 * Appending a field to a size-versioned struct changes its sizeof: that
 * is allowed (update the sizeof line), moving existing fields is not. */
#include <libvmm/libvmm.h>

#include <stddef.h>
#include <stdio.h>

struct frozen {
  const char *what;
  long long actual, expected;
};

#define F(expr, value) {#expr, (long long)(expr), value}

static const struct frozen table[] = {
  F(sizeof(vmm_vm_config_t), 32),
  F(offsetof(vmm_vm_config_t, size), 0),
  F(offsetof(vmm_vm_config_t, backend), 8),
  F(offsetof(vmm_vm_config_t, max_vcpus), 16),
  F(offsetof(vmm_vm_config_t, flags), 20),
  F(offsetof(vmm_vm_config_t, hypercall_port), 24),
  F(offsetof(vmm_vm_config_t, reserved16), 26),
  F(offsetof(vmm_vm_config_t, reserved32), 28),
  F(sizeof(vmm_elf_info_t), 40),
  F(offsetof(vmm_elf_info_t, size), 0),
  F(offsetof(vmm_elf_info_t, entry), 8),
  F(offsetof(vmm_elf_info_t, lowest), 16),
  F(offsetof(vmm_elf_info_t, highest), 24),
  F(offsetof(vmm_elf_info_t, elf_class), 32),
  F(offsetof(vmm_elf_info_t, segments), 36),
  F(sizeof(vmm_exit_t), 264),
  F(offsetof(vmm_exit_t, reason), 0),
  F(offsetof(vmm_exit_t, reserved), 4),
  F(offsetof(vmm_exit_t, u), 8),
  F(offsetof(vmm_exit_t, u.io.port), 8),
  F(offsetof(vmm_exit_t, u.io.size), 10),
  F(offsetof(vmm_exit_t, u.io.is_write), 11),
  F(offsetof(vmm_exit_t, u.io.count), 12),
  F(offsetof(vmm_exit_t, u.io.data), 16),
  F(offsetof(vmm_exit_t, u.mmio.gpa), 8),
  F(offsetof(vmm_exit_t, u.mmio.size), 16),
  F(offsetof(vmm_exit_t, u.mmio.is_write), 20),
  F(offsetof(vmm_exit_t, u.mmio.data), 24),
  F(offsetof(vmm_exit_t, u.hypercall.nr), 8),
  F(offsetof(vmm_exit_t, u.hypercall.args), 16),
  F(offsetof(vmm_exit_t, u.hypercall.ret), 56),
  F(offsetof(vmm_exit_t, u.debug.exception), 8),
  F(offsetof(vmm_exit_t, u.debug.rip), 16),
  F(offsetof(vmm_exit_t, u.debug.dr6), 24),
  F(offsetof(vmm_exit_t, u.debug.dr7), 32),
  F(offsetof(vmm_exit_t, u.internal.kind), 8),
  F(offsetof(vmm_exit_t, u.internal.backend_code), 12),
  F(offsetof(vmm_exit_t, u.internal.rip), 16),
  F(offsetof(vmm_exit_t, u.internal.insn_len), 24),
  F(offsetof(vmm_exit_t, u.internal.insn), 25),
  F(offsetof(vmm_exit_t, u.internal.data), 40),
  F(sizeof(vmm_regs_t), 144),
  F(offsetof(vmm_regs_t, rax), 0),
  F(offsetof(vmm_regs_t, r8), 64),
  F(offsetof(vmm_regs_t, r15), 120),
  F(offsetof(vmm_regs_t, rip), 128),
  F(offsetof(vmm_regs_t, rflags), 136),
  F(sizeof(vmm_segment_t), 32),
  F(offsetof(vmm_segment_t, base), 0),
  F(offsetof(vmm_segment_t, limit), 8),
  F(offsetof(vmm_segment_t, selector), 12),
  F(offsetof(vmm_segment_t, type), 14),
  F(offsetof(vmm_segment_t, present), 15),
  F(offsetof(vmm_segment_t, dpl), 16),
  F(offsetof(vmm_segment_t, db), 17),
  F(offsetof(vmm_segment_t, s), 18),
  F(offsetof(vmm_segment_t, l), 19),
  F(offsetof(vmm_segment_t, g), 20),
  F(offsetof(vmm_segment_t, avl), 21),
  F(offsetof(vmm_segment_t, unusable), 22),
  F(sizeof(vmm_dtable_t), 16),
  F(offsetof(vmm_dtable_t, base), 0),
  F(offsetof(vmm_dtable_t, limit), 8),
  F(sizeof(vmm_sregs_t), 344),
  F(offsetof(vmm_sregs_t, cs), 0),
  F(offsetof(vmm_sregs_t, ss), 160),
  F(offsetof(vmm_sregs_t, tr), 192),
  F(offsetof(vmm_sregs_t, ldt), 224),
  F(offsetof(vmm_sregs_t, gdt), 256),
  F(offsetof(vmm_sregs_t, idt), 272),
  F(offsetof(vmm_sregs_t, cr0), 288),
  F(offsetof(vmm_sregs_t, cr8), 320),
  F(offsetof(vmm_sregs_t, efer), 328),
  F(offsetof(vmm_sregs_t, apic_base), 336),
  F(sizeof(vmm_fpu_t), 416),
  F(offsetof(vmm_fpu_t, fpr), 0),
  F(offsetof(vmm_fpu_t, fcw), 128),
  F(offsetof(vmm_fpu_t, fsw), 130),
  F(offsetof(vmm_fpu_t, ftwx), 132),
  F(offsetof(vmm_fpu_t, last_opcode), 134),
  F(offsetof(vmm_fpu_t, last_ip), 136),
  F(offsetof(vmm_fpu_t, last_dp), 144),
  F(offsetof(vmm_fpu_t, xmm), 152),
  F(offsetof(vmm_fpu_t, mxcsr), 408),
  F(sizeof(vmm_msr_entry_t), 16),
  F(offsetof(vmm_msr_entry_t, index), 0),
  F(offsetof(vmm_msr_entry_t, value), 8),
  F(sizeof(vmm_cpuid_entry_t), 32),
  F(offsetof(vmm_cpuid_entry_t, function), 0),
  F(offsetof(vmm_cpuid_entry_t, index), 4),
  F(offsetof(vmm_cpuid_entry_t, flags), 8),
  F(offsetof(vmm_cpuid_entry_t, eax), 12),
  F(offsetof(vmm_cpuid_entry_t, edx), 24),
  F(VMM_EXIT_NONE, 0),
  F(VMM_EXIT_HLT, 1),
  F(VMM_EXIT_SHUTDOWN, 2),
  F(VMM_EXIT_IO, 3),
  F(VMM_EXIT_MMIO, 4),
  F(VMM_EXIT_HYPERCALL, 5),
  F(VMM_EXIT_DEBUG, 6),
  F(VMM_EXIT_INTERNAL_ERROR, 7),
  F(VMM_EXIT_KICKED, 8),
  F(VMM_INTERNAL_UNKNOWN, 0),
  F(VMM_INTERNAL_EMULATION, 1),
  F(VMM_INTERNAL_ENTRY_FAILED, 2),
  F(VMM_INTERNAL_UNHANDLED_EXIT, 3),
  F(VMM_INTERNAL_DELIVERY, 4),
  F(VMM_IO_PIO, 0),
  F(VMM_IO_MMIO, 1),
  F(VMM_PAGE_SIZE, 4096),
  F(VMM_MEM_READONLY, 1),
  F(VMM_MEM_DIRTY_LOG, 2),
  F(VMM_CAP_READONLY_MEM, 1),
  F(VMM_CAP_DIRTY_LOG, 2),
  F(VMM_CAP_IMMEDIATE_EXIT, 4),
  F(VMM_CAP_IRQCHIP, 8),
  F(VMM_CAP_IOEVENTFD, 16),
  F(VMM_CAP_IRQFD, 32),
  F(VMM_CAP_GUEST_DEBUG, 64),
  F(VMM_CAP_CPUID, 128),
  F(VMM_CAP_MSRS, 256),
  F(VMM_CAP_XSAVE, 512),
  F(VMM_DEBUG_SINGLESTEP, 1),
  F(VMM_DEBUG_SW_BREAKPOINTS, 2),
  F(VMM_CPUID_F_SIGNIFICANT_INDEX, 1),
  F(VMM_HYPERCALL_PORT_DEFAULT, 236),
  F(VMM_HYPERCALL_MAX, 4096),
  F(VMM_MAX_VCPUS, 256),
  F(VMM_LONG_MODE_SETUP_SIZE, 40960),
  F(VMM_LM_SEL_KCODE, 8),
  F(VMM_LM_SEL_KDATA, 16),
  F(VMM_LM_SEL_CODE32, 24),
  F(VMM_LM_SEL_UDATA, 32),
  F(VMM_LM_SEL_UCODE, 40),
  F(VMM_LM_SEL_TSS, 48),
  F(VMM_LM_GDT_OFFSET, 0),
  F(VMM_LM_TSS_OFFSET, 2048),
  F(VMM_LM_PML4_OFFSET, 4096),
  F(VMM_LM_PDPT_OFFSET, 8192),
  F(VMM_LM_PD_OFFSET, 12288),
  F(VMM_LM_IOMAP_OFFSET, 28672),
  F(VMM_EPERM, -1),
  F(VMM_ENOENT, -2),
  F(VMM_EINTR, -4),
  F(VMM_EIO, -5),
  F(VMM_E2BIG, -7),
  F(VMM_ENOEXEC, -8),
  F(VMM_EBADF, -9),
  F(VMM_EAGAIN, -11),
  F(VMM_ENOMEM, -12),
  F(VMM_EACCES, -13),
  F(VMM_EFAULT, -14),
  F(VMM_EBUSY, -16),
  F(VMM_EEXIST, -17),
  F(VMM_ENODEV, -19),
  F(VMM_EINVAL, -22),
  F(VMM_ENOSPC, -28),
  F(VMM_ERANGE, -34),
  F(VMM_ENOSYS, -38),
  F(VMM_ENOTSUP, -95),
  F(VMM_ETIMEDOUT, -110),
  F(VMM_EOVERLAP, -4001),
  F(VMM_EBACKEND, -4002),
  F(VMM_ESTATE, -4003),
  F(VMM_EVERSION, -4004),
};

int main(void) {
#if !defined(__x86_64__) || !defined(__LP64__)
  puts("SKIP: the frozen layout is recorded for x86-64 (LP64) only");
  return 77;
#else
  size_t bad = 0, n = sizeof(table) / sizeof(table[0]);
  for (size_t i = 0; i < n; i++) {
    if (table[i].actual != table[i].expected) {
      fprintf(stderr, "FAIL: %s is %lld, was %lld\n", table[i].what,
              table[i].actual, table[i].expected);
      bad++;
    }
  }
  if (bad) {
    fprintf(stderr, "%zu of %zu frozen ABI values changed: that breaks "
            "binaries built against libvmm.so.%d (see docs/api.md, "
            "\"Versions and the ABI policy\")\n", bad, n, VMM_VERSION_MAJOR);
    return 1;
  }
  printf("ok: %zu struct layouts and constants match the frozen ABI\n", n);
  return 0;
#endif
}
