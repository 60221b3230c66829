/* tests/unit/test_boot.c — the kernel formats' memory half on synthesized
 * images (src/boot): detection, the e820 map and placement, bzImage
 * boot_params and its errors, PVH hvm_start_info and its errors. The
 * mutation loop is in test_boot_mutate.c. */
#include "test_boot_fixture.h"

static void setup(void) { guest_reset(); }

static vmm_boot_info_t fresh_info(void) {
  vmm_boot_info_t i;
  memset(&i, 0, sizeof(i));
  i.size = sizeof(i);
  return i;
}

/* ---- detection -------------------------------------------------------- */

static void test_detect(void) {
  CHECK_U64(vmm_kernel_detect(img, bz_build()), VMM_KERNEL_BZIMAGE);
  CHECK_U64(vmm_kernel_detect(img, pvh_build(64, PVH_BOTH, 8)),
            VMM_KERNEL_PVH);
  CHECK_U64(vmm_kernel_detect(img, pvh_build(32, PVH_SECTION_ONLY, 4)),
            VMM_KERNEL_PVH);
  CHECK_U64(vmm_kernel_detect(img, pvh_build(64, PVH_NONE, 8)),
            VMM_KERNEL_ELF);
  /* A multiboot header in an ELF without the PVH note. */
  pvh_build(32, PVH_NONE, 4);
  put32(0x300, 0x1badb002);
  put32(0x304, 0x3);
  put32(0x308, (uint32_t)-(0x1badb002u + 3));
  CHECK_U64(vmm_kernel_detect(img, img_len), VMM_KERNEL_MULTIBOOT);
  /* ... and with a bad checksum it is just an ELF. */
  put32(0x308, 0);
  CHECK_U64(vmm_kernel_detect(img, img_len), VMM_KERNEL_ELF);
  /* Multiboot outside ELF (the a.out kludge). */
  memset(img, 0, 64);
  put32(16, 0x1badb002);
  put32(20, 0x10000);
  put32(24, (uint32_t)-(0x1badb002u + 0x10000));
  CHECK_U64(vmm_kernel_detect(img, 64), VMM_KERNEL_MULTIBOOT);
  memset(img, 0, 64);
  CHECK_U64(vmm_kernel_detect(img, 64), VMM_KERNEL_UNKNOWN);
  CHECK_U64(vmm_kernel_detect(img, 0), VMM_KERNEL_UNKNOWN);
  CHECK_RC(vmm_kernel_detect(NULL, 10), VMM_EINVAL);
  /* Shorter than the header magic: not a bzImage. */
  bz_build();
  CHECK_U64(vmm_kernel_detect(img, 0x205), VMM_KERNEL_UNKNOWN);
}

static void test_format_names(void) {
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(VMM_KERNEL_BZIMAGE),
                         "bzimage");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(VMM_KERNEL_PVH), "pvh");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(VMM_KERNEL_MULTIBOOT),
                         "multiboot");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(VMM_KERNEL_ELF), "elf");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(0), "unknown");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(-5), "unknown");
  CU_ASSERT_STRING_EQUAL(vmm_kernel_format_name(99), "unknown");
}

/* ---- e820 and placement ----------------------------------------------- */

static void test_e820(void) {
  vmm__e820_t map[8];
  CHECK_U64(vmm__boot_e820(vm, map, 8), 3);
  CHECK_U64(map[0].addr, 0);
  CHECK_U64(map[0].size, VMM__BOOT_LOWMEM_END);
  CHECK_U64(map[0].type, VMM__E820_RAM);
  CHECK_U64(map[1].addr, VMM__BOOT_LOWMEM_END);
  CHECK_U64(map[1].size, 0x100000 - VMM__BOOT_LOWMEM_END);
  CHECK_U64(map[1].type, VMM__E820_RESERVED);
  CHECK_U64(map[2].addr, 0x100000);
  CHECK_U64(map[2].size, RAM_END - 0x100000);
  CHECK_U64(map[2].type, VMM__E820_RAM);
  CHECK_RC(vmm__boot_e820(vm, map, 2), VMM_E2BIG);
  CHECK_MSG("more than 2 entries");
  /* A ROM region above RAM is reserved, and a gap stays a gap. */
  static uint8_t rom[0x2000];
  struct vmm__memslot s = {.gpa = 0x4000000, .size = sizeof(rom),
                           .hva = rom, .flags = VMM_MEM_READONLY, .slot = 9};
  CU_ASSERT_FATAL(vmm__memmap_insert(&vm->mem, &s) == 0);
  CHECK_U64(vmm__boot_e820(vm, map, 8), 4);
  CHECK_U64(map[3].addr, 0x4000000);
  CHECK_U64(map[3].size, 0x2000);
  CHECK_U64(map[3].type, VMM__E820_RESERVED);
  CU_ASSERT(vmm__memmap_remove(&vm->mem, &s) == 0);
}

