/* src/loop.h — the VM's event loop: fd polling, cross-thread calls, a thread pool. */
#ifndef VMM__LOOP_H
#define VMM__LOOP_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

/*
 * Each VM has one libuv loop: its own (run on a loop thread from
 * vmm_vm_start() until the VM is destroyed) or the embedder's
 * (vmm_vm_use_loop()). Device work that is not a vCPU's register access
 * runs there: eventfd doorbells, back-end I/O, completions. The loop is
 * created by the first device that needs it, before vmm_vm_start(); a VM
 * without such devices has no loop (vm->loop stays NULL).
 *
 * Threads: vmm__loop_call() may be called from any thread. The other
 * functions must be called before vmm_vm_start(), or on the loop thread.
 */

/* Runs `fn(opaque)` on the loop thread as soon as it can. */
int vmm__loop_call(vmm_vm_t *vm, void (*fn)(void *opaque), void *opaque);

/* Calls `cb(opaque)` on the loop thread whenever `fd` is readable. */
struct vmm__poll;
int vmm__loop_poll(vmm_vm_t *vm, int fd, void (*cb)(void *opaque),
                   void *opaque, struct vmm__poll **out);
/* Stops and frees a poll (loop thread, or before start). */
void vmm__loop_poll_close(struct vmm__poll *poll);

/*
 * Runs `work(opaque)` on a thread of the pool (blocking I/O goes there,
 * never on a vCPU thread), then `done(opaque)` on the loop thread.
 */
int vmm__loop_work(vmm_vm_t *vm, void (*work)(void *opaque),
                   void (*done)(void *opaque), void *opaque);

/* The VM's libuv loop (a uv_loop_t *), created on first use; NULL when
 * it cannot be (the error is set). Touch it only where the functions
 * above may be called. */
struct uv_loop_s *vmm__loop_uv(vmm_vm_t *vm);

/*
 * Runs `fn(opaque)` on the loop thread and waits until it returned. When
 * no other thread runs the loop (before vmm_vm_start(), after the loop
 * stopped, or called on the loop's thread) `fn` runs at once on this
 * thread. For API calls that set up or tear down loop handles; never call
 * it from a vCPU thread of a pausing VM or from `fn` itself.
 */
int vmm__loop_call_wait(vmm_vm_t *vm, void (*fn)(void *opaque), void *opaque);

/* True on the loop's own thread. */
bool vmm__loop_on_thread(vmm_vm_t *vm);

#endif
