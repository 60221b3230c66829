/* src/memory.c — the public memory-region API over the region map. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "vm_internal.h"

#define KNOWN_FLAGS (VMM_MEM_READONLY | VMM_MEM_DIRTY_LOG)

static size_t bitmap_bytes(uint64_t size) {
  return (size_t)(((size / VMM_PAGE_SIZE) + 63) / 64) * 8;
}

/* The per-VM caps (memory.h) for one more region of `size` bytes (at most
 * VMM_MEM_MAX_TOTAL: checked by the caller). VM lock held. */
static int check_caps(vmm_vm_t *vm, uint64_t size) {
  uint64_t total = size;
  for (size_t i = 0; i < vm->mem.count; i++)
    total += vm->mem.slots[i]->size;
  if (vm->mem.count >= VMM_MEM_MAX_REGIONS)
    return vmm__error(VMM_ENOSPC, "vmm_mem_map: the VM has %zu regions, the "
                      "most a VM may have (VMM_MEM_MAX_REGIONS)",
                      vm->mem.count);
  if (total > VMM_MEM_MAX_TOTAL)
    return vmm__error(VMM_ERANGE, "vmm_mem_map: 0x%llx more bytes would "
                      "make the VM's memory 0x%llx bytes, over "
                      "VMM_MEM_MAX_TOTAL (0x%llx)", (unsigned long long)size,
                      (unsigned long long)total,
                      (unsigned long long)VMM_MEM_MAX_TOTAL);
  return 0;
}

int vmm_mem_map(vmm_vm_t *vm, uint64_t gpa, uint64_t size, void *hva,
                uint32_t flags, vmm_mem_region_t **out) {
  if (out)
    *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_mem_map: not a live VM handle");
  if (flags & ~KNOWN_FLAGS)
    return vmm__error(VMM_EINVAL, "vmm_mem_map: unknown flags 0x%x",
                      flags & ~KNOWN_FLAGS);
  if (size == 0 || ((gpa | size) & (VMM_PAGE_SIZE - 1)) ||
      ((uintptr_t)hva & (VMM_PAGE_SIZE - 1)))
    return vmm__error(VMM_EINVAL,
                      "vmm_mem_map: gpa 0x%llx, size 0x%llx and hva %p must "
                      "be 4 KiB aligned and size non-zero",
                      (unsigned long long)gpa, (unsigned long long)size, hva);
  if (gpa + size < gpa || size > SIZE_MAX)
    return vmm__error(VMM_ERANGE, "vmm_mem_map: [0x%llx, +0x%llx) wraps",
                      (unsigned long long)gpa, (unsigned long long)size);
  if (size > VMM_MEM_MAX_TOTAL)
    return vmm__error(VMM_ERANGE, "vmm_mem_map: 0x%llx bytes is more than "
                      "VMM_MEM_MAX_TOTAL (0x%llx)", (unsigned long long)size,
                      (unsigned long long)VMM_MEM_MAX_TOTAL);
  if ((flags & VMM_MEM_DIRTY_LOG) && !(vm->caps & VMM_CAP_DIRTY_LOG))
    return vmm__error(VMM_ENOTSUP, "vmm_mem_map: backend %s has no dirty log",
                      vm->ops->name);
  if ((flags & VMM_MEM_READONLY) && !(vm->caps & VMM_CAP_READONLY_MEM))
    return vmm__error(VMM_ENOTSUP, "vmm_mem_map: backend %s has no "
                      "read-only memory", vm->ops->name);

  /* Checked before any memory is allocated for the region. */
  pthread_rwlock_rdlock(&vm->lock);
  int rc = check_caps(vm, size);
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0)
    return rc;
  vmm_mem_region_t *r = calloc(1, sizeof(*r));
  if (!r)
    return vmm__error(VMM_ENOMEM, "out of memory for a region");
  r->vm = vm;
  r->slot.gpa = gpa;
  r->slot.size = size;
  r->slot.flags = flags;
  r->slot.owner = r;
  if (!hva) {
    /* MAP_NORESERVE: guests commonly get far more RAM than they touch. */
    hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (hva == MAP_FAILED) {
      free(r);
      return vmm__error(VMM_ENOMEM, "vmm_mem_map: cannot allocate 0x%llx "
                        "bytes of guest memory", (unsigned long long)size);
    }
    r->owned = true;
  }
  r->slot.hva = hva;
  if (flags & VMM_MEM_DIRTY_LOG) {
    r->slot.dirty = calloc(1, bitmap_bytes(size));
    if (!r->slot.dirty) {
      rc = vmm__error(VMM_ENOMEM, "out of memory for a dirty bitmap");
      goto fail_mem;
    }
  }

  pthread_rwlock_wrlock(&vm->lock);
  /* Again: another thread may have mapped a region meanwhile. */
  rc = check_caps(vm, size);
  if (rc < 0) {
    pthread_rwlock_unlock(&vm->lock);
    goto fail_mem;
  }
  r->slot.slot = vmm__memmap_free_slot(&vm->mem);
  rc = vmm__memmap_insert(&vm->mem, &r->slot);
  if (rc == 0) {
    rc = vm->ops->mem_set(vm->bvm, r->slot.slot, gpa, size, hva, flags);
    if (rc < 0)
      vmm__memmap_remove(&vm->mem, &r->slot);
  }
  if (rc == 0) {
    rc = vmm__handle_add(r, VMM__H_REGION);
    if (rc < 0) {
      /* Undo both steps: the region must not outlive its memory. */
      vm->ops->mem_set(vm->bvm, r->slot.slot, gpa, 0, NULL, 0);
      vmm__memmap_remove(&vm->mem, &r->slot);
      vmm__error(rc, "out of memory for the handle registry");
    }
  }
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0) {
    vmm__error_prefix(rc, "vmm_mem_map");
    goto fail_mem;
  }
  if (out)
    *out = r;
  return 0;

