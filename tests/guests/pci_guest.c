/* tests/guests/pci_guest.c — drives libvmm's PCI bus and a virtio-rng on
 * the virtio-pci transport: configuration space through 0xCF8/0xCFC, BAR
 * sizing and relocation, accesses that break the rules, a polled rng
 * read, and MSI-X interrupts with masking (pci_guest.h lists the modes).
 * Work in ring 0 is kept small: this machine's KVM emulates it. */
#include "guest.h"
#include "pci_guest.h"
#include "virtio.h"
#include "virtio_pci.h"

void guest_main(void);

#define U32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define U16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define QSIZE 16
#define BAR_SIZE 0x4000u

static struct virtq_mem qmem __attribute__((aligned(4096)));
static uint8_t rng_buf[PG_RNG_MAX] __attribute__((aligned(64)));

static uint64_t param(unsigned i) { return guest_param(i); }

static uint8_t rng_slot(void) { return (uint8_t)(param(PG_PARAM_DEVFN) >> 3); }

/* ---- configuration space ---------------------------------------------- */

static void check_host_bridge(void) {
  GUEST_ASSERT_EQ(pci_read16(0, 0x00), 0x8086);
  GUEST_ASSERT_EQ(pci_read16(0, 0x02), 0x29c0);
  GUEST_ASSERT_EQ(pci_read32(0, 0x08) >> 8, 0x060000);
  GUEST_ASSERT_EQ(pci_read8(0, 0x0e) & 0x7f, 0); /* header type 0 */
}

static void check_rng_config(uint8_t s) {
  GUEST_ASSERT_EQ(pci_find(PCI_VENDOR_VIRTIO, 0x1044), s);
  GUEST_ASSERT_EQ(pci_read8(s, 0x08), 1); /* revision 1: modern */
  GUEST_ASSERT_EQ(pci_read16(s, 0x2c), PCI_VENDOR_VIRTIO);
  GUEST_ASSERT(pci_read16(s, 0x2e) >= 0x40);
  GUEST_ASSERT(pci_read16(s, 0x06) & 0x10);      /* capability list */
  GUEST_ASSERT_EQ(pci_read16(s, 0x04) & 0x2, 0x2); /* memory decoding */
  GUEST_ASSERT_EQ(pci_read8(s, 0x3d), 1);           /* INTA# */
  /* The chain: common, notify, ISR, PCI_CFG, MSI-X; no device cfg (rng
   * has none). */
  GUEST_ASSERT(pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_COMMON));
  GUEST_ASSERT(pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_NOTIFY));
  GUEST_ASSERT(pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_ISR));
  GUEST_ASSERT(pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_PCI_CFG));
  GUEST_ASSERT_EQ(pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_DEVICE), 0);
  GUEST_ASSERT(pci_find_cap(s, PCI_CAP_MSIX, 0));
  /* Nobody at slot 31, function 1, or on bus 1: all-ones. */
  GUEST_ASSERT_EQ(pci_read32(31, 0), 0xffffffffu);
  outl(0xcf8, 0x80000000u | (uint32_t)s << 11 | 1u << 8);
  GUEST_ASSERT_EQ(inl(0xcfc), 0xffffffffu);
  outl(0xcf8, 0x80010000u);
  GUEST_ASSERT_EQ(inl(0xcfc), 0xffffffffu);
  outl(0xcf8, (uint32_t)s << 11); /* enable bit clear */
  GUEST_ASSERT_EQ(inl(0xcfc), 0xffffffffu);
}

static void check_bar_sizing(uint8_t s) {
  uint32_t orig = pci_read32(s, 0x10);
  GUEST_ASSERT(orig >= 0xe0000000u && (orig & 0xf) == 0);
  pci_write32(s, 0x10, 0xffffffffu);
  GUEST_ASSERT_EQ(pci_read32(s, 0x10), ~(BAR_SIZE - 1));
  pci_write32(s, 0x10, orig);
  GUEST_ASSERT_EQ(pci_read32(s, 0x10), orig);
  for (uint8_t b = 1; b < 6; b++) { /* unimplemented BARs stay 0 */
    pci_write32(s, (uint8_t)(0x10 + 4 * b), 0xffffffffu);
    GUEST_ASSERT_EQ(pci_read32(s, (uint8_t)(0x10 + 4 * b)), 0);
  }
}

