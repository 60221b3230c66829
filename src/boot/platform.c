/* src/boot/platform.c — the machine as the platform tables describe it,
 * collected from the VM's vCPUs and devices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot_internal.h"
#include "device_internal.h"
#include "error.h"
#include "hw/acpi_pm.h"
#include "hw/pci.h"
#include "virtio/device.h"
#include "vm_internal.h"

/* Unique among APIC ids as the MP table wants (ACPI does not care, and
 * one value serves both tables). */
uint32_t vmm__platform_ioapic_id(const vmm__platform_t *p) {
  for (uint32_t id = 0; id < 0xff; id++) {
    bool used = false;
    for (uint32_t i = 0; i < p->ncpus && !used; i++)
      used = p->apic_ids[i] == id;
    if (!used)
      return id;
  }
  return 0;
}

int vmm__platform_describe(vmm_vm_t *vm, vmm__platform_t *p) {
  if (!vmm__handle_valid(vm, VMM__H_VM) || !p)
    return vmm__error(VMM_EINVAL, "platform: bad arguments");
  memset(p, 0, sizeof(*p));
  p->irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;

  struct vmm__pci_intx fns[VMM__PLATFORM_MAX_PCI];
  int nfn = vmm__pci_list(vm, fns, VMM__PLATFORM_MAX_PCI);
  if (nfn > VMM__PLATFORM_MAX_PCI)
    return vmm__error(VMM_ENOSPC, "platform: %d PCI functions, at most %d "
                      "described", nfn, VMM__PLATFORM_MAX_PCI);

  pthread_rwlock_rdlock(&vm->lock);
  /* APIC id = vCPU id, as the backend creates them. */
  for (uint32_t id = 0; id < vm->max_vcpus; id++)
    if (vm->vcpus[id])
      p->apic_ids[p->ncpus++] = id;
  p->pci = vm->pci != NULL;
  int rc = 0;
  for (vmm_device_t *d = vm->devices; d && rc == 0; d = d->next) {
    uint64_t base, size;
    uint32_t gsi;
    if (vmm__virtio_mmio_window(d, &base, &size, &gsi)) {
      if (p->nmmio == VMM__PLATFORM_MAX_MMIO) {
        rc = vmm__error(VMM_ENOSPC, "platform: more than %d virtio-mmio "
                        "devices", VMM__PLATFORM_MAX_MMIO);
        break;
      }
      p->mmio[p->nmmio].base = base;
      p->mmio[p->nmmio].size = size;
      p->mmio[p->nmmio].gsi = gsi;
      p->nmmio++;
    } else if (strcmp(d->ops->type, "i8042") == 0) {
      p->i8042 = true;
    } else if (strcmp(d->ops->type, "rtc") == 0) {
      p->rtc = true;
    }
  }
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0)
    return rc;
  if (p->ncpus == 0)
    return vmm__error(VMM_EINVAL, "platform: the VM has no vCPU");
  /* The device list is newest first: describe devices in creation order
   * (names and command-line entries follow it). */
  for (uint32_t i = 0; i < p->nmmio / 2; i++) {
    uint32_t j = p->nmmio - 1 - i;
    __typeof__(p->mmio[0]) t = p->mmio[i];
    p->mmio[i] = p->mmio[j];
    p->mmio[j] = t;
  }
  for (int i = 0; i < nfn; i++) {
    if (!fns[i].pin)
      continue;
    p->pci_irq[p->npci].devfn = fns[i].devfn;
    p->pci_irq[p->npci].pin = fns[i].pin;
    p->pci_irq[p->npci].gsi = fns[i].gsi;
    p->npci++;
  }
  return 0;
}

/* The VM has an ACPI PM device already (vmm_boot() called again). */
static bool have_pm(vmm_vm_t *vm) {
  bool found = false;
  pthread_rwlock_rdlock(&vm->lock);
  for (vmm_device_t *d = vm->devices; d && !found; d = d->next)
    found = strcmp(d->ops->type, "acpi-pm") == 0;
  pthread_rwlock_unlock(&vm->lock);
  return found;
}

static int cmdline_append(char **cmdline, const vmm__platform_t *p) {
  size_t len = strlen(*cmdline), cap = len + 1 + 64 * (size_t)p->nmmio;
  char *s = malloc(cap);
  if (!s)
    return vmm__error(VMM_ENOMEM, "out of memory for the command line");
  memcpy(s, *cmdline, len + 1);
  for (uint32_t i = 0; i < p->nmmio; i++) {
    /* Linux reads the size with memparse(): "4K". */
    len += (size_t)snprintf(s + len, cap - len,
                            "%svirtio_mmio.device=%lluK@0x%llx:%u",
                            len ? " " : "",
                            (unsigned long long)(p->mmio[i].size >> 10),
                            (unsigned long long)p->mmio[i].base,
                            p->mmio[i].gsi);
  }
  free(*cmdline);
  *cmdline = s;
  return 0;
}

int vmm__platform_setup(vmm_vm_t *vm, uint32_t flags, char **cmdline,
                        uint64_t *rsdp, uint64_t *mptable) {
  *rsdp = *mptable = 0;
  vmm__platform_t p;
  int rc = vmm__platform_describe(vm, &p);
  if (rc < 0)
    return rc;
  p.mmio_cmdline = (flags & VMM_BOOT_F_VIRTIO_MMIO_CMDLINE) != 0;
  if (!(flags & VMM_BOOT_F_NO_ACPI)) {
    /* A device chosen onto the SCI's line would be described twice with
     * different triggers; the pool never hands it out. */
    for (uint32_t i = 0; i < p.nmmio; i++)
      if (p.mmio[i].gsi == VMM__ACPI_SCI_GSI)
        return vmm__error(VMM_EBUSY, "the virtio-mmio device at 0x%llx "
                          "uses GSI %u, the ACPI SCI's line: give it "
                          "another or boot with VMM_BOOT_F_NO_ACPI",
                          (unsigned long long)p.mmio[i].base,
                          VMM__ACPI_SCI_GSI);
    /* The tables point at the PM registers: the device comes with them,
     * so a guest can always power off the way the tables say. */
    if (!have_pm(vm) && (rc = vmm__acpi_pm_create(vm, NULL)) < 0)
      return vmm__error_prefix(rc, "the ACPI PM device");
    if ((rc = vmm__acpi_write(vm, &p, rsdp)) < 0)
      return rc;
  }
  if (!(flags & VMM_BOOT_F_NO_MPTABLE) &&
      (rc = vmm__mptable_write(vm, &p, mptable)) < 0)
    return rc;
  if (p.mmio_cmdline && p.nmmio)
    return cmdline_append(cmdline, &p);
  return 0;
}