fail_mem:
  if (r->owned)
    munmap(hva, size);
  free(r->slot.dirty);
  free(r);
  return rc;
}

void vmm__region_free(vmm_mem_region_t *r) {
  vmm_vm_t *vm = r->vm;
  vmm__handle_remove(r);
  vmm__memmap_remove(&vm->mem, &r->slot);
  if (r->owned)
    munmap(r->slot.hva, r->slot.size);
  free(r->slot.dirty);
  free(r);
}

int vmm_mem_unmap(vmm_mem_region_t *r) {
  if (!vmm__handle_valid(r, VMM__H_REGION))
    return vmm__error(VMM_EBADF, "vmm_mem_unmap: not a live region handle");
  vmm_vm_t *vm = r->vm;
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vm->ops->mem_set(vm->bvm, r->slot.slot, r->slot.gpa, 0, NULL, 0);
  if (rc == 0)
    vmm__region_free(r);
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

uint64_t vmm_mem_region_gpa(const vmm_mem_region_t *r) {
  return vmm__handle_valid(r, VMM__H_REGION) ? r->slot.gpa : 0;
}
uint64_t vmm_mem_region_size(const vmm_mem_region_t *r) {
  return vmm__handle_valid(r, VMM__H_REGION) ? r->slot.size : 0;
}
void *vmm_mem_region_hva(const vmm_mem_region_t *r) {
  return vmm__handle_valid(r, VMM__H_REGION) ? r->slot.hva : NULL;
}
uint32_t vmm_mem_region_flags(const vmm_mem_region_t *r) {
  return vmm__handle_valid(r, VMM__H_REGION) ? r->slot.flags : 0;
}

int vmm_mem_gpa_to_hva(vmm_vm_t *vm, uint64_t gpa, uint64_t len, void **hva) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_mem_gpa_to_hva: not a live VM handle");
  if (!hva)
    return vmm__error(VMM_EINVAL, "vmm_mem_gpa_to_hva: hva is NULL");
  *hva = NULL;
  int rc = 0;
  pthread_rwlock_rdlock(&vm->lock);
  const struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa);
  if (!s || len > s->size - (gpa - s->gpa))
    rc = vmm__error(VMM_EFAULT, "vmm_mem_gpa_to_hva: [0x%llx, +0x%llx) is "
                    "not inside one region", (unsigned long long)gpa,
                    (unsigned long long)len);
  else
    *hva = s->hva + (gpa - s->gpa);
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

