/* tests/unit/test_bus.c — PIO/MMIO address maps (src/bus.c). */
#include "bus.h"
#include "unit.h"

static struct vmm__bus pio, mmio;

static void setup(void) {
  vmm__bus_init(&pio, "PIO", 0x10000);
  vmm__bus_init(&mmio, "MMIO", 0);
}

static void teardown(void) {
  vmm__bus_fini(&pio);
  vmm__bus_fini(&mmio);
}

/* Two distinct handlers, so lookups can tell ranges apart. */
static int handler_a(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                     uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)is_write;
  (void)opaque;
  return 0;
}
static int handler_b(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                     uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)is_write;
  (void)opaque;
  return 1;
}

static int tag[4];

static void test_init(void) {
  CHECK_U64(pio.count, 0);
  CHECK_U64(pio.limit, 0x10000);
  CU_ASSERT_STRING_EQUAL(pio.name, "PIO");
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0));
  CU_ASSERT_PTR_NULL(vmm__bus_find(&mmio, UINT64_MAX));
  CHECK_RC(vmm__bus_remove(&pio, 0), VMM_ENOENT);
}

static void test_add_rejects_bad_arguments(void) {
  CHECK_RC(vmm__bus_add(&pio, 0x3f8, 8, NULL, NULL), VMM_EINVAL);
  CHECK_MSG("PIO");
  CHECK_RC(vmm__bus_add(&pio, 0x3f8, 0, handler_a, NULL), VMM_EINVAL);
  CHECK_MSG("length 0");
  CHECK_U64(pio.count, 0);
}

static void test_find_boundaries(void) {
  CHECK_RC(vmm__bus_add(&pio, 0x3f8, 8, handler_a, &tag[0]), 0);
  CHECK_RC(vmm__bus_add(&pio, 0x400, 1, handler_b, &tag[1]), 0);
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0x3f7));
  const struct vmm__bus_range *r = vmm__bus_find(&pio, 0x3f8);
  CU_ASSERT_FATAL(r != NULL);
  CU_ASSERT(r->fn == handler_a && r->opaque == &tag[0]);
  CHECK_U64(r->base, 0x3f8);
  CHECK_U64(r->len, 8);
  CU_ASSERT_PTR_EQUAL(vmm__bus_find(&pio, 0x3ff), r);
  r = vmm__bus_find(&pio, 0x400); /* adjacent: the next range's */
  CU_ASSERT_FATAL(r != NULL);
  CU_ASSERT(r->fn == handler_b && r->opaque == &tag[1]);
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0x401));
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0xffff));
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, UINT64_MAX));
}

static void expect_overlap(struct vmm__bus *bus, uint64_t base,
                           uint64_t len) {
  size_t before = bus->count;
  int rc = vmm__bus_add(bus, base, len, handler_b, NULL);
  CHECK_RC(rc, VMM_EOVERLAP);
  if (rc != VMM_EOVERLAP)
    fprintf(stderr, "  (adding [0x%llx, +0x%llx))\n",
            (unsigned long long)base, (unsigned long long)len);
  CHECK_U64(bus->count, before);
}

static void test_overlap_edges(void) {
  CHECK_RC(vmm__bus_add(&mmio, 0xd0000000, 0x1000, handler_a, NULL), 0);
  CHECK_RC(vmm__bus_add(&mmio, 0xd0002000, 0x10, handler_a, NULL), 0);
  expect_overlap(&mmio, 0xd0000000, 0x1000); /* identical */
  expect_overlap(&mmio, 0xcfffffff, 2);      /* last byte before + first */
  expect_overlap(&mmio, 0xd0000fff, 1);      /* last byte */
  expect_overlap(&mmio, 0xd0000fff, 0x2000); /* across into the second */
  expect_overlap(&mmio, 0xd0000800, 4);      /* inside */
  expect_overlap(&mmio, 0x0, 0xe0000000);    /* covers both */
  expect_overlap(&mmio, 0xd0001000, 0x1001); /* gap + first byte of 2nd */
  CHECK_MSG("overlaps [0xd0002000, 0xd0002010)");
  /* Neighbours touching on both sides, and the gap exactly. */
  CHECK_RC(vmm__bus_add(&mmio, 0xcfffffff, 1, handler_b, NULL), 0);
  CHECK_RC(vmm__bus_add(&mmio, 0xd0001000, 0x1000, handler_b, NULL), 0);
  CHECK_RC(vmm__bus_add(&mmio, 0xd0002010, 1, handler_b, NULL), 0);
  CHECK_U64(mmio.count, 5);
  for (size_t i = 1; i < mmio.count; i++)
    CU_ASSERT(mmio.ranges[i - 1].base + mmio.ranges[i - 1].len <=
              mmio.ranges[i].base);
}

