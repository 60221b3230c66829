/* libvmm/vcpu.h — virtual CPUs: state, the run call and its exits. */
#ifndef LIBVMM_VCPU_H
#define LIBVMM_VCPU_H

#include <libvmm/common.h>
#include <libvmm/x86.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why vmm_vcpu_run() returned. */
typedef enum vmm_exit_reason {
  VMM_EXIT_NONE = 0,
  VMM_EXIT_HLT = 1,            /* the guest executed HLT */
  VMM_EXIT_SHUTDOWN = 2,       /* triple fault or shutdown. Registers stay
                                  readable, but some hypervisors (KVM on
                                  AMD) have already reset the vCPU: guest
                                  memory is the reliable record. */
  VMM_EXIT_IO = 3,             /* port I/O with no registered handler */
  VMM_EXIT_MMIO = 4,           /* MMIO with no registered handler */
  VMM_EXIT_HYPERCALL = 5,      /* hypercall with no registered function */
  VMM_EXIT_DEBUG = 6,          /* single step or breakpoint */
  VMM_EXIT_INTERNAL_ERROR = 7, /* the backend could not go on; see detail */
  VMM_EXIT_KICKED = 8          /* vmm_vcpu_kick() was called */
} vmm_exit_reason_t;

/* Kinds of VMM_EXIT_INTERNAL_ERROR. */
typedef enum vmm_internal_error {
  VMM_INTERNAL_UNKNOWN = 0,
  VMM_INTERNAL_EMULATION = 1,  /* an instruction the backend cannot emulate */
  VMM_INTERNAL_ENTRY_FAILED = 2, /* the hardware refused the guest state */
  VMM_INTERNAL_UNHANDLED_EXIT = 3, /* an exit libvmm does not know */
  VMM_INTERNAL_DELIVERY = 4    /* an event could not be delivered */
} vmm_internal_error_t;

/* CPU modes in exit->u.internal.cpu_mode. */
#define VMM_CPU_MODE_UNKNOWN 0
#define VMM_CPU_MODE_REAL 1      /* CR0.PE clear */
#define VMM_CPU_MODE_PROTECTED 2 /* CR0.PE set, not long mode (VM86 too) */
#define VMM_CPU_MODE_LONG 3      /* EFER.LMA: 64-bit or compatibility */

/*
 * The exit record filled by vmm_vcpu_run(). For IO and MMIO reads the
 * caller stores the value the guest reads into `data` before calling
 * vmm_vcpu_run() again; for a HYPERCALL, `ret` becomes the guest's RAX.
 * `data` points into memory owned by the vCPU, valid until the next run.
 */
typedef struct vmm_exit {
  uint32_t reason; /* vmm_exit_reason_t */
  uint32_t reserved;
  union {
    struct {
      uint16_t port;
      uint8_t size;     /* 1, 2 or 4 bytes per element */
      uint8_t is_write;
      uint32_t count;   /* elements (>1 for REP INS/OUTS) */
      uint8_t *data;    /* size * count bytes */
    } io;
    struct {
      uint64_t gpa;
      uint32_t size;    /* 1..8 bytes */
      uint32_t is_write;
      uint8_t *data;
    } mmio;
    struct {
      uint64_t nr;
      uint64_t args[5];
      uint64_t ret;
    } hypercall;
    struct {
      uint32_t exception; /* 1 (#DB) or 3 (#BP) */
      uint32_t reserved;
      uint64_t rip;
      uint64_t dr6, dr7;
    } debug;
    struct {
      uint32_t kind;          /* vmm_internal_error_t */
      uint32_t backend_code;  /* the backend's own sub-code */
      uint64_t rip;
      uint8_t insn_len;
      uint8_t insn[15];       /* the faulting instruction, when known */
      uint64_t data[4];
      /* Where the vCPU was (filled for EMULATION; 0 when unknown). */
      uint8_t cpu_mode;       /* VMM_CPU_MODE_* */
      uint8_t code_bits;      /* 16, 32 or 64: how the bytes decode */
      uint8_t cpl;            /* current privilege level, 0..3 */
      uint8_t reserved8;
      uint32_t reserved32;
    } internal;
    uint8_t padding[256];
  } u;
} vmm_exit_t;

/* Creates vCPU `id` (0 .. max_vcpus-1: VMM_ERANGE otherwise; VMM_EEXIST
 * if taken). vCPUs live until their VM is destroyed. */
