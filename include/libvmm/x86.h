/* libvmm/x86.h — x86 register state as libvmm exposes it, backend-neutral. */
#ifndef LIBVMM_X86_H
#define LIBVMM_X86_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* General registers. The layout follows the architecture, not a backend. */
typedef struct vmm_regs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip, rflags;
} vmm_regs_t;

/* A segment register with its hidden (descriptor cache) part. */
typedef struct vmm_segment {
  uint64_t base;
  uint32_t limit;    /* in bytes (granularity already applied) */
  uint16_t selector;
  uint8_t type;      /* descriptor type field, 4 bits */
  uint8_t present, dpl, db, s, l, g, avl;
  uint8_t unusable;
  uint8_t padding[3];
} vmm_segment_t;

typedef struct vmm_dtable {
  uint64_t base;
  uint16_t limit;
  uint16_t padding[3];
} vmm_dtable_t;

/* Segment, control and system registers. */
typedef struct vmm_sregs {
  vmm_segment_t cs, ds, es, fs, gs, ss;
  vmm_segment_t tr, ldt;
  vmm_dtable_t gdt, idt;
  uint64_t cr0, cr2, cr3, cr4, cr8;
  uint64_t efer;
  uint64_t apic_base;
} vmm_sregs_t;

/* Legacy x87/SSE state (the FXSAVE image, unpacked). */
typedef struct vmm_fpu {
  uint8_t fpr[8][16];
  uint16_t fcw, fsw;
  uint8_t ftwx; /* abridged tag word */
  uint8_t padding1;
  uint16_t last_opcode;
  uint64_t last_ip, last_dp;
  uint8_t xmm[16][16];
  uint32_t mxcsr;
  uint32_t padding2;
} vmm_fpu_t;

typedef struct vmm_msr_entry {
  uint32_t index;
  uint32_t reserved;
  uint64_t value;
} vmm_msr_entry_t;

/* One CPUID leaf as the guest will see it. */
#define VMM_CPUID_F_SIGNIFICANT_INDEX (1u << 0) /* `index` (ECX) matters */
typedef struct vmm_cpuid_entry {
  uint32_t function; /* EAX input */
  uint32_t index;    /* ECX input */
  uint32_t flags;    /* VMM_CPUID_F_* */
  uint32_t eax, ebx, ecx, edx;
  uint32_t reserved;
} vmm_cpuid_entry_t;

/* Architectural constants the mode helpers use. */
#define VMM_X86_CR0_PE (1ull << 0)
#define VMM_X86_CR0_MP (1ull << 1)
#define VMM_X86_CR0_ET (1ull << 4)
#define VMM_X86_CR0_NE (1ull << 5)
#define VMM_X86_CR0_WP (1ull << 16)
#define VMM_X86_CR0_AM (1ull << 18)
#define VMM_X86_CR0_PG (1ull << 31)
#define VMM_X86_CR4_PAE (1ull << 5)
#define VMM_X86_CR4_OSFXSR (1ull << 9)
#define VMM_X86_CR4_OSXMMEXCPT (1ull << 10)
#define VMM_X86_EFER_SCE (1ull << 0)
#define VMM_X86_EFER_LME (1ull << 8)
#define VMM_X86_EFER_LMA (1ull << 10)
#define VMM_X86_EFER_NXE (1ull << 11)
#define VMM_X86_RFLAGS_FIXED (1ull << 1)
#define VMM_X86_RFLAGS_IF (1ull << 9)
#define VMM_X86_RFLAGS_IOPL3 (3ull << 12)

#ifdef __cplusplus
}
#endif
#endif
