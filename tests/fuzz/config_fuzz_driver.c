/* tests/fuzz/config_fuzz_driver.c — runs the config fuzz target without
 * libFuzzer, as a normal test: every seed of a corpus directory, a few
 * pathological inputs, then a fixed number of deterministic mutations
 * (bit flips, byte edits, deletions, duplications, dictionary tokens,
 * splices of two seeds) through LLVMFuzzerTestOneInput().
 *
 *   config_fuzz_driver CORPUS_DIR [ITERATIONS]
 *
 * The last line is "config_fuzz inputs=N accepted=A rejected=R". */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 64
#define INPUT_MAX (64u << 10)

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS], n_seeds;
static unsigned long accepted, rejected, inputs;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64: the same run every time */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void run(const uint8_t *data, size_t len) {
  vmm_config_t *probe = NULL;
  /* The target checks the invariants; the driver only counts. */
  LLVMFuzzerTestOneInput(data, len);
  if (vmm_config_parse((const char *)data, len, &probe) == 0)
    accepted++;
  else
    rejected++;
  vmm_config_free(probe);
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

static const char *const tokens[] = {
    "null", "true", "false", "0", "-1", "1.5", "1e400", "-0",
    "9007199254740993", "\"\"", "\"0x\"", "\"0xffffffffffffffffff\"",
    "\"64T\"", "\"4K\"", "\"1X\"", "[]", "{}", "[[[[", "}}}}", "\"\\u0000\"",
    "\"\\ud800\"", ",", ":", "\"memory\"", "\"devices\"", "\"payload\"",
    "\"type\"", "\"id\"", "\"path\"", "\"port\"", "\"irq\"", "\"chardev\"",
    "{\"type\": \"uart\"}", "{\"type\": \"virtio-blk\", \"path\": \"x\"}",
    "\"stdio\"", "\"/proc/self/exe\"", "\"/nonexistent/x\"", "\"mmio\"",
    "\"pci\"", "\"long\"", "\"real\"", "\"+xsave\"", "\"-nope\"",
};

static size_t mutate(uint8_t *buf, size_t len) {
  switch (rnd() % 7) {
  case 0: /* flip a bit */
    if (len)
      buf[below(len)] ^= (uint8_t)(1u << (rnd() % 8));
    break;
  case 1: { /* a JSON-ish byte */
    static const char set[] = "{}[]\",:0123456789abcdefxX-+.eE \n\\";
    if (len)
      buf[below(len)] = (uint8_t)set[below(sizeof(set) - 1)];
    break;
  }
  case 2: { /* delete a range */
    size_t at = below(len + 1), n = below(len - at + 1) % 32;
    memmove(buf + at, buf + at + n, len - at - n);
    len -= n;
    break;
  }
  case 3: { /* duplicate a range */
    size_t at = below(len + 1), n = below(len - at + 1) % 64;
    if (len + n <= INPUT_MAX) {
      memmove(buf + at + n, buf + at, len - at);
      len += n;
    }
    break;
  }
  case 4:
  case 5: { /* a dictionary token */
    const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
    size_t n = strlen(t), at = below(len + 1);
    size_t cut = rnd() % 2 ? below(len - at + 1) % 16 : 0;
    if (len - cut + n <= INPUT_MAX) {
      memmove(buf + at + n, buf + at + cut, len - at - cut);
      memcpy(buf + at, t, n);
      len = len - cut + n;
    }
    break;
  }
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
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  unsigned long iterations = argc > 2 ? strtoul(argv[2], NULL, 10) : 5000;
  if (load_corpus(argv[1]) < 0) {
    fprintf(stderr, "config_fuzz: no seeds in %s\n", argv[1]);
    return 1;
  }
  for (size_t i = 0; i < n_seeds; i++)
    run(seeds[i], seed_len[i]);
  unsigned long seeds_accepted = accepted;

  /* Pathological inputs: deep nesting, a long string, NUL bytes. */
  uint8_t *buf = malloc(INPUT_MAX);
  if (!buf)
    return 1;
  memset(buf, '[', 5000);
  run(buf, 5000);
  memset(buf, '{', 3000);
  run(buf, 3000);
  size_t n = (size_t)snprintf((char *)buf, INPUT_MAX, "{\"memory\": \"");
  memset(buf + n, 'A', 60000);
  memcpy(buf + n + 60000, "\"}", 2);
  run(buf, n + 60002);
  static const uint8_t nul[] = "{\"memory\"\0: \"1M\"}";
  run(nul, sizeof(nul));
  run((const uint8_t *)"", 0);

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
  if (seeds_accepted == 0) {
    fprintf(stderr, "config_fuzz: no seed parses: the corpus is stale\n");
    return 1;
  }
  printf("config_fuzz inputs=%lu accepted=%lu rejected=%lu\n", inputs,
         accepted, rejected);
  return 0;
}
