/* tests/guests/lib/compute.h — the deterministic computation the compute
 * guest runs in ring 3 and the host repeats in C to check the result. */
#ifndef GUESTS_COMPUTE_H
#define GUESTS_COMPUTE_H

#include <stdint.h>

#define COMPUTE_SEED 0x0123456789abcdefull
#define COMPUTE_STEPS 100000000ull /* ~10^8 steps: ~0.2 s natively */

/*
 * xorshift64 feeding a running sum: cheap integer steps that no compiler
 * folds into a closed form, so the guest really executes every one, and a
 * single wrong step (a clobbered register across an exit, say) changes the
 * result.
 */
static inline uint64_t compute_run(uint64_t seed, uint64_t steps) {
  uint64_t x = seed, acc = 0;
  for (uint64_t i = 0; i < steps; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    acc += x ^ (acc >> 11);
  }
  return acc ^ x;
}

#endif
