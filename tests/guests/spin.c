/* tests/guests/spin.c — loops forever, counting in GUEST_STATUS_GPA so
 * that the host can see it is running, for vmm_vcpu_kick() tests.
 * Parameter 0: 0 loops in ring 0, 1 in ring 3 (natively on this machine's
 * KVM, where only a signal gets the vCPU out). */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t spin(uint64_t unused) {
  (void)unused;
  volatile uint64_t *status = (volatile uint64_t *)(uintptr_t)GUEST_STATUS_GPA;
  for (;;)
    *status += 1;
  return 0;
}

void guest_main(void) {
  GUEST_SYNC(guest_param(0));
  if (guest_param(0) == 1) {
    ring3_init();
    ring3_call(spin, 0);
  } else {
    spin(0);
  }
}
