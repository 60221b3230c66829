/* tests/unit/tables_fixture.h — what the platform-table tests share: a VM
 * object built by hand over 1 MiB of guest RAM (no backend; the table
 * writers only use its handle, lock and region map) and synthetic
 * machines to describe. */
#ifndef TABLES_FIXTURE_H
#define TABLES_FIXTURE_H

#include <stdlib.h>

#include "boot/boot_internal.h"
#include "vm_internal.h"
#include "unit.h"

#define TF static __attribute__((unused))
#define RAM_SIZE 0x100000ull
#define FILL 0xcc

TF vmm_vm_t *vm;
TF struct vmm__memslot ram;

TF uint8_t *gmem(uint64_t gpa) { return ram.hva + gpa; }

TF int guest_init(void) {
  vm = calloc(1, sizeof(*vm));
  if (!vm || pthread_rwlock_init(&vm->lock, NULL) != 0)
    return -1;
  vmm__memmap_init(&vm->mem);
  if (vmm__handle_add(vm, VMM__H_VM) != 0)
    return -1;
  ram = (struct vmm__memslot){.gpa = 0, .size = RAM_SIZE,
                              .hva = malloc(RAM_SIZE)};
  if (!ram.hva || vmm__memmap_insert(&vm->mem, &ram) != 0)
    return -1;
  return 0;
}

TF void guest_fini(void) {
  vmm__handle_remove(vm);
  vmm__memmap_fini(&vm->mem);
  pthread_rwlock_destroy(&vm->lock);
  free(ram.hva);
  free(vm);
}

TF void guest_reset(void) { memset(ram.hva, FILL, RAM_SIZE); }

TF uint16_t rd16(uint64_t gpa) {
  return (uint16_t)(gmem(gpa)[0] | gmem(gpa)[1] << 8);
}
TF uint32_t rd32(uint64_t gpa) {
  return (uint32_t)rd16(gpa) | (uint32_t)rd16(gpa + 2) << 16;
}
TF uint64_t rd64(uint64_t gpa) {
  return (uint64_t)rd32(gpa) | (uint64_t)rd32(gpa + 4) << 32;
}
TF uint8_t sum8(uint64_t gpa, size_t len) {
  uint8_t s = 0;
  for (size_t i = 0; i < len; i++)
    s = (uint8_t)(s + gmem(gpa)[i]);
  return s;
}

/*
 * A machine: `ncpus` vCPUs with APIC id = index, the irqchip, and with
 * `pci` a host bridge and `npci` functions in slots 1.. (INTA, GSIs from
 * the pool 5, 6, 7, 10, 11, 16...), plus `nmmio` virtio-mmio devices.
 */
TF void machine(vmm__platform_t *p, uint32_t ncpus, bool pci, uint32_t npci,
                uint32_t nmmio) {
  static const uint32_t pool[] = {5, 6, 7, 10, 11, 16, 17, 18, 19, 20,
                                  21, 22, 23};
  memset(p, 0, sizeof(*p));
  p->ncpus = ncpus;
  for (uint32_t i = 0; i < ncpus; i++)
    p->apic_ids[i] = i;
  p->irqchip = true;
  p->pci = pci;
  uint32_t g = 0;
  for (uint32_t i = 0; i < npci; i++) {
    p->pci_irq[i].devfn = (uint8_t)((i + 1) << 3);
    p->pci_irq[i].pin = 1;
    p->pci_irq[i].gsi = pool[g++ % 13];
  }
  p->npci = npci;
  for (uint32_t i = 0; i < nmmio; i++) {
    p->mmio[i].base = 0xd0000000ull + 0x1000ull * i;
    p->mmio[i].size = 0x1000;
    p->mmio[i].gsi = pool[g++ % 13];
  }
  p->nmmio = nmmio;
}

#endif
