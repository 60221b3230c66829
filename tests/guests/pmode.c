/* tests/guests/pmode.c — a 32-bit protected-mode guest (ELF32, paging
 * off): prints on port 0xE9, makes hypercalls with the 32-bit ABI and
 * reports through a ucall. */
#include "guest.h"

void guest_main(void);

#define STR_(x) #x
#define STR(x) STR_(x)

/* Runs from crt0 before any C code could write a register: a hypercall
 * whose argument registers the guest never wrote, so whatever the host
 * left in their upper halves is still there, and the host can check that
 * the ABI hands it only the low halves in 32-bit mode. */
__asm__(".text\n"
        ".globl guest_pre_main\n"
        "guest_pre_main:\n"
        "  mov $" STR(HC_ECHO_EXIT) ", %eax\n"
        "  out %eax, $" STR(GUEST_HYPERCALL_PORT) "\n"
        "  ret\n");

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