static void test_place_high(void) {
  /* Highest page-aligned start below the limit, above the floor. */
  CHECK_U64(vmm__boot_place_high(vm, 0x1800, 0x1000, 0x100000, UINT64_MAX),
            RAM_END - 0x2000);
  CHECK_U64(vmm__boot_place_high(vm, 0x1000, 0x1000, 0x100000, 0x1234567),
            0x1233000);
  /* Never into the reserved hole below 1 MiB. */
  CHECK_U64(vmm__boot_place_high(vm, 0x1000, 0x1000, 0, 0x100000),
            0x9e000);
  /* Nothing fits: 0. */
  CHECK_U64(vmm__boot_place_high(vm, RAM_END, 0x1000, 0, UINT64_MAX), 0);
  CHECK_U64(vmm__boot_place_high(vm, 0x1000, 0x1000, RAM_END - 0x800,
                                 UINT64_MAX), 0);
  CHECK_U64(vmm__boot_place_high(vm, 0, 0x1000, 0, UINT64_MAX), 0);
  CHECK_U64(vmm__boot_place_high(vm, 0x1000, 3, 0, UINT64_MAX), 0);
}

/* ---- bzImage ---------------------------------------------------------- */

static void test_bz_valid(void) {
  static uint8_t initrd[0x5000];
  for (size_t i = 0; i < sizeof(initrd); i++)
    initrd[i] = (uint8_t)(i * 13);
  bz_build();
  vmm__boot_req_t r = req_for(initrd, sizeof(initrd), "console=ttyS0 quiet");
  r.acpi_rsdp = 0xe0000;
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CU_ASSERT(lock_released());
  /* Kernel at pref_address (it fits), entry 0x200 after it. */
  CHECK_U64(info.kernel_start, BZ_PREF);
  CHECK_U64(info.kernel_end, BZ_PREF + BZ_INIT);
  CHECK_U64(info.entry, BZ_PREF + 0x200);
  for (size_t i = 0; i < BZ_PAYLOAD; i += 97)
    CU_ASSERT(*gmem(BZ_PREF + i) == bz_byte(i));
  /* Initrd at the top of RAM, page aligned. */
  CHECK_U64(info.initrd_start, RAM_END - sizeof(initrd));
  CHECK_U64(info.initrd_end, RAM_END);
  CU_ASSERT(memcmp(gmem(info.initrd_start), initrd, sizeof(initrd)) == 0);
  /* boot_params. */
  uint64_t bp = VMM__BOOT_PARAMS;
  CHECK_U64(info.params, bp);
  CU_ASSERT(memcmp(gmem(bp + BZ_HDR_MAGIC), "HdrS", 4) == 0);
  CHECK_U64(*gmem(bp + 0x201), 0x6a);
  CHECK_U64(g32(bp + BZ_INIT_SIZE), BZ_INIT);
  CHECK_U64(g64(bp + BZ_PREF_ADDRESS), BZ_PREF);
  CHECK_U64(*gmem(bp + BZ_TYPE_OF_LOADER), 0xff);
  CHECK_U64(g32(bp + BZ_CMD_LINE_PTR), VMM__BOOT_CMDLINE);
  CHECK_U64(g32(bp + BZ_CODE32_START), BZ_PREF);
  CHECK_U64(g32(bp + BZ_RAMDISK_IMAGE), RAM_END - sizeof(initrd));
  CHECK_U64(g32(bp + BZ_RAMDISK_SIZE), sizeof(initrd));
  CHECK_U64(g32(bp + BP_EXT_RAMDISK_IMAGE), 0);
  CHECK_U64(g64(bp + BP_ACPI_RSDP_ADDR), 0xe0000);
  CHECK_U64(*gmem(bp + BP_E820_ENTRIES), 3);
  CHECK_U64(info.e820_entries, 3);
  CHECK_U64(g64(bp + BP_E820_TABLE + 40), 0x100000);
  CHECK_U64(g64(bp + BP_E820_TABLE + 48), RAM_END - 0x100000);
  CHECK_U64(g32(bp + BP_E820_TABLE + 56), 1);
  CHECK_U64(g32(bp + BP_ALT_MEM_K), (RAM_END - 0x100000) >> 10);
  /* Bytes of the zero page outside the header are zero. */
  CU_ASSERT(*gmem(bp) == 0 && *gmem(bp + 0x1f0) == 0 &&
            *gmem(bp + 0xfff) == 0);
  CU_ASSERT_STRING_EQUAL((const char *)gmem(VMM__BOOT_CMDLINE),
                         "console=ttyS0 quiet");
  CHECK_U64(info.cmdline, VMM__BOOT_CMDLINE);
}

