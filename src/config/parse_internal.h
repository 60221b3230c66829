/* src/config/parse_internal.h — the JSON walking helpers the parser files
 * share: a JSON-path cursor for messages and typed, range-checked field
 * readers. */
#ifndef VMM__CONFIG_PARSE_INTERNAL_H
#define VMM__CONFIG_PARSE_INTERNAL_H

#include <cJSON.h>

#include "config/config_internal.h"

/* Where the parser is, as a JSON path ("devices[2].chardev.path"). */
struct vmm__pctx {
  char path[256];
  size_t len;
  const char *base_dir; /* relative paths are resolved against it */
};

/* Path cursor: push returns the previous length for pop. */
size_t vmm__p_push_key(struct vmm__pctx *c, const char *key);
size_t vmm__p_push_index(struct vmm__pctx *c, size_t i);
void vmm__p_pop(struct vmm__pctx *c, size_t old_len);
/* Error at the current path: "path: reason". */
int vmm__p_error(struct vmm__pctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Error at field `key` of the current object. */
int vmm__p_key_error(struct vmm__pctx *c, const char *key, int code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* `obj` must be an object whose keys are all in the NULL-terminated list
 * `allowed`, each at most once. */
int vmm__p_check_keys(struct vmm__pctx *c, const cJSON *obj,
                      const char *const *allowed);
/* The JSON type of an item, for messages ("a string", "an array"). */
const char *vmm__p_type_name(const cJSON *item);

/* Field readers: an absent field (or JSON null) leaves *out at its
 * default and returns 0; a field of the wrong type or out of range is an
 * error naming it. */
#define VMM__P_SIZE 1u    /* accepts "64M", "4K", "1G" (binary units) */
#define VMM__P_PAGE 2u    /* must be a multiple of 4 KiB */
#define VMM__P_REQUIRED 4u
int vmm__p_u64(struct vmm__pctx *c, const cJSON *obj, const char *key,
               uint64_t min, uint64_t max, unsigned flags, uint64_t *out);
int vmm__p_u64_item(struct vmm__pctx *c, const cJSON *item, uint64_t min,
                    uint64_t max, unsigned flags, uint64_t *out);
int vmm__p_bool(struct vmm__pctx *c, const cJSON *obj, const char *key,
                bool *out);
/* A string of 1..max bytes (0 allowed with VMM__P_EMPTY_OK), copied. */
#define VMM__P_EMPTY_OK 8u
int vmm__p_string(struct vmm__pctx *c, const cJSON *obj, const char *key,
                  size_t max, unsigned flags, char **out);
/* A file path, resolved against base_dir. With VMM__P_EXISTS the file
 * must exist and be readable (a regular file or block device). */
#define VMM__P_EXISTS 16u
/* The directory it would be created in must exist. */
#define VMM__P_CREATABLE 32u
int vmm__p_path(struct vmm__pctx *c, const cJSON *obj, const char *key,
                unsigned flags, char **out);
/* One of `names` (NULL-terminated); *out is its index. */
int vmm__p_enum(struct vmm__pctx *c, const cJSON *obj, const char *key,
                const char *const *names, unsigned flags, int *out);

/* parse_devices.c: the "devices" array. */
int vmm__p_devices(struct vmm__pctx *c, const cJSON *arr, vmm_config_t *cfg);

#endif
