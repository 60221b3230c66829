/* src/memmap.h — the sorted guest-physical region map (no backend inside). */
#ifndef VMM__MEMMAP_H
#define VMM__MEMMAP_H

#include <stdbool.h>
#include <libvmm/common.h>
#include <libvmm/memory.h>

/* One RAM/ROM region as the map sees it. */
struct vmm__memslot {
  uint64_t gpa;
  uint64_t size;
  uint8_t *hva;
  uint32_t flags;   /* VMM_MEM_* */
  uint32_t slot;    /* backend slot number */
  uint64_t *dirty;  /* accumulated dirty bitmap, NULL without DIRTY_LOG */
  void *owner;      /* the public handle (vmm_mem_region_t) */
};

/* Regions sorted by gpa, never overlapping. Not locked: the caller locks. */
struct vmm__memmap {
  struct vmm__memslot **slots;
  size_t count, capacity;
};

void vmm__memmap_init(struct vmm__memmap *map);
void vmm__memmap_fini(struct vmm__memmap *map);
/* Checks alignment and overlap, then inserts; the map keeps the pointer. */
int vmm__memmap_insert(struct vmm__memmap *map, struct vmm__memslot *slot);
/* Removes `slot` (by identity); VMM_ENOENT when not present. */
int vmm__memmap_remove(struct vmm__memmap *map, struct vmm__memslot *slot);
/* The region containing `gpa`, or NULL. */
struct vmm__memslot *vmm__memmap_find(const struct vmm__memmap *map,
                                      uint64_t gpa);
/*
 * Copies between guest memory and `buf` over [gpa, gpa+len), which may
 * span adjacent regions. All of it is checked before any byte moves;
 * VMM_EFAULT names the first address outside guest memory. Writes mark
 * dirty bitmaps.
 */
int vmm__memmap_access(const struct vmm__memmap *map, uint64_t gpa,
                       void *buf, size_t len, bool is_write);
/* Lowest unused slot number. */
uint32_t vmm__memmap_free_slot(const struct vmm__memmap *map);

#endif
