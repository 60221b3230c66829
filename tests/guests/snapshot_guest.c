/* tests/guests/snapshot_guest.c — runs forever for the snapshot tests:
 * counts in memory, and every SG_TICK_COUNTS counts writes a record to a
 * virtio-blk disk and a line to the UART (snapshot_guest.h). A snapshot
 * taken anywhere in this and restored in another process must go on with
 * the next count, record and line. Ring 3, polling. */
#include "guest.h"
#include "ring3.h"
#include "snapshot_guest.h"
#include "virtio.h"
#include "virtio_pci.h"

void guest_main(void);

#define VIRTIO_ID_BLOCK 2
#define T_OUT 1
#define QSIZE 8

struct blk_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

static struct virtq_mem qmem __attribute__((aligned(4096)));
static struct vpci_dev pdev;
static bool pci;
static struct blk_hdr hdr;
static struct sg_record rec __attribute__((aligned(512)));
static volatile uint8_t status;

static void uart_puts(const char *s) {
  for (; *s; s++)
    outb(0x3f8, (uint8_t)*s); /* THR: the UART sends at once */
}

static void write_record(struct virtio_dev *d, struct virtq *q,
                         uint64_t tick, uint64_t counter) {
  rec.magic = SG_MAGIC;
  rec.tick = tick;
  rec.counter = counter;
  for (unsigned i = 0; i < sizeof(rec.fill); i++)
    rec.fill[i] = sg_fill(tick, i);
  hdr.type = T_OUT;
  hdr.reserved = 0;
  hdr.sector = tick % SG_SECTORS;
  status = 0xee;
  virtq_desc(q, 0, &hdr, sizeof(hdr), VRING_DESC_F_NEXT, 1);
  virtq_desc(q, 1, &rec, sizeof(rec), VRING_DESC_F_NEXT, 2);
  virtq_desc(q, 2, (const void *)&status, 1, VRING_DESC_F_WRITE, 0);
  if (pci)
    vpci_submit(&pdev, q, 0);
  else
    virtq_submit(d, q, 0);
  struct vring_used_elem e = {0, 0};
  GUEST_ASSERT(virtq_wait(q, &e));
  GUEST_ASSERT_EQ(status, 0);
}

static uint64_t run(uint64_t unused) {
  (void)unused;
  volatile uint64_t *counter = (volatile uint64_t *)(uintptr_t)SG_COUNTER_GPA;
  volatile uint64_t *ticks = (volatile uint64_t *)(uintptr_t)SG_TICK_GPA;
  uintptr_t base = (uintptr_t)guest_param(SG_PARAM_BLK);
  struct virtio_dev d;
  struct virtq q;
  pci = guest_param(SG_PARAM_PCI) != 0;
  volatile uint32_t *msix = 0;
  if (base && pci) {
    GUEST_ASSERT_EQ(vpci_probe(&pdev, (uint8_t)(base >> 3)), 0);
    GUEST_ASSERT_EQ(vpci_init(&pdev, VIRTIO_F_VERSION_1), 0);
    vpci_queue_setup(&pdev, &q, 0, &qmem, QSIZE, VPCI_NO_VECTOR);
    vpci_driver_ok(&pdev);
    msix = (volatile uint32_t *)vpci_at(&pdev, pdev.msix_table);
    msix[0] = SG_MSIX_ADDR;
    msix[1] = 0;
    msix[2] = SG_MSIX_DATA;
    msix[3] = 1; /* masked */
  } else if (base) {
    GUEST_ASSERT_EQ(virtio_init(&d, base, VIRTIO_ID_BLOCK,
                                VIRTIO_F_VERSION_1), 0);
    virtq_setup(&d, &q, 0, &qmem, QSIZE);
    virtio_driver_ok(&d);
  }
  for (;;) {
    for (uint32_t i = 0; i < SG_TICK_COUNTS; i++)
      *counter += 1;
    uint64_t tick = *ticks + 1;
    if (msix) {
      GUEST_ASSERT_EQ(msix[0], SG_MSIX_ADDR);
      GUEST_ASSERT_EQ(msix[2], SG_MSIX_DATA);
      GUEST_ASSERT_EQ(msix[3], 1);
    }
    if (base) {
      write_record(&d, &q, tick, *counter);
      char line[32];
      guest_snprintf(line, sizeof(line), "tick %lu\n", (unsigned long)tick);
      uart_puts(line);
    }
    *ticks = tick;
  }
  return 0;
}

void guest_main(void) {
  ring3_init();
  ring3_call(run, 0);
  guest_done();
}
