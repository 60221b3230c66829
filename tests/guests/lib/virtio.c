/* tests/guests/lib/virtio.c — the guest's virtio-mmio driver (virtio.h). */
#include "virtio.h"

#include "guest.h"

uint64_t virtio_device_features(const struct virtio_dev *d) {
  vio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  uint64_t hi = vio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
  vio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  return hi << 32 | vio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

bool virtio_reset(const struct virtio_dev *d) {
  vio_write(d, VIRTIO_MMIO_STATUS, 0);
  uint64_t t0 = rdtsc();
  while (vio_read(d, VIRTIO_MMIO_STATUS) != 0)
    if (rdtsc() - t0 > VIRTIO_SPIN_CYCLES)
      return false;
  return true;
}

int virtio_init(struct virtio_dev *d, uintptr_t base, uint32_t device_id,
                uint64_t features) {
  d->base = base;
  d->features = 0;
  if (vio_read(d, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE)
    return -1;
  if (vio_read(d, VIRTIO_MMIO_VERSION) != 2)
    return -2;
  if (vio_read(d, VIRTIO_MMIO_DEVICE_ID) != device_id)
    return -3;
  if (!virtio_reset(d))
    return -4;
  vio_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
  vio_write(d, VIRTIO_MMIO_STATUS,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  features &= virtio_device_features(d);
  vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
  vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
  vio_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE |
                                       VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK);
  if (!(vio_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
    return -5;
  d->features = features;
  return 0;
}

void virtq_setup(struct virtio_dev *d, struct virtq *q, uint16_t index,
                 struct virtq_mem *mem, uint16_t size) {
  memset(mem, 0, sizeof(*mem));
  q->index = index;
  q->size = size;
  q->desc = mem->desc;
  q->avail = mem->avail;
  q->used = mem->used;
  q->avail_idx = 0;
  q->last_used = 0;
  q->event_idx = (d->features & VIRTIO_F_EVENT_IDX) != 0;
  uint64_t desc = (uintptr_t)mem->desc, avail = (uintptr_t)mem->avail,
           used = (uintptr_t)mem->used;
  vio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
  vio_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
  vio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
  vio_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
  vio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
  vio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
  vio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
  vio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
  vio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

void virtio_driver_ok(const struct virtio_dev *d) {
  vio_write(d, VIRTIO_MMIO_STATUS,
            VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

void virtq_publish(struct virtq *q, uint16_t head) {
  q->avail[2 + q->avail_idx % q->size] = head;
  barrier(); /* the entry before the index (x86 keeps stores in order) */
  q->avail_idx++;
  q->avail[1] = q->avail_idx;
}

bool virtq_needs_kick(const struct virtq *q, uint16_t old_idx) {
  mb(); /* our index must be visible before we read the device's wish */
  if (q->event_idx) {
    uint16_t event = *(volatile uint16_t *)(q->used + 4 + 8 * q->size);
    uint16_t now = q->avail_idx;
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old_idx);
  }
  return !(*(volatile uint16_t *)q->used & VRING_USED_F_NO_NOTIFY);
}

void virtq_kick(const struct virtio_dev *d, const struct virtq *q) {
  vio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

void virtq_submit(const struct virtio_dev *d, struct virtq *q, uint16_t head) {
  uint16_t old = q->avail_idx;
  virtq_publish(q, head);
  if (virtq_needs_kick(q, old))
    virtq_kick(d, q);
}

uint16_t virtq_used_idx(const struct virtq *q) {
  return *(volatile uint16_t *)(q->used + 2);
}

bool virtq_poll(struct virtq *q, struct vring_used_elem *out) {
  if (virtq_used_idx(q) == q->last_used)
    return false;
  barrier(); /* the element after the index (x86 keeps loads in order) */
  const volatile struct vring_used_elem *e =
      (const volatile struct vring_used_elem *)(q->used + 4 +
                                                8 * (q->last_used % q->size));
  out->id = e->id;
  out->len = e->len;
  q->last_used++;
  return true;
}

bool virtq_wait(struct virtq *q, struct vring_used_elem *out) {
  uint64_t t0 = rdtsc();
  while (!virtq_poll(q, out)) {
    if (rdtsc() - t0 > VIRTIO_SPIN_CYCLES)
      return false;
    __asm__ volatile("pause");
  }
  return true;
}

void virtq_set_used_event(struct virtq *q, uint16_t idx) {
  q->avail[2 + q->size] = idx;
}

void virtq_set_no_interrupt(struct virtq *q, bool on) {
  q->avail[0] = on ? VRING_AVAIL_F_NO_INTERRUPT : 0;
}

uint32_t virtio_wait_status(const struct virtio_dev *d, uint32_t mask) {
  uint64_t t0 = rdtsc();
  uint32_t s;
  while (!((s = vio_read(d, VIRTIO_MMIO_STATUS)) & mask)) {
    if (rdtsc() - t0 > VIRTIO_SPIN_CYCLES)
      break;
    __asm__ volatile("pause");
  }
  return s;
}
