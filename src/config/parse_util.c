/* src/config/parse_util.c — JSON path cursor and typed field readers for
 * the VM description parser: every rejection names the field's path. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/parse_internal.h"
#include "error.h"

/* ---- the path cursor -------------------------------------------------- */

/* A key that is not a plain identifier is shown quoted, so that the path
 * stays unambiguous (and a hostile key cannot forge one). */
static bool plain_key(const char *key) {
  if (!*key)
    return false;
  for (const char *p = key; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '$')
      return false;
  return true;
}

static void append(struct vmm__pctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void append(struct vmm__pctx *c, const char *fmt, ...) {
  if (c->len >= sizeof(c->path) - 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->path + c->len, sizeof(c->path) - c->len, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  c->len += (size_t)n;
  if (c->len >= sizeof(c->path))
    c->len = sizeof(c->path) - 1; /* truncated: "..." is shown then */
}

size_t vmm__p_push_key(struct vmm__pctx *c, const char *key) {
  size_t old = c->len;
  if (plain_key(key))
    append(c, "%s%s", c->len ? "." : "", key);
  else {
    /* Printable ASCII only, at most 40 bytes. */
    char safe[48];
    size_t j = 0;
    for (const char *p = key; *p && j < 40; p++)
      safe[j++] = (*p >= 0x20 && *p < 0x7f && *p != '"') ? *p : '?';
    safe[j] = 0;
    append(c, "[\"%s%s\"]", safe, strlen(key) > 40 ? "..." : "");
  }
  return old;
}

size_t vmm__p_push_index(struct vmm__pctx *c, size_t i) {
  size_t old = c->len;
  append(c, "[%zu]", i);
  return old;
}

void vmm__p_pop(struct vmm__pctx *c, size_t old_len) {
  c->len = old_len;
  c->path[old_len] = 0;
}

static int verror(struct vmm__pctx *c, int code, const char *fmt,
                  va_list ap) {
  char reason[384];
  vsnprintf(reason, sizeof(reason), fmt, ap);
  return vmm__error(code, "%s: %s", c->len ? c->path : "(top level)",
                    reason);
}

int vmm__p_error(struct vmm__pctx *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror(c, code, fmt, ap);
  va_end(ap);
  return rc;
}

int vmm__p_key_error(struct vmm__pctx *c, const char *key, int code,
                     const char *fmt, ...) {
  size_t old = vmm__p_push_key(c, key);
  va_list ap;
  va_start(ap, fmt);
  int rc = verror(c, code, fmt, ap);
  va_end(ap);
  vmm__p_pop(c, old);
  return rc;
}

const char *vmm__p_type_name(const cJSON *item) {
  if (cJSON_IsString(item))
    return "a string";
  if (cJSON_IsNumber(item))
    return "a number";
  if (cJSON_IsBool(item))
    return "a boolean";
  if (cJSON_IsNull(item))
    return "null";
  if (cJSON_IsArray(item))
    return "an array";
  if (cJSON_IsObject(item))
    return "an object";
  return "an invalid value";
}

int vmm__p_check_keys(struct vmm__pctx *c, const cJSON *obj,
                      const char *const *allowed) {
  if (!cJSON_IsObject(obj))
    return vmm__p_error(c, VMM_EINVAL, "expected an object, got %s",
                        vmm__p_type_name(obj));
  for (const cJSON *it = obj->child; it; it = it->next) {
    const char *k = it->string ? it->string : "";
    bool known = false;
    for (size_t i = 0; allowed[i]; i++)
      known |= strcmp(allowed[i], k) == 0;
    if (!known) {
      char list[256] = "";
      size_t n = 0;
      for (size_t i = 0; allowed[i] && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
                              i ? ", " : "", allowed[i]);
      return vmm__p_key_error(c, k, VMM_EINVAL,
                              "unknown field (expected one of: %s)",
                              list[0] ? list : "none");
    }
    for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
      if (prev->string && strcmp(prev->string, k) == 0)
        return vmm__p_key_error(c, k, VMM_EINVAL, "duplicate field");
  }
  return 0;
}

/* ---- numbers ------------------------------------------------------------ */

/* "0x1f", "4096", "64M", "2GiB": the value or an error message. */
static const char *parse_number_string(const char *s, unsigned flags,
                                       uint64_t *out) {
  if (!*s)
    return "empty string where a number belongs";
  errno = 0;
  char *end;
  uint64_t v;
  bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex ? !isxdigit((unsigned char)s[2]) : !isdigit((unsigned char)s[0]))
    return "not a number (decimal, 0x-prefixed hex, or a size like \"64M\")";
  v = strtoull(s, &end, hex ? 16 : 10);
  if (errno == ERANGE)
    return "number too large";
  unsigned shift = 0;
  if (*end && !hex && (flags & VMM__P_SIZE)) {
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return "unknown size suffix (use K, M, G or T)";
    }
    end++;
    if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
      end += strlen(end);
  }
  if (*end)
    return (flags & VMM__P_SIZE) ? "not a number or size (e.g. 4096, "
                                   "\"0x1000\", \"64M\")"
                                 : "not a number (e.g. 4096 or \"0x1000\")";
  if (shift && v > (UINT64_MAX >> shift))
    return "number too large";
  *out = v << shift;
  return NULL;
}

