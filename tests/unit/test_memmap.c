/* tests/unit/test_memmap.c — the guest-physical region map (src/memmap.c). */
#include <stdlib.h>

#include <libvmm/memory.h>

#include "memmap.h"
#include "unit.h"

#define KiB 1024ull
#define PAGE VMM_PAGE_SIZE

/*
 * Each test builds its own map from up to MAX_SLOTS regions, each backed
 * by a buffer filled with a known byte so that stray writes show.
 */
#define MAX_SLOTS 8
#define FILL 0xa5

static struct vmm__memmap map;
static struct vmm__memslot slots[MAX_SLOTS];
static size_t n_slots;

static void setup(void) {
  vmm__memmap_init(&map);
  memset(slots, 0, sizeof(slots));
  n_slots = 0;
}

static void teardown(void) {
  for (size_t i = 0; i < n_slots; i++) {
    free(slots[i].hva);
    free(slots[i].dirty);
  }
  vmm__memmap_fini(&map);
  n_slots = 0;
}

/* A slot with backing memory (not yet in the map). */
static struct vmm__memslot *new_slot(uint64_t gpa, uint64_t size,
                                     bool dirty_log) {
  CU_ASSERT_FATAL(n_slots < MAX_SLOTS);
  struct vmm__memslot *s = &slots[n_slots++];
  s->gpa = gpa;
  s->size = size;
  s->slot = (uint32_t)(n_slots - 1);
  /* Sizes that insert would refuse get no memory; they never get used. */
  if (size > 0 && size <= 64 * PAGE) {
    s->hva = malloc(size);
    CU_ASSERT_FATAL(s->hva != NULL);
    memset(s->hva, FILL, size);
  }
  if (dirty_log) {
    uint64_t pages = size / PAGE;
    s->dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
    CU_ASSERT_FATAL(s->dirty != NULL);
    s->flags = VMM_MEM_DIRTY_LOG;
  }
  return s;
}

static struct vmm__memslot *add(uint64_t gpa, uint64_t size) {
  struct vmm__memslot *s = new_slot(gpa, size, false);
  CHECK_RC(vmm__memmap_insert(&map, s), 0);
  return s;
}

/* Every region buffer still holds FILL, i.e. nothing was written. */
static bool untouched(void) {
  for (size_t i = 0; i < n_slots; i++)
    for (uint64_t j = 0; slots[i].hva && j < slots[i].size; j++)
      if (slots[i].hva[j] != FILL)
        return false;
  return true;
}

static void test_empty(void) {
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0));
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, UINT64_MAX));
  CHECK_U64(vmm__memmap_free_slot(&map), 0);
  uint8_t b = 0;
  CHECK_RC(vmm__memmap_access(&map, 0, &b, 1, false), VMM_EFAULT);
  CHECK_RC(vmm__memmap_access(&map, 0x1000, &b, 0, true), 0);
}

static void test_insert_sorted(void) {
  struct vmm__memslot *c = add(0x5000, PAGE);
  struct vmm__memslot *a = add(0x1000, PAGE);
  struct vmm__memslot *d = add(0x100000, 2 * PAGE);
  struct vmm__memslot *b = add(0x3000, 2 * PAGE);
  CHECK_U64(map.count, 4);
  CU_ASSERT_PTR_EQUAL(map.slots[0], a);
  CU_ASSERT_PTR_EQUAL(map.slots[1], b);
  CU_ASSERT_PTR_EQUAL(map.slots[2], c);
  CU_ASSERT_PTR_EQUAL(map.slots[3], d);
}

/* Growing past the initial capacity keeps order and contents. */
static void test_insert_many(void) {
  static struct vmm__memslot many[40];
  /* 7 is coprime to 40: visits every index once, out of order. */
  for (size_t k = 0, i = 0; k < 40; k++, i = (i + 7) % 40) {
    many[i] = (struct vmm__memslot){.gpa = i * 2 * PAGE, .size = PAGE};
    CHECK_RC(vmm__memmap_insert(&map, &many[i]), 0);
  }
  CHECK_U64(map.count, 40);
  for (size_t i = 0; i < 40; i++)
    CU_ASSERT_PTR_EQUAL(map.slots[i], &many[i]);
  for (size_t i = 0; i < 40; i++) {
    CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, i * 2 * PAGE + 5), &many[i]);
    CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, i * 2 * PAGE + PAGE));
  }
  vmm__memmap_fini(&map);
}

