/* src/config/emit.c — a VM description written out as JSON in the schema
 * the parser reads (every field explicit, addresses in hex, sizes with a
 * unit where one fits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "config/config_internal.h"
#include "error.h"

/* "0x100000" */
static cJSON *hex(uint64_t v) {
  char s[24];
  snprintf(s, sizeof(s), "0x%llx", (unsigned long long)v);
  return cJSON_CreateString(s);
}

/* "64M", "4K", or a plain number when no unit divides it. */
static cJSON *size(uint64_t v) {
  static const struct {
    char unit;
    unsigned shift;
  } units[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    uint64_t m = 1ull << units[i].shift;
    if (v && v % m == 0) {
      char s[24];
      snprintf(s, sizeof(s), "%llu%c", (unsigned long long)(v / m),
               units[i].unit);
      return cJSON_CreateString(s);
    }
  }
  return cJSON_CreateNumber((double)v);
}

/* Adders that remember a failed allocation in *ok. */
static void add(cJSON *obj, const char *key, cJSON *item, bool *ok) {
  if (!item || !cJSON_AddItemToObject(obj, key, item)) {
    cJSON_Delete(item);
    *ok = false;
  }
}

static void add_str(cJSON *obj, const char *key, const char *s, bool *ok) {
  if (s)
    add(obj, key, cJSON_CreateString(s), ok);
}

static cJSON *chardev(const struct vmm__cfg_chardev *c, bool *ok) {
  static const char *const names[] = {"none", "stdio", "file", "socket",
                                      "buffer"};
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    *ok = false;
    return NULL;
  }
  add_str(o, "type", names[c->kind], ok);
  add_str(o, "path", c->path, ok);
  if (c->kind == VMM__CHR_BUFFER)
    add(o, "capacity", size(c->capacity), ok);
  return o;
}

static cJSON *device(const struct vmm__cfg_device *d, bool *ok) {
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    *ok = false;
    return NULL;
  }
  add_str(o, "type", vmm__cfg_dev_kind_name(d->kind), ok);
  add_str(o, "id", d->id, ok);
  switch (d->kind) {
  case VMM__DEV_UART:
    add(o, "port", hex(d->port), ok);
    add(o, "irq", cJSON_CreateNumber(d->irq), ok);
    break;
  case VMM__DEV_DEBUG_EXIT:
  case VMM__DEV_BOOT_TIMER:
    add(o, "port", hex(d->port), ok);
    break;
  case VMM__DEV_FW_CFG:
    add(o, "port", hex(d->port), ok);
    add_str(o, "cmdline", d->cmdline, ok);
    if (d->n_files) {
      cJSON *files = cJSON_CreateArray();
      add(o, "files", files, ok);
      for (size_t i = 0; *ok && i < d->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        if (!f || !cJSON_AddItemToArray(files, f)) {
          cJSON_Delete(f);
          *ok = false;
          break;
        }
        add_str(f, "name", d->file_names[i], ok);
        add_str(f, "path", d->file_paths[i], ok);
      }
    }
    break;
  }
  if (d->kind >= VMM__DEV_VIRTIO_RNG) {
    bool pci = d->transport == VMM_VIRTIO_PCI;
    add_str(o, "transport", pci ? "pci" : "mmio", ok);
    if (!pci && d->virtio_irq)
      add(o, "irq", cJSON_CreateNumber(d->virtio_irq), ok);
    if (!pci && d->mmio_base)
      add(o, "mmio_base", hex(d->mmio_base), ok);
    if (pci && d->pci_slot)
      add(o, "pci_slot", cJSON_CreateNumber(d->pci_slot), ok);
    if (d->queue_size)
      add(o, "queue_size", cJSON_CreateNumber(d->queue_size), ok);
  }
  if (d->kind == VMM__DEV_UART || d->kind == VMM__DEV_VIRTIO_CONSOLE)
    add(o, "chardev", chardev(&d->chr, ok), ok);
  if (d->kind == VMM__DEV_VIRTIO_BLK) {
    add_str(o, "path", d->path, ok);
    add(o, "readonly", cJSON_CreateBool(d->readonly), ok);
    add(o, "num_queues", cJSON_CreateNumber(d->num_queues ? d->num_queues
                                                          : 1), ok);
    if (d->serial[0])
      add_str(o, "serial", d->serial, ok);
  }
  if (d->kind == VMM__DEV_VIRTIO_NET) {
    bool tap = d->net_backend == VMM_NET_TAP;
    add_str(o, "backend", tap ? "tap" : "socket", ok);
    add_str(o, tap ? "name" : "path", d->path, ok);
    if (d->has_mac) {
      char mac[18];
      snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", d->mac[0],
               d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5]);
      add_str(o, "mac", mac, ok);
    }
  }
  return o;
}

