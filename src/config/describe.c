/* src/config/describe.c — a live VM → its VM description: what the VM
 * object, its regions, vCPUs, devices and back-ends say about how they
 * were made, plus what a VM made from a description kept of it (payload,
 * control socket); then written out as JSON (emit.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "device_internal.h"
#include "error.h"
#include "virtio/device.h"
#include "vm_internal.h"

static const struct {
  const char *type; /* vmm_device_type() */
  int kind;
} device_types[] = {
    {"uart16550", VMM__DEV_UART},
    {"debug-exit", VMM__DEV_DEBUG_EXIT},
    {"i8042", VMM__DEV_I8042},
    {"rtc", VMM__DEV_RTC},
    {"fw-cfg", VMM__DEV_FW_CFG},
    {"boot-timer", VMM__DEV_BOOT_TIMER},
    {"virtio-rng", VMM__DEV_VIRTIO_RNG},
    {"virtio-console", VMM__DEV_VIRTIO_CONSOLE},
    {"virtio-blk", VMM__DEV_VIRTIO_BLK},
    {"virtio-net", VMM__DEV_VIRTIO_NET},
};

static char *dup_or_null(const char *s, bool *ok) {
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    *ok = false;
  return d;
}

static void describe_chardev(const vmm_chardev_t *chr,
                             struct vmm__cfg_chardev *c, bool *ok) {
  if (!chr)
    return;
  const char *path;
  size_t capacity;
  const char *kind = vmm__chardev_describe(chr, &path, &capacity);
  c->kind = strcmp(kind, "stdio") == 0    ? VMM__CHR_STDIO
            : strcmp(kind, "file") == 0   ? VMM__CHR_FILE
            : strcmp(kind, "socket") == 0 ? VMM__CHR_SOCKET
                                          : VMM__CHR_BUFFER;
  c->path = dup_or_null(path, ok);
  c->capacity = capacity;
}

/* Fills `d` from a device; false when it is not one a description has
 * (PCI host bridge, ACPI PM: parts of the platform other devices bring). */
static bool describe_device(const vmm_device_t *dev,
                            struct vmm__cfg_device *d, bool *ok) {
  int kind = -1;
  for (size_t i = 0; i < sizeof(device_types) / sizeof(device_types[0]); i++)
    if (strcmp(dev->ops->type, device_types[i].type) == 0)
      kind = device_types[i].kind;
  if (kind < 0)
    return false;
  memset(d, 0, sizeof(*d));
  d->kind = kind;
  snprintf(d->id, sizeof(d->id), "%s", dev->id);
  struct vmm__device_desc desc;
  memset(&desc, 0, sizeof(desc));
  if (dev->ops->describe)
    dev->ops->describe(dev, &desc);
  d->port = desc.port;
  d->irq = desc.irq;
  describe_chardev(desc.chardev, &d->chr, ok);
  if (kind >= VMM__DEV_VIRTIO_RNG) {
    const struct vmm__virtio_dev *v = (const struct vmm__virtio_dev *)dev;
    int devfn = vmm_virtio_pci_devfn(dev);
    if (devfn >= 0) {
      d->transport = VMM_VIRTIO_PCI;
      d->pci_slot = (uint32_t)devfn >> 3;
    } else {
      d->transport = VMM_VIRTIO_MMIO;
      d->mmio_base = v->mmio.base;
      d->virtio_irq = v->mmio.gsi;
    }
    d->queue_size = v->queue_size_max;
  }
  if (kind == VMM__DEV_VIRTIO_BLK) {
    d->path = dup_or_null(desc.path, ok);
    d->readonly = desc.flags & VMM_BLK_F_READONLY;
    d->num_queues = desc.num_queues;
    memcpy(d->serial, desc.serial, sizeof(d->serial));
    d->serial[sizeof(d->serial) - 1] = 0;
  }
  if (kind == VMM__DEV_VIRTIO_NET) {
    d->net_backend = desc.net_backend;
    d->path = dup_or_null(desc.path, ok);
    memcpy(d->mac, desc.mac, 6);
    d->has_mac = true;
  }
  if (kind == VMM__DEV_FW_CFG)
    d->cmdline = dup_or_null(desc.cmdline, ok);
  return true;
}

/* "baseline,-xsave,+x2apic" → template "baseline", features [...]. */
static void describe_cpu(const char *spec, vmm_config_t *cfg, bool *ok) {
  if (!spec[0])
    return;
  char *copy = strdup(spec);
  if (!copy) {
    *ok = false;
    return;
  }
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ')
      tok++;
    if (!*tok)
      continue;
    if (*tok != '+' && *tok != '-') {
      free(cfg->cpu_template);
      cfg->cpu_template = dup_or_null(tok, ok);
    } else if (cfg->n_features < VMM__CFG_MAX_FEATURES) {
      cfg->features[cfg->n_features] = dup_or_null(tok, ok);
      if (cfg->features[cfg->n_features])
        cfg->n_features++;
    }
  }
  free(copy);
}

