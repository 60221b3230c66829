/* tests/guests/migrate.c — runs forever for the live-migration test:
 * rewrites MIG_PAGES pages one at a time, each with its number, a new
 * generation and words derived from both, and records the generation in a
 * table; after every sweep it checks every page against the table. A
 * page (or table entry) that a migration lost or tore shows up as an
 * error in the status words. Runs in ring 3 (natively on this machine's
 * KVM). */
#include "guest.h"
#include "migrate_guest.h"
#include "ring3.h"

void guest_main(void);

static volatile uint64_t *const status =
    (volatile uint64_t *)(uintptr_t)GUEST_STATUS_GPA;
static volatile uint64_t *const table =
    (volatile uint64_t *)(uintptr_t)MIG_TABLE_GPA;

static volatile uint64_t *page(uint64_t p) {
  return (volatile uint64_t *)(uintptr_t)(MIG_DATA_GPA + p * 4096);
}

static void fill(uint64_t p, uint64_t gen) {
  volatile uint64_t *w = page(p);
  w[0] = p;
  w[1] = gen;
  for (uint64_t k = 2; k < 512; k++)
    w[k] = mig_word(p, gen, k);
  table[p] = gen;
}

static uint64_t check_all(void) {
  uint64_t bad = 0;
  for (uint64_t p = 0; p < MIG_PAGES; p++) {
    volatile uint64_t *w = page(p);
    uint64_t gen = table[p];
    int ok = w[0] == p && w[1] == gen;
    for (uint64_t k = 2; ok && k < 512; k++)
      ok = w[k] == mig_word(p, gen, k);
    if (!ok) {
      bad++;
      if (!status[MIG_ST_BAD])
        status[MIG_ST_BAD] = p + 1;
    }
  }
  return bad;
}

static uint64_t run(uint64_t delay) {
  uint64_t gen = 1, p = 0;
  for (uint64_t i = 0; i < MIG_PAGES; i++)
    fill(i, gen);
  for (;;) {
    for (uint64_t i = 0; i < MIG_PAGES; i++) {
      p = (p + MIG_STRIDE) % MIG_PAGES;
      fill(p, ++gen);
      status[MIG_ST_WRITES] += 1;
      for (volatile uint64_t d = 0; d < delay; d++)
        ;
    }
    uint64_t bad = check_all();
    status[MIG_ST_ERRORS] += bad;
    status[MIG_ST_PASSES] += 1;
  }
  return 0;
}

void guest_main(void) {
  uint64_t delay = guest_param(0);
  ring3_init();
  ring3_call(run, delay);
}
