/* tests/guests/migrate_guest.h — what the migration guest and its host
 * test (tests/integration/migrate_test.c) agree on. */
#ifndef MIGRATE_GUEST_H
#define MIGRATE_GUEST_H

#include <stdint.h>

/* RAM of the migration VM: 32 MiB at 0, dirty-logged. */
#define MIG_RAM_SIZE 0x2000000ull
/* The pages the guest keeps rewriting, and its table of the generation
 * each page last got (8 bytes a page). */
#define MIG_DATA_GPA 0x1000000ull
#define MIG_PAGES 4096ull
#define MIG_TABLE_GPA 0x400000ull
/* Pages are visited in this stride (coprime with MIG_PAGES), so that a
 * sweep's writes are not adjacent. */
#define MIG_STRIDE 1619ull

/* Status words at GUEST_STATUS_GPA, written by the guest. */
#define MIG_ST_WRITES 0 /* pages rewritten */
#define MIG_ST_PASSES 1 /* full checks done */
#define MIG_ST_ERRORS 2 /* pages found wrong, all checks */
#define MIG_ST_BAD 3    /* first wrong page + 1 (0: none) */
#define MIG_ST_WORDS 4

/* Guest parameter 0: busy-loop iterations after each page written (sets
 * how fast the guest dirties memory). */

/* Word k of page p at generation gen. */
static inline uint64_t mig_word(uint64_t p, uint64_t gen, uint64_t k) {
  uint64_t v = ((p << 40) ^ gen) * 0x9e3779b97f4a7c15ull +
               k * 0xbf58476d1ce4e5b9ull;
  return v ^ (v >> 31);
}

#endif
