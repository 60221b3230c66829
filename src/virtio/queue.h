/* src/virtio/queue.h — the split virtqueue (virtio 1.x): descriptor chains
 * in, used elements out. Knows guest memory only through a region map, so
 * it runs without a hypervisor (tests/unit/test_virtq.c). */
#ifndef VMM__VIRTIO_QUEUE_H
#define VMM__VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <libvmm/virtio.h>

#include "memmap.h"

/* The largest queue size the split layout allows. */
#define VMM__VIRTQ_MAX_SIZE ((unsigned)VMM_VIRTIO_QUEUE_SIZE_MAX)

/* Descriptor flags. */
#define VMM__VRING_DESC_F_NEXT 1u
#define VMM__VRING_DESC_F_WRITE 2u
#define VMM__VRING_DESC_F_INDIRECT 4u
/* Available-ring flags: the driver needs no used-buffer notification. */
#define VMM__VRING_AVAIL_F_NO_INTERRUPT 1u
/* Used-ring flags: the device needs no available-buffer notification. */
#define VMM__VRING_USED_F_NO_NOTIFY 1u

/* Ring alignment the split layout requires. */
#define VMM__VRING_DESC_ALIGN 16u
#define VMM__VRING_AVAIL_ALIGN 2u
#define VMM__VRING_USED_ALIGN 4u

/* One descriptor as it lies in guest memory (little-endian). */
struct vmm__vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

/* Sizes of the three parts for a queue of `n` entries (event-index words
 * included). */
static inline uint64_t vmm__vring_desc_size(uint32_t n) { return 16ull * n; }
static inline uint64_t vmm__vring_avail_size(uint32_t n) {
  return 6ull + 2ull * n;
}
static inline uint64_t vmm__vring_used_size(uint32_t n) {
  return 6ull + 8ull * n;
}

/*
 * One popped descriptor chain. The device-readable buffers come first
 * (iov[0 .. out_num)), then the device-writable ones
 * (iov[out_num .. out_num + in_num)); a descriptor that crosses a
 * guest-memory region boundary becomes several iovecs. Host pointers are
 * valid while the memory map is unchanged (the caller holds the VM lock).
 * Keep one element and pop into it again: its arrays are reused.
 */
struct vmm__virtq_elem {
  uint16_t head;    /* index of the chain's first descriptor */
  uint32_t out_num, in_num;
  uint32_t out_len, in_len; /* bytes in each part (total below 4 GiB) */
  struct iovec *iov;
  uint64_t *gpa;    /* guest-physical address of each iovec */
  uint32_t cap;
};

struct vmm__virtq {
  /* Layout, written by the transport while the queue is not running. */
  uint16_t size;    /* entries: a power of two, 1 .. VMM__VIRTQ_MAX_SIZE */
  uint64_t desc_gpa, avail_gpa, used_gpa;
  /* Negotiated features that change the ring protocol. */
  bool indirect;    /* VIRTIO_F_INDIRECT_DESC */
  bool event_idx;   /* VIRTIO_F_EVENT_IDX */

  /* Running state (vmm__virtq_start() .. vmm__virtq_stop()). */
  bool running;
  bool broken;        /* the driver broke the rules; see error */
  bool notify_wanted; /* available-buffer notifications enabled */
  uint16_t last_avail; /* next available-ring slot to consume */
  uint16_t used_idx;   /* next used-ring slot (what used->idx says) */
  uint16_t signalled_used; /* used_idx when the driver was last considered */
  bool signalled_valid;
  /* Host views of the rings (vmm__virtq_map()). */
  const struct vmm__memmap *map;
  uint8_t *desc, *avail, *used;

  char error[200];  /* why the queue broke (set with broken) */
};

/* A stopped queue with no layout. */
void vmm__virtq_init(struct vmm__virtq *q);
/*
 * Checks the layout (size, alignment, every ring inside one region of
 * guest memory, the used ring writable) and starts the queue at index 0.
 * 0, or a negative code with q->error saying what is wrong.
 */
int vmm__virtq_start(struct vmm__virtq *q, const struct vmm__memmap *map);
/*
 * Resolves the rings' host pointers again through `map` (the caller holds
 * the lock that keeps the map stable until it is done with the queue).
 * Call before popping or pushing in each pass: regions may have moved.
 */
int vmm__virtq_map(struct vmm__virtq *q, const struct vmm__memmap *map);
/*
 * Starts a queue loaded from saved state (src/snapshot): the same checks
 * as vmm__virtq_start(), but the rings in guest memory are left as they
 * are and the indices are the saved ones.
 */
int vmm__virtq_resume(struct vmm__virtq *q, const struct vmm__memmap *map,
                      uint16_t last_avail, uint16_t used_idx,
                      uint16_t signalled_used, bool signalled_valid,
                      bool notify_wanted);
/* Stops a running queue (the driver cleared QueueReady); the layout
 * stays, so the queue can be started again. A reset is vmm__virtq_init(). */
void vmm__virtq_stop(struct vmm__virtq *q);

/*
 * Takes the next available chain: 1 with `elem` filled, 0 when none is
 * available, or a negative code when the driver broke the rules (the
 * queue is then broken: q->error says why, and every later call fails).
 */
int vmm__virtq_pop(struct vmm__virtq *q, struct vmm__virtq_elem *elem);
/* Gives the chain whose first descriptor is `head` back with `written`
 * bytes written into its device-writable buffers. `written` must not
 * exceed what the chain offered (the device's own bug otherwise). */
int vmm__virtq_push(struct vmm__virtq *q, const struct vmm__virtq_elem *elem,
                    uint32_t written);
/* True when an available chain is waiting (no state change). */
bool vmm__virtq_has_avail(struct vmm__virtq *q);
/*
 * After pushing: whether the driver wants a used-buffer notification now
 * (VRING_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_F_EVENT_IDX).
 */
bool vmm__virtq_should_notify(struct vmm__virtq *q);
/*
 * Asks the driver for available-buffer notifications (enable) or tells it
 * they are not needed (VRING_USED_F_NO_NOTIFY; with VIRTIO_F_EVENT_IDX,
 * avail_event). After enabling, check vmm__virtq_has_avail() again: a
 * chain may have arrived while they were off.
 */
void vmm__virtq_set_notify(struct vmm__virtq *q, bool enable);

/* Copies out of the device-readable part, from byte `off`; returns how
 * many bytes were copied. */
size_t vmm__virtq_elem_read(const struct vmm__virtq_elem *elem, size_t off,
                            void *buf, size_t len);
/* Copies into the device-writable part, from byte `off`; returns how many
 * bytes were copied. */
size_t vmm__virtq_elem_write(const struct vmm__virtq_elem *elem, size_t off,
                             const void *buf, size_t len);
/* Frees the element's arrays. */
void vmm__virtq_elem_free(struct vmm__virtq_elem *elem);

#endif
