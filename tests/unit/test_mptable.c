/* tests/unit/test_mptable.c — the MP table (src/boot/mptable.c) for
 * synthetic machines: found by scanning like Linux, checksums, entries. */
#include "hw/acpi_pm.h"
#include "tables_fixture.h"

/* The floating pointer as Linux looks for it: 16-byte steps over the
 * EBDA's first KiB and the BIOS area, signature, length 1, checksum. */
static uint64_t scan_mp(void) {
  static const uint64_t ranges[][2] = {{0x9fc00, 0xa0000},
                                       {0xf0000, 0x100000}};
  for (int r = 0; r < 2; r++)
    for (uint64_t a = ranges[r][0]; a < ranges[r][1]; a += 16)
      if (memcmp(gmem(a), "_MP_", 4) == 0 && gmem(a)[8] == 1 &&
          sum8(a, 16) == 0)
        return a;
  return 0;
}

struct mp {
  uint32_t cpus, bsp, buses, ioapics, ioints, lints;
  uint32_t apic_ids[256];
  uint8_t ioapic_id;
  uint8_t pci_bus, isa_bus;
  uint64_t cfg;
};

static void parse(struct mp *m) {
  memset(m, 0, sizeof(*m));
  m->pci_bus = m->isa_bus = 0xff;
  uint64_t fp = scan_mp();
  CU_ASSERT_FATAL(fp != 0);
  CHECK_U64(gmem(fp)[9], 4);
  CHECK_U64(gmem(fp)[11], 0); /* a table, not a default configuration */
  uint64_t c = rd32(fp + 4);
  m->cfg = c;
  CU_ASSERT_FATAL(memcmp(gmem(c), "PCMP", 4) == 0);
  uint16_t len = rd16(c + 4), count = rd16(c + 34);
  CHECK_U64(sum8(c, len), 0);
  CHECK_U64(gmem(c)[6], 4);
  CHECK_U64(rd32(c + 36), 0xfee00000);
  uint64_t o = 44;
  for (uint16_t i = 0; i < count; i++) {
    CU_ASSERT_FATAL(o < len);
    const uint8_t *e = gmem(c + o);
    switch (e[0]) {
    case 0:
      CHECK_U64(e[3] & 1, 1);
      if (e[3] & 2)
        m->bsp++;
      m->apic_ids[m->cpus++] = e[1];
      o += 20;
      continue;
    case 1:
      m->buses++;
      if (memcmp(e + 2, "PCI   ", 6) == 0)
        m->pci_bus = e[1];
      if (memcmp(e + 2, "ISA   ", 6) == 0)
        m->isa_bus = e[1];
      break;
    case 2:
      m->ioapics++;
      m->ioapic_id = e[1];
      CHECK_U64(rd32(c + o + 4), 0xfec00000);
      break;
    case 3: m->ioints++; break;
    case 4: m->lints++; break;
    default: CU_FAIL_FATAL("unknown MP entry type");
    }
    o += 8;
  }
  CHECK_U64(o, len);
}

/* The I/O interrupt entry from `bus`/`irq`, or NULL. */
static const uint8_t *ioint(const struct mp *m, uint8_t bus, uint8_t irq) {
  uint16_t count = rd16(m->cfg + 34);
  uint64_t o = 44;
  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = gmem(m->cfg + o);
    if (e[0] == 3 && e[4] == bus && e[5] == irq)
      return e;
    o += e[0] == 0 ? 20 : 8;
  }
  return NULL;
}

static void test_one_cpu(void) {
  vmm__platform_t p;
  machine(&p, 1, false, 0, 0);
  guest_reset();
  uint64_t at = 0;
  CHECK_RC(vmm__mptable_write(vm, &p, &at), 0);
  CHECK_U64(at, 0x9fc00);
  struct mp m;
  parse(&m);
  CHECK_U64(m.cpus, 1);
  CHECK_U64(m.bsp, 1);
  CHECK_U64(m.buses, 1);
  CHECK_U64(m.isa_bus, 0);
  CHECK_U64(m.ioapics, 1);
  CHECK_U64(m.ioapic_id, 1);
  CHECK_U64(m.ioints, 15); /* ISA 0-15 but the cascade */
  CHECK_U64(m.lints, 2);
  const uint8_t *timer = ioint(&m, m.isa_bus, 0);
  CU_ASSERT_FATAL(timer != NULL);
  CHECK_U64(timer[7], 0); /* PIT on IOAPIC pin 0 */
  const uint8_t *sci = ioint(&m, m.isa_bus, VMM__ACPI_SCI_GSI);
  CU_ASSERT_FATAL(sci != NULL);
  CHECK_U64(sci[2], 0xd);
  CU_ASSERT(ioint(&m, m.isa_bus, 2) == NULL);
}