/* pref_address outside RAM: a relocatable kernel goes to the first
 * kernel_alignment boundary above 1 MiB; a fixed one cannot boot. */
static void test_bz_relocation(void) {
  bz_build();
  put64(BZ_PREF_ADDRESS, 0x4000000);
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(info.kernel_start, 0x200000);
  CHECK_U64(info.initrd_start, 0);
  CHECK_U64(g32(VMM__BOOT_PARAMS + BZ_RAMDISK_IMAGE), 0);
  guest_reset();
  img[BZ_RELOCATABLE] = 0;
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("not relocatable");
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x1000));
  CU_ASSERT(lock_released());
}

static void test_bz_kernel_too_big(void) {
  bz_build();
  put32(BZ_INIT_SIZE, 0x2000000); /* 32 MiB: more than RAM above 1 MiB */
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("no RAM for the kernel");
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x1000));
  CU_ASSERT(all_fill(0x200000, 0x1000));
}

static void test_bz_initrd_limits(void) {
  static uint8_t initrd[0x5000];
  bz_build();
  /* initrd_addr_max is respected: the initrd ends at or below it. */
  put32(BZ_INITRD_ADDR_MAX, 0x17fffff);
  put16(BZ_XLOADFLAGS, BZ_XLF_KERNEL_64);
  vmm__boot_req_t r = req_for(initrd, sizeof(initrd), NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(info.initrd_start, 0x1800000 - 0x5000);
  /* Only below the kernel is there room under the limit. */
  guest_reset();
  put32(BZ_INITRD_ADDR_MAX, BZ_PREF + 0x1000 - 1);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(info.initrd_start, BZ_PREF - 0x5000);
  /* With XLF_CAN_BE_LOADED_ABOVE_4G the limit may be exceeded when
   * nothing fits below it. */
  guest_reset();
  put32(BZ_INITRD_ADDR_MAX, 0x100fff);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("initrd_addr_max 0x100fff");
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x1000));
  put16(BZ_XLOADFLAGS, BZ_XLF_KERNEL_64 | BZ_XLF_CAN_BE_LOADED_ABOVE_4G);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(info.initrd_start, RAM_END - 0x5000);
}

/* RAM above 4 GiB: an initrd that only fits there goes there when the
 * kernel says it can take it, split over ramdisk_* and ext_ramdisk_*. */
