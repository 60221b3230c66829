/* bench/guests/pio_loop.c — the guest of the binding exit benchmark
 * (bench/binding_exit_go, the Python and C runs of bench/binding_exit.sh):
 * parameter 0 is a number of exits N, parameter 1 a port. From ring 3
 * (native on this machine's KVM, where ring 0 is emulated) it writes the
 * low byte of a counter to the port N times, one port-I/O exit each, then
 * returns to ring 0 and halts (crt0's HLT: VMM_EXIT_HLT without an
 * interrupt controller). The host's handler for the port is what is timed;
 * the writes count 0, 1, 2... so a handler can check it saw every one. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t pio_loop(uint64_t n) {
  uint16_t port = (uint16_t)guest_param(1);
  for (uint64_t i = 0; i < n; i++)
    outb(port, (uint8_t)i);
  return n;
}

void guest_main(void) {
  ring3_init();
  ring3_call(pio_loop, guest_param(0));
}