static void expect_overlap(uint64_t gpa, uint64_t size) {
  struct vmm__memslot s = {.gpa = gpa, .size = size};
  size_t before = map.count;
  int rc = vmm__memmap_insert(&map, &s);
  CHECK_RC(rc, VMM_EOVERLAP);
  if (rc != VMM_EOVERLAP)
    fprintf(stderr, "  (inserting [0x%llx, +0x%llx))\n",
            (unsigned long long)gpa, (unsigned long long)size);
  CHECK_U64(map.count, before);
  CHECK_MSG("overlaps");
}

static void test_overlap_edges(void) {
  add(0x10000, 0x10000); /* [0x10000, 0x20000) */
  add(0x40000, 0x1000);  /* [0x40000, 0x41000) */
  expect_overlap(0x10000, 0x10000); /* identical */
  expect_overlap(0xf000, 0x2000);   /* straddles the start */
  expect_overlap(0x1f000, 0x2000);  /* straddles the end */
  expect_overlap(0x1f000, 0x1000);  /* last page */
  expect_overlap(0x10000, 0x1000);  /* first page */
  expect_overlap(0x12000, 0x1000);  /* inside */
  expect_overlap(0x0, 0x100000);    /* covers both */
  expect_overlap(0x21000, 0x20000); /* reaches the second one only */
  expect_overlap(0x40000, 0x1000);
  CU_ASSERT(strstr(vmm_last_error(), "[0x40000, 0x41000)") != NULL);
  /* Touching neighbours are fine on both sides, and filling a gap. */
  add(0xf000, 0x1000);
  add(0x20000, 0x1000);
  add(0x21000, 0x1f000); /* exactly [end of previous, start of next) */
  CHECK_U64(map.count, 5);
}

static void test_insert_rejects_bad_ranges(void) {
  struct vmm__memslot s = {.gpa = 0x1000, .size = 0};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_EINVAL);
  s = (struct vmm__memslot){.gpa = 0x1001, .size = PAGE};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_EINVAL);
  CHECK_MSG("aligned");
  s = (struct vmm__memslot){.gpa = 0x1000, .size = PAGE + 1};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_EINVAL);
  s = (struct vmm__memslot){.gpa = 0x1000, .size = 0x800};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_EINVAL);
  s = (struct vmm__memslot){.gpa = UINT64_MAX - PAGE + 1, .size = 2 * PAGE};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_ERANGE);
  CHECK_MSG("wraps");
  /* Ending exactly at 2^64 is not representable as an end address. */
  s = (struct vmm__memslot){.gpa = UINT64_MAX - PAGE + 1, .size = PAGE};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_ERANGE);
  s = (struct vmm__memslot){.gpa = PAGE, .size = UINT64_MAX - PAGE + 1};
  CHECK_RC(vmm__memmap_insert(&map, &s), VMM_ERANGE);
  CHECK_U64(map.count, 0);
  /* The highest representable region is accepted. */
  s = (struct vmm__memslot){.gpa = UINT64_MAX - 2 * PAGE + 1, .size = PAGE};
  CHECK_RC(vmm__memmap_insert(&map, &s), 0);
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, UINT64_MAX - PAGE), &s);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, UINT64_MAX));
  vmm__memmap_fini(&map);
}

static void test_find_boundaries(void) {
  struct vmm__memslot *a = add(0x1000, 0x2000); /* [0x1000, 0x3000) */
  struct vmm__memslot *b = add(0x3000, 0x1000); /* adjacent */
  struct vmm__memslot *c = add(0x8000, 0x1000); /* after a hole */
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0));
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0xfff));
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x1000), a);
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x2fff), a);
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x3000), b);
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x3fff), b);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x4000));
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x7fff));
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x8000), c);
  CU_ASSERT_PTR_EQUAL(vmm__memmap_find(&map, 0x8fff), c);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x9000));
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, UINT64_MAX));
}

