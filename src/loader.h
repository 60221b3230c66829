/* src/loader.h — image loaders as pure functions over a region map. */
#ifndef VMM__LOADER_H
#define VMM__LOADER_H

#include <stdbool.h>

#include <libvmm/loader.h>

#include "memmap.h"

/*
 * These work on a bare region map so that they can be tested without a
 * hypervisor; the public vmm_load_* wrappers add the handle check and the
 * VM lock. The caller holds whatever lock guards `map`. On failure they
 * return a negative VMM_E* code with the reason in vmm_last_error() and
 * have written nothing to guest memory.
 */

/*
 * Validates the whole ELF image against `map` (header, program header
 * table, every PT_LOAD), then copies each PT_LOAD to p_paddr and zeroes
 * its bss tail. `info` may be NULL; when given, info->size must cover
 * every field of vmm_elf_info_t and the fields are written on success
 * only. VMM_ENOEXEC for a bad image, VMM_EFAULT for a segment outside
 * guest memory, VMM_EINVAL for bad arguments, VMM_ENOMEM.
 */
int vmm__elf_load(const void *image, size_t len, struct vmm__memmap *map,
                  vmm_elf_info_t *info);

/* Copies `len` (> 0) bytes to guest-physical `gpa`; VMM_EFAULT when any
 * byte of [gpa, gpa + len) is not guest memory. */
int vmm__flat_load(const void *image, size_t len, struct vmm__memmap *map,
                   uint64_t gpa);

/*
 * 0 when every byte of [gpa, gpa + len) lies in regions of `map`
 * (adjacent regions count as one range), else VMM_EFAULT naming `what`
 * and the first address that is not guest memory. len 0 is covered.
 */
int vmm__loader_check_range(const struct vmm__memmap *map, uint64_t gpa,
                            uint64_t len, const char *what);

/*
 * Opens a regular file for reading and returns its size; directories and
 * other non-regular files fail with VMM_EINVAL, open/stat errors with the
 * matching VMM_E* code. Split from vmm__file_read() so that a caller can
 * refuse a file by its size before reading it. Messages start with the
 * path.
 */
int vmm__file_open(const char *path, int *fd, size_t *size);
/* Reads exactly `size` bytes of `fd` into a new malloc'd *data (freed by
 * the caller); VMM_EIO when the file ends early. `path` is for messages. */
int vmm__file_read(int fd, const char *path, size_t size, void **data);

#endif
