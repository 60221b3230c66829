/* tests/guests/devices.c — drives libvmm's emulated devices from inside:
 * the 16550A UART (polled and by interrupt), debug-exit, the i8042 reset
 * line and the CMOS clock, plus a misbehaving-guest mode. The mode and
 * the way out come from the host's parameters (devices.h). */
#include "devices.h"
#include "guest.h"
#include "ring3.h"

void guest_main(void);

/* ---- UART --------------------------------------------------------------- */

#define COM DEV_UART_PORT
#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static void uart_init(void) {
  outb(COM + LCR, 0x80); /* DLAB */
  outb(COM + DLL, 0x01); /* 115200 baud */
  outb(COM + DLM, 0x00);
  outb(COM + LCR, 0x03); /* 8N1 */
  outb(COM + FCR, 0xc7); /* FIFOs on and cleared, trigger 14 */
  outb(COM + MCR, 0x0b); /* DTR, RTS, OUT2 */
  outb(COM + IER, 0x00);
}

static void uart_putc(char c) {
  while (!(inb(COM + LSR) & 0x20))
    ;
  outb(COM + THR, (uint8_t)c);
}

static void uart_puts(const char *s) {
  while (*s)
    uart_putc(*s++);
}

static uint8_t uart_getc(void) {
  while (!(inb(COM + LSR) & 0x01))
    ;
  return inb(COM + RBR);
}

/* The registers read back as a 16550A's should. */
static void uart_check_registers(void) {
  outb(COM + LCR, 0x83);
  GUEST_ASSERT_EQ(inb(COM + DLL), 0x01);
  GUEST_ASSERT_EQ(inb(COM + DLM), 0x00);
  outb(COM + DLL, 0x34);
  outb(COM + DLM, 0x12);
  GUEST_ASSERT_EQ(inw(COM + DLL), 0x1234); /* two byte accesses */
  outb(COM + DLL, 0x01);
  outb(COM + DLM, 0x00);
  outb(COM + LCR, 0x03);
  GUEST_ASSERT_EQ(inb(COM + LCR), 0x03);
  GUEST_ASSERT_EQ(inb(COM + IER), 0x00);
  GUEST_ASSERT_EQ(inb(COM + IIR), 0xc1); /* FIFOs on, nothing pending */
  GUEST_ASSERT_EQ(inb(COM + LSR), 0x60); /* THR and transmitter empty */
  GUEST_ASSERT_EQ(inb(COM + MCR), 0x0b);
  GUEST_ASSERT_EQ(inb(COM + MSR) & 0xf0, 0xb0); /* DCD, DSR, CTS */
  outb(COM + SCR, 0x5a);
  GUEST_ASSERT_EQ(inb(COM + SCR), 0x5a);

  /* THRE interrupt: enabling it with THR empty raises it; reading IIR
   * clears it; a THR write raises it again. */
  outb(COM + IER, 0x02);
  GUEST_ASSERT_EQ(inb(COM + IIR), 0xc2);
  GUEST_ASSERT_EQ(inb(COM + IIR), 0xc1);
  outb(COM + IER, 0x00);

  /* Loopback: what is sent comes back, and MCR drives MSR. */
  outb(COM + MCR, 0x10 | 0x0f);
  inb(COM + MSR); /* clear the deltas */
  outb(COM + THR, 'L');
  GUEST_ASSERT_EQ(inb(COM + LSR) & 0x01, 0x01);
  GUEST_ASSERT_EQ(inb(COM + RBR), 'L');
  GUEST_ASSERT_EQ(inb(COM + MSR) & 0xf0, 0xf0);
  outb(COM + MCR, 0x10); /* all lines low: deltas, RI trailing edge */
  GUEST_ASSERT_EQ(inb(COM + MSR), 0x0f);
  GUEST_ASSERT_EQ(inb(COM + MSR), 0x00);
  outb(COM + MCR, 0x0b);
}

static uint64_t echo(uint64_t n) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint8_t c = uart_getc();
    sum = sum * 31 + c;
    uart_putc((char)c);
  }
  return sum;
}