/* Accesses that break the rules; each must leave the bus working. */
static void hostile_config(uint8_t s) {
  uint32_t id = pci_read32(s, 0);
  pci_write32(s, 0x00, 0x12345678u); /* read-only ids */
  GUEST_ASSERT_EQ(pci_read32(s, 0), id);
  pci_write32(s, 0xfc, 0xffffffffu); /* last dword: not writable */
  GUEST_ASSERT_EQ(pci_read32(s, 0xfc), 0);
  pci_write32(s, 0x08, 0xffffffffu); /* class/revision */
  GUEST_ASSERT_EQ(pci_read8(s, 0x08), 1);
  /* Odd sizes and offsets at 0xCFC-0xCFF. */
  outl(0xcf8, 0x80000000u | (uint32_t)s << 11);
  (void)inb(0xcfd);
  (void)inw(0xcfd);
  (void)inl(0xcfe);
  (void)inw(0xcff);
  outw(0xcfd, 0xffff);
  outl(0xcfe, 0xffffffffu);
  outb(0xcff, 0xff);
  GUEST_ASSERT_EQ(pci_read32(s, 0), id);
  /* 0xCF8 as a byte (the mechanism #2 probe) does not change the
   * address. */
  outl(0xcf8, 0x80000000u);
  outb(0xcf8, 0);
  outb(0xcfb, 0);
  GUEST_ASSERT_EQ(inl(0xcf8), 0x80000000u);
  GUEST_ASSERT_EQ(inw(0xcfc), 0x8086);
}

/* Moves the BAR to `to`; the device answers there and not at `from`. */
static void check_relocation(uint8_t s, struct vpci_dev *d, uint32_t to) {
  uint32_t from = (uint32_t)d->bar;
  GUEST_ASSERT_EQ(U16(from + d->common + VPCI_NUMQ), 1);
  pci_write32(s, 0x10, to);
  GUEST_ASSERT_EQ(pci_read32(s, 0x10), to);
  GUEST_ASSERT_EQ(U16(to + d->common + VPCI_NUMQ), 1);
  GUEST_ASSERT_EQ(U32(from + d->common + VPCI_NUMQ), 0xffffffffu);
  d->bar = to;
  /* Memory decoding off: nothing answers. */
  uint16_t cmd = pci_read16(s, 0x04);
  pci_write16(s, 0x04, (uint16_t)(cmd & ~2u));
  GUEST_ASSERT_EQ(U32(to + d->common + VPCI_NUMQ), 0xffffffffu);
  pci_write16(s, 0x04, cmd);
  GUEST_ASSERT_EQ(U16(to + d->common + VPCI_NUMQ), 1);
  /* Over guest RAM: refused, RAM stays RAM; the device is unmapped until
   * the BAR gets a usable address. */
  uint32_t ram = 0x300000, before = U32(ram);
  pci_write32(s, 0x10, ram);
  GUEST_ASSERT_EQ(U32(ram), before);
  GUEST_ASSERT_EQ(U32(to + d->common + VPCI_NUMQ), 0xffffffffu);
  /* Over the IOAPIC / LAPIC: refused too. */
  pci_write32(s, 0x10, 0xfec00000u);
  pci_write32(s, 0x10, 0xfee00000u);
  /* Garbage (low bits are read-only) */
  pci_write32(s, 0x10, 0x12345677u);
  GUEST_ASSERT_EQ(pci_read32(s, 0x10), 0x12344000u);
  pci_write32(s, 0x10, to);
  GUEST_ASSERT_EQ(U16(to + d->common + VPCI_NUMQ), 1);
}

static void check_cfg_window(uint8_t s, struct vpci_dev *d) {
  uint8_t c = pci_find_cap(s, PCI_CAP_VENDOR, VIRTIO_PCI_CAP_PCI_CFG);
  GUEST_ASSERT(c);
  pci_write8(s, (uint8_t)(c + 4), 0);
  pci_write32(s, (uint8_t)(c + 8), d->common + VPCI_NUMQ);
  pci_write32(s, (uint8_t)(c + 12), 2);
  GUEST_ASSERT_EQ(pci_read32(s, (uint8_t)(c + 16)) & 0xffff, 1);
  /* Nonsense lengths and offsets: nothing happens. */
  pci_write32(s, (uint8_t)(c + 12), 3);
  (void)pci_read32(s, (uint8_t)(c + 16));
  pci_write32(s, (uint8_t)(c + 8), 0xfffffffeu);
  pci_write32(s, (uint8_t)(c + 12), 4);
  pci_write32(s, (uint8_t)(c + 16), 0);
}

