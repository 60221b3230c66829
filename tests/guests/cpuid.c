/* tests/guests/cpuid.c — reports what CPUID returns for CPUID_TEST_LEAF
 * and leaf 0, so the host can check that vmm_vcpu_set_cpuid() reaches the
 * guest. */
#include "guest.h"

void guest_main(void);

void guest_main(void) {
  uint32_t r[4], r0[4];
  cpuid(CPUID_TEST_LEAF, 0, r);
  cpuid(0, 0, r0);
  GUEST_SYNC(r[0], r[1], r[2], r[3], r0[0]);
  guest_done();
}
