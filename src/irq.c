/* src/irq.c — guest interrupts, irqfd/ioeventfd plumbing, device resources. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "irq_internal.h"
#include "vm_internal.h"

static int need_irqchip(vmm_vm_t *vm, const char *what) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", what);
  if (!(vm->flags & VMM_VM_F_IRQCHIP) || !vm->ops->irq_line)
    return vmm__error(VMM_ENOTSUP, "%s: the VM was created without "
                      "VMM_VM_F_IRQCHIP", what);
  return 0;
}

int vmm_irq_set(vmm_vm_t *vm, uint32_t gsi, int level) {
  int rc = need_irqchip(vm, "vmm_irq_set");
  if (rc < 0)
    return rc;
  if (gsi >= VMM_IRQ_GSI_MAX)
    return vmm__error(VMM_ERANGE, "vmm_irq_set: GSI %u is not below %u", gsi,
                      VMM_IRQ_GSI_MAX);
  return vm->ops->irq_line(vm->bvm, gsi, level);
}

int vmm_irq_pulse(vmm_vm_t *vm, uint32_t gsi) {
  int rc = vmm_irq_set(vm, gsi, 1);
  return rc < 0 ? rc : vm->ops->irq_line(vm->bvm, gsi, 0);
}

int vmm_msi_send(vmm_vm_t *vm, uint64_t address, uint32_t data) {
  int rc = need_irqchip(vm, "vmm_msi_send");
  if (rc < 0)
    return rc;
  if (!vm->ops->msi_send)
    return vmm__error(VMM_ENOTSUP, "vmm_msi_send: backend %s has no MSI",
                      vm->ops->name);
  /* The x86 MSI window: 0xFEExxxxx. Anything else is a caller bug. */
  if ((address >> 20) != 0xfee)
    return vmm__error(VMM_EINVAL, "vmm_msi_send: address 0x%llx is not in "
                      "the MSI window 0xfee00000", (unsigned long long)address);
  return vm->ops->msi_send(vm->bvm, address, data);
}

int vmm__irqfd_open(vmm_vm_t *vm, uint32_t gsi, int *fd) {
  int rc = need_irqchip(vm, "irqfd");
  if (rc < 0)
    return rc;
  if (!vm->ops->irqfd)
    return vmm__error(VMM_ENOTSUP, "backend %s has no irqfd",
                      vm->ops->name);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0)
    return vmm__error(VMM_EIO, "eventfd: %s", strerror(errno));
  rc = vm->ops->irqfd(vm->bvm, efd, gsi, 1);
  if (rc < 0) {
    close(efd);
    return rc;
  }
  *fd = efd;
  return 0;
}

void vmm__irqfd_close(vmm_vm_t *vm, int fd) {
  if (fd < 0)
    return;
  /* The GSI is not needed to detach: KVM matches the fd. It still wants
   * one that is valid, so pass 0. */
  if (vm->ops->irqfd)
    vm->ops->irqfd(vm->bvm, fd, 0, 0);
  close(fd);
}

int vmm__msi_route_set(vmm_vm_t *vm, uint32_t *gsi, uint64_t address,
                       uint32_t data) {
  if (!(vm->flags & VMM_VM_F_IRQCHIP) || !vm->ops->msi_route_set ||
      !vm->ops->irqfd)
    return vmm__error(VMM_ENOTSUP, "backend %s has no MSI routes for "
                      "irqfds here", vm->ops->name);
  if ((address >> 20) != 0xfee)
    return vmm__error(VMM_EINVAL, "MSI address 0x%llx is not in the MSI "
                      "window 0xfee00000", (unsigned long long)address);
  return vm->ops->msi_route_set(vm->bvm, gsi, address, data);
}

void vmm__msi_route_del(vmm_vm_t *vm, uint32_t gsi) {
  if (gsi != VMM__GSI_NEW && vm->ops->msi_route_del)
    vm->ops->msi_route_del(vm->bvm, gsi);
}

