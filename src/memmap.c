/* src/memmap.c — sorted, non-overlapping guest-physical region map. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memmap.h"

void vmm__memmap_init(struct vmm__memmap *map) {
  memset(map, 0, sizeof(*map));
}

void vmm__memmap_fini(struct vmm__memmap *map) {
  free(map->slots);
  memset(map, 0, sizeof(*map));
}

/* Index of the first region whose end is above `gpa` (binary search). */
static size_t lower_bound(const struct vmm__memmap *map, uint64_t gpa) {
  size_t lo = 0, hi = map->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct vmm__memslot *s = map->slots[mid];
    if (s->gpa + s->size <= gpa)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int vmm__memmap_insert(struct vmm__memmap *map, struct vmm__memslot *slot) {
  if (slot->size == 0)
    return vmm__error(VMM_EINVAL, "region size is 0");
  if ((slot->gpa | slot->size) & (VMM_PAGE_SIZE - 1))
    return vmm__error(VMM_EINVAL,
                      "region gpa 0x%llx / size 0x%llx not 4 KiB aligned",
                      (unsigned long long)slot->gpa,
                      (unsigned long long)slot->size);
  if (slot->gpa + slot->size < slot->gpa)
    return vmm__error(VMM_ERANGE, "region at 0x%llx wraps around",
                      (unsigned long long)slot->gpa);
  size_t i = lower_bound(map, slot->gpa);
  if (i < map->count && map->slots[i]->gpa < slot->gpa + slot->size) {
    const struct vmm__memslot *o = map->slots[i];
    return vmm__error(VMM_EOVERLAP,
                      "region [0x%llx, 0x%llx) overlaps [0x%llx, 0x%llx)",
                      (unsigned long long)slot->gpa,
                      (unsigned long long)(slot->gpa + slot->size),
                      (unsigned long long)o->gpa,
                      (unsigned long long)(o->gpa + o->size));
  }
  if (map->count == map->capacity) {
    size_t cap = map->capacity ? map->capacity * 2 : 8;
    struct vmm__memslot **n = realloc(map->slots, cap * sizeof(*n));
    if (!n)
      return vmm__error(VMM_ENOMEM, "out of memory for the region map");
    map->slots = n;
    map->capacity = cap;
  }
  memmove(&map->slots[i + 1], &map->slots[i],
          (map->count - i) * sizeof(*map->slots));
  map->slots[i] = slot;
  map->count++;
  return 0;
}

int vmm__memmap_remove(struct vmm__memmap *map, struct vmm__memslot *slot) {
  for (size_t i = 0; i < map->count; i++) {
    if (map->slots[i] == slot) {
      memmove(&map->slots[i], &map->slots[i + 1],
              (map->count - i - 1) * sizeof(*map->slots));
      map->count--;
      return 0;
    }
  }
  return vmm__error(VMM_ENOENT, "region not in the map");
}

struct vmm__memslot *vmm__memmap_find(const struct vmm__memmap *map,
                                      uint64_t gpa) {
  size_t i = lower_bound(map, gpa);
  if (i < map->count && map->slots[i]->gpa <= gpa)
    return map->slots[i];
  return NULL;
}

static void mark_dirty(struct vmm__memslot *s, uint64_t off, uint64_t len) {
  uint64_t first = off / VMM_PAGE_SIZE, last = (off + len - 1) / VMM_PAGE_SIZE;
  for (uint64_t p = first; p <= last; p++)
    /* Atomic: several threads may write guest memory under a read lock. */
    __atomic_fetch_or(&s->dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
}

int vmm__memmap_access(const struct vmm__memmap *map, uint64_t gpa,
                       void *buf, size_t len, bool is_write) {
  if (len == 0)
    return 0;
  if (gpa + len < gpa)
    return vmm__error(VMM_EFAULT, "range at 0x%llx + 0x%zx wraps around",
                      (unsigned long long)gpa, len);
  /* Pass 1: the whole range must be covered by adjacent regions. */
  uint64_t at = gpa, end = gpa + len;
  size_t i = lower_bound(map, gpa);
  while (at < end) {
    if (i >= map->count || map->slots[i]->gpa > at)
      return vmm__error(VMM_EFAULT,
                        "guest address 0x%llx (of [0x%llx, 0x%llx)) is not "
                        "guest memory",
                        (unsigned long long)at, (unsigned long long)gpa,
                        (unsigned long long)end);
    at = map->slots[i]->gpa + map->slots[i]->size;
    i++;
  }
  /* Pass 2: copy. */
  uint8_t *p = buf;
  at = gpa;
  i = lower_bound(map, gpa);
  while (at < end) {
    struct vmm__memslot *s = map->slots[i++];
    uint64_t off = at - s->gpa;
    uint64_t n = s->size - off;
    if (n > end - at)
      n = end - at;
    if (is_write) {
      memcpy(s->hva + off, p, n);
      if (s->dirty)
        mark_dirty(s, off, n);
    } else {
      memcpy(p, s->hva + off, n);
    }
    p += n;
    at += n;
  }
  return 0;
}

uint32_t vmm__memmap_free_slot(const struct vmm__memmap *map) {
  /* Regions are few; a quadratic scan is simpler than a free list. */
  for (uint32_t cand = 0;; cand++) {
    bool used = false;
    for (size_t i = 0; i < map->count && !used; i++)
      used = map->slots[i]->slot == cand;
    if (!used)
      return cand;
  }
}
