/* src/config/create.c — building a VM from a validated description through
 * the public API: memory, vCPUs and CPU template, devices and back-ends,
 * the payload; and the device-id accessors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "device_internal.h"
#include "error.h"
#include "hw/acpi_pm.h"
#include "vm_internal.h"

/* Reads a whole (small) file; the caller frees *data. */
static int read_file(const char *path, void **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rbe");
  if (!f)
    return vmm__error(errno == ENOENT ? VMM_ENOENT : VMM_EIO, "%s: %s",
                      path, strerror(errno));
  size_t cap = 0;
  char *buf = NULL;
  int rc = 0;
  for (;;) {
    if (*len == cap) {
      if (cap >= VMM__CFG_FW_FILE_SIZE_MAX) {
        rc = vmm__error(VMM_ERANGE, "%s: larger than %u bytes", path,
                        VMM__CFG_FW_FILE_SIZE_MAX);
        break;
      }
      cap = cap ? cap * 2 : 4096;
      char *n = realloc(buf, cap);
      if (!n) {
        rc = vmm__error(VMM_ENOMEM, "%s: out of memory", path);
        break;
      }
      buf = n;
    }
    size_t r = fread(buf + *len, 1, cap - *len, f);
    *len += r;
    if (r == 0) {
      if (ferror(f))
        rc = vmm__error(VMM_EIO, "%s: read error", path);
      break;
    }
  }
  fclose(f);
  if (rc) {
    free(buf);
    *len = 0;
    return rc;
  }
  *data = buf;
  return 0;
}

