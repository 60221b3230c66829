/* tests/guests/control.c — runs until stopped for the control-socket
 * tests: counts in GUEST_STATUS_GPA (the host sees it keep running) and
 * every 1024 counts writes the UART's scratch register (parameter 0: the
 * port; 0 = 0x3ff), so that the UART's access counter moves too. The
 * loop runs in ring 3, natively on this machine's KVM. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t count(uint64_t port) {
  volatile uint64_t *status = (volatile uint64_t *)(uintptr_t)GUEST_STATUS_GPA;
  for (uint64_t i = 0;; i++) {
    *status += 1;
    if ((i & 1023) == 0)
      outb((uint16_t)port, (uint8_t)i);
  }
  return 0;
}

void guest_main(void) {
  uint64_t port = guest_param(0) ? guest_param(0) : 0x3ff;
  ring3_init();
  ring3_call(count, port);
}
