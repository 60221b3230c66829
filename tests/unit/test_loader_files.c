/* tests/unit/test_loader_files.c — the file variants of the loaders, and a
 * mutation loop over ELF images that must never crash the loader. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader_fixture.h"

/* ---- file variants ----------------------------------------------------- */

static char tmpdir[256];

static int files_init(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/libvmm-unit-XXXXXX",
           base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int files_cleanup(void) {
  char cmd[512];
  /* Only ever our own mkdtemp directory. */
  if (strstr(tmpdir, "/libvmm-unit-")) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
  }
  return 0;
}

/* tmpdir/name, written with `len` bytes of `data` (no file when data is
 * NULL). Returns the path in a static buffer per call slot. */
static const char *tmpfile_with(const char *name, const void *data,
                                size_t len) {
  static char paths[8][320];
  static unsigned next;
  char *p = paths[next++ % 8];
  snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
  if (data) {
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
    close(fd);
  }
  return p;
}

static void test_elf_file(void) {
  std_image(32);
  const char *path = tmpfile_with("good.elf", IMG, img_len);
  vmm_elf_info_t info = {.size = sizeof(info)};
  CHECK_RC(vmm_load_elf_file(vm, path, &info), 0);
  CU_ASSERT(lock_released());
  check_std_loaded(&info);
  reset_guest();

  SET_EH(e_machine, EM_ARM);
  path = tmpfile_with("arm.elf", IMG, img_len);
  CHECK_RC(vmm_load_elf_file(vm, path, &info), VMM_ENOEXEC);
  CU_ASSERT(lock_released());
  char want[400];
  snprintf(want, sizeof(want), "vmm_load_elf_file: %s: e_machine 40", path);
  CU_ASSERT(strncmp(vmm_last_error(), want, strlen(want)) == 0);

  path = tmpfile_with("empty.elf", "", 0);
  CHECK_RC(vmm_load_elf_file(vm, path, &info), VMM_ENOEXEC);
  CHECK_MSG("empty");
  CHECK_MSG(path);

  /* Outside memory, through a file. */
  std_image(64);
  SET_PH(0, p_paddr, 0x30000);
  path = tmpfile_with("far.elf", IMG, img_len);
  CHECK_RC(vmm_load_elf_file(vm, path, NULL), VMM_EFAULT);
  CHECK_MSG("0x30000");
  CU_ASSERT(lock_released());
  CU_ASSERT(guest_untouched());
}

static void test_flat_file(void) {
  uint8_t data[0x1800];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 3 + 1);
  const char *path = tmpfile_with("flat.bin", data, sizeof(data));
  uint64_t size = 0;
  CHECK_RC(vmm_load_flat_file(vm, path, 0xf000, &size), 0);
  CU_ASSERT(lock_released());
  CHECK_U64(size, sizeof(data));
  CU_ASSERT(memcmp(gmem(0xf000), data, 0x1000) == 0);
  CU_ASSERT(memcmp(gmem(0x10000), data + 0x1000, 0x800) == 0);
  CU_ASSERT(*gmem(0x10800) == FILL);
  reset_guest();
  CHECK_RC(vmm_load_flat_file(vm, path, R2, NULL), 0);
  reset_guest();

  /* Too big for the memory at gpa: refused before reading, size kept. */
  size = 77;
  CHECK_RC(vmm_load_flat_file(vm, path, 0x1f000, &size), VMM_EFAULT);
  CU_ASSERT(lock_released());
  CHECK_U64(size, 77);
  CHECK_MSG("vmm_load_flat_file: ");
  CHECK_MSG(path);
  CHECK_MSG("0x20000");
  CHECK_RC(vmm_load_flat_file(vm, path, UINT64_MAX - 0x10, NULL),
           VMM_EFAULT);

  path = tmpfile_with("empty.bin", "", 0);
  CHECK_RC(vmm_load_flat_file(vm, path, 0x1000, &size), VMM_EINVAL);
  CHECK_MSG("empty");
  CU_ASSERT(guest_untouched());
}

