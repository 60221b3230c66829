/* src/boot/aml.c — the AML byte-code builder (ACPI 6.x, chapter 20
 * "ACPI Machine Language Specification", and 6.4 "Resource Data Types"). */
#include <stdlib.h>
#include <string.h>

#include "boot/aml.h"
#include "error.h"

/* Opcodes. */
#define ZERO_OP 0x00
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0a
#define WORD_PREFIX 0x0b
#define DWORD_PREFIX 0x0c
#define STRING_PREFIX 0x0d
#define QWORD_PREFIX 0x0e
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define METHOD_OP 0x14
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f
#define EXT_OP_PREFIX 0x5b
#define DEVICE_OP 0x82 /* after EXT_OP_PREFIX */
#define RETURN_OP 0xa4

/* PkgLength holds at most 28 bits. */
#define PKG_MAX 0x0fffffffu

void vmm__aml_init(vmm__aml_t *a) { memset(a, 0, sizeof(*a)); }

void vmm__aml_free(vmm__aml_t *a) {
  free(a->buf);
  memset(a, 0, sizeof(*a));
}

static void fail(vmm__aml_t *a, int code, const char *what) {
  if (!a->err)
    a->err = vmm__error(code, "acpi: AML: %s", what);
}

int vmm__aml_finish(vmm__aml_t *a) {
  if (!a->err && a->depth)
    fail(a, VMM_EINVAL, "an object was left open");
  return a->err;
}

static bool reserve(vmm__aml_t *a, size_t n) {
  if (a->err)
    return false;
  if (a->len + n <= a->cap)
    return true;
  size_t cap = a->cap ? a->cap : 256;
  while (cap < a->len + n)
    cap *= 2;
  uint8_t *p = realloc(a->buf, cap);
  if (!p) {
    fail(a, VMM_ENOMEM, "out of memory");
    return false;
  }
  a->buf = p;
  a->cap = cap;
  return true;
}

void vmm__aml_bytes(vmm__aml_t *a, const void *p, size_t n) {
  if (!reserve(a, n))
    return;
  memcpy(a->buf + a->len, p, n);
  a->len += n;
}

static void byte(vmm__aml_t *a, uint8_t b) { vmm__aml_bytes(a, &b, 1); }

static void le(vmm__aml_t *a, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    byte(a, (uint8_t)(v >> (8 * i)));
}

/* ---- names ------------------------------------------------------------ */

