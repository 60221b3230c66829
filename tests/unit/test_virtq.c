/* tests/unit/test_virtq.c — the split virtqueue core (src/virtio/queue.c)
 * over a region map, driven the way a (sometimes malicious) driver would. */
#include <stdlib.h>
#include <sys/mman.h>

#include <libvmm/memory.h>

#include "memmap.h"
#include "unit.h"
#include "virtio/queue.h"

#define KiB 1024ull
#define PAGE VMM_PAGE_SIZE

/*
 * Guest memory of every test:
 *   0x00000 .. 0x10000  RAM "low" (rings live here)
 *   0x10000 .. 0x20000  RAM "high", adjacent: buffers may cross into it
 *   0x20000 .. 0x40000  hole
 *   0x40000 .. 0x41000  ROM (VMM_MEM_READONLY)
 *   0x80000 .. 0x90000  RAM with a dirty log
 * and, for the 4 GiB test only, 4 GiB of reserved address space at 4 GiB.
 */
#define LOW_GPA 0x0ull
#define HIGH_GPA 0x10000ull
#define HOLE_GPA 0x20000ull
#define ROM_GPA 0x40000ull
#define DIRTY_GPA 0x80000ull
#define BIG_GPA (4ull << 30)
#define BIG_SIZE (4ull << 30)

#define DESC_GPA 0x1000ull
#define AVAIL_GPA 0x2000ull
#define USED_GPA 0x3000ull
#define QSIZE 8u

static struct vmm__memmap map;
static struct vmm__memslot slots[5];
static size_t n_slots;
static struct vmm__virtq q;
static struct vmm__virtq_elem elem;
static uint16_t avail_idx; /* the driver's next available index */

static struct vmm__memslot *add_slot(uint64_t gpa, uint64_t size,
                                     uint32_t flags) {
  struct vmm__memslot *s = &slots[n_slots];
  s->gpa = gpa;
  s->size = size;
  s->flags = flags;
  s->slot = (uint32_t)n_slots;
  s->hva = aligned_alloc(PAGE, size);
  CU_ASSERT_FATAL(s->hva != NULL);
  memset(s->hva, 0, size);
  if (flags & VMM_MEM_DIRTY_LOG) {
    s->dirty = calloc((size / PAGE + 63) / 64, sizeof(uint64_t));
    CU_ASSERT_FATAL(s->dirty != NULL);
  }
  CHECK_RC(vmm__memmap_insert(&map, s), 0);
  n_slots++;
  return s;
}

static void setup(void) {
  vmm__memmap_init(&map);
  memset(slots, 0, sizeof(slots));
  n_slots = 0;
  add_slot(LOW_GPA, 64 * KiB, 0);
  add_slot(HIGH_GPA, 64 * KiB, 0);
  add_slot(ROM_GPA, 4 * KiB, VMM_MEM_READONLY);
  add_slot(DIRTY_GPA, 64 * KiB, VMM_MEM_DIRTY_LOG);
  vmm__virtq_init(&q);
  q.size = QSIZE;
  q.desc_gpa = DESC_GPA;
  q.avail_gpa = AVAIL_GPA;
  q.used_gpa = USED_GPA;
  memset(&elem, 0, sizeof(elem));
  avail_idx = 0;
}

static void teardown(void) {
  for (size_t i = 0; i < n_slots; i++) {
    if (slots[i].gpa == BIG_GPA)
      munmap(slots[i].hva, slots[i].size);
    else
      free(slots[i].hva);
    free(slots[i].dirty);
  }
  vmm__memmap_fini(&map);
  vmm__virtq_elem_free(&elem);
}

/* ---- the driver's side, written straight into guest memory ------------ */

static void gwrite(uint64_t gpa, const void *p, size_t n) {
  CHECK_RC(vmm__memmap_access(&map, gpa, (void *)p, n, true), 0);
}
static void gread(uint64_t gpa, void *p, size_t n) {
  CHECK_RC(vmm__memmap_access(&map, gpa, p, n, false), 0);
}
static void put16(uint64_t gpa, uint16_t v) { gwrite(gpa, &v, 2); }
static uint16_t get16(uint64_t gpa) {
  uint16_t v = 0;
  gread(gpa, &v, 2);
  return v;
}
static uint32_t get32(uint64_t gpa) {
  uint32_t v = 0;
  gread(gpa, &v, 4);
  return v;
}

