/* src/loop_internal.h — starting and ending a VM's loop (run.c, vm.c). */
#ifndef VMM__LOOP_INTERNAL_H
#define VMM__LOOP_INTERNAL_H

#include <libvmm/libvmm.h>

/* Starts the loop thread (libvmm's own loop); nothing for an embedder's. */
int vmm__loop_start(vmm_vm_t *vm);
/* Ends the loop thread and finishes pending calls and work on this thread
 * (VMM_EBUSY with an embedder's loop that still has work in flight). */
int vmm__loop_stop(vmm_vm_t *vm);
/* Closes the loop after the devices released their handles. */
void vmm__loop_destroy(vmm_vm_t *vm);

#endif
