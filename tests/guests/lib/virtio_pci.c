/* tests/guests/lib/virtio_pci.c — PCI configuration access and a modern
 * virtio-pci driver for test guests (see virtio_pci.h). */
#include "virtio_pci.h"

#include "guest.h"

static void pci_select(uint8_t dev, uint8_t off) {
  outl(0xcf8, 0x80000000u | (uint32_t)dev << 11 | (off & 0xfcu));
}

uint32_t pci_read32(uint8_t dev, uint8_t off) {
  pci_select(dev, off);
  return inl(0xcfc);
}
uint16_t pci_read16(uint8_t dev, uint8_t off) {
  pci_select(dev, off);
  return inw((uint16_t)(0xcfc + (off & 2)));
}
uint8_t pci_read8(uint8_t dev, uint8_t off) {
  pci_select(dev, off);
  return inb((uint16_t)(0xcfc + (off & 3)));
}
void pci_write32(uint8_t dev, uint8_t off, uint32_t v) {
  pci_select(dev, off);
  outl(0xcfc, v);
}
void pci_write16(uint8_t dev, uint8_t off, uint16_t v) {
  pci_select(dev, off);
  outw((uint16_t)(0xcfc + (off & 2)), v);
}
void pci_write8(uint8_t dev, uint8_t off, uint8_t v) {
  pci_select(dev, off);
  outb((uint16_t)(0xcfc + (off & 3)), v);
}

int pci_find(uint16_t vendor, uint16_t device) {
  for (uint8_t d = 0; d < 32; d++) {
    uint32_t id = pci_read32(d, 0);
    if (id == ((uint32_t)device << 16 | vendor))
      return d;
  }
  return -1;
}

uint8_t pci_find_cap(uint8_t dev, uint8_t id, uint8_t type) {
  if (!(pci_read16(dev, 0x06) & 0x10))
    return 0;
  uint8_t p = pci_read8(dev, 0x34);
  for (int guard = 0; p && guard < 48; guard++) {
    if (pci_read8(dev, p) == id &&
        (type == 0 || id != PCI_CAP_VENDOR || pci_read8(dev, p + 3) == type))
      return p;
    p = pci_read8(dev, p + 1);
  }
  return 0;
}

int vpci_probe(struct vpci_dev *d, uint8_t dev) {
  static const uint8_t types[3] = {VIRTIO_PCI_CAP_COMMON,
                                   VIRTIO_PCI_CAP_NOTIFY, VIRTIO_PCI_CAP_ISR};
  uint32_t *offs[3] = {&d->common, &d->notify, &d->isr};
  int bar = -1;
  d->pci = dev;
  for (int i = 0; i < 3; i++) {
    uint8_t c = pci_find_cap(dev, PCI_CAP_VENDOR, types[i]);
    if (!c)
      return -1 - i;
    int b = pci_read8(dev, c + 4);
    if (bar >= 0 && b != bar)
      return -4;
    bar = b;
    *offs[i] = pci_read32(dev, c + 8);
    if (types[i] == VIRTIO_PCI_CAP_NOTIFY)
      d->notify_mult = pci_read32(dev, c + 16);
  }
  uint8_t c = pci_find_cap(dev, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_DEVICE);
  d->device = c ? pci_read32(dev, c + 8) : 0;
  d->bar = pci_read32(dev, (uint8_t)(0x10 + 4 * bar)) & ~0xfu;
  d->msix_cap = pci_find_cap(dev, PCI_CAP_MSIX, 0);
  if (!d->msix_cap)
    return -5;
  d->msix_size = (uint16_t)((pci_read16(dev, d->msix_cap + 2) & 0x7ff) + 1);
  d->msix_table = pci_read32(dev, d->msix_cap + 4) & ~7u;
  d->msix_pba = pci_read32(dev, d->msix_cap + 8) & ~7u;
  return 0;
}

int vpci_init(struct vpci_dev *d, uint64_t features) {
  VCOMMON8(d, VPCI_STATUS) = 0;
  if (VCOMMON8(d, VPCI_STATUS) != 0)
    return -1;
  VCOMMON8(d, VPCI_STATUS) = VIRTIO_STATUS_ACKNOWLEDGE;
  VCOMMON8(d, VPCI_STATUS) = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
  uint64_t offered = 0;
  for (uint32_t sel = 0; sel < 2; sel++) {
    VCOMMON32(d, VPCI_DFSELECT) = sel;
    offered |= (uint64_t)VCOMMON32(d, VPCI_DF) << (32 * sel);
  }
  d->features = features & offered;
  for (uint32_t sel = 0; sel < 2; sel++) {
    VCOMMON32(d, VPCI_GFSELECT) = sel;
    VCOMMON32(d, VPCI_GF) = (uint32_t)(d->features >> (32 * sel));
  }
  VCOMMON8(d, VPCI_STATUS) = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                             VIRTIO_STATUS_FEATURES_OK;
  if (!(VCOMMON8(d, VPCI_STATUS) & VIRTIO_STATUS_FEATURES_OK))
    return -2;
  return 0;
}

void vpci_queue_setup(struct vpci_dev *d, struct virtq *q, uint16_t index,
                      struct virtq_mem *mem, uint16_t size, uint16_t vector) {
  uint8_t *m = (uint8_t *)mem;
  for (uint32_t i = 0; i < sizeof(*mem); i++)
    m[i] = 0;
  q->index = index;
  q->size = size;
  q->desc = mem->desc;
  q->avail = mem->avail;
  q->used = mem->used;
  q->avail_idx = 0;
  q->last_used = 0;
  q->event_idx = (d->features & VIRTIO_F_EVENT_IDX) != 0;
  VCOMMON16(d, VPCI_Q_SELECT) = index;
  VCOMMON16(d, VPCI_Q_SIZE) = size;
  VCOMMON16(d, VPCI_Q_MSIX) = vector;
  uint64_t a[3] = {(uintptr_t)mem->desc, (uintptr_t)mem->avail,
                   (uintptr_t)mem->used};
  for (int i = 0; i < 3; i++) {
    /* As two 32-bit halves, the way most drivers write them. */
    VCOMMON32(d, VPCI_Q_DESC + 8u * (unsigned)i) = (uint32_t)a[i];
    VCOMMON32(d, VPCI_Q_DESC + 8u * (unsigned)i + 4) = (uint32_t)(a[i] >> 32);
  }
  VCOMMON16(d, VPCI_Q_ENABLE) = 1;
}

void vpci_driver_ok(struct vpci_dev *d) {
  VCOMMON8(d, VPCI_STATUS) = (uint8_t)(VCOMMON8(d, VPCI_STATUS) |
                                       VIRTIO_STATUS_DRIVER_OK);
}

void vpci_kick(struct vpci_dev *d, struct virtq *q) {
  VCOMMON16(d, VPCI_Q_SELECT) = q->index;
  uint16_t noff = VCOMMON16(d, VPCI_Q_NOFF);
  VPCI16(d, d->notify + (uint32_t)noff * d->notify_mult) = q->index;
}

void vpci_submit(struct vpci_dev *d, struct virtq *q, uint16_t head) {
  uint16_t old = q->avail_idx;
  virtq_publish(q, head);
  mb();
  if (virtq_needs_kick(q, old))
    vpci_kick(d, q);
}
