/* src/sandbox_internal.h — entering the sandbox from libvmm's threads (run.c, loop.c). */
#ifndef VMM__SANDBOX_INTERNAL_H
#define VMM__SANDBOX_INTERNAL_H

#include <stdint.h>

/* Builds the filter for `flags` (VMM_SANDBOX_*) once per process; any
 * thread, before the threads that enter it start. */
int vmm__sandbox_prepare(uint32_t flags);
/* Applies the prepared filter to the calling thread (irreversible). */
int vmm__sandbox_enter(uint32_t flags);

struct vmm_vm;
/*
 * Runs `fn(arg)` where the sandbox does not reach, for work a filtered
 * thread is asked for by a trusted party — e.g. a control-socket command
 * that opens a socket or a file, or starts a thread (migrate, snapshot).
 * On the VM's sandboxed loop thread, `fn` runs on a libuv thread-pool
 * thread (not filtered, see docs/sandbox.md) while this thread waits;
 * elsewhere it runs right here. Returns fn's result, with its error
 * message carried over. Never for work a guest can trigger.
 */
int vmm__sandbox_call(struct vmm_vm *vm, int (*fn)(void *arg), void *arg);

#endif
