/* tests/integration/memory_test.c — memory regions: both kinds of
 * backing, the mapping rules, host access across and outside regions,
 * unmapping. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

#define A_GPA 0x10000000ull /* away from the RAM test_vm_create() maps */

static void test_map_library_memory(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_mem_region_t *r = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, A_GPA, 0x3000, NULL, 0, &r)))
    goto out;
  EXPECT_EQ(vmm_mem_region_gpa(r), A_GPA);
  EXPECT_EQ(vmm_mem_region_size(r), 0x3000);
  EXPECT_EQ(vmm_mem_region_flags(r), 0);
  uint8_t *hva = vmm_mem_region_hva(r);
  if (!EXPECT_TRUE(hva))
    goto out;
  EXPECT_EQ((uintptr_t)hva % VMM_PAGE_SIZE, 0);
  bool zero = true;
  for (size_t i = 0; i < 0x3000; i++)
    zero &= hva[i] == 0;
  EXPECT_TRUE(zero);
  const char msg[] = "written through the API";
  EXPECT_OK(vmm_mem_write(t.vm, A_GPA + 0x1234, msg, sizeof(msg)));
  EXPECT_TRUE(memcmp(hva + 0x1234, msg, sizeof(msg)) == 0);
  void *p = NULL;
  EXPECT_OK(vmm_mem_gpa_to_hva(t.vm, A_GPA + 0x1000, 0x2000, &p));
  EXPECT_TRUE(p == hva + 0x1000);
  EXPECT_RC(vmm_mem_gpa_to_hva(t.vm, A_GPA + 0x1000, 0x2001, &p), VMM_EFAULT);
  /* out may be NULL. */
  EXPECT_OK(vmm_mem_map(t.vm, A_GPA + 0x100000, 0x1000, NULL, 0, NULL));
out:
  test_vm_destroy(&t);
}

static void test_map_caller_memory(void) {
  struct test_vm t;
  uint8_t *buf = aligned_alloc(VMM_PAGE_SIZE, 0x2000);
  if (!EXPECT_TRUE(buf))
    return;
  memset(buf, 0x5a, 0x2000);
  if (!CREATE(&t, NULL))
    goto out;
  vmm_mem_region_t *r = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, A_GPA, 0x2000, buf, 0, &r)))
    goto out;
  EXPECT_TRUE(vmm_mem_region_hva(r) == buf);
  uint8_t got[16];
  EXPECT_OK(vmm_mem_read(t.vm, A_GPA + 0x2000 - sizeof(got), got, sizeof(got)));
  EXPECT_EQ(got[0], 0x5a);
  EXPECT_OK(vmm_mem_write(t.vm, A_GPA + 8, "abc", 3));
  EXPECT_TRUE(memcmp(buf + 8, "abc", 3) == 0);
  EXPECT_OK(vmm_mem_unmap(r));
  /* Still the caller's, untouched. */
  EXPECT_TRUE(memcmp(buf + 8, "abc", 3) == 0);
  buf[0] = 1;
  /* And a VM destroyed with a caller region in it leaves it alone too. */
  EXPECT_OK(vmm_mem_map(t.vm, A_GPA, 0x2000, buf, 0, NULL));
out:
  test_vm_destroy(&t);
  EXPECT_EQ(buf[9], 'b');
  free(buf);
}

