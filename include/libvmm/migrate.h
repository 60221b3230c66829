/* libvmm/migrate.h — live migration of a VM over a two-way stream (a
 * connected unix or TCP socket): iterative pre-copy of guest memory with
 * the dirty page log, then a short stop-and-copy of the last dirty pages
 * and the vCPU, interrupt-controller and device state (docs/migration.md
 * has the protocol and the convergence rule). */
#ifndef LIBVMM_MIGRATE_H
#define LIBVMM_MIGRATE_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a migration did, filled by either side when the options point at
 * one (also when the migration failed, as far as it got). `size` =
 * sizeof(vmm_migrate_stats_t), set by the caller.
 */
typedef struct vmm_migrate_stats {
  size_t size;
  uint64_t total_ns;    /* from the call until the destination acknowledged */
  uint64_t downtime_ns; /* source: from pausing the VM until the destination
                           acknowledged (the guest ran nowhere meanwhile);
                           destination: from the last memory round until
                           the VM could run */
  uint32_t rounds;      /* pre-copy rounds, the first full copy included
                           (the stop-and-copy is not counted) */
  uint32_t reserved;
  uint64_t pages_sent;  /* 4 KiB pages sent (received), all rounds */
  uint64_t final_pages; /* of which in the stop-and-copy */
  uint64_t bytes;       /* bytes on the stream, both directions */
  uint64_t state_bytes; /* size of the vCPU/device state section */
} vmm_migrate_stats_t;

/* Options (flags). */
/* Destination: return the VM created and loaded but not started (the
 * caller starts it with vmm_vm_start()). */
#define VMM_MIGRATE_NO_START (1u << 0)
/* Source: leave the VM paused when the migration fails instead of
 * resuming it (it is resumed only when it was running before). */
#define VMM_MIGRATE_NO_RESUME (1u << 1)

/*
 * `size` must be sizeof(vmm_migrate_opts_t); zero fields take the defaults.
 * Start from VMM_MIGRATE_OPTS_INIT. NULL options mean all defaults.
 */
typedef struct vmm_migrate_opts {
  size_t size;
  uint32_t flags;           /* VMM_MIGRATE_* */
  uint32_t max_rounds;      /* pre-copy rounds at most (default 30) */
  uint32_t max_downtime_ms; /* stop and copy once the dirty pages left can
                               be sent in this time at the bandwidth seen
                               (default 30) */
  int32_t timeout_ms;       /* longest wait for the peer on one read or
                               write (default 30000; < 0: forever) */
  vmm_migrate_stats_t *stats; /* filled when not NULL */
} vmm_migrate_opts_t;

#define VMM_MIGRATE_OPTS_INIT {sizeof(vmm_migrate_opts_t), 0, 0, 0, 0, NULL}

/*
 * Sends a VM that runs on libvmm's threads (RUNNING or PAUSED) over the
 * connected stream `fd` (blocking or not; not closed). Every region that
 * is to be copied while the guest runs must have been mapped with
 * VMM_MEM_DIRTY_LOG; other regions are copied whole while the VM is
 * paused. The memory map must not change during the call.
 *
 * On success (0) the destination has the VM and said so; the VM here is
 * left PAUSED: the caller destroys it (or keeps it as a stale copy).
 * On failure (the destination refused, the stream broke, timed out, or
 * the state could not be saved) the VM runs again as it did before the
 * call (unless VMM_MIGRATE_NO_RESUME) and the error says what failed;
 * the destination's message is included when it sent one.
 * One migration of a VM at a time (VMM_EBUSY otherwise).
 */
VMM_EXPORT int vmm_vm_migrate_send(vmm_vm_t *vm, int fd,
                                   const vmm_migrate_opts_t *opts);

/*
 * Receives a VM from `fd`: builds it from the description the source
 * sent (without its payload and control socket: memory comes over the
 * stream; the caller opens its own control socket), writes the pages,
 * loads the state, acknowledges, and starts it (unless
 * VMM_MIGRATE_NO_START). Everything read is checked (versions, record
 * types, lengths, region indices and page ranges, checksums); a bad,
 * short or corrupt stream fails with a message saying what and where,
 * and leaves no VM behind (`*out` NULL).
 */
VMM_EXPORT int vmm_vm_migrate_recv(int fd, const vmm_migrate_opts_t *opts,
                                   vmm_vm_t **out);

#ifdef __cplusplus
}
#endif
#endif
