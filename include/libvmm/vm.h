/* libvmm/vm.h — creating and destroying virtual machines. */
#ifndef LIBVMM_VM_H
#define LIBVMM_VM_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * VM creation parameters. `size` must be sizeof(vmm_vm_config_t) as the
 * caller was compiled: fields added in later versions go at the end, and a
 * library older than the caller accepts a larger struct only when the
 * fields it does not know are zero. Start from VMM_VM_CONFIG_INIT.
 */
typedef struct vmm_vm_config {
  size_t size;
  const char *backend;    /* "kvm", ... or NULL / "auto" for the first usable */
  uint32_t max_vcpus;     /* 0: the default (64); at most VMM_MAX_VCPUS */
  uint32_t flags;         /* VMM_VM_F_*, 0 for now */
  uint16_t hypercall_port; /* 0: VMM_HYPERCALL_PORT_DEFAULT; see io.h */
  uint16_t reserved16;
  uint32_t reserved32;
} vmm_vm_config_t;

#define VMM_MAX_VCPUS 256
#define VMM_VM_CONFIG_INIT {sizeof(vmm_vm_config_t), "auto", 0, 0, 0, 0, 0}

/* `config` NULL means VMM_VM_CONFIG_INIT. VMM_ERANGE for max_vcpus above
 * VMM_MAX_VCPUS, VMM_ENODEV / VMM_EACCES when the backend is unusable. */
VMM_EXPORT int vmm_vm_create(const vmm_vm_config_t *config, vmm_vm_t **out);
/*
 * Destroys the VM with its vCPUs, memory regions and handlers. NULL is
 * accepted (returns 0); a handle that is not a live VM returns VMM_EBADF.
 * Fails with VMM_EBUSY while one of its vCPUs is inside vmm_vcpu_run()
 * (kick it and let the run return first).
 */
VMM_EXPORT int vmm_vm_destroy(vmm_vm_t *vm);
/* Name of the backend the VM runs on ("kvm"). */
VMM_EXPORT const char *vmm_vm_backend(const vmm_vm_t *vm);
/* Capability bits (VMM_CAP_*) of this VM's backend. */
VMM_EXPORT int vmm_vm_caps(const vmm_vm_t *vm, uint64_t *caps);
/* Attach / read a caller pointer. */
VMM_EXPORT void vmm_vm_set_userdata(vmm_vm_t *vm, void *userdata);
VMM_EXPORT void *vmm_vm_get_userdata(const vmm_vm_t *vm);

#ifdef __cplusplus
}
#endif
#endif