static void test_file_errors(void) {
  vmm_elf_info_t info = {.size = sizeof(info)};
  const char *missing = tmpfile_with("missing", NULL, 0);
  CHECK_RC(vmm_load_elf_file(vm, missing, &info), VMM_ENOENT);
  CHECK_MSG("vmm_load_elf_file: ");
  CHECK_MSG(missing);
  CHECK_RC(vmm_load_flat_file(vm, missing, 0x1000, NULL), VMM_ENOENT);
  CHECK_MSG(missing);

  /* A path through a regular file (ENOTDIR) is "no such file" too. */
  tmpfile_with("plain", "x", 1);
  const char *through = tmpfile_with("plain/sub", NULL, 0);
  CHECK_RC(vmm_load_elf_file(vm, through, &info), VMM_ENOENT);

  CHECK_RC(vmm_load_elf_file(vm, tmpdir, &info), VMM_EINVAL);
  CHECK_MSG("directory");
  CHECK_RC(vmm_load_flat_file(vm, tmpdir, 0x1000, NULL), VMM_EINVAL);
  CHECK_MSG("directory");

  /* Not regular: a character device, and a FIFO nobody writes to (must
   * not block opening it). */
  CHECK_RC(vmm_load_flat_file(vm, "/dev/null", 0x1000, NULL), VMM_EINVAL);
  CHECK_MSG("/dev/null: not a regular file");
  const char *fifo = tmpfile_with("fifo", NULL, 0);
  CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
  CHECK_RC(vmm_load_elf_file(vm, fifo, &info), VMM_EINVAL);
  CHECK_MSG("not a regular file");

  CHECK_RC(vmm_load_elf_file(vm, NULL, &info), VMM_EINVAL);
  CHECK_RC(vmm_load_flat_file(vm, NULL, 0x1000, NULL), VMM_EINVAL);

  /* Permission errors pass errno through (root reads anything). */
  if (geteuid() != 0) {
    const char *locked = tmpfile_with("locked", "x", 1);
    CU_ASSERT_FATAL(chmod(locked, 0) == 0);
    CHECK_RC(vmm_load_flat_file(vm, locked, 0x1000, NULL), VMM_EACCES);
  }
  CU_ASSERT(lock_released());
  CU_ASSERT(guest_untouched());
}

/* ---- mutation loop ---------------------------------------------------- */

/* xorshift64*: deterministic, so a failure names a reproducible
 * iteration. */
static uint64_t rng;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t interesting(void) {
  static const uint64_t v[] = {
      0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000,
      0x1ffff, 0x20000, 0x100000, 0x10ffff, 0x110000, 0x7fffffff,
      0x80000000, 0xfffff000, 0xffffffff, 0x100000000, 1ull << 63,
      UINT64_MAX - 0xfff, UINT64_MAX - 1, UINT64_MAX, 32, 52, 56, 64};
  uint64_t x = v[rnd() % UNIT_COUNT(v)];
  switch (rnd() % 4) {
  case 0: return x + img_len - 1 - (rnd() % 3); /* around the end */
  case 1: return x ^ (1ull << (rnd() % 64));
  default: return x;
  }
}