static int add_fw_files(vmm_device_t *dev, const struct vmm__cfg_device *d) {
  for (size_t i = 0; i < d->n_files; i++) {
    void *data;
    size_t len;
    int rc = read_file(d->file_paths[i], &data, &len);
    if (rc == 0)
      rc = vmm_fw_cfg_add_file(dev, d->file_names[i], data ? data : "", len);
    free(data);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int make_chardev(vmm_vm_t *vm, const struct vmm__cfg_chardev *c,
                        vmm_chardev_t **out) {
  *out = NULL;
  switch (c->kind) {
  case VMM__CHR_STDIO:
    return vmm_chardev_stdio(vm, out);
  case VMM__CHR_FILE:
    return vmm_chardev_file(vm, c->path, out);
  case VMM__CHR_SOCKET:
    return vmm_chardev_socket(vm, c->path, out);
  case VMM__CHR_BUFFER:
    return vmm_chardev_buffer(vm, (size_t)c->capacity, out);
  }
  return 0;
}

static int make_device(vmm_vm_t *vm, const vmm_config_t *cfg,
                       const struct vmm__cfg_device *d, vmm_device_t **dev) {
  vmm_chardev_t *chr = NULL;
  int rc = make_chardev(vm, &d->chr, &chr);
  if (rc < 0)
    return rc;
  vmm_virtio_config_t vc = VMM_VIRTIO_CONFIG_INIT;
  vc.transport = d->transport;
  vc.irq = d->virtio_irq;
  vc.mmio_base = d->mmio_base;
  vc.queue_size = d->queue_size;
  vc.pci_slot = d->pci_slot;
  switch (d->kind) {
  case VMM__DEV_UART: {
    vmm_uart_config_t u = VMM_UART_CONFIG_INIT;
    u.port = d->port;
    u.irq = d->irq;
    u.chardev = chr;
    return vmm_uart_create(vm, &u, dev);
  }
  case VMM__DEV_DEBUG_EXIT:
    return vmm_debug_exit_create(vm, d->port, dev);
  case VMM__DEV_I8042:
    return vmm_i8042_create(vm, dev);
  case VMM__DEV_RTC:
    return vmm_rtc_create(vm, dev);
  case VMM__DEV_BOOT_TIMER:
    return vmm_boot_timer_create(vm, d->port, NULL, NULL, dev);
  case VMM__DEV_FW_CFG: {
    vmm_fw_cfg_config_t f = VMM_FW_CFG_CONFIG_INIT;
    f.port = d->port;
    /* Firmware and test kernels read the command line here too. */
    f.cmdline = d->cmdline ? d->cmdline : cfg->payload.cmdline;
    int rc = vmm_fw_cfg_create(vm, &f, dev);
    return rc < 0 ? rc : add_fw_files(*dev, d);
  }
  case VMM__DEV_VIRTIO_RNG:
    return vmm_virtio_rng_create(vm, &vc, dev);
  case VMM__DEV_VIRTIO_CONSOLE:
    return vmm_virtio_console_create(vm, &vc, chr, dev);
  case VMM__DEV_VIRTIO_BLK: {
    vmm_virtio_blk_config_t b = VMM_VIRTIO_BLK_CONFIG_INIT;
    b.path = d->path;
    b.flags = d->readonly ? VMM_BLK_F_READONLY : 0;
    b.num_queues = d->num_queues;
    memcpy(b.serial, d->serial, strnlen(d->serial, sizeof(b.serial)));
    return vmm_virtio_blk_create(vm, &vc, &b, dev);
  }
  case VMM__DEV_VIRTIO_NET: {
    vmm_virtio_net_config_t n = VMM_VIRTIO_NET_CONFIG_INIT;
    n.backend = d->net_backend;
    n.name = d->path;
    if (d->has_mac)
      memcpy(n.mac, d->mac, 6);
    return vmm_virtio_net_create(vm, &vc, &n, dev);
  }
  }
  return vmm__error(VMM_EINVAL, "unknown device kind %d", d->kind);
}

static int setup_mode(vmm_vcpu_t *vcpu, const struct vmm__cfg_payload *p,
                      int mode, uint64_t entry) {
  switch (mode) {
  case VMM__MODE_REAL:
    return vmm_vcpu_setup_real_mode(vcpu, p->cs,
                                    (uint16_t)(entry - (uint64_t)p->cs * 16),
                                    (uint16_t)p->stack);
  case VMM__MODE_PROTECTED:
    if (entry > UINT32_MAX)
      return vmm__error(VMM_ERANGE, "entry 0x%llx is above 4 GiB",
                        (unsigned long long)entry);
    return vmm_vcpu_setup_protected_mode(vcpu, (uint32_t)entry,
                                         (uint32_t)p->stack);
  default:
    return vmm_vcpu_setup_long_mode(vcpu, entry, p->stack, p->setup_gpa);
  }
}

static int load_payload(vmm_vm_t *vm, vmm_vcpu_t *vcpu0,
                        const struct vmm__cfg_payload *p) {
  int rc;
  switch (p->kind) {
  case VMM__PAYLOAD_FLAT:
    rc = vmm_load_flat_file(vm, p->path, p->gpa, NULL);
    return rc < 0 ? rc : setup_mode(vcpu0, p, p->mode, p->entry);
  case VMM__PAYLOAD_ELF: {
    vmm_elf_info_t info = {.size = sizeof(info)};
    rc = vmm_load_elf_file(vm, p->path, &info);
    if (rc < 0)
      return rc;
    int mode = p->mode;
    if (mode == VMM__MODE_AUTO)
      mode = info.elf_class == 64 ? VMM__MODE_LONG : VMM__MODE_PROTECTED;
    return setup_mode(vcpu0, p, mode, info.entry);
  }
  case VMM__PAYLOAD_KERNEL: {
    vmm_boot_config_t b = VMM_BOOT_CONFIG_INIT;
    b.format = p->format;
    b.kernel_path = p->path;
    b.initrd_path = p->initrd;
    b.cmdline = p->cmdline;
    b.flags = (p->acpi ? 0 : VMM_BOOT_F_NO_ACPI) |
              (p->mptable ? 0 : VMM_BOOT_F_NO_MPTABLE) |
              (p->virtio_mmio_cmdline ? VMM_BOOT_F_VIRTIO_MMIO_CMDLINE : 0);
    return vmm_boot(vm, &b, NULL);
  }
  }
  return 0;
}

static int build(vmm_vm_t *vm, const vmm_config_t *cfg, bool bare) {
  char what[96];
  int rc = 0;
  for (size_t i = 0; i < cfg->n_regions && rc == 0; i++) {
    const struct vmm__cfg_region *r = &cfg->regions[i];
    uint32_t flags = (r->readonly ? VMM_MEM_READONLY : 0) |
                     (r->dirty_log ? VMM_MEM_DIRTY_LOG : 0);
    rc = vmm_mem_map(vm, r->gpa, r->size, NULL, flags, NULL);
    snprintf(what, sizeof(what), "memory[%zu]", i);
  }
  if (rc < 0)
    return vmm__error_prefix(rc, what);

  vmm_vcpu_t *vcpu0 = NULL;
  for (uint32_t i = 0; i < cfg->vcpus; i++) {
    vmm_vcpu_t *v;
    if ((rc = vmm_vcpu_create(vm, i, &v)) < 0)
      return vmm__error_prefix(rc, "vcpus");
    if (i == 0)
      vcpu0 = v;
    if ((rc = vmm_vcpu_set_assist(v, cfg->assist)) < 0)
      return vmm__error_prefix(rc, "vcpus.assist");
  }
  bool oom;
  char *spec = vmm__config_cpu_spec(cfg, &oom);
  if (oom)
    return vmm__error(VMM_ENOMEM, "vcpus: out of memory");
  if (spec) {
    rc = vmm_vm_set_cpu_template(vm, spec);
    free(spec);
    if (rc < 0)
      return vmm__error_prefix(rc, "vcpus.template");
  }

  for (size_t i = 0; i < cfg->n_devices; i++) {
    const struct vmm__cfg_device *d = &cfg->devices[i];
    vmm_device_t *dev = NULL;
    snprintf(what, sizeof(what), "devices[%zu] (%s \"%s\")", i,
             vmm__cfg_dev_kind_name(d->kind), d->id);
    rc = make_device(vm, cfg, d, &dev);
    if (rc == 0 && dev)
      rc = vmm_device_set_id(dev, d->id);
    if (rc < 0)
      return vmm__error_prefix(rc, what);
  }

  /* After the devices: vmm_boot() describes them to the guest. A bare
   * VM gets the device vmm_boot() adds with ACPI tables, so that it has
   * the devices of the VM it stands for. */
  if (!bare)
    rc = load_payload(vm, vcpu0, &cfg->payload);
  else if (cfg->payload.kind == VMM__PAYLOAD_KERNEL && cfg->payload.acpi)
    rc = vmm__acpi_pm_create(vm, NULL);
  if (rc < 0)
    return vmm__error_prefix(rc, "payload");
  if (cfg->has_sandbox && (rc = vmm_vm_set_sandbox(vm, cfg->sandbox)) < 0)
    return vmm__error_prefix(rc, "sandbox");
  /* Last: once it listens, clients may ask for the description. */
  if (!bare && cfg->control_path &&
      (rc = vmm_vm_control_listen(vm, cfg->control_path)) < 0)
    return vmm__error_prefix(rc, "control");
  return 0;
}

static int create(const vmm_config_t *cfg, vmm_vm_t **out, bool bare) {
  static const char fn[] = "vmm_vm_create_from_config";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!cfg)
    return vmm__error(VMM_EINVAL, "%s: cfg is NULL", fn);
  vmm_vm_config_t vc = VMM_VM_CONFIG_INIT;
  vc.backend = cfg->backend ? cfg->backend : "auto";
  vc.max_vcpus = cfg->vcpus;
  vc.flags = cfg->irqchip ? VMM_VM_F_IRQCHIP : 0;
  vc.hypercall_port = cfg->hypercall_port;
  vmm_vm_t *vm;
  int rc = vmm_vm_create(&vc, &vm);
  if (rc < 0)
    return vmm__error_prefix(rc, fn);
  struct vmm__config_state *st = calloc(1, sizeof(*st));
  if (!st || !(st->cfg = vmm__config_dup(cfg))) {
    free(st);
    vmm_vm_destroy(vm);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  vm->config_state = st;
  rc = build(vm, cfg, bare);
  if (rc < 0) {
    /* Keep the message: destroying may not overwrite it, but a failure
     * inside destroy would. */
    char msg[768];
    snprintf(msg, sizeof(msg), "%s", vmm_last_error());
    vmm_vm_destroy(vm);
    return vmm__error(rc, "%s: %s", fn, msg);
  }
  *out = vm;
  return 0;
}

int vmm_vm_create_from_config(const vmm_config_t *cfg, vmm_vm_t **out) {
  return create(cfg, out, false);
}

int vmm__vm_create_from_config_bare(const vmm_config_t *cfg, vmm_vm_t **out) {
  return create(cfg, out, true);
}

int vmm__config_note_boot(vmm_vm_t *vm, const vmm_boot_config_t *boot) {
  struct vmm__cfg_payload p = {.kind = VMM__PAYLOAD_KERNEL};
  p.format = boot->format;
  p.acpi = !(boot->flags & VMM_BOOT_F_NO_ACPI);
  p.mptable = !(boot->flags & VMM_BOOT_F_NO_MPTABLE);
  p.virtio_mmio_cmdline = (boot->flags & VMM_BOOT_F_VIRTIO_MMIO_CMDLINE) != 0;
  p.path = strdup(boot->kernel_path);
  p.initrd = boot->initrd_path ? strdup(boot->initrd_path) : NULL;
  p.cmdline = strdup(boot->cmdline ? boot->cmdline : "");
  vmm_config_t *cfg = vmm__config_new();
  struct vmm__config_state *st = calloc(1, sizeof(*st));
  if (!p.path || !p.cmdline || (boot->initrd_path && !p.initrd) || !cfg ||
      !st) {
    free(p.path);
    free(p.initrd);
    free(p.cmdline);
    vmm_config_free(cfg);
    free(st);
    return vmm__error(VMM_ENOMEM, "out of memory");
  }
  cfg->payload = p;
  st->cfg = cfg;
  pthread_rwlock_wrlock(&vm->lock);
  bool keep = vm->config_state == NULL;
  if (keep)
    vm->config_state = st;
  pthread_rwlock_unlock(&vm->lock);
  if (!keep)
    vmm__config_state_free(st);
  return 0;
}

/* ---- device ids -------------------------------------------------------- */

static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= VMM__DEVICE_ID_MAX)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
      return false;
  return true;
}

