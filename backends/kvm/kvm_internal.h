/* backends/kvm/kvm_internal.h — state shared by the KVM backend's files. */
#ifndef VMM__KVM_INTERNAL_H
#define VMM__KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "backend_ops.h"

struct kvm_vm {
  int fd;
  vmm_vm_t *vm;
  /* GSI routing (kvm.c): the irqchip defaults plus MSI routes, all of it
   * handed to KVM_SET_GSI_ROUTING at each change. */
  pthread_mutex_t routes_lock;
  struct kvm_irq_routing_entry *routes;
  uint32_t n_routes, routes_cap;
  bool irqchip; /* KVM_CREATE_IRQCHIP and the PIT were made */
};

struct kvm_vcpu {
  int fd;
  uint32_t id;
  struct kvm_vm *kvm;
  struct kvm_run *run;
  size_t run_size;
  struct kvm_cpuid2 *cpuid; /* what the guest sees, as last set */
  /* Segment registers as last read or written; valid until KVM_RUN. */
  struct kvm_sregs sregs;
  bool sregs_valid;
};

/* The process-wide /dev/kvm descriptor (opened once, kept open). */
int vmm__kvm_sys_fd(void);
/* Size of the kvm_run mapping (asked once), or -1. */
int vmm__kvm_run_size(void);
/* Bytes of a KVM_GET_XSAVE(2) buffer, or 0 without XSAVE support. */
size_t vmm__kvm_xsave_size(void);
/* The host-supported CPUID table, fetched once; do not free. */
int vmm__kvm_supported_cpuid(const struct kvm_cpuid2 **out);

/* Copies a KVM CPUID table into the API's form (VMM_E2BIG if it does
 * not fit; *count is always the full size). */
int vmm__kvm_cpuid_export(const struct kvm_cpuid2 *c,
                          vmm_cpuid_entry_t *entries, size_t capacity,
                          size_t *count);

/* Retries an ioctl interrupted by an unrelated signal where that is safe. */
int vmm__kvm_ioctl(int fd, unsigned long req, void *arg);

int vmm__kvm_vcpu_create(void *bvm, uint32_t id, void **bvcpu);
void vmm__kvm_vcpu_destroy(void *bvcpu);
int vmm__kvm_vcpu_run(void *bvcpu, vmm_exit_t *exit);
void vmm__kvm_vcpu_kick_set(void *bvcpu, int on);
int vmm__kvm_get_regs(void *bvcpu, vmm_regs_t *regs);
int vmm__kvm_set_regs(void *bvcpu, const vmm_regs_t *regs);
int vmm__kvm_get_sregs(void *bvcpu, vmm_sregs_t *sregs);
int vmm__kvm_set_sregs(void *bvcpu, const vmm_sregs_t *sregs);
int vmm__kvm_get_fpu(void *bvcpu, vmm_fpu_t *fpu);
int vmm__kvm_set_fpu(void *bvcpu, const vmm_fpu_t *fpu);
int vmm__kvm_get_msrs(void *bvcpu, vmm_msr_entry_t *entries, size_t count);
int vmm__kvm_set_msrs(void *bvcpu, const vmm_msr_entry_t *entries,
                      size_t count);
int vmm__kvm_get_cpuid(void *bvcpu, vmm_cpuid_entry_t *entries,
                       size_t capacity, size_t *count);
int vmm__kvm_set_cpuid(void *bvcpu, const vmm_cpuid_entry_t *entries,
                       size_t count);
int vmm__kvm_set_debug(void *bvcpu, uint32_t flags, const uint64_t *dr);
int vmm__kvm_get_mp_state(void *bvcpu, uint32_t *state);
int vmm__kvm_inject_event(void *bvcpu, uint8_t vector, int kind,
                          int has_error, uint32_t error_code);
int vmm__kvm_translate(void *bvcpu, uint64_t gva, uint64_t *gpa,
                       bool *valid);
/* Saved state (kvm_state.c). */
int vmm__kvm_vm_state_save(void *bvm, struct vmm__sw *w);
int vmm__kvm_vm_state_load(void *bvm, struct vmm__sr *r);
int vmm__kvm_vcpu_state_save(void *bvcpu, struct vmm__sw *w);
int vmm__kvm_vcpu_state_load(void *bvcpu, struct vmm__sr *r);
int vmm__kvm_vcpu_complete(void *bvcpu);

#endif
