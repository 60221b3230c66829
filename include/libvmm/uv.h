/* libvmm/uv.h — running a VM's device work on the embedder's libuv loop. */
#ifndef LIBVMM_UV_H
#define LIBVMM_UV_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libuv's loop type (uv_loop_t is a typedef of it). Declared, not
 * included, so that this header needs no libuv headers to compile. */
struct uv_loop_s;

/*
 * Makes the VM use `loop` (a uv_loop_t * that the program runs) instead of
 * a loop thread of its own. Call it on the loop's thread, before creating
 * devices; the loop must keep running until vmm_vm_destroy() has returned,
 * and vmm_vm_destroy() is then called on the loop's thread. VMM_ESTATE
 * once the VM has a loop (a device created one) or was started. Many VMs
 * may share one loop (examples/fleet, docs/fleet.md).
 */
VMM_EXPORT int vmm_vm_use_loop(vmm_vm_t *vm, struct uv_loop_s *loop);

#ifdef __cplusplus
}
#endif
#endif