/* MSI-X table accesses out of range or of odd sizes: ignored. */
static void hostile_msix(struct vpci_dev *d) {
  uintptr_t t = d->bar + d->msix_table;
  U32(t + 16u * d->msix_size) = 0xffffffffu;
  U32(t + 0x3fc) = 0xffffffffu;
  *(volatile uint8_t *)(t + 1) = 0xff;
  *(volatile uint16_t *)(t + 2) = 0xffff;
  U32(d->bar + d->msix_pba) = 0xffffffffu; /* PBA is read-only */
  GUEST_ASSERT_EQ(U32(d->bar + d->msix_pba), 0);
}

static void rng_polled(uint8_t s) {
  struct vpci_dev d;
  struct virtq q;
  struct vring_used_elem e = {0, 0};
  GUEST_ASSERT_EQ(vpci_probe(&d, s), 0);
  check_cfg_window(s, &d);
  check_relocation(s, &d, (uint32_t)param(PG_PARAM_NEWBAR));
  hostile_msix(&d);
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_MSIX), VPCI_NO_VECTOR);
  GUEST_ASSERT_EQ(vpci_init(&d, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX), 0);
  GUEST_ASSERT(d.features & VIRTIO_F_VERSION_1);
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_NUMQ), 1);
  VCOMMON16(&d, VPCI_Q_SELECT) = 0;
  GUEST_ASSERT(VCOMMON16(&d, VPCI_Q_SIZE) >= QSIZE);
  vpci_queue_setup(&d, &q, 0, &qmem, QSIZE, VPCI_NO_VECTOR);
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_Q_ENABLE), 1);
  GUEST_ASSERT_EQ(VCOMMON32(&d, VPCI_Q_DESC), (uint32_t)(uintptr_t)qmem.desc);
  vpci_driver_ok(&d);
  GUEST_ASSERT(VCOMMON8(&d, VPCI_STATUS) & VIRTIO_STATUS_DRIVER_OK);
  uint32_t n = (uint32_t)param(PG_PARAM_COUNT);
  if (n > PG_RNG_MAX)
    n = PG_RNG_MAX;
  virtq_desc(&q, 0, rng_buf, n, VRING_DESC_F_WRITE, 0);
  vpci_submit(&d, &q, 0);
  GUEST_ASSERT(virtq_wait(&q, &e));
  GUEST_ASSERT_EQ(e.id, 0);
  /* INTx mode (MSI-X off): the ISR says why, and reading clears it. */
  uint8_t isr = VPCI8(&d, d.isr), isr2 = VPCI8(&d, d.isr);
  GUEST_SYNC(PG_SYNC_RNG, (uintptr_t)rng_buf, e.len, isr, isr2);
  VCOMMON8(&d, VPCI_STATUS) = 0;
}

/* ---- MSI-X ------------------------------------------------------------ */

#define LAPIC 0xfee00000ull
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0

