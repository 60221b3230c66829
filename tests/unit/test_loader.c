/* tests/unit/test_loader.c — ELF and flat loaders, their public wrappers,
 * file variants, and a mutation loop over ELF images (src/loader_*.c). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "vm_internal.h"
#include "unit.h"

/*
 * Guest memory: a VM object built by hand (no backend; the loaders only
 * use its handle, lock and region map) with three regions:
 *   R0 [0x0, 0x10000)  R1 [0x10000, 0x20000) (dirty log)  — adjacent
 *   hole [0x20000, 0x100000)
 *   R2 [0x100000, 0x110000)
 * Every test starts with all of it filled with FILL, so that any byte a
 * failed load wrote shows up.
 */
#define FILL 0xcc
#define R0 0x0ull
#define R1 0x10000ull
#define R2 0x100000ull
#define RSIZE 0x10000ull
#define ENTRY 0x1040ull

static vmm_vm_t *vm;
static struct vmm__memslot regions[3];
static uint8_t fill_block[RSIZE]; /* all FILL, to compare against */

static uint8_t *gmem(uint64_t gpa) {
  struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa);
  CU_ASSERT_FATAL(s != NULL);
  return s->hva + (gpa - s->gpa);
}

static void reset_guest(void) {
  for (size_t i = 0; i < 3; i++) {
    memset(regions[i].hva, FILL, regions[i].size);
    if (regions[i].dirty)
      regions[i].dirty[0] = 0; /* 16 pages: one word */
  }
}

/* No byte of guest memory changed and no page was logged dirty. */
static bool guest_untouched(void) {
  for (size_t i = 0; i < 3; i++) {
    if (memcmp(regions[i].hva, fill_block, RSIZE) != 0)
      return false;
    if (regions[i].dirty && regions[i].dirty[0] != 0)
      return false;
  }
  return true;
}

static bool all_bytes(uint64_t gpa, uint64_t len, uint8_t v) {
  for (uint64_t i = 0; i < len; i++) {
    const struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa + i);
    if (!s || s->hva[gpa + i - s->gpa] != v)
      return false;
  }
  return true;
}

static vmm_vm_t *fake_vm_create(void) {
  vmm_vm_t *v = calloc(1, sizeof(*v));
  if (!v || pthread_rwlock_init(&v->lock, NULL) != 0)
    return NULL;
  vmm__memmap_init(&v->mem);
  if (vmm__handle_add(v, VMM__H_VM) != 0)
    return NULL;
  return v;
}

static void fake_vm_destroy(vmm_vm_t *v) {
  vmm__handle_remove(v);
  vmm__memmap_fini(&v->mem);
  pthread_rwlock_destroy(&v->lock);
  free(v);
}

static int guest_init(void) {
  memset(fill_block, FILL, sizeof(fill_block));
  vm = fake_vm_create();
  if (!vm)
    return -1;
  const uint64_t gpa[3] = {R0, R1, R2};
  for (size_t i = 0; i < 3; i++) {
    regions[i] = (struct vmm__memslot){
        .gpa = gpa[i], .size = RSIZE, .hva = malloc(RSIZE),
        .slot = (uint32_t)i};
    if (i == 1) {
      regions[i].dirty = calloc(1, sizeof(uint64_t));
      regions[i].flags = VMM_MEM_DIRTY_LOG;
    }
    if (!regions[i].hva || vmm__memmap_insert(&vm->mem, &regions[i]) != 0)
      return -1;
  }
  reset_guest();
  return 0;
}

static void guest_fini(void) {
  for (size_t i = 0; i < 3; i++) {
    free(regions[i].hva);
    free(regions[i].dirty);
  }
  fake_vm_destroy(vm);
}

/* The VM lock must be free after every call, failed or not. */
static bool lock_released(void) {
  if (pthread_rwlock_trywrlock(&vm->lock) != 0)
    return false;
  pthread_rwlock_unlock(&vm->lock);
  return true;
}

/* ---- ELF images, built by hand ---------------------------------------- */

#define IMG_MAX 0x10000
static union {
  uint8_t b[IMG_MAX];
  uint64_t align;
} img_u;
#define IMG (img_u.b)
static int cls;         /* 32 or 64: the class of the image in IMG */
static size_t img_len;  /* bytes of IMG that make up the image */
static size_t seg_off[8]; /* file offset of each segment's data */

struct seg {
  uint32_t type;
  uint64_t paddr, filesz, memsz;
};

static size_t ehsize(void) {
  return cls == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
}
static size_t phsize(void) {
  return cls == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

/* Little-endian store of the low `width` bytes of v (tests that pass a
 * 64-bit value to an ELF32 field get it truncated, as the field would). */
static void put(size_t off, size_t width, uint64_t v) {
  CU_ASSERT_FATAL(off + width <= IMG_MAX);
  for (size_t i = 0; i < width; i++)
    IMG[off + i] = (uint8_t)(v >> (8 * i));
}

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)0)->f)
#define SET_EH(f, v)                                                          \
  (cls == 64 ? put(FIELD(Elf64_Ehdr, f), (v))                                 \
             : put(FIELD(Elf32_Ehdr, f), (v)))
#define SET_PH(i, f, v)                                                       \
  (cls == 64                                                                  \
       ? put(ehsize() + (i) * phsize() + FIELD(Elf64_Phdr, f), (v))           \
       : put(ehsize() + (i) * phsize() + FIELD(Elf32_Phdr, f), (v)))

static uint8_t pattern(size_t seg, size_t j) {
  return (uint8_t)(0x11 * (seg + 1) + j * 13);
}