static bool seg_char(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void vmm__aml_name(vmm__aml_t *a, const char *path) {
  if (a->err)
    return;
  const char *p = path;
  while (*p == '\\' || *p == '^')
    byte(a, (uint8_t)*p++);
  /* Segments are separated by dots, each 1-4 characters. */
  char segs[16][4];
  unsigned n = 0;
  while (*p) {
    if (n == 16) {
      fail(a, VMM_EINVAL, "name path too long");
      return;
    }
    unsigned k = 0;
    memset(segs[n], '_', 4);
    for (; *p && *p != '.'; p++, k++) {
      if (k == 4 || !seg_char(*p, k == 0)) {
        fail(a, VMM_EINVAL, "bad name segment");
        return;
      }
      segs[n][k] = *p;
    }
    if (k == 0) {
      fail(a, VMM_EINVAL, "empty name segment");
      return;
    }
    n++;
    if (*p == '.')
      p++;
  }
  if (n == 0) {
    byte(a, ZERO_OP); /* NullName: only the prefix (e.g. "\\") */
    return;
  }
  if (n == 2)
    byte(a, DUAL_NAME_PREFIX);
  if (n > 2) {
    byte(a, MULTI_NAME_PREFIX);
    byte(a, (uint8_t)n);
  }
  for (unsigned i = 0; i < n; i++)
    vmm__aml_bytes(a, segs[i], 4);
}

/* ---- data ------------------------------------------------------------- */

void vmm__aml_int(vmm__aml_t *a, uint64_t v) {
  if (v == 0) {
    byte(a, ZERO_OP);
  } else if (v == 1) {
    byte(a, ONE_OP);
  } else if (v <= 0xff) {
    byte(a, BYTE_PREFIX);
    le(a, v, 1);
  } else if (v <= 0xffff) {
    byte(a, WORD_PREFIX);
    le(a, v, 2);
  } else if (v <= 0xffffffffu) {
    byte(a, DWORD_PREFIX);
    le(a, v, 4);
  } else {
    byte(a, QWORD_PREFIX);
    le(a, v, 8);
  }
}

void vmm__aml_string(vmm__aml_t *a, const char *s) {
  for (const char *c = s; *c; c++) {
    if ((unsigned char)*c < 0x01 || (unsigned char)*c > 0x7f) {
      fail(a, VMM_EINVAL, "string with a non-ASCII character");
      return;
    }
  }
  byte(a, STRING_PREFIX);
  vmm__aml_bytes(a, s, strlen(s) + 1);
}

void vmm__aml_eisaid(vmm__aml_t *a, const char *id) {
  /* Three letters of five bits each, then four hex digits; the result is
   * stored big-endian in the 32-bit integer. */
  if (strlen(id) != 7) {
    fail(a, VMM_EINVAL, "EISA id is not 7 characters");
    return;
  }
  uint32_t v = 0;
  for (int i = 0; i < 3; i++) {
    if (id[i] < 'A' || id[i] > 'Z') {
      fail(a, VMM_EINVAL, "EISA id vendor is not 3 capitals");
      return;
    }
    v = v << 5 | (uint32_t)(id[i] - 0x40);
  }
  for (int i = 3; i < 7; i++) {
    char c = id[i];
    uint32_t d;
    if (c >= '0' && c <= '9')
      d = (uint32_t)(c - '0');
    else if (c >= 'A' && c <= 'F')
      d = (uint32_t)(c - 'A' + 10);
    else {
      fail(a, VMM_EINVAL, "EISA id product is not 4 hex digits");
      return;
    }
    v = v << 4 | d;
  }
  uint32_t be = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) |
                (v << 24);
  byte(a, DWORD_PREFIX);
  le(a, be, 4);
}

/* ---- objects with a PkgLength ----------------------------------------- */

static void open_obj(vmm__aml_t *a) {
  if (a->err)
    return;
  if (a->depth == VMM__AML_DEPTH) {
    fail(a, VMM_EINVAL, "objects nested too deep");
    return;
  }
  a->open[a->depth++] = a->len;
}

void vmm__aml_close(vmm__aml_t *a) {
  if (a->err)
    return;
  if (a->depth == 0) {
    fail(a, VMM_EINVAL, "close without an open object");
    return;
  }
  size_t start = a->open[--a->depth];
  size_t body = a->len - start;
  /* The encoded length counts its own bytes: one byte holds up to 63,
   * otherwise the lead byte gives the count of following bytes and the
   * low nibble, each following byte eight more bits. */
  unsigned n = body + 1 <= 63 ? 1 : body + 2 < (1u << 12) ? 2
               : body + 3 < (1u << 20) ? 3 : 4;
  uint64_t total = body + n;
  if (total > PKG_MAX) {
    fail(a, VMM_ENOSPC, "object too large");
    return;
  }
  if (!reserve(a, n))
    return;
  memmove(a->buf + start + n, a->buf + start, body);
  a->len += n;
  uint8_t *p = a->buf + start;
  if (n == 1) {
    p[0] = (uint8_t)total;
  } else {
    p[0] = (uint8_t)((n - 1) << 6 | (total & 0x0f));
    for (unsigned i = 1; i < n; i++)
      p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
  }
}

void vmm__aml_name_decl(vmm__aml_t *a, const char *path) {
  byte(a, NAME_OP);
  vmm__aml_name(a, path);
}

void vmm__aml_scope(vmm__aml_t *a, const char *path) {
  byte(a, SCOPE_OP);
  open_obj(a);
  vmm__aml_name(a, path);
}

void vmm__aml_device(vmm__aml_t *a, const char *path) {
  byte(a, EXT_OP_PREFIX);
  byte(a, DEVICE_OP);
  open_obj(a);
  vmm__aml_name(a, path);
}

