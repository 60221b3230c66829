/* backends/svm/kmod/libvmm_svm.h — the ioctl interface of /dev/libvmm-svm,
 * shared by the kernel module and libvmm's "svm" backend.
 *
 * /dev/libvmm-svm   LVS_GET_API_VERSION, LVS_GET_INFO, LVS_CREATE_VM -> VM fd
 * VM fd             LVS_SET_REGION, LVS_CREATE_VCPU -> vCPU fd
 * vCPU fd           LVS_RUN, LVS_GET/SET_REGS, LVS_GET/SET_SREGS,
 *                   LVS_GET/SET_FPU, LVS_GET/SET_MSRS, LVS_SET_CPUID,
 *                   LVS_INJECT_EVENT; mmap of one page: struct lvs_run
 *
 * Every struct has fixed-size fields and explicit padding (which must be
 * zero), so that 32- and 64-bit callers see the same layout. A new field
 * means a new API version; LVS_GET_API_VERSION tells which one the
 * module speaks. */
#ifndef LIBVMM_SVM_H
#define LIBVMM_SVM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LVS_API_VERSION 1
#define LVS_DEVICE "/dev/libvmm-svm"

/* Limits the module enforces (the caller can read them in lvs_info). */
#define LVS_MAX_VCPUS 64
#define LVS_MAX_REGIONS 256
#define LVS_MAX_CPUID 256
#define LVS_MAX_MSRS 64
/* Guest-physical addresses stay below 2^LVS_GPA_BITS. */
#define LVS_GPA_BITS 40
/* One region pins at most this much (64 GiB). */
#define LVS_MAX_REGION_BYTES (1ull << 36)

struct lvs_info {
  __u32 api_version;
  __u32 max_vcpus;
  __u32 max_regions;
  __u32 max_cpuid;
  __u32 features;   /* LVS_FEAT_* of the host CPU */
  __u32 gpa_bits;
};
#define LVS_FEAT_NRIPS (1u << 0)        /* next-RIP saved on exits */
#define LVS_FEAT_DECODE_ASSISTS (1u << 1) /* instruction bytes on NPF */
#define LVS_FEAT_NPT (1u << 2)          /* CPUID reports nested paging */

/* LVS_SET_REGION: installs (size > 0) or removes (size == 0) slot `slot`.
 * gpa, size and uaddr are page aligned; a slot never overlaps another. */
struct lvs_region {
  __u32 slot;
  __u32 flags;      /* LVS_REGION_READONLY */
  __u64 gpa;
  __u64 size;
  __u64 uaddr;
};
#define LVS_REGION_READONLY (1u << 0)
/* Guest writes are logged per page (LVS_GET_DIRTY_LOG): the pages start
 * write-protected in the nested page table; the first write to one marks
 * it and makes it writable until the next fetch. */
#define LVS_REGION_DIRTY_LOG (1u << 1)

/* LVS_GET_DIRTY_LOG: copies slot's bitmap (bit i of 64-bit word i/64 =
 * page i of the region; (pages + 63) / 64 words) and clears it. */
struct lvs_dirty_log {
  __u32 slot;
  __u32 pad;
  __u64 bitmap;     /* user pointer */
};

struct lvs_regs {
  __u64 rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  __u64 r8, r9, r10, r11, r12, r13, r14, r15;
  __u64 rip, rflags;
};

struct lvs_segment {
  __u64 base;
  __u32 limit;      /* bytes, granularity applied */
  __u16 selector;
  __u16 attrib;     /* the VMCB form: type | S<<4 | DPL<<5 | P<<7 |
                       AVL<<8 | L<<9 | DB<<10 | G<<11 */
};

