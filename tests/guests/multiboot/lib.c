/* tests/guests/multiboot/lib.c — UART, fw_cfg, debug exit and string
 * helpers of the multiboot test kernels. */
#include <stdarg.h>

#include "mb.h"

void mb_putc(char c) {
  for (int i = 0; i < 100000 && !(inb(MB_UART_PORT + 5) & 0x20); i++)
    ;
  outb(MB_UART_PORT, (uint8_t)c);
}

void mb_puts(const char *s) {
  while (*s)
    mb_putc(*s++);
}

void mb_printf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  guest_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mb_puts(buf);
}

void mb_exit(uint32_t v) {
  outl(MB_EXIT_PORT, v);
  for (;;)
    __asm__ volatile("cli; hlt");
}

void fw_cfg_select(uint16_t key) { outw(MB_FW_CFG_PORT, key); }

void fw_cfg_read(void *buf, uint32_t len) {
  uint8_t *p = buf;
  for (uint32_t i = 0; i < len; i++)
    p[i] = inb(MB_FW_CFG_PORT + 1);
}

uint32_t fw_cfg_read32(uint16_t key) {
  uint32_t v = 0;
  fw_cfg_select(key);
  fw_cfg_read(&v, 4);
  return v;
}

uint32_t fnv1a(const void *p, uint32_t len) {
  const uint8_t *b = p;
  uint32_t h = 0x811c9dc5u;
  for (uint32_t i = 0; i < len; i++) {
    h ^= b[i];
    h *= 0x01000193u;
  }
  return h;
}

const char *cmdline_value(const char *s, const char *key) {
  size_t klen = strlen(key);
  while (s && *s) {
    while (*s == ' ')
      s++;
    if (memcmp(s, key, klen) == 0 && s[klen] == '=')
      return s + klen + 1;
    while (*s && *s != ' ')
      s++;
  }
  return NULL;
}

uint64_t parse_num(const char *s, uint64_t dflt) {
  if (!s)
    return dflt;
  uint64_t v = 0;
  if (s[0] == '0' && s[1] == 'x') {
    for (s += 2;; s++) {
      char c = *s;
      if (c >= '0' && c <= '9')
        v = v << 4 | (uint64_t)(c - '0');
      else if (c >= 'a' && c <= 'f')
        v = v << 4 | (uint64_t)(c - 'a' + 10);
      else
        return v;
    }
  }
  for (; *s >= '0' && *s <= '9'; s++)
    v = (v << 3) + (v << 1) + (uint64_t)(*s - '0');
  return v;
}

int mb_strcmp(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return (unsigned char)*a - (unsigned char)*b;
}
