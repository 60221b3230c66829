/* src/config/parse_devices.c — the "devices" array of a VM description:
 * emulated and virtio devices, their transports and character back-ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config/parse_internal.h"
#include "error.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static const char *const dev_names[VMM__DEV_KINDS + 1] = {
    [VMM__DEV_UART] = "uart",
    [VMM__DEV_DEBUG_EXIT] = "debug-exit",
    [VMM__DEV_I8042] = "i8042",
    [VMM__DEV_RTC] = "rtc",
    [VMM__DEV_FW_CFG] = "fw-cfg",
    [VMM__DEV_BOOT_TIMER] = "boot-timer",
    [VMM__DEV_VIRTIO_RNG] = "virtio-rng",
    [VMM__DEV_VIRTIO_CONSOLE] = "virtio-console",
    [VMM__DEV_VIRTIO_BLK] = "virtio-blk",
    [VMM__DEV_VIRTIO_NET] = "virtio-net",
    [VMM__DEV_KINDS] = NULL,
};

const char *vmm__cfg_dev_kind_name(int kind) {
  return kind >= 0 && kind < VMM__DEV_KINDS ? dev_names[kind] : "?";
}

int vmm__cfg_dev_kind_from_name(const char *name) {
  for (int i = 0; i < VMM__DEV_KINDS; i++)
    if (strcmp(dev_names[i], name) == 0)
      return i;
  return -1;
}

/* ---- character back-ends ----------------------------------------------- */

static const char *const chr_names[] = {"none", "stdio", "file", "socket",
                                        "buffer", NULL};

static int parse_chardev(struct vmm__pctx *c, const cJSON *item,
                         struct vmm__cfg_chardev *chr) {
  if (cJSON_IsString(item)) {
    /* "stdio" / "none" shorthand; the others need a path or capacity. */
    if (strcmp(item->valuestring, "stdio") == 0) {
      chr->kind = VMM__CHR_STDIO;
      return 0;
    }
    if (strcmp(item->valuestring, "none") == 0) {
      chr->kind = VMM__CHR_NONE;
      return 0;
    }
    return vmm__p_error(c, VMM_EINVAL, "\"%.40s\": as a string only "
                        "\"stdio\" or \"none\"; use an object such as "
                        "{\"type\": \"file\", \"path\": ...}",
                        item->valuestring);
  }
  static const char *const keys[] = {"type", "path", "capacity", NULL};
  int rc = vmm__p_check_keys(c, item, keys);
  int kind = 0;
  if (rc || (rc = vmm__p_enum(c, item, "type", chr_names, VMM__P_REQUIRED,
                              &kind)))
    return rc;
  chr->kind = kind;
  bool has_path = cJSON_GetObjectItemCaseSensitive(item, "path") != NULL;
  bool has_cap = cJSON_GetObjectItemCaseSensitive(item, "capacity") != NULL;
  if (has_path && kind != VMM__CHR_FILE && kind != VMM__CHR_SOCKET)
    return vmm__p_key_error(c, "path", VMM_EINVAL, "only for \"file\" and "
                            "\"socket\" back-ends");
  if (has_cap && kind != VMM__CHR_BUFFER)
    return vmm__p_key_error(c, "capacity", VMM_EINVAL, "only for \"buffer\" "
                            "back-ends");
  if (kind == VMM__CHR_FILE || kind == VMM__CHR_SOCKET) {
    if ((rc = vmm__p_path(c, item, "path",
                          VMM__P_REQUIRED | VMM__P_CREATABLE, &chr->path)))
      return rc;
    if (kind == VMM__CHR_SOCKET && strlen(chr->path) > SUN_PATH_MAX)
      return vmm__p_key_error(c, "path", VMM_ERANGE, "longer than the %zu "
                              "bytes of a unix socket address", SUN_PATH_MAX);
  }
  if (kind == VMM__CHR_BUFFER) {
    chr->capacity = 65536;
    rc = vmm__p_u64(c, item, "capacity", 1, VMM__CFG_BUFFER_MAX, VMM__P_SIZE,
                    &chr->capacity);
  }
  return rc;
}

/* ---- one device ------------------------------------------------------- */

