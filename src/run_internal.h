/* src/run_internal.h — the VM's run state, for vm.c and vcpu.c. */
#ifndef VMM__RUN_INTERNAL_H
#define VMM__RUN_INTERNAL_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

int vmm__run_init(vmm_vm_t *vm);
void vmm__run_fini(vmm_vm_t *vm);
/* Stops libvmm's vCPU threads of a started VM and joins them. */
int vmm__run_shutdown(vmm_vm_t *vm);

/* The gdb stub's hold: true parks every vCPU thread but vCPU `only`
 * (UINT32_MAX: none) at its next turn, kicking them; false lets them go.
 * debug_wait waits until all started threads are parked or finished (or
 * a stop was requested); false on timeout. */
void vmm__run_debug_hold(vmm_vm_t *vm, bool hold, uint32_t only);
bool vmm__run_debug_wait(vmm_vm_t *vm, int timeout_ms);
/* True once the VM reached VMM_VM_STOPPED; its stop record. */
bool vmm__run_all_exited(vmm_vm_t *vm);
void vmm__run_stop_info(vmm_vm_t *vm, vmm_vm_stop_info_t *info);

#endif
