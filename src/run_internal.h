/* src/run_internal.h — the VM's run state, for vm.c and vcpu.c. */
#ifndef VMM__RUN_INTERNAL_H
#define VMM__RUN_INTERNAL_H

#include <libvmm/libvmm.h>

int vmm__run_init(vmm_vm_t *vm);
void vmm__run_fini(vmm_vm_t *vm);
/* Stops libvmm's vCPU threads of a started VM and joins them. */
int vmm__run_shutdown(vmm_vm_t *vm);

#endif