struct idt_entry {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static volatile unsigned irqs, config_irqs, strays, intx_none, irqs2;
static volatile uint32_t isr_seen;
static struct vpci_dev intx_dev;

void queue_isr(void);
void queue2_isr(void);
void queue2_isr_entry(void);
void config_isr(void);
void stray_isr(void);
void intx_isr(void);
void intx_isr_entry(void);
void queue_isr_entry(void);
void config_isr_entry(void);
void stray_isr_entry(void);

#define ISR_STUB(name, fn)                                                    \
  __asm__(".text\n.globl " #name "\n" #name ":\n"                             \
          "push %rax\npush %rcx\npush %rdx\npush %rsi\npush %rdi\n"           \
          "push %r8\npush %r9\npush %r10\npush %r11\n"                        \
          "cld\ncall " #fn "\n"                                               \
          "pop %r11\npop %r10\npop %r9\npop %r8\n"                            \
          "pop %rdi\npop %rsi\npop %rdx\npop %rcx\npop %rax\n"                \
          "iretq\n")
ISR_STUB(queue_isr_entry, queue_isr);
ISR_STUB(queue2_isr_entry, queue2_isr);
ISR_STUB(config_isr_entry, config_isr);
ISR_STUB(stray_isr_entry, stray_isr);
ISR_STUB(intx_isr_entry, intx_isr);

/* Edge-triggered messages: nothing to acknowledge at the device. */
void queue_isr(void) {
  irqs++;
  U32(LAPIC + LAPIC_EOI) = 0;
}
void queue2_isr(void) {
  irqs2++;
  U32(LAPIC + LAPIC_EOI) = 0;
}
void config_isr(void) {
  config_irqs++;
  U32(LAPIC + LAPIC_EOI) = 0;
}
/* Level-triggered: reading the ISR acknowledges and drops the line. An
 * entry that finds no bit is counted apart (this machine's KVM may deliver
 * a level interrupt once more after the line went down). */
void intx_isr(void) {
  uint8_t isr = VPCI8(&intx_dev, intx_dev.isr);
  if (isr) {
    isr_seen |= isr;
    irqs++;
  } else {
    intx_none++;
  }
  U32(LAPIC + LAPIC_EOI) = 0;
}
void stray_isr(void) {
  strays++;
  U32(LAPIC + LAPIC_EOI) = 0;
}

static void set_gate(unsigned vec, void (*fn)(void)) {
  uint64_t a = (uint64_t)(uintptr_t)fn;
  idt[vec] = (struct idt_entry){
      .off0 = (uint16_t)a, .sel = 0x08, .ist = 0, .type = 0x8e,
      .off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32), .zero = 0};
}