/* ---- interrupts: legacy PIC, an IDT with one more vector --------------- */

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define N_VECTORS 64

struct idt_entry {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, zero;
} __attribute__((packed));

static struct idt_entry idt[N_VECTORS] __attribute__((aligned(16)));
static volatile uint8_t rx[256];
static volatile unsigned rx_len, irqs, stray_irqs, iir_ids;

void uart_isr(void);
void stray_isr(void);
void uart_isr_entry(void);
void stray_isr_entry(void);

/* Save what the SysV ABI lets C clobber; RSP is 16-byte aligned at the
 * call (the CPU aligned it before its 40-byte frame, 9 pushes follow). */
#define ISR_STUB(name, fn)                                                    \
  __asm__(".text\n.globl " #name "\n" #name ":\n"                             \
          "push %rax\npush %rcx\npush %rdx\npush %rsi\npush %rdi\n"           \
          "push %r8\npush %r9\npush %r10\npush %r11\n"                        \
          "cld\ncall " #fn "\n"                                               \
          "pop %r11\npop %r10\npop %r9\npop %r8\n"                            \
          "pop %rdi\npop %rsi\npop %rdx\npop %rcx\npop %rax\n"                \
          "iretq\n")
ISR_STUB(uart_isr_entry, uart_isr);
ISR_STUB(stray_isr_entry, stray_isr);

/* IRQ 4: everything the UART has, until IIR says nothing is pending. */
void uart_isr(void) {
  irqs++;
  for (int guard = 0; guard < 64; guard++) {
    uint8_t iir = inb(COM + IIR);
    if (iir & 1)
      break;
    uint8_t id = iir & 0x0f;
    iir_ids |= 1u << id;
    if (id == 0x04 || id == 0x0c) {
      while (inb(COM + LSR) & 0x01)
        rx[rx_len++ & 0xff] = inb(COM + RBR);
    } else if (id == 0x06) {
      inb(COM + LSR);
    } else if (id == 0x00) {
      inb(COM + MSR);
    } /* 0x02: reading IIR cleared it */
  }
  outb(PIC1_CMD, 0x20); /* EOI */
}

void stray_isr(void) {
  stray_irqs++;
  outb(PIC2_CMD, 0x20);
  outb(PIC1_CMD, 0x20);
}

static void set_gate(unsigned vec, void (*fn)(void)) {
  uint64_t a = (uint64_t)(uintptr_t)fn;
  idt[vec] = (struct idt_entry){
      .off0 = (uint16_t)a, .sel = 0x08, .ist = 0, .type = 0x8e,
      .off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32), .zero = 0};
}

