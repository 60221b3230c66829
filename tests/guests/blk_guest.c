/* tests/guests/blk_guest.c — drives libvmm's virtio-blk over virtio-mmio
 * or virtio-pci (BT_PARAM_PCI):
 * reads, writes, flush, discard, GET_ID, several requests in flight, two
 * queues, requests the device must refuse, a read-only device, and the
 * devices of examples/virtio_demo.c (blk_guest.h lists the modes). Polling
 * runs in ring 3. */
#include "blk_guest.h"
#include "guest.h"
#include "ring3.h"
#include "virtio.h"
#include "virtio_pci.h"

void guest_main(void);

#define U8(a) (*(volatile uint8_t *)(uintptr_t)(a))
#define U16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define U32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define U64(a) (*(volatile uint64_t *)(uintptr_t)(a))

#define VIRTIO_ID_BLOCK 2
#define BLK_F_RO (1ull << 5)
#define BLK_F_FLUSH (1ull << 9)
#define BLK_F_MQ (1ull << 12)
#define BLK_F_DISCARD (1ull << 13)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define S_NONE 0xee /* what the guest puts there before submitting */

#define CFG_CAPACITY 0x00
#define CFG_NUM_QUEUES 0x22
#define CFG_MAX_DISCARD_SEG 0x28

#define QSIZE 32
#define SLOTS 8 /* requests in flight per queue; 4 descriptors each */
#define SECTOR 512

struct blk_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

static struct virtq_mem qmem[4] __attribute__((aligned(4096)));
static struct vring_desc tables[2][SLOTS][4] __attribute__((aligned(16)));
static struct blk_hdr hdrs[2][SLOTS];
static volatile uint8_t stats[2][SLOTS];
static uint8_t bufs[SLOTS][BT_SECTORS * SECTOR] __attribute__((aligned(64)));
static uint8_t id_buf[32];

static uint64_t param(unsigned i) { return guest_param(i); }

/* BT_PARAM_PCI: the blk device is on virtio-pci, BT_PARAM_BASE its devfn. */
static struct vpci_dev pdev;
static bool pci;

static uintptr_t cfg_base(uintptr_t base) {
  return pci ? (uintptr_t)vpci_at(&pdev, pdev.device)
             : base + VIRTIO_MMIO_CONFIG;
}

static void kick(struct virtio_dev *d, struct virtq *q) {
  if (pci)
    vpci_kick(&pdev, q);
  else
    virtq_kick(d, q);
}

static uint32_t wait_status(struct virtio_dev *d, uint32_t mask) {
  if (!pci)
    return virtio_wait_status(d, mask);
  uint64_t t0 = rdtsc();
  uint32_t s;
  while (!((s = VCOMMON8(&pdev, VPCI_STATUS)) & mask) &&
         rdtsc() - t0 < VIRTIO_SPIN_CYCLES)
    __asm__ volatile("pause");
  return s;
}

static uint64_t wanted_features(void) {
  uint64_t f = VIRTIO_F_VERSION_1 | BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_MQ |
               BLK_F_RO;
  uint64_t flags = param(BT_PARAM_FLAGS);
  if (flags & BT_F_INDIRECT)
    f |= VIRTIO_F_INDIRECT_DESC;
  if (flags & BT_F_EVENT_IDX)
    f |= VIRTIO_F_EVENT_IDX;
  return f;
}

static uint64_t checksum(const uint8_t *p, uint32_t n) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; i++)
    sum = sum * 31 + p[i];
  return sum;
}

/*
 * Makes request `slot` of queue `q` available: header, an optional data
 * buffer, the status byte (each its own descriptor, or all in an indirect
 * table). `hdr_len` and `stat_write` let hostile requests be built.
 */
