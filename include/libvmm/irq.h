/* libvmm/irq.h — raising guest interrupts (VMs with VMM_VM_F_IRQCHIP). */
#ifndef LIBVMM_IRQ_H
#define LIBVMM_IRQ_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Interrupt lines are GSIs (global system interrupts): on x86 with the
 * backend's PIC + IOAPIC, GSI 0-15 are the ISA IRQs (also on the PIC) and
 * 16-23 the remaining IOAPIC pins. Calls fail with VMM_ENOTSUP on a VM
 * created without VMM_VM_F_IRQCHIP.
 */
#define VMM_IRQ_GSI_MAX 24

/* Sets the level of a line: 1 asserted, 0 deasserted. Level-triggered
 * devices hold it asserted until the guest acknowledges them. */
VMM_EXPORT int vmm_irq_set(vmm_vm_t *vm, uint32_t gsi, int level);
/* An edge: asserts then deasserts the line. */
VMM_EXPORT int vmm_irq_pulse(vmm_vm_t *vm, uint32_t gsi);
/* Delivers one message-signalled interrupt (address/data as a PCI device
 * would write them). */
VMM_EXPORT int vmm_msi_send(vmm_vm_t *vm, uint64_t address, uint32_t data);

#ifdef __cplusplus
}
#endif
#endif
