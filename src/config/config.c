/* src/config/config.c — the VM description object: the public parse
 * entry points, copying and freeing, and the accessors launchers use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"
#include "error.h"

/* Files larger than this are not VM descriptions. */
#define CONFIG_FILE_MAX (16u << 20)

vmm_config_t *vmm__config_new(void) {
  vmm_config_t *cfg = calloc(1, sizeof(*cfg));
  if (!cfg)
    return NULL;
  cfg->irqchip = true;
  cfg->vcpus = 1;
  cfg->assist = VMM_ASSIST_DEFAULT;
  return cfg;
}

static void chardev_free(struct vmm__cfg_chardev *chr) { free(chr->path); }

void vmm_config_free(vmm_config_t *cfg) {
  if (!cfg)
    return;
  free(cfg->backend);
  free(cfg->cpu_template);
  for (size_t i = 0; i < cfg->n_features; i++)
    free(cfg->features[i]);
  free(cfg->payload.path);
  free(cfg->payload.initrd);
  free(cfg->payload.cmdline);
  for (size_t i = 0; i < cfg->n_devices; i++) {
    chardev_free(&cfg->devices[i].chr);
    free(cfg->devices[i].path);
    free(cfg->devices[i].cmdline);
    for (size_t f = 0; f < cfg->devices[i].n_files; f++) {
      free(cfg->devices[i].file_names[f]);
      free(cfg->devices[i].file_paths[f]);
    }
  }
  free(cfg->control_path);
  free(cfg);
}

/* strdup that keeps NULL and reports a failure through *ok. */
static char *dup_or_null(const char *s, bool *ok) {
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    *ok = false;
  return d;
}

vmm_config_t *vmm__config_dup(const vmm_config_t *cfg) {
  vmm_config_t *d = malloc(sizeof(*d));
  if (!d)
    return NULL;
  memcpy(d, cfg, sizeof(*d));
  bool ok = true;
  d->backend = dup_or_null(cfg->backend, &ok);
  d->cpu_template = dup_or_null(cfg->cpu_template, &ok);
  for (size_t i = 0; i < cfg->n_features; i++)
    d->features[i] = dup_or_null(cfg->features[i], &ok);
  d->payload.path = dup_or_null(cfg->payload.path, &ok);
  d->payload.initrd = dup_or_null(cfg->payload.initrd, &ok);
  d->payload.cmdline = dup_or_null(cfg->payload.cmdline, &ok);
  for (size_t i = 0; i < cfg->n_devices; i++) {
    d->devices[i].chr.path = dup_or_null(cfg->devices[i].chr.path, &ok);
    d->devices[i].path = dup_or_null(cfg->devices[i].path, &ok);
    d->devices[i].cmdline = dup_or_null(cfg->devices[i].cmdline, &ok);
    for (size_t f = 0; f < cfg->devices[i].n_files; f++) {
      d->devices[i].file_names[f] =
          dup_or_null(cfg->devices[i].file_names[f], &ok);
      d->devices[i].file_paths[f] =
          dup_or_null(cfg->devices[i].file_paths[f], &ok);
    }
  }
  d->control_path = dup_or_null(cfg->control_path, &ok);
  if (!ok) {
    vmm_config_free(d);
    return NULL;
  }
  return d;
}

char *vmm__config_cpu_spec(const vmm_config_t *cfg, bool *oom) {
  *oom = false;
  if (!cfg->cpu_template && cfg->n_features == 0)
    return NULL;
  const char *tmpl = cfg->cpu_template ? cfg->cpu_template : "host";
  size_t n = strlen(tmpl) + 1;
  for (size_t i = 0; i < cfg->n_features; i++)
    n += strlen(cfg->features[i]) + 1;
  char *spec = malloc(n);
  if (!spec) {
    *oom = true;
    return NULL;
  }
  strcpy(spec, tmpl);
  for (size_t i = 0; i < cfg->n_features; i++) {
    strcat(spec, ",");
    strcat(spec, cfg->features[i]);
  }
  return spec;
}

void vmm__config_state_free(struct vmm__config_state *st) {
  if (!st)
    return;
  vmm_config_free(st->cfg);
  free(st);
}

/* ---- public entry points ---------------------------------------------- */

int vmm_config_parse(const char *json, size_t len, vmm_config_t **out) {
  if (!out)
    return vmm__error(VMM_EINVAL, "vmm_config_parse: out is NULL");
  *out = NULL;
  return vmm__config_from_json(json, len, NULL, out);
}

int vmm_config_parse_file(const char *path, vmm_config_t **out) {
  static const char fn[] = "vmm_config_parse_file";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!path || !*path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL or empty", fn);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return vmm__error(e == ENOENT ? VMM_ENOENT
                      : e == EACCES ? VMM_EACCES : VMM_EIO,
                      "%s: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
      st.st_size > CONFIG_FILE_MAX) {
    close(fd);
    return vmm__error(VMM_EINVAL, "%s: not a regular file of at most %u "
                      "bytes", path, CONFIG_FILE_MAX);
  }
  size_t len = (size_t)st.st_size, got = 0;
  char *buf = malloc(len + 1);
  if (!buf) {
    close(fd);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = 0;
  /* Relative paths inside are relative to the file's directory. */
  char *dir = strdup(path);
  if (!dir) {
    free(buf);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = 0;
  else if (slash)
    *slash = 0;
  else
    dir[0] = 0;
  int rc = vmm__config_from_json(buf, got, dir, out);
  free(dir);
  free(buf);
  if (rc < 0) {
    /* "vm.json: devices[2].path: no such file" */
    char msg[768];
    snprintf(msg, sizeof(msg), "%s", vmm_last_error());
    vmm__error(rc, "%s: %s", path, msg);
  }
  return rc;
}

int vmm_config_sandbox(const vmm_config_t *cfg) {
  return cfg && cfg->has_sandbox ? (int)cfg->sandbox : -1;
}

const char *vmm_config_control_path(const vmm_config_t *cfg) {
  return cfg ? cfg->control_path : NULL;
}

const char *vmm_config_stdio_device(const vmm_config_t *cfg) {
  if (!cfg)
    return NULL;
  for (size_t i = 0; i < cfg->n_devices; i++)
    if (cfg->devices[i].chr.kind == VMM__CHR_STDIO)
      return cfg->devices[i].id;
  return NULL;
}

uint32_t vmm_config_vcpus(const vmm_config_t *cfg) {
  return cfg ? cfg->vcpus : 0;
}
