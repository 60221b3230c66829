/* src/boot/acpi.c — the ACPI tables of a VM (ACPI 6.x): RSDP, RSDT, XSDT,
 * FADT with FACS, MADT and a DSDT (\_S5, the PCI host bridge with its
 * windows and interrupt routing, the virtio-mmio devices), written in the
 * BIOS area where kernels scan for the RSDP. */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "boot/aml.h"
#include "boot/boot_internal.h"
#include "error.h"
#include "hw/acpi_pm.h"
#include "hw/pci.h"

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u
#define HDR 36 /* the common table header */
/* The lower half of the BIOS area; the upper half may hold a large MP
 * table (mptable.c). */
#define AREA 0x10000u

#define FADT_LEN 276 /* revision 6 */
#define FACS_LEN 64

/* MADT interrupt flags (MPS INTI flags): polarity bits 1:0, trigger 3:2. */
#define INTI_HIGH 0x1u
#define INTI_LOW 0x3u
#define INTI_EDGE (0x1u << 2)
#define INTI_LEVEL (0x3u << 2)

/* The end of the PCI memory window: BARs are placed from
 * VMM__PCI_MMIO_WINDOW up to the IOAPIC (src/hw/pci.c). */
#define PCI_WINDOW_END 0xfebfffffu


static uint8_t checksum(const uint8_t *p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; i++)
    s = (uint8_t)(s + p[i]);
  return (uint8_t)-s;
}

/* The common header; the checksum is set by seal() once the table is
 * complete. */
static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev) {
  memcpy(t, sig, 4);
  vmm__wr32(t + 4, len);
  t[8] = rev;
  memcpy(t + 10, "LIBVMM", 6);
  memcpy(t + 16, "LIBVMM  ", 8);
  vmm__wr32(t + 24, 1);          /* OEM revision */
  memcpy(t + 28, "LVMM", 4); /* creator */
  vmm__wr32(t + 32, 1);
}

static void seal(uint8_t *t) {
  uint32_t len = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 |
                 (uint32_t)t[7] << 24;
  t[9] = 0;
  t[9] = checksum(t, len);
}

/* A generic address structure: system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint16_t port) {
  g[0] = 1;
  g[1] = bits;
  g[2] = 0;
  g[3] = access; /* 1 byte, 2 word, 3 dword */
  vmm__wr64(g + 4, port);
}

/* Device GSIs are level-triggered lines (virtio-mmio and PCI INTx hold
 * them until acknowledged); active-low is what Linux assumes for a _PRT
 * entry without a link device, and KVM's IOAPIC ignores polarity, so one
 * setting serves every description of the line. */
static bool device_gsi(const vmm__platform_t *p, uint32_t gsi) {
  for (uint32_t i = 0; i < p->npci; i++)
    if (p->pci_irq[i].gsi == gsi)
      return true;
  for (uint32_t i = 0; i < p->nmmio; i++)
    if (p->mmio[i].gsi == gsi)
      return true;
  return false;
}

/* ---- DSDT ------------------------------------------------------------- */

static void dsdt_pci(vmm__aml_t *a, const vmm__platform_t *p) {
  vmm__aml_device(a, "PCI0");
  vmm__aml_name_decl(a, "_HID");
  vmm__aml_eisaid(a, "PNP0A03");
  vmm__aml_name_decl(a, "_UID");
  vmm__aml_int(a, 0);
  vmm__aml_name_decl(a, "_SEG");
  vmm__aml_int(a, 0);
  vmm__aml_name_decl(a, "_BBN");
  vmm__aml_int(a, 0);
  vmm__aml_name_decl(a, "_ADR");
  vmm__aml_int(a, 0);
  /* What the bridge decodes: bus 0, its own configuration ports, the
   * rest of the I/O space (the legacy devices sit behind it as on a PC)
   * and the window libvmm places BARs in. */
  vmm__aml_name_decl(a, "_CRS");
  vmm__aml_buffer(a);
  vmm__aml_res_bus_number(a, 0, 0);
  vmm__aml_res_io(a, 0xcf8, 8);
  vmm__aml_res_word_io(a, 0x0000, 0x0cf7);
  vmm__aml_res_word_io(a, 0x0d00, 0xffff);
  vmm__aml_res_dword_memory(a, (uint32_t)VMM__PCI_MMIO_WINDOW,
                            PCI_WINDOW_END);
  vmm__aml_res_end(a);
  vmm__aml_close(a);
  /* Each function's pin goes straight to the GSI its device raises
   * (source 0: a GSI, not a link device). One entry per (slot, pin):
   * functions of one slot share their pins' lines. */
  uint32_t n = 0;
  uint8_t seen[32] = {0}; /* bit (pin - 1) per slot */
  for (uint32_t i = 0; i < p->npci; i++) {
    uint8_t slot = p->pci_irq[i].devfn >> 3, pin = p->pci_irq[i].pin;
    if (pin >= 1 && pin <= 4 && !(seen[slot] & (1u << (pin - 1)))) {
      seen[slot] |= (uint8_t)(1u << (pin - 1));
      n++;
    }
  }
  vmm__aml_name_decl(a, "_PRT");
  vmm__aml_package(a, n);
  memset(seen, 0, sizeof(seen));
  for (uint32_t i = 0; i < p->npci; i++) {
    uint8_t slot = p->pci_irq[i].devfn >> 3, pin = p->pci_irq[i].pin;
    if (pin < 1 || pin > 4 || (seen[slot] & (1u << (pin - 1))))
      continue;
    seen[slot] |= (uint8_t)(1u << (pin - 1));
    vmm__aml_package(a, 4);
    vmm__aml_int(a, (uint64_t)slot << 16 | 0xffff); /* all functions */
    vmm__aml_int(a, pin - 1u);
    vmm__aml_int(a, 0);
    vmm__aml_int(a, p->pci_irq[i].gsi);
    vmm__aml_close(a);
  }
  vmm__aml_close(a);
  vmm__aml_close(a); /* PCI0 */
}