static void idt_init(void) {
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  const struct idt_entry *old = (const struct idt_entry *)(uintptr_t)idtr.base;
  for (unsigned v = 0; v < 32; v++)
    idt[v] = old[v];
  for (unsigned v = 32; v < 256; v++)
    set_gate(v, stray_isr_entry);
  set_gate(PG_VEC_QUEUE, queue_isr_entry);
  set_gate(PG_VEC_QUEUE2, queue2_isr_entry);
  set_gate(PG_VEC_CONFIG, config_isr_entry);
  set_gate(PG_VEC_INTX, intx_isr_entry);
  idtr.limit = sizeof(idt) - 1;
  idtr.base = (uint64_t)(uintptr_t)idt;
  __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* Bounded ring-0 spin with interrupts on (not sti;hlt: see virtio_guest). */
static bool wait_irqs(unsigned n) {
  uint64_t t0 = rdtsc();
  bool ok = true;
  __asm__ volatile("sti" : : : "memory");
  while (irqs < n) {
    if (rdtsc() - t0 > VIRTIO_SPIN_CYCLES) {
      ok = false;
      break;
    }
    __asm__ volatile("pause" : : : "memory");
  }
  __asm__ volatile("cli" : : : "memory");
  return ok;
}

static void msix_entry(struct vpci_dev *d, unsigned i, uint32_t vector,
                       bool masked) {
  uintptr_t e = d->bar + d->msix_table + 16u * i;
  U32(e + 0) = (uint32_t)LAPIC; /* destination APIC 0 */
  U32(e + 4) = 0;
  U32(e + 8) = vector;          /* fixed, edge */
  U32(e + 12) = masked;
}

static void rng_msix(uint8_t s) {
  struct vpci_dev d;
  struct virtq q;
  struct vring_used_elem e;
  idt_init();
  outb(0x21, 0xff); /* the 8259s stay masked */
  outb(0xa1, 0xff);
  U32(LAPIC + LAPIC_TPR) = 0;
  U32(LAPIC + LAPIC_SVR) = 0x1ff;

  GUEST_ASSERT_EQ(vpci_probe(&d, s), 0);
  GUEST_ASSERT(d.msix_size >= 2);
  /* Entries are masked out of reset. */
  GUEST_ASSERT_EQ(U32(d.bar + d.msix_table + 12) & 1, 1);
  msix_entry(&d, 0, PG_VEC_CONFIG, false);
  msix_entry(&d, 1, PG_VEC_QUEUE, false);
  uint8_t ctl = (uint8_t)(d.msix_cap + 3);
  pci_write8(s, ctl, (uint8_t)(pci_read8(s, ctl) | 0x80)); /* enable */
  GUEST_ASSERT(pci_read16(s, (uint8_t)(d.msix_cap + 2)) & 0x8000);

  GUEST_ASSERT_EQ(vpci_init(&d, VIRTIO_F_VERSION_1), 0);
  VCOMMON16(&d, VPCI_MSIX) = 0;
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_MSIX), 0);
  VCOMMON16(&d, VPCI_MSIX) = 0x7ff; /* beyond the table: NO_VECTOR */
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_MSIX), VPCI_NO_VECTOR);
  VCOMMON16(&d, VPCI_MSIX) = 0;
  vpci_queue_setup(&d, &q, 0, &qmem, QSIZE, 1);
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_Q_MSIX), 1);
  vpci_driver_ok(&d);

  for (unsigned i = 0; i < 3; i++) {
    virtq_desc(&q, (uint16_t)i, rng_buf + 16 * i, 16, VRING_DESC_F_WRITE, 0);
    vpci_submit(&d, &q, (uint16_t)i);
    GUEST_ASSERT(wait_irqs(i + 1));
    GUEST_ASSERT(virtq_poll(&q, &e));
    GUEST_ASSERT_EQ(e.id, i);
  }
  /* Masked: no message, the pending bit instead; unmasking sends it. */
  U32(d.bar + d.msix_table + 16 + 12) = 1;
  virtq_desc(&q, 3, rng_buf, 16, VRING_DESC_F_WRITE, 0);
  vpci_submit(&d, &q, 3);
  GUEST_ASSERT(virtq_wait(&q, &e));
  uint32_t pba = 0;
  uint64_t t0 = rdtsc();
  while (!((pba = U32(d.bar + d.msix_pba)) & 2))
    GUEST_ASSERT(rdtsc() - t0 < VIRTIO_SPIN_CYCLES);
  __asm__ volatile("sti; nop; nop; cli" : : : "memory");
  GUEST_ASSERT_EQ(irqs, 3);
  U32(d.bar + d.msix_table + 16 + 12) = 0;
  GUEST_ASSERT(wait_irqs(4));
  GUEST_ASSERT_EQ(U32(d.bar + d.msix_pba) & 2, 0);
  /* Reprogrammed (masked while it changes): the next message carries the
   * new vector (with irqfds, the route behind the vector follows). */
  U32(d.bar + d.msix_table + 16 + 12) = 1;
  U32(d.bar + d.msix_table + 16 + 8) = PG_VEC_QUEUE2;
  U32(d.bar + d.msix_table + 16 + 12) = 0;
  virtq_desc(&q, 4, rng_buf, 16, VRING_DESC_F_WRITE, 0);
  vpci_submit(&d, &q, 4);
  GUEST_ASSERT(virtq_wait(&q, &e));
  t0 = rdtsc();
  __asm__ volatile("sti" : : : "memory");
  while (irqs2 == 0 && rdtsc() - t0 < VIRTIO_SPIN_CYCLES)
    __asm__ volatile("pause" : : : "memory");
  __asm__ volatile("cli" : : : "memory");
  GUEST_SYNC(PG_SYNC_MSIX, irqs, strays, pba, irqs2);
  VCOMMON8(&d, VPCI_STATUS) = 0;
}

static void ioapic_write(uint32_t reg, uint32_t v) {
  U32(0xfec00000ull) = reg;
  U32(0xfec00010ull) = v;
}

static void rng_intx(uint8_t s) {
  struct vpci_dev *d = &intx_dev;
  struct virtq q;
  struct vring_used_elem e;
  idt_init();
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  U32(LAPIC + LAPIC_TPR) = 0;
  U32(LAPIC + LAPIC_SVR) = 0x1ff;
  GUEST_ASSERT_EQ(vpci_probe(d, s), 0);
  /* The line libvmm wired the pin to, as firmware would have found it. */
  uint32_t gsi = pci_read8(s, 0x3c);
  GUEST_ASSERT(gsi > 0 && gsi < 24);
  ioapic_write(0x10 + 2 * gsi + 1, 0);
  ioapic_write(0x10 + 2 * gsi, PG_VEC_INTX | 1u << 15); /* level */
  GUEST_ASSERT_EQ(vpci_init(d, VIRTIO_F_VERSION_1), 0);
  vpci_queue_setup(d, &q, 0, &qmem, QSIZE, VPCI_NO_VECTOR);
  vpci_driver_ok(d);
  for (unsigned i = 0; i < 3; i++) {
    virtq_desc(&q, (uint16_t)i, rng_buf + 16 * i, 16, VRING_DESC_F_WRITE, 0);
    vpci_submit(d, &q, (uint16_t)i);
    GUEST_ASSERT(wait_irqs(i + 1));
    GUEST_ASSERT(virtq_poll(&q, &e));
  }
  ioapic_write(0x10 + 2 * gsi, 1u << 16); /* masked again */
  GUEST_SYNC(PG_SYNC_INTX, irqs, isr_seen, gsi);
  VCOMMON8(d, VPCI_STATUS) = 0;
}

