/* bindings/go/shim.h — the C side of the Go binding: trampolines that turn
 * libvmm callbacks into calls of exported Go functions, and accessors for
 * the parts of vmm_exit_t that cgo cannot name (members of an anonymous
 * union). Handlers are identified by a runtime/cgo.Handle carried in the
 * `opaque` pointer as an integer, never by a Go pointer. */
#ifndef GVMM_SHIM_H
#define GVMM_SHIM_H

#include <stdint.h>
#include <stdlib.h>

#include <libvmm/libvmm.h>

/* The binding is written against this major version of the C API: a
 * different one found by pkg-config stops the build here, before any
 * mismatched declaration is used. */
#define GVMM_API_MAJOR 0
#if !defined(VMM_VERSION_MAJOR) || VMM_VERSION_MAJOR != GVMM_API_MAJOR
#error "libvmm Go binding: pkg-config found a libvmm whose VMM_VERSION_MAJOR is not 0"
#endif

int gvmm_io_register(vmm_vm_t *vm, int space, uint64_t addr, uint64_t len,
                     uintptr_t handle);
int gvmm_hypercall_register(vmm_vm_t *vm, uint64_t nr, uintptr_t handle);
int gvmm_vm_on_exit(vmm_vm_t *vm, uintptr_t handle);
int gvmm_vm_on_exit_clear(vmm_vm_t *vm);

/* Flattened views of the exit union. */
typedef struct gvmm_io {
  uint16_t port;
  uint8_t size, is_write;
  uint32_t count;
  uint8_t *data;
} gvmm_io_t;
typedef struct gvmm_mmio {
  uint64_t gpa;
  uint32_t size, is_write;
  uint8_t *data;
} gvmm_mmio_t;
typedef struct gvmm_hypercall {
  uint64_t nr;
  uint64_t args[5];
  uint64_t ret;
} gvmm_hypercall_t;
typedef struct gvmm_debug {
  uint32_t exception;
  uint64_t rip, dr6, dr7;
} gvmm_debug_t;
typedef struct gvmm_internal {
  uint32_t kind, backend_code;
  uint64_t rip;
  uint8_t insn_len;
  uint8_t insn[15];
  uint8_t cpu_mode, code_bits, cpl;
} gvmm_internal_t;

void gvmm_exit_io(const vmm_exit_t *e, gvmm_io_t *out);
void gvmm_exit_mmio(const vmm_exit_t *e, gvmm_mmio_t *out);
void gvmm_exit_hypercall(const vmm_exit_t *e, gvmm_hypercall_t *out);
void gvmm_exit_set_hypercall_ret(vmm_exit_t *e, uint64_t ret);
void gvmm_exit_debug(const vmm_exit_t *e, gvmm_debug_t *out);
void gvmm_exit_internal(const vmm_exit_t *e, gvmm_internal_t *out);

#endif