static void test_bz_initrd_above_4g(void) {
  static uint8_t high[0x10000];
  static uint8_t initrd[0x5000];
  memset(initrd, 0x77, sizeof(initrd));
  struct vmm__memslot s = {.gpa = 0x100000000ull, .size = sizeof(high),
                           .hva = high, .slot = 7};
  CU_ASSERT_FATAL(vmm__memmap_insert(&vm->mem, &s) == 0);
  bz_build();
  put32(BZ_INITRD_ADDR_MAX, 0x100fff); /* nothing fits below */
  vmm__boot_req_t r = req_for(initrd, sizeof(initrd), NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(info.initrd_start, 0x10000b000ull);
  CHECK_U64(g32(VMM__BOOT_PARAMS + BZ_RAMDISK_IMAGE), 0xb000);
  CHECK_U64(g32(VMM__BOOT_PARAMS + BP_EXT_RAMDISK_IMAGE), 1);
  CHECK_U64(g32(VMM__BOOT_PARAMS + BZ_RAMDISK_SIZE), sizeof(initrd));
  CHECK_U64(g32(VMM__BOOT_PARAMS + BP_EXT_RAMDISK_SIZE), 0);
  CHECK_U64(info.e820_entries, 4);
  CU_ASSERT(high[0xb000] == 0x77 && high[0xffff] == 0x77);
  /* Without XLF_CAN_BE_LOADED_ABOVE_4G it does not fit. */
  put16(BZ_XLOADFLAGS, BZ_XLF_KERNEL_64);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CU_ASSERT(vmm__memmap_remove(&vm->mem, &s) == 0);
}

static void test_bz_initrd_too_big(void) {
  size_t len = RAM_END; /* cannot fit anywhere */
  uint8_t *initrd = calloc(1, len);
  CU_ASSERT_FATAL(initrd != NULL);
  bz_build();
  vmm__boot_req_t r = req_for(initrd, len, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("no room for the 33554432-byte initrd");
  CU_ASSERT(all_fill(BZ_PREF, 0x1000));
  free(initrd);
}

static void test_bz_cmdline(void) {
  bz_build();
  put32(BZ_CMDLINE_SIZE, 16);
  vmm_boot_info_t info = fresh_info();
  vmm__boot_req_t r = req_for(NULL, 0, "0123456789abcdef");
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CU_ASSERT_STRING_EQUAL((const char *)gmem(VMM__BOOT_CMDLINE),
                         "0123456789abcdef");
  guest_reset();
  r = req_for(NULL, 0, "0123456789abcdefg");
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("17 bytes, longer than the kernel's cmdline_size (16)");
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x1000));
  /* A kernel allowing more than libvmm's area is capped by the area. */
  put32(BZ_CMDLINE_SIZE, 0x100000);
  char *big = malloc(VMM__BOOT_CMDLINE_MAX + 1);
  CU_ASSERT_FATAL(big != NULL);
  memset(big, 'x', VMM__BOOT_CMDLINE_MAX);
  big[VMM__BOOT_CMDLINE_MAX] = 0;
  r = req_for(NULL, 0, big);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("libvmm's area");
  free(big);
}

/* Each header error, by field. */
static void bz_expect(int rc, const char *msg) {
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), rc);
  CHECK_MSG(msg);
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x1000));
  CU_ASSERT(all_fill(BZ_PREF, 0x100));
  CU_ASSERT(lock_released());
}

static void test_bz_bad_headers(void) {
  bz_build();
  put16(BZ_BOOT_FLAG, 0xaa56);
  bz_expect(VMM_ENOEXEC, "boot_flag at 0x1fe is 0xaa56");
  bz_build();
  memcpy(img + BZ_HDR_MAGIC, "HdrT", 4);
  bz_expect(VMM_ENOEXEC, "no \"HdrS\" magic");
  bz_build();
  put16(BZ_VERSION, 0x020b);
  bz_expect(VMM_ENOEXEC, "boot protocol 2.11 is too old");
  bz_build();
  put16(BZ_VERSION, 0x0210);
  bz_expect(VMM_ENOEXEC, "boot protocol 2.16 is newer than the newest");
  bz_build();
  put16(BZ_VERSION, 0x0300);
  bz_expect(VMM_ENOEXEC, "3.00 is newer");
  bz_build();
  img[0x201] = 0x10;
  bz_expect(VMM_ENOEXEC, "the setup header ends at 0x212");
  bz_build();
  img[BZ_LOADFLAGS] = 0;
  bz_expect(VMM_ENOEXEC, "lacks LOADED_HIGH");
  bz_build();
  put16(BZ_XLOADFLAGS, BZ_XLF_CAN_BE_LOADED_ABOVE_4G);
  bz_expect(VMM_ENOEXEC, "lacks XLF_KERNEL_64");
  bz_build();
  put32(BZ_KERNEL_ALIGNMENT, 0x3000);
  bz_expect(VMM_ENOEXEC, "kernel_alignment 0x3000");
  bz_build();
  put64(BZ_PREF_ADDRESS, BZ_PREF + 1);
  bz_expect(VMM_ENOEXEC, "not page aligned");
  bz_build();
  put32(BZ_INIT_SIZE, 0x1000);
  bz_expect(VMM_ENOEXEC, "init_size 0x1000 is smaller");
  bz_build();
  put32(BZ_SYSSIZE, 0);
  bz_expect(VMM_ENOEXEC, "syssize is 0");
}

