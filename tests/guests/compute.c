/* tests/guests/compute.c — ~10^8 integer steps in ring 3; the host checks
 * the result against compute_run() done in host C. Shows that ring 3 runs
 * (natively on this machine's KVM) and that its registers survive. */
#include "compute.h"
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t ring3_cpl;

static uint64_t compute_in_ring3(uint64_t steps) {
  ring3_cpl = guest_cpl();
  return compute_run(COMPUTE_SEED, steps);
}

void guest_main(void) {
  ring3_init();
  /* The host may shorten the run (parameter 0); 0 means the full size. */
  uint64_t steps = guest_param(0) ? guest_param(0) : COMPUTE_STEPS;
  uint64_t result = ring3_call(compute_in_ring3, steps);
  GUEST_ASSERT_EQ(guest_cpl(), 0);
  GUEST_SYNC(result, ring3_cpl, steps);
  guest_done();
}