int vmm__ioeventfd_open(vmm_vm_t *vm, vmm_io_space_t space, uint64_t addr,
                        uint32_t len, bool match, uint64_t value, int *fd) {
  if (!vm->ops->ioeventfd || !(vm->caps & VMM_CAP_IOEVENTFD))
    return vmm__error(VMM_ENOTSUP, "backend %s has no ioeventfd",
                      vm->ops->name);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0)
    return vmm__error(VMM_EIO, "eventfd: %s", strerror(errno));
  int rc = vm->ops->ioeventfd(vm->bvm, efd, space, addr, len, match, value,
                              1);
  if (rc < 0) {
    close(efd);
    return rc;
  }
  *fd = efd;
  return 0;
}

void vmm__ioeventfd_close(vmm_vm_t *vm, int fd) {
  /* KVM detaches by (fd, address, length, match), which the caller does
   * not keep; closing the eventfd is enough for KVM to drop it when the
   * VM goes, and devices only close theirs at VM destruction. */
  (void)vm;
  if (fd >= 0)
    close(fd);
}

int vmm__gsi_alloc(vmm_vm_t *vm, uint32_t *gsi) {
  /* ISA IRQs that PC devices and firmware own are skipped: 0 PIT,
   * 1 keyboard, 2 cascade, 3/4 serial, 8 RTC, 9 the ACPI SCI
   * (src/hw/acpi_pm.h), 12 mouse, 14/15 IDE. */
  static const uint8_t free_gsis[] = {5, 6, 7, 10, 11, 16, 17,
                                      18, 19, 20, 21, 22, 23};
  pthread_rwlock_wrlock(&vm->lock);
  uint32_t i = vm->next_gsi;
  if (i < sizeof(free_gsis))
    vm->next_gsi++;
  pthread_rwlock_unlock(&vm->lock);
  if (i >= sizeof(free_gsis))
    return vmm__error(VMM_ENOSPC, "no free interrupt line left for devices");
  *gsi = free_gsis[i];
  return 0;
}

int vmm__mmio_alloc(vmm_vm_t *vm, uint64_t size, uint64_t *base) {
  if (size == 0 || size > (1ull << 30))
    return vmm__error(VMM_EINVAL, "MMIO window size 0x%llx",
                      (unsigned long long)size);
  size = (size + VMM_PAGE_SIZE - 1) & ~(uint64_t)(VMM_PAGE_SIZE - 1);
  pthread_rwlock_wrlock(&vm->lock);
  uint64_t at = vm->next_mmio ? vm->next_mmio : VMM__MMIO_WINDOW;
  /* Skip whatever RAM or registration is already there. */
  for (;;) {
    const struct vmm__memslot *m = vmm__memmap_find(&vm->mem, at);
    const struct vmm__bus_range *r = vmm__bus_find(&vm->mmio, at);
    if (!m && !r) {
      /* Nothing at `at`; make sure nothing starts inside the window. */
      bool clash = false;
      for (size_t i = 0; i < vm->mem.count && !clash; i++)
        clash = vm->mem.slots[i]->gpa > at &&
                vm->mem.slots[i]->gpa < at + size;
      for (size_t i = 0; i < vm->mmio.count && !clash; i++)
        clash = vm->mmio.ranges[i].base > at &&
                vm->mmio.ranges[i].base < at + size;
      if (!clash)
        break;
    }
    at += VMM_PAGE_SIZE;
    if (at >= 0xfec00000ull) { /* the IOAPIC and LAPIC live above */
      pthread_rwlock_unlock(&vm->lock);
      return vmm__error(VMM_ENOSPC, "no free MMIO window of 0x%llx bytes",
                        (unsigned long long)size);
    }
  }
  vm->next_mmio = at + size;
  pthread_rwlock_unlock(&vm->lock);
  *base = at;
  return 0;
}
