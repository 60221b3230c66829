/* tests/integration/migrate_wire.h — the migration stream as
 * docs/migration.md describes it, written independently of the library:
 * the tests build good and broken streams with it, and cut real streams
 * at record boundaries. */
#ifndef MIGRATE_WIRE_H
#define MIGRATE_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIGW_HDR 16
enum {
  MIGW_HELLO = 1, MIGW_READY, MIGW_ROUND, MIGW_PAGES, MIGW_STATE, MIGW_END,
  MIGW_ACK, MIGW_ABORT
};

static inline unsigned migw_type(const char *name) {
  static const char *const names[] = {"", "HELLO", "READY", "ROUND", "PAGES",
                                      "STATE", "END", "ACK", "ABORT"};
  for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(name, names[i]))
      return i;
  return 0;
}

static inline uint64_t migw_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static inline void migw_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void migw_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* The record checksum: words of 8 little-endian bytes w, h = ((h ^ w *
 * K1) rotated left 29) * K2 from a fixed seed; the 0..7 bytes left over
 * go into one last word (0x80 then the bytes, count in the top byte). */
static inline uint64_t migw_mix(uint64_t h, uint64_t w) {
  h ^= w * 0x9e3779b97f4a7c15ull;
  h = (h << 29) | (h >> 35);
  return h * 0xbf58476d1ce4e5b9ull;
}
static inline uint64_t migw_hash(const uint8_t *p, size_t n) {
  uint64_t h = 0x6c6962766d6d6d67ull;
  for (; n >= 8; p += 8, n -= 8)
    h = migw_mix(h, migw_get64(p));
  uint64_t last = 0x80;
  for (size_t i = 0; i < n; i++)
    last = (last << 8) | p[i];
  h = migw_mix(h, last ^ ((uint64_t)n << 56));
  return h ^ (h >> 31);
}

struct migw {
  uint8_t *buf;
  size_t len, cap;
};

static inline uint8_t *migw_grow(struct migw *w, size_t n) {
  if (w->len + n > w->cap) {
    w->cap = (w->len + n) * 2;
    w->buf = realloc(w->buf, w->cap);
    if (!w->buf)
      abort();
  }
  uint8_t *p = w->buf + w->len;
  w->len += n;
  return p;
}

/* A record with its payload from two pieces. */
static inline void migw_record2(struct migw *w, unsigned type, const void *a,
                                size_t alen, const void *b, size_t blen) {
  size_t start = w->len;
  uint8_t *h = migw_grow(w, MIGW_HDR);
  memset(h, 0, MIGW_HDR);
  h[0] = 0x56;
  h[1] = 0x4d;
  h[2] = (uint8_t)type;
  migw_put64(h + 8, alen + blen);
  if (alen)
    memcpy(migw_grow(w, alen), a, alen);
  if (blen)
    memcpy(migw_grow(w, blen), b, blen);
  uint64_t sum = migw_hash(w->buf + start, w->len - start);
  migw_put64(migw_grow(w, 8), sum);
}
static inline void migw_record(struct migw *w, unsigned type, const void *p,
                               size_t n) {
  migw_record2(w, type, p, n, NULL, 0);
}

/* HELLO with one region [0, size) and a description. */
static inline void migw_hello(struct migw *w, uint32_t format,
                              uint32_t version, uint32_t n_regions,
                              uint64_t size, const char *json) {
  uint8_t f[32 + 24] = {0};
  memcpy(f, "LIBVMMMG", 8);
  migw_put32(f + 8, format);
  migw_put32(f + 12, 4096);
  migw_put32(f + 16, version);
  migw_put32(f + 20, n_regions);
  migw_put32(f + 24, (uint32_t)strlen(json));
  migw_put64(f + 32, 0);
  migw_put64(f + 40, size);
  migw_record2(w, MIGW_HELLO, f, sizeof(f), json, strlen(json));
}

/* PAGES: `count` pages from `first` of region `region`, filled with
 * `fill`; `data_pages` pages of data actually follow. */
static inline void migw_pages(struct migw *w, uint32_t region, uint64_t first,
                              uint32_t count, uint32_t data_pages,
                              uint8_t fill) {
  uint8_t f[16];
  migw_put32(f, region);
  migw_put32(f + 4, count);
  migw_put64(f + 8, first);
  size_t n = (size_t)data_pages * 4096;
  uint8_t *d = malloc(n ? n : 1);
  memset(d, fill, n);
  migw_record2(w, MIGW_PAGES, f, sizeof(f), d, n);
  free(d);
}

static inline void migw_end(struct migw *w, uint64_t pages, uint64_t rounds) {
  uint8_t b[16];
  migw_put64(b, pages);
  migw_put64(b + 8, rounds);
  migw_record(w, MIGW_END, b, sizeof(b));
}

#endif
