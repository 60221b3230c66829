/* src/hw/acpi_pm.h — the ACPI power-management registers (PM1 event and
 * control blocks, PM timer) that the FADT of src/boot/acpi.c points at. */
#ifndef VMM__HW_ACPI_PM_H
#define VMM__HW_ACPI_PM_H

#include <libvmm/libvmm.h>

/* I/O ports (where QEMU's q35 has them, so guests that probe there find
 * them too): PM1a event block (PM1_STS, PM1_EN, 16 bits each), PM1a
 * control block (16 bits), PM timer (32 bits). */
#define VMM__ACPI_PM_BASE 0x600u
#define VMM__ACPI_PM1_EVT VMM__ACPI_PM_BASE
#define VMM__ACPI_PM1_EVT_LEN 4u
#define VMM__ACPI_PM1_CNT (VMM__ACPI_PM_BASE + 4u)
#define VMM__ACPI_PM1_CNT_LEN 2u
#define VMM__ACPI_PM_TMR (VMM__ACPI_PM_BASE + 8u)
#define VMM__ACPI_PM_TMR_LEN 4u
#define VMM__ACPI_PM_LEN 12u

/* The SCI's interrupt line: ISA IRQ 9 as on PCs, level-triggered. The
 * device GSI pool (src/irq.c) leaves it out. */
#define VMM__ACPI_SCI_GSI 9u
/* SLP_TYP values the DSDT's \_S5 package gives (S5 = soft off). */
#define VMM__ACPI_SLP_TYP_S5 5u

/* PM1 register bits. */
#define VMM__ACPI_PM1_TMR_STS 0x0001u
#define VMM__ACPI_PM1_PWRBTN_STS 0x0100u
#define VMM__ACPI_PM1_WAK_STS 0x8000u
#define VMM__ACPI_PM1_SCI_EN 0x0001u
#define VMM__ACPI_PM1_SLP_TYP_SHIFT 10
#define VMM__ACPI_PM1_SLP_TYP_MASK 0x1c00u
#define VMM__ACPI_PM1_SLP_EN 0x2000u

/*
 * Puts the PM registers on the VM's ports. A write of SLP_EN with the S5
 * SLP_TYP stops the VM (VMM_STOP_GUEST_EXIT, status 0); other sleep
 * states are ignored with a note on stderr. Created by vmm_boot() with
 * the ACPI tables that describe it.
 */
int vmm__acpi_pm_create(vmm_vm_t *vm, vmm_device_t **out);

#endif
