/* libvmm/loader.h — putting guest images into guest memory. */
#ifndef LIBVMM_LOADER_H
#define LIBVMM_LOADER_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies `len` bytes of `image` to guest-physical `gpa`. */
VMM_EXPORT int vmm_load_flat(vmm_vm_t *vm, const void *image, size_t len,
                             uint64_t gpa);
/* The same from a file; `*size` (may be NULL) receives the file size. */
VMM_EXPORT int vmm_load_flat_file(vmm_vm_t *vm, const char *path, uint64_t gpa,
                                  uint64_t *size);

/* What an ELF load produced. */
typedef struct vmm_elf_info {
  size_t size;      /* sizeof(vmm_elf_info_t), set by the caller */
  uint64_t entry;   /* e_entry */
  uint64_t lowest;  /* lowest guest-physical address loaded */
  uint64_t highest; /* one past the highest loaded byte (end of bss) */
  uint32_t elf_class; /* 32 or 64 */
  uint32_t segments;  /* PT_LOAD segments loaded */
} vmm_elf_info_t;

/*
 * Loads a static ELF32 or ELF64 x86 executable: each PT_LOAD segment is
 * copied to its physical address (p_paddr) and the rest of p_memsz zeroed.
 * Everything is validated before guest memory is touched: header fields,
 * program headers inside the file, file ranges inside the file, segments
 * inside guest memory and not overlapping. Failure: VMM_ENOEXEC (or
 * VMM_EFAULT for segments outside guest memory) with the reason in
 * vmm_last_error(). `info` may be NULL.
 */
VMM_EXPORT int vmm_load_elf(vmm_vm_t *vm, const void *image, size_t len,
                            vmm_elf_info_t *info);
VMM_EXPORT int vmm_load_elf_file(vmm_vm_t *vm, const char *path,
                                 vmm_elf_info_t *info);

#ifdef __cplusplus
}
#endif
#endif
