/* tests/guests/pmode.c — a 32-bit protected-mode guest (ELF32, paging
 * off): prints on port 0xE9, makes a hypercall with the 32-bit ABI and
 * reports through a ucall. */
#include "guest.h"

void guest_main(void);

void guest_main(void) {
  guest_puts("Hello from protected mode\n");
  unsigned long cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  GUEST_ASSERT(cr0 & 1);           /* PE */
  GUEST_ASSERT(!(cr0 & (1ul << 31))); /* no paging */
  unsigned long r = hypercall(HC_ADD, 1, 2, 3, 4, 5);
  GUEST_SYNC(r, sizeof(void *));
  guest_done();
}