static void submit_raw(struct virtio_dev *d, struct virtq *q, unsigned slot,
                       uint32_t type, uint64_t sector, void *data,
                       uint32_t len, bool data_write, uint32_t hdr_len,
                       bool stat_write, bool kick) {
  unsigned qi = q->index;
  struct blk_hdr *h = &hdrs[qi][slot];
  h->type = type;
  h->reserved = 0;
  h->sector = sector;
  stats[qi][slot] = S_NONE;
  struct vring_desc chain[3];
  unsigned n = 0;
  chain[n++] = (struct vring_desc){(uintptr_t)h, hdr_len, 0, 0};
  if (len)
    chain[n++] = (struct vring_desc){(uintptr_t)data, len,
                                     data_write ? VRING_DESC_F_WRITE : 0, 0};
  chain[n++] = (struct vring_desc){(uintptr_t)&stats[qi][slot], 1,
                                   stat_write ? VRING_DESC_F_WRITE : 0, 0};
  uint16_t head = (uint16_t)(slot * 4);
  bool indirect = d->features & VIRTIO_F_INDIRECT_DESC;
  for (unsigned i = 0; i < n; i++) {
    if (i + 1 < n) {
      chain[i].flags |= VRING_DESC_F_NEXT;
      chain[i].next = (uint16_t)(indirect ? i + 1 : head + i + 1);
    }
    if (indirect)
      tables[qi][slot][i] = chain[i];
    else
      q->desc[head + i] = chain[i];
  }
  if (indirect)
    virtq_desc(q, head, tables[qi][slot], n * 16, VRING_DESC_F_INDIRECT, 0);
  if (kick) {
    if (pci)
      vpci_submit(&pdev, q, head);
    else
      virtq_submit(d, q, head);
  } else {
    virtq_publish(q, head);
  }
}

static void submit(struct virtio_dev *d, struct virtq *q, unsigned slot,
                   uint32_t type, uint64_t sector, void *data, uint32_t len,
                   bool data_write) {
  submit_raw(d, q, slot, type, sector, data, len, data_write, 16, true, true);
}

/* Waits for one used element; returns its slot. */
static unsigned wait_one(struct virtq *q) {
  struct vring_used_elem e = {0, 0};
  GUEST_ASSERT(virtq_wait(q, &e));
  if (q->event_idx)
    virtq_set_used_event(q, q->last_used);
  GUEST_ASSERT(e.id % 4 == 0 && e.id / 4 < SLOTS);
  return e.id / 4;
}

/* One request at a time: its status. */
static uint8_t request(struct virtio_dev *d, struct virtq *q, uint32_t type,
                       uint64_t sector, void *data, uint32_t len,
                       bool data_write) {
  submit(d, q, 0, type, sector, data, len, data_write);
  GUEST_ASSERT_EQ(wait_one(q), 0);
  return stats[q->index][0];
}

static uint8_t raw_request(struct virtio_dev *d, struct virtq *q,
                           uint32_t type, uint64_t sector, void *data,
                           uint32_t len, bool data_write, uint32_t hdr_len) {
  submit_raw(d, q, 0, type, sector, data, len, data_write, hdr_len, true,
             true);
  GUEST_ASSERT_EQ(wait_one(q), 0);
  return stats[q->index][0];
}

static uint16_t setup(struct virtio_dev *d, struct virtq *q0, struct virtq *q1,
                      uintptr_t base) {
  pci = param(BT_PARAM_PCI) != 0;
  if (pci) {
    GUEST_ASSERT_EQ(vpci_probe(&pdev, (uint8_t)(base >> 3)), 0);
    GUEST_ASSERT_EQ(vpci_init(&pdev, wanted_features()), 0);
    d->features = pdev.features;
  } else {
    GUEST_ASSERT_EQ(virtio_init(d, base, VIRTIO_ID_BLOCK, wanted_features()),
                    0);
  }
  uint16_t nq = 1;
  if (d->features & BLK_F_MQ)
    nq = U16(cfg_base(base) + CFG_NUM_QUEUES);
  if (pci) {
    vpci_queue_setup(&pdev, q0, 0, &qmem[0], QSIZE, VPCI_NO_VECTOR);
    if (nq > 1)
      vpci_queue_setup(&pdev, q1, 1, &qmem[1], QSIZE, VPCI_NO_VECTOR);
    vpci_driver_ok(&pdev);
  } else {
    virtq_setup(d, q0, 0, &qmem[0], QSIZE);
    if (nq > 1)
      virtq_setup(d, q1, 1, &qmem[1], QSIZE);
    virtio_driver_ok(d);
  }
  return nq;
}

/* ---- the read/write set ----------------------------------------------- */