int vmm__p_u64_item(struct vmm__pctx *c, const cJSON *item, uint64_t min,
                    uint64_t max, unsigned flags, uint64_t *out) {
  uint64_t v;
  if (cJSON_IsNumber(item)) {
    double d = item->valuedouble;
    /* Doubles hold integers exactly up to 2^53; beyond, use a string. */
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
      return vmm__p_error(c, d < 0 ? VMM_ERANGE : VMM_EINVAL,
                          "%s (use a non-negative integer; above 2^53 a "
                          "string like \"0x...\")", d < 0 ? "negative number"
                          : "not an integer");
    v = (uint64_t)d;
  } else if (cJSON_IsString(item)) {
    const char *why = parse_number_string(item->valuestring, flags, &v);
    if (why)
      return vmm__p_error(c, strstr(why, "too large") ? VMM_ERANGE
                                                      : VMM_EINVAL,
                          "\"%.40s\": %s", item->valuestring, why);
  } else {
    return vmm__p_error(c, VMM_EINVAL, "expected a number, got %s",
                        vmm__p_type_name(item));
  }
  if (v < min || v > max)
    return vmm__p_error(c, VMM_ERANGE,
                        "0x%" PRIx64 " (%" PRIu64 ") is out of range "
                        "[0x%" PRIx64 ", 0x%" PRIx64 "]", v, v, min, max);
  if ((flags & VMM__P_PAGE) && (v % VMM_PAGE_SIZE))
    return vmm__p_error(c, VMM_EINVAL, "0x%" PRIx64 " is not a multiple "
                        "of 4 KiB", v);
  *out = v;
  return 0;
}

int vmm__p_u64(struct vmm__pctx *c, const cJSON *obj, const char *key,
               uint64_t min, uint64_t max, unsigned flags, uint64_t *out) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item || cJSON_IsNull(item)) {
    if (flags & VMM__P_REQUIRED)
      return vmm__p_key_error(c, key, VMM_EINVAL, "missing");
    return 0;
  }
  size_t old = vmm__p_push_key(c, key);
  int rc = vmm__p_u64_item(c, item, min, max, flags, out);
  vmm__p_pop(c, old);
  return rc;
}

int vmm__p_bool(struct vmm__pctx *c, const cJSON *obj, const char *key,
                bool *out) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item || cJSON_IsNull(item))
    return 0;
  if (!cJSON_IsBool(item))
    return vmm__p_key_error(c, key, VMM_EINVAL,
                            "expected true or false, got %s",
                            vmm__p_type_name(item));
  *out = cJSON_IsTrue(item);
  return 0;
}

/* ---- strings and paths ------------------------------------------------ */

