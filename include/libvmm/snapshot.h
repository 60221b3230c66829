/* libvmm/snapshot.h — saving a whole VM to a directory and restoring it,
 * in this process or another (docs/snapshot.md). */
#ifndef LIBVMM_SNAPSHOT_H
#define LIBVMM_SNAPSHOT_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes a snapshot of `vm` into directory `dir`: the state of every vCPU,
 * the interrupt controllers, timers and clock, and every device
 * (state.bin), guest memory with one file per region (mem-N.bin, sparse
 * where the guest's pages are zero), and manifest.json with the format
 * version, the library version, the CPU template, the VM's description
 * (vmm_vm_describe_json()) and a CRC-32C per file.
 *
 * A RUNNING VM is paused at a safe point for the time it takes and
 * resumed afterwards; a PAUSED one stays paused; a CREATED one (vCPUs run
 * by the caller, none inside vmm_vcpu_run()) is saved as it is. Block
 * requests under way are waited for first.
 *
 * Everything is written into a new directory beside `dir`, synced, and
 * renamed into place at the end (atomically exchanged with an existing
 * snapshot at `dir`, which is then removed): a crash or kill in the middle
 * leaves the previous snapshot at `dir` as it was (and a ".NAME.tmp-*"
 * directory to delete). An existing `dir` that is not a snapshot
 * (no manifest.json) is refused with VMM_EEXIST. VMM_EBUSY when a vCPU is
 * inside vmm_vcpu_run() on a caller's thread; VMM_ESTATE for a STOPPED VM.
 */
VMM_EXPORT int vmm_vm_snapshot(vmm_vm_t *vm, const char *dir);

/* Restore options; start from VMM_RESTORE_OPTS_INIT. */
typedef struct vmm_restore_opts {
  size_t size;     /* sizeof(vmm_restore_opts_t) as the caller knows it */
  uint32_t flags;  /* VMM_RESTORE_F_* */
  uint32_t reserved;
} vmm_restore_opts_t;
#define VMM_RESTORE_OPTS_INIT {sizeof(vmm_restore_opts_t), 0, 0}

/* Leave the restored VM CREATED (state loaded, not running): start it
 * with vmm_vm_start() after adding what the description cannot hold. */
#define VMM_RESTORE_F_NO_START (1u << 0)
/* Read every memory file once and check its CRC-32C (restore otherwise
 * maps memory without reading it, checking sizes only). */
#define VMM_RESTORE_F_VERIFY (1u << 1)

/*
 * Recreates the VM of snapshot `dir` from the description in its manifest
 * (memory regions, vCPUs and CPU template, devices with their back-ends;
 * not the payload, which memory holds, nor the control socket), loads its
 * state and, unless VMM_RESTORE_F_NO_START, starts it on libvmm's threads:
 * the guest continues at the instruction where it was saved. Guest memory
 * is mapped copy-on-write (MAP_PRIVATE) from the memory files: nothing is
 * read up front, and the guest's writes never reach the files. `opts` may
 * be NULL. Files the description names (disk images, sockets) must be
 * where they were.
 *
 * Refused with a message saying what: a missing or truncated file, a size
 * or CRC-32C that disagrees with the manifest (VMM_EINVAL), another
 * snapshot format or state version (VMM_EVERSION), a VM description this
 * libvmm cannot build. `*out` is NULL on failure and nothing is left.
 */
VMM_EXPORT int vmm_vm_restore(const char *dir, const vmm_restore_opts_t *opts,
                              vmm_vm_t **out);

/*
 * Restores snapshot `dir` into `vm`, a VM the caller built the same way
 * as the saved one (same backend and flags, memory regions at the same
 * addresses and sizes, the same vCPU ids, the same devices in the same
 * order with the same ids) and has not started: for VMs with handlers
 * registered through the API (port, MMIO, hypercall, exit callbacks),
 * which a description cannot recreate. Memory the library allocated is
 * mapped copy-on-write from the files; memory the caller provided
 * (vmm_mem_map() with an hva) is read into. The VM stays CREATED: start it
 * with vmm_vm_start() or run its vCPUs. `flags`: VMM_RESTORE_F_VERIFY.
 * After a failure the VM may hold part of the state: destroy it.
 */
VMM_EXPORT int vmm_vm_restore_into(vmm_vm_t *vm, const char *dir,
                                   uint32_t flags);

#ifdef __cplusplus
}
#endif
#endif