static void test_access_spans_adjacent(void) {
  struct vmm__memslot *a = add(0x1000, PAGE);
  struct vmm__memslot *b = add(0x2000, PAGE);
  struct vmm__memslot *c = add(0x3000, PAGE);
  uint8_t in[0x2000], out[3 * PAGE + 1];
  for (size_t i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)(i * 7 + 1);
  /* [0x1f80, 0x4080) would run past c; [0x1f80, 0x3f80) touches all 3. */
  CHECK_RC(vmm__memmap_access(&map, 0x1f80, in, 0x2000, true), 0);
  CU_ASSERT(memcmp(a->hva + 0xf80, in, 0x80) == 0);
  CU_ASSERT(memcmp(b->hva, in + 0x80, PAGE) == 0);
  CU_ASSERT(memcmp(c->hva, in + 0x1080, 0xf80) == 0);
  CU_ASSERT(a->hva[0xf7f] == FILL && c->hva[0xf80] == FILL);
  memset(out, 0, sizeof(out));
  CHECK_RC(vmm__memmap_access(&map, 0x1f80, out, 0x2000, false), 0);
  CU_ASSERT(memcmp(in, out, 0x2000) == 0);
  /* The whole of all three, exactly. */
  CHECK_RC(vmm__memmap_access(&map, 0x1000, out, 3 * PAGE, false), 0);
  /* One byte more is outside. */
  CHECK_RC(vmm__memmap_access(&map, 0x1000, out, 3 * PAGE + 1, false),
           VMM_EFAULT);
  CHECK_MSG("0x4000");
}

static void test_access_hole_copies_nothing(void) {
  add(0x1000, PAGE);
  add(0x3000, PAGE); /* hole at [0x2000, 0x3000) */
  uint8_t buf[0x1200];
  memset(buf, 0x11, sizeof(buf));
  CHECK_RC(vmm__memmap_access(&map, 0x1f00, buf, sizeof(buf), true),
           VMM_EFAULT);
  CHECK_MSG("0x2000");
  CU_ASSERT(untouched());
  /* A read over the hole leaves the buffer alone too. */
  CHECK_RC(vmm__memmap_access(&map, 0x1f00, buf, sizeof(buf), false),
           VMM_EFAULT);
  for (size_t i = 0; i < sizeof(buf); i++)
    if (buf[i] != 0x11) {
      CU_FAIL("read into the buffer before failing");
      break;
    }
  /* Before the first, after the last, and starting in the hole. */
  CHECK_RC(vmm__memmap_access(&map, 0xfff, buf, 2, true), VMM_EFAULT);
  CHECK_RC(vmm__memmap_access(&map, 0x3fff, buf, 2, true), VMM_EFAULT);
  CHECK_RC(vmm__memmap_access(&map, 0x2800, buf, 0x900, true), VMM_EFAULT);
  CU_ASSERT(untouched());
}

static void test_access_wraps(void) {
  add(0x0, PAGE);
  uint8_t buf[8] = {0};
  CHECK_RC(vmm__memmap_access(&map, UINT64_MAX - 1, buf, 4, true),
           VMM_EFAULT);
  CHECK_MSG("wraps");
  CHECK_RC(vmm__memmap_access(&map, UINT64_MAX, buf, 1, true), VMM_EFAULT);
  CU_ASSERT(untouched());
}

static bool dirty_bit(const struct vmm__memslot *s, uint64_t page) {
  return (s->dirty[page / 64] >> (page % 64)) & 1;
}

static void test_dirty_marked_by_writes(void) {
  struct vmm__memslot *a = new_slot(0x0, 64 * PAGE, true);
  CHECK_RC(vmm__memmap_insert(&map, a), 0);
  struct vmm__memslot *b = new_slot(64 * PAGE, 2 * PAGE, true);
  CHECK_RC(vmm__memmap_insert(&map, b), 0);
  uint8_t buf[2 * PAGE] = {0};

  CHECK_RC(vmm__memmap_access(&map, 3 * PAGE + 5, buf, 1, true), 0);
  CU_ASSERT(dirty_bit(a, 3));
  CU_ASSERT(!dirty_bit(a, 2) && !dirty_bit(a, 4));
  /* Reads never mark. */
  CHECK_RC(vmm__memmap_access(&map, 10 * PAGE, buf, PAGE, false), 0);
  CU_ASSERT(!dirty_bit(a, 10));
  /* A write crossing into the next region marks the last page of one
   * and the first of the other (the bitmap's word 0 bit 63 boundary). */
  CHECK_RC(vmm__memmap_access(&map, 64 * PAGE - 1, buf, 2, true), 0);
  CU_ASSERT(dirty_bit(a, 63));
  CU_ASSERT(dirty_bit(b, 0));
  CU_ASSERT(!dirty_bit(b, 1));
  /* Ending exactly on a page boundary does not mark the next page. */
  CHECK_RC(vmm__memmap_access(&map, 20 * PAGE, buf, PAGE, true), 0);
  CU_ASSERT(dirty_bit(a, 20) && !dirty_bit(a, 21) && !dirty_bit(a, 19));
  /* A failed write marks nothing. */
  uint64_t before = b->dirty[0];
  CHECK_RC(vmm__memmap_access(&map, 65 * PAGE, buf, 2 * PAGE, true),
           VMM_EFAULT);
  CHECK_U64(b->dirty[0], before);
}

