/* src/bus.h — address-range → handler maps for the PIO and MMIO spaces. */
#ifndef VMM__BUS_H
#define VMM__BUS_H

#include <libvmm/io.h>

struct vmm__bus_range {
  uint64_t base, len;
  vmm_io_fn fn;
  void *opaque;
  /* Where accesses are counted: the owning device's counter, or the
   * bus's `unowned` one (never NULL once added). */
  uint64_t *hits;
};

/* Sorted by base, never overlapping. Not locked: the caller locks. */
struct vmm__bus {
  struct vmm__bus_range *ranges;
  size_t count, capacity;
  uint64_t limit; /* addresses must be below this (0x10000 for PIO) */
  const char *name;
  /* Bumped by every add/remove, so vCPUs can cache lookups locklessly. */
  _Atomic uint64_t generation;
  /* Accesses to ranges no device owns (vmm_io_register() by a program). */
  uint64_t unowned;
};

void vmm__bus_init(struct vmm__bus *bus, const char *name, uint64_t limit);
void vmm__bus_fini(struct vmm__bus *bus);
int vmm__bus_add(struct vmm__bus *bus, uint64_t base, uint64_t len,
                 vmm_io_fn fn, void *opaque);
int vmm__bus_remove(struct vmm__bus *bus, uint64_t base);
/* Counts accesses to the ranges whose opaque is `opaque` in `counter`
 * (a device's; see vmm__device_add). The caller locks. */
void vmm__bus_attribute(struct vmm__bus *bus, const void *opaque,
                        uint64_t *counter);
/* The range that contains `addr`, or NULL. */
const struct vmm__bus_range *vmm__bus_find(const struct vmm__bus *bus,
                                           uint64_t addr);

#endif
