/* tests/guests/net_guest.c — drives libvmm's virtio-net over virtio-mmio:
 * configuration space, an exchange of checksummed frames with a peer (a
 * second VM or the host test), and drivers that break the rules on purpose
 * (net_guest.h lists the modes). Polling runs in ring 3. */
#include "guest.h"
#include "ring3.h"
#include "virtio.h"
#include "virtio_pci.h"
#include "net_guest.h"

void guest_main(void);

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_STATUS (1ull << 16)

#define QSIZE 32
#define RXQ 0
#define TXQ 1
#define RX_BUF 2048
#define TX_BUF 1600

static struct virtq_mem qmem[2] __attribute__((aligned(4096)));
static uint8_t rxbufs[QSIZE][RX_BUF] __attribute__((aligned(64)));
static uint8_t txbufs[QSIZE][TX_BUF] __attribute__((aligned(64)));
static uint8_t big[NG_HDR_LEN + NG_BIG] __attribute__((aligned(64)));

static struct virtio_dev dev;
static struct vpci_dev pdev; /* NG_PARAM_PCI: the device on virtio-pci */
static bool pci;
static struct virtq rxq, txq;
static uint8_t mac[6];

static uint64_t param(unsigned i) { return guest_param(i); }

static void progress(uint64_t step) {
  guest_set_status(step);
  ((volatile uint64_t *)(uintptr_t)GUEST_STATUS_GPA)[1] = (uintptr_t)qmem;
}

static uint64_t wanted_features(void) {
  uint64_t f = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS;
  if (param(NG_PARAM_FLAGS) & 1)
    f |= VIRTIO_F_EVENT_IDX;
  if (param(NG_PARAM_FLAGS) & 2)
    f |= VIRTIO_F_INDIRECT_DESC;
  return f;
}

/* The device's configuration space. */
static volatile uint8_t *config(void) {
  return pci ? (volatile uint8_t *)vpci_at(&pdev, pdev.device)
             : (volatile uint8_t *)(dev.base + VIRTIO_MMIO_CONFIG);
}

static uint32_t status_read(void) {
  return pci ? VCOMMON8(&pdev, VPCI_STATUS)
             : vio_read(&dev, VIRTIO_MMIO_STATUS);
}

static uint32_t wait_status(uint32_t mask) {
  uint64_t t0 = rdtsc();
  uint32_t s;
  while (!((s = status_read()) & mask) && rdtsc() - t0 < VIRTIO_SPIN_CYCLES)
    __asm__ volatile("pause");
  return s;
}

static void submit(struct virtq *q, uint16_t head) {
  if (pci)
    vpci_submit(&pdev, q, head);
  else
    virtq_submit(&dev, q, head);
}

/* Brings the device up with both queues; reads the MAC. */
static void net_up(void) {
  pci = param(NG_PARAM_PCI) != 0;
  if (pci) {
    /* NG_PARAM_BASE is the devfn. */
    GUEST_ASSERT_EQ(vpci_probe(&pdev, (uint8_t)(param(NG_PARAM_BASE) >> 3)),
                    0);
    GUEST_ASSERT_EQ(vpci_init(&pdev, wanted_features()), 0);
    vpci_queue_setup(&pdev, &rxq, RXQ, &qmem[0], QSIZE, VPCI_NO_VECTOR);
    vpci_queue_setup(&pdev, &txq, TXQ, &qmem[1], QSIZE, VPCI_NO_VECTOR);
    vpci_driver_ok(&pdev);
    dev.features = pdev.features;
  } else {
    GUEST_ASSERT_EQ(virtio_init(&dev, param(NG_PARAM_BASE), VIRTIO_ID_NET,
                                wanted_features()),
                    0);
    virtq_setup(&dev, &rxq, RXQ, &qmem[0], QSIZE);
    virtq_setup(&dev, &txq, TXQ, &qmem[1], QSIZE);
    virtio_driver_ok(&dev);
  }
  for (int i = 0; i < 6; i++)
    mac[i] = config()[i];
}

static void post_rx(uint16_t i, uint32_t len, uint16_t flags) {
  virtq_desc(&rxq, i, rxbufs[i], len, flags, 0);
  submit(&rxq, i);
  if (rxq.event_idx)
    virtq_set_used_event(&rxq, rxq.last_used);
}

static void send_frame(uint16_t slot, uint8_t *buf, uint32_t len) {
  virtq_desc(&txq, slot, buf, len, 0, 0);
  submit(&txq, slot);
}

/* ---- exchange ---------------------------------------------------------- */

