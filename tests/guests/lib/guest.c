/* tests/guests/lib/guest.c — printing, formatting, ucalls and the string
 * functions freestanding guests need. */
#include "guest.h"

void guest_putc(char c) { outb(GUEST_PRINT_PORT, (uint8_t)c); }

void guest_puts(const char *s) {
  while (*s)
    guest_putc(*s++);
}

/* ---- a small vsnprintf: enough for assertion messages ---- */

struct out {
  char *buf;
  size_t size, len;
};

static void put(struct out *o, char c) {
  if (o->len + 1 < o->size)
    o->buf[o->len] = c;
  o->len++;
}

/* Decimal without 64-bit division: 32-bit guests have no libgcc. */
static void put_udec(struct out *o, uint64_t v) {
  static const uint64_t pow10[] = {
      10000000000000000000ull, 1000000000000000000ull, 100000000000000000ull,
      10000000000000000ull, 1000000000000000ull, 100000000000000ull,
      10000000000000ull, 1000000000000ull, 100000000000ull, 10000000000ull,
      1000000000ull, 100000000ull, 10000000ull, 1000000ull, 100000ull,
      10000ull, 1000ull, 100ull, 10ull, 1ull};
  int started = 0;
  for (size_t i = 0; i < sizeof(pow10) / sizeof(pow10[0]); i++) {
    char d = '0';
    while (v >= pow10[i]) {
      v -= pow10[i];
      d++;
    }
    if (d != '0' || started || pow10[i] == 1) {
      put(o, d);
      started = 1;
    }
  }
}

static void put_hex(struct out *o, uint64_t v) {
  int shift = 60;
  while (shift > 0 && !((v >> shift) & 0xf))
    shift -= 4;
  for (; shift >= 0; shift -= 4)
    put(o, "0123456789abcdef"[(v >> shift) & 0xf]);
}

int guest_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct out o = {buf, size, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&o, *fmt);
      continue;
    }
    int lng = 0;
    fmt++;
    while (*fmt == 'l') {
      lng++;
      fmt++;
    }
    switch (*fmt) {
    case 's': {
      const char *s = va_arg(ap, const char *);
      for (s = s ? s : "(null)"; *s; s++)
        put(&o, *s);
      break;
    }
    case 'c':
      put(&o, (char)va_arg(ap, int));
      break;
    case 'd': {
      int64_t v = lng >= 2 ? va_arg(ap, long long)
                  : lng ? va_arg(ap, long) : va_arg(ap, int);
      if (v < 0) {
        put(&o, '-');
        put_udec(&o, -(uint64_t)v);
      } else {
        put_udec(&o, (uint64_t)v);
      }
      break;
    }
    case 'u':
      put_udec(&o, lng >= 2 ? va_arg(ap, unsigned long long)
                   : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
      break;
    case 'x':
      put_hex(&o, lng >= 2 ? va_arg(ap, unsigned long long)
                  : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
      break;
    case 'p':
      put(&o, '0');
      put(&o, 'x');
      put_hex(&o, (uintptr_t)va_arg(ap, void *));
      break;
    case '%':
      put(&o, '%');
      break;
    default: /* unknown conversion: show it rather than guess */
      put(&o, '%');
      put(&o, *fmt ? *fmt : '?');
      if (!*fmt)
        fmt--;
      break;
    }
  }
  if (size)
    buf[o.len < size ? o.len : size - 1] = 0;
  return (int)o.len;
}

int guest_snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = guest_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

/* ---- ucalls ---- */

/* The struct lives on the caller's stack: no shared state, so any vCPU
 * and either ring can ucall at any time. */
static void ucall_send(struct ucall *uc) {
  uc->magic = UCALL_MAGIC;
  __asm__ volatile("outl %0, %w1"
                   : : "a"((uint32_t)(uintptr_t)uc), "d"(UCALL_PORT)
                   : "memory");
}

void ucall(uint32_t cmd, int nargs, const uint64_t *args) {
  struct ucall uc;
  memset(&uc, 0, sizeof(uc));
  uc.cmd = cmd;
  for (int i = 0; i < nargs && i < UCALL_MAX_ARGS; i++)
    uc.args[i] = args[i];
  ucall_send(&uc);
}

void guest_printf(const char *fmt, ...) {
  struct ucall uc;
  memset(&uc, 0, sizeof(uc));
  uc.cmd = UCALL_PRINT;
  va_list ap;
  va_start(ap, fmt);
  guest_vsnprintf(uc.text, sizeof(uc.text), fmt, ap);
  va_end(ap);
  ucall_send(&uc);
}

void guest_done(void) {
  ucall(UCALL_DONE, 0, NULL);
  for (;;)
    hlt();
}

void guest_abort(const char *file, int line, const char *fmt, ...) {
  struct ucall uc;
  memset(&uc, 0, sizeof(uc));
  uc.cmd = UCALL_ABORT;
  uc.args[0] = (uint64_t)line;
  int n = guest_snprintf(uc.text, sizeof(uc.text), "%s:%d: ", file, line);
  if (n < (int)sizeof(uc.text)) {
    va_list ap;
    va_start(ap, fmt);
    guest_vsnprintf(uc.text + n, sizeof(uc.text) - n, fmt, ap);
    va_end(ap);
  }
  ucall_send(&uc);
  for (;;)
    hlt();
}

/* Called by exceptions.S (64-bit guests) for any CPU exception. */
void guest_exception(uint64_t vector, uint64_t error_code, uint64_t rip,
                     uint64_t cs, uint64_t cr2) {
  guest_abort(__FILE__, __LINE__,
              "CPU exception %llu, error code 0x%llx, at rip 0x%llx "
              "(cs 0x%llx, cr2 0x%llx)",
              (unsigned long long)vector, (unsigned long long)error_code,
              (unsigned long long)rip, (unsigned long long)cs,
              (unsigned long long)cr2);
}

/* ---- string functions ---- */

void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--)
    *p++ = (unsigned char)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  while (n--)
    *dp++ = *sp++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  if (dp < sp) {
    while (n--)
      *dp++ = *sp++;
  } else {
    while (n--)
      dp[n] = sp[n];
  }
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y)
      return *x < *y ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}
