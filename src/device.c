/* src/device.c — the device registry of a VM and the public device accessors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "device_internal.h"
#include "error.h"
#include "vm_internal.h"

int vmm__device_precheck(vmm_vm_t *vm, const char *fn) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: devices are added before "
                      "vmm_vm_start()", fn);
  return 0;
}

int vmm__device_add(vmm_vm_t *vm, vmm_device_t *dev,
                    const struct vmm__device_ops *ops) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", ops->type);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: devices are added before "
                      "vmm_vm_start()", ops->type);
  size_t n = 0;
  pthread_rwlock_rdlock(&vm->lock);
  for (const vmm_device_t *d = vm->devices; d; d = d->next)
    n++;
  pthread_rwlock_unlock(&vm->lock);
  if (n >= VMM_MAX_DEVICES)
    return vmm__error(VMM_ENOSPC, "%s: the VM has %zu devices, the most a "
                      "VM may have (VMM_MAX_DEVICES)", ops->type, n);
  dev->ops = ops;
  dev->vm = vm;
  atomic_init(&dev->failed, 0);
  atomic_init(&dev->has_error, 0);
  dev->error[0] = '\0';
  int rc = vmm__handle_add(dev, VMM__H_DEVICE);
  if (rc < 0)
    return vmm__error(rc, "%s: out of memory for the handle", ops->type);
  memset(&dev->counters, 0, sizeof(dev->counters));
  pthread_rwlock_wrlock(&vm->lock);
  dev->next = vm->devices;
  vm->devices = dev;
  /* Device models register their handlers with the device object as
   * opaque before they get here: from now on, count those accesses as the
   * device's. */
  vmm__bus_attribute(&vm->pio, dev, &dev->counters.pio);
  vmm__bus_attribute(&vm->mmio, dev, &dev->counters.mmio);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}

void vmm__io_attribute(vmm_vm_t *vm, vmm_io_space_t space, const void *opaque,
                       vmm_device_t *dev) {
  pthread_rwlock_wrlock(&vm->lock);
  if (space == VMM_IO_PIO)
    vmm__bus_attribute(&vm->pio, opaque, &dev->counters.pio);
  else
    vmm__bus_attribute(&vm->mmio, opaque, &dev->counters.mmio);
  pthread_rwlock_unlock(&vm->lock);
}

bool vmm__device_fail(vmm_device_t *dev, const char *fmt, ...) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&dev->failed, &expected, 1))
    return false;
  /* Readers see `error` only while has_error is 1: 0 → 2 (writing) → 1. A
   * reason from an earlier failure is replaced. */
  atomic_store(&dev->has_error, 2);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
  va_end(ap);
  atomic_store(&dev->has_error, 1);
  fprintf(stderr, "libvmm: %s: %s\n", dev->ops->type, dev->error);
  return true;
}

void vmm__device_recover(vmm_device_t *dev) {
  atomic_store(&dev->failed, 0);
}

void vmm__devices_destroy(vmm_vm_t *vm) {
  vmm_device_t *dev = vm->devices;
  vm->devices = NULL;
  while (dev) {
    vmm_device_t *next = dev->next;
    vmm__handle_remove(dev);
    if (dev->ops->destroy)
      dev->ops->destroy(dev);
    dev = next;
  }
}

const char *vmm_device_type(const vmm_device_t *dev) {
  return vmm__handle_valid(dev, VMM__H_DEVICE) ? dev->ops->type : NULL;
}

const char *vmm_device_error(const vmm_device_t *dev) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE))
    return NULL;
  return atomic_load(&dev->has_error) == 1 ? dev->error : NULL;
}