static void test_pio_limit(void) {
  CHECK_RC(vmm__bus_add(&pio, 0xffff, 1, handler_a, NULL), 0);
  CHECK_RC(vmm__bus_add(&pio, 0xfff0, 0x10, handler_a, NULL), VMM_EOVERLAP);
  CHECK_RC(vmm__bus_add(&pio, 0xfffe, 2, handler_a, NULL), VMM_EOVERLAP);
  CHECK_RC(vmm__bus_add(&pio, 0xfff0, 0x11, handler_a, NULL), VMM_ERANGE);
  CHECK_MSG("outside");
  CHECK_RC(vmm__bus_add(&pio, 0x10000, 1, handler_a, NULL), VMM_ERANGE);
  CHECK_RC(vmm__bus_add(&pio, 0x0, 0x10001, handler_a, NULL), VMM_ERANGE);
  /* base + len wrapping to a small value must not slip under the limit. */
  CHECK_RC(vmm__bus_add(&pio, UINT64_MAX, 2, handler_a, NULL), VMM_ERANGE);
  CHECK_RC(vmm__bus_add(&pio, 0x0, 0xffff, handler_a, NULL), 0);
  CHECK_U64(pio.count, 2);
  CU_ASSERT_PTR_NOT_NULL(vmm__bus_find(&pio, 0));
  CU_ASSERT_PTR_NOT_NULL(vmm__bus_find(&pio, 0xffff));
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0x10000));
}

static void test_mmio_no_limit_but_no_wrap(void) {
  CHECK_RC(vmm__bus_add(&mmio, UINT64_MAX - 0xfff, 0x1000, handler_a, NULL),
           VMM_ERANGE); /* ends at 2^64: not representable */
  CHECK_RC(vmm__bus_add(&mmio, UINT64_MAX, 2, handler_a, NULL), VMM_ERANGE);
  CHECK_RC(vmm__bus_add(&mmio, UINT64_MAX - 0x1000, 0x1000, handler_a, NULL),
           0);
  CU_ASSERT_PTR_NOT_NULL(vmm__bus_find(&mmio, UINT64_MAX - 1));
  CU_ASSERT_PTR_NULL(vmm__bus_find(&mmio, UINT64_MAX));
  CHECK_RC(vmm__bus_add(&mmio, 0x100000000000ull, 1, handler_a, NULL), 0);
}

static void test_remove(void) {
  CHECK_RC(vmm__bus_add(&pio, 0x60, 1, handler_a, &tag[0]), 0);
  CHECK_RC(vmm__bus_add(&pio, 0x64, 1, handler_a, &tag[1]), 0);
  CHECK_RC(vmm__bus_add(&pio, 0x3f8, 8, handler_a, &tag[2]), 0);
  /* Only the exact start removes. */
  CHECK_RC(vmm__bus_remove(&pio, 0x3f9), VMM_ENOENT);
  CHECK_MSG("0x3f9");
  CHECK_RC(vmm__bus_remove(&pio, 0x61), VMM_ENOENT);
  CHECK_RC(vmm__bus_remove(&pio, 0x64), 0);
  CHECK_U64(pio.count, 2);
  CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0x64));
  CU_ASSERT(vmm__bus_find(&pio, 0x60)->opaque == &tag[0]);
  CU_ASSERT(vmm__bus_find(&pio, 0x3fa)->opaque == &tag[2]);
  CHECK_RC(vmm__bus_remove(&pio, 0x64), VMM_ENOENT);
  /* The range can be registered again, by someone else. */
  CHECK_RC(vmm__bus_add(&pio, 0x64, 1, handler_b, &tag[3]), 0);
  CU_ASSERT(vmm__bus_find(&pio, 0x64)->opaque == &tag[3]);
  CHECK_RC(vmm__bus_remove(&pio, 0x60), 0);
  CHECK_RC(vmm__bus_remove(&pio, 0x3f8), 0);
  CHECK_RC(vmm__bus_remove(&pio, 0x64), 0);
  CHECK_U64(pio.count, 0);
}

/* Many registrations in scrambled order: growth keeps them sorted. */
static void test_many_sorted(void) {
  for (uint64_t k = 0, i = 0; k < 100; k++, i = (i + 37) % 100)
    CHECK_RC(vmm__bus_add(&pio, 0x100 + i * 4, 2, handler_a, &tag[i % 4]),
             0);
  CHECK_U64(pio.count, 100);
  for (size_t i = 0; i < pio.count; i++)
    CHECK_U64(pio.ranges[i].base, 0x100 + i * 4);
  for (uint64_t i = 0; i < 100; i++) {
    const struct vmm__bus_range *r = vmm__bus_find(&pio, 0x101 + i * 4);
    CU_ASSERT(r && r->base == 0x100 + i * 4 && r->opaque == &tag[i % 4]);
    CU_ASSERT_PTR_NULL(vmm__bus_find(&pio, 0x102 + i * 4));
  }
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_init),
      UNIT_TEST(test_add_rejects_bad_arguments),
      UNIT_TEST(test_find_boundaries),
      UNIT_TEST(test_overlap_edges),
      UNIT_TEST(test_pio_limit),
      UNIT_TEST(test_mmio_no_limit_but_no_wrap),
      UNIT_TEST(test_remove),
      UNIT_TEST(test_many_sorted),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("bus", setup, teardown, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
