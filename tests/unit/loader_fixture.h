/* tests/unit/loader_fixture.h — what the loader tests share: a VM object
 * built by hand over three guest regions, and ELF images built by hand.
 * Included by each loader test program (each uses a part of it). */
#ifndef LOADER_FIXTURE_H
#define LOADER_FIXTURE_H

#include <elf.h>
#include <stdlib.h>

#include "loader.h"
#include "vm_internal.h"
#include "unit.h"

#define VMM_FIXTURE static __attribute__((unused))

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

VMM_FIXTURE vmm_vm_t *vm;
VMM_FIXTURE struct vmm__memslot regions[3];
VMM_FIXTURE uint8_t fill_block[RSIZE]; /* all FILL, to compare against */

VMM_FIXTURE uint8_t *gmem(uint64_t gpa) {
  struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa);
  CU_ASSERT_FATAL(s != NULL);
  return s->hva + (gpa - s->gpa);
}

VMM_FIXTURE void reset_guest(void) {
  for (size_t i = 0; i < 3; i++) {
    memset(regions[i].hva, FILL, regions[i].size);
    if (regions[i].dirty)
      regions[i].dirty[0] = 0; /* 16 pages: one word */
  }
}

/* No byte of guest memory changed and no page was logged dirty. */
VMM_FIXTURE bool guest_untouched(void) {
  for (size_t i = 0; i < 3; i++) {
    if (memcmp(regions[i].hva, fill_block, RSIZE) != 0)
      return false;
    if (regions[i].dirty && regions[i].dirty[0] != 0)
      return false;
  }
  return true;
}

VMM_FIXTURE bool all_bytes(uint64_t gpa, uint64_t len, uint8_t v) {
  for (uint64_t i = 0; i < len; i++) {
    const struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa + i);
    if (!s || s->hva[gpa + i - s->gpa] != v)
      return false;
  }
  return true;
}

VMM_FIXTURE vmm_vm_t *fake_vm_create(void) {
  vmm_vm_t *v = calloc(1, sizeof(*v));
  if (!v || pthread_rwlock_init(&v->lock, NULL) != 0)
    return NULL;
  vmm__memmap_init(&v->mem);
  if (vmm__handle_add(v, VMM__H_VM) != 0)
    return NULL;
  return v;
}

VMM_FIXTURE void fake_vm_destroy(vmm_vm_t *v) {
  vmm__handle_remove(v);
  vmm__memmap_fini(&v->mem);
  pthread_rwlock_destroy(&v->lock);
  free(v);
}

VMM_FIXTURE int guest_init(void) {
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

VMM_FIXTURE void guest_fini(void) {
  for (size_t i = 0; i < 3; i++) {
    free(regions[i].hva);
    free(regions[i].dirty);
  }
  fake_vm_destroy(vm);
}

/* The VM lock must be free after every call, failed or not. */
VMM_FIXTURE bool lock_released(void) {
  if (pthread_rwlock_trywrlock(&vm->lock) != 0)
    return false;
  pthread_rwlock_unlock(&vm->lock);
  return true;
}

/* ---- ELF images, built by hand ---------------------------------------- */

#define IMG_MAX 0x10000
VMM_FIXTURE union {
  uint8_t b[IMG_MAX];
  uint64_t align;
} img_u;
#define IMG (img_u.b)
VMM_FIXTURE int cls;         /* 32 or 64: the class of the image in IMG */
VMM_FIXTURE size_t img_len;  /* bytes of IMG that make up the image */
VMM_FIXTURE size_t seg_off[8]; /* file offset of each segment's data */

struct seg {
  uint32_t type;
  uint64_t paddr, filesz, memsz;
};

VMM_FIXTURE size_t ehsize(void) {
  return cls == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
}
VMM_FIXTURE size_t phsize(void) {
  return cls == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

/* Little-endian store of the low `width` bytes of v (tests that pass a
 * 64-bit value to an ELF32 field get it truncated, as the field would). */
VMM_FIXTURE void put(size_t off, size_t width, uint64_t v) {
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

VMM_FIXTURE uint8_t pattern(size_t seg, size_t j) {
  return (uint8_t)(0x11 * (seg + 1) + j * 13);
}

VMM_FIXTURE size_t build(int c, const struct seg *segs, size_t n) {
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
VMM_FIXTURE const struct seg std_segs[] = {
    {PT_LOAD, 0x1000, 0x300, 0x800},
    {PT_NOTE, 0x0, 0x20, 0x0},
    {PT_LOAD, 0xf800, 0x1000, 0x1000},
    {PT_LOAD, R2, 0x0, 0x2000},
};
VMM_FIXTURE size_t std_image(int c) {
  return build(c, std_segs, UNIT_COUNT(std_segs));
}

/* Loads IMG[0, len) from an exactly sized heap copy, so that ASan sees
 * any read past the end of the image. */
VMM_FIXTURE int load(size_t len, vmm_elf_info_t *info) {
  uint8_t *copy = malloc(len ? len : 1);
  CU_ASSERT_FATAL(copy != NULL);
  memcpy(copy, IMG, len);
  int rc = vmm__elf_load(copy, len, &vm->mem, info);
  free(copy);
  return rc;
}

VMM_FIXTURE void expect_fail_at(size_t len, int code, const char *msg,
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


/* The standard image (std_image) landed where it should. */
VMM_FIXTURE void check_std_loaded(const vmm_elf_info_t *info) {
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

#endif