/* virtio-mmio devices as Linux's virtio_mmio driver matches them in ACPI
 * ("LNRO0005"): so a stock kernel finds them without a command line. */
static void dsdt_mmio(vmm__aml_t *a, const vmm__platform_t *p) {
  for (uint32_t i = 0; i < p->nmmio; i++) {
    char name[5];
    static const char hex[] = "0123456789ABCDEF";
    name[0] = 'V';
    name[1] = 'R';
    name[2] = hex[(i >> 4) & 0xf];
    name[3] = hex[i & 0xf];
    name[4] = 0;
    vmm__aml_device(a, name);
    vmm__aml_name_decl(a, "_HID");
    vmm__aml_string(a, "LNRO0005");
    vmm__aml_name_decl(a, "_UID");
    vmm__aml_int(a, i);
    vmm__aml_name_decl(a, "_CRS");
    vmm__aml_buffer(a);
    vmm__aml_res_memory32(a, (uint32_t)p->mmio[i].base,
                          (uint32_t)p->mmio[i].size);
    vmm__aml_res_interrupt(a, p->mmio[i].gsi, true, true);
    vmm__aml_res_end(a);
    vmm__aml_close(a);
    vmm__aml_close(a);
  }
}

/* Builds the DSDT (header and AML) into a fresh buffer. */
static int dsdt_build(const vmm__platform_t *p, uint8_t **out, size_t *len) {
  vmm__aml_t a;
  vmm__aml_init(&a);
  uint8_t hdr[HDR] = {0};
  vmm__aml_bytes(&a, hdr, sizeof(hdr));
  /* \_S5: SLP_TYPa, SLP_TYPb, reserved. */
  vmm__aml_name_decl(&a, "\\_S5");
  vmm__aml_package(&a, 4);
  vmm__aml_int(&a, VMM__ACPI_SLP_TYP_S5);
  vmm__aml_int(&a, VMM__ACPI_SLP_TYP_S5);
  vmm__aml_int(&a, 0);
  vmm__aml_int(&a, 0);
  vmm__aml_close(&a);
  vmm__aml_scope(&a, "\\_SB");
  if (p->pci)
    dsdt_pci(&a, p);
  if (p->irqchip && !p->mmio_cmdline)
    dsdt_mmio(&a, p);
  vmm__aml_close(&a);
  int rc = vmm__aml_finish(&a);
  if (rc < 0) {
    vmm__aml_free(&a);
    return rc;
  }
  header(a.buf, "DSDT", (uint32_t)a.len, 2); /* 2: 64-bit integers */
  seal(a.buf);
  *out = a.buf;
  *len = a.len;
  return 0;
}

/* ---- MADT ------------------------------------------------------------- */

static size_t madt_len(const vmm__platform_t *p) {
  size_t n = HDR + 8;
  for (uint32_t i = 0; i < p->ncpus; i++)
    n += p->apic_ids[i] < 0xff ? 8 : 16;
  if (p->irqchip)
    n += 12 + 10 * 16 + 6 + 12; /* IOAPIC, overrides, NMIs */
  return n;
}

