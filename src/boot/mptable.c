/* src/boot/mptable.c — the Intel MultiProcessor Specification 1.4 table:
 * floating pointer and configuration table in the EBDA, for kernels that
 * boot with acpi=off and for small kernels that only read this table. */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "boot/boot_internal.h"
#include "error.h"
#include "hw/acpi_pm.h"

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u
#define EBDA_LEN 0x400u /* 0x9fc00-0x9ffff */
/* A configuration table too large for the EBDA (many processors) goes to
 * the upper half of the BIOS area; the ACPI tables keep to the lower. */
#define CFG_HIGH (VMM__BOOT_BIOS + 0x10000u)
#define FPS_LEN 16
#define CFG_HDR 44

/* Entry types and sizes. */
#define E_CPU 0
#define E_BUS 1
#define E_IOAPIC 2
#define E_IOINT 3
#define E_LINT 4
#define CPU_LEN 20
#define ENTRY_LEN 8

/* Interrupt types and flags (polarity bits 1:0, trigger 3:2). */
#define INT_INT 0
#define INT_NMI 1
#define INT_EXTINT 3
#define FL_CONFORM 0x0u
#define FL_LEVEL_LOW 0xfu
#define FL_LEVEL_HIGH 0xdu


static uint8_t checksum(const uint8_t *p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; i++)
    s = (uint8_t)(s + p[i]);
  return (uint8_t)-s;
}

static void io_int(uint8_t *e, uint8_t type, uint16_t flags, uint8_t bus,
                   uint8_t irq, uint8_t apic, uint8_t pin) {
  e[0] = E_IOINT;
  e[1] = type;
  vmm__wr16(e + 2, flags);
  e[4] = bus;
  e[5] = irq;
  e[6] = apic;
  e[7] = pin;
}