static void test_map_rules(void) {
  struct test_vm t;
  uint8_t *buf = aligned_alloc(VMM_PAGE_SIZE, 0x3000);
  if (!EXPECT_TRUE(buf))
    return;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_vm_t *vm = t.vm;
  EXPECT_OK(vmm_mem_map(vm, A_GPA, 0x2000, NULL, 0, NULL));
  /* Overlaps: partial from above and below, inside, covering, same. */
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x1000, 0x2000, NULL, 0, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_mem_map(vm, A_GPA - 0x1000, 0x2000, NULL, 0, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x1000, 0x1000, NULL, 0, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_mem_map(vm, A_GPA - 0x10000, 0x100000, NULL, 0, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_mem_map(vm, A_GPA, 0x2000, NULL, 0, NULL), VMM_EOVERLAP);
  EXPECT_RC(vmm_mem_map(vm, 0, 0x1000, NULL, 0, NULL), VMM_EOVERLAP); /* RAM */
  /* Adjacent on both sides is fine. */
  EXPECT_OK(vmm_mem_map(vm, A_GPA + 0x2000, 0x1000, NULL, 0, NULL));
  EXPECT_OK(vmm_mem_map(vm, A_GPA - 0x1000, 0x1000, NULL, 0, NULL));
  /* Alignment and size. */
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x100001, 0x1000, NULL, 0, NULL),
            VMM_EINVAL);
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x100000, 0x1001, NULL, 0, NULL),
            VMM_EINVAL);
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x100000, 0, NULL, 0, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x100000, 0x1000, buf + 8, 0, NULL),
            VMM_EINVAL);
  EXPECT_RC(vmm_mem_map(vm, A_GPA + 0x100000, 0x1000, NULL, 1u << 31, NULL),
            VMM_EINVAL);
  /* A range that wraps around the address space. */
  EXPECT_FAIL(vmm_mem_map(vm, 0xfffffffffffff000ull, 0x2000, NULL, 0, NULL));
  /* Nothing above was mapped by mistake. */
  EXPECT_RC(vmm_mem_read(vm, A_GPA + 0x100000, buf, 1), VMM_EFAULT);
out:
  test_vm_destroy(&t);
  free(buf);
}

static void test_access_across_regions(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_vm_t *vm = t.vm;
  vmm_mem_region_t *a = NULL, *b = NULL;
  /* A and B adjacent, then a hole, then C. */
  if (!EXPECT_OK(vmm_mem_map(vm, A_GPA, 0x2000, NULL, 0, &a)) ||
      !EXPECT_OK(vmm_mem_map(vm, A_GPA + 0x2000, 0x1000, NULL, 0, &b)) ||
      !EXPECT_OK(vmm_mem_map(vm, A_GPA + 0x4000, 0x1000, NULL, 0, NULL)))
    goto out;
  uint8_t in[256], got[256];
  for (int i = 0; i < 256; i++)
    in[i] = (uint8_t)(i ^ 0x3c);
  EXPECT_OK(vmm_mem_write(vm, A_GPA + 0x1f80, in, sizeof(in)));
  memset(got, 0, sizeof(got));
  EXPECT_OK(vmm_mem_read(vm, A_GPA + 0x1f80, got, sizeof(got)));
  EXPECT_TRUE(memcmp(in, got, sizeof(in)) == 0);
  uint8_t *ha = vmm_mem_region_hva(a), *hb = vmm_mem_region_hva(b);
  EXPECT_TRUE(ha && memcmp(ha + 0x1f80, in, 0x80) == 0);
  EXPECT_TRUE(hb && memcmp(hb, in + 0x80, 0x80) == 0);
  void *p;
  EXPECT_RC(vmm_mem_gpa_to_hva(vm, A_GPA + 0x1f80, 0x100, &p), VMM_EFAULT);

  /* Into the hole after B: fails whole, nothing copied either way. */
  uint8_t ones[256];
  memset(ones, 0xff, sizeof(ones));
  EXPECT_RC(vmm_mem_write(vm, A_GPA + 0x2f80, ones, sizeof(ones)), VMM_EFAULT);
  EXPECT_TRUE(hb && hb[0xf80] == 0 && hb[0xfff] == 0);
  memset(got, 0xee, sizeof(got));
  EXPECT_RC(vmm_mem_read(vm, A_GPA + 0x2f80, got, sizeof(got)), VMM_EFAULT);
  EXPECT_TRUE(got[0] == 0xee && got[255] == 0xee);
  /* Wholly outside, and spanning the hole into C. */
  EXPECT_RC(vmm_mem_read(vm, A_GPA + 0x3000, got, 1), VMM_EFAULT);
  EXPECT_RC(vmm_mem_read(vm, A_GPA + 0x2000, got, 0x2001), VMM_EFAULT);
  EXPECT_RC(vmm_mem_read(vm, 0xfffffffffffffff0ull, got, 32), VMM_EFAULT);
  EXPECT_RC(vmm_mem_read(vm, A_GPA, NULL, 1), VMM_EINVAL);
  EXPECT_RC(vmm_mem_write(vm, A_GPA, NULL, 1), VMM_EINVAL);
  EXPECT_RC(vmm_mem_gpa_to_hva(vm, A_GPA + 0x3000, 1, &p), VMM_EFAULT);
  EXPECT_RC(vmm_mem_gpa_to_hva(vm, A_GPA, 1, NULL), VMM_EINVAL);
out:
  test_vm_destroy(&t);
}

