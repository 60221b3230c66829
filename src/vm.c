/* src/vm.c — VM objects: creation on a backend, destruction, accessors. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config_internal.h"
#include "control_internal.h"
#include "gdbstub/gdbstub_internal.h"
#include "device_internal.h"
#include "error.h"
#include "migrate/job.h"
#include "loop_internal.h"
#include "run_internal.h"
#include "vm_internal.h"

#define DEFAULT_MAX_VCPUS 64

/* Placeholder owner of the hypercall port in the PIO map: vcpu.c handles
 * that port before consulting the bus, so this only reserves the range
 * (overlapping registrations are refused) and is never reached. */
static int hypercall_port_reserved(vmm_vcpu_t *vcpu, uint64_t addr,
                                   uint8_t *data, uint32_t size, int is_write,
                                   void *opaque) {
  (void)vcpu, (void)data, (void)size, (void)is_write, (void)opaque;
  return vmm__error(VMM_EINVAL, "hypercall port 0x%llx used with a %u-byte "
                    "access; the ABI is a 32-bit OUT",
                    (unsigned long long)addr, size);
}

/* Copies the caller's config, accepting older (shorter) and newer (longer,
 * with unknown fields zero) versions of the struct. */
static int read_config(const vmm_vm_config_t *in, vmm_vm_config_t *cfg) {
  vmm_vm_config_t def = VMM_VM_CONFIG_INIT;
  *cfg = def;
  if (!in)
    return 0;
  if (in->size < offsetof(vmm_vm_config_t, max_vcpus))
    return vmm__error(VMM_EINVAL, "vmm_vm_config_t.size %zu is too small",
                      in->size);
  if (in->size > sizeof(*cfg)) {
    const uint8_t *extra = (const uint8_t *)in + sizeof(*cfg);
    for (size_t i = 0; i < in->size - sizeof(*cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "vmm_vm_config_t has fields this "
                          "libvmm %s does not know set (size %zu > %zu)",
                          vmm_version_string(), in->size, sizeof(*cfg));
  }
  memcpy(cfg, in, in->size < sizeof(*cfg) ? in->size : sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  return 0;
}

uint64_t vmm__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vmm__vm_mark(vmm_vm_t *vm, _Atomic uint64_t *slot) {
  if (atomic_load_explicit(slot, memory_order_relaxed))
    return 0; /* the common case once set: no clock read */
  uint64_t now = vmm__now_ns();
  uint64_t rel = now > vm->created_ns ? now - vm->created_ns : 1;
  uint64_t expected = 0;
  return atomic_compare_exchange_strong(slot, &expected, rel) ? rel : 0;
}

int vmm_vm_create(const vmm_vm_config_t *config, vmm_vm_t **out) {
  /* Boot time counts from here: what the backend costs is part of it. */
  uint64_t created_ns = vmm__now_ns();
  vmm_vm_config_t cfg;
  if (!out)
    return vmm__error(VMM_EINVAL, "vmm_vm_create: out is NULL");
  *out = NULL;
  int rc = read_config(config, &cfg);
  if (rc < 0)
    return rc;
  if (cfg.max_vcpus == 0)
    cfg.max_vcpus = DEFAULT_MAX_VCPUS;
  if (cfg.max_vcpus > VMM_MAX_VCPUS)
    return vmm__error(VMM_ERANGE, "max_vcpus %u exceeds %u", cfg.max_vcpus,
                      VMM_MAX_VCPUS);
  if (cfg.flags & ~VMM_VM_F_IRQCHIP)
    return vmm__error(VMM_EINVAL, "unknown VM flags 0x%x",
                      cfg.flags & ~VMM_VM_F_IRQCHIP);

  const struct vmm__backend_ops *ops;
  rc = vmm__backend_find(cfg.backend, &ops);
  if (rc < 0)
    return rc;
  rc = ops->probe();
  if (rc < 0)
    return rc;

  vmm_vm_t *vm = calloc(1, sizeof(*vm));
  if (!vm)
    return vmm__error(VMM_ENOMEM, "out of memory for a VM");
  vm->ops = ops;
  vm->created_ns = created_ns;
  vm->max_vcpus = cfg.max_vcpus;
  vm->flags = cfg.flags;
  vm->hypercall_port =
      cfg.hypercall_port ? cfg.hypercall_port : VMM_HYPERCALL_PORT_DEFAULT;
  pthread_rwlock_init(&vm->lock, NULL);
  vmm__memmap_init(&vm->mem);
  vmm__bus_init(&vm->pio, "PIO", 0x10000);
  vmm__bus_init(&vm->mmio, "MMIO", 0);
  vm->vcpus = calloc(cfg.max_vcpus, sizeof(*vm->vcpus));
  if (!vm->vcpus) {
    rc = vmm__error(VMM_ENOMEM, "out of memory for the vCPU table");
    goto fail;
  }
  rc = vmm__bus_add(&vm->pio, vm->hypercall_port, 4, hypercall_port_reserved,
                    NULL);
  if (rc < 0)
    goto fail;
  rc = ops->caps(&vm->caps);
  if (rc < 0)
    goto fail;
  if ((cfg.flags & VMM_VM_F_IRQCHIP) && !ops->irqchip_create) {
    rc = vmm__error(VMM_ENOTSUP, "backend %s has no interrupt controller",
                    ops->name);
    goto fail;
  }
  rc = vmm__run_init(vm);
  if (rc < 0)
    goto fail;
  rc = ops->vm_create(vm, &vm->bvm);
  if (rc < 0)
    goto fail;
  if (cfg.flags & VMM_VM_F_IRQCHIP)
    rc = ops->irqchip_create(vm->bvm);
  if (rc == 0) {
    rc = vmm__handle_add(vm, VMM__H_VM);
    if (rc < 0)
      vmm__error(rc, "out of memory for the handle registry");
  }
  if (rc < 0) {
    ops->vm_destroy(vm->bvm);
    goto fail;
  }
  *out = vm;
  return 0;

fail:
  vmm__run_fini(vm);
  vmm__bus_fini(&vm->pio);
  vmm__bus_fini(&vm->mmio);
  vmm__memmap_fini(&vm->mem);
  pthread_rwlock_destroy(&vm->lock);
  free(vm->vcpus);
  free(vm);
  return rc;
}

int vmm_vm_destroy(vmm_vm_t *vm) {
  if (!vm)
    return 0;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_destroy: not a live VM handle");
  /* A migration thread uses the VM: it ends first (src/migrate/job.c). */
  vmm__migrate_job_destroy(vm);
  /* libvmm's own vCPU threads are stopped here; threads of the caller's
   * that are inside vmm_vcpu_run() must be kicked out by the caller. */
  int rc = vmm__run_shutdown(vm);
  if (rc < 0)
    return rc;
  for (uint32_t i = 0; i < vm->max_vcpus; i++) {
    if (vm->vcpus[i] && atomic_load(&vm->vcpus[i]->running))
      return vmm__error(VMM_EBUSY, "vmm_vm_destroy: vCPU %u is running", i);
  }
  /* Device work still queued on the loop finishes before devices go. */
  rc = vmm__loop_stop(vm);
  if (rc < 0)
    return rc;
  vmm__control_destroy(vm); /* before the devices it reports on */
  vmm__gdbstub_destroy(vm);
  vmm__handle_remove(vm);
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    if (vm->vcpus[i])
      vmm__vcpu_free(vm->vcpus[i]);
  vmm__devices_destroy(vm);
  vmm__chardevs_destroy(vm);
  vmm__loop_destroy(vm);
  vmm__run_fini(vm);
  /* The backend VM goes before the memory it maps. */
  vm->ops->vm_destroy(vm->bvm);
  while (vm->mem.count)
    vmm__region_free(vm->mem.slots[vm->mem.count - 1]->owner);
  vmm__memmap_fini(&vm->mem);
  vmm__bus_fini(&vm->pio);
  vmm__bus_fini(&vm->mmio);
  free(vm->hypercalls);
  free(vm->vcpus);
  vmm__config_state_free(vm->config_state);
  pthread_rwlock_destroy(&vm->lock);
  free(vm);
  return 0;
}

const char *vmm_vm_backend(const vmm_vm_t *vm) {
  return vmm__handle_valid(vm, VMM__H_VM) ? vm->ops->name : NULL;
}

int vmm_vm_caps(const vmm_vm_t *vm, uint64_t *caps) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_caps: not a live VM handle");
  if (!caps)
    return vmm__error(VMM_EINVAL, "vmm_vm_caps: caps is NULL");
  *caps = vm->caps;
  return 0;
}

void vmm_vm_set_userdata(vmm_vm_t *vm, void *userdata) {
  if (vmm__handle_valid(vm, VMM__H_VM))
    vm->userdata = userdata;
}

void *vmm_vm_get_userdata(const vmm_vm_t *vm) {
  return vmm__handle_valid(vm, VMM__H_VM) ? vm->userdata : NULL;
}

int vmm_vm_get_timings(const vmm_vm_t *vm, vmm_vm_timings_t *t) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_get_timings: not a live VM handle");
  if (!t || t->size < offsetof(vmm_vm_timings_t, start_ns))
    return vmm__error(VMM_EINVAL, "vmm_vm_get_timings: t is NULL or "
                      "t->size too small");
  vmm_vm_timings_t all = {
      .size = t->size < sizeof(all) ? t->size : sizeof(all),
      .created_ns = vm->created_ns,
      .start_ns = atomic_load(&vm->start_ns),
      .first_output_ns = atomic_load(&vm->first_output_ns),
      .boot_done_ns = atomic_load(&vm->boot_done_ns),
      .first_entry_ns = atomic_load(&vm->first_entry_ns),
  };
  memcpy(t, &all, all.size);
  return 0;
}