static void test_bz_truncated(void) {
  bz_build();
  img_len = 0x100;
  bz_expect(VMM_ENOEXEC, "too short for a setup header");
  bz_build();
  img_len = 0x250;
  bz_expect(VMM_ENOEXEC, "too short for the whole setup header");
  bz_build();
  img_len = BZ_SETUP;
  bz_expect(VMM_ENOEXEC, "truncated: 2560 bytes, but setup_sects 4");
  bz_build();
  img_len -= 16;
  bz_expect(VMM_ENOEXEC, "truncated: syssize says 0x3000 bytes");
  /* setup_sects 0 means 4. */
  bz_build();
  img[BZ_SETUP_SECTS] = 0;
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CU_ASSERT(*gmem(BZ_PREF) == bz_byte(0));
  /* A trailing signature past syssize is not loaded. */
  guest_reset();
  bz_build();
  img_len += 0x100;
  r = req_for(NULL, 0, NULL);
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CU_ASSERT(*gmem(BZ_PREF + BZ_PAYLOAD) == FILL);
}

/* Protocol 2.12 (first supported): a shorter header, copied as is. */
static void test_bz_oldest_supported(void) {
  bz_build();
  put16(BZ_VERSION, 0x020c);
  img[0x201] = 0x268 - 0x202;
  put32(0x268, 0xdeadbeef); /* past the 2.12 header: not copied */
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__bzimage_prepare(vm, &r, &info), 0);
  CHECK_U64(g32(VMM__BOOT_PARAMS + 0x264), 0);
  CHECK_U64(g32(VMM__BOOT_PARAMS + 0x268), 0);
  CHECK_U64(g32(VMM__BOOT_PARAMS + BZ_INIT_SIZE), BZ_INIT);
}

/* ---- PVH -------------------------------------------------------------- */

static void pvh_check_ok(int cls, enum pvh_variant var, uint32_t descsz) {
  static uint8_t initrd[0x3000];
  for (size_t i = 0; i < sizeof(initrd); i++)
    initrd[i] = (uint8_t)(i * 31 + cls);
  guest_reset();
  pvh_build(cls, var, descsz);
  vmm__boot_req_t r = req_for(initrd, sizeof(initrd), "root=/dev/vda");
  r.acpi_rsdp = 0xe1230;
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__pvh_prepare(vm, &r, &info), 0);
  CU_ASSERT(lock_released());
  CHECK_U64(info.entry, PVH_ENTRY);
  CHECK_U64(info.kernel_start, PVH_LOAD);
  CHECK_U64(info.kernel_end, PVH_LOAD + 0x1000);
  CU_ASSERT(*gmem(PVH_LOAD + 5) == (5 ^ 0x5a));
  CU_ASSERT(*gmem(PVH_LOAD + 0x800) == 0); /* bss */
  uint64_t si = VMM__BOOT_PARAMS;
  CHECK_U64(info.params, si);
  CHECK_U64(g32(si), 0x336ec578);
  CHECK_U64(g32(si + 4), 1);
  CHECK_U64(g32(si + 8), 0);
  CHECK_U64(g32(si + 12), 1);
  uint64_t mod = g64(si + 16);
  CHECK_U64(g64(si + 24), VMM__BOOT_CMDLINE);
  CHECK_U64(g64(si + 32), 0xe1230);
  uint64_t mm = g64(si + 40);
  CHECK_U64(g32(si + 48), 3);
  CHECK_U64(info.e820_entries, 3);
  CHECK_U64(g64(mod), RAM_END - sizeof(initrd));
  CHECK_U64(g64(mod + 8), sizeof(initrd));
  CHECK_U64(g64(mod + 16), 0);
  CU_ASSERT(memcmp(gmem(g64(mod)), initrd, sizeof(initrd)) == 0);
  CHECK_U64(info.initrd_start, RAM_END - sizeof(initrd));
  CHECK_U64(g64(mm + 24 * 1), VMM__BOOT_LOWMEM_END);
  CHECK_U64(g32(mm + 24 * 1 + 16), VMM__E820_RESERVED);
  CHECK_U64(g64(mm + 24 * 2 + 8), RAM_END - 0x100000);
  CHECK_U64(g32(mm + 24 * 2 + 16), VMM__E820_RAM);
  CU_ASSERT_STRING_EQUAL((const char *)gmem(VMM__BOOT_CMDLINE),
                         "root=/dev/vda");
}

