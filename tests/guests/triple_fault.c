/* tests/guests/triple_fault.c — leaves a mark in memory and known values
 * in registers, then faults with no usable IDT: #PF → #GP (IDT limit) →
 * double fault → triple fault → VMM_EXIT_SHUTDOWN. A page fault (an access
 * beyond the 4 GiB identity map) rather than UD2 or INT3 because every
 * instruction emulator handles a page walk, while this machine's KVM
 * cannot emulate some instructions in ring 0. Parameter 0 = 1 faults in
 * ring 3 instead (its #PF goes through the TSS's RSP0 and then fails). */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

#define TRIPLE_MARK 0x5452495045000000ull /* "TRIPE" */

static uint64_t fault(uint64_t ring) {
  guest_set_status(TRIPLE_MARK | ring);
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr = {0, 0};
  if (ring == 0)
    __asm__ volatile("lidt %0" : : "m"(idtr));
  /* Recognisable values for the host to find if the backend keeps the
   * state at shutdown. */
  __asm__ volatile("mov %0, %%rbx\n\t"
                   "mov %1, %%r12\n\t"
                   "movabs $0x100000000, %%rax\n\t"
                   "mov (%%rax), %%rax"
                   : : "i"(0x1111222233334444ll), "i"(0x5555666677778888ll)
                   : "rax", "rbx", "r12", "memory");
  return 0;
}

void guest_main(void) {
  if (guest_param(0) == 1) {
    ring3_init();
    /* No IDT: crt0 installed one that would report the fault instead. */
    struct {
      uint16_t limit;
      uint64_t base;
    } __attribute__((packed)) idtr = {0, 0};
    __asm__ volatile("lidt %0" : : "m"(idtr));
    ring3_call(fault, 3);
  } else {
    fault(0);
  }
  GUEST_ASSERT(!"survived a triple fault");
}
