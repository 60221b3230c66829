/* src/config/validate.c — checks across fields of a parsed VM description
 * (overlapping regions, ports and windows, duplicate ids and back-ends,
 * an image that does not fit), and the ids of devices that have none. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config_internal.h"
#include "error.h"

#define ULL(x) ((unsigned long long)(x))

static int check_regions(const vmm_config_t *cfg) {
  for (size_t j = 0; j < cfg->n_regions; j++) {
    const struct vmm__cfg_region *b = &cfg->regions[j];
    for (size_t i = 0; i < j; i++) {
      const struct vmm__cfg_region *a = &cfg->regions[i];
      if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
        return vmm__error(VMM_EOVERLAP, "memory[%zu]: [0x%llx, 0x%llx) "
                          "overlaps memory[%zu] [0x%llx, 0x%llx)", j,
                          ULL(b->gpa), ULL(b->gpa + b->size), i, ULL(a->gpa),
                          ULL(a->gpa + a->size));
    }
  }
  return 0;
}

/* True when every byte of [gpa, gpa + len) is in some region. */
static bool covered(const vmm_config_t *cfg, uint64_t gpa, uint64_t len) {
  while (len) {
    bool found = false;
    for (size_t i = 0; i < cfg->n_regions; i++) {
      const struct vmm__cfg_region *r = &cfg->regions[i];
      if (gpa >= r->gpa && gpa - r->gpa < r->size) {
        uint64_t n = r->size - (gpa - r->gpa);
        if (n >= len)
          return true;
        gpa += n;
        len -= n;
        found = true;
        break;
      }
    }
    if (!found)
      return false;
  }
  return true;
}

