/* bench/guests/vblk_bench.h — what the virtio_blk benchmark's guest
 * (vblk_guest.c) and host (bench/virtio_blk.c) agree on: parameters, the
 * file's contents, the random offsets, the checkpoints. */
#ifndef BENCH_VBLK_BENCH_H
#define BENCH_VBLK_BENCH_H

#include <stdint.h>

/* Guest parameters (tests/guests/lib/layout.h: GUEST_PARAM_GPA). */
#define VB_PARAM_PCI 0     /* 1: virtio-pci, BASE is the devfn */
#define VB_PARAM_BASE 1    /* virtio-mmio base, or the PCI devfn */
#define VB_PARAM_ROUNDS 2  /* rounds of (sequential, random) */
#define VB_PARAM_NRAND 3   /* random reads per round */
#define VB_PARAM_SEED 4    /* of the random offsets */
#define VB_PARAM_DEPTH 5   /* random reads in flight (<= VB_MAX_DEPTH) */
#define VB_PARAM_SEQ_DEPTH 6 /* sequential 1 MiB reads in flight */

#define VB_SEQ_BYTES (1u << 20)
#define VB_RAND_BYTES 4096u
#define VB_MAX_DEPTH 32u
#define VB_MAX_SEQ_DEPTH 2u

/* Checkpoints (GUEST_SYNC(code, round, ...)). The host takes the time at
 * each; *_END carries the number of data checks that failed. */
#define VB_SYNC_SEQ_START 1
#define VB_SYNC_SEQ_END 2 /* (code, round, bad words, bytes read) */
#define VB_SYNC_RAND_START 3
#define VB_SYNC_RAND_END 4 /* (code, round, bad words, reads done) */

/* The file: the 64-bit word at byte offset `off` (a multiple of 8) holds
 * vb_word(off), so a reader can check it got the bytes it asked for. The
 * benchmark checks the first word of every 4 KiB block it reads, on both
 * sides. */
static inline uint64_t vb_word(uint64_t off) {
  uint64_t v = (off + 0x51ed27ull) * 0x9e3779b97f4a7c15ull;
  return v ^ (v >> 31);
}

/* The random offsets: block indices from xorshift64*, the same sequence
 * for guest and host. */
static inline uint64_t vb_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}
static inline uint64_t vb_rand_offset(uint64_t *state, uint64_t file_bytes) {
  return (vb_next(state) >> 11) % (file_bytes / VB_RAND_BYTES) *
         VB_RAND_BYTES;
}

#endif
