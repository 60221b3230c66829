/* tests/unit/test_loader.c — ELF and flat loaders on images built in
 * memory, and their public wrappers (src/loader_*.c). File variants and
 * the mutation loop are in test_loader_files.c. */
#include "loader_fixture.h"

/* ---- valid images ----------------------------------------------------- */

static void test_elf64_valid(void) {
  vmm_elf_info_t info = {.size = sizeof(info)};
  CHECK_RC(load(std_image(64), &info), 0);
  check_std_loaded(&info);
}

static void test_elf32_valid(void) {
  vmm_elf_info_t info = {.size = sizeof(info)};
  CHECK_RC(load(std_image(32), &info), 0);
  check_std_loaded(&info);
}

/* ELF32 with EM_X86_64 is the x32 ABI / elf32-x86-64 boot images. */
static void test_elf32_x86_64_accepted(void) {
  vmm_elf_info_t info = {.size = sizeof(info)};
  std_image(32);
  SET_EH(e_machine, EM_X86_64);
  CHECK_RC(load(img_len, &info), 0);
  CHECK_U64(info.elf_class, 32);
}

static void test_elf_info_optional(void) {
  CHECK_RC(load(std_image(64), NULL), 0);
  CU_ASSERT(memcmp(gmem(0x1000), IMG + seg_off[0], 0x300) == 0);
}

static void test_elf_info_size(void) {
  std_image(64);
  vmm_elf_info_t info = {.size = sizeof(info) - 1, .entry = 7};
  CHECK_RC(load(img_len, &info), VMM_EINVAL);
  CHECK_MSG("info->size");
  CU_ASSERT(info.entry == 7);
  CU_ASSERT(guest_untouched());
  info.size = 0;
  CHECK_RC(load(img_len, &info), VMM_EINVAL);
  /* A caller built against a newer, larger struct is served; what the
   * library does not know about stays as it was. */
  struct {
    vmm_elf_info_t info;
    uint64_t newer_field;
  } big = {.info = {.size = sizeof(big)}, .newer_field = 0x1234};
  CHECK_RC(load(img_len, &big.info), 0);
  CHECK_U64(big.info.segments, 3);
  CHECK_U64(big.newer_field, 0x1234);
}

/* Table order does not matter; lowest/highest come from addresses. */
static void test_elf_unsorted_segments(void) {
  const struct seg segs[] = {
      {PT_LOAD, R2 + 0x100, 0x10, 0x10},
      {PT_LOAD, 0x3000, 0x10, 0x20},
      {PT_LOAD, 0x2000, 0x10, 0x1000}, /* ends where the next starts */
  };
  vmm_elf_info_t info = {.size = sizeof(info)};
  CHECK_RC(load(build(64, segs, 3), &info), 0);
  CHECK_U64(info.lowest, 0x2000);
  CHECK_U64(info.highest, R2 + 0x110);
  CHECK_U64(info.segments, 3);
  CU_ASSERT(memcmp(gmem(0x3000), IMG + seg_off[1], 0x10) == 0);
  CU_ASSERT(all_bytes(0x3010, 0x10, 0));
  CU_ASSERT(all_bytes(0x2010, 0xff0, 0));
}

/* An empty PT_LOAD loads nothing, so where it points does not matter;
 * it is not counted. A bss-only segment's p_offset is never read. */
static void test_elf_empty_and_bss_only_segments(void) {
  const struct seg segs[] = {
      {PT_LOAD, 0x50000, 0, 0}, /* in the hole, but empty */
      {PT_LOAD, 0x1000, 0x10, 0x10},
      {PT_LOAD, 0x2000, 0, 0x100},
  };
  vmm_elf_info_t info = {.size = sizeof(info)};
  build(32, segs, 3);
  SET_PH(2, p_offset, 0xffffffffu);
  CHECK_RC(load(img_len, &info), 0);
  CHECK_U64(info.segments, 2);
  CHECK_U64(info.lowest, 0x1000);
  CU_ASSERT(all_bytes(0x2000, 0x100, 0));
}