/* Which fields each kind takes besides "type" and "id". */
#define VIRTIO_KEYS "transport", "irq", "mmio_base", "queue_size", "pci_slot"
static const char *const *const dev_keys[VMM__DEV_KINDS] = {
    [VMM__DEV_UART] = (const char *const[]){"type", "id", "port", "irq",
                                            "chardev", NULL},
    [VMM__DEV_DEBUG_EXIT] = (const char *const[]){"type", "id", "port", NULL},
    [VMM__DEV_I8042] = (const char *const[]){"type", "id", NULL},
    [VMM__DEV_RTC] = (const char *const[]){"type", "id", NULL},
    [VMM__DEV_FW_CFG] = (const char *const[]){"type", "id", "port",
                                              "cmdline", "files", NULL},
    [VMM__DEV_BOOT_TIMER] = (const char *const[]){"type", "id", "port", NULL},
    [VMM__DEV_VIRTIO_RNG] = (const char *const[]){"type", "id", VIRTIO_KEYS,
                                                  NULL},
    [VMM__DEV_VIRTIO_CONSOLE] = (const char *const[]){"type", "id",
                                                      VIRTIO_KEYS, "chardev",
                                                      NULL},
    [VMM__DEV_VIRTIO_BLK] = (const char *const[]){"type", "id", VIRTIO_KEYS,
                                                  "path", "readonly",
                                                  "num_queues", "serial",
                                                  NULL},
    [VMM__DEV_VIRTIO_NET] = (const char *const[]){"type", "id", VIRTIO_KEYS,
                                                  "backend", "path", "name",
                                                  "mac", NULL},
};

static bool valid_id(const char *s) {
  if (!*s || strlen(s) > VMM__CFG_ID_MAX)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
      return false;
  return true;
}

static int parse_virtio(struct vmm__pctx *c, const cJSON *obj,
                        struct vmm__cfg_device *d) {
  static const char *const transports[] = {"mmio", "pci", NULL};
  int t = VMM_VIRTIO_MMIO, rc;
  uint64_t irq = 0, base = 0, qs = 0, slot = 0;
  if ((rc = vmm__p_enum(c, obj, "transport", transports, 0, &t)) ||
      (rc = vmm__p_u64(c, obj, "irq", 1, VMM_IRQ_GSI_MAX - 1, 0, &irq)) ||
      (rc = vmm__p_u64(c, obj, "mmio_base", VMM_PAGE_SIZE,
                       VMM__CFG_ADDR_LIMIT - VMM_PAGE_SIZE, VMM__P_PAGE,
                       &base)) ||
      (rc = vmm__p_u64(c, obj, "queue_size", 1, 32768, 0, &qs)) ||
      (rc = vmm__p_u64(c, obj, "pci_slot", 1, 31, 0, &slot)))
    return rc;
  if (qs & (qs - 1))
    return vmm__p_key_error(c, "queue_size", VMM_EINVAL, "%llu is not a "
                            "power of two", (unsigned long long)qs);
  if (t == VMM_VIRTIO_PCI && (irq || base))
    return vmm__p_key_error(c, irq ? "irq" : "mmio_base", VMM_EINVAL,
                            "only for the \"mmio\" transport (PCI devices "
                            "use MSI-X and BARs)");
  if (t == VMM_VIRTIO_MMIO && slot)
    return vmm__p_key_error(c, "pci_slot", VMM_EINVAL,
                            "only for the \"pci\" transport");
  d->transport = (uint32_t)t;
  d->virtio_irq = (uint32_t)irq;
  d->mmio_base = base;
  d->queue_size = (uint16_t)qs;
  d->pci_slot = (uint32_t)slot;
  return 0;
}

static int parse_mac(struct vmm__pctx *c, const cJSON *obj,
                     struct vmm__cfg_device *d) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "mac");
  if (!m || cJSON_IsNull(m))
    return 0;
  if (!cJSON_IsString(m))
    return vmm__p_key_error(c, "mac", VMM_EINVAL, "expected a string, got %s",
                            vmm__p_type_name(m));
  unsigned b[6];
  char tail;
  if (strlen(m->valuestring) != 17 ||
      sscanf(m->valuestring, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
             &b[3], &b[4], &b[5], &tail) != 6)
    return vmm__p_key_error(c, "mac", VMM_EINVAL, "\"%.40s\" is not "
                            "xx:xx:xx:xx:xx:xx", m->valuestring);
  for (int i = 0; i < 6; i++)
    d->mac[i] = (uint8_t)b[i];
  if (d->mac[0] & 1)
    return vmm__p_key_error(c, "mac", VMM_EINVAL, "%s is a multicast "
                            "address", m->valuestring);
  d->has_mac = true;
  return 0;
}