static size_t build(int c, const struct seg *segs, size_t n) {
  cls = c;
  CU_ASSERT_FATAL(n <= 8);
  memset(IMG, 0, sizeof(IMG));
  memcpy(IMG, ELFMAG, SELFMAG);
  IMG[EI_CLASS] = c == 64 ? ELFCLASS64 : ELFCLASS32;
  IMG[EI_DATA] = ELFDATA2LSB;
  IMG[EI_VERSION] = EV_CURRENT;
  SET_EH(e_type, ET_EXEC);
  SET_EH(e_machine, c == 64 ? EM_X86_64 : EM_386);
  SET_EH(e_version, EV_CURRENT);
  SET_EH(e_entry, ENTRY);
  SET_EH(e_phoff, ehsize());
  SET_EH(e_ehsize, ehsize());
  SET_EH(e_phentsize, phsize());
  SET_EH(e_phnum, n);
  size_t off = (ehsize() + n * phsize() + 15) & ~(size_t)15;
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_FATAL(off + segs[i].filesz <= IMG_MAX);
    seg_off[i] = off;
    for (size_t j = 0; j < segs[i].filesz; j++)
      IMG[off + j] = pattern(i, j);
    SET_PH(i, p_type, segs[i].type);
    SET_PH(i, p_offset, off);
    SET_PH(i, p_vaddr, segs[i].paddr + 0x80000000u); /* not p_paddr */
    SET_PH(i, p_paddr, segs[i].paddr);
    SET_PH(i, p_filesz, segs[i].filesz);
    SET_PH(i, p_memsz, segs[i].memsz);
    SET_PH(i, p_flags, PF_R | PF_W | PF_X);
    SET_PH(i, p_align, 0x1000);
    off += segs[i].filesz;
  }
  img_len = off;
  return off;
}

/*
 * The standard image: text with bss, a note, a segment spanning the
 * adjacent R0/R1 boundary, and a bss-only segment in R2.
 */
static const struct seg std_segs[] = {
    {PT_LOAD, 0x1000, 0x300, 0x800},
    {PT_NOTE, 0x0, 0x20, 0x0},
    {PT_LOAD, 0xf800, 0x1000, 0x1000},
    {PT_LOAD, R2, 0x0, 0x2000},
};
static size_t std_image(int c) {
  return build(c, std_segs, UNIT_COUNT(std_segs));
}

/* Loads IMG[0, len) from an exactly sized heap copy, so that ASan sees
 * any read past the end of the image. */
static int load(size_t len, vmm_elf_info_t *info) {
  uint8_t *copy = malloc(len ? len : 1);
  CU_ASSERT_FATAL(copy != NULL);
  memcpy(copy, IMG, len);
  int rc = vmm__elf_load(copy, len, &vm->mem, info);
  free(copy);
  return rc;
}

static void expect_fail_at(size_t len, int code, const char *msg,
                           const char *file, unsigned line) {
  vmm_elf_info_t info = {.size = sizeof(info), .entry = 0x5a5a};
  int rc = load(len, &info);
  unit_check_rc(rc, code, "load() fails", file, line, __func__);
  unit_check_contains(vmm_last_error(), msg, "message", file, line,
                      __func__);
  bool clean = guest_untouched();
  if (!clean)
    unit_fail(file, line, "guest_untouched()", "a failed load wrote");
  CU_assertImplementation(clean, line, "guest untouched", file, __func__,
                          CU_FALSE);
  CU_assertImplementation(info.entry == 0x5a5a, line, "info untouched", file,
                          __func__, CU_FALSE);
  reset_guest();
}
#define EXPECT_FAIL(len, code, msg)                                           \
  expect_fail_at((len), (code), (msg), __FILE__, __LINE__)

/* ---- valid images ----------------------------------------------------- */

static void check_std_loaded(const vmm_elf_info_t *info) {
  CHECK_U64(info->entry, ENTRY);
  CHECK_U64(info->lowest, 0x1000);
  CHECK_U64(info->highest, R2 + 0x2000);
  CHECK_U64(info->elf_class, cls);
  CHECK_U64(info->segments, 3);
  /* Segment 0: file bytes, then bss zeroed, and nothing around it. */
  CU_ASSERT(memcmp(gmem(0x1000), IMG + seg_off[0], 0x300) == 0);
  CU_ASSERT(all_bytes(0x1300, 0x500, 0));
  CU_ASSERT(*gmem(0xfff) == FILL && *gmem(0x1800) == FILL);
  /* Segment 2 crosses from R0 into R1. */
  CU_ASSERT(memcmp(gmem(0xf800), IMG + seg_off[2], 0x800) == 0);
  CU_ASSERT(memcmp(gmem(0x10000), IMG + seg_off[2] + 0x800, 0x800) == 0);
  CU_ASSERT(*gmem(0xf7ff) == FILL && *gmem(0x10800) == FILL);
  /* Segment 3 is all bss. */
  CU_ASSERT(all_bytes(R2, 0x2000, 0));
  CU_ASSERT(*gmem(R2 + 0x2000) == FILL);
  /* The note was not loaded anywhere: address 0 is untouched. */
  CU_ASSERT(*gmem(0) == FILL);
  /* Writes went through the map, so R1's dirty log saw page 0 only. */
  CHECK_U64(regions[1].dirty[0], 1);
}

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
  bool added =
      unit_add_suite("loader-elf", reset_guest, NULL, elf_tests,
                     UNIT_COUNT(elf_tests)) &&
      unit_add_suite("loader-flat", reset_guest, NULL, flat_tests,
                     UNIT_COUNT(flat_tests)) &&
      unit_add_suite("loader-api", reset_guest, NULL, api_tests,
                     UNIT_COUNT(api_tests)) &&
      unit_add_suite("loader-mutation", reset_guest, NULL, mutation_tests,
                     UNIT_COUNT(mutation_tests));
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
