/* tests/guests/multiboot/info.c — "mbinfo": a multiboot kernel that checks
 * what the loader and the fw_cfg device gave it and exits through the
 * debug-exit port with MB_PASS or MB_FAIL + the number of the failed check.
 *
 * Expectations come in the command line:
 *   mods=K          module count (default 0)
 *   modsum=0xH      FNV-1a of module 0      modlen=N  its length
 *   cpus=N          fw_cfg CPU count (default: not checked)
 *   ram=0xH         fw_cfg RAM size in bytes (default: not checked)
 *   fwcfg=0         no fw_cfg device (its checks are skipped)
 *   fwfile=NAME fwsum=0xH   a fw_cfg file and its FNV-1a
 */
#include "mb.h"

#define BOOT_MAGIC 0x2badb002u
#define MBI_NEEDED ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9))

static const char *cmdline = "";

static NORETURN void fail(uint32_t check, const char *what, uint64_t got,
                          uint64_t want) {
  mb_printf("mbinfo: FAIL %u: %s: got 0x%llx, want 0x%llx\n", check, what,
            (unsigned long long)got, (unsigned long long)want);
  mb_exit(MB_FAIL + check);
}

#define CHECK_EQ(n, what, got, want)                                          \
  do {                                                                        \
    uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                     \
    if (g_ != w_)                                                             \
      fail(n, what, g_, w_);                                                  \
  } while (0)
#define CHECK(n, what, cond) CHECK_EQ(n, what, !!(cond), 1)

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  return a < b + blen && b < a + alen;
}

/* The RAM run (adjacent RAM entries) containing `addr`: its end, or 0. */
static uint64_t run_end(const struct mb_info *mbi, uint64_t addr) {
  uint64_t end = 0;
  for (uint32_t off = 0; off < mbi->mmap_length;) {
    const struct mb_mmap *e =
        (const struct mb_mmap *)(uintptr_t)(mbi->mmap_addr + off);
    if (e->type == 1 &&
        ((e->addr <= addr && addr < e->addr + e->len) ||
         (end && e->addr == end)))
      end = e->addr + e->len;
    off += e->size + 4;
  }
  return end;
}

static int in_ram(const struct mb_info *mbi, uint64_t addr, uint64_t len) {
  uint64_t end = run_end(mbi, addr);
  return end && addr + len <= end;
}

static uint64_t check_mmap(const struct mb_info *mbi) {
  uint64_t ram = 0, prev_end = 0;
  uint32_t n = 0;
  for (uint32_t off = 0; off < mbi->mmap_length; n++) {
    const struct mb_mmap *e =
        (const struct mb_mmap *)(uintptr_t)(mbi->mmap_addr + off);
    CHECK(20, "mmap entry size field >= 20", e->size >= 20);
    CHECK(21, "mmap entries sorted, not overlapping", e->addr >= prev_end);
    CHECK(22, "mmap entry length > 0", e->len > 0);
    prev_end = e->addr + e->len;
    if (e->type == 1)
      ram += e->len;
    off += e->size + 4;
  }
  CHECK(23, "mmap has entries", n >= 2);
  CHECK_EQ(24, "mem_lower (KiB) matches the map", mbi->mem_lower,
           (run_end(mbi, 0x7000) > 0xa0000 ? 0xa0000 : run_end(mbi, 0x7000)) /
               1024);
  uint64_t up = run_end(mbi, 0x100000);
  CHECK_EQ(25, "mem_upper (KiB) matches the map", mbi->mem_upper,
           up ? (up - 0x100000) / 1024 : 0);
  CHECK(26, "the kernel lies in RAM",
        in_ram(mbi, (uintptr_t)__load_start, _end - __load_start));
  return ram;
}

static void check_modules(const struct mb_info *mbi) {
  uint32_t want = (uint32_t)parse_num(cmdline_value(cmdline, "mods"), 0);
  CHECK_EQ(30, "mods_count", mbi->mods_count, want);
  if (want == 0)
    return;
  const struct mb_mod *m = (const struct mb_mod *)(uintptr_t)mbi->mods_addr;
  CHECK(31, "module 0 page aligned", (m->start & 0xfff) == 0);
  CHECK(32, "module 0 not empty", m->end > m->start);
  CHECK(33, "module 0 in RAM", in_ram(mbi, m->start, m->end - m->start));
  CHECK(34, "module 0 clear of the kernel",
        !overlaps(m->start, m->end - m->start, (uintptr_t)__load_start,
                  _end - __load_start));
  CHECK(35, "module 0 clear of the info block",
        !overlaps(m->start, m->end - m->start, (uintptr_t)mbi, sizeof(*mbi)));
  const char *s = (const char *)(uintptr_t)m->string;
  CHECK(36, "module 0 has a string", m->string && s[0]);
  const char *len = cmdline_value(cmdline, "modlen");
  if (len)
    CHECK_EQ(37, "module 0 length", m->end - m->start, parse_num(len, 0));
  const char *sum = cmdline_value(cmdline, "modsum");
  if (sum)
    CHECK_EQ(38, "module 0 FNV-1a",
             fnv1a((const void *)(uintptr_t)m->start, m->end - m->start),
             parse_num(sum, 0));
}

