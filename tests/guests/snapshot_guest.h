/* tests/guests/snapshot_guest.h — what the snapshot guest
 * (snapshot_guest.c), tests/integration/snapshot_test.c and
 * bench/snapshot.c agree on. */
#ifndef GUESTS_SNAPSHOT_GUEST_H
#define GUESTS_SNAPSHOT_GUEST_H

#include "layout.h"

/* Parameter 0: the virtio-mmio base of the virtio-blk disk (0: none, the
 * guest only counts), or with parameter 1 set its PCI devfn on bus 0. */
#define SG_PARAM_BLK 0
#define SG_PARAM_PCI 1
/* On PCI the guest programs MSI-X entry 0 with these (masked) and checks
 * them at every tick: the table must survive a snapshot. */
#define SG_MSIX_ADDR 0xfee00000u
#define SG_MSIX_DATA 0x4567u
/* Counted up forever, one by one (ring 3, native speed). */
#define SG_COUNTER_GPA GUEST_STATUS_GPA
/* Ticks completed: a tick is SG_TICK_COUNTS counts, then a record written
 * to the disk (sector tick % SG_SECTORS) and the line "tick N\n" on the
 * UART at 0x3f8; the number is stored here after both. */
#define SG_TICK_GPA (GUEST_STATUS_GPA + 8)
#define SG_TICK_COUNTS (1u << 20)
#define SG_SECTORS 64
#define SG_MAGIC 0x50414e53u /* "SNAP" */

/* A record: magic, tick, the counter then, and bytes sg_fill(tick, i). */
struct sg_record {
  uint32_t magic;
  uint32_t pad;
  uint64_t tick;
  uint64_t counter;
  uint8_t fill[512 - 24];
};

static inline uint8_t sg_fill(uint64_t tick, unsigned i) {
  return (uint8_t)(tick * 7 + i * 13);
}

#endif
