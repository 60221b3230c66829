/* tests/unit/test_acpi.c — the AML builder and the ACPI tables
 * (src/boot/aml.c, src/boot/acpi.c) for synthetic machines: found by
 * scanning like Linux, structure, lengths and checksums in guest memory,
 * and a round trip through iasl's disassembler where it is installed. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot/aml.h"
#include "hw/acpi_pm.h"
#include "hw/pci.h"
#include "tables_fixture.h"

/* ---- reading the tables back, as a kernel does ------------------------ */

/* The RSDP as Linux finds it: 16-byte steps over 0xe0000-0xfffff, the
 * signature and the ACPI 1.0 checksum. 0 if none. */
static uint64_t scan_rsdp(void) {
  for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
    if (memcmp(gmem(a), "RSD PTR ", 8) == 0 && sum8(a, 20) == 0)
      return a;
  return 0;
}

/* A table by signature through the XSDT, checked (length, checksum). */
static uint64_t xsdt_find(const char *sig) {
  uint64_t rsdp = scan_rsdp();
  CU_ASSERT_FATAL(rsdp != 0);
  uint64_t xsdt = rd64(rsdp + 24);
  uint32_t n = (rd32(xsdt + 4) - 36) / 8;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t t = rd64(xsdt + 36 + 8 * i);
    if (memcmp(gmem(t), sig, 4) == 0) {
      CHECK_U64(sum8(t, rd32(t + 4)), 0);
      return t;
    }
  }
  return 0;
}

/* Every header field a checker looks at, and both RSDP checksums. */
static void check_common(void) {
  uint64_t rsdp = scan_rsdp();
  CU_ASSERT_FATAL(rsdp != 0);
  CHECK_U64(rsdp % 16, 0);
  CHECK_U64(gmem(rsdp)[15], 2);
  CHECK_U64(rd32(rsdp + 20), 36);
  CHECK_U64(sum8(rsdp, 36), 0);
  uint64_t rsdt = rd32(rsdp + 16), xsdt = rd64(rsdp + 24);
  CU_ASSERT(memcmp(gmem(rsdt), "RSDT", 4) == 0);
  CU_ASSERT(memcmp(gmem(xsdt), "XSDT", 4) == 0);
  CHECK_U64(sum8(rsdt, rd32(rsdt + 4)), 0);
  CHECK_U64(sum8(xsdt, rd32(xsdt + 4)), 0);
  /* The RSDT lists the same tables with 32-bit pointers. */
  CHECK_U64((rd32(rsdt + 4) - 36) / 4, (rd32(xsdt + 4) - 36) / 8);
  for (uint32_t i = 0; i < (rd32(rsdt + 4) - 36) / 4; i++)
    CHECK_U64(rd32(rsdt + 36 + 4 * i), rd64(xsdt + 36 + 8 * i));
  /* Everything stays in the BIOS area. */
  uint64_t fadt = xsdt_find("FACP");
  CU_ASSERT_FATAL(fadt != 0);
  CHECK_U64(rd32(fadt + 4), 276);
  CHECK_U64(gmem(fadt)[8], 6);
  uint64_t dsdt = rd64(fadt + 140);
  CHECK_U64(rd32(fadt + 40), dsdt);
  CU_ASSERT(memcmp(gmem(dsdt), "DSDT", 4) == 0);
  CHECK_U64(sum8(dsdt, rd32(dsdt + 4)), 0);
  CU_ASSERT(dsdt + rd32(dsdt + 4) <= 0xf0000);
  uint64_t facs = rd32(fadt + 36);
  CHECK_U64(rd64(fadt + 132), 0); /* X_FIRMWARE_CTRL: one pointer only */
  CHECK_U64(facs % 64, 0);
  CU_ASSERT(memcmp(gmem(facs), "FACS", 4) == 0);
  CHECK_U64(rd32(facs + 4), 64);
}

static bool contains(uint64_t gpa, size_t len, const void *needle, size_t n) {
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(gmem(gpa + i), needle, n) == 0)
      return true;
  return false;
}

