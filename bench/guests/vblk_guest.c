/* bench/guests/vblk_guest.c — the virtio_blk benchmark's guest: a polling
 * virtio-blk driver in ring 3 (over virtio-mmio or virtio-pci) that reads
 * the whole disk in 1 MiB requests, then 4 KiB blocks at random offsets
 * with VB_PARAM_DEPTH requests in flight, checking the first word of every
 * 4 KiB block it gets. Ring 3 because this machine's KVM emulates guest
 * ring 0; interrupts are suppressed (VRING_AVAIL_F_NO_INTERRUPT) and
 * completions are found by polling the used ring, as a polled-I/O driver
 * (Linux io_poll, SPDK) does. */
#include "guest.h"
#include "ring3.h"
#include "vblk_bench.h"
#include "virtio.h"
#include "virtio_pci.h"

void guest_main(void);

#define VIRTIO_ID_BLOCK 2
#define T_IN 0
#define S_OK 0
#define S_NONE 0xee
#define CFG_CAPACITY 0x00
#define QSIZE 64
#define SLOTS VB_MAX_DEPTH

struct blk_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

static struct virtq_mem qmem __attribute__((aligned(4096)));
static struct vring_desc tables[SLOTS][3] __attribute__((aligned(16)));
static struct blk_hdr hdrs[SLOTS];
static volatile uint8_t stats[SLOTS];
static uint64_t slot_off[SLOTS], slot_len[SLOTS];
static uint8_t seq_buf[VB_MAX_SEQ_DEPTH][VB_SEQ_BYTES]
    __attribute__((aligned(4096)));
static uint8_t rand_buf[SLOTS][VB_RAND_BYTES] __attribute__((aligned(4096)));

static struct virtq q;
static struct virtio_dev mdev;
static struct vpci_dev pdev;
static bool pci;
static volatile void *notify_addr; /* the queue's doorbell, found once */

static void kick(void) {
  if (pci)
    *(volatile uint16_t *)notify_addr = 0;
  else
    *(volatile uint32_t *)notify_addr = 0;
}

static uint64_t capacity_bytes(void) {
  uintptr_t cfg = pci ? (uintptr_t)vpci_at(&pdev, pdev.device)
                      : mdev.base + VIRTIO_MMIO_CONFIG;
  uint64_t lo = *(volatile uint32_t *)(cfg + CFG_CAPACITY);
  uint64_t hi = *(volatile uint32_t *)(cfg + CFG_CAPACITY + 4);
  return (hi << 32 | lo) * 512;
}

static void setup(void) {
  uint64_t features = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC;
  pci = guest_param(VB_PARAM_PCI) != 0;
  uintptr_t base = guest_param(VB_PARAM_BASE);
  if (pci) {
    GUEST_ASSERT_EQ(vpci_probe(&pdev, (uint8_t)(base >> 3)), 0);
    GUEST_ASSERT_EQ(vpci_init(&pdev, features), 0);
    GUEST_ASSERT(pdev.features & VIRTIO_F_INDIRECT_DESC);
    vpci_queue_setup(&pdev, &q, 0, &qmem, QSIZE, VPCI_NO_VECTOR);
    uint16_t noff = VCOMMON16(&pdev, VPCI_Q_NOFF);
    notify_addr = vpci_at(&pdev, pdev.notify + noff * pdev.notify_mult);
    vpci_driver_ok(&pdev);
  } else {
    GUEST_ASSERT_EQ(virtio_init(&mdev, base, VIRTIO_ID_BLOCK, features), 0);
    GUEST_ASSERT(mdev.features & VIRTIO_F_INDIRECT_DESC);
    virtq_setup(&mdev, &q, 0, &qmem, QSIZE);
    notify_addr = (volatile void *)(mdev.base + VIRTIO_MMIO_QUEUE_NOTIFY);
    virtio_driver_ok(&mdev);
  }
  virtq_set_no_interrupt(&q, true);
}

/* Puts a read of `len` bytes at byte `off` into `buf` in slot `s` (an
 * indirect table: header, data, status) and publishes it; no kick. */
static void post(unsigned s, uint64_t off, void *buf, uint32_t len) {
  hdrs[s] = (struct blk_hdr){T_IN, 0, off / 512};
  stats[s] = S_NONE;
  slot_off[s] = off;
  slot_len[s] = len;
  tables[s][0] = (struct vring_desc){(uintptr_t)&hdrs[s], sizeof(hdrs[s]),
                                     VRING_DESC_F_NEXT, 1};
  tables[s][1] = (struct vring_desc){(uintptr_t)buf, len,
                                     VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                                     2};
  tables[s][2] = (struct vring_desc){(uintptr_t)&stats[s], 1,
                                     VRING_DESC_F_WRITE, 0};
  virtq_desc(&q, (uint16_t)s, tables[s], sizeof(tables[s]),
             VRING_DESC_F_INDIRECT, 0);
  virtq_publish(&q, (uint16_t)s);
}

