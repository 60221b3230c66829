/* tests/guests/gdb.c — the gdb stub's test guest (tests/integration/
 * gdb_test.py): a function called in a loop that updates a global, so gdb
 * can break on the function, read and write the variable, step and run
 * to the end. Ring 0; crt0 halts when guest_main returns, which stops a
 * VM without an interrupt controller. Built with -g like every guest. */
#include "guest.h"

void guest_main(void);
uint64_t gdb_step(uint64_t n);

volatile uint64_t gdb_counter;
volatile uint64_t gdb_sum;

__attribute__((noinline)) uint64_t gdb_step(uint64_t n) {
  gdb_counter += n;
  return gdb_counter * 2;
}

void guest_main(void) {
  for (uint64_t i = 1; i <= 5; i++)
    gdb_sum += gdb_step(i);
  char line[80];
  guest_snprintf(line, sizeof(line), "gdb guest: counter=%llu sum=%llu\n",
                 (unsigned long long)gdb_counter,
                 (unsigned long long)gdb_sum);
  guest_puts(line); /* port 0xE9: the host's console handler */
}