int vmm_device_set_id(vmm_device_t *dev, const char *id) {
  static const char fn[] = "vmm_device_set_id";
  if (!vmm__handle_valid(dev, VMM__H_DEVICE))
    return vmm__error(VMM_EBADF, "%s: not a live device handle", fn);
  if (!id || !valid_id(id))
    return vmm__error(VMM_EINVAL, "%s: the id must be 1..%d characters of "
                      "[A-Za-z0-9_.-]", fn, VMM__DEVICE_ID_MAX - 1);
  vmm_vm_t *vm = dev->vm;
  pthread_rwlock_wrlock(&vm->lock);
  for (vmm_device_t *d = vm->devices; d; d = d->next) {
    if (d != dev && strcmp(d->id, id) == 0) {
      pthread_rwlock_unlock(&vm->lock);
      return vmm__error(VMM_EEXIST, "%s: another device of the VM has the "
                        "id \"%s\"", fn, id);
    }
  }
  strcpy(dev->id, id);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}

const char *vmm_device_id(const vmm_device_t *dev) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE) || !dev->id[0])
    return NULL;
  return dev->id;
}

int vmm_vm_find_device(vmm_vm_t *vm, const char *id, vmm_device_t **out) {
  static const char fn[] = "vmm_vm_find_device";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!id)
    return vmm__error(VMM_EINVAL, "%s: id is NULL", fn);
  pthread_rwlock_rdlock(&vm->lock);
  for (vmm_device_t *d = vm->devices; d; d = d->next)
    if (strcmp(d->id, id) == 0)
      *out = d;
  pthread_rwlock_unlock(&vm->lock);
  if (!*out)
    return vmm__error(VMM_ENOENT, "%s: no device \"%s\"", fn, id);
  return 0;
}

vmm_chardev_t *vmm_device_chardev(const vmm_device_t *dev) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE) || !dev->ops->describe)
    return NULL;
  struct vmm__device_desc desc;
  memset(&desc, 0, sizeof(desc));
  dev->ops->describe(dev, &desc);
  return desc.chardev;
}