/* A bss larger than the loader's zero block and spanning two regions. */
static void test_elf_large_bss(void) {
  const struct seg segs[] = {{PT_LOAD, 0x800, 0x10, 0x1f800}};
  vmm_elf_info_t info = {.size = sizeof(info)};
  CHECK_RC(load(build(64, segs, 1), &info), 0);
  CU_ASSERT(memcmp(gmem(0x800), IMG + seg_off[0], 0x10) == 0);
  CU_ASSERT(all_bytes(0x810, 0x1f7f0, 0));
  CU_ASSERT(*gmem(0x7ff) == FILL);
  CHECK_U64(info.highest, 0x20000);
  CHECK_U64(regions[1].dirty[0], 0xffff); /* all 16 pages of R1 */
}

/* Segments may fill guest memory exactly up to its end. */
static void test_elf_segment_at_memory_edges(void) {
  const struct seg segs[] = {
      {PT_LOAD, 0x0, 0x10, 0x10},
      {PT_LOAD, R1 + RSIZE - 0x10, 0x10, 0x10},
      {PT_LOAD, R2, 0x10, RSIZE},
  };
  CHECK_RC(load(build(64, segs, 3), NULL), 0);
  CU_ASSERT(memcmp(gmem(R1 + RSIZE - 0x10), IMG + seg_off[1], 0x10) == 0);
}

/* ---- malformed images: header --------------------------------------- */

static void test_elf_null_image(void) {
  CHECK_RC(vmm__elf_load(NULL, 100, &vm->mem, NULL), VMM_EINVAL);
  CHECK_MSG("NULL");
  CHECK_RC(vmm__elf_load(IMG, 100, NULL, NULL), VMM_EINVAL);
}

static void test_elf_truncated_header(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    EXPECT_FAIL(0, VMM_ENOEXEC, "too short");
    EXPECT_FAIL(1, VMM_ENOEXEC, "too short");
    EXPECT_FAIL(EI_NIDENT - 1, VMM_ENOEXEC, "identification");
    EXPECT_FAIL(EI_NIDENT, VMM_ENOEXEC, "header");
    EXPECT_FAIL(ehsize() - 1, VMM_ENOEXEC, "too short");
    /* Header complete, program header table cut. */
    EXPECT_FAIL(ehsize(), VMM_ENOEXEC, "program header table");
    EXPECT_FAIL(ehsize() + 4 * phsize() - 1, VMM_ENOEXEC,
                "program header table");
    /* Table complete, segment data cut. */
    EXPECT_FAIL(img_len - 1, VMM_ENOEXEC, "p_offset");
  }
}

static void test_elf_bad_ident(void) {
  for (int c = 32; c <= 64; c += 32) {
    for (size_t i = 0; i < SELFMAG; i++) {
      std_image(c);
      IMG[i] ^= 0x20;
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "magic");
    }
    const uint8_t classes[] = {ELFCLASSNONE, 3, 0xff};
    for (size_t i = 0; i < sizeof(classes); i++) {
      std_image(c);
      IMG[EI_CLASS] = classes[i];
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "EI_CLASS");
    }
    std_image(c);
    IMG[EI_DATA] = ELFDATA2MSB;
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "EI_DATA 2");
    IMG[EI_DATA] = ELFDATANONE;
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "EI_DATA 0");
    std_image(c);
    IMG[EI_VERSION] = 2;
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "EI_VERSION");
  }
  /* A 64-bit image labelled ELFCLASS32 is read with the 32-bit layout and
   * must still be rejected cleanly (here: e_phentsize 0 / 56 mismatch). */
  std_image(64);
  IMG[EI_CLASS] = ELFCLASS32;
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_phentsize");
}

static void test_elf_bad_type(void) {
  for (int c = 32; c <= 64; c += 32) {
    const uint16_t types[] = {ET_NONE, ET_REL, ET_DYN, ET_CORE, 0xfe00};
    for (size_t i = 0; i < UNIT_COUNT(types); i++) {
      std_image(c);
      SET_EH(e_type, types[i]);
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_type");
    }
    std_image(c);
    SET_EH(e_type, ET_DYN);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "ET_DYN");
  }
}

static void test_elf_bad_machine(void) {
  for (int c = 32; c <= 64; c += 32) {
    const uint16_t machines[] = {EM_NONE, EM_ARM, EM_AARCH64, EM_RISCV,
                                 EM_IA_64, 0xffff};
    for (size_t i = 0; i < UNIT_COUNT(machines); i++) {
      std_image(c);
      SET_EH(e_machine, machines[i]);
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_machine");
    }
  }
  /* i386 code in an ELF64 container does not exist. */
  std_image(64);
  SET_EH(e_machine, EM_386);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_machine 3");
}