/* MADT entries of `type`; with `ids`, the APIC ids of types 0 and 9. */
static uint32_t madt_count(uint64_t madt, uint8_t type, uint32_t *ids) {
  uint32_t n = 0, len = rd32(madt + 4);
  for (uint64_t o = 44; o < len;) {
    uint8_t t = gmem(madt + o)[0], l = gmem(madt + o)[1];
    CU_ASSERT_FATAL(l >= 2 && o + l <= len);
    if (t == type) {
      if (ids && t == 0) {
        CHECK_U64(rd32(madt + o + 4), 1); /* enabled */
        ids[n] = gmem(madt + o)[3];
      }
      if (ids && t == 9) {
        CHECK_U64(rd32(madt + o + 8), 1);
        ids[n] = rd32(madt + o + 4);
      }
      n++;
    }
    o += l;
  }
  return n;
}

static void write_and_check(const vmm__platform_t *p) {
  guest_reset();
  uint64_t rsdp = 0;
  CHECK_RC(vmm__acpi_write(vm, p, &rsdp), 0);
  CHECK_U64(rsdp, scan_rsdp());
  check_common();
  uint64_t madt = xsdt_find("APIC");
  CU_ASSERT_FATAL(madt != 0);
  CHECK_U64(rd32(madt + 36), 0xfee00000);
  uint32_t ids[VMM_MAX_VCPUS];
  uint32_t n = madt_count(madt, 0, ids);
  uint32_t n9 = madt_count(madt, 9, ids + n);
  CHECK_U64(n + n9, p->ncpus);
  for (uint32_t i = 0; i < n + n9; i++)
    CHECK_U64(ids[i], p->apic_ids[i]);
  CHECK_U64(madt_count(madt, 1, NULL), p->irqchip ? 1 : 0);
}

/* ---- the AML builder -------------------------------------------------- */

/* PkgLength: 1 byte while the total (itself included) is at most 63,
 * then 2 bytes below 4 KiB, then 3. */
static void test_aml_pkglength(void) {
  static const struct {
    size_t body;
    unsigned n;
  } cases[] = {{61, 1},   {62, 1},   {63, 2},    {200, 2},
               {4093, 2}, {4094, 3}, {70000, 3}};
  for (size_t c = 0; c < UNIT_COUNT(cases); c++) {
    vmm__aml_t a;
    vmm__aml_init(&a);
    /* A scope whose body (the root name "\\" + NullName, padding) is
     * exactly `body` bytes. */
    vmm__aml_scope(&a, "\\");
    uint8_t *pad = calloc(1, cases[c].body);
    vmm__aml_bytes(&a, pad, cases[c].body - 2);
    free(pad);
    vmm__aml_close(&a);
    CHECK_RC(vmm__aml_finish(&a), 0);
    CHECK_U64(a.len, 1 + cases[c].n + cases[c].body);
    uint8_t lead = a.buf[1];
    CHECK_U64(lead >> 6, cases[c].n - 1u);
    size_t v = lead & (cases[c].n == 1 ? 0x3f : 0x0f);
    for (unsigned i = 1; i < cases[c].n; i++)
      v |= (size_t)a.buf[1 + i] << (4 + 8 * (i - 1));
    CHECK_U64(v, cases[c].n + cases[c].body);
    CU_ASSERT(a.buf[1 + cases[c].n] == '\\');
    vmm__aml_free(&a);
  }
}

static void test_aml_encodings(void) {
  vmm__aml_t a;
  vmm__aml_init(&a);
  vmm__aml_eisaid(&a, "PNP0A03");
  vmm__aml_name(&a, "\\_SB.PCI0");
  vmm__aml_name(&a, "_S5");
  vmm__aml_int(&a, 0);
  vmm__aml_int(&a, 1);
  vmm__aml_int(&a, 0x80);
  vmm__aml_int(&a, 0x1234);
  vmm__aml_int(&a, 0x12345678);
  vmm__aml_int(&a, 0x123456789ull);
  CHECK_RC(vmm__aml_finish(&a), 0);
  static const uint8_t want[] = {
      0x0c, 0x41, 0xd0, 0x0a, 0x03,                       /* EISAID */
      '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', /* dual name */
      '_', 'S', '5', '_',
      0x00, 0x01, 0x0a, 0x80, 0x0b, 0x34, 0x12,
      0x0c, 0x78, 0x56, 0x34, 0x12,
      0x0e, 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0};
  CHECK_U64(a.len, sizeof(want));
  CU_ASSERT(memcmp(a.buf, want, sizeof(want)) == 0);
  vmm__aml_free(&a);
}