static void desc_at(uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
                    uint16_t flags, uint16_t next) {
  struct vmm__vring_desc d = {addr, len, flags, next};
  gwrite(table + 16ull * i, &d, sizeof(d));
}
static void desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
  desc_at(DESC_GPA, i, addr, len, flags, next);
}

/* Makes chain `head` available and publishes the index. */
static void make_avail(uint16_t head) {
  put16(AVAIL_GPA + 4 + 2 * (avail_idx % q.size), head);
  avail_idx++;
  put16(AVAIL_GPA + 2, avail_idx);
}

static void start(void) { CHECK_RC(vmm__virtq_start(&q, &map), 0); }

/* The queue refused the chain with a message containing `why`. */
static void expect_broken(int rc, const char *why) {
  CU_ASSERT(rc < 0);
  CU_ASSERT(q.broken);
  CHECK_CONTAINS(q.error, why);
  /* Broken stays broken. */
  CU_ASSERT(vmm__virtq_pop(&q, &elem) < 0);
}

static uint8_t *hva(uint64_t gpa) {
  struct vmm__memslot *s = vmm__memmap_find(&map, gpa);
  CU_ASSERT_FATAL(s != NULL);
  return s->hva + (gpa - s->gpa);
}

/* ---- layout checks ---------------------------------------------------- */

static void expect_start_fails(const char *why) {
  int rc = vmm__virtq_start(&q, &map);
  CU_ASSERT(rc < 0);
  CU_ASSERT(!q.running);
  CHECK_CONTAINS(q.error, why);
}

static void test_start_checks_size(void) {
  q.size = 0;
  expect_start_fails("power of two");
  q.size = 6;
  expect_start_fails("power of two");
  q.size = 65535;
  expect_start_fails("power of two");
  q.size = QSIZE;
  start();
  CU_ASSERT(q.running);
}

static void test_start_checks_alignment(void) {
  q.desc_gpa = DESC_GPA + 8;
  expect_start_fails("descriptor table at 0x1008 is not 16-byte aligned");
  q.desc_gpa = DESC_GPA;
  q.avail_gpa = AVAIL_GPA + 1;
  expect_start_fails("available ring at 0x2001 is not 2-byte aligned");
  q.avail_gpa = AVAIL_GPA;
  q.used_gpa = USED_GPA + 2;
  expect_start_fails("used ring at 0x3002 is not 4-byte aligned");
  q.used_gpa = USED_GPA;
  start();
}

static void test_start_checks_memory(void) {
  q.desc_gpa = HOLE_GPA;
  expect_start_fails("descriptor table [0x20000, +0x80) is not inside");
  /* Across the boundary of two adjacent regions: not one host mapping. */
  q.desc_gpa = HIGH_GPA - 0x40;
  expect_start_fails("descriptor table");
  q.desc_gpa = DESC_GPA;
  q.avail_gpa = UINT64_MAX - 1;
  expect_start_fails("available ring");
  q.avail_gpa = AVAIL_GPA;
  q.used_gpa = ROM_GPA;
  expect_start_fails("used ring at 0x40000 is in read-only memory");
  /* The driver's rings may be read-only: the device only reads them. */
  q.used_gpa = USED_GPA;
  q.avail_gpa = ROM_GPA;
  start();
}

/* A region that goes away under a running queue is noticed at the next
 * pass instead of being used through a stale pointer. */
static void test_map_after_unmap(void) {
  start();
  CHECK_RC(vmm__memmap_remove(&map, &slots[0]), 0);
  CU_ASSERT(vmm__virtq_map(&q, &map) < 0);
  CHECK_CONTAINS(q.error, "descriptor table");
  CHECK_RC(vmm__memmap_insert(&map, &slots[0]), 0);
}

/* ---- popping and pushing ---------------------------------------------- */

static void test_empty(void) {
  start();
  CHECK_RC(vmm__virtq_pop(&q, &elem), 0);
  CU_ASSERT(!vmm__virtq_has_avail(&q));
}

