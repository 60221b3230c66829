/* tests/unit/test_gdb_packet.c — the gdb stub's packet layer
 * (src/gdbstub/packet.c) on good, malformed and random input. */
#include <stdlib.h>

#include "gdbstub/packet.h"
#include "unit.h"

static struct vmm__gdb_rx rx;

/* Feeds a string; returns the last event other than NONE (NONE if all
 * were NONE) and how many PACKET events there were. */
static int feed(const char *s, size_t n, int *packets) {
  int last = VMM__GDB_RX_NONE;
  *packets = 0;
  for (size_t i = 0; i < n; i++) {
    int ev = vmm__gdb_rx_byte(&rx, (uint8_t)s[i]);
    if (ev != VMM__GDB_RX_NONE)
      last = ev;
    if (ev == VMM__GDB_RX_PACKET)
      (*packets)++;
  }
  return last;
}

#define FEED(str, pk) feed(str, sizeof(str) - 1, pk)

static void test_good_packet(void) {
  int pk;
  vmm__gdb_rx_init(&rx);
  CU_ASSERT_EQUAL(FEED("$g#67", &pk), VMM__GDB_RX_PACKET);
  CU_ASSERT_EQUAL(pk, 1);
  CU_ASSERT_EQUAL(rx.len, 1);
  CU_ASSERT_STRING_EQUAL((char *)rx.data, "g");
  /* Upper-case checksum digits, junk and acks around it. */
  CU_ASSERT_EQUAL(FEED("xx+$qC#B4", &pk), VMM__GDB_RX_PACKET);
  CU_ASSERT_STRING_EQUAL((char *)rx.data, "qC");
}

static void test_bad_packets(void) {
  int pk;
  vmm__gdb_rx_init(&rx);
  CU_ASSERT_EQUAL(FEED("$g#00", &pk), VMM__GDB_RX_BAD);
  CU_ASSERT_EQUAL(FEED("$g#zz", &pk), VMM__GDB_RX_BAD);
  CU_ASSERT_EQUAL(pk, 0);
  /* A dangling escape, a run length with nothing before it. */
  CU_ASSERT_EQUAL(FEED("$m}#da", &pk), VMM__GDB_RX_BAD);
  CU_ASSERT_EQUAL(FEED("$*!#4b", &pk), VMM__GDB_RX_BAD);
  /* After all that the receiver still works. */
  CU_ASSERT_EQUAL(FEED("$g#67", &pk), VMM__GDB_RX_PACKET);
}

static void test_oversized(void) {
  vmm__gdb_rx_init(&rx);
  size_t n = VMM__GDB_PKT_MAX + 100;
  uint8_t sum = 0;
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, '$'), VMM__GDB_RX_NONE);
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, 'a'), VMM__GDB_RX_NONE);
    sum = (uint8_t)(sum + 'a');
  }
  char cs[3];
  vmm__gdb_tohex(cs, &sum, 1);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, '#'), VMM__GDB_RX_NONE);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, (uint8_t)cs[0]), VMM__GDB_RX_NONE);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, (uint8_t)cs[1]), VMM__GDB_RX_BAD);
}

static void test_interrupt_and_acks(void) {
  vmm__gdb_rx_init(&rx);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, 0x03), VMM__GDB_RX_INTERRUPT);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, '+'), VMM__GDB_RX_ACK);
  CU_ASSERT_EQUAL(vmm__gdb_rx_byte(&rx, '-'), VMM__GDB_RX_NACK);
  /* Inside a packet 0x03 is data. */
  int pk;
  CU_ASSERT_EQUAL(FEED("$X0,1:\x03#22", &pk), VMM__GDB_RX_PACKET);
  CU_ASSERT_EQUAL(rx.len, 6);
  CU_ASSERT_EQUAL(rx.data[5], 3);
}