static size_t madt_build(uint8_t *t, const vmm__platform_t *p) {
  size_t o = HDR;
  vmm__wr32(t + o, LAPIC_ADDR);
  vmm__wr32(t + o + 4, p->irqchip ? 1 : 0); /* PCAT_COMPAT: 8259s present */
  o += 8;
  bool x2 = false;
  for (uint32_t i = 0; i < p->ncpus; i++) {
    uint32_t id = p->apic_ids[i];
    if (id < 0xff) { /* local APIC */
      t[o] = 0;
      t[o + 1] = 8;
      t[o + 2] = (uint8_t)i; /* processor UID */
      t[o + 3] = (uint8_t)id;
      vmm__wr32(t + o + 4, 1); /* enabled */
      o += 8;
    } else { /* processor local x2APIC */
      x2 = true;
      t[o] = 9;
      t[o + 1] = 16;
      vmm__wr32(t + o + 4, id);
      vmm__wr32(t + o + 8, 1);
      vmm__wr32(t + o + 12, i);
      o += 16;
    }
  }
  if (p->irqchip) {
    t[o] = 1; /* I/O APIC */
    t[o + 1] = 12;
    t[o + 2] = (uint8_t)vmm__platform_ioapic_id(p);
    vmm__wr32(t + o + 4, IOAPIC_ADDR);
    vmm__wr32(t + o + 8, 0); /* GSI base */
    o += 12;
    /* ISA IRQs map to the same-numbered GSI (KVM's default routing, the
     * in-kernel PIT included: its IRQ 0 is IOAPIC pin 0), so only the
     * lines that are not edge/active-high ISA interrupts need an
     * override: the SCI and device lines below 16. */
    for (uint32_t irq = 0; irq < 16; irq++) {
      uint16_t flags;
      if (irq == VMM__ACPI_SCI_GSI)
        flags = INTI_LEVEL | INTI_HIGH;
      else if (device_gsi(p, irq))
        flags = INTI_LEVEL | INTI_LOW;
      else
        continue;
      t[o] = 2;
      t[o + 1] = 10;
      t[o + 2] = 0; /* ISA */
      t[o + 3] = (uint8_t)irq;
      vmm__wr32(t + o + 4, irq);
      vmm__wr16(t + o + 8, flags);
      o += 10;
    }
    /* LINT1 of every processor is NMI (and LINT0 ExtINT, the reset
     * state of KVM's local APICs, needs no entry). */
    t[o] = 4;
    t[o + 1] = 6;
    t[o + 2] = 0xff; /* all processors */
    vmm__wr16(t + o + 3, 0);
    t[o + 5] = 1;
    o += 6;
    if (x2) {
      t[o] = 0xa;
      t[o + 1] = 12;
      vmm__wr16(t + o + 2, 0);
      vmm__wr32(t + o + 4, 0xffffffffu);
      t[o + 8] = 1;
      o += 12;
    }
  }
  header(t, "APIC", (uint32_t)o, 5);
  seal(t);
  return o;
}

/* ---- FADT ------------------------------------------------------------- */

static void fadt_build(uint8_t *t, const vmm__platform_t *p, uint32_t facs,
                       uint32_t dsdt) {
  header(t, "FACP", FADT_LEN, 6);
  vmm__wr32(t + 36, facs);
  vmm__wr32(t + 40, dsdt);
  vmm__wr16(t + 46, VMM__ACPI_SCI_GSI);
  /* SMI_CMD 0: the machine is always in ACPI mode (SCI_EN reads 1). */
  vmm__wr32(t + 56, VMM__ACPI_PM1_EVT);
  vmm__wr32(t + 64, VMM__ACPI_PM1_CNT);
  vmm__wr32(t + 76, VMM__ACPI_PM_TMR);
  t[88] = VMM__ACPI_PM1_EVT_LEN;
  t[89] = VMM__ACPI_PM1_CNT_LEN;
  t[91] = VMM__ACPI_PM_TMR_LEN;
  vmm__wr16(t + 96, 101);  /* C2 latency > 100: no C2 */
  vmm__wr16(t + 98, 1001); /* C3 latency > 1000: no C3 */
  /* IA-PC boot architecture: legacy devices (the UART), no VGA, no CMOS
   * RTC unless there is one; MSI works. The 8042 flag stays clear even
   * with libvmm's i8042: that is only a reset line, and with the flag set
   * Linux probes it as a keyboard controller for a second and fails. */
  uint16_t boot = 0x0001 | 0x0004;
  if (!p->rtc)
    boot |= 0x0020;
  vmm__wr16(t + 109, boot);
  /* WBINVD, C1 on all processors, no fixed power or sleep button, RTC
   * wake not fixed, 32-bit PM timer; the reset register where the
   * 8042's reset line is. */
  uint32_t flags = 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8;
  if (p->i8042) {
    flags |= 1u << 10;
    gas_io(t + 116, 8, 1, 0x64);
    t[128] = 0xfe;
  }
  vmm__wr32(t + 112, flags);
  t[131] = 3; /* FADT minor version: ACPI 6.3 */
  /* X_FIRMWARE_CTRL stays 0: the spec wants one of the two FACS
   * pointers, and Linux installs the FACS twice when both are set. */
  vmm__wr64(t + 140, dsdt);
  gas_io(t + 148, 32, 2, VMM__ACPI_PM1_EVT);
  gas_io(t + 172, 16, 2, VMM__ACPI_PM1_CNT);
  gas_io(t + 208, 32, 3, VMM__ACPI_PM_TMR);
  memcpy(t + 268, "LIBVMM  ", 8); /* hypervisor vendor identity */
  seal(t);
}

