/* libvmm/control.h — the VM control socket: describe, pause, resume, stop
 * and stats over a unix socket (protocol: docs/control-api.md). */
#ifndef LIBVMM_CONTROL_H
#define LIBVMM_CONTROL_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Serves the control protocol on a unix stream socket bound at `path`
 * (created with mode 0600, never wider; VMM_EEXIST if something exists
 * there). Requests and responses are newline-delimited JSON:
 *
 *   {"id":1,"cmd":"pause"}           → {"id":1,"ok":true,"result":{...}}
 *   {"id":2,"cmd":"nonsense"}        → {"id":2,"ok":false,"error":"..."}
 *
 * Commands: describe, pause, resume, stop (optional "status"), stats,
 * migrate ("path": the destination's unix socket; runs in the background,
 * see docs/migration.md) and snapshot ("dir": vmm_vm_snapshot() there,
 * see docs/snapshot.md).
 * Clients are served on the VM's libuv loop (its loop thread, or the
 * embedder's loop, see <libvmm/uv.h>), so requests are carried out one at a time; state
 * changes go through vmm_vm_pause() / vmm_vm_resume() / vmm_vm_stop().
 *
 * May be called before or after vmm_vm_start(), from any thread (with an
 * embedder's loop: from the loop's thread). One socket per VM
 * (VMM_EBUSY for a second one while the first is open).
 */
VMM_EXPORT int vmm_vm_control_listen(vmm_vm_t *vm, const char *path);

/* Protocol limits: a request line longer than VMM_CONTROL_REQUEST_MAX
 * bytes (newline excluded) is answered with an error and skipped; a
 * client past VMM_CONTROL_CLIENTS_MAX connected ones is told and closed;
 * one whose unread responses pass VMM_CONTROL_OUTPUT_MAX bytes is closed. */
#define VMM_CONTROL_REQUEST_MAX (64u * 1024)
#define VMM_CONTROL_CLIENTS_MAX 64
#define VMM_CONTROL_OUTPUT_MAX (1024u * 1024)
/*
 * Closes the socket and every client connection and removes the socket
 * file. 0 when there was none. vmm_vm_destroy() does this itself.
 */
VMM_EXPORT int vmm_vm_control_close(vmm_vm_t *vm);

#ifdef __cplusplus
}
#endif
#endif
