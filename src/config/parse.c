/* src/config/parse.c — JSON text → validated VM description: syntax with
 * line and column, the top level, memory, vCPUs, payload and control
 * socket (devices: parse_devices.c; cross-field checks: validate.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config/parse_internal.h"
#include "error.h"

#define GIB (1ull << 30)
/* The "memory": "<size>" shorthand keeps [3 GiB, 4 GiB) free for device
 * windows (virtio-mmio, PCI, IOAPIC, local APIC), as vmm-boot does. */
#define LOW_RAM_END (3 * GIB)
#define HIGH_RAM_START (4 * GIB)

/* ---- syntax ------------------------------------------------------------ */

/* "line L, column C" of byte `off`, and a short excerpt there. */
static int syntax_error(const char *json, size_t len, size_t off) {
  if (off > len)
    off = len;
  unsigned line = 1, col = 1;
  for (size_t i = 0; i < off; i++) {
    if (json[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  char near[24];
  size_t j = 0;
  for (size_t i = off; i < len && j < 16 && json[i] != '\n'; i++)
    near[j++] = (json[i] >= 0x20 && json[i] < 0x7f) ? json[i] : '?';
  near[j] = 0;
  if (off >= len)
    return vmm__error(VMM_EINVAL, "line %u, column %u: invalid JSON: "
                      "unexpected end of input", line, col);
  return vmm__error(VMM_EINVAL, "line %u, column %u: invalid JSON near "
                    "\"%s\"", line, col, near);
}

/* ---- memory ------------------------------------------------------------ */

static int parse_region(struct vmm__pctx *c, const cJSON *obj,
                        struct vmm__cfg_region *r) {
  static const char *const keys[] = {"gpa", "size", "readonly", "dirty_log",
                                     NULL};
  int rc = vmm__p_check_keys(c, obj, keys);
  if (rc)
    return rc;
  r->gpa = 0;
  if ((rc = vmm__p_u64(c, obj, "gpa", 0, VMM__CFG_ADDR_LIMIT - VMM_PAGE_SIZE,
                       VMM__P_PAGE, &r->gpa)) ||
      (rc = vmm__p_u64(c, obj, "size", VMM_PAGE_SIZE, VMM__CFG_MEM_TOTAL_MAX,
                       VMM__P_SIZE | VMM__P_PAGE | VMM__P_REQUIRED,
                       &r->size)) ||
      (rc = vmm__p_bool(c, obj, "readonly", &r->readonly)) ||
      (rc = vmm__p_bool(c, obj, "dirty_log", &r->dirty_log)))
    return rc;
  if (r->gpa + r->size > VMM__CFG_ADDR_LIMIT)
    return vmm__p_key_error(c, "size", VMM_ERANGE,
                            "the region [0x%llx, 0x%llx) ends above the "
                            "%llu TiB guest-physical limit",
                            (unsigned long long)r->gpa,
                            (unsigned long long)(r->gpa + r->size),
                            VMM__CFG_ADDR_LIMIT >> 40);
  return 0;
}

static int parse_memory(struct vmm__pctx *c, const cJSON *mem,
                        vmm_config_t *cfg) {
  if (cJSON_IsNumber(mem) || cJSON_IsString(mem)) {
    /* Shorthand: RAM from 0, split around the device hole. */
    uint64_t size;
    int rc = vmm__p_u64_item(c, mem, VMM_PAGE_SIZE, VMM__CFG_MEM_TOTAL_MAX,
                             VMM__P_SIZE | VMM__P_PAGE, &size);
    if (rc)
      return rc;
    uint64_t low = size > LOW_RAM_END ? LOW_RAM_END : size;
    cfg->regions[0] = (struct vmm__cfg_region){.gpa = 0, .size = low};
    cfg->n_regions = 1;
    if (size > low) {
      cfg->regions[1] = (struct vmm__cfg_region){.gpa = HIGH_RAM_START,
                                                 .size = size - low};
      cfg->n_regions = 2;
    }
    return 0;
  }
  if (!cJSON_IsArray(mem))
    return vmm__p_error(c, VMM_EINVAL, "expected an array of regions or a "
                        "size, got %s", vmm__p_type_name(mem));
  size_t n = (size_t)cJSON_GetArraySize(mem);
  if (n == 0)
    return vmm__p_error(c, VMM_EINVAL, "no memory regions");
  if (n > VMM__CFG_MAX_REGIONS)
    return vmm__p_error(c, VMM_ERANGE, "%zu regions; at most %d", n,
                        VMM__CFG_MAX_REGIONS);
  size_t i = 0;
  uint64_t total = 0;
  for (const cJSON *it = mem->child; it; it = it->next, i++) {
    size_t old = vmm__p_push_index(c, i);
    int rc = parse_region(c, it, &cfg->regions[i]);
    if (rc == 0) {
      total += cfg->regions[i].size;
      if (total > VMM__CFG_MEM_TOTAL_MAX)
        rc = vmm__p_error(c, VMM_ERANGE, "the regions add up to more than "
                          "%llu GiB", VMM__CFG_MEM_TOTAL_MAX >> 30);
    }
    vmm__p_pop(c, old);
    if (rc)
      return rc;
    cfg->n_regions = i + 1;
  }
  return 0;
}

/* ---- vCPUs and the CPU template -------------------------------------- */

const char *const vmm__cfg_assist_names[] = {"int3", "ud", "soft_int",
                                            "hidden_ud", "emulate", NULL};

/* "assist": ["int3", "emulate"]: the VMM_ASSIST_* flags by name. */
static int parse_assist(struct vmm__pctx *c, const cJSON *arr,
                        uint32_t *out) {
  if (!cJSON_IsArray(arr))
    return vmm__p_error(c, VMM_EINVAL, "expected an array of names, got %s",
                        vmm__p_type_name(arr));
  uint32_t flags = 0;
  size_t i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    int bit = -1;
    for (int b = 0; vmm__cfg_assist_names[b]; b++)
      if (cJSON_IsString(it) &&
          strcmp(it->valuestring, vmm__cfg_assist_names[b]) == 0)
        bit = b;
    if (bit < 0) {
      size_t old = vmm__p_push_index(c, i);
      int rc = cJSON_IsString(it)
                   ? vmm__p_error(c, VMM_EINVAL, "\"%.40s\" is not one of "
                                  "\"int3\", \"ud\", \"soft_int\", "
                                  "\"hidden_ud\", \"emulate\"",
                                  it->valuestring)
                   : vmm__p_error(c, VMM_EINVAL, "expected a string, got %s",
                                  vmm__p_type_name(it));
      vmm__p_pop(c, old);
      return rc;
    }
    flags |= 1u << bit;
  }
  *out = flags;
  return 0;
}

static int parse_vcpus(struct vmm__pctx *c, const cJSON *v,
                       vmm_config_t *cfg) {
  uint64_t count = 1;
  int rc;
  if (cJSON_IsNumber(v) || cJSON_IsString(v)) {
    rc = vmm__p_u64_item(c, v, 1, VMM_MAX_VCPUS, 0, &count);
    cfg->vcpus = (uint32_t)count;
    return rc;
  }
  static const char *const keys[] = {"count", "template", "features",
                                     "assist", NULL};
  if ((rc = vmm__p_check_keys(c, v, keys)) ||
      (rc = vmm__p_u64(c, v, "count", 1, VMM_MAX_VCPUS, 0, &count)) ||
      (rc = vmm__p_string(c, v, "template", 64, 0, &cfg->cpu_template)))
    return rc;
  cfg->vcpus = (uint32_t)count;
  const cJSON *assist = cJSON_GetObjectItemCaseSensitive(v, "assist");
  if (assist && !cJSON_IsNull(assist)) {
    size_t old = vmm__p_push_key(c, "assist");
    rc = parse_assist(c, assist, &cfg->assist);
    vmm__p_pop(c, old);
    if (rc)
      return rc;
  }
  if (cfg->cpu_template && strchr(cfg->cpu_template, ','))
    return vmm__p_key_error(c, "template", VMM_EINVAL, "a template name "
                            "only; feature edits go in \"features\"");
  if (cfg->cpu_template && vmm_cpu_template_check(cfg->cpu_template) < 0)
    return vmm__p_key_error(c, "template", VMM_EINVAL, "unknown template "
                            "\"%s\" (known: host, baseline)",
                            cfg->cpu_template);
  const cJSON *feats = cJSON_GetObjectItemCaseSensitive(v, "features");
  if (!feats || cJSON_IsNull(feats))
    return 0;
  size_t old = vmm__p_push_key(c, "features");
  if (!cJSON_IsArray(feats)) {
    rc = vmm__p_error(c, VMM_EINVAL, "expected an array of \"+name\" / "
                      "\"-name\" strings, got %s", vmm__p_type_name(feats));
    goto out;
  }
  size_t i = 0;
  for (const cJSON *it = feats->child; it; it = it->next, i++) {
    size_t o2 = vmm__p_push_index(c, i);
    char spec[96];
    if (i >= VMM__CFG_MAX_FEATURES)
      rc = vmm__p_error(c, VMM_ERANGE, "at most %d feature edits",
                        VMM__CFG_MAX_FEATURES);
    else if (!cJSON_IsString(it))
      rc = vmm__p_error(c, VMM_EINVAL, "expected a string, got %s",
                        vmm__p_type_name(it));
    else if ((it->valuestring[0] != '+' && it->valuestring[0] != '-') ||
             !it->valuestring[1] || strlen(it->valuestring) > 48 ||
             strchr(it->valuestring, ','))
      rc = vmm__p_error(c, VMM_EINVAL, "\"%.48s\" is not \"+name\" or "
                        "\"-name\"", it->valuestring);
    else if (snprintf(spec, sizeof(spec), "host,%s", it->valuestring) > 0 &&
             vmm_cpu_template_check(spec) < 0)
      rc = vmm__p_error(c, VMM_EINVAL, "unknown CPU feature \"%s\"",
                        it->valuestring + 1);
    else if (!(cfg->features[i] = strdup(it->valuestring)))
      rc = vmm__error(VMM_ENOMEM, "out of memory");
    else
      cfg->n_features = i + 1;
    if (rc == 0) {
      /* The VM keeps the whole spec in a fixed 256-byte field. */
      bool oom;
      char *spec = vmm__config_cpu_spec(cfg, &oom);
      if (spec && strlen(spec) > 255)
        rc = vmm__p_error(c, VMM_ERANGE, "the template and its edits are "
                          "longer than 255 bytes together");
      else if (oom)
        rc = vmm__error(VMM_ENOMEM, "out of memory");
      free(spec);
    }
    vmm__p_pop(c, o2);
    if (rc)
      break;
  }
out:
  vmm__p_pop(c, old);
  return rc;
}

/* ---- payload ----------------------------------------------------------- */

static const char *const payload_types[] = {"flat", "elf", "kernel",
                                            "bzimage", "pvh", "multiboot",
                                            NULL};
static const char *const mode_names[] = {"auto", "real", "protected", "long",
                                         NULL};
static const char *const format_names[] = {"auto", "bzimage", "pvh",
                                           "multiboot", "elf", NULL};

static int parse_payload(struct vmm__pctx *c, const cJSON *obj,
                         vmm_config_t *cfg) {
  struct vmm__cfg_payload *p = &cfg->payload;
  static const char *const flat_keys[] = {"type", "path", "gpa", "entry",
                                          "mode", "stack", "setup_gpa", "cs",
                                          NULL};
  static const char *const elf_keys[] = {"type", "path", "mode", "stack",
                                         "setup_gpa", NULL};
  static const char *const kernel_keys[] = {
      "type", "path", "format", "initrd", "cmdline", "acpi", "mptable",
      "virtio_mmio_cmdline", NULL};
  if (!cJSON_IsObject(obj))
    return vmm__p_error(c, VMM_EINVAL, "expected an object, got %s",
                        vmm__p_type_name(obj));
  int type = -1, rc;
  if ((rc = vmm__p_enum(c, obj, "type", payload_types, VMM__P_REQUIRED,
                        &type)))
    return rc;
  switch (type) {
  case 0:
    p->kind = VMM__PAYLOAD_FLAT;
    rc = vmm__p_check_keys(c, obj, flat_keys);
    break;
  case 1:
    p->kind = VMM__PAYLOAD_ELF;
    rc = vmm__p_check_keys(c, obj, elf_keys);
    break;
  default:
    p->kind = VMM__PAYLOAD_KERNEL;
    rc = vmm__p_check_keys(c, obj, kernel_keys);
    /* "bzimage", "pvh", "multiboot": "kernel" with that format. */
    p->format = type == 3   ? VMM_KERNEL_BZIMAGE
                : type == 4 ? VMM_KERNEL_PVH
                : type == 5 ? VMM_KERNEL_MULTIBOOT
                            : VMM_KERNEL_UNKNOWN;
    break;
  }
  if (rc || (rc = vmm__p_path(c, obj, "path",
                              VMM__P_REQUIRED | VMM__P_EXISTS, &p->path)))
    return rc;

  if (p->kind == VMM__PAYLOAD_KERNEL) {
    p->acpi = p->mptable = true;
    int fmt = (int)p->format;
    if (type == 2 &&
        (rc = vmm__p_enum(c, obj, "format", format_names, 0, &fmt)))
      return rc;
    if (type != 2 && cJSON_GetObjectItemCaseSensitive(obj, "format"))
      return vmm__p_key_error(c, "format", VMM_EINVAL, "only with \"type\": "
                              "\"kernel\" (the type names the format)");
    p->format = (uint32_t)fmt;
    if ((rc = vmm__p_path(c, obj, "initrd", VMM__P_EXISTS, &p->initrd)) ||
        (rc = vmm__p_string(c, obj, "cmdline", VMM__CFG_STRING_MAX,
                            VMM__P_EMPTY_OK, &p->cmdline)) ||
        (rc = vmm__p_bool(c, obj, "acpi", &p->acpi)) ||
        (rc = vmm__p_bool(c, obj, "mptable", &p->mptable)) ||
        (rc = vmm__p_bool(c, obj, "virtio_mmio_cmdline",
                          &p->virtio_mmio_cmdline)))
      return rc;
    return 0;
  }

  int mode = p->kind == VMM__PAYLOAD_FLAT ? VMM__MODE_REAL : VMM__MODE_AUTO;
  if ((rc = vmm__p_enum(c, obj, "mode", mode_names, 0, &mode)))
    return rc;
  if (p->kind == VMM__PAYLOAD_FLAT && mode == VMM__MODE_AUTO)
    return vmm__p_key_error(c, "mode", VMM_EINVAL, "a flat image needs "
                            "\"real\", \"protected\" or \"long\"");
  p->mode = mode;
  p->setup_gpa = 0x1000;
  p->stack = mode == VMM__MODE_REAL ? 0x7c00 : 0x80000;
  uint64_t cs = 0;
  if ((rc = vmm__p_u64(c, obj, "stack", 0, VMM__CFG_ADDR_LIMIT, 0,
                       &p->stack)) ||
      (rc = vmm__p_u64(c, obj, "setup_gpa", 0,
                       VMM__CFG_ADDR_LIMIT - VMM_LONG_MODE_SETUP_SIZE,
                       VMM__P_PAGE, &p->setup_gpa)))
    return rc;
  if (p->kind == VMM__PAYLOAD_FLAT) {
    if ((rc = vmm__p_u64(c, obj, "gpa", 0, VMM__CFG_ADDR_LIMIT - 1,
                         VMM__P_REQUIRED, &p->gpa)))
      return rc;
    p->entry = p->gpa;
    if ((rc = vmm__p_u64(c, obj, "entry", 0, VMM__CFG_ADDR_LIMIT - 1, 0,
                         &p->entry)) ||
        (rc = vmm__p_u64(c, obj, "cs", 0, 0xffff, 0, &cs)))
      return rc;
  } else if (cJSON_GetObjectItemCaseSensitive(obj, "cs")) {
    return vmm__p_key_error(c, "cs", VMM_EINVAL, "only for flat images");
  }
  p->cs = (uint16_t)cs;
  if (mode == VMM__MODE_REAL) {
    if (cJSON_GetObjectItemCaseSensitive(obj, "setup_gpa"))
      return vmm__p_key_error(c, "setup_gpa", VMM_EINVAL,
                              "only for long mode");
    if (p->kind == VMM__PAYLOAD_FLAT &&
        (p->entry < (uint64_t)p->cs * 16 ||
         p->entry - (uint64_t)p->cs * 16 > 0xffff))
      return vmm__p_key_error(c, "entry", VMM_ERANGE,
                              "0x%llx is not reachable from cs 0x%x in real "
                              "mode (ip = entry - cs * 16 must fit 16 bits)",
                              (unsigned long long)p->entry, p->cs);
    if (p->stack > 0xffff)
      return vmm__p_key_error(c, "stack", VMM_ERANGE, "0x%llx does not fit "
                              "the 16-bit SP of real mode",
                              (unsigned long long)p->stack);
  } else if (mode == VMM__MODE_PROTECTED || mode == VMM__MODE_AUTO) {
    if (p->stack > UINT32_MAX)
      return vmm__p_key_error(c, "stack", VMM_ERANGE, "0x%llx is above "
                              "4 GiB (32-bit ESP)",
                              (unsigned long long)p->stack);
    if (p->kind == VMM__PAYLOAD_FLAT && p->entry > UINT32_MAX)
      return vmm__p_key_error(c, "entry", VMM_ERANGE, "0x%llx is above "
                              "4 GiB (32-bit EIP)",
                              (unsigned long long)p->entry);
  }
  if (mode == VMM__MODE_PROTECTED &&
      cJSON_GetObjectItemCaseSensitive(obj, "setup_gpa"))
    return vmm__p_key_error(c, "setup_gpa", VMM_EINVAL, "only for long mode");
  return 0;
}

/* ---- control socket ---------------------------------------------------- */

static int parse_control(struct vmm__pctx *c, const cJSON *obj,
                         vmm_config_t *cfg) {
  static const char *const keys[] = {"path", NULL};
  int rc = vmm__p_check_keys(c, obj, keys);
  if (rc || (rc = vmm__p_path(c, obj, "path",
                              VMM__P_REQUIRED | VMM__P_CREATABLE,
                              &cfg->control_path)))
    return rc;
  if (strlen(cfg->control_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return vmm__p_key_error(c, "path", VMM_ERANGE, "longer than the %zu "
                            "bytes of a unix socket address",
                            sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  return 0;
}

/* ---- the top level ----------------------------------------------------- */

static int parse_top(struct vmm__pctx *c, const cJSON *root,
                     vmm_config_t *cfg) {
  static const char *const keys[] = {"comment", "backend", "irqchip",
                                     "hypercall_port", "memory", "vcpus",
                                     "payload", "devices", "control",
                                     "sandbox", NULL};
  int rc = vmm__p_check_keys(c, root, keys);
  if (rc)
    return rc;
  char *comment = NULL;
  rc = vmm__p_string(c, root, "comment", 1u << 16, VMM__P_EMPTY_OK, &comment);
  free(comment); /* for people; not kept */
  uint64_t port = 0;
  if (rc || (rc = vmm__p_string(c, root, "backend", 32, 0, &cfg->backend)) ||
      (rc = vmm__p_bool(c, root, "irqchip", &cfg->irqchip)) ||
      (rc = vmm__p_u64(c, root, "hypercall_port", 1, 0xffff, 0, &port)))
    return rc;
  cfg->hypercall_port = (uint16_t)port;
  /* "off", "on", "kill": vmm_vm_set_sandbox() flags by index. */
  static const char *const sandbox_modes[] = {"off", "on", "kill", NULL};
  static const uint32_t sandbox_flags[] = {
      0, VMM_SANDBOX_ON, VMM_SANDBOX_ON | VMM_SANDBOX_KILL};
  int mode = -1;
  if ((rc = vmm__p_enum(c, root, "sandbox", sandbox_modes, 0, &mode)))
    return rc;
  if (mode >= 0) {
    cfg->has_sandbox = true;
    cfg->sandbox = sandbox_flags[mode];
  }
  if (cfg->backend && strcmp(cfg->backend, "auto") != 0) {
    bool known = false;
    for (unsigned i = 0; vmm_backend_name(i); i++)
      known |= strcmp(vmm_backend_name(i), cfg->backend) == 0;
    if (!known)
      return vmm__p_key_error(c, "backend", VMM_ENODEV, "\"%s\" is not "
                              "compiled into this libvmm", cfg->backend);
  }
  struct {
    const char *key;
    int (*fn)(struct vmm__pctx *, const cJSON *, vmm_config_t *);
    bool required;
  } sections[] = {
      {"memory", parse_memory, true},   {"vcpus", parse_vcpus, false},
      {"payload", parse_payload, false}, {"devices", vmm__p_devices, false},
      {"control", parse_control, false},
  };
  for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root,
                                                         sections[i].key);
    if (!item || cJSON_IsNull(item)) {
      if (sections[i].required)
        return vmm__p_key_error(c, sections[i].key, VMM_EINVAL, "missing");
      continue;
    }
    size_t old = vmm__p_push_key(c, sections[i].key);
    rc = sections[i].fn(c, item, cfg);
    vmm__p_pop(c, old);
    if (rc)
      return rc;
  }
  return 0;
}

int vmm__config_from_json(const char *json, size_t len, const char *base_dir,
                          vmm_config_t **out) {
  *out = NULL;
  if (!json)
    return vmm__error(VMM_EINVAL, "the JSON text is NULL");
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
  if (!root)
    return syntax_error(json, len, end ? (size_t)(end - json) : 0);
  /* Only white space may follow the value. */
  size_t off = (size_t)(end - json);
  while (off < len && (json[off] == ' ' || json[off] == '\t' ||
                       json[off] == '\n' || json[off] == '\r'))
    off++;
  if (off < len && !(off == len - 1 && json[off] == 0)) {
    cJSON_Delete(root);
    return syntax_error(json, len, off);
  }
  vmm_config_t *cfg = vmm__config_new();
  if (!cfg) {
    cJSON_Delete(root);
    return vmm__error(VMM_ENOMEM, "out of memory");
  }
  struct vmm__pctx c = {.base_dir = base_dir};
  int rc = parse_top(&c, root, cfg);
  cJSON_Delete(root);
  if (rc == 0)
    rc = vmm__config_validate(cfg);
  if (rc) {
    vmm_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}
