/* tests/guests/pio.c — port I/O of 1, 2 and 4 bytes to a registered
 * handler and to no handler (VMM_EXIT_IO), an access straddling the end of
 * a handler's range, string I/O (REP OUTSB / INSB), a handler removed
 * while the guest runs, and a handler that fails. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t pio_sequence(uint64_t ring) {
  outb(PIO_HANDLED_PORT, 0x11);
  outw(PIO_HANDLED_PORT + 2, 0x2222);
  outl(PIO_HANDLED_PORT + 4, 0x44444444u + (uint32_t)ring);
  GUEST_ASSERT_EQ(inb(PIO_HANDLED_PORT + 1),
                  io_read_value(PIO_HANDLED_PORT + 1, 1));
  GUEST_ASSERT_EQ(inw(PIO_HANDLED_PORT + 2),
                  io_read_value(PIO_HANDLED_PORT + 2, 2));
  GUEST_ASSERT_EQ(inl(PIO_HANDLED_PORT + 4),
                  io_read_value(PIO_HANDLED_PORT + 4, 4));
  /* Last port of the range, 4 bytes wide: the handler gets all of it. */
  outl(PIO_HANDLED_PORT + 7, 0x77777777u);

  /* No handler: the host answers the read itself. */
  outw(PIO_EXIT_PORT, 0xbeef);
  GUEST_ASSERT_EQ(inl(PIO_EXIT_PORT + 4), io_read_value(PIO_EXIT_PORT + 4, 4));
  return guest_cpl();
}

void guest_main(void) {
  GUEST_ASSERT_EQ(pio_sequence(0), 0);
  GUEST_SYNC(0);
  ring3_init();
  GUEST_ASSERT_EQ(ring3_call(pio_sequence, 3), 3);
  GUEST_SYNC(3);

  /* String I/O: one exit carries several elements. */
  static const char out[] = "abcde";
  const char *src = out;
  unsigned long n = 5;
  __asm__ volatile("cld; rep outsb"
                   : "+S"(src), "+c"(n)
                   : "d"((uint16_t)PIO_REP_PORT)
                   : "memory");
  char in[4] = {0};
  char *dst = in;
  n = sizeof(in);
  __asm__ volatile("cld; rep insb"
                   : "+D"(dst), "+c"(n)
                   : "d"((uint16_t)PIO_REP_PORT)
                   : "memory");
  for (unsigned int i = 0; i < sizeof(in); i++)
    GUEST_ASSERT_EQ((uint8_t)in[i],
                    (uint8_t)(io_read_value(PIO_REP_PORT, 1) + i));
  GUEST_SYNC(4);

  /* The host unregistered the handler at the last SYNC. */
  outb(PIO_HANDLED_PORT, 0x55);
  GUEST_SYNC(5);

  /* This handler returns an error: vmm_vcpu_run() returns it. */
  outb(PIO_ERROR_PORT, 0xee);
  guest_done();
}
