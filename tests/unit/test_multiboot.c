/* tests/unit/test_multiboot.c — the multiboot v1 loader (src/boot/
 * multiboot.c) on synthesized ELF and a.out-kludge images: what it writes
 * (kernel, bss, module, info block, memory map), every rejected image and
 * layout, and a mutation loop that must never crash or write outside the
 * plan it validated. No hypervisor: the plan is written into a region map
 * over malloc'd memory. */
#include <elf.h>
#include <stdlib.h>

#include "boot/multiboot.h"
#include "unit.h"

/* Guest memory: [0, 1 MiB) and [1 MiB, 5 MiB), filled with FILL before
 * each test; the memory map says what a VM of that RAM would. */
#define FILL 0xcc
#define LOW_SIZE 0x100000ull
#define HIGH 0x100000ull
#define HIGH_SIZE 0x400000ull
#define RAM_END (HIGH + HIGH_SIZE)

static struct vmm__memmap mem;
static struct vmm__memslot slots[2];
static const vmm__e820_t map[] = {
    {0, 0x9fc00, VMM__E820_RAM},
    {0x9fc00, 0x100000 - 0x9fc00, VMM__E820_RESERVED},
    {HIGH, HIGH_SIZE, VMM__E820_RAM},
};
#define NMAP (sizeof(map) / sizeof(map[0]))

static uint8_t *g(uint64_t gpa) {
  struct vmm__memslot *s = vmm__memmap_find(&mem, gpa);
  CU_ASSERT_FATAL(s != NULL);
  return s->hva + (gpa - s->gpa);
}
static uint32_t g32(uint64_t gpa) {
  uint32_t v;
  memcpy(&v, g(gpa), 4);
  return v;
}
static uint64_t g64(uint64_t gpa) {
  uint64_t v;
  memcpy(&v, g(gpa), 8);
  return v;
}

static int fixture_init(void) {
  vmm__memmap_init(&mem);
  const uint64_t at[2] = {0, HIGH}, size[2] = {LOW_SIZE, HIGH_SIZE};
  for (int i = 0; i < 2; i++) {
    slots[i].gpa = at[i];
    slots[i].size = size[i];
    slots[i].hva = aligned_alloc(4096, size[i]);
    slots[i].slot = (uint32_t)i;
    if (!slots[i].hva || vmm__memmap_insert(&mem, &slots[i]) != 0)
      return -1;
  }
  return 0;
}
static int fixture_fini(void) {
  for (int i = 0; i < 2; i++)
    free(slots[i].hva);
  vmm__memmap_fini(&mem);
  return 0;
}
static void setup(void) {
  for (int i = 0; i < 2; i++)
    memset(slots[i].hva, FILL, slots[i].size);
}

/* ---- images ---------------------------------------------------------------- */

static uint8_t img[32768];
static size_t img_len;

static void put32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }

/* A multiboot header at `off` with `flags` and a valid checksum. */
static void put_header(size_t off, uint32_t flags) {
  put32(off, VMM__MB_MAGIC);
  put32(off + 4, flags);
  put32(off + 8, -(VMM__MB_MAGIC + flags));
}

#define HDR_OFF 0x100
#define SEG_OFF 0x200
#define TEXT_PA 0x100000u
#define TEXT_LEN 0x400u
#define DATA_PA 0x101000u
#define DATA_FILE 0x100u
#define DATA_MEM 0x2000u
#define KERNEL_END (DATA_PA + DATA_MEM)

