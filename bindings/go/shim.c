/* bindings/go/shim.c — see shim.h. */
#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

/* The opaque pointer carries a cgo.Handle (an integer); it is turned back
 * into an integer before Go sees it, so no Go pointer ever crosses. */
static int io_trampoline(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                         uint32_t size, int is_write, void *opaque) {
  return gvmmIOCall(vcpu, addr, data, size, is_write, (uintptr_t)opaque);
}

static int hypercall_trampoline(vmm_vcpu_t *vcpu, uint64_t nr,
                                const uint64_t args[5], uint64_t *ret,
                                void *opaque) {
  return gvmmHypercallCall(vcpu, nr, (uint64_t *)args, ret,
                           (uintptr_t)opaque);
}

static int exit_trampoline(vmm_vcpu_t *vcpu, vmm_exit_t *exit, void *opaque) {
  return gvmmExitCall(vcpu, exit, (uintptr_t)opaque);
}

int gvmm_io_register(vmm_vm_t *vm, int space, uint64_t addr, uint64_t len,
                     uintptr_t handle) {
  return vmm_io_register(vm, (vmm_io_space_t)space, addr, len, io_trampoline,
                         (void *)handle);
}

int gvmm_hypercall_register(vmm_vm_t *vm, uint64_t nr, uintptr_t handle) {
  return vmm_hypercall_register(vm, nr, hypercall_trampoline,
                                (void *)handle);
}

int gvmm_vm_on_exit(vmm_vm_t *vm, uintptr_t handle) {
  return vmm_vm_on_exit(vm, exit_trampoline, (void *)handle);
}

int gvmm_vm_on_exit_clear(vmm_vm_t *vm) {
  return vmm_vm_on_exit(vm, NULL, NULL);
}

void gvmm_exit_io(const vmm_exit_t *e, gvmm_io_t *out) {
  out->port = e->u.io.port;
  out->size = e->u.io.size;
  out->is_write = e->u.io.is_write;
  out->count = e->u.io.count;
  out->data = e->u.io.data;
}

void gvmm_exit_mmio(const vmm_exit_t *e, gvmm_mmio_t *out) {
  out->gpa = e->u.mmio.gpa;
  out->size = e->u.mmio.size;
  out->is_write = e->u.mmio.is_write;
  out->data = e->u.mmio.data;
}

void gvmm_exit_hypercall(const vmm_exit_t *e, gvmm_hypercall_t *out) {
  out->nr = e->u.hypercall.nr;
  memcpy(out->args, e->u.hypercall.args, sizeof(out->args));
  out->ret = e->u.hypercall.ret;
}

void gvmm_exit_set_hypercall_ret(vmm_exit_t *e, uint64_t ret) {
  e->u.hypercall.ret = ret;
}

void gvmm_exit_debug(const vmm_exit_t *e, gvmm_debug_t *out) {
  out->exception = e->u.debug.exception;
  out->rip = e->u.debug.rip;
  out->dr6 = e->u.debug.dr6;
  out->dr7 = e->u.debug.dr7;
}

void gvmm_exit_internal(const vmm_exit_t *e, gvmm_internal_t *out) {
  out->kind = e->u.internal.kind;
  out->backend_code = e->u.internal.backend_code;
  out->rip = e->u.internal.rip;
  out->insn_len = e->u.internal.insn_len;
  memcpy(out->insn, e->u.internal.insn, sizeof(out->insn));
  out->cpu_mode = e->u.internal.cpu_mode;
  out->code_bits = e->u.internal.code_bits;
  out->cpl = e->u.internal.cpl;
}
