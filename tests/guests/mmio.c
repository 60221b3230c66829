/* tests/guests/mmio.c — 1/2/4/8-byte accesses to unbacked guest-physical
 * addresses: to a registered handler, to nothing (VMM_EXIT_MMIO), and an
 * access that straddles the end of a handler's range. The sequence runs in
 * ring 0 and again in ring 3: on this machine's KVM the two rings reach
 * MMIO emulation by different paths. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

#define U8(a) (*(volatile uint8_t *)(uintptr_t)(a))
#define U16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define U32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define U64(a) (*(volatile uint64_t *)(uintptr_t)(a))

static uint64_t mmio_sequence(uint64_t ring) {
  const uint64_t h = MMIO_HANDLED_GPA;

  /* Writes the host handler records (checked by the host, in order). */
  U8(h + 0x10) = 0x11;
  U16(h + 0x20) = 0x2222;
  U32(h + 0x40) = 0x44444444;
  U64(h + 0x80) = 0x8888888888888888ull + ring;

  /* Reads the handler answers with io_read_value(). */
  GUEST_ASSERT_EQ(U8(h + 0x11), io_read_value(h + 0x11, 1));
  GUEST_ASSERT_EQ(U16(h + 0x22), io_read_value(h + 0x22, 2));
  GUEST_ASSERT_EQ(U32(h + 0x44), io_read_value(h + 0x44, 4));
  GUEST_ASSERT_EQ(U64(h + 0x88), io_read_value(h + 0x88, 8));

  /* No handler: each access is a VMM_EXIT_MMIO the host answers. */
  U32(MMIO_EXIT_GPA + 4) = 0xdeadbeef;
  GUEST_ASSERT_EQ(U64(MMIO_EXIT_GPA + 8), io_read_value(MMIO_EXIT_GPA + 8, 8));
  GUEST_ASSERT_EQ(U16(MMIO_EXIT_GPA + 2), io_read_value(MMIO_EXIT_GPA + 2, 2));

  /* 8 bytes where the handler owns 4: not split, goes to that handler. */
  U64(MMIO_STRADDLE_GPA) = 0x0102030405060708ull;
  GUEST_ASSERT_EQ(U64(MMIO_STRADDLE_GPA),
                  io_read_value(MMIO_STRADDLE_GPA, 8));
  return guest_cpl();
}

void guest_main(void) {
  GUEST_ASSERT_EQ(mmio_sequence(0), 0);
  GUEST_SYNC(0);
  ring3_init();
  GUEST_ASSERT_EQ(ring3_call(mmio_sequence, 3), 3);
  GUEST_SYNC(3);
  guest_done();
}
