/* libvmm/memory.h — guest-physical memory regions and checked access. */
#ifndef LIBVMM_MEMORY_H
#define LIBVMM_MEMORY_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_PAGE_SIZE 4096u

/* Limits per VM (docs/security.md): vmm_mem_map() refuses a region beyond
 * VMM_MEM_MAX_REGIONS (VMM_ENOSPC) or one that takes the VM's guest memory
 * past VMM_MEM_MAX_TOTAL bytes (VMM_ERANGE). */
#define VMM_MEM_MAX_REGIONS 256
#define VMM_MEM_MAX_TOTAL (1ull << 40) /* 1 TiB */

/* Region flags. */
#define VMM_MEM_READONLY (1u << 0)  /* ROM: guest writes exit as MMIO writes */
#define VMM_MEM_DIRTY_LOG (1u << 1) /* track guest (and host API) writes */

/*
 * Maps `size` bytes of guest-physical memory at `gpa`. With `hva` NULL the
 * library allocates zeroed anonymous memory and frees it on unmap;
 * otherwise the caller's memory is used and stays the caller's. `gpa`,
 * `size` and `hva` must be page aligned; a range that overlaps an existing
 * region fails with VMM_EOVERLAP. `out` may be NULL.
 */
VMM_EXPORT int vmm_mem_map(vmm_vm_t *vm, uint64_t gpa, uint64_t size,
                           void *hva, uint32_t flags, vmm_mem_region_t **out);
/* Removes the region; the handle is dead afterwards (VMM_EBADF). */
VMM_EXPORT int vmm_mem_unmap(vmm_mem_region_t *region);

/* Region accessors (0 / NULL for a dead handle). */
VMM_EXPORT uint64_t vmm_mem_region_gpa(const vmm_mem_region_t *region);
VMM_EXPORT uint64_t vmm_mem_region_size(const vmm_mem_region_t *region);
VMM_EXPORT void *vmm_mem_region_hva(const vmm_mem_region_t *region);
VMM_EXPORT uint32_t vmm_mem_region_flags(const vmm_mem_region_t *region);

/*
 * Host address of [gpa, gpa + len): succeeds only when the whole range lies
 * in one region (VMM_EFAULT otherwise), so the result can be used for
 * exactly `len` bytes.
 */
VMM_EXPORT int vmm_mem_gpa_to_hva(vmm_vm_t *vm, uint64_t gpa, uint64_t len,
                                  void **hva);
/*
 * Copies between guest memory and a host buffer. The range may span
 * adjacent regions; any byte outside guest memory fails the whole call
 * with VMM_EFAULT before anything is copied. Host writes go to ROM regions
 * too (that is how firmware gets loaded) and are recorded in dirty logs.
 */
VMM_EXPORT int vmm_mem_read(vmm_vm_t *vm, uint64_t gpa, void *buf, size_t len);
VMM_EXPORT int vmm_mem_write(vmm_vm_t *vm, uint64_t gpa, const void *buf,
                             size_t len);

/*
 * Dirty page log of a region mapped with VMM_MEM_DIRTY_LOG: one bit per
 * page, bit i of 64-bit word i/64 for the page at gpa + i * 4096.
 * `bitmap_bytes` must be at least ((pages + 63) / 64) * 8.
 * get: the pages written since the last clear (the log keeps accumulating).
 * clear: forgets all pages written until now.
 */
VMM_EXPORT int vmm_mem_dirty_log_get(vmm_mem_region_t *region,
                                     uint64_t *bitmap, size_t bitmap_bytes);
VMM_EXPORT int vmm_mem_dirty_log_clear(vmm_mem_region_t *region);

#ifdef __cplusplus
}
#endif
#endif
