/* tests/unit/test_uart.c — the 16550A register model (src/hw/uart16550.c)
 * and the buffer character back-end (src/chardev.c), without a hypervisor. */
#include <stdlib.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "hw/uart16550.h"
#include "unit.h"
#include "vm_internal.h"

static struct vmm__uart_regs u;
static struct vmm__uart_effects fx;

static uint8_t rd(unsigned offset) { return vmm__uart_read(&u, offset, &fx); }
static void wr(unsigned offset, uint8_t v) { vmm__uart_write(&u, offset, v, &fx); }
static size_t rx(const char *s) { return vmm__uart_receive(&u, (const uint8_t *)s, strlen(s)); }

static void uart_setup(void) {
  vmm__uart_reset(&u);
  memset(&fx, 0, sizeof(fx));
}

static void test_reset_state(void) {
  CHECK_U64(rd(UART_IER), 0);
  CHECK_U64(rd(UART_IIR), 0x01);
  CHECK_U64(rd(UART_LCR), 0);
  CHECK_U64(rd(UART_MCR), 0);
  CHECK_U64(rd(UART_LSR), 0x60);
  CHECK_U64(rd(UART_MSR), 0xb0); /* CTS, DSR, DCD: a connected line */
  CHECK_U64(rd(UART_SCR), 0);
  CHECK_U64(rd(UART_RBR), 0);    /* empty receiver */
  CHECK_U64(vmm__uart_irq(&u), 0);
  CHECK_U64(fx.n_out, 0);
  CHECK_U64(fx.input_ready, 0);
}

static void test_divisor_latch(void) {
  wr(UART_IER, 0x05);
  wr(UART_LCR, 0x83);
  CHECK_U64(rd(UART_DLL), 12); /* 9600 baud after reset */
  CHECK_U64(rd(UART_DLM), 0);
  wr(UART_DLL, 0x34);
  wr(UART_DLM, 0x12);
  CHECK_U64(fx.n_out, 0); /* a DLL write transmits nothing */
  CHECK_U64(rd(UART_DLL), 0x34);
  CHECK_U64(rd(UART_DLM), 0x12);
  CHECK_U64(rd(UART_LCR), 0x83);
  wr(UART_LCR, 0x03);
  CHECK_U64(rd(UART_IER), 0x05); /* untouched by the DLM write */
  wr(UART_IER, 0xff);
  CHECK_U64(rd(UART_IER), 0x0f); /* four bits */
  wr(UART_LCR, 0x80);
  CHECK_U64(rd(UART_DLM), 0x12);
}

static void test_transmit(void) {
  wr(UART_THR, 'a');
  wr(UART_THR, 'b');
  CHECK_U64(fx.n_out, 2);
  CHECK_U64(fx.out[0], 'a');
  CHECK_U64(fx.out[1], 'b');
  CHECK_U64(rd(UART_LSR), 0x60); /* instantly empty again */
  wr(UART_SCR, 0xa5);
  CHECK_U64(rd(UART_SCR), 0xa5);
  CHECK_U64(fx.n_out, 2);
}

static void test_fifo_trigger_levels(void) {
  static const struct {
    uint8_t fcr;
    unsigned trigger;
  } cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
  for (size_t c = 0; c < UNIT_COUNT(cases); c++) {
    uart_setup();
    wr(UART_FCR, cases[c].fcr);
    wr(UART_IER, UART_IER_RDI);
    CHECK_U64(rd(UART_IIR), 0xc1);
    for (unsigned i = 1; i <= cases[c].trigger; i++) {
      CHECK_U64(rx("x"), 1);
      /* Below the trigger: the (immediate) character timeout. */
      CHECK_U64(rd(UART_IIR), i < cases[c].trigger ? 0xcc : 0xc4);
      CHECK_U64(vmm__uart_irq(&u), 1);
    }
    while (rd(UART_LSR) & UART_LSR_DR)
      rd(UART_RBR);
    CHECK_U64(rd(UART_IIR), 0xc1);
    CHECK_U64(vmm__uart_irq(&u), 0);
  }
}

