/* tests/guests/lib/virtio_pci.h — guest side of PCI for test guests:
 * configuration mechanism #1 (0xCF8/0xCFC), a bus-0 scan, and a small
 * modern virtio-pci driver (capabilities, common cfg, notify, ISR,
 * MSI-X) over the split-queue helpers of virtio.h. */
#ifndef GUESTS_VIRTIO_PCI_H
#define GUESTS_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX 0x11
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR 3
#define VIRTIO_PCI_CAP_DEVICE 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Common configuration offsets. */
#define VPCI_DFSELECT 0x00
#define VPCI_DF 0x04
#define VPCI_GFSELECT 0x08
#define VPCI_GF 0x0c
#define VPCI_MSIX 0x10
#define VPCI_NUMQ 0x12
#define VPCI_STATUS 0x14
#define VPCI_CFGGEN 0x15
#define VPCI_Q_SELECT 0x16
#define VPCI_Q_SIZE 0x18
#define VPCI_Q_MSIX 0x1a
#define VPCI_Q_ENABLE 0x1c
#define VPCI_Q_NOFF 0x1e
#define VPCI_Q_DESC 0x20
#define VPCI_Q_AVAIL 0x28
#define VPCI_Q_USED 0x30
#define VPCI_NO_VECTOR 0xffff

uint32_t pci_read32(uint8_t dev, uint8_t off);
uint16_t pci_read16(uint8_t dev, uint8_t off);
uint8_t pci_read8(uint8_t dev, uint8_t off);
void pci_write32(uint8_t dev, uint8_t off, uint32_t v);
void pci_write16(uint8_t dev, uint8_t off, uint16_t v);
void pci_write8(uint8_t dev, uint8_t off, uint8_t v);
/* The first device on bus 0 with these ids, or -1. */
int pci_find(uint16_t vendor, uint16_t device);
/* Offset of the first capability `id` (after `from`, 0 = the start), and
 * for vendor capabilities of virtio cfg_type `type` (0 = any); 0 if none. */
uint8_t pci_find_cap(uint8_t dev, uint8_t id, uint8_t type);

struct vpci_dev {
  uint8_t pci;            /* device number */
  uintptr_t bar;          /* BAR address as the guest sees it */
  uint32_t common, notify, isr, device; /* offsets in the BAR */
  uint32_t notify_mult;
  uint8_t msix_cap;
  uint16_t msix_size;
  uint32_t msix_table, msix_pba; /* offsets in the BAR */
  uint64_t features;
};

/* Reads the virtio capabilities of `dev` and its BAR. 0, or a negative
 * step: -1 no common cfg, -2 no notify, -3 no ISR, -4 caps in several
 * BARs, -5 no MSI-X. */
int vpci_probe(struct vpci_dev *d, uint8_t dev);
/* Reset, ACKNOWLEDGE | DRIVER, `features` & offered, FEATURES_OK. 0, or
 * -1 reset did not finish, -2 FEATURES_OK refused. */
int vpci_init(struct vpci_dev *d, uint64_t features);
/* Sets up queue `index` (size, rings, vector) through common cfg. */
void vpci_queue_setup(struct vpci_dev *d, struct virtq *q, uint16_t index,
                      struct virtq_mem *mem, uint16_t size, uint16_t vector);
void vpci_driver_ok(struct vpci_dev *d);
void vpci_kick(struct vpci_dev *d, struct virtq *q);
void vpci_submit(struct vpci_dev *d, struct virtq *q, uint16_t head);

static inline volatile void *vpci_at(const struct vpci_dev *d, uint32_t off) {
  return (volatile void *)(d->bar + off);
}
#define VPCI8(d, off) (*(volatile uint8_t *)vpci_at((d), (off)))
#define VPCI16(d, off) (*(volatile uint16_t *)vpci_at((d), (off)))
#define VPCI32(d, off) (*(volatile uint32_t *)vpci_at((d), (off)))
#define VCOMMON8(d, f) VPCI8((d), (d)->common + (f))
#define VCOMMON16(d, f) VPCI16((d), (d)->common + (f))
#define VCOMMON32(d, f) VPCI32((d), (d)->common + (f))

#endif