static void test_elf_bad_version(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_EH(e_version, 0);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_version 0");
    SET_EH(e_version, 2);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_version 2");
  }
}

static void test_elf_bad_phentsize(void) {
  for (int c = 32; c <= 64; c += 32) {
    const uint64_t sizes[] = {0, phsize() - 1, phsize() + 8,
                              c == 64 ? sizeof(Elf32_Phdr)
                                      : sizeof(Elf64_Phdr),
                              0xffff};
    for (size_t i = 0; i < UNIT_COUNT(sizes); i++) {
      std_image(c);
      SET_EH(e_phentsize, sizes[i]);
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_phentsize");
    }
  }
}

static void test_elf_bad_phnum(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_EH(e_phnum, 0);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_phnum is 0");
    SET_EH(e_phnum, PN_XNUM);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "PN_XNUM");
    /* phnum * phentsize reaching past the end of the file. */
    SET_EH(e_phnum, 0xfffe);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header table");
    SET_EH(e_phnum, 1000);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_phnum 1000");
  }
}

static void test_elf_phoff_outside_file(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_EH(e_phoff, img_len);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header table");
    SET_EH(e_phoff, img_len + 1);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "e_phoff");
    /* Starts inside, ends one byte past the end. */
    SET_EH(e_phoff, img_len - 4 * phsize() + 1);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header table");
    /* phoff + table size wraps around to a small number. */
    SET_EH(e_phoff, UINT64_MAX - 2 * phsize() + 1);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header table");
    SET_EH(e_phoff, UINT64_MAX);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header table");
  }
  /* ELF32's 32-bit e_phoff near 4 GiB, in a 64-bit size_t world. */
  std_image(32);
  SET_EH(e_phoff, 0xfffffff0u);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "0xfffffff0");
}

/* ---- malformed images: program headers ------------------------------ */

static void test_elf_segment_file_range_outside(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_PH(0, p_offset, img_len - 0x10); /* 0x300 bytes from there */
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header 0 (PT_LOAD): p_offset");
    SET_PH(0, p_offset, img_len + 1);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "past the end");
    /* offset + filesz wrapping to a small value. */
    SET_PH(0, p_offset, UINT64_MAX - 0xff);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "past the end");
    std_image(c);
    SET_PH(2, p_filesz, UINT64_MAX);
    SET_PH(2, p_memsz, UINT64_MAX);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header 2 (PT_LOAD)");
    /* Exactly to the end is fine (segment 2's data is last). */
    std_image(c);
    CHECK_RC(load(img_len, NULL), 0);
    reset_guest();
  }
}

static void test_elf_filesz_above_memsz(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_PH(2, p_memsz, 0xfff);
    EXPECT_FAIL(img_len, VMM_ENOEXEC,
                "p_filesz 0x1000 is larger than p_memsz 0xfff");
    /* Even with p_memsz 0, which would otherwise mean "empty". */
    SET_PH(2, p_memsz, 0);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "p_filesz");
  }
}

static void test_elf_segment_outside_memory(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_PH(3, p_paddr, 0x20000); /* first byte of the hole */
    EXPECT_FAIL(img_len, VMM_EFAULT, "0x20000 is not guest memory");
    /* Last segment byte one past R1. */
    SET_PH(3, p_paddr, 0x20000 - 0x2000 + 1);
    EXPECT_FAIL(img_len, VMM_EFAULT, "0x20000");
    /* Runs off the end of R2. */
    SET_PH(3, p_paddr, R2 + RSIZE - 0x1000);
    EXPECT_FAIL(img_len, VMM_EFAULT, "program header 3");
    /* Entirely past all memory. */
    SET_PH(3, p_paddr, 0x40000000);
    EXPECT_FAIL(img_len, VMM_EFAULT, "0x40000000");
    /* Spanning from R1 across the hole into R2. */
    std_image(c);
    SET_PH(3, p_paddr, 0x1f000);
    SET_PH(3, p_memsz, R2 - 0x1f000 + 0x1000);
    EXPECT_FAIL(img_len, VMM_EFAULT, "0x20000");
    /* Only the file part fits: bss counts too. */
    std_image(c);
    SET_PH(2, p_paddr, 0x1f000);
    SET_PH(2, p_memsz, 0x1001);
    EXPECT_FAIL(img_len, VMM_EFAULT, "0x20000");
  }
}