VMM_EXPORT int vmm_vcpu_create(vmm_vm_t *vm, uint32_t id, vmm_vcpu_t **out);
VMM_EXPORT uint32_t vmm_vcpu_id(const vmm_vcpu_t *vcpu);
VMM_EXPORT vmm_vm_t *vmm_vcpu_vm(const vmm_vcpu_t *vcpu);
/* vCPU `id` of `vm`, or NULL when there is none (or `vm` is not a live
 * VM): for code that did not create the vCPUs itself, e.g. a launcher
 * showing where each one was after a VM made by
 * vmm_vm_create_from_config() stopped. */
VMM_EXPORT vmm_vcpu_t *vmm_vm_get_vcpu(vmm_vm_t *vm, uint32_t id);

/*
 * Runs the vCPU on the calling thread until an exit that no registered
 * handler consumes. Port I/O, MMIO and hypercalls with a handler are
 * serviced inside this call. Only one thread may run a vCPU at a time
 * (VMM_EBUSY otherwise). A handler's error is returned as is.
 */
VMM_EXPORT int vmm_vcpu_run(vmm_vcpu_t *vcpu, vmm_exit_t *exit);
/*
 * Makes the current vmm_vcpu_run() of `vcpu` return VMM_EXIT_KICKED soon,
 * or the next one at once if it is not running. Any thread; async-signal
 * unsafe. libvmm uses signal VMM_KICK_SIGNAL() on vCPU threads for this.
 */
VMM_EXPORT int vmm_vcpu_kick(vmm_vcpu_t *vcpu);
/* The signal number libvmm uses to kick vCPU threads (SIGRTMIN + 4). */
VMM_EXPORT int vmm_kick_signal(void);

VMM_EXPORT int vmm_vcpu_get_regs(vmm_vcpu_t *vcpu, vmm_regs_t *regs);
VMM_EXPORT int vmm_vcpu_set_regs(vmm_vcpu_t *vcpu, const vmm_regs_t *regs);
VMM_EXPORT int vmm_vcpu_get_sregs(vmm_vcpu_t *vcpu, vmm_sregs_t *sregs);
VMM_EXPORT int vmm_vcpu_set_sregs(vmm_vcpu_t *vcpu, const vmm_sregs_t *sregs);
VMM_EXPORT int vmm_vcpu_get_fpu(vmm_vcpu_t *vcpu, vmm_fpu_t *fpu);
VMM_EXPORT int vmm_vcpu_set_fpu(vmm_vcpu_t *vcpu, const vmm_fpu_t *fpu);
/* Reads/writes `count` MSRs named by entries[i].index. A failure names
 * the first MSR the backend refused. */
VMM_EXPORT int vmm_vcpu_get_msrs(vmm_vcpu_t *vcpu, vmm_msr_entry_t *entries,
                                 size_t count);
VMM_EXPORT int vmm_vcpu_set_msrs(vmm_vcpu_t *vcpu,
                                 const vmm_msr_entry_t *entries, size_t count);
/*
 * CPUID table of the vCPU. A new vCPU gets everything the backend supports
 * on this host. get: fills at most `capacity` entries, `*count` is the
 * total (VMM_E2BIG when capacity was too small).
 */
VMM_EXPORT int vmm_vcpu_get_cpuid(vmm_vcpu_t *vcpu, vmm_cpuid_entry_t *entries,
                                  size_t capacity, size_t *count);
VMM_EXPORT int vmm_vcpu_set_cpuid(vmm_vcpu_t *vcpu,
                                  const vmm_cpuid_entry_t *entries,
                                  size_t count);
/* The backend's supported CPUID table (what "host" passes through). */
VMM_EXPORT int vmm_vm_get_supported_cpuid(vmm_vm_t *vm,
                                          vmm_cpuid_entry_t *entries,
                                          size_t capacity, size_t *count);

/*
 * Multiprocessor state of a vCPU, as the backend's local APIC keeps it
 * (VMM_VM_F_IRQCHIP). vCPU 0 is the bootstrap processor and starts
 * RUNNABLE; the others start UNINITIALIZED and wait inside the run call
 * until the guest sends them INIT and a startup IPI (SIPI).
 */