/* Keeps the exception vectors of lib/exceptions.S, adds the PIC's. */
static void idt_init(void) {
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  const struct idt_entry *old = (const struct idt_entry *)(uintptr_t)idtr.base;
  for (unsigned v = 0; v < 32; v++)
    idt[v] = old[v];
  for (unsigned v = 32; v < N_VECTORS; v++)
    set_gate(v, stray_isr_entry);
  set_gate(DEV_PIC_BASE + DEV_UART_IRQ, uart_isr_entry);
  idtr.limit = sizeof(idt) - 1;
  idtr.base = (uint64_t)(uintptr_t)idt;
  __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* The 8259 pair remapped to vectors 0x20-0x2f, only IRQ 4 unmasked. */
static void pic_init(void) {
  outb(PIC1_CMD, 0x11);
  outb(PIC2_CMD, 0x11);
  outb(PIC1_DATA, DEV_PIC_BASE);
  outb(PIC2_DATA, DEV_PIC_BASE + 8);
  outb(PIC1_DATA, 0x04);
  outb(PIC2_DATA, 0x02);
  outb(PIC1_DATA, 0x01);
  outb(PIC2_DATA, 0x01);
  outb(PIC1_DATA, (uint8_t)~(1u << DEV_UART_IRQ));
  outb(PIC2_DATA, 0xff);
}

static inline uint64_t tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static void uart_irq_mode(uint64_t n) {
  if (n > sizeof(rx))
    n = sizeof(rx);
  idt_init();
  pic_init();
  uart_init();
  outb(COM + IER, 0x05); /* received data, line status */
  GUEST_SYNC(1);         /* the host sends now */
  /* Wait with interrupts on, spinning rather than in HLT: under QEMU's
   * emulation of SVM (the nested conventional KVM) an interrupt was seen
   * taken just before the HLT of "sti; hlt", which then slept for good.
   * The bound turns a lost interrupt into a short count the host reports. */
  uint64_t t0 = tsc();
  __asm__ volatile("sti" : : : "memory");
  while (rx_len < n && tsc() - t0 < (20ull << 30))
    __asm__ volatile("pause" : : : "memory");
  __asm__ volatile("cli" : : : "memory");
  outb(COM + IER, 0x00);
  GUEST_SYNC(2, rx_len, irqs, stray_irqs, iir_ids);
  for (unsigned i = 0; i < rx_len; i++)
    uart_putc((char)rx[i]);
}

/* ---- debug-exit and i8042 ---------------------------------------------- */

static void finish(void) {
  uint16_t port = (uint16_t)guest_param(DEV_PARAM_EXIT_PORT);
  uint32_t value = (uint32_t)guest_param(DEV_PARAM_EXIT_VALUE);
  if (!port)
    guest_done();
  switch (guest_param(DEV_PARAM_EXIT_SIZE)) {
  case 2:
    outw(port, (uint16_t)value);
    break;
  case 4:
    outl(port, value);
    break;
  default:
    outb(port, (uint8_t)value);
  }
  /* The VM is stopping; wait for it (a HLT would be a stop of its own). */
  for (;;)
    __asm__ volatile("pause");
}

static void i8042_mode(void) {
  uint8_t status = inb(0x64);
  GUEST_ASSERT_EQ(status & 0x03, 0); /* no data, not busy */
  GUEST_ASSERT_EQ(status & 0x04, 0x04); /* self-test passed */
  GUEST_ASSERT_EQ(inb(0x60), 0);
  outb(0x64, 0xfe);
  for (;;)
    __asm__ volatile("pause");
}

/* ---- RTC ---------------------------------------------------------------- */

static uint8_t cmos_read(uint8_t idx) {
  outb(0x70, idx);
  return inb(0x71);
}

static void cmos_write(uint8_t idx, uint8_t v) {
  outb(0x70, idx);
  outb(0x71, v);
}

static uint64_t rtc_snapshot(void) {
  static const uint8_t regs[7] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32};
  uint64_t t = 0;
  for (int i = 0; i < 7; i++)
    t |= (uint64_t)cmos_read(regs[i]) << (8 * i);
  return t;
}

/* The time, read until two reads agree (no update in between). */
static uint64_t rtc_time(void) {
  for (;;) {
    while (cmos_read(0x0a) & 0x80)
      ;
    uint64_t a = rtc_snapshot(), b = rtc_snapshot();
    if (a == b)
      return a;
  }
}

static void rtc_report(uint64_t phase) {
  GUEST_SYNC(phase, rtc_time(), cmos_read(0x0b), cmos_read(0x0a),
             cmos_read(0x0d));
}

static void rtc_mode(void) {
  GUEST_ASSERT_EQ(cmos_read(0x0b), 0x02); /* BCD, 24 hours */
  rtc_report(DEV_RTC_PHASE_BCD24);
  cmos_write(0x0b, 0x06);
  rtc_report(DEV_RTC_PHASE_BIN24);
  cmos_write(0x0b, 0x04);
  rtc_report(DEV_RTC_PHASE_BIN12);
  cmos_write(0x0b, 0x00);
  rtc_report(DEV_RTC_PHASE_BCD12);

  /* Plain CMOS memory, and the registers that are not. */
  for (unsigned i = 0x40; i < 0x80; i++)
    cmos_write((uint8_t)i, (uint8_t)(i * 7));
  for (unsigned i = 0x40; i < 0x80; i++)
    GUEST_ASSERT_EQ(cmos_read((uint8_t)(i | 0x80)), (uint8_t)(i * 7));
  GUEST_ASSERT_EQ(cmos_read(0x0c), 0);
  cmos_write(0x0d, 0x00);
  GUEST_ASSERT_EQ(cmos_read(0x0d), 0x80);
  GUEST_ASSERT_EQ(cmos_read(0x0a) & 0x7f, 0x26);
  /* Index and data in one 16-bit write, as some firmware does. */
  outw(0x70, 0x5541);
  GUEST_ASSERT_EQ(cmos_read(0x41), 0x55);

  /* Setting the clock, the way an OS does: SET, write, clear SET. */
  cmos_write(0x0b, 0x82);
  cmos_write(0x32, 0x20);
  cmos_write(0x09, 0x30);
  cmos_write(0x08, 0x06);
  cmos_write(0x07, 0x15);
  cmos_write(0x04, 0x12);
  cmos_write(0x02, 0x34);
  cmos_write(0x00, 0x56);
  cmos_write(0x0b, 0x02);
  rtc_report(DEV_RTC_PHASE_SET);
}

