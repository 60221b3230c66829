/* src/snapshot/stream.h — the byte stream of saved state: a growing writer
 * and a bounds-checked reader with a sticky error, in little-endian. */
#ifndef VMM__SNAPSHOT_STREAM_H
#define VMM__SNAPSHOT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The writer grows its buffer as needed; an allocation failure is
 * remembered (`oom`) and reported once by vmm__sw_finish(), so that save
 * code can write without checking each call.
 */
struct vmm__sw {
  uint8_t *buf;
  size_t len, cap;
  bool oom;
};

void vmm__sw_u8(struct vmm__sw *w, uint8_t v);
void vmm__sw_u16(struct vmm__sw *w, uint16_t v);
void vmm__sw_u32(struct vmm__sw *w, uint32_t v);
void vmm__sw_u64(struct vmm__sw *w, uint64_t v);
void vmm__sw_bool(struct vmm__sw *w, bool v);
void vmm__sw_bytes(struct vmm__sw *w, const void *p, size_t n);
/* A string as u32 length and bytes (no NUL); NULL writes length 0. */
void vmm__sw_str(struct vmm__sw *w, const char *s);
/* A section: tag (string), version (u32), then a u64 length patched by
 * vmm__sw_end(); returns the mark to hand to it. */
size_t vmm__sw_begin(struct vmm__sw *w, const char *tag, uint32_t version);
void vmm__sw_end(struct vmm__sw *w, size_t mark);
/* 0, or VMM_ENOMEM (with the message) when a write ran out of memory. */
int vmm__sw_check(const struct vmm__sw *w, const char *what);
void vmm__sw_free(struct vmm__sw *w);

/*
 * The reader never reads past its end: a read beyond it, or a value a
 * loader refuses (vmm__sr_fail), sets a sticky error and later reads
 * return zeros. Loaders read everything, then check vmm__sr_error().
 */
struct vmm__sr {
  const uint8_t *p;
  size_t len, pos;
  int err;          /* 0 or the first error's code */
  const char *what; /* what is being read, for messages */
  char msg[256];    /* the first error's message */
};

void vmm__sr_init(struct vmm__sr *r, const void *p, size_t len,
                  const char *what);
uint8_t vmm__sr_u8(struct vmm__sr *r);
uint16_t vmm__sr_u16(struct vmm__sr *r);
uint32_t vmm__sr_u32(struct vmm__sr *r);
uint64_t vmm__sr_u64(struct vmm__sr *r);
/* A bool must be stored as 0 or 1. */
bool vmm__sr_bool(struct vmm__sr *r);
bool vmm__sr_bytes(struct vmm__sr *r, void *p, size_t n);
/* Points at the next n bytes without copying (NULL on error). */
const uint8_t *vmm__sr_view(struct vmm__sr *r, size_t n);
/* A string into buf (NUL-terminated); longer than cap-1 is an error. */
bool vmm__sr_str(struct vmm__sr *r, char *buf, size_t cap);
/*
 * Opens the next section, which must carry `tag` and a version from 1 to
 * `max_version`: `sub` reads its payload, *version gets its version.
 */
bool vmm__sr_section(struct vmm__sr *r, const char *tag,
                     uint32_t max_version, struct vmm__sr *sub,
                     uint32_t *version);
/* Records a refusal (printf-style) unless an error is already recorded;
 * returns false for `return vmm__sr_fail(...)` in bool helpers. */
bool vmm__sr_fail(struct vmm__sr *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The error so far, or VMM_EINVAL when bytes are left over (a loader
 * that read less than was saved); 0 when all is well. Sets the message. */
int vmm__sr_finish(struct vmm__sr *r);
/* The sticky error (0 while none). */
static inline int vmm__sr_error(const struct vmm__sr *r) { return r->err; }

/* CRC-32C (Castagnoli) of a buffer, continuing from `crc` (0 to start). */
uint32_t vmm__crc32c(uint32_t crc, const void *p, size_t n);

#endif