static int access(vmm_vm_t *vm, uint64_t gpa, void *buf, size_t len,
                  bool is_write, const char *what) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", what);
  if (!buf && len)
    return vmm__error(VMM_EINVAL, "%s: buffer is NULL", what);
  pthread_rwlock_rdlock(&vm->lock);
  int rc = vmm__memmap_access(&vm->mem, gpa, buf, len, is_write);
  pthread_rwlock_unlock(&vm->lock);
  return rc < 0 ? vmm__error_prefix(rc, what) : 0;
}

int vmm_mem_read(vmm_vm_t *vm, uint64_t gpa, void *buf, size_t len) {
  return access(vm, gpa, buf, len, false, "vmm_mem_read");
}

int vmm_mem_write(vmm_vm_t *vm, uint64_t gpa, const void *buf, size_t len) {
  return access(vm, gpa, (void *)buf, len, true, "vmm_mem_write");
}

/* Folds what the backend logged since its last fetch into our bitmap. */
static int dirty_sync(vmm_mem_region_t *r, bool keep) {
  vmm_vm_t *vm = r->vm;
  size_t n = bitmap_bytes(r->slot.size);
  uint64_t *fresh = calloc(1, n);
  if (!fresh)
    return vmm__error(VMM_ENOMEM, "out of memory for a dirty bitmap");
  int rc = vm->ops->dirty_log_fetch(vm->bvm, r->slot.slot, r->slot.size,
                                    fresh);
  if (rc == 0) {
    for (size_t i = 0; i < n / 8; i++)
      r->slot.dirty[i] = keep ? (r->slot.dirty[i] | fresh[i]) : 0;
  }
  free(fresh);
  return rc;
}

int vmm_mem_dirty_log_get(vmm_mem_region_t *r, uint64_t *bitmap,
                          size_t nbytes) {
  if (!vmm__handle_valid(r, VMM__H_REGION))
    return vmm__error(VMM_EBADF, "vmm_mem_dirty_log_get: not a live region");
  if (!r->slot.dirty)
    return vmm__error(VMM_EINVAL, "vmm_mem_dirty_log_get: region at 0x%llx "
                      "was mapped without VMM_MEM_DIRTY_LOG",
                      (unsigned long long)r->slot.gpa);
  size_t need = bitmap_bytes(r->slot.size);
  if (!bitmap || nbytes < need)
    return vmm__error(VMM_EINVAL, "vmm_mem_dirty_log_get: bitmap needs %zu "
                      "bytes, got %zu", need, bitmap ? nbytes : 0);
  /* Write lock: host writes through vmm_mem_write (read lock) also set
   * bits, and the fold must not race with them. */
  pthread_rwlock_wrlock(&r->vm->lock);
  int rc = dirty_sync(r, true);
  if (rc == 0)
    memcpy(bitmap, r->slot.dirty, need);
  pthread_rwlock_unlock(&r->vm->lock);
  return rc;
}

int vmm_mem_dirty_log_clear(vmm_mem_region_t *r) {
  if (!vmm__handle_valid(r, VMM__H_REGION))
    return vmm__error(VMM_EBADF, "vmm_mem_dirty_log_clear: not a live region");
  if (!r->slot.dirty)
    return vmm__error(VMM_EINVAL, "vmm_mem_dirty_log_clear: region at 0x%llx "
                      "was mapped without VMM_MEM_DIRTY_LOG",
                      (unsigned long long)r->slot.gpa);
  pthread_rwlock_wrlock(&r->vm->lock);
  int rc = dirty_sync(r, false);
  pthread_rwlock_unlock(&r->vm->lock);
  return rc;
}

/* Fetch and clear in one step under the lock, so that no page written
 * between a get and a clear is lost (live migration's pre-copy rounds). */
int vmm__mem_dirty_log_take(vmm_mem_region_t *r, uint64_t *bitmap,
                            size_t nbytes) {
  size_t need = bitmap_bytes(r->slot.size);
  if (!r->slot.dirty || !bitmap || nbytes < need)
    return vmm__error(VMM_EINVAL, "dirty log take: region at 0x%llx has no "
                      "log or the bitmap is short",
                      (unsigned long long)r->slot.gpa);
  pthread_rwlock_wrlock(&r->vm->lock);
  int rc = dirty_sync(r, true);
  if (rc == 0) {
    memcpy(bitmap, r->slot.dirty, need);
    memset(r->slot.dirty, 0, need);
  }
  pthread_rwlock_unlock(&r->vm->lock);
  return rc;
}