/* ELF32 with a text segment at 1 MiB and a data segment with bss. */
static size_t elf32(uint32_t flags) {
  memset(img, 0, sizeof(img));
  Elf32_Ehdr eh = {0};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_version = EV_CURRENT;
  eh.e_entry = TEXT_PA + 0x10;
  eh.e_phoff = sizeof(eh);
  eh.e_ehsize = sizeof(eh);
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = 2;
  memcpy(img, &eh, sizeof(eh));
  Elf32_Phdr ph[2] = {
      {PT_LOAD, SEG_OFF, TEXT_PA, TEXT_PA, TEXT_LEN, TEXT_LEN, 5, 0x1000},
      {PT_LOAD, SEG_OFF + TEXT_LEN, DATA_PA, DATA_PA, DATA_FILE, DATA_MEM, 6,
       0x1000},
  };
  memcpy(img + sizeof(eh), ph, sizeof(ph));
  for (size_t i = 0; i < TEXT_LEN + DATA_FILE; i++)
    img[SEG_OFF + i] = (uint8_t)(i * 7 + 1);
  put_header(HDR_OFF, flags);
  img_len = SEG_OFF + TEXT_LEN + DATA_FILE;
  return img_len;
}

static Elf32_Phdr *phdr(int i) {
  return (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr));
}
static Elf32_Ehdr *ehdr(void) { return (Elf32_Ehdr *)img; }

#define AOUT_HDR 0x40
#define AOUT_LEN 0x1000u
#define AOUT_BSS 0x3000u
#define AOUT_ENTRY (TEXT_PA + 0x80)

/* A flat image loaded at 1 MiB, the header (flag 16) 0x40 bytes in. */
static size_t aout(void) {
  memset(img, 0, sizeof(img));
  for (size_t i = 0; i < AOUT_LEN; i++)
    img[i] = (uint8_t)(i * 13 + 5);
  put_header(AOUT_HDR, VMM__MB_F_AOUT_KLUDGE | VMM__MB_F_PAGE_ALIGN);
  put32(AOUT_HDR + 12, TEXT_PA + AOUT_HDR); /* header_addr */
  put32(AOUT_HDR + 16, TEXT_PA);            /* load_addr */
  put32(AOUT_HDR + 20, TEXT_PA + AOUT_LEN); /* load_end_addr */
  put32(AOUT_HDR + 24, TEXT_PA + AOUT_BSS); /* bss_end_addr */
  put32(AOUT_HDR + 28, AOUT_ENTRY);         /* entry_addr */
  img_len = AOUT_LEN;
  return img_len;
}

static uint8_t module[10000];
static const char *cmdline = "console=ttyS0 hello";

static vmm__boot_req_t req(const uint8_t *mod, size_t mod_len) {
  vmm__boot_req_t r = {img, img_len, mod, mod_len, cmdline, 0, 0};
  return r;
}

/* Plans and writes; returns the plan's rc (the plan is freed). */
static int boot(const uint8_t *mod, size_t mod_len, vmm__mb_plan_t *out) {
  vmm__boot_req_t r = req(mod, mod_len);
  vmm__mb_plan_t p;
  int rc = vmm__multiboot_plan(&r, map, NMAP, &p);
  if (rc == 0) {
    CHECK_RC(vmm__multiboot_write(&mem, &p), 0);
    if (out) {
      *out = p;
      out->chunks = NULL;
      out->low = NULL;
    }
    vmm__multiboot_plan_free(&p);
  }
  return rc;
}

static bool untouched(void) {
  for (int i = 0; i < 2; i++)
    for (uint64_t j = 0; j < slots[i].size; j++)
      if (slots[i].hva[j] != FILL)
        return false;
  return true;
}

/* Rejected with `rc` and `msg`, nothing written. */
#define REJECT(rc_, msg)                                                      \
  do {                                                                        \
    CHECK_RC(boot(NULL, 0, NULL), rc_);                                       \
    CHECK_MSG(msg);                                                           \
    CU_ASSERT(untouched());                                                   \
  } while (0)

/* ---- what gets written ------------------------------------------------------ */

