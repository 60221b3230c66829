/* tests/unit/test_boot_mutate.c — random corruptions of bzImage and PVH
 * images thrown at detection and at the loaders: they must never crash,
 * never leave the VM lock held, and answer 0 or a negative code (the
 * ASan+UBSan build runs this too). */
#include "test_boot_fixture.h"

/* xorshift64*: deterministic, so a failure names a reproducible
 * iteration. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t interesting(void) {
  static const uint64_t v[] = {
      0, 1, 2, 3, 4, 8, 12, 18, 0x7f, 0x80, 0xff, 0x100, 0x200, 0x20c,
      0x20f, 0x210, 0xfff, 0x1000, 0xffff, 0x10000, 0x100000, 0x1000000,
      0x1ffffff, 0x2000000, 0x7fffffff, 0x80000000, 0xfffff000,
      0xffffffff, 0x100000000ull, 1ull << 63, UINT64_MAX - 0xfff,
      UINT64_MAX};
  uint64_t x = v[rnd() % UNIT_COUNT(v)];
  switch (rnd() % 4) {
  case 0: return x + img_len - (rnd() % 5);
  case 1: return x ^ (1ull << (rnd() % 64));
  default: return x;
  }
}

/* One corruption inside [lo, hi) of the image, or of its length. */
static void mutate(size_t lo, size_t hi) {
  size_t at = lo + rnd() % (hi - lo);
  switch (rnd() % 7) {
  case 0:
    img[rnd() % img_len] ^= (uint8_t)(1u << (rnd() % 8));
    break;
  case 1:
    img[at] = (uint8_t)interesting();
    break;
  case 2:
    if (at + 2 <= IMG_MAX)
      put16(at, (uint16_t)interesting());
    break;
  case 3:
    if (at + 4 <= IMG_MAX)
      put32(at, (uint32_t)interesting());
    break;
  case 4:
    if (at + 8 <= IMG_MAX)
      put64(at, interesting());
    break;
  case 5:
    img_len = (size_t)(rnd() % (img_len + 1));
    break;
  default:
    if (img_len < IMG_MAX)
      img_len += rnd() % (IMG_MAX - img_len + 1);
    break;
  }
}

#define ROUNDS 4000

static void run_one(int (*prepare)(vmm_vm_t *, const vmm__boot_req_t *,
                                   vmm_boot_info_t *),
                    unsigned i, unsigned *accepted) {
  static uint8_t initrd[0x2000];
  int f = vmm_kernel_detect(img, img_len);
  CU_ASSERT(f >= VMM_KERNEL_UNKNOWN && f <= VMM_KERNEL_ELF);
  vmm__boot_req_t r = req_for((i & 1) ? initrd : NULL, sizeof(initrd),
                              (i & 2) ? "console=ttyS0" : NULL);
  vmm_boot_info_t info;
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  int rc = prepare(vm, &r, &info);
  if (rc > 0 || !lock_released()) {
    fprintf(stderr, "iteration %u: rc %d\n", i, rc);
    CU_FAIL("bad result or lock held");
  }
  *accepted += rc == 0;
}

static void test_mutate_bzimage(void) {
  unsigned accepted = 0;
  for (unsigned i = 0; i < ROUNDS; i++) {
    bz_build();
    unsigned n = 1 + (unsigned)(rnd() % 4);
    for (unsigned k = 0; k < n; k++)
      mutate(BZ_SETUP_SECTS, 0x270);
    run_one(vmm__bzimage_prepare, i, &accepted);
  }
  /* Some mutations hit bytes that do not matter; all-rejected would mean
   * the loop only ever tested the first check. */
  CU_ASSERT(accepted > 0 && accepted < ROUNDS);
  printf("\n  bzImage: %u of %u mutated images accepted\n", accepted, ROUNDS);
}

static void test_mutate_pvh(void) {
  unsigned accepted = 0;
  for (unsigned i = 0; i < ROUNDS; i++) {
    pvh_build((i & 4) ? 32 : 64, (i & 8) ? PVH_SECTION_ONLY : PVH_BOTH,
              (i & 16) ? 4 : 8);
    unsigned n = 1 + (unsigned)(rnd() % 4);
    for (unsigned k = 0; k < n; k++) {
      /* Headers, the note, and the section table. */
      switch (rnd() % 3) {
      case 0: mutate(0, 0xc0); break;
      case 1: mutate(PVH_NOTE_OFF, PVH_NOTE_OFF + 0x20); break;
      default: mutate(PVH_SH_OFF, PVH_SH_OFF + 0x80); break;
      }
    }
    run_one(vmm__pvh_prepare, i, &accepted);
  }
  CU_ASSERT(accepted > 0 && accepted < ROUNDS);
  printf("\n  PVH: %u of %u mutated images accepted\n", accepted, ROUNDS);
}

/* Random bytes: detection only, over every prefix length class. */
static void test_detect_random(void) {
  for (unsigned i = 0; i < ROUNDS; i++) {
    img_len = (size_t)(rnd() % IMG_MAX);
    for (size_t k = 0; k < img_len; k += 8)
      put64(k, rnd());
    if (i & 1)
      memcpy(img, ELFMAG, SELFMAG);
    int f = vmm_kernel_detect(img, img_len);
    CU_ASSERT(f >= VMM_KERNEL_UNKNOWN && f <= VMM_KERNEL_ELF);
  }
}

static void setup(void) { guest_reset(); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (guest_init() != 0) {
    fprintf(stderr, "cannot set up the guest memory fixture\n");
    return 99;
  }
  static const struct unit_test tests[] = {
      UNIT_TEST(test_mutate_bzimage),
      UNIT_TEST(test_mutate_pvh),
      UNIT_TEST(test_detect_random),
  };
  bool ok = unit_add_suite("boot-mutate", setup, NULL, tests,
                           UNIT_COUNT(tests));
  int rc = ok ? unit_run() : 99;
  guest_fini();
  return rc;
}