/* ---- the whole set ---------------------------------------------------- */

static size_t align(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

int vmm__acpi_write(vmm_vm_t *vm, const vmm__platform_t *p, uint64_t *rsdp) {
  if (!vm || !p || p->ncpus == 0 || p->ncpus > VMM_MAX_VCPUS ||
      p->npci > VMM__PLATFORM_MAX_PCI || p->nmmio > VMM__PLATFORM_MAX_MMIO)
    return vmm__error(VMM_EINVAL, "acpi: bad platform description");
  for (uint32_t i = 0; i < p->nmmio; i++)
    if (p->mmio[i].base + p->mmio[i].size > 0x100000000ull ||
        p->mmio[i].size > 0xffffffffu)
      return vmm__error(VMM_EINVAL, "acpi: virtio-mmio window 0x%llx above "
                        "4 GiB", (unsigned long long)p->mmio[i].base);
  uint8_t *dsdt = NULL;
  size_t dsdt_len = 0;
  int rc = dsdt_build(p, &dsdt, &dsdt_len);
  if (rc < 0)
    return rc;
  /* Layout in the BIOS area: RSDP first (the scan finds it at once),
   * FACS 64-byte aligned, then the tables 16-byte aligned. */
  const size_t o_rsdp = 0, o_facs = 64, o_rsdt = o_facs + FACS_LEN;
  const size_t o_xsdt = align(o_rsdt + HDR + 2 * 4, 16);
  const size_t o_fadt = align(o_xsdt + HDR + 2 * 8, 16);
  const size_t o_madt = align(o_fadt + FADT_LEN, 16);
  const size_t o_dsdt = align(o_madt + madt_len(p), 16);
  const size_t total = o_dsdt + dsdt_len;
  if (total > AREA) {
    free(dsdt);
    return vmm__error(VMM_ENOSPC, "acpi: the tables (%zu bytes) do not fit "
                      "in the BIOS area", total);
  }
  uint8_t *img = calloc(1, total);
  if (!img) {
    free(dsdt);
    return vmm__error(VMM_ENOMEM, "acpi: out of memory");
  }
  const uint32_t base = (uint32_t)VMM__BOOT_BIOS;
  memcpy(img + o_dsdt, dsdt, dsdt_len);
  free(dsdt);
  size_t madt = madt_build(img + o_madt, p);
  (void)madt;
  fadt_build(img + o_fadt, p, base + (uint32_t)o_facs,
             base + (uint32_t)o_dsdt);

  uint8_t *f = img + o_facs;
  memcpy(f, "FACS", 4);
  vmm__wr32(f + 4, FACS_LEN);
  f[32] = 2; /* version */

  uint8_t *r = img + o_rsdt;
  header(r, "RSDT", HDR + 2 * 4, 1);
  vmm__wr32(r + HDR, base + (uint32_t)o_fadt);
  vmm__wr32(r + HDR + 4, base + (uint32_t)o_madt);
  seal(r);
  uint8_t *x = img + o_xsdt;
  header(x, "XSDT", HDR + 2 * 8, 1);
  vmm__wr64(x + HDR, base + o_fadt);
  vmm__wr64(x + HDR + 8, base + o_madt);
  seal(x);

  uint8_t *s = img + o_rsdp;
  memcpy(s, "RSD PTR ", 8);
  memcpy(s + 9, "LIBVMM", 6);
  s[15] = 2; /* ACPI 2.0+: XSDT */
  vmm__wr32(s + 16, base + (uint32_t)o_rsdt);
  vmm__wr32(s + 20, 36);
  vmm__wr64(s + 24, base + o_xsdt);
  s[8] = checksum(s, 20);
  s[32] = checksum(s, 36);

  rc = vmm_mem_write(vm, VMM__BOOT_BIOS, img, total);
  free(img);
  if (rc < 0)
    return vmm__error_prefix(rc, "acpi: writing the tables");
  if (rsdp)
    *rsdp = VMM__BOOT_BIOS + o_rsdp;
  return 0;
}
