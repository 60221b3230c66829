/* tests/guests/hello.c — prints "Hello from the guest\n" on port 0xE9 and
 * halts: the smallest guest, used by examples/hello.c too, so it relies on
 * nothing but the print port (no ucall). */
#include "guest.h"

void guest_main(void);

void guest_main(void) {
  guest_puts("Hello from the guest\n");
  /* crt0 halts when this returns. */
}