static void test_elf_paddr_wraps(void) {
  std_image(64);
  SET_PH(3, p_paddr, UINT64_MAX - 0xf);
  SET_PH(3, p_memsz, 0x100);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "wraps");
  SET_PH(3, p_paddr, 0x1000);
  SET_PH(3, p_memsz, UINT64_MAX);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "wraps");
  /* Ending exactly at 2^64 has no representable end either. */
  SET_PH(3, p_paddr, UINT64_MAX - 0xfff);
  SET_PH(3, p_memsz, 0x1000);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "64-bit");
  /* ELF32: beyond 4 GiB is a wrap in its address space. */
  std_image(32);
  SET_PH(3, p_paddr, 0xfffff000u);
  SET_PH(3, p_memsz, 0x2000);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "32-bit");
  /* ... while ending exactly at 4 GiB is valid ELF (but not memory). */
  SET_PH(3, p_memsz, 0x1000);
  EXPECT_FAIL(img_len, VMM_EFAULT, "0xfffff000");
}

static void test_elf_overlapping_segments(void) {
  for (int c = 32; c <= 64; c += 32) {
    /* Segment 0 is [0x1000, 0x1800) including its bss. */
    const uint64_t starts[] = {0x1000, 0x1400, 0x17ff, 0x800};
    for (size_t i = 0; i < UNIT_COUNT(starts); i++) {
      std_image(c);
      SET_PH(2, p_paddr, starts[i]);
      EXPECT_FAIL(img_len, VMM_ENOEXEC, "overlap");
    }
    /* One containing the other. */
    std_image(c);
    SET_PH(3, p_paddr, 0x1100);
    SET_PH(3, p_memsz, 0x100);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program headers 0 and 3");
    /* Segment 0 grown to [0x1000, 0x11000) swallows 3 (moved to 0x9000)
     * and 2 ([0xf800, 0x10800)): found although 0 and 2 are not
     * neighbours by address. */
    std_image(c);
    SET_PH(0, p_memsz, 0x10000);
    SET_PH(3, p_paddr, 0x9000);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "overlap");
    /* Touching is not overlapping. */
    std_image(c);
    SET_PH(2, p_paddr, 0x1800);
    CHECK_RC(load(img_len, NULL), 0);
    reset_guest();
  }
  /* An image problem is reported before a memory problem. */
  std_image(64);
  SET_PH(2, p_paddr, 0x1400);
  SET_PH(3, p_paddr, 0x40000000);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "overlap");
}

static void test_elf_no_load_segment(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_PH(0, p_type, PT_NOTE);
    SET_PH(2, p_type, PT_NULL);
    SET_PH(3, p_type, PT_GNU_STACK);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "PT_LOAD");
    /* PT_LOADs that are all empty load nothing either. */
    const struct seg empty[] = {{PT_LOAD, 0x1000, 0, 0},
                                {PT_LOAD, 0x2000, 0, 0}};
    build(c, empty, 2);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "none of the 2 program headers");
  }
}

static void test_elf_interp_rejected(void) {
  std_image(64);
  SET_PH(1, p_type, PT_INTERP);
  EXPECT_FAIL(img_len, VMM_ENOEXEC, "PT_INTERP");
}

/* A bad last segment: the good ones before it must not have been copied
 * (EXPECT_FAIL checks all of guest memory). */
static void test_elf_validates_before_copying(void) {
  for (int c = 32; c <= 64; c += 32) {
    std_image(c);
    SET_PH(3, p_paddr, 0x30000);
    EXPECT_FAIL(img_len, VMM_EFAULT, "program header 3");
    std_image(c);
    SET_PH(3, p_filesz, 0x3000);
    EXPECT_FAIL(img_len, VMM_ENOEXEC, "program header 3");
  }
}

/* ---- flat images and range checks ----------------------------------- */

static void test_flat_load(void) {
  uint8_t data[0x100];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i ^ 0x5a);
  CHECK_RC(vmm__flat_load(data, sizeof(data), &vm->mem, 0xff80), 0);
  CU_ASSERT(memcmp(gmem(0xff80), data, 0x80) == 0);
  CU_ASSERT(memcmp(gmem(0x10000), data + 0x80, 0x80) == 0);
  CU_ASSERT(*gmem(0xff7f) == FILL && *gmem(0x10080) == FILL);
  CHECK_U64(regions[1].dirty[0], 1);
}