static void mutate(size_t *len) {
  /* Most mutations go to the headers, where the loader's decisions are;
   * a plain random flip rarely reaches them in a ~5 KiB image. */
  size_t hdr = ehsize() + 4 * phsize();
  switch (rnd() % 8) {
  case 0:
    if (*len > 0)
      IMG[rnd() % *len] ^= (uint8_t)(1u << (rnd() % 8));
    break;
  case 1:
    IMG[rnd() % hdr] = (uint8_t)interesting();
    break;
  case 2:
    put(rnd() % (hdr - 1), 2, interesting());
    break;
  case 3:
    put((rnd() % (hdr - 3)) & ~(size_t)3, 4, interesting());
    break;
  case 4:
    put((rnd() % (hdr - 7)) & ~(size_t)7, 8, interesting());
    break;
  case 5: /* copy one program header over another */
    memmove(IMG + ehsize() + (rnd() % 4) * phsize(),
            IMG + ehsize() + (rnd() % 4) * phsize(), phsize());
    break;
  case 6:
    *len = (size_t)(rnd() % (*len + 1));
    break;
  default: { /* trim a few bytes */
    size_t cut = (size_t)(rnd() % 8);
    if (cut <= *len)
      *len -= cut;
    break;
  }
  }
}

static void mutation_loop(int c, unsigned iterations) {
  static uint8_t base[IMG_MAX];
  size_t base_len = std_image(c);
  memcpy(base, IMG, base_len);
  rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)c;
  unsigned ok = 0, noexec = 0, fault = 0, bad = 0;
  for (unsigned it = 0; it < iterations; it++) {
    memcpy(IMG, base, base_len);
    size_t len = base_len;
    unsigned n = 1 + (unsigned)(rnd() % 4);
    for (unsigned k = 0; k < n; k++)
      mutate(&len);
    vmm_elf_info_t info = {.size = sizeof(info)};
    int rc = load(len, &info);
    bool good = true;
    if (rc == 0) {
      ok++;
      good = info.segments >= 1 && info.segments <= 4 &&
             info.lowest < info.highest && info.elf_class == (uint32_t)c;
      reset_guest();
    } else {
      noexec += rc == VMM_ENOEXEC;
      fault += rc == VMM_EFAULT;
      good = (rc == VMM_ENOEXEC || rc == VMM_EFAULT) && guest_untouched() &&
             vmm_last_error()[0] != '\0';
      if (!guest_untouched())
        reset_guest();
    }
    if (!good && bad++ < 5)
      fprintf(stderr, "\n  ELF%d iteration %u: rc %s, \"%s\"\n", c, it,
              vmm_err_name(rc), vmm_last_error());
  }
  fprintf(stderr, "(ELF%d: %u loaded, %u ENOEXEC, %u EFAULT) ", c, ok,
          noexec, fault);
  CHECK_U64(bad, 0);
  CHECK_U64(ok + noexec + fault, iterations);
  /* The loop is only worth something if it reaches all three outcomes. */
  CU_ASSERT(ok > iterations / 100);
  CU_ASSERT(noexec > iterations / 10);
  CU_ASSERT(fault > iterations / 100);
}

static void test_mutation_elf64(void) { mutation_loop(64, 5000); }
static void test_mutation_elf32(void) { mutation_loop(32, 5000); }

int main(void) {
  static const struct unit_test file_tests[] = {
      UNIT_TEST(test_elf_file),
      UNIT_TEST(test_flat_file),
      UNIT_TEST(test_file_errors),
  };
  static const struct unit_test mutation_tests[] = {
      UNIT_TEST(test_mutation_elf64),
      UNIT_TEST(test_mutation_elf32),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (guest_init() != 0) {
    fprintf(stderr, "cannot set up guest memory\n");
    return 99;
  }
  bool added = unit_add_suite("loader-mutation", reset_guest, NULL,
                              mutation_tests, UNIT_COUNT(mutation_tests));
  /* The file suite needs a scratch directory: suite init/cleanup. */
  CU_pSuite files = added ? CU_add_suite_with_setup_and_teardown(
                                "loader-file", files_init, files_cleanup,
                                reset_guest, NULL)
                          : NULL;
  for (size_t i = 0; files && i < UNIT_COUNT(file_tests); i++)
    if (!CU_add_test(files, file_tests[i].name, file_tests[i].fn))
      files = NULL;
  if (!files) {
    CU_cleanup_registry();
    guest_fini();
    return 99;
  }
  int rc = unit_run();
  guest_fini();
  return rc;
}