static void check_info_common(uint32_t mods) {
  const uint64_t mbi = VMM__MB_INFO_GPA;
  CHECK_U64(g32(mbi) & 0x24d, 0x24d); /* mem, cmdline, mods, mmap, name */
  CHECK_U64(g32(mbi + 4), 0x9fc00 / 1024);
  CHECK_U64(g32(mbi + 8), HIGH_SIZE / 1024);
  CHECK_U64(g32(mbi + 20), mods);
  CU_ASSERT_STRING_EQUAL((char *)g(g32(mbi + 16)), cmdline);
  CU_ASSERT_STRING_EQUAL((char *)g(g32(mbi + 64)), "libvmm");
  /* The memory map: three entries of 24 bytes, size field 20. */
  CHECK_U64(g32(mbi + 44), 3 * 24);
  uint64_t mm = g32(mbi + 48);
  for (size_t i = 0; i < NMAP; i++) {
    CHECK_U64(g32(mm + i * 24), 20);
    CHECK_U64(g64(mm + i * 24 + 4), map[i].addr);
    CHECK_U64(g64(mm + i * 24 + 12), map[i].size);
    CHECK_U64(g32(mm + i * 24 + 20), map[i].type);
  }
}

static void test_elf32(void) {
  elf32(VMM__MB_F_PAGE_ALIGN | VMM__MB_F_MEMORY_INFO);
  vmm__mb_plan_t p;
  CHECK_RC(boot(NULL, 0, &p), 0);
  CHECK_U64(p.entry, TEXT_PA + 0x10);
  CHECK_U64(p.kernel_start, TEXT_PA);
  CHECK_U64(p.kernel_end, KERNEL_END);
  CU_ASSERT(memcmp(g(TEXT_PA), img + SEG_OFF, TEXT_LEN) == 0);
  CU_ASSERT(memcmp(g(DATA_PA), img + SEG_OFF + TEXT_LEN, DATA_FILE) == 0);
  for (uint32_t i = DATA_FILE; i < DATA_MEM; i++)
    if (*g(DATA_PA + i) != 0) {
      CU_FAIL("bss not zeroed");
      break;
    }
  CU_ASSERT(*g(KERNEL_END) == FILL); /* nothing past the bss */
  check_info_common(0);
}

static void test_module(void) {
  for (size_t i = 0; i < sizeof(module); i++)
    module[i] = (uint8_t)(i ^ 0x5a);
  elf32(0);
  vmm__mb_plan_t p;
  CHECK_RC(boot(module, sizeof(module), &p), 0);
  uint64_t start = (KERNEL_END + 0xfff) & ~0xfffull;
  CHECK_U64(p.module_start, start);
  CHECK_U64(p.module_end, start + sizeof(module));
  CU_ASSERT(memcmp(g(start), module, sizeof(module)) == 0);
  check_info_common(1);
  uint64_t mods = g32(VMM__MB_INFO_GPA + 24);
  CHECK_U64(g32(mods), start);
  CHECK_U64(g32(mods + 4), start + sizeof(module));
  CU_ASSERT_STRING_EQUAL((char *)g(g32(mods + 8)), "initrd");
  CHECK_U64(g32(mods + 12), 0);
}

static void test_aout(void) {
  aout();
  img[AOUT_LEN] = 0x77; /* a byte past load_end_addr is not loaded */
  img_len = AOUT_LEN + 1;
  vmm__mb_plan_t p;
  CHECK_RC(boot(NULL, 0, &p), 0);
  CHECK_U64(p.entry, AOUT_ENTRY);
  CHECK_U64(p.kernel_end, TEXT_PA + AOUT_BSS);
  CU_ASSERT(memcmp(g(TEXT_PA), img, AOUT_LEN) == 0);
  CU_ASSERT(*g(TEXT_PA + AOUT_LEN) == 0);
  CU_ASSERT(*g(TEXT_PA + AOUT_BSS - 1) == 0);
  CU_ASSERT(*g(TEXT_PA + AOUT_BSS) == FILL);
  check_info_common(0);
}

/* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
static void test_aout_whole_file(void) {
  aout();
  put32(AOUT_HDR + 20, 0);
  put32(AOUT_HDR + 24, 0);
  put_header(AOUT_HDR, VMM__MB_F_AOUT_KLUDGE);
  img_len = 0x900;
  vmm__mb_plan_t p;
  CHECK_RC(boot(NULL, 0, &p), 0);
  CHECK_U64(p.kernel_end, TEXT_PA + 0x900);
  CU_ASSERT(memcmp(g(TEXT_PA), img, 0x900) == 0);
  CU_ASSERT(*g(TEXT_PA + 0x900) == FILL);
}

/* Flag 16 wins over the ELF headers, as the specification asks. */
static void test_aout_fields_win_over_elf(void) {
  elf32(0);
  put_header(HDR_OFF, VMM__MB_F_AOUT_KLUDGE);
  put32(HDR_OFF + 12, 0x200000 + HDR_OFF); /* header_addr */
  put32(HDR_OFF + 16, 0x200000);           /* load_addr: file offset 0 */
  put32(HDR_OFF + 20, 0);
  put32(HDR_OFF + 24, 0);
  put32(HDR_OFF + 28, 0x200000);
  vmm__mb_plan_t p;
  CHECK_RC(boot(NULL, 0, &p), 0);
  CHECK_U64(p.kernel_start, 0x200000);
  CU_ASSERT(memcmp(g(0x200000), img, img_len) == 0);
  CU_ASSERT(*g(TEXT_PA) == FILL);
}

/* A higher-half kernel: e_entry is virtual and is translated. */
static void test_elf_virtual_entry(void) {
  elf32(0);
  phdr(0)->p_vaddr = 0xc0100000u;
  phdr(1)->p_vaddr = 0xc0101000u;
  ehdr()->e_entry = 0xc0100020u;
  vmm__mb_plan_t p;
  CHECK_RC(boot(NULL, 0, &p), 0);
  CHECK_U64(p.entry, TEXT_PA + 0x20);
}

static void test_elf64(void) {
  memset(img, 0, sizeof(img));
  Elf64_Ehdr eh = {0};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = TEXT_PA;
  eh.e_phoff = sizeof(eh);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  memcpy(img, &eh, sizeof(eh));
  Elf64_Phdr ph = {PT_LOAD, 5, SEG_OFF, TEXT_PA, TEXT_PA, 0x100, 0x800, 0};
  memcpy(img + sizeof(eh), &ph, sizeof(ph));
  memset(img + SEG_OFF, 0xab, 0x100);
  put_header(HDR_OFF, 0);
  img_len = SEG_OFF + 0x100;
  CHECK_RC(boot(NULL, 0, NULL), 0);
  CU_ASSERT(*g(TEXT_PA) == 0xab && *g(TEXT_PA + 0x100) == 0);
}

static void test_detect(void) {
  elf32(0);
  CU_ASSERT(vmm__multiboot_detect(img, img_len));
  CHECK_U64(vmm_kernel_detect(img, img_len), VMM_KERNEL_MULTIBOOT);
  aout();
  CU_ASSERT(vmm__multiboot_detect(img, img_len));
  CHECK_U64(vmm_kernel_detect(img, img_len), VMM_KERNEL_MULTIBOOT);
  CU_ASSERT(!vmm__multiboot_detect(img, AOUT_HDR + 20)); /* fields cut */
  put32(AOUT_HDR + 8, 0);
  CU_ASSERT(!vmm__multiboot_detect(img, img_len));
  CU_ASSERT(!vmm__multiboot_detect(NULL, 100));
  /* The header must lie whole in the first 8192 bytes. */
  memset(img, 0, sizeof(img));
  put_header(8192 - 8, 0);
  CU_ASSERT(!vmm__multiboot_detect(img, 16384));
  put_header(8192 - 12, 0);
  CU_ASSERT(vmm__multiboot_detect(img, 16384));
}

/* ---- rejected images ----------------------------------------------------------- */

static void test_no_header(void) {
  elf32(0);
  memset(img + HDR_OFF, 0, 12);
  REJECT(VMM_ENOEXEC, "no header");
  memset(img, 0, sizeof(img));
  put_header(8192, 0); /* past the search window */
  img_len = 9000;
  REJECT(VMM_ENOEXEC, "no header");
}

