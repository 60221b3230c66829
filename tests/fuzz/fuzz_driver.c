/* tests/fuzz/fuzz_driver.c — runs one libFuzzer-style target without
 * libFuzzer, as a normal test: every seed of a corpus directory, a few
 * edge inputs (empty, one byte, all-0x00 and all-0xff blocks), then a fixed
 * number of deterministic binary mutations (bit flips, interesting bytes
 * and 16/32-bit values, deletions, duplications, splices of two seeds).
 * The target checks its own invariants and aborts when one breaks.
 *
 *   fuzz_driver NAME CORPUS_DIR [ITERATIONS]
 *
 * The last line is "NAME inputs=N seeds=S". The corpus, random source and
 * common mutations are in fuzz_util.c. (config_fuzz_driver.c is the
 * JSON-aware variant for the config parser.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static struct fuzz_corpus corpus;
static unsigned long inputs;

static void run(const uint8_t *data, size_t len) {
  LLVMFuzzerTestOneInput(data, len);
  inputs++;
}

static const uint32_t interesting[] = {
    0, 1, 2, 3, 4, 7, 8, 15, 16, 0x1f, 0x20, 0x23, 0x24, 0x2a, 0x7d, 0x7f,
    0x80, 0xff, 0x100, 0x1000, 0x2000, 0x3000, 0x7fff, 0x8000, 0xfffe,
    0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};

static size_t mutate(uint8_t *buf, size_t len) {
  unsigned which = (unsigned)(fuzz_rnd() % 8);
  switch (which) {
  case 0: /* an interesting byte */
    if (len)
      buf[fuzz_below(len)] =
          (uint8_t)interesting[fuzz_below(sizeof(interesting) / 4)];
    break;
  case 1: { /* an interesting 16- or 32-bit value, little-endian */
    uint32_t v = interesting[fuzz_below(sizeof(interesting) / 4)];
    size_t w = fuzz_rnd() % 2 ? 2 : 4;
    if (len >= w) {
      size_t at = fuzz_below(len - w + 1);
      for (size_t i = 0; i < w; i++)
        buf[at + i] = (uint8_t)(v >> (8 * i));
    }
    break;
  }
  case 2: /* truncate */
    len = fuzz_below(len + 1);
    break;
  default: /* flip, random byte, delete, duplicate, splice */
    len = fuzz_mutate_common(&corpus, buf, len, which - 3);
    break;
  }
  return len;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s NAME CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const char *name = argv[1];
  unsigned long iterations = argc > 3 ? strtoul(argv[3], NULL, 10) : 5000;
  if (fuzz_load_corpus(&corpus, argv[2]) < 0) {
    fprintf(stderr, "%s: no seeds in %s\n", name, argv[2]);
    return 1;
  }
  for (size_t i = 0; i < corpus.n; i++)
    run(corpus.seed[i], corpus.len[i]);

  uint8_t *buf = malloc(FUZZ_INPUT_MAX);
  if (!buf)
    return 1;
  run(buf, 0);
  memset(buf, 0, FUZZ_INPUT_MAX);
  run(buf, 1);
  run(buf, FUZZ_INPUT_MAX);
  memset(buf, 0xff, FUZZ_INPUT_MAX);
  run(buf, FUZZ_INPUT_MAX);

  for (unsigned long it = 0; it < iterations; it++) {
    size_t s = fuzz_below(corpus.n);
    size_t len = corpus.len[s];
    memcpy(buf, corpus.seed[s], len);
    for (unsigned m = 1 + (unsigned)(fuzz_rnd() % 4); m; m--)
      len = mutate(buf, len);
    run(buf, len);
  }
  free(buf);
  size_t n_seeds = corpus.n;
  fuzz_free_corpus(&corpus);
  printf("%s inputs=%lu seeds=%zu\n", name, inputs, n_seeds);
  return 0;
}
