/* examples/vmm_run_config.c — vmm-run reads the VM description: straight
 * through vmm_config_parse_file(), or with the --set / --control
 * overrides applied to the JSON first (cJSON). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "vmm_run.h"

#define CONFIG_MAX (16u << 20) /* a description is a few KiB */

/* The library's message starts with the file name when it read the file
 * itself, and with the JSON path otherwise. */
static int rejected(const char *path) {
  const char *msg = vmm_last_error();
  if (strncmp(msg, path, strlen(path)) == 0)
    fprintf(stderr, "vmm-run: %s\n", msg);
  else
    fprintf(stderr, "vmm-run: %s: %s\n", path, msg);
  return EXIT_CONFIG;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = malloc(CONFIG_MAX + 1);
  size_t n = buf ? fread(buf, 1, CONFIG_MAX + 1, f) : 0;
  fclose(f);
  if (!buf || n > CONFIG_MAX) {
    free(buf);
    errno = EFBIG;
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* One step of a --set key: a member name, or an array index. */
static int set_one(cJSON *root, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *value = eq + 1;
  cJSON *node = root;
  const char *p = spec;
  char name[256];
  /* Walk to the parent of the last step, creating objects as needed. */
  for (;;) {
    cJSON *child;
    bool last;
    if (*p == '[') {
      char *end;
      errno = 0;
      long idx = strtol(p + 1, &end, 10);
      if (end == p + 1 || *end != ']' || errno || idx < 0 ||
          !cJSON_IsArray(node)) {
        fprintf(stderr, "vmm-run: --set %s: bad array index at \"%.*s\"\n",
                spec, (int)(eq - p), p);
        return EXIT_USAGE;
      }
      p = end + 1;
      last = p == eq;
      if (idx >= cJSON_GetArraySize(node)) {
        fprintf(stderr, "vmm-run: --set %s: the array has %d elements\n",
                spec, cJSON_GetArraySize(node));
        return EXIT_USAGE;
      }
      if (last) {
        cJSON *v = cJSON_Parse(value);
        if (!v)
          v = cJSON_CreateString(value);
        if (!v || !cJSON_ReplaceItemInArray(node, (int)idx, v))
          return EXIT_USAGE;
        return 0;
      }
      child = cJSON_GetArrayItem(node, (int)idx);
    } else {
      size_t n = strcspn(p, ".[=");
      if (n == 0 || n >= sizeof(name) || !cJSON_IsObject(node)) {
        fprintf(stderr, "vmm-run: --set %s: bad key at \"%.*s\"\n", spec,
                (int)(eq - p), p);
        return EXIT_USAGE;
      }
      memcpy(name, p, n);
      name[n] = 0;
      p += n;
      last = p == eq;
      if (last) {
        cJSON *v = cJSON_Parse(value);
        if (!v)
          v = cJSON_CreateString(value);
        if (!v)
          return EXIT_USAGE;
        if (cJSON_GetObjectItemCaseSensitive(node, name))
          cJSON_ReplaceItemInObjectCaseSensitive(node, name, v);
        else
          cJSON_AddItemToObject(node, name, v);
        return 0;
      }
      child = cJSON_GetObjectItemCaseSensitive(node, name);
      if (!child && *p == '.') {
        child = cJSON_AddObjectToObject(node, name);
      } else if (!child) {
        fprintf(stderr, "vmm-run: --set %s: there is no \"%s\"\n", spec,
                name);
        return EXIT_USAGE;
      }
    }
    if (*p == '.')
      p++;
    node = child;
  }
}

/* Parses `json` as if it were the file `path`: relative paths inside are
 * taken from the file's directory. vmm_config_parse() keeps them relative
 * (to the current directory), so the parse, and the creation that opens
 * the files, run there: the process stays in that directory until
 * run_restore_cwd(). */
static int parse_in_dir(const char *path, const char *json,
                        vmm_config_t **out, int *saved_cwd) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  *saved_cwd = -1;
  if (slash) {
    size_t n = (size_t)(slash - path);
    if (n == 0)
      n = 1; /* "/vm.json" */
    if (n >= sizeof(dir)) {
      fprintf(stderr, "vmm-run: %s: directory name too long\n", path);
      return EXIT_CONFIG;
    }
    memcpy(dir, path, n);
    dir[n] = 0;
    *saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*saved_cwd < 0 || chdir(dir) < 0) {
      int e = errno;
      run_restore_cwd(*saved_cwd);
      *saved_cwd = -1;
      fprintf(stderr, "vmm-run: %s: %s\n", dir, strerror(e));
      return EXIT_CONFIG;
    }
  }
  return vmm_config_parse(json, strlen(json), out) < 0 ? rejected(path) : 0;
}

void run_restore_cwd(int saved_cwd) {
  if (saved_cwd < 0)
    return;
  if (fchdir(saved_cwd) < 0)
    fprintf(stderr, "vmm-run: warning: cannot go back to the working "
                    "directory: %s\n", strerror(errno));
  close(saved_cwd);
}

int run_load_config(const struct run_options *o, vmm_config_t **out,
                    int *saved_cwd) {
  *out = NULL;
  *saved_cwd = -1;
  struct stat st;
  if (stat(o->config, &st) < 0) {
    fprintf(stderr, "vmm-run: %s: %s\n", o->config, strerror(errno));
    return EXIT_CONFIG;
  }
  if (!o->n_sets && !o->control)
    return vmm_config_parse_file(o->config, out) < 0 ? rejected(o->config)
                                                     : 0;
  size_t len;
  char *text = read_file(o->config, &len);
  if (!text) {
    fprintf(stderr, "vmm-run: %s: %s\n", o->config, strerror(errno));
    return EXIT_CONFIG;
  }
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  if (!root || !cJSON_IsObject(root)) {
    /* The library's parser says where the JSON is wrong. */
    cJSON_Delete(root);
    return vmm_config_parse_file(o->config, out) < 0 ? rejected(o->config)
                                                     : EXIT_CONFIG;
  }
  int status = 0;
  for (unsigned i = 0; i < o->n_sets && !status; i++)
    status = set_one(root, o->sets[i]);
  if (!status && o->control) {
    cJSON *control = cJSON_GetObjectItemCaseSensitive(root, "control");
    if (!cJSON_IsObject(control)) {
      cJSON_DeleteItemFromObjectCaseSensitive(root, "control");
      control = cJSON_AddObjectToObject(root, "control");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(control, "path");
    if (!cJSON_AddStringToObject(control, "path", o->control))
      status = EXIT_USAGE;
  }
  char *json = status ? NULL : cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (status)
    return status;
  if (!json) {
    fprintf(stderr, "vmm-run: out of memory\n");
    return EXIT_SETUP;
  }
  status = parse_in_dir(o->config, json, out, saved_cwd);
  free(json);
  return status;
}