static void test_bad_checksum(void) {
  elf32(0);
  put32(HDR_OFF + 8, 1);
  REJECT(VMM_ENOEXEC, "bad checksum");
}

static void test_header_cut(void) {
  elf32(0);
  img_len = HDR_OFF + 8;
  REJECT(VMM_ENOEXEC, "truncated");
  aout();
  img_len = AOUT_HDR + 24;
  REJECT(VMM_ENOEXEC, "truncated");
}

static void test_required_flags(void) {
  elf32(VMM__MB_F_VIDEO_MODE);
  REJECT(VMM_ENOEXEC, "video mode");
  elf32(1u << 5);
  REJECT(VMM_ENOEXEC, "does not know");
  elf32(1u << 20); /* optional bits are ignored */
  CHECK_RC(boot(NULL, 0, NULL), 0);
}

static void test_elf_truncated(void) {
  elf32(0);
  ehdr()->e_phoff = (uint32_t)img_len - 40; /* the table runs off the end */
  REJECT(VMM_ENOEXEC, "truncated");
  elf32(0);
  img_len = SEG_OFF + TEXT_LEN + DATA_FILE - 1; /* last segment cut */
  put_header(HDR_OFF, 0);
  REJECT(VMM_ENOEXEC, "truncated");
  elf32(0);
  img_len = 40; /* inside the ELF header; the multiboot header is gone */
  REJECT(VMM_ENOEXEC, "");
}

static void test_not_elf(void) {
  elf32(0);
  img[0] = 0;
  REJECT(VMM_ENOEXEC, "not ELF");
  elf32(0);
  ehdr()->e_type = ET_DYN;
  REJECT(VMM_ENOEXEC, "ET_EXEC");
  elf32(0);
  ehdr()->e_phnum = 0;
  REJECT(VMM_ENOEXEC, "program header table");
}

static void test_segments_outside_ram(void) {
  elf32(0);
  phdr(1)->p_paddr = RAM_END - 0x100; /* bss runs off the end of RAM */
  REJECT(VMM_ENOSPC, "not inside the guest's RAM");
  elf32(0);
  phdr(0)->p_paddr = 0xa0000; /* the reserved hole below 1 MiB */
  REJECT(VMM_ENOSPC, "not inside the guest's RAM");
  elf32(0);
  phdr(0)->p_paddr = 0x8000; /* over the info block */
  REJECT(VMM_ENOEXEC, "starts below");
  elf32(0);
  phdr(1)->p_paddr = 0xfffff000u;
  phdr(1)->p_memsz = 0x2000;
  REJECT(VMM_ENOEXEC, "4 GiB");
}

static void test_segments_overlap(void) {
  elf32(0);
  phdr(1)->p_paddr = TEXT_PA + TEXT_LEN - 1;
  REJECT(VMM_ENOEXEC, "overlap");
  elf32(0);
  phdr(1)->p_filesz = DATA_MEM + 1;
  REJECT(VMM_ENOEXEC, "p_filesz");
}

static void test_entry_outside(void) {
  elf32(0);
  ehdr()->e_entry = 0x500000;
  REJECT(VMM_ENOEXEC, "entry point");
  aout();
  put32(AOUT_HDR + 28, TEXT_PA + AOUT_BSS);
  REJECT(VMM_ENOEXEC, "entry_addr");
}

static void test_aout_bad_fields(void) {
  aout();
  put32(AOUT_HDR + 16, TEXT_PA + AOUT_HDR + 4); /* load_addr > header_addr */
  REJECT(VMM_ENOEXEC, "above header_addr");
  aout();
  put32(AOUT_HDR + 12, TEXT_PA + 0x800); /* header 0x800 in, file says 0x40 */
  REJECT(VMM_ENOEXEC, "bytes into the file");
  aout();
  put32(AOUT_HDR + 20, TEXT_PA + AOUT_LEN + 1); /* more than the file */
  REJECT(VMM_ENOEXEC, "truncated");
  aout();
  put32(AOUT_HDR + 20, TEXT_PA); /* load_end == load_addr */
  REJECT(VMM_ENOEXEC, "load_end_addr");
  aout();
  put32(AOUT_HDR + 24, TEXT_PA + AOUT_LEN - 1);
  REJECT(VMM_ENOEXEC, "bss_end_addr");
  aout();
  put32(AOUT_HDR + 16, 0x1000);
  put32(AOUT_HDR + 12, 0x1000 + AOUT_HDR);
  put32(AOUT_HDR + 20, 0x1000 + AOUT_LEN);
  put32(AOUT_HDR + 24, 0);
  put32(AOUT_HDR + 28, 0x1000);
  REJECT(VMM_ENOEXEC, "starts below");
}