static void test_simple_chain(void) {
  start();
  desc(0, 0x5000, 100, VMM__VRING_DESC_F_NEXT, 3);
  desc(3, 0x6000, 200, VMM__VRING_DESC_F_WRITE | VMM__VRING_DESC_F_NEXT, 5);
  desc(5, 0x7000, 300, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  CU_ASSERT(vmm__virtq_has_avail(&q));
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.head, 0);
  CHECK_U64(elem.out_num, 1);
  CHECK_U64(elem.in_num, 2);
  CHECK_U64(elem.out_len, 100);
  CHECK_U64(elem.in_len, 500);
  CU_ASSERT_PTR_EQUAL(elem.iov[0].iov_base, hva(0x5000));
  CHECK_U64(elem.iov[0].iov_len, 100);
  CU_ASSERT_PTR_EQUAL(elem.iov[1].iov_base, hva(0x6000));
  CU_ASSERT_PTR_EQUAL(elem.iov[2].iov_base, hva(0x7000));
  CHECK_U64(elem.iov[2].iov_len, 300);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 0);

  CHECK_RC(vmm__virtq_push(&q, &elem, 250), 0);
  CHECK_U64(get16(USED_GPA + 2), 1);
  CHECK_U64(get32(USED_GPA + 4), 0);   /* id */
  CHECK_U64(get32(USED_GPA + 8), 250); /* len */
  /* A device claiming more than the chain offered is clamped. */
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_RC(vmm__virtq_push(&q, &elem, 100000), 0);
  CHECK_U64(get32(USED_GPA + 16), 500);
}

/* Many chains go round the rings several times (index wrap at 2^16 too). */
static void test_wraparound(void) {
  start();
  desc(2, 0x5000, 16, VMM__VRING_DESC_F_WRITE, 0);
  for (unsigned i = 0; i < 70000; i++) {
    make_avail(2);
    CU_ASSERT_FATAL(vmm__virtq_pop(&q, &elem) == 1);
    CU_ASSERT_FATAL(vmm__virtq_push(&q, &elem, 16) == 0);
  }
  CHECK_U64(get16(USED_GPA + 2), (uint16_t)70000);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 0);
}

static void test_split_across_regions(void) {
  start();
  /* 0x30 bytes from 0x10000 - 0x10: 0x10 in "low", 0x20 in "high". */
  desc(0, HIGH_GPA - 0x10, 0x30, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.in_num, 2);
  CHECK_U64(elem.in_len, 0x30);
  CU_ASSERT_PTR_EQUAL(elem.iov[0].iov_base, hva(HIGH_GPA - 0x10));
  CHECK_U64(elem.iov[0].iov_len, 0x10);
  CU_ASSERT_PTR_EQUAL(elem.iov[1].iov_base, hva(HIGH_GPA));
  CHECK_U64(elem.iov[1].iov_len, 0x20);
  uint8_t data[0x30];
  for (unsigned i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i + 1);
  CHECK_U64(vmm__virtq_elem_write(&elem, 0, data, sizeof(data)), 0x30);
  uint8_t back[0x30];
  gread(HIGH_GPA - 0x10, back, sizeof(back));
  CU_ASSERT(memcmp(back, data, sizeof(data)) == 0);
  /* Copies stop at the end of the part. */
  CHECK_U64(vmm__virtq_elem_write(&elem, 0x28, data, 0x30), 8);
  CHECK_U64(vmm__virtq_elem_read(&elem, 0, back, 0x30), 0);
}

static void test_zero_length_buffers(void) {
  start();
  desc(0, 0x5000, 0, VMM__VRING_DESC_F_NEXT, 1);
  desc(1, 0x6000, 0, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.out_num + elem.in_num, 0);
  CHECK_RC(vmm__virtq_push(&q, &elem, 0), 0);
}

