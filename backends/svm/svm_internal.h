/* backends/svm/svm_internal.h — state shared by the "svm" backend's files
 * (libvmm over its own kernel module, /dev/libvmm-svm: kmod/). */
#ifndef VMM__SVM_INTERNAL_H
#define VMM__SVM_INTERNAL_H

#include <stdbool.h>

#include "backend_ops.h"
#include "kmod/libvmm_svm.h"
#include "x86/decode.h"

struct svm_vm {
  int fd;
  vmm_vm_t *vm;
  /* The slots as installed (the module pins the pages behind `hva` when
   * a slot is set; svm_state.c sets them again after a restore remapped
   * guest memory at the same addresses). */
  struct lvs_region slots[LVS_MAX_REGIONS];
};

/* An exit whose instruction libvmm finishes at the next run. */
enum svm_pending {
  SVM_PEND_NONE,
  SVM_PEND_MMIO_READ,  /* load `data` into the destination register */
  SVM_PEND_MMIO_WRITE, /* only move RIP on */
  SVM_PEND_STR_IN,     /* INS: store `io_buf` at ES:rDI, update regs */
  SVM_PEND_STR_OUT,    /* OUTS: update registers */
};

/* The most bytes one string I/O exit moves (REP is split into pieces). */
#define SVM_STRIO_MAX 4096

struct svm_vcpu {
  int fd;
  uint32_t id;
  struct svm_vm *svm;
  struct lvs_run *run;
  vmm_cpuid_entry_t *cpuid;   /* what the guest sees, as last set */
  size_t n_cpuid;
  /* The instruction being finished (svm_mmio.c). */
  enum svm_pending pending;
  struct vmm__x86_insn insn;
  uint64_t insn_rip, next_rip;
  uint8_t mmio_data[8];
  uint32_t mmio_size;
  /* String I/O: elements moved, their size, the registers to update. */
  uint32_t str_count, str_size;
  uint8_t str_addr_size;
  uint8_t io_buf[SVM_STRIO_MAX];
};

/* ioctl on a vCPU or VM fd, retried when a signal interrupts it where
 * that is harmless (everything but LVS_RUN). */
int vmm__svm_ioctl(int fd, unsigned long req, void *arg);
int vmm__svm_ioctl_error(const struct svm_vcpu *v, const char *what);

int vmm__svm_vcpu_create(void *bvm, uint32_t id, void **bvcpu);
void vmm__svm_vcpu_destroy(void *bvcpu);
int vmm__svm_vcpu_run(void *bvcpu, vmm_exit_t *exit);
void vmm__svm_vcpu_kick_set(void *bvcpu, int on);
int vmm__svm_get_regs(void *bvcpu, vmm_regs_t *regs);
int vmm__svm_set_regs(void *bvcpu, const vmm_regs_t *regs);
int vmm__svm_get_sregs(void *bvcpu, vmm_sregs_t *sregs);
int vmm__svm_set_sregs(void *bvcpu, const vmm_sregs_t *sregs);
int vmm__svm_get_fpu(void *bvcpu, vmm_fpu_t *fpu);
int vmm__svm_set_fpu(void *bvcpu, const vmm_fpu_t *fpu);
int vmm__svm_get_msrs(void *bvcpu, vmm_msr_entry_t *entries, size_t count);
int vmm__svm_set_msrs(void *bvcpu, const vmm_msr_entry_t *entries,
                      size_t count);
int vmm__svm_get_cpuid(void *bvcpu, vmm_cpuid_entry_t *entries,
                       size_t capacity, size_t *count);
int vmm__svm_set_cpuid(void *bvcpu, const vmm_cpuid_entry_t *entries,
                       size_t count);
int vmm__svm_set_debug(void *bvcpu, uint32_t flags, const uint64_t *dr);
int vmm__svm_inject_event(void *bvcpu, uint8_t vector, int kind,
                          int has_error, uint32_t error_code);
int vmm__svm_translate(void *bvcpu, uint64_t gva, uint64_t *gpa,
                       bool *valid);
struct vmm__sw;
struct vmm__sr;
int vmm__svm_vm_state_save(void *bvm, struct vmm__sw *w);
int vmm__svm_vm_state_load(void *bvm, struct vmm__sr *r);
int vmm__svm_vcpu_state_save(void *bvcpu, struct vmm__sw *w);
int vmm__svm_vcpu_state_load(void *bvcpu, struct vmm__sr *r);
int vmm__svm_vcpu_complete(void *bvcpu);
/* The CPUID table a new vCPU starts with (host CPUID, filtered). */
int vmm__svm_host_cpuid(const vmm_cpuid_entry_t **out, size_t *count);

/* svm_mmio.c: turn an MMIO or string I/O exit into libvmm's, and finish
 * the instruction at the next run. */
int vmm__svm_mmio_exit(struct svm_vcpu *v, vmm_exit_t *exit);
int vmm__svm_strio_exit(struct svm_vcpu *v, vmm_exit_t *exit);
/* MOV to CR4 (intercepted so the module can refuse unsupported bits). */
int vmm__svm_cr4_exit(struct svm_vcpu *v, vmm_exit_t *exit);
int vmm__svm_complete(struct svm_vcpu *v);
/* Guest-virtual to guest-physical through the guest's paging. */
int vmm__svm_walk(struct svm_vcpu *v, const vmm_sregs_t *s, uint64_t gva,
                  bool write, uint64_t *gpa, bool *valid);

#endif