/* fw-cfg "files": [{"name": "opt/x", "path": ...}] */
static int parse_fw_file(struct vmm__pctx *c, const cJSON *obj,
                         struct vmm__cfg_device *d, size_t i) {
  static const char *const keys[] = {"name", "path", NULL};
  int rc = vmm__p_check_keys(c, obj, keys);
  if (rc ||
      (rc = vmm__p_string(c, obj, "name", 55, VMM__P_REQUIRED,
                          &d->file_names[i])) ||
      (rc = vmm__p_path(c, obj, "path", VMM__P_REQUIRED | VMM__P_EXISTS,
                        &d->file_paths[i])))
    return rc;
  for (size_t j = 0; j < i; j++)
    if (strcmp(d->file_names[j], d->file_names[i]) == 0)
      return vmm__p_key_error(c, "name", VMM_EEXIST, "\"%s\" is files[%zu]'s "
                              "name already", d->file_names[i], j);
  struct stat st;
  if (stat(d->file_paths[i], &st) == 0 &&
      (uint64_t)st.st_size > VMM__CFG_FW_FILE_SIZE_MAX)
    return vmm__p_key_error(c, "path", VMM_ERANGE, "%lld bytes; at most %u",
                            (long long)st.st_size, VMM__CFG_FW_FILE_SIZE_MAX);
  return 0;
}

static int parse_fw_files(struct vmm__pctx *c, const cJSON *obj,
                          struct vmm__cfg_device *d) {
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(obj, "files");
  if (!files || cJSON_IsNull(files))
    return 0;
  size_t old = vmm__p_push_key(c, "files"), i = 0;
  int rc = 0;
  if (!cJSON_IsArray(files))
    rc = vmm__p_error(c, VMM_EINVAL, "expected an array of {\"name\", "
                      "\"path\"} objects, got %s", vmm__p_type_name(files));
  for (const cJSON *it = rc ? NULL : files->child; it; it = it->next, i++) {
    size_t o2 = vmm__p_push_index(c, i);
    if (i >= VMM__CFG_FW_FILES_MAX)
      rc = vmm__p_error(c, VMM_ERANGE, "at most %d files",
                        VMM__CFG_FW_FILES_MAX);
    else {
      d->n_files = i + 1; /* so that what was copied gets freed */
      rc = parse_fw_file(c, it, d, i);
    }
    vmm__p_pop(c, o2);
    if (rc)
      break;
  }
  vmm__p_pop(c, old);
  return rc;
}