static int check_payload(const vmm_config_t *cfg) {
  const struct vmm__cfg_payload *p = &cfg->payload;
  if (p->kind == VMM__PAYLOAD_FLAT) {
    struct stat st;
    uint64_t size = stat(p->path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (size == 0)
      return vmm__error(VMM_EINVAL, "payload.path: the image is empty");
    if (p->gpa + size < p->gpa || !covered(cfg, p->gpa, size))
      return vmm__error(VMM_EFAULT, "payload.gpa: the image (%llu bytes) "
                        "at 0x%llx does not fit in guest memory", ULL(size),
                        ULL(p->gpa));
  }
  if ((p->kind == VMM__PAYLOAD_FLAT || p->kind == VMM__PAYLOAD_ELF) &&
      (p->mode == VMM__MODE_LONG || p->mode == VMM__MODE_AUTO) &&
      !covered(cfg, p->setup_gpa, VMM_LONG_MODE_SETUP_SIZE))
    return vmm__error(VMM_EFAULT, "payload.setup_gpa: the %u bytes of long-"
                      "mode tables at 0x%llx are not in guest memory",
                      VMM_LONG_MODE_SETUP_SIZE, ULL(p->setup_gpa));
  return 0;
}

/* ---- ids ---------------------------------------------------------------- */

static int check_ids(vmm_config_t *cfg) {
  for (size_t j = 0; j < cfg->n_devices; j++) {
    if (!cfg->devices[j].id[0])
      continue;
    for (size_t i = 0; i < j; i++)
      if (strcmp(cfg->devices[i].id, cfg->devices[j].id) == 0)
        return vmm__error(VMM_EEXIST, "devices[%zu].id: duplicate id \"%s\" "
                          "(devices[%zu] has it)", j, cfg->devices[j].id, i);
  }
  return 0;
}

static bool id_taken(const vmm_config_t *cfg, const char *id) {
  for (size_t i = 0; i < cfg->n_devices; i++)
    if (strcmp(cfg->devices[i].id, id) == 0)
      return true;
  return false;
}

/* "<type><n>" with the smallest n not taken: "uart0", "virtio-blk1". */
void vmm__config_assign_ids(vmm_config_t *cfg) {
  for (size_t j = 0; j < cfg->n_devices; j++) {
    struct vmm__cfg_device *d = &cfg->devices[j];
    for (unsigned n = 0; !d->id[0]; n++) {
      char id[VMM__CFG_ID_MAX + 1];
      snprintf(id, sizeof(id), "%s%u", vmm__cfg_dev_kind_name(d->kind), n);
      if (!id_taken(cfg, id))
        strcpy(d->id, id);
    }
  }
}

/* ---- ports and windows ------------------------------------------------- */

struct port_range {
  uint32_t start, len;
  size_t dev; /* SIZE_MAX: the hypercall port */
};

static size_t device_ports(const struct vmm__cfg_device *d,
                           struct port_range r[2]) {
  switch (d->kind) {
  case VMM__DEV_UART:
    r[0] = (struct port_range){d->port, 8, 0};
    return 1;
  case VMM__DEV_DEBUG_EXIT:
  case VMM__DEV_BOOT_TIMER:
    r[0] = (struct port_range){d->port, 1, 0};
    return 1;
  case VMM__DEV_FW_CFG:
    r[0] = (struct port_range){d->port, 2, 0};
    return 1;
  case VMM__DEV_I8042:
    r[0] = (struct port_range){0x60, 1, 0};
    r[1] = (struct port_range){0x64, 1, 0};
    return 2;
  case VMM__DEV_RTC:
    r[0] = (struct port_range){0x70, 2, 0};
    return 1;
  }
  return 0;
}

static bool has_port_field(int kind) {
  return kind == VMM__DEV_UART || kind == VMM__DEV_DEBUG_EXIT ||
         kind == VMM__DEV_BOOT_TIMER || kind == VMM__DEV_FW_CFG;
}

static int check_ports(const vmm_config_t *cfg) {
  struct port_range all[2 * VMM__CFG_MAX_DEVICES + 1];
  size_t n = 0;
  uint16_t hc = cfg->hypercall_port ? cfg->hypercall_port
                                    : VMM_HYPERCALL_PORT_DEFAULT;
  all[n++] = (struct port_range){hc, 1, SIZE_MAX};
  for (size_t j = 0; j < cfg->n_devices; j++) {
    const struct vmm__cfg_device *d = &cfg->devices[j];
    struct port_range mine[2];
    size_t m = device_ports(d, mine);
    for (size_t k = 0; k < m; k++) {
      struct port_range *b = &mine[k];
      for (size_t i = 0; i < n; i++) {
        const struct port_range *a = &all[i];
        if (a->start >= b->start + b->len || b->start >= a->start + a->len)
          continue;
        char other[64];
        if (a->dev == SIZE_MAX)
          snprintf(other, sizeof(other), "the hypercall port 0x%x", hc);
        else
          snprintf(other, sizeof(other), "devices[%zu] (%s)", a->dev,
                   vmm__cfg_dev_kind_name(cfg->devices[a->dev].kind));
        return vmm__error(VMM_EOVERLAP, "devices[%zu]%s: ports [0x%x, 0x%x) "
                          "overlap %s", j, has_port_field(d->kind) ? ".port"
                                                                   : "",
                          b->start, b->start + b->len, other);
      }
    }
    for (size_t k = 0; k < m; k++) {
      mine[k].dev = j;
      all[n++] = mine[k];
    }
  }
  return 0;
}

static int check_virtio(const vmm_config_t *cfg) {
  for (size_t j = 0; j < cfg->n_devices; j++) {
    const struct vmm__cfg_device *d = &cfg->devices[j];
    if (d->kind < VMM__DEV_VIRTIO_RNG)
      continue;
    if (d->mmio_base) {
      for (size_t i = 0; i < cfg->n_regions; i++) {
        const struct vmm__cfg_region *r = &cfg->regions[i];
        if (d->mmio_base >= r->gpa && d->mmio_base - r->gpa < r->size)
          return vmm__error(VMM_EOVERLAP, "devices[%zu].mmio_base: 0x%llx "
                            "is inside memory[%zu]", j, ULL(d->mmio_base), i);
      }
    }
    for (size_t i = 0; i < j; i++) {
      const struct vmm__cfg_device *o = &cfg->devices[i];
      if (d->mmio_base && o->mmio_base == d->mmio_base)
        return vmm__error(VMM_EOVERLAP, "devices[%zu].mmio_base: 0x%llx is "
                          "devices[%zu]'s already", j, ULL(d->mmio_base), i);
      if (d->pci_slot && o->pci_slot == d->pci_slot)
        return vmm__error(VMM_EOVERLAP, "devices[%zu].pci_slot: slot %u is "
                          "devices[%zu]'s already", j, d->pci_slot, i);
    }
  }
  return 0;
}

/* ---- character back-ends and sockets ----------------------------------- */

static int check_chardevs(const vmm_config_t *cfg) {
  for (size_t j = 0; j < cfg->n_devices; j++) {
    const struct vmm__cfg_chardev *b = &cfg->devices[j].chr;
    if (b->kind == VMM__CHR_NONE)
      continue;
    for (size_t i = 0; i < j; i++) {
      const struct vmm__cfg_chardev *a = &cfg->devices[i].chr;
      if (b->kind == VMM__CHR_STDIO && a->kind == VMM__CHR_STDIO)
        return vmm__error(VMM_EBUSY, "devices[%zu].chardev: stdio serves "
                          "devices[%zu] already (a back-end serves one "
                          "device)", j, i);
      if (b->path && a->path && strcmp(a->path, b->path) == 0)
        return vmm__error(VMM_EBUSY, "devices[%zu].chardev.path: \"%s\" is "
                          "devices[%zu]'s back-end already", j, b->path, i);
    }
    struct stat st;
    if (b->kind == VMM__CHR_SOCKET && lstat(b->path, &st) == 0)
      return vmm__error(VMM_EEXIST, "devices[%zu].chardev.path: \"%s\" "
                        "exists already (libvmm creates the socket)", j,
                        b->path);
    if (b->kind == VMM__CHR_FILE && stat(b->path, &st) == 0 &&
        !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
        !S_ISFIFO(st.st_mode))
      return vmm__error(VMM_EINVAL, "devices[%zu].chardev.path: \"%s\" is "
                        "not a file", j, b->path);
    if (cfg->control_path && b->path &&
        strcmp(cfg->control_path, b->path) == 0)
      return vmm__error(VMM_EBUSY, "control.path: \"%s\" is devices[%zu]'s "
                        "back-end already", b->path, j);
  }
  struct stat st;
  if (cfg->control_path && lstat(cfg->control_path, &st) == 0)
    return vmm__error(VMM_EEXIST, "control.path: \"%s\" exists already "
                      "(libvmm creates the socket)", cfg->control_path);
  return 0;
}

int vmm__config_validate(vmm_config_t *cfg) {
  int rc;
  if ((rc = check_regions(cfg)) || (rc = check_payload(cfg)) ||
      (rc = check_ids(cfg)) || (rc = check_ports(cfg)) ||
      (rc = check_virtio(cfg)) || (rc = check_chardevs(cfg)))
    return rc;
  vmm__config_assign_ids(cfg);
  return 0;
}
