/* libvmm/sandbox.h — a seccomp allow-list for the threads that run guests. */
#ifndef LIBVMM_SANDBOX_H
#define LIBVMM_SANDBOX_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The sandbox limits the system calls of the threads that handle guest
 * exits and device work (the threads a hostile guest can reach) to those
 * they need once the VM is set up: KVM ioctls, reads and writes on
 * descriptors that are already open, eventfd and epoll, futex, memory
 * allocation without PROT_EXEC, signals to the own process, clocks,
 * thread exit. Opening files, creating sockets, connecting, executing,
 * forking, creating threads, ptrace and the like are refused. docs/sandbox.md
 * has the whole list and the reasons.
 *
 * A refused call fails with EPERM (the back-end that made it reports an
 * ordinary I/O error and the VM carries on), or, with VMM_SANDBOX_KILL,
 * kills the whole process (SIGSYS) at once.
 *
 * The filter is per thread (seccomp without TSYNC): the embedder's own
 * threads and the libuv thread pool (process-wide, started before the
 * filter) are not affected. It cannot be lifted from a thread once set.
 * Available when libvmm was built with libseccomp (vmm_sandbox_available()).
 */
#define VMM_SANDBOX_ON (1u << 0)   /* filter libvmm's vCPU and loop threads */
#define VMM_SANDBOX_KILL (1u << 1) /* a refused call kills the process */

/* 0 when this libvmm can sandbox threads (built with libseccomp, a kernel
 * with seccomp filters); VMM_ENOTSUP otherwise, with the reason. */
VMM_EXPORT int vmm_sandbox_available(void);

/*
 * Sandboxes the VM's vCPU threads and its loop thread that vmm_vm_start()
 * starts: each applies the filter to itself before it runs guest code or
 * loop work. `flags` 0 turns it off again. Call before vmm_vm_start()
 * (VMM_ESTATE after); VMM_ENOTSUP when unavailable; VMM_EINVAL for
 * unknown flags. Not applied to a loop the embedder runs
 * (vmm_vm_use_loop()): call vmm_sandbox_apply_current_thread() there.
 */
VMM_EXPORT int vmm_vm_set_sandbox(vmm_vm_t *vm, uint32_t flags);
VMM_EXPORT uint32_t vmm_vm_get_sandbox(const vmm_vm_t *vm);

/*
 * Applies the filter to the calling thread, for programs that run vCPUs
 * (vmm_vcpu_run()) or the VM's loop on threads of their own. Call it
 * after the VM and its devices are set up and, for a loop, after the
 * libuv thread pool exists (libvmm queues a no-op work item first on its
 * own loop thread for that reason). Irreversible for the thread. `flags`
 * must include VMM_SANDBOX_ON.
 */
VMM_EXPORT int vmm_sandbox_apply_current_thread(uint32_t flags);

#ifdef __cplusplus
}
#endif
#endif