static void test_fifo_backpressure(void) {
  wr(UART_FCR, 0x07);
  CHECK_U64(rx("0123456789abcdefghij"), 16);
  CHECK_U64(rd(UART_LSR), 0x61);
  CHECK_U64(rx("k"), 0);
  CHECK_U64(fx.input_ready, 0);
  CHECK_U64(rd(UART_RBR), '0'); /* room again: the back-end is told */
  CHECK_U64(fx.input_ready, 1);
  fx.input_ready = false;
  CHECK_U64(rd(UART_RBR), '1');
  CHECK_U64(fx.input_ready, 0); /* once per shortage */
  CHECK_U64(rx("gh"), 2);
  for (const char *want = "23456789abcdefgh"; *want; want++)
    CHECK_U64(rd(UART_RBR), (uint8_t)*want);
  CHECK_U64(rd(UART_LSR), 0x60);
}

static void test_non_fifo_mode(void) {
  CHECK_U64(rx("ab"), 1); /* a one-byte holding register */
  CHECK_U64(rd(UART_IIR), 0x01);
  wr(UART_IER, UART_IER_RDI);
  CHECK_U64(rd(UART_IIR), 0x04); /* no FIFO bits, no timeout */
  CHECK_U64(rd(UART_RBR), 'a');
  CHECK_U64(fx.input_ready, 1);
  /* FCR bits other than ENABLE mean nothing with the FIFOs off. */
  wr(UART_FCR, 0xc6);
  CHECK_U64(rx("b"), 1);
  CHECK_U64(rd(UART_RBR), 'b');
}

static void test_fifo_clear(void) {
  wr(UART_FCR, 0x01);
  CHECK_U64(rx("0123456789abcdefXYZ"), 16);
  wr(UART_FCR, 0x03); /* clear RX */
  CHECK_U64(rd(UART_LSR), 0x60);
  CHECK_U64(fx.input_ready, 1);
  fx.input_ready = false;
  CHECK_U64(rx("q"), 1);
  wr(UART_FCR, 0x00); /* FIFOs off: emptied */
  CHECK_U64(rd(UART_LSR), 0x60);
  CHECK_U64(rd(UART_IIR), 0x01);
  CHECK_U64(rx("r"), 1);
  wr(UART_FCR, 0x01); /* and on again: emptied too */
  CHECK_U64(rd(UART_LSR), 0x60);
}

static void test_thre_interrupt(void) {
  CHECK_U64(vmm__uart_irq(&u), 0);
  wr(UART_IER, UART_IER_THRI); /* enabling it with THR empty raises it */
  CHECK_U64(vmm__uart_irq(&u), 1);
  CHECK_U64(rd(UART_IIR), 0x02);
  CHECK_U64(vmm__uart_irq(&u), 0); /* reading IIR cleared it */
  CHECK_U64(rd(UART_IIR), 0x01);
  wr(UART_THR, 'x'); /* THR empties again after the write */
  CHECK_U64(vmm__uart_irq(&u), 1);
  wr(UART_IER, 0); /* disabling drops it */
  CHECK_U64(vmm__uart_irq(&u), 0);
  wr(UART_IER, UART_IER_THRI);
  CHECK_U64(vmm__uart_irq(&u), 1);
  wr(UART_IER, UART_IER_THRI); /* no new edge: still the same one */
  CHECK_U64(rd(UART_IIR), 0x02);
  wr(UART_IER, UART_IER_THRI);
  CHECK_U64(rd(UART_IIR), 0x01);
}

/* Line status > received data (or timeout) > THR empty > modem status. */
static void test_interrupt_priorities(void) {
  wr(UART_FCR, 0x01);
  wr(UART_MCR, UART_MCR_LOOP | 0x0f);
  for (int i = 0; i < 17; i++) /* the 17th overruns */
    wr(UART_THR, (uint8_t)('A' + i));
  wr(UART_MCR, UART_MCR_LOOP); /* modem lines drop: deltas */
  wr(UART_IER, 0x0f);
  CHECK_U64(rd(UART_IIR), 0xc6);
  CHECK_U64(rd(UART_LSR), 0x63); /* DR, OE; OE clears on read */
  CHECK_U64(rd(UART_IIR), 0xc4);
  for (int i = 0; i < 16; i++)
    CHECK_U64(rd(UART_RBR), (uint8_t)('A' + i));
  CHECK_U64(rd(UART_IIR), 0xc2);
  CHECK_U64(rd(UART_IIR), 0xc0); /* modem status */
  CHECK_U64(rd(UART_MSR), 0x0f);
  CHECK_U64(rd(UART_IIR), 0xc1);
  CHECK_U64(vmm__uart_irq(&u), 0);
}

