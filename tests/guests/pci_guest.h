/* tests/guests/pci_guest.h — what the PCI guest (pci_guest.c) and
 * tests/integration/pci_test.c agree on. */
#ifndef GUESTS_PCI_GUEST_H
#define GUESTS_PCI_GUEST_H

#define PG_PARAM_MODE 0
#define PG_PARAM_DEVFN 1  /* the rng's devfn as libvmm reports it */
#define PG_PARAM_COUNT 2  /* rng bytes to read (at most PG_RNG_MAX) */
#define PG_PARAM_NEWBAR 3 /* where the guest moves the BAR */

#define PG_MODE_CONFIG 1 /* config space, BARs, hostile accesses, rng polled */
#define PG_MODE_MSIX 2   /* rng with MSI-X: vectors, masking, PBA */
#define PG_MODE_INTX 3   /* rng with MSI-X off: INTx through the IOAPIC */
#define PG_MODE_CONSOLE 4 /* virtio-console: echoes COUNT bytes, polled */

#define PG_RNG_MAX 256
#define PG_VEC_CONFIG 0x32
#define PG_VEC_QUEUE 0x31
#define PG_VEC_INTX 0x33
#define PG_VEC_QUEUE2 0x34 /* the queue's entry reprogrammed */

/* Config mode: SYNC(PG_SYNC_RNG, buffer gpa, bytes written, isr, isr again)
 * MSI-X mode: SYNC(PG_SYNC_MSIX, irqs, strays, pba while masked, irqs on
 *   PG_VEC_QUEUE2 after the entry was reprogrammed)
 * INTx mode: SYNC(PG_SYNC_INTX, irqs, isr bits seen, gsi) */
#define PG_SYNC_RNG 1
#define PG_SYNC_MSIX 2
#define PG_SYNC_INTX 3
/* Console mode: SYNC(PG_SYNC_READY) once receive buffers are posted (the
 * host sends then), SYNC(PG_SYNC_ECHOED, bytes, sum) at the end, with
 * sum = sum * 31 + byte over every byte. */
#define PG_SYNC_READY 4
#define PG_SYNC_ECHOED 5

#endif
