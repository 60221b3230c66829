/* tests/fuzz/fuzz_driver.c — runs one libFuzzer-style target without
 * libFuzzer, as a normal test: every seed of a corpus directory, a few
 * edge inputs (empty, one byte, all-0x00 and all-0xff blocks), then a fixed
 * number of deterministic binary mutations (bit flips, interesting bytes
 * and 16/32-bit values, deletions, duplications, splices of two seeds).
 * The target checks its own invariants and aborts when one breaks.
 *
 *   fuzz_driver NAME CORPUS_DIR [ITERATIONS]
 *
 * The last line is "NAME inputs=N seeds=S". (config_fuzz_driver.c is the
 * JSON-aware variant for the config parser.) */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 64
#define INPUT_MAX (80u << 10)

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS], n_seeds;
static unsigned long inputs;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64: the same run every time */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void run(const uint8_t *data, size_t len) {
  LLVMFuzzerTestOneInput(data, len);
  inputs++;
}

static int load_corpus(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d)) && n_seeds < MAX_SEEDS) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    uint8_t *buf = malloc(INPUT_MAX);
    size_t n = buf ? fread(buf, 1, INPUT_MAX, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
      free(buf);
      continue;
    }
    seeds[n_seeds] = buf;
    seed_len[n_seeds++] = n;
  }
  closedir(d);
  return n_seeds ? 0 : -1;
}

static const uint32_t interesting[] = {
    0, 1, 2, 3, 4, 7, 8, 15, 16, 0x1f, 0x20, 0x23, 0x24, 0x2a, 0x7d, 0x7f,
    0x80, 0xff, 0x100, 0x1000, 0x2000, 0x3000, 0x7fff, 0x8000, 0xfffe,
    0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};

static size_t mutate(uint8_t *buf, size_t len) {
  switch (rnd() % 8) {
  case 0: /* flip a bit */
    if (len)
      buf[below(len)] ^= (uint8_t)(1u << (rnd() % 8));
    break;
  case 1: /* an interesting byte */
    if (len)
      buf[below(len)] = (uint8_t)interesting[below(sizeof(interesting) / 4)];
    break;
  case 2: { /* an interesting 16- or 32-bit value, little-endian */
    uint32_t v = interesting[below(sizeof(interesting) / 4)];
    size_t w = rnd() % 2 ? 2 : 4;
    if (len >= w) {
      size_t at = below(len - w + 1);
      for (size_t i = 0; i < w; i++)
        buf[at + i] = (uint8_t)(v >> (8 * i));
    }
    break;
  }
  case 3: { /* delete a range */
    size_t at = below(len + 1), n = below(len - at + 1) % 32;
    memmove(buf + at, buf + at + n, len - at - n);
    len -= n;
    break;
  }
  case 4: { /* duplicate a range */
    size_t at = below(len + 1), n = below(len - at + 1) % 64;
    if (len + n <= INPUT_MAX) {
      memmove(buf + at + n, buf + at, len - at);
      len += n;
    }
    break;
  }
  case 5: /* a random byte */
    if (len)
      buf[below(len)] = (uint8_t)rnd();
    break;
  case 6: /* truncate */
    len = below(len + 1);
    break;
  default: { /* splice: our head, another seed's tail */
    size_t s = below(n_seeds), at = below(len + 1), from = below(seed_len[s]);
    size_t n = seed_len[s] - from;
    if (at + n > INPUT_MAX)
      n = INPUT_MAX - at;
    memcpy(buf + at, seeds[s] + from, n);
    len = at + n;
    break;
  }
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
  if (load_corpus(argv[2]) < 0) {
    fprintf(stderr, "%s: no seeds in %s\n", name, argv[2]);
    return 1;
  }
  for (size_t i = 0; i < n_seeds; i++)
    run(seeds[i], seed_len[i]);

  uint8_t *buf = malloc(INPUT_MAX);
  if (!buf)
    return 1;
  run(buf, 0);
  memset(buf, 0, INPUT_MAX);
  run(buf, 1);
  run(buf, INPUT_MAX);
  memset(buf, 0xff, INPUT_MAX);
  run(buf, INPUT_MAX);

  for (unsigned long it = 0; it < iterations; it++) {
    size_t s = below(n_seeds);
    size_t len = seed_len[s];
    memcpy(buf, seeds[s], len);
    for (unsigned m = 1 + (unsigned)(rnd() % 4); m; m--)
      len = mutate(buf, len);
    run(buf, len);
  }
  free(buf);
  for (size_t i = 0; i < n_seeds; i++)
    free(seeds[i]);
  printf("%s inputs=%lu seeds=%zu\n", name, inputs, n_seeds);
  return 0;
}
