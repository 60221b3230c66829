/* src/gdbstub/packet.h — GDB remote serial protocol framing: a byte-wise
 * receiver with bounded buffers (for untrusted input) and the encoder. */
#ifndef VMM__GDB_PACKET_H
#define VMM__GDB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest packet body accepted (raw, before unescaping), and the size
 * announced to gdb in qSupported (PacketSize, hex). */
#define VMM__GDB_PKT_MAX 16384

enum vmm__gdb_rx_event {
  VMM__GDB_RX_NONE = 0,   /* byte consumed, nothing complete yet */
  VMM__GDB_RX_PACKET,     /* a packet with a good checksum: rx->data/len */
  VMM__GDB_RX_BAD,        /* checksum wrong, packet too long or malformed:
                             answer '-' */
  VMM__GDB_RX_INTERRUPT,  /* 0x03 outside a packet (Ctrl-C) */
  VMM__GDB_RX_ACK,        /* '+' */
  VMM__GDB_RX_NACK        /* '-': resend the last packet */
};

struct vmm__gdb_rx {
  int state;
  bool overflow;
  uint8_t sum, csum;
  size_t raw_len;
  uint8_t raw[VMM__GDB_PKT_MAX];
  /* The decoded body ('}' escapes and '*' run lengths undone) of the last
   * VMM__GDB_RX_PACKET, NUL-terminated; binary data may hold NULs. */
  size_t len;
  uint8_t data[VMM__GDB_PKT_MAX + 1];
};

void vmm__gdb_rx_init(struct vmm__gdb_rx *rx);
/* Feeds one received byte. */
enum vmm__gdb_rx_event vmm__gdb_rx_byte(struct vmm__gdb_rx *rx, uint8_t c);

/* Undoes escapes and run-length encoding of `in` into `out` (at most
 * `cap` bytes). -1 when malformed or longer than cap, else the length. */
long vmm__gdb_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Frames `body` as "$<escaped body>#cc" into `out` (cap bytes); returns
 * the framed length or -1 when it does not fit. */
long vmm__gdb_frame(const uint8_t *body, size_t len, uint8_t *out,
                    size_t cap);

/* Hex helpers: value of one digit (-1 if none); bytes to hex (2*n chars,
 * no NUL); hex to bytes (n bytes from 2*n chars, -1 on a bad digit). */
int vmm__gdb_hexval(uint8_t c);
void vmm__gdb_tohex(char *out, const uint8_t *in, size_t n);
int vmm__gdb_fromhex(uint8_t *out, const char *in, size_t n);
/* Parses a hex number at *p (at most 16 digits), advancing *p; -1 when
 * there is no digit or too many. */
int vmm__gdb_parse_hex(const char **p, uint64_t *out);

#endif