typedef enum vmm_mp_state {
  VMM_MP_RUNNABLE = 0,
  VMM_MP_UNINITIALIZED = 1, /* an AP waiting for INIT */
  VMM_MP_INIT_RECEIVED = 2, /* an AP waiting for its SIPI */
  VMM_MP_HALTED = 3,        /* HLT, waiting for an interrupt */
  VMM_MP_SIPI_RECEIVED = 4,
  VMM_MP_OTHER = 5          /* a state the API does not name */
} vmm_mp_state_t;
/* VMM_ENOTSUP when the backend cannot tell; VMM_EBUSY while running. */
VMM_EXPORT int vmm_vcpu_get_mp_state(vmm_vcpu_t *vcpu, uint32_t *state);
/* "runnable", "uninitialized", ... ("?" for an unknown value). */
VMM_EXPORT const char *vmm_mp_state_name(uint32_t state);

/* Guest debugging: VMM_DEBUG_* flags; 0 turns it off. */
#define VMM_DEBUG_SINGLESTEP (1u << 0) /* VMM_EXIT_DEBUG after each insn */
#define VMM_DEBUG_SW_BREAKPOINTS (1u << 1) /* INT3 exits as VMM_EXIT_DEBUG */
VMM_EXPORT int vmm_vcpu_set_debug(vmm_vcpu_t *vcpu, uint32_t flags);

/*
 * Mode helpers: put the vCPU into a ready-to-run state.
 *  real mode:      CS:IP = cs_selector:ip (base = selector * 16), SS:SP =
 *                  0:sp, all other segments 0, interrupts off.
 *  protected mode: flat 4 GiB 32-bit code and data segments, paging off,
 *                  EIP = entry, ESP = stack. No GDT in guest memory.
 *  long mode:      writes a GDT, a TSS and identity-mapping page tables
 *                  (2 MiB pages, 4 GiB, user-accessible) into the
 *                  VMM_LONG_MODE_SETUP_SIZE bytes of guest RAM at
 *                  `setup_gpa`, and enters 64-bit ring 0 at `entry` with
 *                  RSP = stack. GDT selectors: see VMM_LM_SEL_*. The TSS
 *                  has RSP0 = stack and an I/O permission bitmap that
 *                  allows every port, so ring-3 code may use port I/O
 *                  without IOPL (some KVMs ignore IOPL in ring 3); the
 *                  guest may set bits in it to deny ports.
 * The vCPU must not be running (VMM_EBUSY).
 */
VMM_EXPORT int vmm_vcpu_setup_real_mode(vmm_vcpu_t *vcpu, uint16_t cs_selector,
                                        uint16_t ip, uint16_t sp);
VMM_EXPORT int vmm_vcpu_setup_protected_mode(vmm_vcpu_t *vcpu, uint32_t entry,
                                             uint32_t stack);
VMM_EXPORT int vmm_vcpu_setup_long_mode(vmm_vcpu_t *vcpu, uint64_t entry,
                                        uint64_t stack, uint64_t setup_gpa);

#define VMM_LONG_MODE_SETUP_SIZE (10u * 4096u)
/* GDT layout written by vmm_vcpu_setup_long_mode(). The order suits
 * SYSCALL/SYSRET: set STAR[47:32] = VMM_LM_SEL_KCODE and
 * STAR[63:48] = VMM_LM_SEL_CODE32 | 3. */
#define VMM_LM_SEL_KCODE 0x08  /* 64-bit ring-0 code */
#define VMM_LM_SEL_KDATA 0x10  /* ring-0 data */
#define VMM_LM_SEL_CODE32 0x18 /* 32-bit ring-3 code (SYSRET base) */
#define VMM_LM_SEL_UDATA 0x20  /* ring-3 data (use with RPL 3: 0x23) */
#define VMM_LM_SEL_UCODE 0x28  /* 64-bit ring-3 code (RPL 3: 0x2b) */
#define VMM_LM_SEL_TSS 0x30    /* 64-bit TSS, 16-byte descriptor */
/* Offsets inside the setup area. */
#define VMM_LM_GDT_OFFSET 0x0000
#define VMM_LM_TSS_OFFSET 0x0800
#define VMM_LM_PML4_OFFSET 0x1000
#define VMM_LM_PDPT_OFFSET 0x2000
#define VMM_LM_PD_OFFSET 0x3000 /* four page directories, 0x3000..0x6fff */
#define VMM_LM_IOMAP_OFFSET 0x7000 /* TSS I/O bitmap, 8 KiB + 0xff byte */

#ifdef __cplusplus
}
#endif
#endif
