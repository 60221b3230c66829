/* tests/guests/fault_guest.c — rounds of disk I/O on a virtio-blk device
 * (virtio-mmio) that go on whatever a request's status: the guest of the
 * fault tests (tests/integration/fault_test.c), which break the host side
 * between rounds and look at what the guest saw. Polling runs in ring 3. */
#include "fault_guest.h"
#include "guest.h"
#include "ring3.h"
#include "virtio.h"

void guest_main(void);

#define VIRTIO_ID_BLOCK 2
#define BLK_F_FLUSH (1ull << 9)
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define S_NONE 0xee
#define QSIZE 8
#define SECTOR 512
#define LEN (FG_SECTORS * SECTOR)

struct blk_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

static struct virtq_mem qmem __attribute__((aligned(4096)));
static struct blk_hdr hdr;
static volatile uint8_t status;
static uint8_t host_buf[LEN] __attribute__((aligned(64)));
static uint8_t out_buf[LEN] __attribute__((aligned(64)));
static uint8_t back_buf[LEN] __attribute__((aligned(64)));

/* One request (header, optional data, status byte); its status, or 0xff
 * when the device never answered. */
static uint8_t request(struct virtio_dev *d, struct virtq *q, uint32_t type,
                       uint64_t sector, void *data, uint32_t len,
                       bool device_writes) {
  hdr.type = type;
  hdr.reserved = 0;
  hdr.sector = sector;
  status = S_NONE;
  uint16_t n = 0;
  virtq_desc(q, n, &hdr, sizeof(hdr), VRING_DESC_F_NEXT, (uint16_t)(n + 1));
  n++;
  if (len) {
    virtq_desc(q, n, data, len,
               VRING_DESC_F_NEXT | (device_writes ? VRING_DESC_F_WRITE : 0),
               (uint16_t)(n + 1));
    n++;
  }
  virtq_desc(q, n, (const void *)&status, 1, VRING_DESC_F_WRITE, 0);
  virtq_submit(d, q, 0);
  struct vring_used_elem e = {0, 0};
  if (!virtq_wait(q, &e))
    return 0xff;
  GUEST_ASSERT_EQ(e.id, 0);
  return status;
}

static uint64_t rounds(uint64_t unused) {
  (void)unused;
  struct virtio_dev d;
  struct virtq q;
  GUEST_ASSERT_EQ(virtio_init(&d, guest_param(FG_PARAM_BASE),
                              VIRTIO_ID_BLOCK,
                              VIRTIO_F_VERSION_1 | BLK_F_FLUSH), 0);
  GUEST_ASSERT(d.features & BLK_F_FLUSH);
  virtq_setup(&d, &q, 0, &qmem, QSIZE);
  virtio_driver_ok(&d);
  uint64_t n = guest_param(FG_PARAM_ROUNDS);
  for (uint64_t r = 0; r < n; r++) {
    GUEST_SYNC(FG_SYNC_BEFORE, r);
    memset(host_buf, 0, LEN);
    uint64_t st = request(&d, &q, T_IN, 0, host_buf, LEN, true);
    for (uint32_t i = 0; i < LEN; i++)
      out_buf[i] = fg_pattern(i, r);
    st |= (uint64_t)request(&d, &q, T_OUT, fg_sector(r), out_buf, LEN,
                            false) << 8;
    st |= (uint64_t)request(&d, &q, T_FLUSH, 0, 0, 0, false) << 16;
    memset(back_buf, 0, LEN);
    st |= (uint64_t)request(&d, &q, T_IN, fg_sector(r), back_buf, LEN, true)
          << 24;
    GUEST_SYNC(FG_SYNC_RESULT, r, st, memcmp(back_buf, out_buf, LEN) == 0,
               fg_sum(host_buf, LEN));
  }
  return 0;
}

void guest_main(void) {
  ring3_init();
  ring3_call(rounds, 0);
  guest_done();
}
