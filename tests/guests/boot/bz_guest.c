/* tests/guests/boot/bz_guest.c — the bzImage test kernel: checks from the
 * inside what the Linux 64-bit boot protocol promises (boot_params with
 * the setup header copy, selectors, mode, e820, command line, initrd) and
 * reports values for the host to compare with what it put there. */
#include "boot_guest.h"
#include "guest.h"

extern uint64_t boot_rsi, boot_rsp, boot_rflags;
extern char startup_64[];

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p) {
  return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint16_t sel(int which) {
  uint16_t v = 0;
  switch (which) {
  case 0: __asm__ volatile("mov %%cs, %0" : "=r"(v)); break;
  case 1: __asm__ volatile("mov %%ds, %0" : "=r"(v)); break;
  case 2: __asm__ volatile("mov %%ss, %0" : "=r"(v)); break;
  default: __asm__ volatile("mov %%es, %0" : "=r"(v)); break;
  }
  return v;
}

void bz_main(void);
void bz_main(void) {
  const uint8_t *bp = (const uint8_t *)(uintptr_t)boot_rsi;
  /* The mode: 64-bit, paging on, interrupts off, Linux's selectors. */
  uint64_t cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  GUEST_ASSERT(cr0 & (1ull << 31));
  GUEST_ASSERT(!(boot_rflags & (1ull << 9)));
  GUEST_ASSERT_EQ(sel(0), BOOT_CS);
  GUEST_ASSERT_EQ(sel(1), BOOT_DS);
  GUEST_ASSERT_EQ(sel(2), BOOT_DS);
  GUEST_ASSERT_EQ(sel(3), BOOT_DS);
  /* The GDT entry behind CS is 64-bit code (L set), present. */
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } gdtr;
  __asm__ volatile("sgdt %0" : "=m"(gdtr));
  GUEST_ASSERT(gdtr.limit >= BOOT_DS + 7);
  uint64_t cs_desc = ((const uint64_t *)(uintptr_t)gdtr.base)[BOOT_CS / 8];
  GUEST_ASSERT(cs_desc & (1ull << 53)); /* L */
  GUEST_ASSERT(cs_desc & (1ull << 47)); /* P */
  GUEST_ASSERT(cs_desc & (1ull << 43)); /* code */
  uint64_t ds_desc = ((const uint64_t *)(uintptr_t)gdtr.base)[BOOT_DS / 8];
  GUEST_ASSERT(ds_desc & (1ull << 47));
  GUEST_ASSERT(!(ds_desc & (1ull << 43))); /* data */
  GUEST_ASSERT(ds_desc & (1ull << 41));    /* writable */
  /* Entered at load address + 0x200. */
  GUEST_ASSERT_EQ((uintptr_t)startup_64, BOOT_BZ_LOAD + 0x200);

  /* boot_params: the setup header copy and the loader's fields. */
  GUEST_ASSERT_EQ(rd16(bp + 0x1fe), 0xaa55);
  GUEST_ASSERT_EQ(rd32(bp + 0x202), 0x53726448); /* "HdrS" */
  GUEST_ASSERT_EQ(rd16(bp + 0x206), 0x020f);
  GUEST_ASSERT_EQ(bp[0x210], 0xff);              /* type_of_loader */
  GUEST_ASSERT(bp[0x211] & 1);                   /* LOADED_HIGH */
  GUEST_ASSERT_EQ(rd32(bp + 0x214), BOOT_BZ_LOAD); /* code32_start */
  GUEST_ASSERT_EQ(rd64(bp + 0x258), BOOT_BZ_LOAD); /* pref_address */
  GUEST_ASSERT_EQ(rd32(bp + 0x238), BOOT_BZ_CMDLINE_SIZE);
  GUEST_ASSERT_EQ(rd32(bp + 0x22c), BOOT_BZ_INITRD_MAX);

  /* e820: sorted, non-overlapping; RAM summed for the host. */
  unsigned n = bp[0x1e8];
  GUEST_ASSERT(n > 0 && n <= 128);
  uint64_t ram = 0, prev_end = 0;
  for (unsigned i = 0; i < n; i++) {
    const uint8_t *e = bp + 0x2d0 + 20 * i;
    uint64_t addr = rd64(e), size = rd64(e + 8);
    uint32_t type = rd32(e + 16);
    GUEST_ASSERT(size > 0);
    GUEST_ASSERT(addr >= prev_end);
    prev_end = addr + size;
    if (type == 1)
      ram += size;
  }
  GUEST_ASSERT_EQ(rd64(bp + 0x2d0), 0); /* first entry: low RAM at 0 */

  /* The command line and the initrd, hashed in place. */
  const char *cmd = (const char *)(uintptr_t)rd32(bp + 0x228);
  uint64_t cmdlen = strlen(cmd);
  GUEST_ASSERT(cmdlen <= BOOT_BZ_CMDLINE_SIZE);
  uint64_t initrd = rd32(bp + 0x218) | (uint64_t)rd32(bp + 0xc0) << 32;
  uint64_t initrd_len = rd32(bp + 0x21c) | (uint64_t)rd32(bp + 0xc4) << 32;
  uint64_t initrd_hash = 0;
  if (initrd_len) {
    GUEST_ASSERT((initrd & 0xfff) == 0);
    GUEST_ASSERT(initrd + initrd_len - 1 <= BOOT_BZ_INITRD_MAX);
    initrd_hash = boot_hash((const void *)(uintptr_t)initrd, initrd_len);
  }
  GUEST_SYNC(boot_rsi, n, ram, boot_hash(cmd, cmdlen), initrd, initrd_hash);
  GUEST_SYNC(cmdlen, initrd_len, rd64(bp + 0x70), boot_rsp);
  guest_done();
}