static void test_flat_load_rejects(void) {
  uint8_t data[0x100] = {1};
  CHECK_RC(vmm__flat_load(data, sizeof(data), &vm->mem, 0x1ff80),
           VMM_EFAULT);
  CHECK_MSG("image: guest-physical address 0x20000 is not guest memory");
  CHECK_RC(vmm__flat_load(data, sizeof(data), &vm->mem, 0x50000),
           VMM_EFAULT);
  CHECK_RC(vmm__flat_load(data, sizeof(data), &vm->mem, UINT64_MAX - 1),
           VMM_EFAULT);
  CHECK_MSG("wraps");
  CHECK_RC(vmm__flat_load(data, 0, &vm->mem, 0x1000), VMM_EINVAL);
  CHECK_MSG("empty");
  CHECK_RC(vmm__flat_load(NULL, 1, &vm->mem, 0x1000), VMM_EINVAL);
  CHECK_RC(vmm__flat_load(data, 1, NULL, 0x1000), VMM_EINVAL);
  CU_ASSERT(guest_untouched());
}

static void test_check_range(void) {
  const struct vmm__memmap *m = &vm->mem;
  CHECK_RC(vmm__loader_check_range(m, 0x50000, 0, "x"), 0);
  CHECK_RC(vmm__loader_check_range(m, 0, 2 * RSIZE, "x"), 0);
  CHECK_RC(vmm__loader_check_range(m, 0, 2 * RSIZE + 1, "x"), VMM_EFAULT);
  CHECK_MSG("x: guest-physical address 0x20000");
  CHECK_RC(vmm__loader_check_range(m, R2, RSIZE, "x"), 0);
  CHECK_RC(vmm__loader_check_range(m, R2 - 1, 2, "x"), VMM_EFAULT);
  CHECK_MSG("0xfffff");
  CHECK_RC(vmm__loader_check_range(m, R2 + RSIZE - 1, 1, "x"), 0);
  CHECK_RC(vmm__loader_check_range(m, UINT64_MAX, 1, "x"), VMM_EFAULT);
  CHECK_RC(vmm__loader_check_range(m, 0x10, UINT64_MAX, "x"), VMM_EFAULT);
  CHECK_MSG("wraps");
  CHECK_RC(vmm__loader_check_range(m, 0, UINT64_MAX, "x"), VMM_EFAULT);
  CHECK_MSG("0x20000");
}

/* ---- public API: handles, lock, messages ----------------------------- */

static void test_api_bad_handle(void) {
  uint8_t data[16] = {0};
  vmm_elf_info_t info = {.size = sizeof(info)};
  /* A pointer that never was a VM, NULL, and a destroyed VM. The dead
   * one's memory stays allocated so that only the handle registry can
   * tell it apart (and a wrong acceptance shows, rather than crashing). */
  struct vmm_vm not_a_vm;
  memset(&not_a_vm, 0, sizeof(not_a_vm));
  vmm_vm_t *dead = fake_vm_create();
  CU_ASSERT_FATAL(dead != NULL);
  vmm__handle_remove(dead);
  vmm_vm_t *bad[] = {NULL, &not_a_vm, dead};
  for (size_t i = 0; i < UNIT_COUNT(bad); i++) {
    CHECK_RC(vmm_load_flat(bad[i], data, sizeof(data), 0x1000), VMM_EBADF);
    CHECK_MSG("vmm_load_flat: ");
    CHECK_RC(vmm_load_flat_file(bad[i], "/nonexistent", 0x1000, NULL),
             VMM_EBADF);
    CHECK_MSG("vmm_load_flat_file: ");
    CHECK_RC(vmm_load_elf(bad[i], data, sizeof(data), &info), VMM_EBADF);
    CHECK_MSG("vmm_load_elf: ");
    CHECK_RC(vmm_load_elf_file(bad[i], "/nonexistent", &info), VMM_EBADF);
    CHECK_MSG("vmm_load_elf_file: ");
  }
  fake_vm_destroy(dead);
  CU_ASSERT(guest_untouched());
}

