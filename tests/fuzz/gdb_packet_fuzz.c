/* tests/fuzz/gdb_packet_fuzz.c — the libFuzzer entry point for the gdb
 * stub's packet receiver (src/gdbstub/packet.c). The bytes come straight
 * from a (possibly hostile) debugger connection: every byte is fed to the
 * receiver, which must stay inside its bounded buffers. Each complete
 * packet must be NUL-terminated within VMM__GDB_PKT_MAX, and framing its
 * body again then receiving that frame must give the same body back. The
 * hex helpers get the decoded bodies too. Run under every build by
 * fuzz_driver.c over tests/fuzz/corpus-gdb. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void invariant(int ok, const char *what) {
  if (ok)
    return;
  fprintf(stderr, "gdb_packet_fuzz: invariant broken: %s\n", what);
  abort();
}

/* Framed body: 2 * MAX for escapes, plus "$#cc". */
static uint8_t framed[2 * VMM__GDB_PKT_MAX + 8];
static struct vmm__gdb_rx rx, rx2;

static void check_packet(const struct vmm__gdb_rx *r) {
  invariant(r->len <= VMM__GDB_PKT_MAX, "body longer than the buffer");
  invariant(r->data[r->len] == 0, "body not NUL-terminated");
  /* The helpers that commands.c applies to bodies. */
  const char *p = (const char *)r->data;
  uint64_t v;
  while (*p && vmm__gdb_parse_hex(&p, &v) < 0)
    p++;
  /* Zeroed: fromhex stops at the first non-hex digit, leaving the rest
   * as it was (callers check its result; this one only exercises it). */
  uint8_t bytes[64] = {0};
  size_t n = r->len / 2 < sizeof(bytes) ? r->len / 2 : sizeof(bytes);
  (void)vmm__gdb_fromhex(bytes, (const char *)r->data, n);
  char hex[2 * sizeof(bytes)];
  vmm__gdb_tohex(hex, bytes, n);
  /* Round trip: frame the body, receive the frame. */
  long flen = vmm__gdb_frame(r->data, r->len, framed, sizeof(framed));
  if (flen < 0)
    return; /* too long once escaped: the encoder refuses, fine */
  vmm__gdb_rx_init(&rx2);
  enum vmm__gdb_rx_event last = VMM__GDB_RX_NONE;
  for (long i = 0; i < flen; i++) {
    enum vmm__gdb_rx_event e = vmm__gdb_rx_byte(&rx2, framed[i]);
    invariant(i == flen - 1 || e == VMM__GDB_RX_NONE,
              "an event before the end of a frame we made");
    last = e;
  }
  if (flen - 4 > VMM__GDB_PKT_MAX) {
    invariant(last == VMM__GDB_RX_BAD || last == VMM__GDB_RX_PACKET,
              "an over-long frame neither received nor refused");
    return;
  }
  invariant(last == VMM__GDB_RX_PACKET, "our own frame is not a packet");
  invariant(rx2.len == r->len && memcmp(rx2.data, r->data, r->len) == 0,
            "frame → receive changed the body");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vmm__gdb_rx_init(&rx);
  for (size_t i = 0; i < size; i++) {
    enum vmm__gdb_rx_event e = vmm__gdb_rx_byte(&rx, data[i]);
    invariant(e >= VMM__GDB_RX_NONE && e <= VMM__GDB_RX_NACK, "bad event");
    if (e == VMM__GDB_RX_PACKET)
      check_packet(&rx);
  }
  /* The decoder alone, on the raw bytes (an unterminated copy: ASan sees
   * a read past `size`). */
  uint8_t *copy = malloc(size ? size : 1);
  static uint8_t out[VMM__GDB_PKT_MAX];
  if (copy) {
    memcpy(copy, data, size);
    long n = vmm__gdb_decode(copy, size, out, sizeof(out));
    invariant(n >= -1 && n <= (long)sizeof(out), "decode length");
    free(copy);
  }
  return 0;
}