static void test_module_does_not_fit(void) {
  elf32(0);
  size_t len = RAM_END - KERNEL_END + 1; /* one byte too many */
  uint8_t *big = malloc(len);
  CU_ASSERT_FATAL(big != NULL);
  memset(big, 1, len);
  CHECK_RC(boot(big, len, NULL), VMM_ENOSPC);
  CHECK_MSG("does not fit");
  CU_ASSERT(untouched());
  /* The largest that fits does. */
  len = RAM_END - KERNEL_END;
  vmm__mb_plan_t p;
  CHECK_RC(boot(big, len, &p), 0);
  CHECK_U64(p.module_end, RAM_END);
  free(big);
}

static void test_cmdline_too_long(void) {
  elf32(0);
  char *longline = malloc(VMM__BOOT_CMDLINE_MAX + 1);
  CU_ASSERT_FATAL(longline != NULL);
  memset(longline, 'a', VMM__BOOT_CMDLINE_MAX);
  longline[VMM__BOOT_CMDLINE_MAX] = '\0';
  const char *saved = cmdline;
  cmdline = longline;
  REJECT(VMM_ENOSPC, "command line");
  longline[VMM__BOOT_CMDLINE_MAX - 1] = '\0'; /* exactly fits with NUL */
  CHECK_RC(boot(NULL, 0, NULL), 0);
  cmdline = saved;
  free(longline);
}

/* The map says RAM where the region map has none: the write refuses
 * before any byte moves. */
static void test_write_checks_first(void) {
  elf32(0);
  vmm__boot_req_t r = req(NULL, 0);
  vmm__mb_plan_t p;
  const vmm__e820_t wide[] = {{0, 0x9fc00, VMM__E820_RAM},
                              {HIGH, 0x10000000, VMM__E820_RAM}};
  phdr(1)->p_paddr = 0x8000000;
  CHECK_RC(vmm__multiboot_plan(&r, wide, 2, &p), 0);
  CHECK_RC(vmm__multiboot_write(&mem, &p), VMM_EFAULT);
  CU_ASSERT(untouched());
  vmm__multiboot_plan_free(&p);
}

/* ---- mutation loop ---------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static uint32_t interesting(void) {
  static const uint32_t v[] = {0, 1, 0x7f, 0x80, 0xff, 0xfff, 0x1000,
                               0x7000, 0x30000, 0x9fc00, 0xfffff, 0x100000,
                               0x101000, 0x4fffff, 0x500000, 0x7fffffff,
                               0x80000000, 0xfffff000, 0xffffffff,
                               VMM__MB_MAGIC, 0x10000};
  return v[rnd() % (sizeof(v) / sizeof(v[0]))];
}

/* Random corruption of valid images (header fields, ELF headers, program
 * headers, lengths): the plan either fails with a message or succeeds and
 * then writes only inside RAM, which the write's own check confirms. */