static void test_decode(void) {
  uint8_t out[16];
  /* "0* " = '0' repeated 3 more times ("0000"); "}]" is '}' ^ 0x20... */
  const uint8_t rle[] = "a0* b";
  CU_ASSERT_EQUAL(vmm__gdb_decode(rle, 5, out, sizeof(out)), 6);
  CU_ASSERT_EQUAL(memcmp(out, "a0000b", 6), 0);
  const uint8_t esc[] = "}\x03}]";
  CU_ASSERT_EQUAL(vmm__gdb_decode(esc, 4, out, sizeof(out)), 2);
  CU_ASSERT_EQUAL(out[0], '#');
  CU_ASSERT_EQUAL(out[1], '}');
  /* A run longer than the room left is refused, not truncated. */
  const uint8_t big[] = "a*~";
  CU_ASSERT_EQUAL(vmm__gdb_decode(big, 3, out, sizeof(out)), -1);
  /* Run-length counts below 3 are not valid. */
  const uint8_t low[] = "a*\x1f";
  CU_ASSERT_EQUAL(vmm__gdb_decode(low, 3, out, sizeof(out)), -1);
}

static void test_frame_roundtrip(void) {
  const uint8_t body[] = {'$', '#', '}', '*', 'x', 0, 0xff};
  uint8_t framed[64];
  long n = vmm__gdb_frame(body, sizeof(body), framed, sizeof(framed));
  CU_ASSERT(n > 0);
  vmm__gdb_rx_init(&rx);
  int ev = VMM__GDB_RX_NONE;
  for (long i = 0; i < n; i++)
    ev = vmm__gdb_rx_byte(&rx, framed[i]);
  CU_ASSERT_EQUAL(ev, VMM__GDB_RX_PACKET);
  CU_ASSERT_EQUAL(rx.len, sizeof(body));
  CU_ASSERT_EQUAL(memcmp(rx.data, body, sizeof(body)), 0);
  /* Too small an output buffer is an error, never an overrun. */
  CU_ASSERT_EQUAL(vmm__gdb_frame(body, sizeof(body), framed, 8), -1);
}

static void test_hex(void) {
  const char *p = "1234abcd,";
  uint64_t v;
  CU_ASSERT_EQUAL(vmm__gdb_parse_hex(&p, &v), 0);
  CU_ASSERT_EQUAL(v, 0x1234abcd);
  CU_ASSERT_EQUAL(*p, ',');
  p = "11112222333344445";
  CU_ASSERT_EQUAL(vmm__gdb_parse_hex(&p, &v), -1);
  p = ",";
  CU_ASSERT_EQUAL(vmm__gdb_parse_hex(&p, &v), -1);
  uint8_t b[2];
  CU_ASSERT_EQUAL(vmm__gdb_fromhex(b, "0aFf", 2), 0);
  CU_ASSERT_EQUAL(b[0], 0x0a);
  CU_ASSERT_EQUAL(b[1], 0xff);
  CU_ASSERT_EQUAL(vmm__gdb_fromhex(b, "0g", 1), -1);
}

/* Random bytes, with many '$', '#', '}', '*' among them: the receiver
 * never returns a packet longer than its buffer and never crashes (the
 * sanitizer build checks the bounds). */
static void test_random(void) {
  static const uint8_t special[] = {'$', '#', '}', '*', 0x03, '+', '-'};
  unsigned seed = 12345;
  vmm__gdb_rx_init(&rx);
  for (int i = 0; i < 2000000; i++) {
    seed = seed * 1103515245u + 12345u;
    unsigned r = seed >> 16;
    uint8_t c = (r & 7) == 0 ? special[(r >> 3) % sizeof(special)]
                             : (uint8_t)(r >> 4);
    if (vmm__gdb_rx_byte(&rx, c) == VMM__GDB_RX_PACKET) {
      CU_ASSERT(rx.len <= VMM__GDB_PKT_MAX);
      CU_ASSERT_EQUAL(rx.data[rx.len], 0);
    }
  }
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_good_packet),   UNIT_TEST(test_bad_packets),
      UNIT_TEST(test_oversized),     UNIT_TEST(test_interrupt_and_acks),
      UNIT_TEST(test_decode),        UNIT_TEST(test_frame_roundtrip),
      UNIT_TEST(test_hex),           UNIT_TEST(test_random),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("gdb-packet", NULL, NULL, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