static void test_loopback(void) {
  wr(UART_MCR, UART_MCR_LOOP);
  CHECK_U64(rd(UART_MSR), 0x0b); /* CTS, DSR, DCD fell */
  wr(UART_THR, 'z');
  CHECK_U64(fx.n_out, 0); /* nothing on the line */
  CHECK_U64(rd(UART_LSR), 0x61);
  CHECK_U64(rd(UART_RBR), 'z');
  /* Outputs wired to inputs: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD. */
  wr(UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
  CHECK_U64(rd(UART_MSR), 0x11);
  wr(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
  CHECK_U64(rd(UART_MSR), 0x23);
  wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
  CHECK_U64(rd(UART_MSR), 0x42); /* RI rose: no TERI yet */
  wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
  CHECK_U64(rd(UART_MSR), 0x8c); /* RI fell: TERI */
  /* The line is disconnected: input waits in the back-end. */
  CHECK_U64(rx("in"), 0);
  wr(UART_MCR, 0x0b);
  CHECK_U64(fx.input_ready, 1);
  CHECK_U64(rd(UART_MSR) & 0xf0, 0xb0);
  CHECK_U64(rx("in"), 1);
}

static void test_bad_offsets(void) {
  for (unsigned off = UART_NREGS; off < 300; off++) {
    CHECK_U64(rd(off), 0xff);
    wr(off, 0xff);
  }
  wr(UART_LSR, 0x00); /* read-only */
  wr(UART_MSR, 0x00);
  CHECK_U64(rd(UART_LSR), 0x60);
  CHECK_U64(rd(UART_MSR), 0xb0);
  CHECK_U64(fx.n_out, 0);
}

/* Random registers and values: the model's invariants hold throughout. */
static void test_random_accesses(void) {
  uint64_t s = 88172645463325252ull;
  unsigned bad = 0;
  for (int i = 0; i < 200000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    unsigned off = (unsigned)(s >> 8) % 9;
    uint8_t v = (uint8_t)(s >> 24);
    switch (s & 3) {
    case 0:
      wr(off, v);
      break;
    case 1:
      rd(off);
      break;
    case 2:
      vmm__uart_receive(&u, (const uint8_t *)&s, (s >> 40) % 8);
      break;
    default:
      memset(&fx, 0, sizeof(fx));
    }
    if (fx.n_out >= sizeof(fx.out))
      fx.n_out = 0;
    uint8_t iir = vmm__uart_iir(&u);
    uint8_t id = iir & 0x0f;
    bool id_ok = id == 1 || id == 0 || id == 2 || id == 4 || id == 6 ||
                 id == 0x0c;
    if (u.rx_count > UART_FIFO_SIZE || u.rx_head >= UART_FIFO_SIZE ||
        !id_ok || (iir & 0x30) || vmm__uart_irq(&u) != !(iir & 1))
      bad++;
  }
  CHECK_U64(bad, 0);
}

/* ---- buffer back-end -------------------------------------------------- */

static vmm_vm_t *vm; /* just enough of a VM for back-ends */

static void chr_setup(void) {
  vm = calloc(1, sizeof(*vm));
  pthread_rwlock_init(&vm->lock, NULL);
  vmm__handle_add(vm, VMM__H_VM);
}

static void chr_teardown(void) {
  vmm__chardevs_destroy(vm);
  vmm__handle_remove(vm);
  pthread_rwlock_destroy(&vm->lock);
  free(vm);
  vm = NULL;
}

/* A device that takes at most `room` bytes per call. */
struct sink {
  uint8_t data[256];
  size_t len, room, calls;
};

static size_t sink_input(void *opaque, const uint8_t *data, size_t len) {
  struct sink *s = opaque;
  size_t n = len < s->room ? len : s->room;
  if (n > sizeof(s->data) - s->len)
    n = sizeof(s->data) - s->len;
  memcpy(s->data + s->len, data, n);
  s->len += n;
  s->room -= n;
  s->calls++;
  return n;
}

static void test_buffer_output_ring(void) {
  vmm_chardev_t *chr = NULL;
  char buf[32];
  CHECK_RC(vmm_chardev_buffer(vm, 8, &chr), 0);
  CHECK_U64(vmm__chardev_vm(chr) == vm, 1);
  CHECK_RC(vmm_chardev_buffer_read(chr, buf, sizeof(buf)), 0);
  vmm__chardev_write(chr, (const uint8_t *)"hello", 5);
  CHECK_RC(vmm_chardev_buffer_read(chr, buf, 3), 3);
  CHECK_U64(memcmp(buf, "hel", 3), 0);
  vmm__chardev_write(chr, (const uint8_t *)"0123456789", 10); /* wraps */
  CHECK_U64(vmm__chardev_dropped(chr), 4);
  CHECK_RC(vmm_chardev_buffer_read(chr, buf, sizeof(buf)), 8);
  CHECK_U64(memcmp(buf, "lo012345", 8), 0);
  for (int i = 0; i < 100; i++) { /* every wrap position */
    char in[5] = {(char)i, (char)(i + 1), (char)(i + 2), (char)(i + 3), 0};
    vmm__chardev_write(chr, (const uint8_t *)in, (size_t)(i % 5));
    CHECK_RC(vmm_chardev_buffer_read(chr, buf, sizeof(buf)), i % 5);
    CHECK_U64(memcmp(buf, in, (size_t)(i % 5)), 0);
  }
  CHECK_U64(vmm__chardev_dropped(chr), 4);
}

static void test_buffer_input(void) {
  vmm_chardev_t *chr = NULL;
  struct sink s = {.room = 4};
  CHECK_RC(vmm_chardev_buffer(vm, 16, &chr), 0);
  /* Before a device is attached, input waits. */
  CHECK_RC(vmm_chardev_buffer_write(chr, "abcdef", 6), 0);
  CHECK_RC(vmm__chardev_attach(chr, sink_input, &s), 0);
  CHECK_U64(s.len, 4);
  CHECK_U64(memcmp(s.data, "abcd", 4), 0);
  CHECK_RC(vmm_chardev_buffer_write(chr, "gh", 2), 0);
  CHECK_U64(s.len, 4); /* the device is full */
  s.room = 3;
  vmm__chardev_input_ready(chr); /* delivered at once, on this thread */
  CHECK_U64(s.len, 7);
  CHECK_U64(memcmp(s.data, "abcdefg", 7), 0);
  s.room = 100;
  vmm__chardev_input_ready(chr);
  CHECK_U64(s.len, 8);
  CHECK_RC(vmm_chardev_buffer_write(chr, "ij", 2), 0);
  CHECK_U64(s.len, 10);
  CHECK_U64(memcmp(s.data, "abcdefghij", 10), 0);

  /* One device per back-end; after detach, input waits again. */
  struct sink other = {.room = 100};
  CHECK_RC(vmm__chardev_attach(chr, sink_input, &other), VMM_EBUSY);
  vmm__chardev_detach(chr);
  CHECK_RC(vmm_chardev_buffer_write(chr, "kl", 2), 0);
  CHECK_U64(s.len, 10);
  CHECK_RC(vmm__chardev_attach(chr, sink_input, &other), 0);
  CHECK_U64(other.len, 2);
  CHECK_U64(memcmp(other.data, "kl", 2), 0);
}

static void test_buffer_input_limit(void) {
  vmm_chardev_t *chr = NULL;
  size_t big = 16u << 20;
  uint8_t *data = calloc(1, big);
  CHECK_RC(vmm_chardev_buffer(vm, 16, &chr), 0);
  if (data) {
    CHECK_RC(vmm_chardev_buffer_write(chr, data, big), 0);
    CHECK_RC(vmm_chardev_buffer_write(chr, data, 1), VMM_ENOSPC);
    CHECK_MSG("limit");
  }
  free(data);
}

static void test_buffer_errors(void) {
  vmm_chardev_t *chr = (vmm_chardev_t *)&chr;
  char buf[4];
  CHECK_RC(vmm_chardev_buffer(vm, 0, &chr), VMM_EINVAL);
  CHECK_U64(chr == NULL, 1);
  CHECK_RC(vmm_chardev_buffer(vm, 16, NULL), VMM_EINVAL);
  CHECK_RC(vmm_chardev_buffer(NULL, 16, &chr), VMM_EBADF);
  CHECK_RC(vmm_chardev_buffer((vmm_vm_t *)buf, 16, &chr), VMM_EBADF);
  CHECK_RC(vmm_chardev_buffer_read(NULL, buf, 1), VMM_EBADF);
  CHECK_RC(vmm_chardev_buffer_write(NULL, buf, 1), VMM_EBADF);
  CHECK_RC(vmm_chardev_buffer_read((vmm_chardev_t *)buf, buf, 1), VMM_EBADF);
  CHECK_RC(vmm_chardev_buffer(vm, 16, &chr), 0);
  CHECK_RC(vmm_chardev_buffer_read(chr, NULL, 1), VMM_EINVAL);
  CHECK_RC(vmm_chardev_buffer_write(chr, NULL, 1), VMM_EINVAL);
  CHECK_RC(vmm_chardev_buffer_write(chr, NULL, 0), 0);
  CHECK_RC(vmm_chardev_buffer_read(chr, NULL, 0), 0);
  CHECK_RC(vmm__chardev_attach(chr, NULL, NULL), VMM_EINVAL);
  CHECK_RC(vmm__chardev_attach((vmm_chardev_t *)buf, sink_input, NULL),
           VMM_EBADF);
  CHECK_U64(vmm__chardev_vm((vmm_chardev_t *)buf) == NULL, 1);
  /* A file back-end is not a buffer. */
  vmm_chardev_t *file = NULL;
  CHECK_RC(vmm_chardev_file(vm, "/dev/null", &file), 0);
  CHECK_RC(vmm_chardev_buffer_read(file, buf, 1), VMM_EINVAL);
  CHECK_RC(vmm_chardev_buffer_write(file, buf, 1), VMM_EINVAL);
  vmm__chardev_write(file, (const uint8_t *)"x", 1);
  CHECK_U64(vmm__chardev_dropped(file), 0);
  CHECK_RC(vmm_chardev_file(vm, "", &file), VMM_EINVAL);
  CHECK_RC(vmm_chardev_file(vm, "/nonexistent-dir/f", &file), VMM_ENOENT);
  /* Destroyed with the VM's list: handles stop being valid. */
  vmm__chardevs_destroy(vm);
  CHECK_RC(vmm_chardev_buffer_read(chr, buf, 1), VMM_EBADF);
}

int main(void) {
  static const struct unit_test uart_tests[] = {
      UNIT_TEST(test_reset_state),
      UNIT_TEST(test_divisor_latch),
      UNIT_TEST(test_transmit),
      UNIT_TEST(test_fifo_trigger_levels),
      UNIT_TEST(test_fifo_backpressure),
      UNIT_TEST(test_non_fifo_mode),
      UNIT_TEST(test_fifo_clear),
      UNIT_TEST(test_thre_interrupt),
      UNIT_TEST(test_interrupt_priorities),
      UNIT_TEST(test_loopback),
      UNIT_TEST(test_bad_offsets),
      UNIT_TEST(test_random_accesses),
  };
  static const struct unit_test chardev_tests[] = {
      UNIT_TEST(test_buffer_output_ring),
      UNIT_TEST(test_buffer_input),
      UNIT_TEST(test_buffer_input_limit),
      UNIT_TEST(test_buffer_errors),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("uart16550", uart_setup, NULL, uart_tests,
                      UNIT_COUNT(uart_tests)) ||
      !unit_add_suite("chardev-buffer", chr_setup, chr_teardown,
                      chardev_tests, UNIT_COUNT(chardev_tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
