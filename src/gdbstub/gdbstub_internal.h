/* src/gdbstub/gdbstub_internal.h — the gdb stub's hooks in the run loop. */
#ifndef VMM__GDBSTUB_INTERNAL_H
#define VMM__GDBSTUB_INTERNAL_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

/* vCPU thread, after a VMM_EXIT_DEBUG: true when the stub took it as its
 * stop event (the thread then parks at its next turn). */
bool vmm__gdbstub_debug_exit(vmm_vcpu_t *vcpu, vmm_exit_t *exit);
/* vCPU thread, on an emulation failure: true when the instruction is an
 * INT3 the stub planted; the exit is then rewritten as VMM_EXIT_DEBUG
 * (exception 3) at that address. */
bool vmm__gdbstub_int3(vmm_vcpu_t *vcpu, vmm_exit_t *exit);
/* The last vCPU thread ended: tell gdb. */
void vmm__gdbstub_vm_stopped(vmm_vm_t *vm);
/* vmm_vm_destroy(): stops the stub and frees it. */
void vmm__gdbstub_destroy(vmm_vm_t *vm);

#endif
