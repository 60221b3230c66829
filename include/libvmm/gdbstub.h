/* libvmm/gdbstub.h — a GDB remote-protocol server for a VM's guest. */
#ifndef LIBVMM_GDBSTUB_H
#define LIBVMM_GDBSTUB_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Listens for one gdb at `addr`: "tcp:HOST:PORT" (HOST an IPv4 address
 * such as 127.0.0.1) or "unix:PATH" (a socket file created here, removed
 * by vmm_gdbstub_stop()). The server runs on a thread of its own.
 *
 * From this call on the VM's vCPUs are held at their next instruction
 * (the first one for a VM not started yet) until gdb connects and
 * continues: start it before vmm_vm_start() to debug from the entry
 * point. Every vCPU is a gdb thread (thread id = vCPU id + 1); stops are
 * all-stop. Registers are x86-64's (a target description is sent);
 * memory addresses are guest-virtual, translated through the paging of
 * the selected vCPU. Breakpoints use the debug registers (four, shared by
 * hardware and software breakpoints) and then INT3 patches. When gdb
 * detaches or the connection drops, breakpoints are removed and the VM
 * runs on; another gdb may connect. Works on VMs run on libvmm's threads
 * (vmm_vm_start()). VMM_EBUSY if a stub already listens for this VM.
 */
VMM_EXPORT int vmm_gdbstub_start(vmm_vm_t *vm, const char *addr);
/* Closes the server and any connection, removes breakpoints and lets the
 * vCPUs run. 0 when no stub was listening. */
VMM_EXPORT int vmm_gdbstub_stop(vmm_vm_t *vm);

#ifdef __cplusplus
}
#endif
#endif