static void test_three_cpus_pci(void) {
  vmm__platform_t p;
  machine(&p, 3, true, 4, 2);
  guest_reset();
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), 0);
  struct mp m;
  parse(&m);
  CHECK_U64(m.cpus, 3);
  CHECK_U64(m.bsp, 1);
  for (uint32_t i = 0; i < 3; i++)
    CHECK_U64(m.apic_ids[i], i);
  CHECK_U64(m.pci_bus, 0);
  CHECK_U64(m.isa_bus, 1);
  CHECK_U64(m.ioapic_id, 3);
  /* PCI functions: source irq = slot << 2 | (pin - 1), level low. */
  for (uint32_t i = 0; i < p.npci; i++) {
    uint8_t slot = p.pci_irq[i].devfn >> 3;
    const uint8_t *e = ioint(&m, m.pci_bus, (uint8_t)(slot << 2));
    CU_ASSERT_FATAL(e != NULL);
    CHECK_U64(e[7], p.pci_irq[i].gsi);
    CHECK_U64(e[6], m.ioapic_id);
    CHECK_U64(rd16(m.cfg + (uint64_t)(e - gmem(m.cfg)) + 2), 0xf);
    /* ...and not listed as an ISA interrupt as well. */
    CU_ASSERT(p.pci_irq[i].gsi >= 16 ||
              ioint(&m, m.isa_bus, (uint8_t)p.pci_irq[i].gsi) == NULL);
  }
  /* virtio-mmio lines: 11 (ISA range, level) and 16 (beyond). */
  const uint8_t *e = ioint(&m, m.isa_bus, 11);
  CU_ASSERT_FATAL(e != NULL);
  CHECK_U64(e[2], 0xf);
  e = ioint(&m, m.isa_bus, 16);
  CU_ASSERT_FATAL(e != NULL);
  CHECK_U64(e[7], 16);
  /* 15 ISA - 4 PCI lines in the ISA range + 1 mmio above + 4 PCI */
  CHECK_U64(m.ioints, 15 - 4 + 1 + 4);
}

/* 64 processors do not fit in the EBDA: the configuration table moves to
 * the BIOS area, the floating pointer stays. */
static void test_64_cpus(void) {
  vmm__platform_t p;
  machine(&p, 64, true, 8, 0);
  guest_reset();
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), 0);
  struct mp m;
  parse(&m);
  CHECK_U64(m.cpus, 64);
  CHECK_U64(m.bsp, 1);
  CHECK_U64(m.ioapic_id, 64);
  CU_ASSERT(m.cfg >= 0xf0000);
  CHECK_U64(scan_mp(), 0x9fc00);
}

/* An APIC id of 255 or more does not fit an MP processor entry: such a
 * vCPU is left out (the MADT lists it as an x2APIC). */
static void test_256_cpus(void) {
  vmm__platform_t p;
  machine(&p, 256, false, 0, 0);
  guest_reset();
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), 0);
  struct mp m;
  parse(&m);
  CHECK_U64(m.cpus, 255);
}

static void test_no_irqchip(void) {
  vmm__platform_t p;
  machine(&p, 2, false, 0, 0);
  p.irqchip = false;
  guest_reset();
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), 0);
  struct mp m;
  parse(&m);
  CHECK_U64(m.cpus, 2);
  CHECK_U64(m.ioapics, 0);
  CHECK_U64(m.ioints, 0);
}

static void test_bad_platform(void) {
  vmm__platform_t p;
  machine(&p, 1, false, 0, 0);
  p.ncpus = 0;
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), VMM_EINVAL);
  machine(&p, 1, false, 0, 0);
  p.nmmio = VMM__PLATFORM_MAX_MMIO + 1;
  CHECK_RC(vmm__mptable_write(vm, &p, NULL), VMM_EINVAL);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  static const struct unit_test tests[] = {
      UNIT_TEST(test_one_cpu),  UNIT_TEST(test_three_cpus_pci),
      UNIT_TEST(test_64_cpus),  UNIT_TEST(test_256_cpus),
      UNIT_TEST(test_no_irqchip), UNIT_TEST(test_bad_platform),
  };
  if (guest_init() != 0) {
    fprintf(stderr, "guest memory set-up failed\n");
    return 99;
  }
  if (!unit_add_suite("mptable", NULL, NULL, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  int rc = unit_run();
  guest_fini();
  return rc;
}
