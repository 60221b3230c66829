/* bench/guests/notify_guest.c — the notify benchmark's guest: one-byte
 * virtio-rng requests, one at a time, from ring 3 (this machine's KVM
 * emulates guest ring 0): publish, notify, poll the used ring. Over
 * virtio-pci the queue may have an MSI-X vector (NB_PARAM_MSIX): the
 * device then sends a message per completion; the guest runs with
 * interrupts disabled, so the message stays pending in its local APIC
 * and the guest still finds the completion by polling, but the host pays
 * for sending it, as it would for a guest that sleeps. */
#include "guest.h"
#include "notify_bench.h"
#include "ring3.h"
#include "virtio.h"
#include "virtio_pci.h"

void guest_main(void);

#define QSIZE 16
#define LAPIC 0xfee00000ull

static struct virtq_mem qmem __attribute__((aligned(4096)));
static struct virtq q;
static struct virtio_dev mdev;
static struct vpci_dev pdev;
static volatile void *notify_addr;
static bool pci;
static uint8_t byte_buf[64];

static void setup_pci(uint8_t devfn, bool msix) {
  uint8_t s = (uint8_t)(devfn >> 3);
  GUEST_ASSERT_EQ(vpci_probe(&pdev, s), 0);
  uint16_t vector = VPCI_NO_VECTOR;
  if (msix) {
    /* Entry 0: fixed delivery of NB_VECTOR to APIC 0, unmasked. */
    uintptr_t e = pdev.bar + pdev.msix_table;
    *(volatile uint32_t *)(e + 0) = (uint32_t)LAPIC;
    *(volatile uint32_t *)(e + 4) = 0;
    *(volatile uint32_t *)(e + 8) = NB_VECTOR;
    *(volatile uint32_t *)(e + 12) = 0;
    uint8_t ctl = (uint8_t)(pdev.msix_cap + 3);
    pci_write8(s, ctl, (uint8_t)(pci_read8(s, ctl) | 0x80));
    vector = 0;
  }
  GUEST_ASSERT_EQ(vpci_init(&pdev, VIRTIO_F_VERSION_1), 0);
  VCOMMON16(&pdev, VPCI_MSIX) = VPCI_NO_VECTOR;
  vpci_queue_setup(&pdev, &q, 0, &qmem, QSIZE, vector);
  if (msix)
    GUEST_ASSERT_EQ(VCOMMON16(&pdev, VPCI_Q_MSIX), 0);
  uint16_t noff = VCOMMON16(&pdev, VPCI_Q_NOFF);
  notify_addr = vpci_at(&pdev, pdev.notify + noff * pdev.notify_mult);
  vpci_driver_ok(&pdev);
}

static uint64_t bench(uint64_t unused) {
  (void)unused;
  pci = guest_param(NB_PARAM_PCI) != 0;
  if (pci) {
    setup_pci((uint8_t)guest_param(NB_PARAM_BASE),
              guest_param(NB_PARAM_MSIX) != 0);
  } else {
    GUEST_ASSERT_EQ(virtio_init(&mdev, guest_param(NB_PARAM_BASE),
                                VIRTIO_ID_RNG, VIRTIO_F_VERSION_1), 0);
    virtq_setup(&mdev, &q, 0, &qmem, QSIZE);
    notify_addr = (volatile void *)(mdev.base + VIRTIO_MMIO_QUEUE_NOTIFY);
    virtio_driver_ok(&mdev);
  }
  uint64_t rounds = guest_param(NB_PARAM_ROUNDS), n = guest_param(NB_PARAM_N);
  virtq_desc(&q, 0, byte_buf, 1, VRING_DESC_F_WRITE, 0);
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t bytes = 0, kicks_skipped = 0;
    GUEST_SYNC(NB_SYNC_START, r);
    for (uint64_t i = 0; i < n; i++) {
      uint16_t old = q.avail_idx;
      virtq_publish(&q, 0);
      if (!virtq_needs_kick(&q, old))
        kicks_skipped++;
      else if (pci)
        *(volatile uint16_t *)notify_addr = 0;
      else
        *(volatile uint32_t *)notify_addr = 0;
      struct vring_used_elem e = {0, 0};
      GUEST_ASSERT(virtq_wait(&q, &e));
      GUEST_ASSERT_EQ(e.id, 0);
      bytes += e.len;
    }
    GUEST_SYNC(NB_SYNC_END, r, bytes, kicks_skipped);
  }
  return 0;
}

void guest_main(void) {
  ring3_init();
  ring3_call(bench, 0);
  guest_done();
}