static uint64_t rw_mode(uint64_t unused) {
  (void)unused;
  uintptr_t base = param(BT_PARAM_BASE);
  struct virtio_dev d;
  struct virtq q0, q1;
  uint16_t nq = setup(&d, &q0, &q1, base);
  GUEST_ASSERT(d.features & BLK_F_FLUSH);
  GUEST_ASSERT(d.features & BLK_F_DISCARD);
  GUEST_ASSERT(!(d.features & BLK_F_RO));
  uint64_t cap = U32(cfg_base(base) + CFG_CAPACITY) |
                 (uint64_t)U32(cfg_base(base) + CFG_CAPACITY + 4)
                     << 32;
  GUEST_ASSERT(cap >= BT_MIN_SECTORS);
  GUEST_ASSERT(U32(cfg_base(base) + CFG_MAX_DISCARD_SEG) >= 1);
  const uint32_t len = BT_SECTORS * SECTOR;

  /* GET_ID: the serial. */
  memset(id_buf, 0, sizeof(id_buf));
  GUEST_ASSERT_EQ(request(&d, &q0, T_GET_ID, 0, id_buf, 20, true), S_OK);
  GUEST_SYNC(BT_SYNC_ID, (uintptr_t)id_buf);

  /* Read what the host put there. */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_READ_SECTOR, bufs[0], len, true),
                  S_OK);
  uint64_t sum = checksum(bufs[0], len);
  GUEST_SYNC(BT_SYNC_READ, sum);

  /* Write, flush, discard. */
  for (uint32_t i = 0; i < len; i++)
    bufs[1][i] = bt_pattern(i, BT_SEED_GUEST);
  GUEST_ASSERT_EQ(request(&d, &q0, T_OUT, BT_WRITE_SECTOR, bufs[1], len,
                          false), S_OK);
  GUEST_ASSERT_EQ(request(&d, &q0, T_FLUSH, 0, 0, 0, false), S_OK);
  static struct {
    uint64_t sector;
    uint32_t num, flags;
  } disc = {BT_DISCARD_SECTOR, BT_SECTORS, 0};
  GUEST_ASSERT_EQ(request(&d, &q0, T_DISCARD, 0, &disc, sizeof(disc), false),
                  S_OK);
  /* The discarded range reads back as zeros. */
  memset(bufs[2], 0x55, len);
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_DISCARD_SECTOR, bufs[2], len,
                          true), S_OK);
  for (uint32_t i = 0; i < len; i++)
    GUEST_ASSERT_EQ(bufs[2][i], 0);
  disc.num = 0; /* an empty range: nothing to do */
  GUEST_ASSERT_EQ(request(&d, &q0, T_DISCARD, 0, &disc, sizeof(disc), false),
                  S_OK);
  disc.num = BT_SECTORS;
  disc.flags = 1; /* "unmap": only for write-zeroes */
  GUEST_ASSERT_EQ(request(&d, &q0, T_DISCARD, 0, &disc, sizeof(disc), false),
                  S_UNSUPP);

  /* Several in flight: one sector each, published together, one kick. */
  for (unsigned s = 0; s < SLOTS; s++) {
    memset(bufs[s], 0, SECTOR);
    submit_raw(&d, &q0, s, T_IN, BT_READ_SECTOR + s, bufs[s], SECTOR, true,
               16, true, false);
  }
  kick(&d, &q0);
  unsigned seen = 0;
  for (unsigned s = 0; s < SLOTS; s++) {
    unsigned slot = wait_one(&q0);
    GUEST_ASSERT_EQ(stats[0][slot], S_OK);
    seen |= 1u << slot;
  }
  GUEST_ASSERT_EQ(seen, (1u << SLOTS) - 1);
  for (unsigned s = 0; s < SLOTS; s++)
    for (uint32_t i = 0; i < SECTOR; i++)
      GUEST_ASSERT_EQ(bufs[s][i], bt_pattern(s * SECTOR + i, BT_SEED_HOST));

  /* The second queue: write there, read back through the first. */
  if (nq > 1) {
    for (uint32_t i = 0; i < SECTOR; i++)
      bufs[3][i] = bt_pattern(i, BT_SEED_GUEST);
    GUEST_ASSERT_EQ(request(&d, &q1, T_OUT, BT_Q1_SECTOR, bufs[3], SECTOR,
                            false), S_OK);
    memset(bufs[4], 0, SECTOR);
    GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_Q1_SECTOR, bufs[4], SECTOR,
                            true), S_OK);
    GUEST_ASSERT_EQ(memcmp(bufs[3], bufs[4], SECTOR), 0);
  }

  /* Requests the device must refuse, the device staying in service. */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, cap - 1, bufs[0], 2 * SECTOR, true),
                  S_IOERR); /* past the end */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, cap, bufs[0], SECTOR, true),
                  S_IOERR);
  GUEST_ASSERT_EQ(request(&d, &q0, T_OUT, ~0ull >> 9, bufs[0], SECTOR,
                          false), S_IOERR); /* sector * 512 overflows */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, ~0ull, bufs[0], SECTOR, true),
                  S_IOERR);
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, 0, bufs[0], 100, true), S_IOERR);
  GUEST_ASSERT_EQ(request(&d, &q0, T_OUT, 0, bufs[0], 513, false), S_IOERR);
  GUEST_ASSERT_EQ(raw_request(&d, &q0, T_IN, 0, bufs[0], SECTOR, true, 8),
                  S_IOERR); /* short header */
  GUEST_ASSERT_EQ(request(&d, &q0, 99, 0, bufs[0], SECTOR, true), S_UNSUPP);
  disc.flags = 0;
  disc.sector = cap - 1;
  disc.num = 2;
  GUEST_ASSERT_EQ(request(&d, &q0, T_DISCARD, 0, &disc, sizeof(disc), false),
                  S_IOERR);
  /* Still good. */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_WRITE_SECTOR, bufs[0], len, true),
                  S_OK);
  for (uint32_t i = 0; i < len; i++)
    GUEST_ASSERT_EQ(bufs[0][i], bt_pattern(i, BT_SEED_GUEST));
  GUEST_SYNC(BT_SYNC_WRITTEN, nq);

  /* No device-writable byte for the status: the device fails. */
  submit_raw(&d, &q0, 0, T_OUT, 0, bufs[0], SECTOR, false, 16, false, true);
  uint32_t status = wait_status(&d, VIRTIO_STATUS_NEEDS_RESET);
  GUEST_SYNC(BT_SYNC_FAILED, status);

  /* A reset puts it back into service. */
  nq = setup(&d, &q0, &q1, base);
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_READ_SECTOR, bufs[0], len, true),
                  S_OK);
  GUEST_SYNC(BT_SYNC_RECOVERED, checksum(bufs[0], len));

  /* A reset with requests in flight: their completions must not land in
   * the rings of the next driver. */
  /* Writes of what sectors [16, 24) already hold, and flushes: those
   * take the host a while on a disk. */
  static uint8_t same[BT_SECTORS * SECTOR];
  for (uint32_t i = 0; i < len; i++)
    same[i] = bt_pattern(i, BT_SEED_GUEST);
  for (unsigned s = 0; s < SLOTS; s++) {
    if (s % 2)
      submit_raw(&d, &q0, s, T_FLUSH, 0, 0, 0, false, 16, true, false);
    else
      submit_raw(&d, &q0, s, T_OUT, BT_WRITE_SECTOR, same, len, false, 16,
                 true, false);
  }
  kick(&d, &q0);
  nq = setup(&d, &q0, &q1, base); /* resets first */
  static uint8_t fresh[SECTOR];
  for (unsigned k = 0; k < 2; k++) {
    memset(fresh, 0, SECTOR);
    GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_READ_SECTOR, fresh, SECTOR,
                            true), S_OK);
    for (uint32_t i = 0; i < SECTOR; i++)
      GUEST_ASSERT_EQ(fresh[i], bt_pattern(i, BT_SEED_HOST));
  }
  GUEST_SYNC(BT_SYNC_RESET, virtq_used_idx(&q0));
  return 0;
}

