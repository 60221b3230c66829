/* tests/guests/lib/virtio.h — a small freestanding virtio-mmio (version 2)
 * driver for test guests: probe, reset, feature negotiation, split-queue
 * set-up, submitting chains and polling the used ring. Guests identity-map
 * memory, so a pointer is its guest-physical address. Works in ring 0 and
 * ring 3 (keep spinning loops in ring 3: see ring3.h). */
#ifndef GUESTS_VIRTIO_H
#define GUESTS_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

/* Registers. */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976u

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

#define VIRTIO_INT_VRING 1u
#define VIRTIO_INT_CONFIG 2u

#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

struct vring_used_elem {
  uint32_t id;
  uint32_t len;
};

/* Entries of the largest queue this library sets up. */
#define VQ_MAX 64

/* The three parts of one queue, each on its own page. */
struct virtq_mem {
  struct vring_desc desc[VQ_MAX] __attribute__((aligned(4096)));
  /* flags, idx, ring[VQ_MAX], used_event */
  volatile uint16_t avail[VQ_MAX + 3] __attribute__((aligned(4096)));
  /* flags, idx, then ring elements and avail_event */
  volatile uint8_t used[8 + 8 * VQ_MAX] __attribute__((aligned(4096)));
};

struct virtq {
  uint16_t index;
  uint16_t size;
  struct vring_desc *desc;
  volatile uint16_t *avail;
  volatile uint8_t *used;
  uint16_t avail_idx; /* the next index to publish */
  uint16_t last_used; /* the next used entry to consume */
  bool event_idx;
};

struct virtio_dev {
  uintptr_t base;
  uint64_t features; /* negotiated */
};

static inline uint32_t vio_read(const struct virtio_dev *d, uint32_t off) {
  return *(volatile uint32_t *)(d->base + off);
}
static inline void vio_write(const struct virtio_dev *d, uint32_t off,
                             uint32_t v) {
  *(volatile uint32_t *)(d->base + off) = v;
}
static inline void barrier(void) { __asm__ volatile("" : : : "memory"); }
/* Orders a store before a later load (x86 allows that reordering). */
static inline void mb(void) { __asm__ volatile("mfence" : : : "memory"); }

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

/* Time-outs of the polling loops: ~10 s on anything from 1 GHz up. */
#define VIRTIO_SPIN_CYCLES 10000000000ull

/*
 * Checks magic, version 2 and the device id at `base`, resets the device,
 * sets ACKNOWLEDGE | DRIVER, offers `features` (masked by what the device
 * has) and sets FEATURES_OK. Returns 0, or a negative step number:
 * -1 magic, -2 version, -3 device id, -4 reset, -5 FEATURES_OK refused.
 */
int virtio_init(struct virtio_dev *d, uintptr_t base, uint32_t device_id,
                uint64_t features);
/* The 64 feature bits the device offers. */
uint64_t virtio_device_features(const struct virtio_dev *d);
/* Writes 0 to Status and waits until it reads 0. */
bool virtio_reset(const struct virtio_dev *d);
/* Sets up queue `index` of `size` entries in `mem` (zeroed here) and sets
 * QueueReady. The driver state in `q` starts at index 0. */
void virtq_setup(struct virtio_dev *d, struct virtq *q, uint16_t index,
                 struct virtq_mem *mem, uint16_t size);
void virtio_driver_ok(const struct virtio_dev *d);

/* Makes chain `head` available (ring entry, then the index). */
void virtq_publish(struct virtq *q, uint16_t head);
/* Whether the device asked to be notified (NO_NOTIFY / avail_event) of
 * what was published since `old_idx`. */
bool virtq_needs_kick(const struct virtq *q, uint16_t old_idx);
void virtq_kick(const struct virtio_dev *d, const struct virtq *q);
/* Publishes `head` and kicks if the device wants it. */
void virtq_submit(const struct virtio_dev *d, struct virtq *q, uint16_t head);
/* Takes the next used element if there is one. */
bool virtq_poll(struct virtq *q, struct vring_used_elem *out);
/* Waits (bounded by VIRTIO_SPIN_CYCLES) for the next used element. */
bool virtq_wait(struct virtq *q, struct vring_used_elem *out);
/* The used index the device published. */
uint16_t virtq_used_idx(const struct virtq *q);
/* Sets used_event (VIRTIO_F_EVENT_IDX) or the NO_INTERRUPT flag. */
void virtq_set_used_event(struct virtq *q, uint16_t idx);
void virtq_set_no_interrupt(struct virtq *q, bool on);

/* Fills descriptor `i` of the queue's table. */
static inline void virtq_desc(struct virtq *q, uint16_t i, const void *buf,
                              uint32_t len, uint16_t flags, uint16_t next) {
  q->desc[i].addr = (uint64_t)(uintptr_t)buf;
  q->desc[i].len = len;
  q->desc[i].flags = flags;
  q->desc[i].next = next;
}

/* Waits (bounded) until Status has one of the `mask` bits; returns it. */
uint32_t virtio_wait_status(const struct virtio_dev *d, uint32_t mask);

#endif