/* ---- virtio-console ---------------------------------------------------- */

#define CON_BUFS 4
#define CON_BUF_SIZE 64
static struct virtq_mem con_qmem[2] __attribute__((aligned(4096)));
static uint8_t con_rx[CON_BUFS][CON_BUF_SIZE], con_tx[CON_BUFS][CON_BUF_SIZE];

static bool wait_used(struct virtq *q, struct vring_used_elem *e) {
  return virtq_wait(q, e);
}

static void console_echo(uint8_t s) {
  struct vpci_dev d;
  struct virtq rx, tx;
  uint64_t n = param(PG_PARAM_COUNT);
  GUEST_ASSERT_EQ(vpci_probe(&d, s), 0);
  GUEST_ASSERT(d.device != 0); /* the console has a configuration */
  GUEST_ASSERT_EQ(vpci_init(&d, VIRTIO_F_VERSION_1), 0);
  GUEST_ASSERT_EQ(VCOMMON16(&d, VPCI_NUMQ), 2);
  GUEST_ASSERT_EQ(VPCI16(&d, d.device), 0); /* cols */
  GUEST_ASSERT_EQ(VPCI32(&d, d.device + 4), 0); /* max_nr_ports */
  vpci_queue_setup(&d, &rx, 0, &con_qmem[0], QSIZE, VPCI_NO_VECTOR);
  vpci_queue_setup(&d, &tx, 1, &con_qmem[1], QSIZE, VPCI_NO_VECTOR);
  for (uint16_t i = 0; i < CON_BUFS; i++) {
    virtq_desc(&rx, i, con_rx[i], CON_BUF_SIZE, VRING_DESC_F_WRITE, 0);
    virtq_publish(&rx, i);
  }
  vpci_driver_ok(&d);
  GUEST_SYNC(PG_SYNC_READY);
  uint64_t echoed = 0, sum = 0;
  while (echoed < n) {
    struct vring_used_elem e = {0, 0}, t = {0, 0};
    GUEST_ASSERT(wait_used(&rx, &e));
    GUEST_ASSERT(e.id < CON_BUFS && e.len <= CON_BUF_SIZE);
    uint16_t id = (uint16_t)e.id;
    for (uint32_t i = 0; i < e.len; i++) {
      con_tx[id][i] = con_rx[id][i];
      sum = sum * 31 + con_rx[id][i];
    }
    echoed += e.len;
    virtq_desc(&tx, id, con_tx[id], e.len, 0, 0);
    vpci_submit(&d, &tx, id);
    GUEST_ASSERT(wait_used(&tx, &t));
    GUEST_ASSERT_EQ(t.id, id);
    vpci_submit(&d, &rx, id);
  }
  GUEST_SYNC(PG_SYNC_ECHOED, echoed, sum);
  VCOMMON8(&d, VPCI_STATUS) = 0;
}

void guest_main(void) {
  uint8_t s = rng_slot();
  check_host_bridge();
  switch (param(PG_PARAM_MODE)) {
  case PG_MODE_CONFIG:
    check_rng_config(s);
    check_bar_sizing(s);
    hostile_config(s);
    rng_polled(s);
    break;
  case PG_MODE_MSIX:
    rng_msix(s);
    break;
  case PG_MODE_INTX:
    rng_intx(s);
    break;
  case PG_MODE_CONSOLE:
    console_echo(s);
    break;
  default:
    GUEST_ASSERT(0);
  }
  guest_done();
}
