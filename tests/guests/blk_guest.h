/* tests/guests/blk_guest.h — what the virtio-blk guest (blk_guest.c),
 * tests/integration/blk_test.c and examples/virtio_demo.c agree on. */
#ifndef GUESTS_BLK_GUEST_H
#define GUESTS_BLK_GUEST_H

/* Guest parameters (layout.h: GUEST_PARAM_GPA). */
#define BT_PARAM_MODE 0
#define BT_PARAM_BASE 1    /* MMIO base of the virtio-blk device, or its
                              devfn when BT_PARAM_PCI is set */
#define BT_PARAM_FLAGS 2   /* BT_F_* */
#define BT_PARAM_RNG 3     /* BT_MODE_DEMO: virtio-rng base (0: none) */
#define BT_PARAM_CONSOLE 4 /* BT_MODE_DEMO: virtio-console base (0: none) */
#define BT_PARAM_PCI 5     /* 1: the blk device is on virtio-pci */

#define BT_MODE_RW 1   /* the full read/write/flush/discard/id/error set */
#define BT_MODE_RO 2   /* a read-only device */
#define BT_MODE_DEMO 3 /* examples/virtio_demo.c: blk, rng and console */

#define BT_F_INDIRECT 1
#define BT_F_EVENT_IDX 2

/* The image the host prepares (at least BT_MIN_SECTORS sectors):
 * sectors [0, 8) hold bt_pattern(i, BT_SEED_HOST) for byte i of the range;
 * sectors [32, 40) hold 0xff (the guest discards them);
 * the guest writes bt_pattern(i, BT_SEED_GUEST) to sectors [16, 24),
 * and to sector 48 through the second queue when there is one. */
#define BT_MIN_SECTORS 64
#define BT_SEED_HOST 7
#define BT_SEED_GUEST 11
#define BT_READ_SECTOR 0
#define BT_WRITE_SECTOR 16
#define BT_DISCARD_SECTOR 32
#define BT_Q1_SECTOR 48
#define BT_SECTORS 8

static inline unsigned char bt_pattern(unsigned long i, unsigned seed) {
  return (unsigned char)((i * 13 + seed) ^ (i >> 9));
}

/* SYNCs of BT_MODE_RW, in order:
 *  (BT_SYNC_ID, gpa of the 20 ID bytes)
 *  (BT_SYNC_READ, sum over the bytes read from sectors [0, 8))
 *  (BT_SYNC_WRITTEN, queues used)  -- the host may check the file now
 *  (BT_SYNC_FAILED, status)        -- after a status-less chain
 *  (BT_SYNC_RECOVERED, sum of a read after the reset)
 *  (BT_SYNC_RESET, used index after two requests that followed a reset
 *   with eight requests in flight: 2)
 * BT_MODE_RO: (BT_SYNC_RO, write status, discard status, read sum). */
#define BT_SYNC_ID 1
#define BT_SYNC_READ 2
#define BT_SYNC_WRITTEN 3
#define BT_SYNC_FAILED 4
#define BT_SYNC_RECOVERED 5
#define BT_SYNC_RO 6
#define BT_SYNC_RESET 8
/* BT_MODE_DEMO: (BT_SYNC_DEMO, read sum, id gpa, rng bytes, console bytes) */
#define BT_SYNC_DEMO 7

#endif
