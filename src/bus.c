/* src/bus.c — sorted address-range maps that route PIO/MMIO to handlers. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "error.h"

void vmm__bus_init(struct vmm__bus *bus, const char *name, uint64_t limit) {
  memset(bus, 0, sizeof(*bus));
  atomic_init(&bus->generation, 1);
  bus->name = name;
  bus->limit = limit;
}

void vmm__bus_fini(struct vmm__bus *bus) {
  free(bus->ranges);
  bus->ranges = NULL;
  bus->count = bus->capacity = 0;
}

/* Index of the first range whose end is above `addr`. */
static size_t lower_bound(const struct vmm__bus *bus, uint64_t addr) {
  size_t lo = 0, hi = bus->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bus->ranges[mid].base + bus->ranges[mid].len <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int vmm__bus_add(struct vmm__bus *bus, uint64_t base, uint64_t len,
                 vmm_io_fn fn, void *opaque) {
  if (!fn)
    return vmm__error(VMM_EINVAL, "%s handler is NULL", bus->name);
  if (len == 0)
    return vmm__error(VMM_EINVAL, "%s range at 0x%llx has length 0",
                      bus->name, (unsigned long long)base);
  if (base + len < base || (bus->limit && base + len > bus->limit))
    return vmm__error(VMM_ERANGE, "%s range [0x%llx, +0x%llx) is outside "
                      "the address space", bus->name,
                      (unsigned long long)base, (unsigned long long)len);
  size_t i = lower_bound(bus, base);
  if (i < bus->count && bus->ranges[i].base < base + len)
    return vmm__error(VMM_EOVERLAP,
                      "%s range [0x%llx, 0x%llx) overlaps [0x%llx, 0x%llx)",
                      bus->name, (unsigned long long)base,
                      (unsigned long long)(base + len),
                      (unsigned long long)bus->ranges[i].base,
                      (unsigned long long)(bus->ranges[i].base +
                                           bus->ranges[i].len));
  if (bus->count == bus->capacity) {
    size_t cap = bus->capacity ? bus->capacity * 2 : 8;
    struct vmm__bus_range *n = realloc(bus->ranges, cap * sizeof(*n));
    if (!n)
      return vmm__error(VMM_ENOMEM, "out of memory for the %s map",
                        bus->name);
    bus->ranges = n;
    bus->capacity = cap;
  }
  memmove(&bus->ranges[i + 1], &bus->ranges[i],
          (bus->count - i) * sizeof(*bus->ranges));
  bus->ranges[i] = (struct vmm__bus_range){base, len, fn, opaque,
                                           &bus->unowned};
  bus->count++;
  atomic_fetch_add(&bus->generation, 1);
  return 0;
}

int vmm__bus_remove(struct vmm__bus *bus, uint64_t base) {
  size_t i = lower_bound(bus, base);
  if (i >= bus->count || bus->ranges[i].base != base)
    return vmm__error(VMM_ENOENT, "no %s registration starts at 0x%llx",
                      bus->name, (unsigned long long)base);
  memmove(&bus->ranges[i], &bus->ranges[i + 1],
          (bus->count - i - 1) * sizeof(*bus->ranges));
  bus->count--;
  atomic_fetch_add(&bus->generation, 1);
  return 0;
}

void vmm__bus_attribute(struct vmm__bus *bus, const void *opaque,
                        uint64_t *counter) {
  bool changed = false;
  for (size_t i = 0; i < bus->count; i++) {
    if (bus->ranges[i].opaque == opaque && bus->ranges[i].hits != counter) {
      bus->ranges[i].hits = counter;
      changed = true;
    }
  }
  /* vCPUs cache ranges (with their counter): make them look again. */
  if (changed)
    atomic_fetch_add(&bus->generation, 1);
}

const struct vmm__bus_range *vmm__bus_find(const struct vmm__bus *bus,
                                           uint64_t addr) {
  size_t i = lower_bound(bus, addr);
  if (i < bus->count && bus->ranges[i].base <= addr)
    return &bus->ranges[i];
  return NULL;
}
