/* src/gdbstub/packet.c — GDB remote serial protocol framing. Everything
 * here handles bytes from the network: every buffer is bounded and a
 * malformed packet is refused ('-'), never overrun. */
#include <string.h>

#include "packet.h"

enum { ST_IDLE, ST_BODY, ST_CSUM1, ST_CSUM2 };

void vmm__gdb_rx_init(struct vmm__gdb_rx *rx) {
  rx->state = ST_IDLE;
  rx->overflow = false;
  rx->sum = rx->csum = 0;
  rx->raw_len = rx->len = 0;
  rx->data[0] = 0;
}

int vmm__gdb_hexval(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void vmm__gdb_tohex(char *out, const uint8_t *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
}

int vmm__gdb_fromhex(uint8_t *out, const char *in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = vmm__gdb_hexval((uint8_t)in[2 * i]);
    int lo = hi < 0 ? -1 : vmm__gdb_hexval((uint8_t)in[2 * i + 1]);
    if (lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

int vmm__gdb_parse_hex(const char **p, uint64_t *out) {
  uint64_t v = 0;
  int n = 0, d;
  while ((d = vmm__gdb_hexval((uint8_t)**p)) >= 0) {
    if (++n > 16)
      return -1;
    v = v << 4 | (uint64_t)d;
    (*p)++;
  }
  if (n == 0)
    return -1;
  *out = v;
  return 0;
}

long vmm__gdb_decode(const uint8_t *in, size_t len, uint8_t *out,
                     size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = in[i];
    if (c == '}') {
      if (++i >= len)
        return -1;
      c = in[i] ^ 0x20;
    } else if (c == '*') {
      /* Run length: the previous byte repeated (next - 29) more times. */
      if (o == 0 || ++i >= len || in[i] < 29 + 3 || in[i] > 126)
        return -1;
      size_t n = (size_t)in[i] - 29;
      if (n > cap - o)
        return -1;
      memset(out + o, out[o - 1], n);
      o += n;
      continue;
    }
    if (o >= cap)
      return -1;
    out[o++] = c;
  }
  return (long)o;
}

enum vmm__gdb_rx_event vmm__gdb_rx_byte(struct vmm__gdb_rx *rx, uint8_t c) {
  switch (rx->state) {
  case ST_IDLE:
    if (c == '$') {
      rx->state = ST_BODY;
      rx->raw_len = 0;
      rx->sum = 0;
      rx->overflow = false;
      return VMM__GDB_RX_NONE;
    }
    if (c == 0x03)
      return VMM__GDB_RX_INTERRUPT;
    if (c == '+')
      return VMM__GDB_RX_ACK;
    if (c == '-')
      return VMM__GDB_RX_NACK;
    return VMM__GDB_RX_NONE; /* noise between packets */
  case ST_BODY:
    if (c == '#') {
      rx->state = ST_CSUM1;
      return VMM__GDB_RX_NONE;
    }
    if (c == '$') { /* a new packet started: the old one was cut off */
      rx->raw_len = 0;
      rx->sum = 0;
      rx->overflow = false;
      return VMM__GDB_RX_NONE;
    }
    rx->sum = (uint8_t)(rx->sum + c);
    if (rx->raw_len < sizeof(rx->raw))
      rx->raw[rx->raw_len++] = c;
    else
      rx->overflow = true;
    return VMM__GDB_RX_NONE;
  case ST_CSUM1: {
    int d = vmm__gdb_hexval(c);
    rx->csum = (uint8_t)((d < 0 ? 0 : d) << 4);
    rx->state = d < 0 ? ST_IDLE : ST_CSUM2;
    return d < 0 ? VMM__GDB_RX_BAD : VMM__GDB_RX_NONE;
  }
  default: { /* ST_CSUM2 */
    rx->state = ST_IDLE;
    int d = vmm__gdb_hexval(c);
    if (d < 0 || (uint8_t)(rx->csum | d) != rx->sum || rx->overflow)
      return VMM__GDB_RX_BAD;
    long n = vmm__gdb_decode(rx->raw, rx->raw_len, rx->data,
                             sizeof(rx->data) - 1);
    if (n < 0)
      return VMM__GDB_RX_BAD;
    rx->len = (size_t)n;
    rx->data[rx->len] = 0;
    return VMM__GDB_RX_PACKET;
  }
  }
}

long vmm__gdb_frame(const uint8_t *body, size_t len, uint8_t *out,
                    size_t cap) {
  size_t o = 0;
  uint8_t sum = 0;
  if (cap < 4)
    return -1;
  out[o++] = '$';
  for (size_t i = 0; i < len; i++) {
    uint8_t c = body[i];
    bool esc = c == '$' || c == '#' || c == '}' || c == '*';
    if (o + (esc ? 2 : 1) + 3 > cap)
      return -1;
    if (esc) {
      out[o++] = '}';
      sum = (uint8_t)(sum + '}');
      c ^= 0x20;
    }
    out[o++] = c;
    sum = (uint8_t)(sum + c);
  }
  out[o++] = '#';
  vmm__gdb_tohex((char *)out + o, &sum, 1);
  return (long)(o + 2);
}