static void copy_payload(const struct vmm__cfg_payload *src,
                         struct vmm__cfg_payload *dst, bool *ok) {
  *dst = *src;
  dst->path = dup_or_null(src->path, ok);
  dst->initrd = dup_or_null(src->initrd, ok);
  dst->cmdline = dup_or_null(src->cmdline, ok);
}

/* fw-cfg files are copied into the device: their paths come from the
 * description the VM was made from (the device with the same id). */
static void copy_fw_files(const vmm_config_t *from, vmm_config_t *to,
                          bool *ok) {
  for (size_t i = 0; i < to->n_devices; i++) {
    struct vmm__cfg_device *d = &to->devices[i];
    if (d->kind != VMM__DEV_FW_CFG)
      continue;
    for (size_t j = 0; j < from->n_devices; j++) {
      const struct vmm__cfg_device *s = &from->devices[j];
      if (s->kind != VMM__DEV_FW_CFG || strcmp(s->id, d->id) != 0)
        continue;
      for (size_t f = 0; f < s->n_files; f++) {
        d->file_names[f] = dup_or_null(s->file_names[f], ok);
        d->file_paths[f] = dup_or_null(s->file_paths[f], ok);
      }
      d->n_files = s->n_files;
    }
  }
}

int vmm__config_from_vm(vmm_vm_t *vm, vmm_config_t **out) {
  *out = NULL;
  vmm_config_t *cfg = vmm__config_new();
  if (!cfg)
    return vmm__error(VMM_ENOMEM, "out of memory");
  bool ok = true;
  int rc = 0;
  cfg->backend = dup_or_null(vm->ops->name, &ok);
  cfg->irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;
  cfg->hypercall_port = vm->hypercall_port;

  pthread_rwlock_rdlock(&vm->lock);
  if (vm->mem.count > VMM__CFG_MAX_REGIONS) {
    rc = vmm__error(VMM_ERANGE, "%zu memory regions; a description has at "
                    "most %d", vm->mem.count, VMM__CFG_MAX_REGIONS);
    goto unlock;
  }
  for (size_t i = 0; i < vm->mem.count; i++) {
    const struct vmm__memslot *s = vm->mem.slots[i];
    cfg->regions[i] = (struct vmm__cfg_region){
        .gpa = s->gpa,
        .size = s->size,
        .readonly = (s->flags & VMM_MEM_READONLY) != 0,
        .dirty_log = (s->flags & VMM_MEM_DIRTY_LOG) != 0};
  }
  cfg->n_regions = vm->mem.count;
  cfg->vcpus = 0;
  bool first = true;
  for (uint32_t i = 0; i < vm->max_vcpus; i++) {
    if (!vm->vcpus[i])
      continue;
    cfg->vcpus++;
    /* The first vCPU's flags stand for all (one setting per VM here). */
    if (first)
      cfg->assist = __atomic_load_n(&vm->vcpus[i]->assist_flags,
                                    __ATOMIC_RELAXED);
    first = false;
  }
  describe_cpu(vm->cpu_template, cfg, &ok);
  cfg->sandbox = vmm_vm_get_sandbox(vm);
  cfg->has_sandbox = cfg->sandbox != 0;

  /* The VM's list is newest first; a description lists oldest first. */
  size_t n = 0;
  for (const vmm_device_t *d = vm->devices; d; d = d->next)
    n++;
  const vmm_device_t **order = calloc(n ? n : 1, sizeof(*order));
  if (!order) {
    ok = false;
    goto unlock;
  }
  size_t k = n;
  for (const vmm_device_t *d = vm->devices; d; d = d->next)
    order[--k] = d;
  for (size_t i = 0; i < n; i++) {
    if (cfg->n_devices == VMM__CFG_MAX_DEVICES) {
      rc = vmm__error(VMM_ERANGE, "more than %d devices; a description has "
                      "at most that many", VMM__CFG_MAX_DEVICES);
      break;
    }
    if (describe_device(order[i], &cfg->devices[cfg->n_devices], &ok))
      cfg->n_devices++;
  }
  free(order);
  const struct vmm__config_state *st = vm->config_state;
  if (st) {
    copy_fw_files(st->cfg, cfg, &ok);
    copy_payload(&st->cfg->payload, &cfg->payload, &ok);
    cfg->control_path = dup_or_null(st->cfg->control_path, &ok);
  }
unlock:
  pthread_rwlock_unlock(&vm->lock);
  if (rc == 0 && !ok)
    rc = vmm__error(VMM_ENOMEM, "out of memory");
  if (rc) {
    vmm_config_free(cfg);
    return rc;
  }
  vmm__config_assign_ids(cfg);
  *out = cfg;
  return 0;
}

int vmm_vm_describe_json(vmm_vm_t *vm, char **out) {
  static const char fn[] = "vmm_vm_describe_json";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  vmm_config_t *cfg;
  int rc = vmm__config_from_vm(vm, &cfg);
  if (rc == 0) {
    rc = vmm__config_to_json(cfg, out);
    vmm_config_free(cfg);
  }
  return rc < 0 ? vmm__error_prefix(rc, fn) : 0;
}