static void test_elem_copies(void) {
  start();
  /* Readable: 3 pieces; writable: 2. */
  desc(0, 0x5000, 4, VMM__VRING_DESC_F_NEXT, 1);
  desc(1, 0x5100, 4, VMM__VRING_DESC_F_NEXT, 2);
  desc(2, 0x5200, 4, VMM__VRING_DESC_F_NEXT, 3);
  desc(3, 0x6000, 5, VMM__VRING_DESC_F_WRITE | VMM__VRING_DESC_F_NEXT, 4);
  desc(4, 0x6100, 5, VMM__VRING_DESC_F_WRITE, 0);
  gwrite(0x5000, "abcd", 4);
  gwrite(0x5100, "efgh", 4);
  gwrite(0x5200, "ijkl", 4);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  char buf[16] = {0};
  CHECK_U64(vmm__virtq_elem_read(&elem, 2, buf, 8), 8);
  CU_ASSERT(memcmp(buf, "cdefghij", 8) == 0);
  CHECK_U64(vmm__virtq_elem_read(&elem, 10, buf, 16), 2);
  CHECK_U64(vmm__virtq_elem_write(&elem, 3, "0123456789", 10), 7);
  char w1[5], w2[5];
  gread(0x6000, w1, 5);
  gread(0x6100, w2, 5);
  CU_ASSERT(memcmp(w1 + 3, "01", 2) == 0);
  CU_ASSERT(memcmp(w2, "23456", 5) == 0);
  /* The readable part is untouched by writes. */
  gread(0x5000, buf, 4);
  CU_ASSERT(memcmp(buf, "abcd", 4) == 0);
}

/* Pushing marks what the device wrote, and the used ring, dirty. */
static void test_dirty_log(void) {
  q.used_gpa = DIRTY_GPA + 0x8000; /* page 8 */
  start();
  memset(slots[3].dirty, 0, 8);
  desc(0, DIRTY_GPA + 0x1ff0, 0x2020, VMM__VRING_DESC_F_WRITE, 0); /* pages 1-3 */
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_RC(vmm__virtq_push(&q, &elem, 0x20), 0); /* only pages 1 and 2 */
  CHECK_U64(slots[3].dirty[0], (1u << 1) | (1u << 2) | (1u << 8));
}

/* ---- what a malicious driver may do ----------------------------------- */

static void test_head_out_of_range(void) {
  start();
  make_avail(QSIZE);
  expect_broken(vmm__virtq_pop(&q, &elem), "names descriptor 8, beyond the "
                "queue size 8");
}

static void test_next_out_of_range(void) {
  start();
  desc(0, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 200);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "links to 200, beyond the queue "
                "size");
}

static void test_loop(void) {
  start();
  desc(0, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 1);
  desc(1, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 2);
  desc(2, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 0);
  make_avail(1);
  expect_broken(vmm__virtq_pop(&q, &elem), "longer than the queue");
}

static void test_self_loop(void) {
  start();
  desc(4, 0x5000, 8, VMM__VRING_DESC_F_WRITE | VMM__VRING_DESC_F_NEXT, 4);
  make_avail(4);
  expect_broken(vmm__virtq_pop(&q, &elem), "a loop?");
}

static void test_avail_idx_jump(void) {
  start();
  desc(0, 0x5000, 8, 0, 0);
  put16(AVAIL_GPA + 2, QSIZE + 1);
  expect_broken(vmm__virtq_pop(&q, &elem), "available index moved from 0 to "
                "9: more than the queue size 8");
}

/* Exactly a queue's worth is fine; the index going backwards is a jump. */
static void test_avail_idx_limits(void) {
  start();
  for (uint16_t i = 0; i < QSIZE; i++)
    desc(i, 0x5000, 8, VMM__VRING_DESC_F_WRITE, 0);
  for (uint16_t i = 0; i < QSIZE; i++)
    make_avail(i);
  for (uint16_t i = 0; i < QSIZE; i++)
    CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  put16(AVAIL_GPA + 2, QSIZE - 1);
  expect_broken(vmm__virtq_pop(&q, &elem), "available index moved");
}

static void test_address_outside_memory(void) {
  start();
  desc(0, HOLE_GPA + 0x100, 8, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "buffer [0x20100, 0x20108) is not "
                "guest memory");
}

/* A buffer that starts in memory and runs into the hole. */
static void test_buffer_runs_off_memory(void) {
  start();
  desc(0, HOLE_GPA - 8, 16, 0, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "is not guest memory (at 0x20000)");
}