/* Bad input sticks as the first error; nothing is left open silently. */
static void test_aml_errors(void) {
  vmm__aml_t a;
  vmm__aml_init(&a);
  vmm__aml_name(&a, "TOOLONG");
  vmm__aml_int(&a, 5);
  CHECK_RC(vmm__aml_finish(&a), VMM_EINVAL);
  CHECK_MSG("name segment");
  vmm__aml_free(&a);
  vmm__aml_init(&a);
  vmm__aml_eisaid(&a, "pnp0a03");
  CHECK_RC(vmm__aml_finish(&a), VMM_EINVAL);
  vmm__aml_free(&a);
  vmm__aml_init(&a);
  vmm__aml_device(&a, "DEV0");
  CHECK_RC(vmm__aml_finish(&a), VMM_EINVAL);
  CHECK_MSG("left open");
  vmm__aml_free(&a);
  vmm__aml_init(&a);
  vmm__aml_close(&a);
  CHECK_RC(vmm__aml_finish(&a), VMM_EINVAL);
  vmm__aml_free(&a);
}

/* ---- the tables ------------------------------------------------------- */

static void test_one_cpu_no_pci(void) {
  vmm__platform_t p;
  machine(&p, 1, false, 0, 0);
  write_and_check(&p);
  uint64_t dsdt = rd64(xsdt_find("FACP") + 140);
  uint32_t len = rd32(dsdt + 4);
  CU_ASSERT(contains(dsdt, len, "_S5_", 4));
  CU_ASSERT(!contains(dsdt, len, "PCI0", 4));
  /* Nothing was written outside the BIOS area. */
  for (uint64_t a = 0; a < 0xe0000; a += 0x1000)
    CU_ASSERT(gmem(a)[0] == FILL);
}

static void test_three_cpus_pci(void) {
  vmm__platform_t p;
  machine(&p, 3, true, 4, 2);
  write_and_check(&p);
  uint64_t madt = xsdt_find("APIC");
  /* IOAPIC: id after the vCPUs, at 0xfec00000, GSI base 0. */
  uint32_t len = rd32(madt + 4);
  bool sci = false;
  uint32_t isos = 0;
  for (uint64_t o = 44; o < len; o += gmem(madt + o)[1]) {
    const uint8_t *e = gmem(madt + o);
    if (e[0] == 1) {
      CHECK_U64(e[2], 3);
      CHECK_U64(rd32(madt + o + 4), 0xfec00000);
      CHECK_U64(rd32(madt + o + 8), 0);
    }
    if (e[0] == 2) {
      isos++;
      CHECK_U64(e[3], rd32(madt + o + 4)); /* identity */
      if (e[3] == VMM__ACPI_SCI_GSI)
        sci = rd16(madt + o + 8) == 0xd;
      else
        CHECK_U64(rd16(madt + o + 8), 0xf); /* device line: level, low */
      CU_ASSERT(e[3] != 0); /* the PIT's IRQ 0 is GSI 0 */
    }
  }
  CU_ASSERT(sci);
  /* SCI + the device lines below 16: 5, 6, 7, 10, 11. */
  CHECK_U64(isos, 6);
  uint64_t fadt = xsdt_find("FACP");
  CHECK_U64(rd16(fadt + 46), VMM__ACPI_SCI_GSI);
  CHECK_U64(rd32(fadt + 56), VMM__ACPI_PM1_EVT);
  CHECK_U64(rd32(fadt + 64), VMM__ACPI_PM1_CNT);
  CHECK_U64(rd64(fadt + 148 + 4), VMM__ACPI_PM1_EVT);
  CHECK_U64(rd64(fadt + 172 + 4), VMM__ACPI_PM1_CNT);
  CHECK_U64(rd32(fadt + 112) & (1u << 20), 0); /* not HW-reduced */
  CHECK_U64(rd16(fadt + 109) & 0x8, 0);        /* MSI allowed */
  CHECK_U64(rd16(fadt + 109) & 0x2, 0);        /* no 8042 to probe */
  uint64_t dsdt = rd64(fadt + 140);
  len = rd32(dsdt + 4);
  CU_ASSERT(contains(dsdt, len, "PCI0", 4));
  CU_ASSERT(contains(dsdt, len, "_PRT", 4));
  CU_ASSERT(contains(dsdt, len, "LNRO0005", 8));
  CU_ASSERT(contains(dsdt, len, "VR01", 4));
  static const uint8_t pnp0a03[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};
  CU_ASSERT(contains(dsdt, len, pnp0a03, sizeof(pnp0a03)));
}