/* ---- read-only -------------------------------------------------------- */

static uint64_t ro_mode(uint64_t unused) {
  (void)unused;
  struct virtio_dev d;
  struct virtq q0, q1;
  setup(&d, &q0, &q1, param(BT_PARAM_BASE));
  GUEST_ASSERT(d.features & BLK_F_RO);
  GUEST_ASSERT(!(d.features & BLK_F_DISCARD));
  const uint32_t len = BT_SECTORS * SECTOR;
  for (uint32_t i = 0; i < len; i++)
    bufs[1][i] = 0x5a;
  uint8_t w = request(&d, &q0, T_OUT, BT_READ_SECTOR, bufs[1], len, false);
  static struct {
    uint64_t sector;
    uint32_t num, flags;
  } disc = {BT_READ_SECTOR, 1, 0};
  uint8_t ds = request(&d, &q0, T_DISCARD, 0, &disc, sizeof(disc), false);
  GUEST_ASSERT_EQ(request(&d, &q0, T_FLUSH, 0, 0, 0, false), S_OK);
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_READ_SECTOR, bufs[0], len, true),
                  S_OK);
  GUEST_SYNC(BT_SYNC_RO, w, ds, checksum(bufs[0], len));
  return 0;
}

/* ---- the demo: blk, rng, console -------------------------------------- */