int vmm__mptable_write(vmm_vm_t *vm, const vmm__platform_t *p,
                       uint64_t *addr) {
  if (!vm || !p || p->ncpus == 0 || p->ncpus > VMM_MAX_VCPUS ||
      p->npci > VMM__PLATFORM_MAX_PCI || p->nmmio > VMM__PLATFORM_MAX_MMIO)
    return vmm__error(VMM_EINVAL, "mptable: bad platform description");
  /* xAPIC ids only: processors with an id of 255 or more are left out
   * (they are in the MADT as x2APICs). */
  uint32_t ncpu = 0;
  for (uint32_t i = 0; i < p->ncpus; i++)
    ncpu += p->apic_ids[i] < 0xff;
  /* Worst case: processors, 2 buses, IOAPIC, 16 ISA + PCI + mmio
   * interrupts, 2 local interrupts. */
  size_t cap = FPS_LEN + CFG_HDR + CPU_LEN * (size_t)ncpu +
               ENTRY_LEN * (3 + 16 + p->npci + p->nmmio + 2);
  uint8_t *img = calloc(1, cap);
  if (!img)
    return vmm__error(VMM_ENOMEM, "mptable: out of memory");
  uint8_t *cfg = img + FPS_LEN;
  size_t o = CFG_HDR;
  uint16_t count = 0;

  for (uint32_t i = 0; i < p->ncpus; i++) {
    if (p->apic_ids[i] >= 0xff)
      continue;
    uint8_t *e = cfg + o;
    e[0] = E_CPU;
    e[1] = (uint8_t)p->apic_ids[i];
    e[2] = 0x14; /* local APIC version (KVM's) */
    e[3] = (uint8_t)(0x01 | (i == 0 ? 0x02 : 0)); /* enabled, BSP */
    /* Signature family 6 and features FPU | APIC: what the table needs;
     * kernels read the real values with CPUID. */
    vmm__wr32(e + 4, 0x600);
    vmm__wr32(e + 8, 0x201);
    o += CPU_LEN;
    count++;
  }
  /* Bus ids: PCI 0 (when there is a PCI bus), then ISA. */
  uint8_t pci_bus = 0, isa_bus = p->pci ? 1 : 0;
  if (p->pci) {
    uint8_t *e = cfg + o;
    e[0] = E_BUS;
    e[1] = pci_bus;
    memcpy(e + 2, "PCI   ", 6);
    o += ENTRY_LEN;
    count++;
  }
  uint8_t *e = cfg + o;
  e[0] = E_BUS;
  e[1] = isa_bus;
  memcpy(e + 2, "ISA   ", 6);
  o += ENTRY_LEN;
  count++;

  if (p->irqchip) {
    uint8_t ioapic = (uint8_t)vmm__platform_ioapic_id(p);
    e = cfg + o;
    e[0] = E_IOAPIC;
    e[1] = ioapic;
    e[2] = 0x11; /* version (KVM's) */
    e[3] = 0x01; /* enabled */
    vmm__wr32(e + 4, IOAPIC_ADDR);
    o += ENTRY_LEN;
    count++;
    /* ISA IRQ n is IOAPIC pin n (KVM's default routing, the PIT's IRQ 0
     * included); 2 is the 8259 cascade and goes nowhere. A line a device
     * uses is level-triggered, as is the SCI. */
    for (uint8_t irq = 0; irq < 16; irq++) {
      if (irq == 2)
        continue;
      uint16_t fl = FL_CONFORM;
      bool dev = false;
      for (uint32_t i = 0; i < p->npci; i++)
        dev |= p->pci_irq[i].gsi == irq;
      for (uint32_t i = 0; i < p->nmmio; i++)
        dev |= p->mmio[i].gsi == irq;
      if (dev)
        fl = FL_LEVEL_LOW;
      else if (irq == VMM__ACPI_SCI_GSI)
        fl = FL_LEVEL_HIGH;
      /* A PCI function's line below 16 is listed on the PCI bus below;
       * listing it as ISA too would give it two sources. */
      bool pci_line = false;
      for (uint32_t i = 0; i < p->npci; i++)
        pci_line |= p->pci_irq[i].gsi == irq;
      if (pci_line)
        continue;
      io_int(cfg + o, INT_INT, fl, isa_bus, irq, ioapic, irq);
      o += ENTRY_LEN;
      count++;
    }
    /* PCI INTx: source irq = device << 2 | (pin - 1). */
    for (uint32_t i = 0; i < p->npci; i++) {
      uint8_t pin = p->pci_irq[i].pin;
      if (pin < 1 || pin > 4 || p->pci_irq[i].gsi >= 24)
        continue;
      uint8_t src = (uint8_t)((p->pci_irq[i].devfn >> 3) << 2 | (pin - 1));
      bool dup = false; /* functions of one slot share a pin's entry */
      for (uint32_t j = 0; j < i; j++)
        dup |= p->pci_irq[j].devfn >> 3 == p->pci_irq[i].devfn >> 3 &&
               p->pci_irq[j].pin == pin;
      if (dup)
        continue;
      io_int(cfg + o, INT_INT, FL_LEVEL_LOW, pci_bus, src, ioapic,
             (uint8_t)p->pci_irq[i].gsi);
      o += ENTRY_LEN;
      count++;
    }
    /* virtio-mmio lines above the ISA range: no bus has them, so they are
     * listed as ISA interrupts with their GSI as the IRQ (what Linux's
     * MP-table code maps them by). */
    for (uint32_t i = 0; i < p->nmmio; i++) {
      uint32_t g = p->mmio[i].gsi;
      if (g < 16 || g >= 24)
        continue;
      io_int(cfg + o, INT_INT, FL_LEVEL_LOW, isa_bus, (uint8_t)g, ioapic,
             (uint8_t)g);
      o += ENTRY_LEN;
      count++;
    }
  }
  /* Local interrupts: LINT0 ExtINT (the 8259s in virtual-wire mode),
   * LINT1 NMI, on every processor. */
  static const uint8_t lint[2][2] = {{INT_EXTINT, 0}, {INT_NMI, 1}};
  for (int i = 0; i < 2; i++) {
    e = cfg + o;
    e[0] = E_LINT;
    e[1] = lint[i][0];
    vmm__wr16(e + 2, FL_CONFORM);
    e[4] = isa_bus;
    e[5] = 0;
    e[6] = 0xff;
    e[7] = lint[i][1];
    o += ENTRY_LEN;
    count++;
  }

  memcpy(cfg, "PCMP", 4);
  vmm__wr16(cfg + 4, (uint16_t)o);
  cfg[6] = 4; /* spec revision 1.4 */
  memcpy(cfg + 8, "LIBVMM  ", 8);
  memcpy(cfg + 16, "LIBVMM      ", 12);
  vmm__wr16(cfg + 34, count);
  vmm__wr32(cfg + 36, LAPIC_ADDR);
  cfg[7] = checksum(cfg, o);

  /* The configuration table follows the floating pointer when both fit
   * in the EBDA. */
  size_t total = FPS_LEN + o;
  uint64_t cfg_at = total <= EBDA_LEN ? VMM__BOOT_EBDA + FPS_LEN : CFG_HIGH;
  uint8_t *f = img;
  memcpy(f, "_MP_", 4);
  vmm__wr32(f + 4, (uint32_t)cfg_at);
  f[8] = 1; /* length in 16-byte units */
  f[9] = 4;
  /* feature byte 1 = 0: the configuration table is present; byte 2 = 0:
   * virtual-wire mode, no IMCR. */
  f[10] = checksum(f, FPS_LEN);

  int rc;
  if (cfg_at != CFG_HIGH) {
    rc = vmm_mem_write(vm, VMM__BOOT_EBDA, img, total);
  } else {
    rc = vmm_mem_write(vm, VMM__BOOT_EBDA, img, FPS_LEN);
    if (rc == 0)
      rc = vmm_mem_write(vm, CFG_HIGH, cfg, o);
  }
  free(img);
  if (rc < 0)
    rc = vmm__error_prefix(rc, "mptable: writing the table");
  if (rc == 0 && addr)
    *addr = VMM__BOOT_EBDA;
  return rc;
}