static void test_64_cpus(void) {
  vmm__platform_t p;
  machine(&p, 64, true, 31, 0);
  write_and_check(&p);
  CHECK_U64(rd32(xsdt_find("APIC") + 4), 44 + 64 * 8 + 12 + 6 * 10 + 6);
}

/* Past APIC id 254 the MADT switches to x2APIC entries. */
static void test_256_cpus(void) {
  vmm__platform_t p;
  machine(&p, 256, true, 2, 2);
  write_and_check(&p);
  uint64_t madt = xsdt_find("APIC");
  CHECK_U64(madt_count(madt, 0, NULL), 255);
  CHECK_U64(madt_count(madt, 9, NULL), 1);
  CHECK_U64(madt_count(madt, 0xa, NULL), 1);
}

static void test_no_irqchip(void) {
  vmm__platform_t p;
  machine(&p, 2, false, 0, 1);
  p.irqchip = false;
  write_and_check(&p);
  uint64_t madt = xsdt_find("APIC");
  CHECK_U64(madt_count(madt, 2, NULL), 0);
  CHECK_U64(rd32(madt + 40), 0); /* no 8259s */
}

static void test_bad_platform(void) {
  vmm__platform_t p;
  machine(&p, 1, false, 0, 0);
  p.ncpus = 0;
  CHECK_RC(vmm__acpi_write(vm, &p, NULL), VMM_EINVAL);
  machine(&p, 1, false, 0, 1);
  p.mmio[0].base = 0x100000000ull;
  CHECK_RC(vmm__acpi_write(vm, &p, NULL), VMM_EINVAL);
  CHECK_MSG("above 4 GiB");
  machine(&p, 1, false, 0, 0);
  p.npci = VMM__PLATFORM_MAX_PCI + 1;
  CHECK_RC(vmm__acpi_write(vm, &p, NULL), VMM_EINVAL);
}

/* ---- iasl round trip -------------------------------------------------- */

static bool have_iasl(void) {
  return system("command -v iasl >/dev/null 2>&1") == 0;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

/* Disassembles the table at `gpa` with iasl -d; returns its .dsl text
 * (a static buffer) or NULL. */
static char *iasl_disassemble(const char *dir, const char *name,
                              uint64_t gpa) {
  char path[512], cmd[1200];
  snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  fwrite(gmem(gpa), 1, rd32(gpa + 4), f);
  fclose(f);
  snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat > %s.log 2>&1", dir,
           name, name);
  int st = system(cmd);
  if (st != 0) {
    snprintf(path, sizeof(path), "%s/%s.log", dir, name);
    fprintf(stderr, "\n  iasl -d %s failed:\n%s\n", name, slurp(path));
    return NULL;
  }
  snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
  return slurp(path);
}