static int get_string(struct vmm__pctx *c, const cJSON *obj, const char *key,
                      size_t max, unsigned flags, const char **out) {
  *out = NULL;
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item || cJSON_IsNull(item)) {
    if (flags & VMM__P_REQUIRED)
      return vmm__p_key_error(c, key, VMM_EINVAL, "missing");
    return 0;
  }
  if (!cJSON_IsString(item))
    return vmm__p_key_error(c, key, VMM_EINVAL, "expected a string, got %s",
                            vmm__p_type_name(item));
  size_t n = strlen(item->valuestring);
  if (n == 0 && !(flags & VMM__P_EMPTY_OK))
    return vmm__p_key_error(c, key, VMM_EINVAL, "empty string");
  if (n > max)
    return vmm__p_key_error(c, key, VMM_ERANGE,
                            "%zu bytes long; at most %zu", n, max);
  *out = item->valuestring;
  return 0;
}

int vmm__p_string(struct vmm__pctx *c, const cJSON *obj, const char *key,
                  size_t max, unsigned flags, char **out) {
  const char *s;
  int rc = get_string(c, obj, key, max, flags, &s);
  if (rc < 0 || !s)
    return rc;
  char *copy = strdup(s);
  if (!copy)
    return vmm__error(VMM_ENOMEM, "out of memory");
  free(*out);
  *out = copy;
  return 0;
}

int vmm__p_path(struct vmm__pctx *c, const cJSON *obj, const char *key,
                unsigned flags, char **out) {
  const char *s;
  int rc = get_string(c, obj, key, VMM__CFG_STRING_MAX, flags, &s);
  if (rc < 0 || !s)
    return rc;
  char *full;
  if (s[0] != '/' && c->base_dir && c->base_dir[0]) {
    size_t n = strlen(c->base_dir) + strlen(s) + 2;
    full = malloc(n);
    if (full)
      snprintf(full, n, "%s/%s", c->base_dir, s);
  } else {
    full = strdup(s);
  }
  if (!full)
    return vmm__error(VMM_ENOMEM, "out of memory");
  struct stat st;
  if (flags & VMM__P_EXISTS) {
    if (stat(full, &st) < 0) {
      int e = errno;
      free(full);
      return vmm__p_key_error(c, key, e == ENOENT ? VMM_ENOENT : VMM_EACCES,
                              "%s", e == ENOENT ? "no such file"
                                                : strerror(e));
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
      free(full);
      return vmm__p_key_error(c, key, VMM_EINVAL, "%s, not a regular file",
                              S_ISDIR(st.st_mode) ? "a directory"
                                                  : "a special file");
    }
    if (access(full, R_OK) < 0) {
      free(full);
      return vmm__p_key_error(c, key, VMM_EACCES, "not readable");
    }
  }
  if (flags & VMM__P_CREATABLE) {
    char *dir = strdup(full);
    if (!dir) {
      free(full);
      return vmm__error(VMM_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
      slash[1] = 0; /* "/name": the root */
    else if (slash)
      *slash = 0;
    else
      strcpy(dir, ".");
    bool ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    free(dir);
    if (!ok || full[strlen(full) - 1] == '/') {
      free(full);
      return vmm__p_key_error(c, key, VMM_ENOENT,
                              ok ? "names a directory, not a file"
                                 : "no such directory for the file");
    }
  }
  free(*out);
  *out = full;
  return 0;
}

int vmm__p_enum(struct vmm__pctx *c, const cJSON *obj, const char *key,
                const char *const *names, unsigned flags, int *out) {
  const char *s;
  int rc = get_string(c, obj, key, 64, flags | VMM__P_EMPTY_OK, &s);
  if (rc < 0 || !s)
    return rc;
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], s) == 0) {
      *out = i;
      return 0;
    }
  char list[256] = "";
  size_t n = 0;
  for (size_t i = 0; names[i] && n < sizeof(list); i++)
    n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
                          i ? ", " : "", names[i]);
  return vmm__p_key_error(c, key, VMM_EINVAL, "\"%.40s\" is not one of %s",
                          s, list);
}