static void test_pvh_valid(void) {
  pvh_check_ok(64, PVH_BOTH, 8);
  pvh_check_ok(64, PVH_BOTH, 4);
  pvh_check_ok(32, PVH_BOTH, 4);
  pvh_check_ok(64, PVH_SECTION_ONLY, 8);
  pvh_check_ok(32, PVH_SECTION_ONLY, 4);
}

static void test_pvh_no_initrd(void) {
  pvh_build(64, PVH_BOTH, 8);
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__pvh_prepare(vm, &r, &info), 0);
  CHECK_U64(g32(VMM__BOOT_PARAMS + 12), 0);
  CHECK_U64(g64(VMM__BOOT_PARAMS + 16), 0);
  CHECK_U64(*gmem(VMM__BOOT_CMDLINE), 0);
}

static void pvh_expect(int rc, const char *msg) {
  vmm__boot_req_t r = req_for(NULL, 0, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__pvh_prepare(vm, &r, &info), rc);
  CHECK_MSG(msg);
  CU_ASSERT(all_fill(VMM__BOOT_PARAMS, 0x100));
  CU_ASSERT(all_fill(PVH_LOAD, 0x100));
  CU_ASSERT(lock_released());
}

static void test_pvh_errors(void) {
  pvh_build(64, PVH_NONE, 8);
  pvh_expect(VMM_ENOEXEC, "no XEN_ELFNOTE_PHYS32_ENTRY note");
  pvh_build(64, PVH_BOTH, 2);
  pvh_expect(VMM_ENOEXEC, "a 2-byte value (want 4 or 8)");
  /* namesz running past the note segment. */
  pvh_build(64, PVH_BOTH, 8);
  put32(PVH_NOTE_OFF, 0x1000);
  pvh_expect(VMM_ENOEXEC, "malformed note in a PT_NOTE segment");
  pvh_build(64, PVH_BOTH, 8);
  put32(PVH_NOTE_OFF + 4, 0xfffffffd);
  pvh_expect(VMM_ENOEXEC, "malformed note");
  /* The note segment itself past the end of the file. */
  pvh_build(64, PVH_BOTH, 8);
  put64(0x40 + sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_filesz),
        0x10000);
  pvh_expect(VMM_ENOEXEC, "PT_NOTE 1 at 0x100 + 0x10000 runs past");
  pvh_build(32, PVH_SECTION_ONLY, 4);
  put32(PVH_SH_OFF + sizeof(Elf32_Shdr) + offsetof(Elf32_Shdr, sh_offset),
        0xfffffff0);
  pvh_expect(VMM_ENOEXEC, "SHT_NOTE section 1");
  /* An entry above 4 GiB, and one outside the image. */
  pvh_build(64, PVH_BOTH, 8);
  put64(PVH_NOTE_OFF + 16, 0x100000000ull);
  pvh_expect(VMM_ENOEXEC, "above 4 GiB");
  pvh_build(64, PVH_BOTH, 8);
  put64(PVH_NOTE_OFF + 16, 0x300000);
  pvh_expect(VMM_ENOEXEC, "entry point 0x300000 lies outside");
  /* A segment below 1 MiB. */
  pvh_build(64, PVH_BOTH, 8);
  put64(0x40 + offsetof(Elf64_Phdr, p_paddr), 0x8000);
  put64(PVH_NOTE_OFF + 16, 0x8010);
  pvh_expect(VMM_ENOEXEC, "below 1 MiB");
  /* A segment outside RAM: the ELF loader's check. */
  pvh_build(64, PVH_BOTH, 8);
  put64(0x40 + offsetof(Elf64_Phdr, p_paddr), 0x40000000);
  put64(PVH_NOTE_OFF + 16, 0x40000010);
  pvh_expect(VMM_EFAULT, "not guest memory");
  /* Truncated: the program headers cut off. */
  pvh_build(64, PVH_BOTH, 8);
  img_len = 0x60;
  pvh_expect(VMM_ENOEXEC, "program header table lies outside");
  img_len = 10;
  pvh_expect(VMM_ENOEXEC, "not an ELF file");
  /* A bzImage handed to the PVH loader. */
  bz_build();
  pvh_expect(VMM_ENOEXEC, "not an ELF file");
}