static void test_iasl_round_trip(void) {
  if (!have_iasl()) {
    printf("\n  SKIP: iasl not found (Debian package acpica-tools); the "
           "disassembler check did not run\n");
    return;
  }
  vmm__platform_t p;
  machine(&p, 3, true, 5, 2);
  p.pci_irq[4].devfn = (uint8_t)(1 << 3 | 1); /* 01.1: shares INTA */
  p.pci_irq[4].gsi = p.pci_irq[0].gsi;
  p.i8042 = true;
  guest_reset();
  CHECK_RC(vmm__acpi_write(vm, &p, NULL), 0);
  char dir[] = "/tmp/libvmm-acpi-XXXXXX";
  CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
  char *s = iasl_disassemble(dir, "dsdt", rd64(xsdt_find("FACP") + 140));
  CU_ASSERT_FATAL(s != NULL);
  CU_ASSERT(strstr(s, "Incorrect checksum") == NULL);
  CHECK_CONTAINS(s, "Device (PCI0)");
  CHECK_CONTAINS(s, "EisaId (\"PNP0A03\")");
  CHECK_CONTAINS(s, "Name (_BBN, Zero)");
  CHECK_CONTAINS(s, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed");
  CHECK_CONTAINS(s, "0x0CF8,             // Range Minimum");
  CHECK_CONTAINS(s, "0xE0000000,         // Range Minimum");
  CHECK_CONTAINS(s, "0xFEBFFFFF,         // Range Maximum");
  CHECK_CONTAINS(s, "Name (_PRT, Package (0x04)");
  /* Slot 4's INTA goes to the fourth GSI handed out (10). */
  CHECK_CONTAINS(s, "0x0004FFFF");
  CHECK_CONTAINS(s, "Name (\\_S5, Package (0x04)");
  CHECK_CONTAINS(s, "Name (_HID, \"LNRO0005\")");
  CHECK_CONTAINS(s, "Memory32Fixed (ReadWrite,");
  CHECK_CONTAINS(s, "Interrupt (ResourceConsumer, Level, ActiveLow, "
                    "Exclusive, ,, )");
  CHECK_CONTAINS(s, "0x00000010,"); /* the second mmio line: GSI 16 */

  s = iasl_disassemble(dir, "apic", xsdt_find("APIC"));
  CU_ASSERT_FATAL(s != NULL);
  CU_ASSERT(strstr(s, "Incorrect checksum") == NULL);
  CHECK_CONTAINS(s, "Subtable Type : 01 [I/O APIC]");
  CHECK_CONTAINS(s, "Address : FEC00000");
  CHECK_CONTAINS(s, "Subtable Type : 02 [Interrupt Source Override]");
  CHECK_CONTAINS(s, "Local Apic ID : 02");

  s = iasl_disassemble(dir, "facp", xsdt_find("FACP"));
  CU_ASSERT_FATAL(s != NULL);
  CU_ASSERT(strstr(s, "Incorrect checksum") == NULL);
  CHECK_CONTAINS(s, "PM1A Event Block Address : 00000600");
  CHECK_CONTAINS(s, "PM1A Control Block Address : 00000604");
  CHECK_CONTAINS(s, "SCI Interrupt : 0009");
  CHECK_CONTAINS(s, "Reset Register Supported (V2) : 1");
  char cmd[600];
  snprintf(cmd, sizeof(cmd), getenv("KEEP") ? "true %s" : "rm -rf %s", dir);
  CU_ASSERT(system(cmd) == 0);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  static const struct unit_test aml[] = {
      UNIT_TEST(test_aml_pkglength),
      UNIT_TEST(test_aml_encodings),
      UNIT_TEST(test_aml_errors),
  };
  static const struct unit_test tables[] = {
      UNIT_TEST(test_one_cpu_no_pci),  UNIT_TEST(test_three_cpus_pci),
      UNIT_TEST(test_64_cpus),         UNIT_TEST(test_256_cpus),
      UNIT_TEST(test_no_irqchip),      UNIT_TEST(test_bad_platform),
      UNIT_TEST(test_iasl_round_trip),
  };
  if (guest_init() != 0) {
    fprintf(stderr, "guest memory set-up failed\n");
    return 99;
  }
  if (!unit_add_suite("aml", NULL, NULL, aml, UNIT_COUNT(aml)) ||
      !unit_add_suite("acpi", NULL, NULL, tables, UNIT_COUNT(tables))) {
    CU_cleanup_registry();
    return 99;
  }
  int rc = unit_run();
  guest_fini();
  return rc;
}