static void test_unmap(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_mem_region_t *r = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, A_GPA, 0x1000, NULL, 0, &r)))
    goto out;
  EXPECT_OK(vmm_mem_write(t.vm, A_GPA, "x", 1));
  EXPECT_OK(vmm_mem_unmap(r));
  /* The handle is dead. */
  EXPECT_RC(vmm_mem_unmap(r), VMM_EBADF);
  EXPECT_EQ(vmm_mem_region_gpa(r), 0);
  EXPECT_EQ(vmm_mem_region_size(r), 0);
  EXPECT_TRUE(vmm_mem_region_hva(r) == NULL);
  EXPECT_EQ(vmm_mem_region_flags(r), 0);
  uint64_t bm[1];
  EXPECT_RC(vmm_mem_dirty_log_get(r, bm, sizeof(bm)), VMM_EBADF);
  EXPECT_RC(vmm_mem_dirty_log_clear(r), VMM_EBADF);
  /* The range is free again, and reads as unmapped meanwhile. */
  char c;
  EXPECT_RC(vmm_mem_read(t.vm, A_GPA, &c, 1), VMM_EFAULT);
  vmm_mem_region_t *r2 = NULL;
  EXPECT_OK(vmm_mem_map(t.vm, A_GPA, 0x1000, NULL, 0, &r2));
  EXPECT_OK(vmm_mem_read(t.vm, A_GPA, &c, 1));
  EXPECT_EQ(c, 0); /* new memory, not the old */
  EXPECT_RC(vmm_mem_unmap(NULL), VMM_EBADF);
  /* A pointer that never was a region. */
  EXPECT_RC(vmm_mem_unmap((vmm_mem_region_t *)&t), VMM_EBADF);
out:
  test_vm_destroy(&t);
}

/* A guest access to memory unmapped under it becomes MMIO. */
static void test_unmapped_under_guest(void) {
  struct test_vm t;
  if (!CREATE(&t, "memory"))
    goto out;
  vmm_mem_region_t *r = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, USERMEM_GPA, USERMEM_SIZE, NULL, 0, &r)))
    goto out;
  const uint64_t v = 0x0123456789abcdefull;
  EXPECT_OK(vmm_mem_write(t.vm, USERMEM_GPA, &v, 8));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[1], v);
  EXPECT_OK(vmm_mem_unmap(r));
  /* The guest's write to USERMEM_GPA + 8 has nowhere to go now. */
  if (RUN_EXPECT(&t, VMM_EXIT_MMIO)) {
    EXPECT_EQ(t.exit.u.mmio.gpa, USERMEM_GPA + 8);
    EXPECT_EQ(t.exit.u.mmio.is_write, 1);
    EXPECT_EQ(t.exit.u.mmio.size, 8);
  }
out:
  test_vm_destroy(&t);
}

const struct test_def memory_tests[] = {
    {"map_library_memory", test_map_library_memory},
    {"map_caller_memory", test_map_caller_memory},
    {"map_rules", test_map_rules},
    {"access_across_regions", test_access_across_regions},
    {"unmap", test_unmap},
    {"unmapped_under_guest", test_unmapped_under_guest},
    {NULL, NULL},
};