static void test_length_wraps(void) {
  start();
  desc(0, UINT64_MAX - 0x10, 0x100, 0, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "wraps around");
}

static void test_total_over_4g(void) {
  struct vmm__memslot *s = &slots[n_slots];
  s->gpa = BIG_GPA;
  s->size = BIG_SIZE;
  s->slot = (uint32_t)n_slots;
  /* Address space only: the queue computes pointers, it never touches. */
  void *p = mmap(NULL, BIG_SIZE, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CU_ASSERT_FATAL(p != MAP_FAILED);
  s->hva = p;
  CHECK_RC(vmm__memmap_insert(&map, s), 0);
  n_slots++;
  start();
  desc(0, BIG_GPA, 0xffffffffu, VMM__VRING_DESC_F_NEXT, 1);
  desc(1, BIG_GPA, 1, 0, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "more than 4 GiB");
}

static void test_readable_after_writable(void) {
  start();
  desc(0, 0x5000, 8, VMM__VRING_DESC_F_WRITE | VMM__VRING_DESC_F_NEXT, 1);
  desc(1, 0x6000, 8, 0, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "device-readable buffer after a "
                "device-writable one");
}

static void test_writable_in_rom(void) {
  start();
  /* Reading from ROM is fine... */
  desc(0, ROM_GPA, 8, 0, 0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  /* ...writing into it is not. */
  desc(1, ROM_GPA, 8, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(1);
  expect_broken(vmm__virtq_pop(&q, &elem), "lies in read-only memory");
}

/* ---- indirect descriptors --------------------------------------------- */

#define TABLE_GPA 0x8000ull

static void test_indirect(void) {
  q.indirect = true;
  start();
  desc_at(TABLE_GPA, 0, 0x5000, 10, VMM__VRING_DESC_F_NEXT, 2);
  desc_at(TABLE_GPA, 2, 0x6000, 20,
          VMM__VRING_DESC_F_WRITE | VMM__VRING_DESC_F_NEXT, 1);
  desc_at(TABLE_GPA, 1, 0x7000, 30, VMM__VRING_DESC_F_WRITE, 0);
  /* The WRITE flag of the descriptor naming the table is ignored. */
  desc(6, TABLE_GPA, 3 * 16,
       VMM__VRING_DESC_F_INDIRECT | VMM__VRING_DESC_F_WRITE, 0);
  make_avail(6);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.head, 6);
  CHECK_U64(elem.out_num, 1);
  CHECK_U64(elem.in_num, 2);
  CHECK_U64(elem.out_len, 10);
  CHECK_U64(elem.in_len, 50);
  CU_ASSERT_PTR_EQUAL(elem.iov[2].iov_base, hva(0x7000));
  CHECK_RC(vmm__virtq_push(&q, &elem, 50), 0);
  CHECK_U64(get32(USED_GPA + 4), 6);
}

/* A direct descriptor, then the rest of the chain in a table. */
static void test_indirect_after_direct(void) {
  q.indirect = true;
  start();
  desc_at(TABLE_GPA, 0, 0x6000, 20, VMM__VRING_DESC_F_WRITE, 0);
  desc(0, 0x5000, 10, VMM__VRING_DESC_F_NEXT, 1);
  desc(1, TABLE_GPA, 16, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.out_len, 10);
  CHECK_U64(elem.in_len, 20);
}

/* A table that crosses from one region into the adjacent one. */
static void test_indirect_table_across_regions(void) {
  q.indirect = true;
  start();
  uint64_t t = HIGH_GPA - 24; /* entry 1 straddles the boundary */
  desc_at(t, 0, 0x5000, 10, VMM__VRING_DESC_F_NEXT, 1);
  desc_at(t, 1, 0x6000, 20, VMM__VRING_DESC_F_WRITE, 0);
  desc(0, t, 32, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(elem.out_len, 10);
  CHECK_U64(elem.in_len, 20);
}

static void test_indirect_not_negotiated(void) {
  start();
  desc(0, TABLE_GPA, 16, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "VIRTIO_F_INDIRECT_DESC was not "
                "negotiated");
}

static void test_indirect_nested(void) {
  q.indirect = true;
  start();
  desc_at(TABLE_GPA, 0, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 1);
  desc_at(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VMM__VRING_DESC_F_INDIRECT, 0);
  desc(0, TABLE_GPA, 32, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "indirect descriptor inside the "
                "indirect table");
}

static void test_indirect_bad_length(void) {
  q.indirect = true;
  start();
  desc(0, TABLE_GPA, 24, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "not a non-zero multiple of 16");
}

static void test_indirect_zero_length(void) {
  q.indirect = true;
  start();
  desc(0, TABLE_GPA, 0, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "not a non-zero multiple of 16");
}

static void test_indirect_outside_memory(void) {
  q.indirect = true;
  start();
  desc(0, HIGH_GPA + 0xfff0, 32, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "indirect table [0x1fff0, +0x20) "
                "is not guest memory");
}

static void test_indirect_too_large(void) {
  q.indirect = true;
  start();
  desc(0, 0, 16 * (VMM__VIRTQ_MAX_SIZE + 1), VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "entries, more than 32768");
}

static void test_indirect_with_next(void) {
  q.indirect = true;
  start();
  desc(0, TABLE_GPA, 16, VMM__VRING_DESC_F_INDIRECT | VMM__VRING_DESC_F_NEXT,
       1);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "both INDIRECT and NEXT");
}

static void test_indirect_loop(void) {
  q.indirect = true;
  start();
  desc_at(TABLE_GPA, 0, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 1);
  desc_at(TABLE_GPA, 1, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 0);
  desc(0, TABLE_GPA, 32, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "longer than its indirect table");
}

static void test_indirect_next_out_of_range(void) {
  q.indirect = true;
  start();
  desc_at(TABLE_GPA, 0, 0x5000, 8, VMM__VRING_DESC_F_NEXT, 2);
  desc(0, TABLE_GPA, 32, VMM__VRING_DESC_F_INDIRECT, 0);
  make_avail(0);
  expect_broken(vmm__virtq_pop(&q, &elem), "links to 2, beyond its indirect "
                "table (2 entries)");
}

/* ---- notifications ---------------------------------------------------- */

static void push_one(void) {
  desc(0, 0x5000, 8, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  CU_ASSERT_FATAL(vmm__virtq_pop(&q, &elem) == 1);
  CU_ASSERT_FATAL(vmm__virtq_push(&q, &elem, 8) == 0);
}

static void test_no_interrupt_flag(void) {
  start();
  push_one();
  CU_ASSERT(vmm__virtq_should_notify(&q));
  put16(AVAIL_GPA, VMM__VRING_AVAIL_F_NO_INTERRUPT);
  push_one();
  CU_ASSERT(!vmm__virtq_should_notify(&q));
  put16(AVAIL_GPA, 0);
  push_one();
  CU_ASSERT(vmm__virtq_should_notify(&q));
}

#define USED_EVENT_GPA (AVAIL_GPA + 4 + 2 * QSIZE)
#define AVAIL_EVENT_GPA (USED_GPA + 4 + 8 * QSIZE)

static void test_event_idx_used_event(void) {
  q.event_idx = true;
  start();
  /* The flag means nothing with event indices. */
  put16(AVAIL_GPA, VMM__VRING_AVAIL_F_NO_INTERRUPT);
  push_one(); /* used idx 1 */
  CU_ASSERT(vmm__virtq_should_notify(&q)); /* the first time always */
  /* The driver wants to hear when entry 3 is used (idx passes 3). */
  put16(USED_EVENT_GPA, 3);
  push_one(); /* 2 */
  CU_ASSERT(!vmm__virtq_should_notify(&q));
  push_one(); /* 3 */
  CU_ASSERT(!vmm__virtq_should_notify(&q));
  push_one(); /* 4: entry 3 published */
  CU_ASSERT(vmm__virtq_should_notify(&q));
  push_one(); /* 5 */
  CU_ASSERT(!vmm__virtq_should_notify(&q));
  /* Several at once crossing the event still notify once. */
  put16(USED_EVENT_GPA, 6);
  push_one();
  push_one();
  push_one(); /* 8 */
  CU_ASSERT(vmm__virtq_should_notify(&q));
  CU_ASSERT(!vmm__virtq_should_notify(&q)); /* nothing new */
}

static void test_no_notify_flag(void) {
  start();
  CHECK_U64(get16(USED_GPA), 0);
  vmm__virtq_set_notify(&q, false);
  CHECK_U64(get16(USED_GPA), VMM__VRING_USED_F_NO_NOTIFY);
  vmm__virtq_set_notify(&q, true);
  CHECK_U64(get16(USED_GPA), 0);
}

static void test_event_idx_avail_event(void) {
  q.event_idx = true;
  start();
  desc(0, 0x5000, 8, VMM__VRING_DESC_F_WRITE, 0);
  make_avail(0);
  make_avail(0);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  /* Notifications on: avail_event follows what was consumed. */
  CHECK_U64(get16(AVAIL_EVENT_GPA), 1);
  vmm__virtq_set_notify(&q, false);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 1);
  CHECK_U64(get16(AVAIL_EVENT_GPA), 1); /* left behind: no notifications */
  CU_ASSERT(!vmm__virtq_has_avail(&q));
  vmm__virtq_set_notify(&q, true);
  CHECK_U64(get16(AVAIL_EVENT_GPA), 2);
  /* The used-ring flag is not used with event indices. */
  CHECK_U64(get16(USED_GPA), 0);
}

/* Stopping and starting again begins at index 0; reset forgets all. */
static void test_restart(void) {
  start();
  push_one();
  vmm__virtq_stop(&q);
  CU_ASSERT(!q.running);
  CHECK_RC(vmm__virtq_pop(&q, &elem), 0);
  CU_ASSERT(vmm__virtq_push(&q, &elem, 0) < 0);
  CU_ASSERT(!vmm__virtq_should_notify(&q));
  CHECK_U64(q.desc_gpa, DESC_GPA); /* layout kept */
  avail_idx = 0;
  put16(AVAIL_GPA + 2, 0);
  start();
  CHECK_U64(get16(USED_GPA + 2), 0);
  push_one();
  CHECK_U64(get16(USED_GPA + 2), 1);
  /* A broken queue starts clean again after a reset and new layout. */
  make_avail(QSIZE + 3);
  CU_ASSERT(vmm__virtq_pop(&q, &elem) < 0);
  CU_ASSERT(vmm__virtq_map(&q, &map) < 0);
  vmm__virtq_init(&q);
  q.size = QSIZE;
  q.desc_gpa = DESC_GPA;
  q.avail_gpa = AVAIL_GPA;
  q.used_gpa = USED_GPA;
  avail_idx = 0;
  put16(AVAIL_GPA + 2, 0);
  start();
  CU_ASSERT(!q.broken);
  push_one();
}

/* ---- random rings: whatever the driver writes, nothing escapes -------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Addresses near the interesting places: regions' edges, the hole, ROM,
 * the tables, and anything at all. */
static uint64_t rnd_addr(void) {
  static const uint64_t bases[] = {LOW_GPA, HIGH_GPA, HOLE_GPA, ROM_GPA,
                                   DIRTY_GPA, TABLE_GPA, DESC_GPA, 0};
  uint64_t r = rnd();
  if ((r & 15) == 0)
    return rnd();
  return bases[r % 8] + ((rnd() % 0x200) - 0x100);
}

static uint32_t rnd_len(void) {
  uint64_t r = rnd();
  switch (r & 7) {
  case 0:
    return (uint32_t)rnd();
  case 1:
    return 16 * (uint32_t)(rnd() % 8);
  default:
    return (uint32_t)(rnd() % 0x400);
  }
}

static bool iov_inside_memory(const struct iovec *iov, bool writable) {
  for (size_t i = 0; i < n_slots; i++) {
    const struct vmm__memslot *s = &slots[i];
    const uint8_t *b = iov->iov_base;
    if (b >= s->hva && b + iov->iov_len <= s->hva + s->size)
      return !(writable && (s->flags & VMM_MEM_READONLY));
  }
  return false;
}

static void test_random_rings(void) {
  unsigned popped = 0, broken = 0;
  for (unsigned round = 0; round < 3000; round++) {
    vmm__virtq_init(&q);
    q.size = (uint16_t)(1u << (rnd() % 5));
    q.desc_gpa = DESC_GPA;
    q.avail_gpa = AVAIL_GPA;
    q.used_gpa = USED_GPA;
    q.indirect = rnd() & 1;
    q.event_idx = rnd() & 1;
    start();
    /* Random tables: the ring's and one indirect table. */
    for (uint32_t i = 0; i < q.size; i++)
      desc(i, (rnd() & 3) ? rnd_addr() : TABLE_GPA, rnd_len(),
           (uint16_t)(rnd() & 7), (uint16_t)(rnd() % (q.size + 2)));
    for (uint32_t i = 0; i < 16; i++)
      desc_at(TABLE_GPA, i, rnd_addr(), rnd_len(), (uint16_t)(rnd() & 7),
              (uint16_t)(rnd() % 18));
    for (uint32_t i = 0; i < q.size; i++)
      put16(AVAIL_GPA + 4 + 2 * i, (uint16_t)(rnd() % (q.size + 1)));
    put16(AVAIL_GPA + 2, (uint16_t)(rnd() % (2u * q.size + 1)));
    for (;;) {
      int rc = vmm__virtq_pop(&q, &elem);
      if (rc < 0) {
        broken++;
        CU_ASSERT(q.error[0] != '\0');
        break;
      }
      if (rc == 0)
        break;
      popped++;
      uint64_t total = 0;
      for (uint32_t i = 0; i < elem.out_num + elem.in_num; i++) {
        CU_ASSERT_FATAL(iov_inside_memory(&elem.iov[i], i >= elem.out_num));
        total += elem.iov[i].iov_len;
      }
      CHECK_U64(total, (uint64_t)elem.out_len + elem.in_len);
      CU_ASSERT(total <= UINT32_MAX);
      CU_ASSERT_FATAL(vmm__virtq_push(&q, &elem, elem.in_len) == 0);
    }
  }
  /* The generator reaches both outcomes. */
  CU_ASSERT(popped > 100);
  CU_ASSERT(broken > 100);
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_start_checks_size),
      UNIT_TEST(test_start_checks_alignment),
      UNIT_TEST(test_start_checks_memory),
      UNIT_TEST(test_map_after_unmap),
      UNIT_TEST(test_empty),
      UNIT_TEST(test_simple_chain),
      UNIT_TEST(test_wraparound),
      UNIT_TEST(test_split_across_regions),
      UNIT_TEST(test_zero_length_buffers),
      UNIT_TEST(test_elem_copies),
      UNIT_TEST(test_dirty_log),
      UNIT_TEST(test_head_out_of_range),
      UNIT_TEST(test_next_out_of_range),
      UNIT_TEST(test_loop),
      UNIT_TEST(test_self_loop),
      UNIT_TEST(test_avail_idx_jump),
      UNIT_TEST(test_avail_idx_limits),
      UNIT_TEST(test_address_outside_memory),
      UNIT_TEST(test_buffer_runs_off_memory),
      UNIT_TEST(test_length_wraps),
      UNIT_TEST(test_total_over_4g),
      UNIT_TEST(test_readable_after_writable),
      UNIT_TEST(test_writable_in_rom),
      UNIT_TEST(test_indirect),
      UNIT_TEST(test_indirect_after_direct),
      UNIT_TEST(test_indirect_table_across_regions),
      UNIT_TEST(test_indirect_not_negotiated),
      UNIT_TEST(test_indirect_nested),
      UNIT_TEST(test_indirect_bad_length),
      UNIT_TEST(test_indirect_zero_length),
      UNIT_TEST(test_indirect_outside_memory),
      UNIT_TEST(test_indirect_too_large),
      UNIT_TEST(test_indirect_with_next),
      UNIT_TEST(test_indirect_loop),
      UNIT_TEST(test_indirect_next_out_of_range),
      UNIT_TEST(test_no_interrupt_flag),
      UNIT_TEST(test_event_idx_used_event),
      UNIT_TEST(test_no_notify_flag),
      UNIT_TEST(test_event_idx_avail_event),
      UNIT_TEST(test_restart),
      UNIT_TEST(test_random_rings),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("virtq", setup, teardown, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
