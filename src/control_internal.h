/* src/control_internal.h — the control socket's parts: the server
 * (control.c) and the commands (control_cmd.c). */
#ifndef VMM__CONTROL_INTERNAL_H
#define VMM__CONTROL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

/* Limits of the protocol (docs/control-api.md). */
#define VMM__CONTROL_LINE_MAX VMM_CONTROL_REQUEST_MAX /* newline excluded */
#define VMM__CONTROL_OUT_MAX VMM_CONTROL_OUTPUT_MAX  /* unsent, per client */
#define VMM__CONTROL_CLIENTS_MAX VMM_CONTROL_CLIENTS_MAX

/* What the server counts; reported by "stats". Loop thread only. */
struct vmm__control_counters {
  uint64_t clients;       /* connected now */
  uint64_t accepted;      /* connections accepted in all */
  uint64_t refused;       /* turned away: too many clients */
  uint64_t dropped_slow;  /* dropped: their unread responses overflowed */
  uint64_t requests;      /* lines answered */
  uint64_t errors;        /* of them, answered with an error */
  uint64_t oversized;     /* lines longer than VMM__CONTROL_LINE_MAX */
};

/*
 * Carries out one request line (`len` bytes, no newline) on the loop
 * thread and returns the response line, malloc'ed and NUL-terminated,
 * without the newline; NULL only when out of memory. Counts the request
 * (and an error) in `counters`.
 */
char *vmm__control_request(vmm_vm_t *vm, struct vmm__control_counters *counters,
                           const char *line, size_t len);
/* The error response for a request that could not be read as a line
 * (`id` unknown): malloc'ed, NULL when out of memory. */
char *vmm__control_error_line(const char *message);

/* Closes the VM's control socket, if any (vmm_vm_destroy, once the loop
 * thread has stopped). */
void vmm__control_destroy(vmm_vm_t *vm);

#endif
