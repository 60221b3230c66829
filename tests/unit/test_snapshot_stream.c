/* tests/unit/test_snapshot_stream.c — the saved-state byte stream
 * (src/snapshot/stream.c): round trips, sections, truncation and hostile
 * values, CRC-32C. */
#include <stdlib.h>

#include "snapshot/stream.h"
#include "unit.h"

static void test_round_trip(void) {
  struct vmm__sw w = {0};
  size_t mark = vmm__sw_begin(&w, "sec", 3);
  vmm__sw_u8(&w, 0xab);
  vmm__sw_u16(&w, 0x1234);
  vmm__sw_u32(&w, 0xdeadbeef);
  vmm__sw_u64(&w, 0x0123456789abcdefull);
  vmm__sw_bool(&w, true);
  vmm__sw_str(&w, "hello");
  vmm__sw_bytes(&w, "xyz", 3);
  vmm__sw_end(&w, mark);
  CHECK_RC(vmm__sw_check(&w, "test"), 0);

  struct vmm__sr r, s;
  uint32_t ver = 0;
  vmm__sr_init(&r, w.buf, w.len, "test");
  CU_ASSERT_TRUE(vmm__sr_section(&r, "sec", 3, &s, &ver));
  CHECK_U64(ver, 3);
  CHECK_U64(vmm__sr_u8(&s), 0xab);
  CHECK_U64(vmm__sr_u16(&s), 0x1234);
  CHECK_U64(vmm__sr_u32(&s), 0xdeadbeef);
  CHECK_U64(vmm__sr_u64(&s), 0x0123456789abcdefull);
  CU_ASSERT_TRUE(vmm__sr_bool(&s));
  char str[8];
  CU_ASSERT_TRUE(vmm__sr_str(&s, str, sizeof(str)));
  CU_ASSERT_STRING_EQUAL(str, "hello");
  char b[3];
  CU_ASSERT_TRUE(vmm__sr_bytes(&s, b, 3));
  CU_ASSERT_EQUAL(memcmp(b, "xyz", 3), 0);
  CHECK_RC(vmm__sr_finish(&s), 0);
  CHECK_RC(vmm__sr_finish(&r), 0);
  /* Little-endian on the wire whatever the host. */
  CHECK_U64(w.buf[4 + 3 + 4 + 8 + 1], 0x34);
  vmm__sw_free(&w);
}

static void test_truncated_and_leftover(void) {
  struct vmm__sw w = {0};
  vmm__sw_u32(&w, 7);
  struct vmm__sr r;
  vmm__sr_init(&r, w.buf, w.len, "thing");
  CHECK_U64(vmm__sr_u64(&r), 0); /* only 4 bytes there */
  CU_ASSERT_NOT_EQUAL(vmm__sr_error(&r), 0);
  CHECK_U64(vmm__sr_u32(&r), 0); /* sticky */
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("truncated");
  CHECK_MSG("thing");
  /* Bytes left over are an error too (a loader of another layout). */
  vmm__sr_init(&r, w.buf, w.len, "thing");
  vmm__sr_u16(&r);
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("left over");
  vmm__sw_free(&w);
}

static void test_hostile_values(void) {
  struct vmm__sw w = {0};
  vmm__sw_u8(&w, 2); /* not a bool */
  vmm__sw_u32(&w, 0xffffffffu); /* a string longer than everything */
  struct vmm__sr r;
  vmm__sr_init(&r, w.buf, w.len, "t");
  vmm__sr_bool(&r);
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("boolean");
  vmm__sr_init(&r, w.buf + 1, w.len - 1, "t");
  char s[16];
  CU_ASSERT_FALSE(vmm__sr_str(&r, s, sizeof(s)));
  CU_ASSERT_STRING_EQUAL(s, "");
  /* A section whose length runs past the end, another tag, a version
   * from the future. */
  struct vmm__sw x = {0};
  size_t m = vmm__sw_begin(&x, "a", 2);
  vmm__sw_u32(&x, 1);
  vmm__sw_end(&x, m);
  struct vmm__sr sub;
  vmm__sr_init(&r, x.buf, x.len, "t");
  CU_ASSERT_FALSE(vmm__sr_section(&r, "b", 2, &sub, NULL));
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("\"b\" expected");
  vmm__sr_init(&r, x.buf, x.len, "t");
  CU_ASSERT_FALSE(vmm__sr_section(&r, "a", 1, &sub, NULL));
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("version 2");
  vmm__sr_init(&r, x.buf, x.len - 1, "t");
  CU_ASSERT_FALSE(vmm__sr_section(&r, "a", 2, &sub, NULL));
  CHECK_RC(vmm__sr_finish(&r), VMM_EINVAL);
  CHECK_MSG("truncated");
  /* Every prefix of a valid stream: refused, never read past. */
  for (size_t n = 0; n < x.len; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, x.buf, n);
    vmm__sr_init(&r, copy, n, "t");
    if (vmm__sr_section(&r, "a", 2, &sub, NULL))
      vmm__sr_u32(&sub);
    CU_ASSERT_TRUE(vmm__sr_error(&r) != 0 || vmm__sr_error(&sub) != 0);
    free(copy);
  }
  vmm__sw_free(&w);
  vmm__sw_free(&x);
}

static void test_crc32c(void) {
  /* The standard check value of CRC-32C. */
  CHECK_U64(vmm__crc32c(0, "123456789", 9), 0xe3069283u);
  /* Piecewise equals whole, at odd lengths and alignments. */
  uint8_t buf[1000];
  for (int i = 0; i < 1000; i++)
    buf[i] = (uint8_t)(i * 7 + 3);
  uint32_t whole = vmm__crc32c(0, buf + 1, 997);
  uint32_t part = vmm__crc32c(0, buf + 1, 13);
  part = vmm__crc32c(part, buf + 14, 984);
  CHECK_U64(part, whole);
  CHECK_U64(vmm__crc32c(0, NULL, 0), 0);
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_round_trip),
      UNIT_TEST(test_truncated_and_leftover),
      UNIT_TEST(test_hostile_values),
      UNIT_TEST(test_crc32c),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("snapshot-stream", NULL, NULL, tests,
                      UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
