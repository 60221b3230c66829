/* src/migrate/opts.c — the caller's migration options and stats structs,
 * read and written by size so that both can grow. */
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "migrate/migrate_internal.h"

#define KNOWN_FLAGS (VMM_MIGRATE_NO_START | VMM_MIGRATE_NO_RESUME)

int vmm__mig_opts(const vmm_migrate_opts_t *in, struct vmm__mig_opts *out,
                  const char *fn) {
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  if (in) {
    if (in->size < offsetof(vmm_migrate_opts_t, stats) + sizeof(void *))
      return vmm__error(VMM_EINVAL, "%s: opts.size %zu is too small", fn,
                        in->size);
    if (in->size > sizeof(o)) {
      /* A newer caller: fine when the fields we do not know are zero. */
      const unsigned char *extra = (const unsigned char *)in + sizeof(o);
      for (size_t i = 0; i < in->size - sizeof(o); i++)
        if (extra[i])
          return vmm__error(VMM_ENOTSUP, "%s: opts has fields this library "
                            "does not know", fn);
    }
    memcpy(&o, in, sizeof(o));
  }
  if (o.flags & ~KNOWN_FLAGS)
    return vmm__error(VMM_EINVAL, "%s: unknown flags 0x%x", fn,
                      o.flags & ~KNOWN_FLAGS);
  if (o.stats && o.stats->size < sizeof(size_t) + sizeof(uint64_t))
    return vmm__error(VMM_EINVAL, "%s: stats.size %zu is too small", fn,
                      o.stats->size);
  out->flags = o.flags;
  out->max_rounds = o.max_rounds ? o.max_rounds : 30;
  out->max_downtime_ms = o.max_downtime_ms ? o.max_downtime_ms : 30;
  out->timeout_ms = o.timeout_ms == 0 ? 30000 : o.timeout_ms < 0 ? -1
                                                                 : o.timeout_ms;
  out->stats = o.stats;
  return 0;
}

void vmm__mig_stats_out(vmm_migrate_stats_t *out,
                        const vmm_migrate_stats_t *st) {
  size_t n = out->size < sizeof(*st) ? out->size : sizeof(*st);
  size_t keep = out->size;
  memcpy(out, st, n);
  out->size = keep;
}
