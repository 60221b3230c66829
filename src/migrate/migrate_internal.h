/* src/migrate/migrate_internal.h — options and stats shared by the two
 * sides of live migration (opts.c). */
#ifndef VMM__MIGRATE_INTERNAL_H
#define VMM__MIGRATE_INTERNAL_H

#include <libvmm/migrate.h>

struct vmm__mig_opts {
  uint32_t flags;
  uint32_t max_rounds;
  uint32_t max_downtime_ms;
  int timeout_ms;
  vmm_migrate_stats_t *stats;
};

/* Checks the caller's options (size, unknown flags) and fills in the
 * defaults; `fn` names the API call in messages. */
int vmm__mig_opts(const vmm_migrate_opts_t *in, struct vmm__mig_opts *out,
                  const char *fn);
/* Copies as much of `st` as the caller's struct holds. */
void vmm__mig_stats_out(vmm_migrate_stats_t *out,
                        const vmm_migrate_stats_t *st);

#endif
