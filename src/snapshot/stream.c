/* src/snapshot/stream.c — the saved-state byte stream: writer, checked
 * reader, CRC-32C. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "snapshot/stream.h"

/* ---- writer ------------------------------------------------------------ */

static uint8_t *sw_room(struct vmm__sw *w, size_t n) {
  if (w->oom)
    return NULL;
  if (n > w->cap - w->len) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap - w->len < n) {
      if (cap > SIZE_MAX / 2) {
        w->oom = true;
        return NULL;
      }
      cap *= 2;
    }
    uint8_t *b = realloc(w->buf, cap);
    if (!b) {
      w->oom = true;
      return NULL;
    }
    w->buf = b;
    w->cap = cap;
  }
  uint8_t *p = w->buf + w->len;
  w->len += n;
  return p;
}

static void put_le(struct vmm__sw *w, uint64_t v, size_t n) {
  uint8_t *p = sw_room(w, n);
  for (size_t i = 0; p && i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

void vmm__sw_u8(struct vmm__sw *w, uint8_t v) { put_le(w, v, 1); }
void vmm__sw_u16(struct vmm__sw *w, uint16_t v) { put_le(w, v, 2); }
void vmm__sw_u32(struct vmm__sw *w, uint32_t v) { put_le(w, v, 4); }
void vmm__sw_u64(struct vmm__sw *w, uint64_t v) { put_le(w, v, 8); }
void vmm__sw_bool(struct vmm__sw *w, bool v) { put_le(w, v ? 1 : 0, 1); }

void vmm__sw_bytes(struct vmm__sw *w, const void *p, size_t n) {
  uint8_t *d = sw_room(w, n);
  if (d && n)
    memcpy(d, p, n);
}

void vmm__sw_str(struct vmm__sw *w, const char *s) {
  size_t n = s ? strlen(s) : 0;
  vmm__sw_u32(w, (uint32_t)n);
  vmm__sw_bytes(w, s, n);
}

size_t vmm__sw_begin(struct vmm__sw *w, const char *tag, uint32_t version) {
  vmm__sw_str(w, tag);
  vmm__sw_u32(w, version);
  size_t mark = w->len;
  vmm__sw_u64(w, 0);
  return mark;
}

void vmm__sw_end(struct vmm__sw *w, size_t mark) {
  if (w->oom)
    return;
  uint64_t n = w->len - mark - 8;
  for (size_t i = 0; i < 8; i++)
    w->buf[mark + i] = (uint8_t)(n >> (8 * i));
}

int vmm__sw_check(const struct vmm__sw *w, const char *what) {
  if (w->oom)
    return vmm__error(VMM_ENOMEM, "%s: out of memory for the saved state",
                      what);
  return 0;
}

void vmm__sw_free(struct vmm__sw *w) {
  free(w->buf);
  memset(w, 0, sizeof(*w));
}

/* ---- reader ------------------------------------------------------------ */

void vmm__sr_init(struct vmm__sr *r, const void *p, size_t len,
                  const char *what) {
  memset(r, 0, sizeof(*r));
  r->p = p;
  r->len = p ? len : 0;
  r->what = what ? what : "saved state";
}

bool vmm__sr_fail(struct vmm__sr *r, const char *fmt, ...) {
  if (r->err)
    return false;
  r->err = VMM_EINVAL;
  int n = snprintf(r->msg, sizeof(r->msg), "%s: ", r->what);
  if (n < 0 || (size_t)n >= sizeof(r->msg))
    n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
  va_end(ap);
  return false;
}

const uint8_t *vmm__sr_view(struct vmm__sr *r, size_t n) {
  if (r->err)
    return NULL;
  if (n > r->len - r->pos) {
    vmm__sr_fail(r, "truncated: %zu bytes wanted at offset %zu, %zu left", n,
                 r->pos, r->len - r->pos);
    return NULL;
  }
  const uint8_t *p = r->p + r->pos;
  r->pos += n;
  return p;
}

static uint64_t get_le(struct vmm__sr *r, size_t n) {
  const uint8_t *p = vmm__sr_view(r, n);
  uint64_t v = 0;
  for (size_t i = 0; p && i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

uint8_t vmm__sr_u8(struct vmm__sr *r) { return (uint8_t)get_le(r, 1); }
uint16_t vmm__sr_u16(struct vmm__sr *r) { return (uint16_t)get_le(r, 2); }
uint32_t vmm__sr_u32(struct vmm__sr *r) { return (uint32_t)get_le(r, 4); }
uint64_t vmm__sr_u64(struct vmm__sr *r) { return get_le(r, 8); }

bool vmm__sr_bool(struct vmm__sr *r) {
  uint8_t v = vmm__sr_u8(r);
  if (v > 1)
    vmm__sr_fail(r, "boolean %u at offset %zu is not 0 or 1", v, r->pos - 1);
  return v == 1;
}

bool vmm__sr_bytes(struct vmm__sr *r, void *p, size_t n) {
  const uint8_t *s = vmm__sr_view(r, n);
  if (!s) {
    if (n)
      memset(p, 0, n);
    return false;
  }
  if (n)
    memcpy(p, s, n);
  return true;
}

bool vmm__sr_str(struct vmm__sr *r, char *buf, size_t cap) {
  uint32_t n = vmm__sr_u32(r);
  buf[0] = 0;
  if (r->err)
    return false;
  if (n >= cap)
    return vmm__sr_fail(r, "string of %u bytes at offset %zu (at most %zu)",
                        n, r->pos - 4, cap - 1);
  const uint8_t *s = vmm__sr_view(r, n);
  if (!s)
    return false;
  if (memchr(s, 0, n))
    return vmm__sr_fail(r, "string at offset %zu holds a NUL", r->pos - n);
  memcpy(buf, s, n);
  buf[n] = 0;
  return true;
}

bool vmm__sr_section(struct vmm__sr *r, const char *tag,
                     uint32_t max_version, struct vmm__sr *sub,
                     uint32_t *version) {
  char got[64];
  size_t at = r->pos;
  vmm__sr_init(sub, NULL, 0, tag);
  if (!vmm__sr_str(r, got, sizeof(got)))
    return false;
  uint32_t ver = vmm__sr_u32(r);
  uint64_t len = vmm__sr_u64(r);
  if (r->err)
    return false;
  if (strcmp(got, tag) != 0)
    return vmm__sr_fail(r, "section \"%s\" expected at offset %zu, found "
                        "\"%s\"", tag, at, got);
  if (ver == 0 || ver > max_version)
    return vmm__sr_fail(r, "section \"%s\" has version %u; this libvmm "
                        "reads versions 1 to %u", tag, ver, max_version);
  if (len > r->len - r->pos)
    return vmm__sr_fail(r, "section \"%s\" is truncated: %llu bytes "
                        "declared, %zu left", tag, (unsigned long long)len,
                        r->len - r->pos);
  vmm__sr_init(sub, r->p + r->pos, (size_t)len, tag);
  r->pos += (size_t)len;
  if (version)
    *version = ver;
  return true;
}

int vmm__sr_finish(struct vmm__sr *r) {
  if (!r->err && r->pos != r->len)
    vmm__sr_fail(r, "%zu bytes left over after the last field (saved by "
                 "another layout?)", r->len - r->pos);
  if (r->err)
    return vmm__error(r->err, "%s", r->msg);
  return 0;
}

/* ---- CRC-32C ----------------------------------------------------------- */

static uint32_t crc_table[256];

__attribute__((constructor)) static void crc_table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crc_table[i] = c;
  }
}

/* SSE 4.2 has an instruction for this polynomial: guest memory of a
 * snapshot is checksummed at several GB/s with it. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
                                                        const uint8_t *p,
                                                        size_t n) {
  uint64_t c = crc;
  while (n && ((uintptr_t)p & 7)) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    n--;
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  while (n--)
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
  return (uint32_t)c;
}

uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t n) {
  const uint8_t *p = buf;
  crc = ~crc;
  if (__builtin_cpu_supports("sse4.2")) {
    crc = crc_hw(crc, p, n);
  } else {
    while (n--)
      crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}