static void test_api_load_elf(void) {
  vmm_elf_info_t info = {.size = sizeof(info)};
  std_image(64);
  CHECK_RC(vmm_load_elf(vm, IMG, img_len, &info), 0);
  CU_ASSERT(lock_released());
  check_std_loaded(&info);
  reset_guest();
  SET_EH(e_machine, EM_ARM);
  CHECK_RC(vmm_load_elf(vm, IMG, img_len, &info), VMM_ENOEXEC);
  CU_ASSERT(strncmp(vmm_last_error(), "vmm_load_elf: e_machine 40", 26) == 0);
  CU_ASSERT(lock_released());
  CHECK_RC(vmm_load_elf(vm, NULL, 10, NULL), VMM_EINVAL);
  CU_ASSERT(lock_released());
  CU_ASSERT(guest_untouched());
}

static void test_api_load_flat(void) {
  const uint8_t data[4] = {1, 2, 3, 4};
  CHECK_RC(vmm_load_flat(vm, data, sizeof(data), R2 + 0x10), 0);
  CU_ASSERT(lock_released());
  CU_ASSERT(memcmp(gmem(R2 + 0x10), data, 4) == 0);
  reset_guest();
  CHECK_RC(vmm_load_flat(vm, data, sizeof(data), R2 + RSIZE - 2),
           VMM_EFAULT);
  CU_ASSERT(lock_released());
  CHECK_MSG("vmm_load_flat: image: guest-physical address 0x110000");
  CHECK_RC(vmm_load_flat(vm, data, 0, 0x1000), VMM_EINVAL);
  CU_ASSERT(lock_released());
  CU_ASSERT(guest_untouched());
}


int main(void) {
  static const struct unit_test elf_tests[] = {
      UNIT_TEST(test_elf64_valid),
      UNIT_TEST(test_elf32_valid),
      UNIT_TEST(test_elf32_x86_64_accepted),
      UNIT_TEST(test_elf_info_optional),
      UNIT_TEST(test_elf_info_size),
      UNIT_TEST(test_elf_unsorted_segments),
      UNIT_TEST(test_elf_empty_and_bss_only_segments),
      UNIT_TEST(test_elf_large_bss),
      UNIT_TEST(test_elf_segment_at_memory_edges),
      UNIT_TEST(test_elf_null_image),
      UNIT_TEST(test_elf_truncated_header),
      UNIT_TEST(test_elf_bad_ident),
      UNIT_TEST(test_elf_bad_type),
      UNIT_TEST(test_elf_bad_machine),
      UNIT_TEST(test_elf_bad_version),
      UNIT_TEST(test_elf_bad_phentsize),
      UNIT_TEST(test_elf_bad_phnum),
      UNIT_TEST(test_elf_phoff_outside_file),
      UNIT_TEST(test_elf_segment_file_range_outside),
      UNIT_TEST(test_elf_filesz_above_memsz),
      UNIT_TEST(test_elf_segment_outside_memory),
      UNIT_TEST(test_elf_paddr_wraps),
      UNIT_TEST(test_elf_overlapping_segments),
      UNIT_TEST(test_elf_no_load_segment),
      UNIT_TEST(test_elf_interp_rejected),
      UNIT_TEST(test_elf_validates_before_copying),
  };
  static const struct unit_test flat_tests[] = {
      UNIT_TEST(test_flat_load),
      UNIT_TEST(test_flat_load_rejects),
      UNIT_TEST(test_check_range),
  };
  static const struct unit_test api_tests[] = {
      UNIT_TEST(test_api_bad_handle),
      UNIT_TEST(test_api_load_elf),
      UNIT_TEST(test_api_load_flat),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (guest_init() != 0) {
    fprintf(stderr, "cannot set up guest memory\n");
    return 99;
  }
  bool added =
      unit_add_suite("loader-elf", reset_guest, NULL, elf_tests,
                     UNIT_COUNT(elf_tests)) &&
      unit_add_suite("loader-flat", reset_guest, NULL, flat_tests,
                     UNIT_COUNT(flat_tests)) &&
      unit_add_suite("loader-api", reset_guest, NULL, api_tests,
                     UNIT_COUNT(api_tests));
  if (!added) {
    CU_cleanup_registry();
    guest_fini();
    return 99;
  }
  int rc = unit_run();
  guest_fini();
  return rc;
}
