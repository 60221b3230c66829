/* tests/guests/multiboot/tables.c — "mbtables": a multiboot kernel that
 * reads the platform tables the way kernels do and checks them against the
 * machine: the RSDP found by scanning the BIOS area, XSDT → MADT (CPUs,
 * IOAPIC, answered by the real IOAPIC and local APIC), FADT → DSDT (\_S5),
 * the MP table found by scanning like Linux, PCI INTx entries against each
 * function's interrupt-line register, the PM timer. Exits through the
 * debug-exit port with MB_PASS or MB_FAIL + the failed check, or powers
 * off through the PM1a control register.
 *
 * Command line:
 *   cpus=N       vCPUs the tables must list (default 1)
 *   acpi=0       no RSDP expected            mp=0   no MP table expected
 *   poweroff=1   finish by writing S5 + SLP_EN (the VM stops, status 0)
 *   sleep=T      first write SLP_TYP T + SLP_EN (must be ignored: WAK_STS)
 */
#include "mb.h"

static NORETURN void fail(uint32_t check, const char *what, uint64_t got,
                          uint64_t want) {
  mb_printf("mbtables: FAIL %u: %s: got 0x%llx, want 0x%llx\n", check, what,
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

#define U8(a) (*(volatile const uint8_t *)(uintptr_t)(a))
#define U16(a) (*(volatile const uint16_t *)(uintptr_t)(a))
#define U32(a) (*(volatile uint32_t *)(uintptr_t)(a))

static uint8_t sum(uint32_t a, uint32_t len) {
  uint8_t s = 0;
  for (uint32_t i = 0; i < len; i++)
    s = (uint8_t)(s + U8(a + i));
  return s;
}

static int sig(uint32_t a, const char *s, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (U8(a + i) != (uint8_t)s[i])
      return 0;
  return 1;
}

/* ---- ACPI ------------------------------------------------------------- */

static uint32_t find_rsdp(void) {
  for (uint32_t a = 0xe0000; a < 0x100000; a += 16)
    if (sig(a, "RSD PTR ", 8) && sum(a, 20) == 0)
      return a;
  return 0;
}

static uint32_t fadt, madt;

static void walk_xsdt(uint32_t rsdp) {
  CHECK_EQ(2, "RSDP revision", U8(rsdp + 15), 2);
  CHECK_EQ(3, "RSDP extended checksum", sum(rsdp, 36), 0);
  uint32_t xsdt = U32(rsdp + 24);
  CHECK_EQ(4, "XSDT above 4 GiB", U32(rsdp + 28), 0);
  CHECK(5, "XSDT signature", sig(xsdt, "XSDT", 4));
  CHECK_EQ(6, "XSDT checksum", sum(xsdt, U32(xsdt + 4)), 0);
  uint32_t n = (U32(xsdt + 4) - 36) / 8;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t t = U32(xsdt + 36 + 8 * i);
    CHECK_EQ(7, "table checksum", sum(t, U32(t + 4)), 0);
    if (sig(t, "FACP", 4))
      fadt = t;
    if (sig(t, "APIC", 4))
      madt = t;
  }
  CHECK(8, "FADT listed", fadt);
  CHECK(9, "MADT listed", madt);
}

static uint32_t ioapic_read(uint32_t reg) {
  U32(0xfec00000) = reg;
  return U32(0xfec00010);
}

/* The CPUs the MADT lists; the IOAPIC entry checked against the chip. */
static uint32_t check_madt(void) {
  uint32_t len = U32(madt + 4), cpus = 0, ioapics = 0, first_id = 0xffffffff;
  for (uint32_t o = 44; o < len; o += U8(madt + o + 1)) {
    CHECK(10, "MADT entry length", U8(madt + o + 1) >= 2);
    uint8_t type = U8(madt + o);
    if (type == 0 || type == 9) {
      uint32_t flags = U32(madt + o + (type == 0 ? 4 : 8));
      CHECK_EQ(11, "processor enabled", flags & 1, 1);
      if (first_id == 0xffffffff)
        first_id = type == 0 ? U8(madt + o + 3) : U32(madt + o + 4);
      cpus++;
    }
    if (type == 1) {
      ioapics++;
      CHECK_EQ(12, "IOAPIC address", U32(madt + o + 4), 0xfec00000);
      CHECK_EQ(13, "IOAPIC GSI base", U32(madt + o + 8), 0);
    }
  }
  CHECK_EQ(14, "IOAPICs in the MADT", ioapics, 1);
  /* Version register: 0x11, 24 redirection entries (max index 23). */
  uint32_t ver = ioapic_read(1);
  CHECK_EQ(15, "IOAPIC version", ver & 0xff, 0x11);
  CHECK_EQ(16, "IOAPIC redirection entries - 1", (ver >> 16) & 0xff, 23);
  /* The BSP's local APIC id is the first processor's. */
  CHECK_EQ(17, "BSP APIC id", U32(0xfee00020) >> 24, first_id);
  return cpus;
}

/* SLP_TYPa of \_S5 in the DSDT: NameOp, "\_S5_", PackageOp, PkgLength,
 * count, then the first element (Zero, One or a BytePrefix constant). */
static uint32_t s5_type(uint32_t dsdt) {
  uint32_t len = U32(dsdt + 4);
  for (uint32_t o = 36; o + 8 < len; o++) {
    if (!sig(dsdt + o, "_S5_", 4) || U8(dsdt + o + 4) != 0x12)
      continue;
    uint32_t p = dsdt + o + 5;
    p += 1 + (U8(p) >> 6); /* PkgLength */
    p++;                   /* element count */
    uint8_t op = U8(p);
    if (op == 0x00 || op == 0x01)
      return op;
    if (op == 0x0a)
      return U8(p + 1);
    fail(20, "\\_S5 first element opcode", op, 0x0a);
  }
  fail(21, "\\_S5 found in the DSDT", 0, 1);
}

static uint32_t pm1a_cnt, pm1a_evt, pm_tmr, slp_typ;

static void check_fadt(void) {
  uint32_t dsdt = U32(fadt + 140);
  CHECK_EQ(22, "FADT X_DSDT = DSDT", dsdt, U32(fadt + 40));
  CHECK(23, "DSDT signature", sig(dsdt, "DSDT", 4));
  CHECK_EQ(24, "DSDT checksum", sum(dsdt, U32(dsdt + 4)), 0);
  pm1a_evt = U32(fadt + 56);
  pm1a_cnt = U32(fadt + 64);
  pm_tmr = U32(fadt + 76);
  CHECK(25, "PM1a control block", pm1a_cnt != 0);
  slp_typ = s5_type(dsdt);
  /* ACPI mode already (no SMI command port): SCI_EN reads 1. */
  CHECK_EQ(26, "SMI_CMD", U32(fadt + 48), 0);
  CHECK_EQ(27, "SCI_EN", inw((uint16_t)pm1a_cnt) & 1, 1);
  /* The PM timer counts at 3.58 MHz. */
  uint32_t t0 = inl((uint16_t)pm_tmr);
  for (volatile int i = 0; i < 20000; i++)
    ;
  uint32_t t1 = inl((uint16_t)pm_tmr);
  CHECK(28, "PM timer advances", t1 != t0);
}

/* ---- MP table --------------------------------------------------------- */

static uint32_t find_mp(void) {
  static const uint32_t ranges[][2] = {
      {0x0, 0x400}, {639 * 0x400, 640 * 0x400}, {0xf0000, 0x100000}};
  for (int r = 0; r < 3; r++)
    for (uint32_t a = ranges[r][0]; a < ranges[r][1]; a += 16)
      if (sig(a, "_MP_", 4) && U8(a + 8) == 1 && sum(a, 16) == 0)
        return a;
  return 0;
}

static uint32_t pci_cfg_read(uint32_t dev, uint32_t off) {
  outl(0xcf8, 0x80000000u | dev << 11 | (off & 0xfc));
  return inl(0xcfc) >> (8 * (off & 3));
}

static uint32_t check_mp(uint32_t fp) {
  uint32_t cfg = U32(fp + 4);
  CHECK(40, "MP configuration table signature", sig(cfg, "PCMP", 4));
  uint32_t len = U16(cfg + 4), count = U16(cfg + 34);
  CHECK_EQ(41, "MP table checksum", sum(cfg, len), 0);
  uint32_t cpus = 0, bsp = 0, o = 44;
  int pci_bus = -1;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t type = U8(cfg + o);
    if (type == 0) {
      cpus++;
      bsp += (U8(cfg + o + 3) & 2) != 0;
      o += 20;
      continue;
    }
    if (type == 1 && sig(cfg + o + 2, "PCI", 3))
      pci_bus = U8(cfg + o + 1);
    o += 8;
  }
  CHECK_EQ(42, "MP table length", o, len);
  CHECK_EQ(43, "MP BSP entries", bsp, 1);
  /* Every PCI function with an interrupt pin has an entry whose IOAPIC
   * pin is the line its interrupt-line register names. */
  for (uint32_t dev = 1; dev < 32; dev++) {
    if ((pci_cfg_read(dev, 0) & 0xffff) == 0xffff)
      continue;
    uint32_t pin = pci_cfg_read(dev, 0x3d) & 0xff;
    uint32_t line = pci_cfg_read(dev, 0x3c) & 0xff;
    if (!pin)
      continue;
    CHECK(44, "a PCI bus entry", pci_bus >= 0);
    int found = 0;
    o = 44;
    for (uint32_t i = 0; i < count; i++) {
      uint8_t type = U8(cfg + o);
      if (type == 3 && U8(cfg + o + 4) == pci_bus &&
          U8(cfg + o + 5) == (dev << 2 | (pin - 1))) {
        CHECK_EQ(45, "PCI INTx routed to its line", U8(cfg + o + 7), line);
        found = 1;
      }
      o += type == 0 ? 20 : 8;
    }
    CHECK(46, "PCI function has an MP interrupt entry", found);
    mb_printf("mbtables: pci device %u pin %u -> GSI %u\n", dev, pin, line);
  }
  return cpus;
}