static void test_pvh_initrd_too_big(void) {
  size_t len = RAM_END - 0x100000; /* more than is free */
  uint8_t *initrd = calloc(1, len);
  CU_ASSERT_FATAL(initrd != NULL);
  pvh_build(64, PVH_BOTH, 8);
  vmm__boot_req_t r = req_for(initrd, len, NULL);
  vmm_boot_info_t info = fresh_info();
  CHECK_RC(vmm__pvh_prepare(vm, &r, &info), VMM_ENOSPC);
  CHECK_MSG("no room for the");
  CU_ASSERT(all_fill(PVH_LOAD, 0x100));
  free(initrd);
}

/* ---- the public entry point's argument checks ------------------------- */

static void test_boot_args(void) {
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = img;
  cfg.kernel_len = bz_build();
  CHECK_RC(vmm_boot(NULL, &cfg, NULL), VMM_EBADF);
  CHECK_RC(vmm_boot(vm, NULL, NULL), VMM_EINVAL);
  CHECK_MSG("config is NULL");
  cfg.size = 8;
  CHECK_RC(vmm_boot(vm, &cfg, NULL), VMM_EINVAL);
  CHECK_MSG("VMM_BOOT_CONFIG_INIT");
  cfg.size = sizeof(cfg);
  vmm_boot_info_t info = {.size = 16};
  CHECK_RC(vmm_boot(vm, &cfg, &info), VMM_EINVAL);
  CHECK_MSG("info->size 16");
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (guest_init() != 0) {
    fprintf(stderr, "cannot set up the guest memory fixture\n");
    return 99;
  }
  static const struct unit_test tests[] = {
      UNIT_TEST(test_detect),
      UNIT_TEST(test_format_names),
      UNIT_TEST(test_e820),
      UNIT_TEST(test_place_high),
      UNIT_TEST(test_bz_valid),
      UNIT_TEST(test_bz_relocation),
      UNIT_TEST(test_bz_kernel_too_big),
      UNIT_TEST(test_bz_initrd_limits),
      UNIT_TEST(test_bz_initrd_above_4g),
      UNIT_TEST(test_bz_initrd_too_big),
      UNIT_TEST(test_bz_cmdline),
      UNIT_TEST(test_bz_bad_headers),
      UNIT_TEST(test_bz_truncated),
      UNIT_TEST(test_bz_oldest_supported),
      UNIT_TEST(test_pvh_valid),
      UNIT_TEST(test_pvh_no_initrd),
      UNIT_TEST(test_pvh_errors),
      UNIT_TEST(test_pvh_initrd_too_big),
      UNIT_TEST(test_boot_args),
  };
  bool ok = unit_add_suite("boot", setup, NULL, tests, UNIT_COUNT(tests));
  int rc = ok ? unit_run() : 99;
  guest_fini();
  return rc;
}