static int parse_device(struct vmm__pctx *c, const cJSON *obj,
                        struct vmm__cfg_device *d) {
  if (!cJSON_IsObject(obj))
    return vmm__p_error(c, VMM_EINVAL, "expected an object, got %s",
                        vmm__p_type_name(obj));
  int kind = -1, rc;
  if ((rc = vmm__p_enum(c, obj, "type", dev_names, VMM__P_REQUIRED, &kind)))
    return rc;
  d->kind = kind;
  if ((rc = vmm__p_check_keys(c, obj, dev_keys[kind])))
    return rc;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
  if (id && !cJSON_IsNull(id)) {
    if (!cJSON_IsString(id))
      return vmm__p_key_error(c, "id", VMM_EINVAL, "expected a string, got "
                              "%s", vmm__p_type_name(id));
    if (!valid_id(id->valuestring))
      return vmm__p_key_error(c, "id", VMM_EINVAL, "\"%.40s\" is not 1..%d "
                              "characters of [A-Za-z0-9_.-]", id->valuestring,
                              VMM__CFG_ID_MAX);
    strcpy(d->id, id->valuestring);
  }
  uint64_t port = 0, irq = 4, nq = 1;
  switch (kind) {
  case VMM__DEV_UART:
    port = 0x3f8;
    break;
  case VMM__DEV_DEBUG_EXIT:
    port = 0xf4;
    break;
  case VMM__DEV_FW_CFG:
    port = 0x510;
    break;
  case VMM__DEV_BOOT_TIMER:
    port = VMM_BOOT_TIMER_PORT;
    break;
  }
  if (port && (rc = vmm__p_u64(c, obj, "port", 1,
                               kind == VMM__DEV_UART     ? 0xfff8
                               : kind == VMM__DEV_FW_CFG ? 0xfffe
                                                         : 0xffff,
                               0, &port)))
    return rc;
  d->port = (uint16_t)port;
  if (kind == VMM__DEV_UART) {
    if ((rc = vmm__p_u64(c, obj, "irq", 0, VMM_IRQ_GSI_MAX - 1, 0, &irq)))
      return rc;
    d->irq = (uint32_t)irq;
  }
  if (kind >= VMM__DEV_VIRTIO_RNG && (rc = parse_virtio(c, obj, d)))
    return rc;
  const cJSON *chr = cJSON_GetObjectItemCaseSensitive(obj, "chardev");
  if (chr && !cJSON_IsNull(chr)) {
    size_t old = vmm__p_push_key(c, "chardev");
    rc = parse_chardev(c, chr, &d->chr);
    vmm__p_pop(c, old);
    if (rc)
      return rc;
  }
  switch (kind) {
  case VMM__DEV_FW_CFG:
    if ((rc = vmm__p_string(c, obj, "cmdline", VMM__CFG_STRING_MAX,
                            VMM__P_EMPTY_OK, &d->cmdline)))
      return rc;
    return parse_fw_files(c, obj, d);
  case VMM__DEV_VIRTIO_BLK: {
    char *serial = NULL;
    if ((rc = vmm__p_path(c, obj, "path", VMM__P_REQUIRED | VMM__P_EXISTS,
                          &d->path)) ||
        (rc = vmm__p_bool(c, obj, "readonly", &d->readonly)) ||
        (rc = vmm__p_u64(c, obj, "num_queues", 1, 8, 0, &nq)) ||
        (rc = vmm__p_string(c, obj, "serial", 20, VMM__P_EMPTY_OK, &serial)))
      return rc;
    d->num_queues = (uint16_t)nq;
    if (serial)
      strcpy(d->serial, serial);
    free(serial);
    /* The image's size (a multiple of 512) is checked when the device is
     * made: launchers report that as a set-up failure. */
    return 0;
  }
  case VMM__DEV_VIRTIO_NET: {
    static const char *const backends[] = {"tap", "socket", NULL};
    int b = -1;
    if ((rc = vmm__p_enum(c, obj, "backend", backends, VMM__P_REQUIRED, &b)))
      return rc;
    d->net_backend = (uint32_t)b;
    if (b == VMM_NET_TAP) {
      if (cJSON_GetObjectItemCaseSensitive(obj, "path"))
        return vmm__p_key_error(c, "path", VMM_EINVAL, "a tap back-end "
                                "takes \"name\" (the interface)");
      if ((rc = vmm__p_string(c, obj, "name", 15, VMM__P_REQUIRED,
                              &d->path)))
        return rc;
    } else {
      if (cJSON_GetObjectItemCaseSensitive(obj, "name"))
        return vmm__p_key_error(c, "name", VMM_EINVAL, "a socket back-end "
                                "takes \"path\" (the socket to connect to)");
      /* The peer's socket must be there to connect to. */
      if ((rc = vmm__p_path(c, obj, "path", VMM__P_REQUIRED, &d->path)))
        return rc;
      if (strlen(d->path) > SUN_PATH_MAX)
        return vmm__p_key_error(c, "path", VMM_ERANGE, "longer than the %zu "
                                "bytes of a unix socket address",
                                SUN_PATH_MAX);
      struct stat st;
      if (stat(d->path, &st) < 0)
        return vmm__p_key_error(c, "path", VMM_ENOENT, "no such socket");
      if (!S_ISSOCK(st.st_mode))
        return vmm__p_key_error(c, "path", VMM_EINVAL, "not a unix socket");
    }
    return parse_mac(c, obj, d);
  }
  }
  return 0;
}

int vmm__p_devices(struct vmm__pctx *c, const cJSON *arr, vmm_config_t *cfg) {
  if (!cJSON_IsArray(arr))
    return vmm__p_error(c, VMM_EINVAL, "expected an array of devices, got %s",
                        vmm__p_type_name(arr));
  size_t n = (size_t)cJSON_GetArraySize(arr);
  if (n > VMM__CFG_MAX_DEVICES)
    return vmm__p_error(c, VMM_ERANGE, "%zu devices; at most %d", n,
                        VMM__CFG_MAX_DEVICES);
  size_t i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    size_t old = vmm__p_push_index(c, i);
    cfg->n_devices = i + 1; /* so that what was copied gets freed */
    int rc = parse_device(c, it, &cfg->devices[i]);
    vmm__p_pop(c, old);
    if (rc)
      return rc;
  }
  return 0;
}
