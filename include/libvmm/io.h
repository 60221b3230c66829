/* libvmm/io.h — trap-and-emulate: port I/O and MMIO handlers, hypercalls. */
#ifndef LIBVMM_IO_H
#define LIBVMM_IO_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vmm_io_space {
  VMM_IO_PIO = 0,  /* x86 port I/O, addresses 0 .. 0xffff */
  VMM_IO_MMIO = 1  /* guest-physical addresses not backed by RAM */
} vmm_io_space_t;

/*
 * One handler signature for both spaces. `addr` is the absolute port or
 * guest-physical address, `data` holds `size` bytes (1, 2, 4 or 8) in guest
 * byte order: for a write, what the guest wrote; for a read, the handler
 * fills it (it is zeroed beforehand). Runs on the vCPU thread inside
 * vmm_vcpu_run(); keep it short. Return 0, or a negative code that
 * vmm_vcpu_run() then returns.
 */
typedef int (*vmm_io_fn)(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                         uint32_t size, int is_write, void *opaque);

/*
 * Routes accesses to [addr, addr + len) in `space` to `fn`. Ranges that
 * overlap an existing registration fail with VMM_EOVERLAP. An access that
 * straddles the end of a range is not split: it goes to the handler that
 * owns its first byte.
 */
VMM_EXPORT int vmm_io_register(vmm_vm_t *vm, vmm_io_space_t space,
                               uint64_t addr, uint64_t len, vmm_io_fn fn,
                               void *opaque);
/* Removes the registration that starts exactly at `addr`. */
VMM_EXPORT int vmm_io_unregister(vmm_vm_t *vm, vmm_io_space_t space,
                                 uint64_t addr);

/*
 * Hypercalls: the guest → host ABI (the same in 16-, 32- and 64-bit modes).
 *
 *   the hypercall number in EAX,
 *   up to five arguments in RBX, RCX, RDX, RSI, RDI (outside 64-bit mode:
 *   EBX, ECX, EDX, ESI, EDI, the upper halves are ignored),
 *   then a 32-bit OUT of EAX to the hypercall port (default 0x0ec:
 *   `out %eax, $0xec`);
 *   the result comes back in RAX (-ENOSYS as a 64-bit value, i.e.
 *   (uint64_t)-38, for a number nobody registered and the caller of
 *   vmm_vcpu_run() did not answer).
 *
 * KVM handles VMCALL itself, so a port (like KVM selftests' "ucall")
 * is what reaches the VMM on every backend. The port is reserved in the
 * PIO space of every VM; choose another with vmm_vm_config_t.
 */
#define VMM_HYPERCALL_PORT_DEFAULT 0x0ec
#define VMM_HYPERCALL_MAX 4096 /* numbers are 0 .. VMM_HYPERCALL_MAX-1 */

/* Returns the guest's RAX in *ret; 0 or a negative code (stops the run). */
typedef int (*vmm_hypercall_fn)(vmm_vcpu_t *vcpu, uint64_t nr,
                                const uint64_t args[5], uint64_t *ret,
                                void *opaque);

/* VMM_EEXIST when `nr` already has a function. A number with no function
 * makes vmm_vcpu_run() return VMM_EXIT_HYPERCALL. */
VMM_EXPORT int vmm_hypercall_register(vmm_vm_t *vm, uint64_t nr,
                                      vmm_hypercall_fn fn, void *opaque);
VMM_EXPORT int vmm_hypercall_unregister(vmm_vm_t *vm, uint64_t nr);

#ifdef __cplusplus
}
#endif
#endif