static void test_mutations(void) {
  static uint8_t orig[sizeof(img)];
  unsigned ok = 0, rejected = 0;
  for (unsigned iter = 0; iter < 20000; iter++) {
    size_t len = (iter & 1) ? elf32(iter & 2 ? 3 : 0) : aout();
    memcpy(orig, img, len);
    unsigned edits = 1 + (unsigned)(rnd() % 6);
    for (unsigned e = 0; e < edits; e++) {
      /* Mostly the first 0x300 bytes: the headers live there. */
      size_t off = rnd() % 4 ? rnd() % 0x300 : rnd() % len;
      off &= ~(size_t)(rnd() % 2 ? 3 : 0);
      if (rnd() % 2 && off + 4 <= len)
        put32(off, interesting());
      else
        img[off] = (uint8_t)rnd();
    }
    if (rnd() % 8 == 0)
      len = rnd() % (len + 1);
    if (rnd() % 3 == 0) /* keep the checksum right so deeper code runs */
      for (size_t off = 0; off + 12 <= len && off < 8192; off += 4)
        if (memcmp(img + off, &(uint32_t){VMM__MB_MAGIC}, 4) == 0) {
          uint32_t flags;
          memcpy(&flags, img + off + 4, 4);
          put32(off + 8, -(VMM__MB_MAGIC + flags));
          break;
        }
    img_len = len;
    size_t mlen = rnd() % 3 ? 0 : 1 + rnd() % 5000;
    vmm__boot_req_t r = req(mlen ? module : NULL, mlen);
    vmm__mb_plan_t p;
    int rc = vmm__multiboot_plan(&r, map, NMAP, &p);
    if (rc == 0) {
      ok++;
      for (size_t i = 0; i < p.nchunks; i++) {
        const vmm__mb_chunk_t *c = &p.chunks[i];
        bool ram = (c->gpa + c->len <= 0x9fc00) ||
                   (c->gpa >= HIGH && c->gpa + c->len <= RAM_END);
        if (!ram) {
          fprintf(stderr, "iteration %u: chunk %s at 0x%llx+0x%llx\n", iter,
                  c->what, (unsigned long long)c->gpa,
                  (unsigned long long)c->len);
          CU_FAIL("a chunk outside RAM was planned");
        }
      }
      if (vmm__multiboot_write(&mem, &p) != 0)
        CU_FAIL("a validated plan failed to write");
      vmm__multiboot_plan_free(&p);
    } else {
      rejected++;
      if (rc != VMM_ENOEXEC && rc != VMM_ENOSPC && rc != VMM_EINVAL) {
        fprintf(stderr, "iteration %u: rc %d (%s)\n", iter, rc,
                vmm_last_error());
        CU_FAIL("unexpected error code");
      }
      if (!vmm_last_error()[0])
        CU_FAIL("rejected without a message");
    }
  }
  fprintf(stderr, " (%u loaded, %u rejected) ", ok, rejected);
  CU_ASSERT(ok > 100 && rejected > 100);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (fixture_init() != 0) {
    fprintf(stderr, "cannot set up the guest memory fixture\n");
    return 99;
  }
  static const struct unit_test tests[] = {
      UNIT_TEST(test_elf32),
      UNIT_TEST(test_module),
      UNIT_TEST(test_aout),
      UNIT_TEST(test_aout_whole_file),
      UNIT_TEST(test_aout_fields_win_over_elf),
      UNIT_TEST(test_elf_virtual_entry),
      UNIT_TEST(test_elf64),
      UNIT_TEST(test_detect),
      UNIT_TEST(test_no_header),
      UNIT_TEST(test_bad_checksum),
      UNIT_TEST(test_header_cut),
      UNIT_TEST(test_required_flags),
      UNIT_TEST(test_elf_truncated),
      UNIT_TEST(test_not_elf),
      UNIT_TEST(test_segments_outside_ram),
      UNIT_TEST(test_segments_overlap),
      UNIT_TEST(test_entry_outside),
      UNIT_TEST(test_aout_bad_fields),
      UNIT_TEST(test_module_does_not_fit),
      UNIT_TEST(test_cmdline_too_long),
      UNIT_TEST(test_write_checks_first),
      UNIT_TEST(test_mutations),
  };
  bool ok = unit_add_suite("multiboot", setup, NULL, tests,
                           UNIT_COUNT(tests));
  int rc = ok ? unit_run() : 99;
  fixture_fini();
  return rc;
}
