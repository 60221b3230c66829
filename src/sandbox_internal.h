/* src/sandbox_internal.h — entering the sandbox from libvmm's threads (run.c, loop.c). */
#ifndef VMM__SANDBOX_INTERNAL_H
#define VMM__SANDBOX_INTERNAL_H

#include <stdint.h>

/* Builds the filter for `flags` (VMM_SANDBOX_*) once per process; any
 * thread, before the threads that enter it start. */
int vmm__sandbox_prepare(uint32_t flags);
/* Applies the prepared filter to the calling thread (irreversible). */
int vmm__sandbox_enter(uint32_t flags);

#endif
