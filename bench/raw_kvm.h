/* bench/raw_kvm.h — the baseline: a minimal VMM written straight on /dev/kvm. */
#ifndef VMM_BENCH_RAW_KVM_H
#define VMM_BENCH_RAW_KVM_H

#include <linux/kvm.h>
#include <stddef.h>

#include <libvmm/x86.h>

/* Per process: the /dev/kvm descriptor, the size of a vCPU's run area and
 * the host-supported CPUID table (none of them changes while /dev/kvm is
 * open, so a VMM asks once). */
struct raw_kvm {
  int fd;
  size_t run_size;
  struct kvm_cpuid2 *cpuid;
};

/* One VM with one memory slot and one vCPU. */
struct raw_vm {
  int fd;
  void *mem;
  size_t mem_size;
  int vcpu_fd;
  struct kvm_run *run;
  size_t run_size;
  struct kvm_sregs sregs; /* as last read by raw_get_sregs() */
};

/*
 * Every call returns 0, or -1 after printing what failed to stderr.
 * raw_kvm_open: open /dev/kvm, check the API version, read the run size,
 * fetch KVM_GET_SUPPORTED_CPUID.
 */
int raw_kvm_open(struct raw_kvm *kvm);
void raw_kvm_close(struct raw_kvm *kvm);
/*
 * What a minimal correct VMM does to get a runnable vCPU, in three steps:
 * raw_vm_create: KVM_CREATE_VM and KVM_SET_TSS_ADDR (VMX needs it to run
 *   real mode on CPUs without unrestricted guest);
 * raw_mem_map: mmap `mem_size` bytes of anonymous memory and install them
 *   as slot 0 at gpa 0 (KVM_SET_USER_MEMORY_REGION);
 * raw_vcpu_create: KVM_CREATE_VCPU 0, mmap its run area, give it the
 *   host's supported CPUID (KVM_SET_CPUID2 with the table raw_kvm_open()
 *   fetched).
 * raw_vm_setup does all three. On failure each undoes everything.
 */
int raw_vm_create(struct raw_kvm *kvm, struct raw_vm *vm);
int raw_mem_map(struct raw_vm *vm, size_t mem_size);
int raw_vcpu_create(struct raw_kvm *kvm, struct raw_vm *vm);
int raw_vm_setup(struct raw_kvm *kvm, size_t mem_size, struct raw_vm *vm);
/* Unmaps and closes everything raw_vm_create() made. */
void raw_vm_destroy(struct raw_vm *vm);

/* Register access in libvmm's neutral layout, via KVM_GET/SET_(S)REGS.
 * raw_set_sregs() must follow a raw_get_sregs() (get-modify-set). */
int raw_get_sregs(struct raw_vm *vm, vmm_sregs_t *sregs);
int raw_set_sregs(struct raw_vm *vm, const vmm_sregs_t *sregs);
int raw_set_regs(struct raw_vm *vm, const vmm_regs_t *regs);

#endif