/* A region without a log is written without touching a (NULL) bitmap. */
static void test_no_dirty_log(void) {
  struct vmm__memslot *a = add(0x0, PAGE);
  uint8_t v = 0x42;
  CHECK_RC(vmm__memmap_access(&map, 0x10, &v, 1, true), 0);
  CHECK_U64(a->hva[0x10], 0x42);
}

static void test_free_slot(void) {
  struct vmm__memslot *s0 = add(0x0, PAGE);
  struct vmm__memslot *s1 = add(0x1000, PAGE);
  struct vmm__memslot *s2 = add(0x2000, PAGE);
  CHECK_U64(vmm__memmap_free_slot(&map), 3);
  s1->slot = 7;
  CHECK_U64(vmm__memmap_free_slot(&map), 1);
  s1->slot = 1;
  s2->slot = 3; /* 0, 1, 3 used */
  CHECK_U64(vmm__memmap_free_slot(&map), 2);
  CHECK_RC(vmm__memmap_remove(&map, s0), 0);
  CHECK_U64(vmm__memmap_free_slot(&map), 0);
}

static void test_remove(void) {
  struct vmm__memslot *a = add(0x1000, PAGE);
  struct vmm__memslot *b = add(0x2000, PAGE);
  struct vmm__memslot *c = add(0x3000, PAGE);
  CHECK_RC(vmm__memmap_remove(&map, b), 0);
  CHECK_U64(map.count, 2);
  CU_ASSERT_PTR_EQUAL(map.slots[0], a);
  CU_ASSERT_PTR_EQUAL(map.slots[1], c);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x2000));
  /* By identity: an equal-looking copy is not the slot. */
  struct vmm__memslot copy = *a;
  CHECK_RC(vmm__memmap_remove(&map, &copy), VMM_ENOENT);
  CHECK_RC(vmm__memmap_remove(&map, b), VMM_ENOENT);
  /* The freed range can be mapped again, and access sees the hole. */
  uint8_t buf[3] = {0};
  CHECK_RC(vmm__memmap_access(&map, 0x1fff, buf, 3, true), VMM_EFAULT);
  CHECK_RC(vmm__memmap_insert(&map, b), 0);
  CHECK_RC(vmm__memmap_access(&map, 0x1fff, buf, 3, true), 0);
  CHECK_RC(vmm__memmap_remove(&map, a), 0);
  CHECK_RC(vmm__memmap_remove(&map, c), 0);
  CHECK_RC(vmm__memmap_remove(&map, b), 0);
  CHECK_U64(map.count, 0);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x2000));
}

static void test_fini_resets(void) {
  add(0x1000, PAGE);
  vmm__memmap_fini(&map);
  CHECK_U64(map.count, 0);
  CU_ASSERT_PTR_NULL(map.slots);
  CU_ASSERT_PTR_NULL(vmm__memmap_find(&map, 0x1000));
  /* Usable again after fini. */
  add(0x1000, PAGE);
  CHECK_U64(map.count, 1);
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_empty),
      UNIT_TEST(test_insert_sorted),
      UNIT_TEST(test_insert_many),
      UNIT_TEST(test_overlap_edges),
      UNIT_TEST(test_insert_rejects_bad_ranges),
      UNIT_TEST(test_find_boundaries),
      UNIT_TEST(test_access_spans_adjacent),
      UNIT_TEST(test_access_hole_copies_nothing),
      UNIT_TEST(test_access_wraps),
      UNIT_TEST(test_dirty_marked_by_writes),
      UNIT_TEST(test_no_dirty_log),
      UNIT_TEST(test_free_slot),
      UNIT_TEST(test_remove),
      UNIT_TEST(test_fini_resets),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("memmap", setup, teardown, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