static uint64_t exchange_mode(uint64_t unused) {
  (void)unused;
  uint32_t n = (uint32_t)param(NG_PARAM_COUNT);
  uint8_t id = (uint8_t)param(NG_PARAM_ID), peer = (uint8_t)param(NG_PARAM_PEER);
  net_up();
  uint64_t m = 0;
  for (int i = 0; i < 6; i++)
    m |= (uint64_t)mac[i] << (8 * i);
  uint16_t status = (uint16_t)(config()[6] | config()[7] << 8);
  GUEST_SYNC(NG_SYNC_CONFIG, m, status, dev.features);
  for (uint16_t i = 0; i < QSIZE; i++)
    post_rx(i, RX_BUF, VRING_DESC_F_WRITE);
  GUEST_SYNC(NG_SYNC_READY);

  uint16_t free_slots[QSIZE];
  unsigned n_free = QSIZE;
  for (unsigned i = 0; i < QSIZE; i++)
    free_slots[i] = (uint16_t)i;
  uint32_t sent = 0, recvd = 0, bad = 0, foreign = 0, done_tx = 0;
  uint64_t t0 = rdtsc();
  while (sent < n || recvd < n || done_tx < sent) {
    bool moved = false;
    /* The first frame is a hello: the rest waits for the peer's, so both
     * sides have their receive buffers posted. */
    if (sent < n && n_free && (sent == 0 || recvd > 0)) {
      uint16_t s = free_slots[--n_free];
      for (int i = 0; i < NG_HDR_LEN; i++)
        txbufs[s][i] = 0;
      uint32_t len = ng_build(txbufs[s] + NG_HDR_LEN, mac, id, sent);
      send_frame(s, txbufs[s], NG_HDR_LEN + len);
      sent++;
      moved = true;
    }
    struct vring_used_elem e;
    if (virtq_poll(&txq, &e)) {
      GUEST_ASSERT(e.id < QSIZE);
      free_slots[n_free++] = (uint16_t)e.id;
      done_tx++;
      if (txq.event_idx)
        virtq_set_used_event(&txq, txq.last_used);
      moved = true;
    }
    if (virtq_poll(&rxq, &e)) {
      GUEST_ASSERT(e.id < QSIZE);
      GUEST_ASSERT(e.len >= NG_HDR_LEN && e.len <= RX_BUF);
      const uint8_t *h = rxbufs[e.id];
      /* flags 0, gso_type NONE, num_buffers 1 */
      if (h[0] != 0 || h[1] != 0 || h[10] != 1 || h[11] != 0)
        bad++;
      uint8_t fid;
      uint32_t seq;
      int r = ng_check(h + NG_HDR_LEN, e.len - NG_HDR_LEN, &fid, &seq);
      if (r == 0)
        foreign++;
      else if (r < 0 || fid != peer || seq != recvd)
        bad++, recvd++;
      else
        recvd++;
      post_rx((uint16_t)e.id, RX_BUF, VRING_DESC_F_WRITE);
      moved = true;
    }
    if (moved)
      t0 = rdtsc();
    else if (rdtsc() - t0 > VIRTIO_SPIN_CYCLES)
      break;
    progress(0x1000000ull | (uint64_t)recvd << 12 | sent);
  }
  GUEST_SYNC(NG_SYNC_DONE, sent, recvd, bad, foreign, done_tx);
  return 0;
}

/* ---- rule breakers ------------------------------------------------------ */

static uint32_t wait_tx_used(void) {
  struct vring_used_elem e = {0, 0};
  GUEST_ASSERT(virtq_wait(&txq, &e));
  if (txq.event_idx)
    virtq_set_used_event(&txq, txq.last_used);
  return e.len;
}

