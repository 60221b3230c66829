/* tests/fuzz/config_fuzz_driver.c — runs the config fuzz target without
 * libFuzzer, as a normal test: every seed of a corpus directory, a few
 * pathological inputs, then a fixed number of deterministic mutations
 * (bit flips, byte edits, deletions, duplications, dictionary tokens,
 * splices of two seeds) through LLVMFuzzerTestOneInput().
 *
 *   config_fuzz_driver CORPUS_DIR [ITERATIONS]
 *
 * The last line is "config_fuzz inputs=N accepted=A rejected=R". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

#include "fuzz_util.h"

static struct fuzz_corpus corpus;
static unsigned long accepted, rejected, inputs;

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
  unsigned which = (unsigned)(fuzz_rnd() % 8);
  switch (which) {
  case 0: { /* a JSON-ish byte */
    static const char set[] = "{}[]\",:0123456789abcdefxX-+.eE \n\\";
    if (len)
      buf[fuzz_below(len)] = (uint8_t)set[fuzz_below(sizeof(set) - 1)];
    break;
  }
  case 1:
  case 2: { /* a dictionary token */
    const char *t = tokens[fuzz_below(sizeof(tokens) / sizeof(tokens[0]))];
    size_t n = strlen(t), at = fuzz_below(len + 1);
    size_t cut = fuzz_rnd() % 2 ? fuzz_below(len - at + 1) % 16 : 0;
    if (len - cut + n <= FUZZ_INPUT_MAX) {
      memmove(buf + at + n, buf + at + cut, len - at - cut);
      memcpy(buf + at, t, n);
      len = len - cut + n;
    }
    break;
  }
  default: /* flip, random byte, delete, duplicate, splice */
    len = fuzz_mutate_common(&corpus, buf, len, which - 3);
    break;
  }
  return len;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  unsigned long iterations = argc > 2 ? strtoul(argv[2], NULL, 10) : 5000;
  if (fuzz_load_corpus(&corpus, argv[1]) < 0) {
    fprintf(stderr, "config_fuzz: no seeds in %s\n", argv[1]);
    return 1;
  }
  for (size_t i = 0; i < corpus.n; i++)
    run(corpus.seed[i], corpus.len[i]);
  unsigned long seeds_accepted = accepted;

  /* Pathological inputs: deep nesting, a long string, NUL bytes. */
  uint8_t *buf = malloc(FUZZ_INPUT_MAX);
  if (!buf)
    return 1;
  memset(buf, '[', 5000);
  run(buf, 5000);
  memset(buf, '{', 3000);
  run(buf, 3000);
  size_t n = (size_t)snprintf((char *)buf, FUZZ_INPUT_MAX, "{\"memory\": \"");
  memset(buf + n, 'A', 60000);
  memcpy(buf + n + 60000, "\"}", 2);
  run(buf, n + 60002);
  static const uint8_t nul[] = "{\"memory\"\0: \"1M\"}";
  run(nul, sizeof(nul));
  run((const uint8_t *)"", 0);

  for (unsigned long it = 0; it < iterations; it++) {
    size_t s = fuzz_below(corpus.n);
    size_t len = corpus.len[s];
    memcpy(buf, corpus.seed[s], len);
    for (unsigned m = 1 + (unsigned)(fuzz_rnd() % 4); m; m--)
      len = mutate(buf, len);
    run(buf, len);
  }
  free(buf);
  fuzz_free_corpus(&corpus);
  if (seeds_accepted == 0) {
    fprintf(stderr, "config_fuzz: no seed parses: the corpus is stale\n");
    return 1;
  }
  printf("config_fuzz inputs=%lu accepted=%lu rejected=%lu\n", inputs,
         accepted, rejected);
  return 0;
}