static void kick_if_needed(uint16_t old_idx) {
  if (virtq_needs_kick(&q, old_idx))
    kick();
}

/* The next completed slot (bounded wait: a stuck device aborts). */
static unsigned reap(void) {
  struct vring_used_elem e = {0, 0};
  GUEST_ASSERT(virtq_wait(&q, &e));
  GUEST_ASSERT(e.id < SLOTS);
  GUEST_ASSERT_EQ(stats[e.id], S_OK);
  return e.id;
}

/* Data check: the first word of each 4 KiB block. Returns the misses. */
static uint64_t check(const uint8_t *buf, uint64_t off, uint64_t len) {
  uint64_t bad = 0;
  for (uint64_t b = 0; b < len; b += 4096)
    bad += *(const volatile uint64_t *)(buf + b) != vb_word(off + b);
  return bad;
}

static void seq_pass(uint64_t round, uint64_t size, unsigned depth) {
  GUEST_SYNC(VB_SYNC_SEQ_START, round);
  uint64_t next = 0, done = 0, bad = 0;
  unsigned inflight = 0;
  uint32_t free_mask = (1u << depth) - 1;
  while (done < size) {
    uint16_t old = q.avail_idx;
    while (inflight < depth && next < size) {
      unsigned s = (unsigned)__builtin_ctz(free_mask);
      free_mask &= ~(1u << s);
      uint64_t len = size - next < VB_SEQ_BYTES ? size - next : VB_SEQ_BYTES;
      post(s, next, seq_buf[s], (uint32_t)len);
      next += len;
      inflight++;
    }
    kick_if_needed(old);
    unsigned s = reap();
    bad += check(seq_buf[s], slot_off[s], slot_len[s]);
    done += slot_len[s];
    free_mask |= 1u << s;
    inflight--;
  }
  GUEST_SYNC(VB_SYNC_SEQ_END, round, bad, done);
}

static void rand_pass(uint64_t round, uint64_t size, unsigned depth,
                      uint64_t n) {
  uint64_t state = guest_param(VB_PARAM_SEED);
  GUEST_SYNC(VB_SYNC_RAND_START, round);
  uint64_t issued = 0, done = 0, bad = 0;
  uint16_t old = q.avail_idx;
  for (unsigned s = 0; s < depth && issued < n; s++, issued++)
    post(s, vb_rand_offset(&state, size), rand_buf[s], VB_RAND_BYTES);
  kick_if_needed(old);
  while (done < n) {
    /* Take everything that completed, then refill those slots with one
     * kick, as a driver with a batch of completions does. */
    old = q.avail_idx;
    unsigned s = reap();
    for (;;) {
      bad += check(rand_buf[s], slot_off[s], VB_RAND_BYTES);
      done++;
      if (issued < n) {
        post(s, vb_rand_offset(&state, size), rand_buf[s], VB_RAND_BYTES);
        issued++;
      }
      struct vring_used_elem e;
      if (!virtq_poll(&q, &e))
        break;
      GUEST_ASSERT(e.id < SLOTS);
      GUEST_ASSERT_EQ(stats[e.id], S_OK);
      s = e.id;
    }
    kick_if_needed(old);
  }
  GUEST_SYNC(VB_SYNC_RAND_END, round, bad, done);
}

static uint64_t bench(uint64_t unused) {
  (void)unused;
  setup();
  uint64_t size = capacity_bytes();
  uint64_t rounds = guest_param(VB_PARAM_ROUNDS);
  uint64_t n = guest_param(VB_PARAM_NRAND);
  unsigned depth = (unsigned)guest_param(VB_PARAM_DEPTH);
  unsigned seq_depth = (unsigned)guest_param(VB_PARAM_SEQ_DEPTH);
  GUEST_ASSERT(depth >= 1 && depth <= SLOTS);
  GUEST_ASSERT(seq_depth >= 1 && seq_depth <= VB_MAX_SEQ_DEPTH);
  GUEST_ASSERT(size >= VB_SEQ_BYTES && size % VB_RAND_BYTES == 0);
  for (uint64_t r = 0; r < rounds; r++) {
    seq_pass(r, size, seq_depth);
    rand_pass(r, size, depth, n);
  }
  return 0;
}

void guest_main(void) {
  ring3_init();
  ring3_call(bench, 0);
  guest_done();
}