static uint64_t bad_mode(uint64_t unused) {
  (void)unused;
  uint64_t c = param(NG_PARAM_CASE);
  uint8_t id = (uint8_t)param(NG_PARAM_ID);
  net_up();
  uint32_t status = 0, used_len = 0xffffffffu;
  bool fails = c == NG_BAD_TX_WRITABLE || c == NG_BAD_RX_READONLY ||
               c == NG_BAD_RX_TINY;
  for (int i = 0; i < NG_HDR_LEN; i++)
    txbufs[0][i] = 0;
  uint32_t len = ng_build(txbufs[0] + NG_HDR_LEN, mac, id, 0);
  switch (c) {
  case NG_BAD_SHORT_HDR:
    send_frame(0, txbufs[0], 8);
    used_len = wait_tx_used();
    break;
  case NG_BAD_OVERSIZE:
    for (uint32_t i = 0; i < NG_HDR_LEN + NG_BIG; i++)
      big[i] = (uint8_t)(i < NG_HDR_LEN ? 0 : i);
    send_frame(0, big, NG_HDR_LEN + NG_BIG);
    used_len = wait_tx_used();
    break;
  case NG_BAD_HDR_FLAGS:
    txbufs[0][0] = 1; /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
    send_frame(0, txbufs[0], NG_HDR_LEN + len);
    used_len = wait_tx_used();
    txbufs[0][0] = 0;
    break;
  case NG_BAD_TX_WRITABLE:
    virtq_desc(&txq, 0, txbufs[0], NG_HDR_LEN + len, VRING_DESC_F_WRITE, 0);
    submit(&txq, 0);
    break;
  case NG_BAD_RX_READONLY:
  case NG_BAD_RX_TINY:
    post_rx(0, c == NG_BAD_RX_TINY ? 4 : RX_BUF,
            c == NG_BAD_RX_TINY ? VRING_DESC_F_WRITE : 0);
    GUEST_SYNC(NG_SYNC_READY);
    break;
  default:
    GUEST_ASSERT(0);
  }
  if (fails)
    status = wait_status(VIRTIO_STATUS_NEEDS_RESET);
  else
    status = status_read();
  GUEST_SYNC(NG_SYNC_BAD, c, status, used_len);
  /* Back in service (after a reset where the device failed): one good
   * frame goes out. */
  if (fails)
    net_up();
  if (c == NG_BAD_RX_READONLY || c == NG_BAD_RX_TINY) {
    /* The receive side works again too: the host's next frame arrives. */
    post_rx(1, RX_BUF, VRING_DESC_F_WRITE);
    GUEST_SYNC(NG_SYNC_READY);
    struct vring_used_elem e = {0, 0};
    GUEST_ASSERT(virtq_wait(&rxq, &e));
    GUEST_ASSERT_EQ(e.id, 1);
    GUEST_ASSERT(e.len > NG_HDR_LEN);
    uint8_t fid = 0;
    uint32_t seq = 1;
    GUEST_ASSERT_EQ(ng_check(rxbufs[1] + NG_HDR_LEN, e.len - NG_HDR_LEN, &fid,
                             &seq),
                    1);
    GUEST_ASSERT_EQ(fid, param(NG_PARAM_PEER));
    GUEST_ASSERT_EQ(seq, 0);
  }
  send_frame(1, txbufs[0], NG_HDR_LEN + len);
  used_len = wait_tx_used();
  GUEST_SYNC(NG_SYNC_DONE, status_read(), used_len);
  return 0;
}

/* ---- link status ---------------------------------------------------- */

static uint64_t link_mode(uint64_t unused) {
  (void)unused;
  net_up();
  for (uint16_t i = 0; i < 4; i++)
    post_rx(i, RX_BUF, VRING_DESC_F_WRITE);
  uint32_t before = config()[6] | config()[7] << 8;
  GUEST_SYNC(NG_SYNC_READY);
  uint64_t t0 = rdtsc();
  uint32_t after;
  while (((after = config()[6] | config()[7] << 8) & 1) &&
         rdtsc() - t0 < VIRTIO_SPIN_CYCLES)
    __asm__ volatile("pause");
  GUEST_SYNC(NG_SYNC_LINK, before, after);
  return 0;
}

/* LINK_TX: frames go out one at a time while the guest waits for the link
 * to drop, so the device meets a back-end that is gone on its transmit
 * path too (a deleted tap fails writes). */
static uint64_t link_tx_mode(uint64_t unused) {
  (void)unused;
  net_up();
  for (uint16_t i = 0; i < 4; i++)
    post_rx(i, RX_BUF, VRING_DESC_F_WRITE);
  uint32_t before = config()[6] | config()[7] << 8;
  GUEST_SYNC(NG_SYNC_READY);
  uint8_t id = (uint8_t)param(NG_PARAM_ID);
  uint64_t t0 = rdtsc();
  uint32_t after, seq = 0;
  while (((after = config()[6] | config()[7] << 8) & 1) &&
         rdtsc() - t0 < VIRTIO_SPIN_CYCLES) {
    memset(txbufs[0], 0, NG_HDR_LEN);
    uint32_t len = ng_build(txbufs[0] + NG_HDR_LEN, mac, id, seq++);
    virtq_desc(&txq, 0, txbufs[0], NG_HDR_LEN + len, 0, 0);
    submit(&txq, 0);
    struct vring_used_elem e = {0, 0};
    if (!virtq_wait(&txq, &e))
      break;
  }
  GUEST_SYNC(NG_SYNC_LINK, before, after, seq);
  return 0;
}

void guest_main(void) {
  progress(param(NG_PARAM_MODE) << 4);
  ring3_init();
  switch (param(NG_PARAM_MODE)) {
  case NG_MODE_EXCHANGE:
    ring3_call(exchange_mode, 0);
    break;
  case NG_MODE_BAD:
    ring3_call(bad_mode, 0);
    break;
  case NG_MODE_LINK:
    ring3_call(link_mode, 0);
    break;
  case NG_MODE_LINK_TX:
    ring3_call(link_tx_mode, 0);
    break;
  default:
    GUEST_ASSERT(0);
  }
  guest_done();
}
