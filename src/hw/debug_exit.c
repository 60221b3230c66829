/* src/hw/debug_exit.c — an exit port compatible with QEMU's isa-debug-exit. */
#include <stdio.h>
#include <stdlib.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "irq_internal.h"
#include "vm_internal.h"

#define DEBUG_EXIT_DEFAULT_PORT 0xf4

struct debug_exit {
  vmm_device_t dev; /* first */
  uint16_t port;
};

/*
 * One port. A 1-, 2- or 4-byte write of `value` at it stops the VM with
 * status (value << 1) | 1, as QEMU exits with it (so a guest's status is
 * odd: 0 means the guest never got to write). An access wider than the
 * range still comes here whole (the bus does not split it). Reads see 0.
 */
static int debug_exit_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                         uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct debug_exit *d = opaque;
  if (!is_write)
    return 0; /* data was zeroed */
  uint32_t value = 0;
  for (uint32_t i = 0; i < size && i < 4; i++)
    value |= (uint32_t)data[i] << (8 * i);
  uint32_t status = (value << 1) | 1;
  char msg[96];
  snprintf(msg, sizeof(msg), "the guest wrote 0x%x to the debug-exit port "
           "0x%x (%u bytes)", value, (unsigned)addr, size);
  vmm__vm_request_stop(d->dev.vm, VMM_STOP_GUEST_EXIT, (int32_t)status, msg);
  return 0;
}

static void debug_exit_destroy(vmm_device_t *dev) { free(dev); }

static void debug_exit_describe(const vmm_device_t *dev,
                                struct vmm__device_desc *d) {
  d->port = ((const struct debug_exit *)dev)->port;
}

static const struct vmm__device_ops debug_exit_ops = {
    .type = "debug-exit",
    .destroy = debug_exit_destroy,
    .describe = debug_exit_describe,
    .stateless = true, /* its port is a creation parameter */
};

/* `port` 0 means the default, 0xf4. */
int vmm_debug_exit_create(vmm_vm_t *vm, uint16_t port, vmm_device_t **out) {
  static const char fn[] = "vmm_debug_exit_create";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn);
  if (rc < 0)
    return rc;
  if (port == 0)
    port = DEBUG_EXIT_DEFAULT_PORT;
  struct debug_exit *d = calloc(1, sizeof(*d));
  if (!d)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  d->port = port;
  d->dev.vm = vm;
  rc = vmm_io_register(vm, VMM_IO_PIO, port, 1, debug_exit_io, d);
  if (rc < 0) {
    free(d);
    return vmm__error_prefix(rc, fn);
  }
  rc = vmm__device_add(vm, &d->dev, &debug_exit_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, port);
    free(d);
    return rc;
  }
  if (out)
    *out = &d->dev;
  return 0;
}