/* ---- a misbehaving guest ------------------------------------------------ */

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Odd sizes at every offset, including past the end of each device. */
static uint64_t odd_sizes(uint64_t unused) {
  (void)unused;
  for (uint16_t p = COM; p < COM + 8; p++) {
    (void)inw(p);
    (void)inl(p);
    outw(p, 0x0000);
    outl(p, 0x00000000);
  }
  (void)inl(0x70);
  (void)inw(0x71);
  outw(0x71, 0x0000);
  (void)inl(0x60);
  (void)inw(0x64);
  outw(0x64, 0x00aa); /* self-test command: harmless */
  outl(0x60, 0x00000001);
  (void)inb(0xf4);
  (void)inl(0xf4);
  return guest_cpl();
}

static uint64_t garbage(uint64_t rounds) {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (uint64_t i = 0; i < rounds; i++) {
    uint64_t r = xorshift(&s);
    uint16_t port = (r & 0x100) ? (uint16_t)(0x70 + (r & 1))
                                : (uint16_t)(COM + (r & 7));
    uint32_t v = (uint32_t)(r >> 32);
    switch ((r >> 9) & 7) {
    case 0:
      outb(port, (uint8_t)v);
      break;
    case 1:
      outw(port, (uint16_t)v);
      break;
    case 2:
      outl(port, v);
      break;
    case 3:
      (void)inw(port);
      break;
    case 4:
      (void)inl(port);
      break;
    default:
      (void)inb(port);
    }
  }
  return guest_cpl();
}

static void garbage_mode(uint64_t rounds) {
  ring3_init();
  GUEST_ASSERT_EQ(odd_sizes(0), 0);
  GUEST_ASSERT_EQ(ring3_call(odd_sizes, 0), 3);
  GUEST_ASSERT_EQ(ring3_call(garbage, rounds), 3);
  GUEST_SYNC(1);
  /* Whatever state that left, a driver can still take the UART over. */
  outb(COM + IER, 0x00);
  uart_init();
  while (inb(COM + LSR) & 0x01)
    (void)inb(COM + RBR);
  uart_puts("still alive\r\n");
}

/* ---- main --------------------------------------------------------------- */

void guest_main(void) {
  uint64_t n = guest_param(DEV_PARAM_COUNT);
  switch (guest_param(DEV_PARAM_MODE)) {
  case DEV_MODE_UART_OUTPUT:
    uart_init();
    uart_check_registers();
    uart_puts(DEV_MESSAGE);
    break;
  case DEV_MODE_UART_ECHO:
    uart_init(); /* enabling the FIFOs empties them: input comes after */
    ring3_init();
    GUEST_SYNC(0);
    GUEST_SYNC(1, ring3_call(echo, n));
    break;
  case DEV_MODE_UART_IRQ:
    uart_irq_mode(n);
    break;
  case DEV_MODE_DEBUG_EXIT:
    break;
  case DEV_MODE_I8042:
    i8042_mode();
    break;
  case DEV_MODE_RTC:
    rtc_mode();
    break;
  case DEV_MODE_GARBAGE:
    garbage_mode(n);
    break;
  default:
    GUEST_ASSERT(!"unknown mode");
  }
  finish();
}