struct lvs_sregs {
  struct lvs_segment cs, ds, es, fs, gs, ss, tr, ldt;
  struct lvs_segment gdt, idt; /* base and limit only */
  __u64 cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* The FXSAVE image (512 bytes) of the guest's x87/SSE state. */
struct lvs_fpu {
  __u8 fxsave[512];
};

struct lvs_msr {
  __u32 index;
  __u32 pad;
  __u64 value;
};
/* LVS_GET/SET_MSRS: `count` entries at `entries`; returns how many were
 * done (stops at the first MSR the module does not know). */
struct lvs_msrs {
  __u32 count;
  __u32 pad;
  __u64 entries;    /* user pointer to struct lvs_msr[count] */
};

struct lvs_cpuid_entry {
  __u32 function, index;
  __u32 flags;      /* LVS_CPUID_SIGNIFICANT_INDEX */
  __u32 eax, ebx, ecx, edx;
  __u32 pad;
};
#define LVS_CPUID_SIGNIFICANT_INDEX (1u << 0)
struct lvs_cpuid {
  __u32 count;
  __u32 pad;
  __u64 entries;    /* user pointer to struct lvs_cpuid_entry[count] */
};

/* LVS_INJECT_EVENT: delivered at the next entry. */
struct lvs_event {
  __u8 vector;
  __u8 kind;        /* LVS_EVENT_EXCEPTION or LVS_EVENT_INTERRUPT */
  __u8 has_error;
  __u8 pad;
  __u32 error_code;
};
#define LVS_EVENT_EXCEPTION 0
#define LVS_EVENT_INTERRUPT 1

/* LVS_SET_DEBUG: guest debugging for the debugger in user space. */
struct lvs_debug {
  __u32 flags;      /* LVS_DEBUG_* (0: off) */
  __u32 pad;
  __u64 dr[4];      /* LVS_DEBUG_HW_BP: breakpoint addresses */
  __u64 dr7;        /* LVS_DEBUG_HW_BP: their enables, types, lengths */
};
#define LVS_DEBUG_SINGLESTEP (1u << 0) /* LVS_EXIT_DEBUG after each insn */
#define LVS_DEBUG_SW_BP (1u << 1)      /* INT3 exits as LVS_EXIT_DEBUG */
#define LVS_DEBUG_HW_BP (1u << 2)      /* DR0-3/DR7 are the debugger's */

/* Exit reasons in lvs_run.exit_reason. */
#define LVS_EXIT_NONE 0
#define LVS_EXIT_HLT 1
#define LVS_EXIT_SHUTDOWN 2
#define LVS_EXIT_IO 3       /* port I/O: io; the next LVS_RUN completes it */
#define LVS_EXIT_MMIO 4     /* nested page fault outside RAM, or a write
                               to a read-only region: mmio */
#define LVS_EXIT_UNHANDLED 5 /* an intercept the module does not emulate:
                               hw.exit_code and hw.info1/2 */
#define LVS_EXIT_ENTRY_FAILED 6 /* VMRUN refused the state (VMEXIT_INVALID) */
#define LVS_EXIT_DEBUG 7     /* single step or breakpoint: debug */

/* The vCPU's shared page (mmap offset 0, one page). */
struct lvs_run {
  /* Set by user space (any thread): LVS_RUN returns -EINTR before the
   * next guest entry while it is non-zero. */
  __u8 immediate_exit;
  __u8 pad0[3];
  __u32 exit_reason;
  union {
    struct {
      __u16 port;
      __u8 size;      /* 1, 2, 4 */
      __u8 is_write;
      __u32 count;    /* 1 (string I/O is reported as UNHANDLED) */
      __u8 data[8];   /* OUT: the value; IN: user space stores it here */
    } io;
    struct {
      __u64 gpa;
      __u64 error_code; /* the NPF error code (bit 1: write) */
      __u8 insn_len;    /* bytes from the decode assist, 0 if none */
      __u8 insn[15];
    } mmio;
    struct {
      __u64 exit_code;
      __u64 info1, info2;
      __u32 exit_int_info, pad;
    } hw;
    struct {
      __u32 exception; /* 1 (#DB) or 3 (#BP) */
      __u32 pad;
      __u64 rip;       /* #BP: of the INT3; #DB: of the next insn */
      __u64 dr6, dr7;
    } debug;
    __u8 padding[256];
  } u;
};

#define LVS_IO 0xAE /* type byte; distinct numbers from KVM's below */
#define LVS_GET_API_VERSION _IO(LVS_IO, 0xc0)
#define LVS_GET_INFO _IOR(LVS_IO, 0xc1, struct lvs_info)
#define LVS_CREATE_VM _IO(LVS_IO, 0xc2)
#define LVS_SET_REGION _IOW(LVS_IO, 0xc3, struct lvs_region)
#define LVS_CREATE_VCPU _IO(LVS_IO, 0xc4)
#define LVS_RUN _IO(LVS_IO, 0xc5)
#define LVS_GET_REGS _IOR(LVS_IO, 0xc6, struct lvs_regs)
#define LVS_SET_REGS _IOW(LVS_IO, 0xc7, struct lvs_regs)
#define LVS_GET_SREGS _IOR(LVS_IO, 0xc8, struct lvs_sregs)
#define LVS_SET_SREGS _IOW(LVS_IO, 0xc9, struct lvs_sregs)
#define LVS_GET_FPU _IOR(LVS_IO, 0xca, struct lvs_fpu)
#define LVS_SET_FPU _IOW(LVS_IO, 0xcb, struct lvs_fpu)
#define LVS_GET_MSRS _IOWR(LVS_IO, 0xcc, struct lvs_msrs)
#define LVS_SET_MSRS _IOW(LVS_IO, 0xcd, struct lvs_msrs)
#define LVS_SET_CPUID _IOW(LVS_IO, 0xce, struct lvs_cpuid)
#define LVS_INJECT_EVENT _IOW(LVS_IO, 0xcf, struct lvs_event)
#define LVS_GET_DIRTY_LOG _IOW(LVS_IO, 0xd0, struct lvs_dirty_log)
#define LVS_SET_DEBUG _IOW(LVS_IO, 0xd1, struct lvs_debug)

#endif
