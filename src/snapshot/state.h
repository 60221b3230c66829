/* src/snapshot/state.h — everything of a VM but its memory, as one
 * versioned, self-describing, checksummed byte blob (snapshots and live
 * migration are built on it). */
#ifndef VMM__SNAPSHOT_STATE_H
#define VMM__SNAPSHOT_STATE_H

#include <stddef.h>

#include <libvmm/libvmm.h>

/* The blob's format version; a blob of another version is refused with
 * VMM_EVERSION. */
#define VMM__STATE_VERSION 1u

/*
 * Saves the state of a VM whose vCPUs are out of the guest: one created
 * and not started, or PAUSED (vmm_vm_pause()). What it holds: every vCPU
 * (general, segment, control and debug registers, the MSRs the backend
 * lists, FPU/XSAVE, local APIC, pending events, MP state, CPUID), the
 * backend's interrupt controllers, PIT and clock, and each device's state
 * (virtio queues with their indices, transport registers). Block requests
 * on the thread pool are waited for first. The instruction of a port or
 * MMIO read that was answered but not yet finished is finished first (see
 * vcpu_complete in backend_ops.h). `*blob` is malloc'd; free() it.
 * VMM_EBUSY when a vCPU is inside vmm_vcpu_run() on a caller's thread or
 * waits for a hypercall answer its caller has not given yet.
 */
int vmm__vm_state_save(vmm_vm_t *vm, void **blob, size_t *len);

/*
 * Loads a blob into a VM built with the same configuration (backend,
 * flags, the same vCPU ids, the same devices in the same order
 * with the same ids) whose guest memory already holds the saved contents,
 * and which is CREATED (not started) or PAUSED. Every field is checked:
 * a truncated, corrupted (checksum) or foreign blob is refused with
 * VMM_EINVAL, another format version with VMM_EVERSION, a VM that does
 * not match with VMM_EINVAL, each with a message saying what. After a
 * failure part of the state may have been loaded: destroy the VM.
 */
int vmm__vm_state_load(vmm_vm_t *vm, const void *blob, size_t len);

#endif