static const char demo_text[] = "hello from the guest over virtio-console\n";
static const char uart_text[] = "hello from the guest over the 16550 UART\n";

static uint64_t demo_mode(uint64_t unused) {
  (void)unused;
  struct virtio_dev d;
  struct virtq q0, q1;
  setup(&d, &q0, &q1, param(BT_PARAM_BASE));
  const uint32_t len = BT_SECTORS * SECTOR;
  /* Read sectors [0, 8), write them back to [16, 24) and flush. */
  GUEST_ASSERT_EQ(request(&d, &q0, T_IN, BT_READ_SECTOR, bufs[0], len, true),
                  S_OK);
  uint64_t sum = checksum(bufs[0], len);
  GUEST_ASSERT_EQ(request(&d, &q0, T_OUT, BT_WRITE_SECTOR, bufs[0], len,
                          false), S_OK);
  GUEST_ASSERT_EQ(request(&d, &q0, T_FLUSH, 0, 0, 0, false), S_OK);
  memset(id_buf, 0, sizeof(id_buf));
  GUEST_ASSERT_EQ(request(&d, &q0, T_GET_ID, 0, id_buf, 20, true), S_OK);

  for (const char *c = uart_text; *c; c++)
    outb(0x3f8, (uint8_t)*c); /* THR: the UART sends at once */
  uint64_t rng_bytes = 0, con_bytes = 0;
  if (param(BT_PARAM_RNG)) {
    struct virtio_dev r;
    struct virtq rq;
    GUEST_ASSERT_EQ(virtio_init(&r, param(BT_PARAM_RNG), VIRTIO_ID_RNG,
                                VIRTIO_F_VERSION_1), 0);
    virtq_setup(&r, &rq, 0, &qmem[2], QSIZE);
    virtio_driver_ok(&r);
    virtq_desc(&rq, 0, bufs[5], 64, VRING_DESC_F_WRITE, 0);
    virtq_submit(&r, &rq, 0);
    struct vring_used_elem e = {0, 0};
    GUEST_ASSERT(virtq_wait(&rq, &e));
    rng_bytes = e.len;
  }
  if (param(BT_PARAM_CONSOLE)) {
    struct virtio_dev c;
    struct virtq rx, tx;
    GUEST_ASSERT_EQ(virtio_init(&c, param(BT_PARAM_CONSOLE),
                                VIRTIO_ID_CONSOLE, VIRTIO_F_VERSION_1), 0);
    virtq_setup(&c, &rx, 0, &qmem[1], QSIZE);
    virtq_setup(&c, &tx, 1, &qmem[3], QSIZE);
    virtio_driver_ok(&c);
    virtq_desc(&tx, 0, demo_text, sizeof(demo_text) - 1, 0, 0);
    virtq_submit(&c, &tx, 0);
    struct vring_used_elem e = {0, 0};
    GUEST_ASSERT(virtq_wait(&tx, &e));
    con_bytes = sizeof(demo_text) - 1;
  }
  GUEST_SYNC(BT_SYNC_DEMO, sum, (uintptr_t)id_buf, rng_bytes, con_bytes);
  return 0;
}

void guest_main(void) {
  ring3_init();
  switch (param(BT_PARAM_MODE)) {
  case BT_MODE_RW:
    ring3_call(rw_mode, 0);
    break;
  case BT_MODE_RO:
    ring3_call(ro_mode, 0);
    break;
  case BT_MODE_DEMO:
    ring3_call(demo_mode, 0);
    break;
  default:
    GUEST_ASSERT(0);
  }
  guest_done();
}
