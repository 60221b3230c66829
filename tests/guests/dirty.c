/* tests/guests/dirty.c — writes known pages of the dirty-logged region
 * (DIRTY_GPA, DIRTY_PAGES pages) between checkpoints: first from ring 0
 * (emulated writes on this machine's KVM), then from ring 3 (native
 * writes that the hypervisor must catch with write protection), then
 * nothing. The host checks the log after each SYNC. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static void touch(uint64_t page, uint64_t value) {
  *(volatile uint64_t *)(uintptr_t)(DIRTY_GPA + page * 4096 + 8 * (page % 8)) =
      value;
}

/* Which pages each phase writes; the host uses the same rules. */
#define PHASE1(p) ((p) % 3 == 0)
#define PHASE2(p) ((p) % 5 == 1)

static uint64_t phase2(uint64_t unused) {
  (void)unused;
  for (uint64_t p = 0; p < DIRTY_PAGES; p++)
    if (PHASE2(p))
      touch(p, 0x2000 + p);
  return guest_cpl();
}

void guest_main(void) {
  /* Reading must not dirty anything. */
  uint64_t sum = 0;
  for (uint64_t p = 0; p < DIRTY_PAGES; p++)
    sum += *(volatile uint64_t *)(uintptr_t)(DIRTY_GPA + p * 4096);
  GUEST_SYNC(0, sum);

  for (uint64_t p = 0; p < DIRTY_PAGES; p++)
    if (PHASE1(p))
      touch(p, 0x1000 + p);
  GUEST_SYNC(1);

  ring3_init();
  GUEST_ASSERT_EQ(ring3_call(phase2, 0), 3);
  GUEST_SYNC(2);

  GUEST_SYNC(3); /* no writes in between */
  guest_done();
}
