/* tests/fuzz/fuzz_util.c — the corpus, random source and byte mutations
 * of the plain fuzz drivers (fuzz_util.h). */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_load_corpus(struct fuzz_corpus *c, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d)) && c->n < FUZZ_MAX_SEEDS) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    uint8_t *buf = malloc(FUZZ_INPUT_MAX);
    size_t n = buf ? fread(buf, 1, FUZZ_INPUT_MAX, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
      free(buf);
      continue;
    }
    c->seed[c->n] = buf;
    c->len[c->n++] = n;
  }
  closedir(d);
  return c->n ? 0 : -1;
}

void fuzz_free_corpus(struct fuzz_corpus *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->seed[i]);
  c->n = 0;
}

uint64_t fuzz_rnd(void) {
  static uint64_t state = 0x9e3779b97f4a7c15ull;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

size_t fuzz_mutate_common(const struct fuzz_corpus *c, uint8_t *buf,
                          size_t len, unsigned which) {
  switch (which % 5) {
  case 0: /* flip a bit */
    if (len)
      buf[fuzz_below(len)] ^= (uint8_t)(1u << (fuzz_rnd() % 8));
    break;
  case 1: /* a random byte */
    if (len)
      buf[fuzz_below(len)] = (uint8_t)fuzz_rnd();
    break;
  case 2: { /* delete a range */
    size_t at = fuzz_below(len + 1), n = fuzz_below(len - at + 1) % 32;
    memmove(buf + at, buf + at + n, len - at - n);
    len -= n;
    break;
  }
  case 3: { /* duplicate a range */
    size_t at = fuzz_below(len + 1), n = fuzz_below(len - at + 1) % 64;
    if (len + n <= FUZZ_INPUT_MAX) {
      memmove(buf + at + n, buf + at, len - at);
      len += n;
    }
    break;
  }
  default: { /* splice: our head, another seed's tail */
    size_t s = fuzz_below(c->n), at = fuzz_below(len + 1);
    size_t from = fuzz_below(c->len[s]), n = c->len[s] - from;
    if (at + n > FUZZ_INPUT_MAX)
      n = FUZZ_INPUT_MAX - at;
    memcpy(buf + at, c->seed[s] + from, n);
    len = at + n;
    break;
  }
  }
  return len;
}