static cJSON *payload(const struct vmm__cfg_payload *p, bool *ok) {
  static const char *const modes[] = {"auto", "real", "protected", "long"};
  static const char *const formats[] = {"auto", "bzimage", "pvh",
                                        "multiboot", "elf"};
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    *ok = false;
    return NULL;
  }
  switch (p->kind) {
  case VMM__PAYLOAD_FLAT:
  case VMM__PAYLOAD_ELF:
    add_str(o, "type", p->kind == VMM__PAYLOAD_FLAT ? "flat" : "elf", ok);
    add_str(o, "path", p->path, ok);
    if (p->kind == VMM__PAYLOAD_FLAT) {
      add(o, "gpa", hex(p->gpa), ok);
      add(o, "entry", hex(p->entry), ok);
      if (p->mode == VMM__MODE_REAL)
        add(o, "cs", hex(p->cs), ok);
    }
    add_str(o, "mode", modes[p->mode], ok);
    add(o, "stack", hex(p->stack), ok);
    if (p->mode == VMM__MODE_LONG || p->mode == VMM__MODE_AUTO)
      add(o, "setup_gpa", hex(p->setup_gpa), ok);
    break;
  case VMM__PAYLOAD_KERNEL:
    add_str(o, "type", "kernel", ok);
    add_str(o, "path", p->path, ok);
    add_str(o, "format", formats[p->format <= 4 ? p->format : 0], ok);
    add_str(o, "initrd", p->initrd, ok);
    add_str(o, "cmdline", p->cmdline ? p->cmdline : "", ok);
    add(o, "acpi", cJSON_CreateBool(p->acpi), ok);
    add(o, "mptable", cJSON_CreateBool(p->mptable), ok);
    add(o, "virtio_mmio_cmdline", cJSON_CreateBool(p->virtio_mmio_cmdline),
        ok);
    break;
  }
  return o;
}

int vmm__config_to_json(const vmm_config_t *cfg, char **out) {
  *out = NULL;
  bool ok = true;
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return vmm__error(VMM_ENOMEM, "out of memory");
  add_str(root, "backend", cfg->backend ? cfg->backend : "auto", &ok);
  add(root, "irqchip", cJSON_CreateBool(cfg->irqchip), &ok);
  add(root, "hypercall_port",
      hex(cfg->hypercall_port ? cfg->hypercall_port
                              : VMM_HYPERCALL_PORT_DEFAULT), &ok);

  cJSON *mem = cJSON_CreateArray();
  add(root, "memory", mem, &ok);
  for (size_t i = 0; ok && i < cfg->n_regions; i++) {
    const struct vmm__cfg_region *r = &cfg->regions[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(mem, o)) {
      cJSON_Delete(o);
      ok = false;
      break;
    }
    add(o, "gpa", hex(r->gpa), &ok);
    add(o, "size", size(r->size), &ok);
    add(o, "readonly", cJSON_CreateBool(r->readonly), &ok);
    add(o, "dirty_log", cJSON_CreateBool(r->dirty_log), &ok);
  }

  cJSON *vc = cJSON_CreateObject();
  add(root, "vcpus", vc, &ok);
  if (ok) {
    add(vc, "count", cJSON_CreateNumber(cfg->vcpus), &ok);
    add_str(vc, "template", cfg->cpu_template, &ok);
    if (cfg->n_features)
      add(vc, "features",
          cJSON_CreateStringArray((const char *const *)cfg->features,
                                  (int)cfg->n_features), &ok);
    cJSON *assist = cJSON_CreateArray();
    add(vc, "assist", assist, &ok);
    for (int b = 0; ok && vmm__cfg_assist_names[b]; b++) {
      if (!(cfg->assist & (1u << b)))
        continue;
      cJSON *name = cJSON_CreateString(vmm__cfg_assist_names[b]);
      if (!name || !cJSON_AddItemToArray(assist, name)) {
        cJSON_Delete(name);
        ok = false;
      }
    }
  }
  if (ok && cfg->payload.kind != VMM__PAYLOAD_NONE)
    add(root, "payload", payload(&cfg->payload, &ok), &ok);

  cJSON *devs = cJSON_CreateArray();
  add(root, "devices", devs, &ok);
  for (size_t i = 0; ok && i < cfg->n_devices; i++) {
    cJSON *d = device(&cfg->devices[i], &ok);
    if (!d || !cJSON_AddItemToArray(devs, d)) {
      cJSON_Delete(d);
      ok = false;
    }
  }
  if (ok)
    add_str(root, "sandbox",
            !cfg->sandbox ? "off"
            : (cfg->sandbox & VMM_SANDBOX_KILL) ? "kill" : "on", &ok);
  if (ok && cfg->control_path) {
    cJSON *c = cJSON_CreateObject();
    add(root, "control", c, &ok);
    if (ok)
      add_str(c, "path", cfg->control_path, &ok);
  }
  char *text = ok ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return vmm__error(VMM_ENOMEM, "out of memory for the description");
  *out = text;
  return 0;
}