void mb_main(uint32_t magic, const char *mbi);
void mb_main(uint32_t magic, const char *mbi) {
  const char *cmdline = (const char *)(uintptr_t)((const uint32_t *)mbi)[4];
  CHECK_EQ(1, "multiboot magic", magic, 0x2badb002u);
  uint32_t cpus = (uint32_t)parse_num(cmdline_value(cmdline, "cpus"), 1);
  int want_acpi = parse_num(cmdline_value(cmdline, "acpi"), 1) != 0;
  int want_mp = parse_num(cmdline_value(cmdline, "mp"), 1) != 0;

  uint32_t rsdp = find_rsdp();
  CHECK_EQ(30, "RSDP found by scanning", rsdp != 0, want_acpi);
  if (rsdp) {
    walk_xsdt(rsdp);
    CHECK_EQ(31, "MADT processors", check_madt(), cpus);
    check_fadt();
  }
  uint32_t fp = find_mp();
  CHECK_EQ(32, "MP floating pointer found by scanning", fp != 0, want_mp);
  if (fp)
    CHECK_EQ(33, "MP processors", check_mp(fp), cpus);
  mb_printf("mbtables: rsdp=0x%x mp=0x%x cpus=%u s5=%u\n", rsdp, fp, cpus,
            slp_typ);

  const char *sleep = cmdline_value(cmdline, "sleep");
  if (sleep && rsdp) {
    /* Another sleep state: ignored, the guest is woken at once. */
    uint32_t typ = (uint32_t)parse_num(sleep, 0) & 7;
    outw((uint16_t)pm1a_evt, 0x8000); /* clear WAK_STS */
    outw((uint16_t)pm1a_cnt, (uint16_t)(typ << 10 | 1u << 13));
    CHECK_EQ(50, "WAK_STS after an ignored sleep", inw((uint16_t)pm1a_evt) >> 15,
             1);
    outw((uint16_t)pm1a_evt, 0x8000);
    CHECK_EQ(51, "WAK_STS cleared by writing 1", inw((uint16_t)pm1a_evt) >> 15,
             0);
    CHECK_EQ(52, "SLP_EN reads 0", (inw((uint16_t)pm1a_cnt) >> 13) & 1, 0);
  }
  if (parse_num(cmdline_value(cmdline, "poweroff"), 0) && rsdp) {
    mb_printf("mbtables: powering off (S5)\n");
    outw((uint16_t)pm1a_cnt, (uint16_t)(slp_typ << 10 | 1u << 13));
    for (volatile int i = 0; i < 1000000; i++)
      ;
    fail(53, "still running after S5", 1, 0);
  }
  mb_printf("mbtables: ok\n");
  mb_exit(MB_PASS);
}