void vmm__aml_method(vmm__aml_t *a, const char *path, unsigned nargs,
                     bool serialized) {
  if (nargs > 7) {
    fail(a, VMM_EINVAL, "a method takes at most 7 arguments");
    return;
  }
  byte(a, METHOD_OP);
  open_obj(a);
  vmm__aml_name(a, path);
  byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void vmm__aml_package(vmm__aml_t *a, unsigned n) {
  if (n > 255) {
    fail(a, VMM_EINVAL, "a package holds at most 255 elements");
    return;
  }
  byte(a, PACKAGE_OP);
  open_obj(a);
  byte(a, (uint8_t)n);
}

void vmm__aml_buffer(vmm__aml_t *a) {
  byte(a, BUFFER_OP);
  open_obj(a);
  /* The size is only known at the close: a DWord placeholder, patched
   * by vmm__aml_res_end()/buffer_close below. */
  byte(a, DWORD_PREFIX);
  le(a, 0, 4);
}

void vmm__aml_return(vmm__aml_t *a) { byte(a, RETURN_OP); }

/* ---- resource descriptors --------------------------------------------- */

/* Large descriptor header: tag, 16-bit length of what follows. */
static void large(vmm__aml_t *a, uint8_t tag, uint16_t len) {
  byte(a, tag);
  le(a, len, 2);
}

/* Word/DWord address space descriptors for a producer window with fixed
 * bounds (general flags: MinFixed | MaxFixed, PosDecode, producer). */
#define ADDR_FLAGS 0x0c

void vmm__aml_res_bus_number(vmm__aml_t *a, uint16_t min, uint16_t max) {
  large(a, 0x88, 13);
  byte(a, 2); /* bus number range */
  byte(a, ADDR_FLAGS);
  byte(a, 0);
  le(a, 0, 2); /* granularity */
  le(a, min, 2);
  le(a, max, 2);
  le(a, 0, 2); /* translation */
  le(a, (uint32_t)max - min + 1, 2);
}

void vmm__aml_res_word_io(vmm__aml_t *a, uint16_t min, uint16_t max) {
  large(a, 0x88, 13);
  byte(a, 1);    /* I/O range */
  byte(a, ADDR_FLAGS);
  byte(a, 0x03); /* _RNG: ISA and non-ISA ranges */
  le(a, 0, 2);
  le(a, min, 2);
  le(a, max, 2);
  le(a, 0, 2);
  le(a, (uint32_t)max - min + 1, 2);
}

void vmm__aml_res_dword_memory(vmm__aml_t *a, uint32_t min, uint32_t max) {
  large(a, 0x87, 23);
  byte(a, 0);    /* memory range */
  byte(a, ADDR_FLAGS);
  byte(a, 0x01); /* read-write, non-cacheable */
  le(a, 0, 4);
  le(a, min, 4);
  le(a, max, 4);
  le(a, 0, 4);
  le(a, (uint64_t)max - min + 1, 4);
}

void vmm__aml_res_io(vmm__aml_t *a, uint16_t base, uint8_t len) {
  byte(a, 0x47); /* small item: I/O port, 7 bytes */
  byte(a, 0x01); /* 16-bit decode */
  le(a, base, 2);
  le(a, base, 2);
  byte(a, 1);
  byte(a, len);
}

void vmm__aml_res_memory32(vmm__aml_t *a, uint32_t base, uint32_t len) {
  large(a, 0x86, 9);
  byte(a, 0x01); /* read-write */
  le(a, base, 4);
  le(a, len, 4);
}

void vmm__aml_res_interrupt(vmm__aml_t *a, uint32_t gsi, bool level,
                            bool low) {
  large(a, 0x89, 6);
  /* consumer; _HE: 1 edge, 0 level; _LL: 1 active-low; exclusive */
  byte(a, (uint8_t)(0x01 | (level ? 0 : 0x02) | (low ? 0x04 : 0)));
  byte(a, 1);
  le(a, gsi, 4);
}

void vmm__aml_res_end(vmm__aml_t *a) {
  byte(a, 0x79);
  byte(a, 0); /* checksum 0: "treat as correct" */
  if (a->err || a->depth == 0)
    return;
  /* Patch the buffer's size: everything after the DWord placeholder. */
  size_t start = a->open[a->depth - 1];
  size_t size = a->len - start - 5;
  for (int i = 0; i < 4; i++)
    a->buf[start + 1 + (size_t)i] = (uint8_t)(size >> (8 * i));
}
