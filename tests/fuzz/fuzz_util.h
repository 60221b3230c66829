/* tests/fuzz/fuzz_util.h — what the plain fuzz drivers share: the seed
 * corpus, a deterministic random source and the byte-level mutations. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_SEEDS 64
#define FUZZ_INPUT_MAX (80u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_corpus {
  uint8_t *seed[FUZZ_MAX_SEEDS];
  size_t len[FUZZ_MAX_SEEDS];
  size_t n;
};

/* Reads every file of `dir` (up to FUZZ_MAX_SEEDS, each up to
 * FUZZ_INPUT_MAX bytes); -1 when it holds none. */
int fuzz_load_corpus(struct fuzz_corpus *c, const char *dir);
void fuzz_free_corpus(struct fuzz_corpus *c);

/* xorshift64 from a fixed seed: every run mutates the same way. */
uint64_t fuzz_rnd(void);
static inline size_t fuzz_below(size_t n) {
  return n ? (size_t)(fuzz_rnd() % n) : 0;
}

/* The mutations every driver uses, on `buf` (FUZZ_INPUT_MAX bytes) of
 * `len` bytes; `which` % 5 picks one: flip a bit, a random byte, delete a
 * range, duplicate a range, splice another seed's tail. New length. */
size_t fuzz_mutate_common(const struct fuzz_corpus *c, uint8_t *buf,
                          size_t len, unsigned which);

#endif
