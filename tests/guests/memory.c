/* tests/guests/memory.c — guest's view of special regions: a
 * caller-provided region (the host sees guest writes in its own buffer and
 * the guest sees the host's), and a ROM region (reads come from it,
 * writes arrive at the host as MMIO exits and change nothing). */
#include "guest.h"

void guest_main(void);

#define U64(a) (*(volatile uint64_t *)(uintptr_t)(a))

void guest_main(void) {
  /* Caller-provided memory: the host put a value at offset 0. */
  GUEST_SYNC(1, U64(USERMEM_GPA));
  U64(USERMEM_GPA + 8) = 0x1122334455667788ull;
  GUEST_SYNC(2);

  /* ROM: the host loaded it through vmm_mem_write(). */
  uint64_t before = U64(ROM_GPA + 8);
  GUEST_SYNC(3, U64(ROM_GPA), before);
  U64(ROM_GPA + 8) = 0xbad0bad0bad0bad0ull; /* → VMM_EXIT_MMIO write */
  GUEST_SYNC(4, U64(ROM_GPA + 8));
  guest_done();
}
