/* tests/guests/fault_guest.h — what the disk-rounds guest (fault_guest.c)
 * and tests/integration/fault_test.c agree on. */
#ifndef GUESTS_FAULT_GUEST_H
#define GUESTS_FAULT_GUEST_H

/* Guest parameters (layout.h: GUEST_PARAM_GPA). */
#define FG_PARAM_BASE 0   /* MMIO base of the virtio-blk device */
#define FG_PARAM_ROUNDS 1 /* how many rounds */

/* The image the host prepares: sectors [0, FG_SECTORS) hold
 * fg_pattern(i, FG_SEED_HOST); round r writes fg_pattern(i, r) to
 * [fg_sector(r), fg_sector(r) + FG_SECTORS). The image needs at least
 * fg_sector(rounds) sectors. */
#define FG_SECTORS 8
#define FG_SEED_HOST 1000
static inline unsigned long fg_sector(unsigned long round) {
  return 16 + 16 * round;
}
static inline unsigned char fg_pattern(unsigned long i, unsigned long seed) {
  return (unsigned char)((i * 7 + seed * 29) ^ (i >> 8) ^ seed);
}

/* Each round r:
 *   SYNC(FG_SYNC_BEFORE, r)          -- the host may break something now
 *   read [0, FG_SECTORS), write round r's sectors, flush, read them back
 *   SYNC(FG_SYNC_RESULT, r, status, match, host_sum)
 * status: read | write << 8 | flush << 16 | read-back << 24, each a
 * virtio-blk status (0 OK, 1 IOERR); match 1 when the read-back equals
 * what was written; host_sum the checksum of the first read (fg_sum).
 * Then DONE. */
#define FG_SYNC_BEFORE 1
#define FG_SYNC_RESULT 2
#define FG_ST_READ(s) ((s) & 0xff)
#define FG_ST_WRITE(s) (((s) >> 8) & 0xff)
#define FG_ST_FLUSH(s) (((s) >> 16) & 0xff)
#define FG_ST_READBACK(s) (((s) >> 24) & 0xff)

static inline unsigned long long fg_sum(const unsigned char *p,
                                        unsigned long n) {
  unsigned long long s = 0;
  for (unsigned long i = 0; i < n; i++)
    s = s * 31 + p[i];
  return s;
}

#endif
