/* src/irq_internal.h — what devices use to raise interrupts and get doorbells. */
#ifndef VMM__IRQ_INTERNAL_H
#define VMM__IRQ_INTERNAL_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

/*
 * An eventfd that raises an edge on `gsi` each time 1 is written to it
 * (KVM irqfd). Where the backend has none, libvmm polls the fd on the loop
 * and raises the interrupt itself, so devices always get an fd. Closed by
 * vmm__irqfd_close() or when the VM is destroyed.
 */
int vmm__irqfd_open(vmm_vm_t *vm, uint32_t gsi, int *fd);
void vmm__irqfd_close(vmm_vm_t *vm, int fd);

/*
 * A GSI that delivers the MSI (address, data) when raised, for an irqfd
 * (KVM: an MSI entry in the GSI routing table). *gsi == VMM__GSI_NEW
 * (backend_ops.h) allocates one; another value reprograms that route.
 * VMM_ENOTSUP where the backend has no routing (or the VM no irqchip):
 * the caller sends its messages with vmm_msi_send() instead.
 */
int vmm__msi_route_set(vmm_vm_t *vm, uint32_t *gsi, uint64_t address,
                       uint32_t data);
void vmm__msi_route_del(vmm_vm_t *vm, uint32_t gsi);

/*
 * An eventfd signalled when the guest writes to [addr, addr + len) in
 * `space` (with `match`, only when the value written equals `value`), so
 * a doorbell reaches the loop without stopping in user space (KVM
 * ioeventfd). VMM_ENOTSUP where the backend has none: the device then
 * keeps handling the write in its I/O handler.
 */
int vmm__ioeventfd_open(vmm_vm_t *vm, vmm_io_space_t space, uint64_t addr,
                        uint32_t len, bool match, uint64_t value, int *fd);
void vmm__ioeventfd_close(vmm_vm_t *vm, int fd);

/* Resources for devices that did not ask for specific ones. */
int vmm__gsi_alloc(vmm_vm_t *vm, uint32_t *gsi);
/* A 4 KiB-aligned window of `size` bytes in the MMIO area from
 * VMM__MMIO_WINDOW (never overlapping RAM or other devices). */
#define VMM__MMIO_WINDOW 0xd0000000ull
int vmm__mmio_alloc(vmm_vm_t *vm, uint64_t size, uint64_t *base);

/* Stops the VM from a device (debug exit, reset): like vmm_vm_stop() with a
 * reason. Any thread; a VM that was never started just records it. */
void vmm__vm_request_stop(vmm_vm_t *vm, uint32_t reason, int status,
                          const char *message);

#endif