static void check_fw_file(void) {
  const char *name = cmdline_value(cmdline, "fwfile");
  if (!name)
    return;
  uint32_t be;
  fw_cfg_select(0x19);
  fw_cfg_read(&be, 4);
  uint32_t count = __builtin_bswap32(be);
  for (uint32_t i = 0; i < count; i++) {
    struct {
      uint32_t size;
      uint16_t select, reserved;
      char name[56];
    } f;
    fw_cfg_read(&f, sizeof(f));
    size_t nlen = 0;
    while (name[nlen] && name[nlen] != ' ')
      nlen++;
    if (memcmp(f.name, name, nlen) != 0 || f.name[nlen])
      continue;
    uint32_t size = __builtin_bswap32(f.size);
    CHECK(51, "fw_cfg file size sane", size <= 65536);
    static uint8_t buf[65536];
    fw_cfg_select(__builtin_bswap16(f.select));
    fw_cfg_read(buf, size);
    CHECK_EQ(52, "fw_cfg file FNV-1a", fnv1a(buf, size),
             parse_num(cmdline_value(cmdline, "fwsum"), 0));
    return;
  }
  fail(50, "fw_cfg file not in the directory", count, 0);
}

static void check_fw_cfg(const struct mb_info *mbi, uint64_t mmap_ram) {
  if (parse_num(cmdline_value(cmdline, "fwcfg"), 1) == 0)
    return;
  char sig[5] = {0};
  fw_cfg_select(0x0000);
  fw_cfg_read(sig, 4);
  CHECK(40, "fw_cfg signature is QEMU", mb_strcmp(sig, "QEMU") == 0);
  uint8_t past = 0xaa;
  fw_cfg_read(&past, 1);
  CHECK_EQ(41, "fw_cfg read past an item's end", past, 0);
  CHECK_EQ(42, "fw_cfg ID (traditional, no DMA)", fw_cfg_read32(0x0001), 1);
  CHECK_EQ(43, "fw_cfg unknown selector reads 0", fw_cfg_read32(0x3ffe), 0);

  uint16_t cpus = 0;
  fw_cfg_select(0x0005);
  fw_cfg_read(&cpus, 2);
  const char *want_cpus = cmdline_value(cmdline, "cpus");
  if (want_cpus)
    CHECK_EQ(44, "fw_cfg CPU count", cpus, parse_num(want_cpus, 0));
  uint64_t ram = 0;
  fw_cfg_select(0x0003);
  fw_cfg_read(&ram, 8);
  const char *want_ram = cmdline_value(cmdline, "ram");
  if (want_ram)
    CHECK_EQ(45, "fw_cfg RAM size", ram, parse_num(want_ram, 0));
  /* The map leaves out only what lies below 1 MiB and is not RAM. */
  CHECK(46, "fw_cfg RAM size vs the memory map",
        ram >= mmap_ram && ram - mmap_ram <= 0x100000);

  uint32_t size = fw_cfg_read32(0x0014);
  CHECK_EQ(47, "fw_cfg command line size", size, strlen(cmdline) + 1);
  static char line[4096];
  CHECK(48, "fw_cfg command line fits", size <= sizeof(line));
  fw_cfg_select(0x0015);
  fw_cfg_read(line, size);
  CHECK(49, "fw_cfg command line equals the multiboot one",
        memcmp(line, cmdline, size) == 0);
  check_fw_file();
  (void)mbi;
}

void mb_main(uint32_t magic, const struct mb_info *mbi);
void mb_main(uint32_t magic, const struct mb_info *mbi) {
  CHECK_EQ(1, "EAX boot magic", magic, BOOT_MAGIC);
  CHECK_EQ(2, "info flags", mbi->flags & MBI_NEEDED, MBI_NEEDED);
  cmdline = (const char *)(uintptr_t)mbi->cmdline;
  CHECK(3, "boot loader name",
        mb_strcmp((const char *)(uintptr_t)mbi->boot_loader_name, "libvmm") ==
            0);
  CHECK(4, "mem_lower in (0, 640]", mbi->mem_lower > 0 && mbi->mem_lower <= 640);
  CHECK(5, "mem_upper > 0", mbi->mem_upper > 0);
  CHECK(6, "info block clear of the kernel",
        !overlaps((uintptr_t)mbi, sizeof(*mbi), (uintptr_t)__load_start,
                  _end - __load_start));
  uint32_t cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  CHECK_EQ(7, "CR0.PE set, CR0.PG clear", cr0 & 0x80000001u, 1);
  uint64_t ram = check_mmap(mbi);
  check_modules(mbi);
  check_fw_cfg(mbi, ram);
  mb_printf("mbinfo: ok mem_lower=%u mem_upper=%u mods=%u cmdline=\"%s\"\n",
            mbi->mem_lower, mbi->mem_upper, mbi->mods_count, cmdline);
  mb_exit(MB_PASS);
}
