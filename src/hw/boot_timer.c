/* src/hw/boot_timer.c — the boot-time port: the guest says "booted" with a
 * magic byte and the library timestamps the first time it does. */
#include <stdlib.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "vm_internal.h"

struct boot_timer {
  vmm_device_t dev; /* first */
  uint16_t port;
  vmm_boot_timer_fn fn;
  void *opaque;
};

/*
 * Only a write whose low byte is the magic value counts, so that a guest
 * probing ports (or a stray byte) does not end the measurement; the VM's
 * timing slot keeps the first one, and the callback runs with it once.
 * A wider access is judged by its first byte, as the bus hands it over
 * whole.
 */
static int boot_timer_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                         uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)size;
  struct boot_timer *b = opaque;
  if (!is_write || data[0] != VMM_BOOT_TIMER_MAGIC)
    return 0; /* reads see the zeroed data */
  uint64_t t = vmm__vm_mark(b->dev.vm, &b->dev.vm->boot_done_ns);
  if (t && b->fn)
    b->fn(b->dev.vm, t, b->opaque);
  return 0;
}

static void boot_timer_destroy(vmm_device_t *dev) { free(dev); }

static void boot_timer_describe(const vmm_device_t *dev,
                                struct vmm__device_desc *d) {
  d->port = ((const struct boot_timer *)dev)->port;
}

static const struct vmm__device_ops boot_timer_ops = {
    .type = "boot-timer",
    .destroy = boot_timer_destroy,
    .describe = boot_timer_describe,
    /* The port is a creation parameter; the time it records belongs to
     * the VM object's boot timing, which starts afresh in a restored VM. */
    .stateless = true,
};

int vmm_boot_timer_create(vmm_vm_t *vm, uint16_t port, vmm_boot_timer_fn fn,
                          void *opaque, vmm_device_t **out) {
  static const char fn_name[] = "vmm_boot_timer_create";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn_name);
  if (rc < 0)
    return rc;
  if (port == 0)
    port = VMM_BOOT_TIMER_PORT;
  struct boot_timer *b = calloc(1, sizeof(*b));
  if (!b)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn_name);
  b->port = port;
  b->fn = fn;
  b->opaque = opaque;
  b->dev.vm = vm;
  rc = vmm_io_register(vm, VMM_IO_PIO, port, 1, boot_timer_io, b);
  if (rc < 0) {
    free(b);
    return vmm__error_prefix(rc, fn_name);
  }
  rc = vmm__device_add(vm, &b->dev, &boot_timer_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, port);
    free(b);
    return rc;
  }
  if (out)
    *out = &b->dev;
  return 0;
}
