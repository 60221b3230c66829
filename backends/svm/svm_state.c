/* backends/svm/svm_state.c — saved state of "svm" VMs and vCPUs (for
 * snapshots, src/snapshot/): the module has no interrupt controller or
 * clock of its own, so a VM saves nothing; a vCPU saves its registers,
 * segment and control state, the FXSAVE image, the MSRs the module keeps
 * and the CPUID table. The layout is the module's uapi structures, each
 * checked for size here and for values by the module when set. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "error.h"
#include "snapshot/stream.h"
#include "svm_internal.h"

#define SVM_STATE_VERSION 1

/* The MSRs the module emulates beyond those in the segment state. */
static const uint32_t saved_msrs[] = {
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR .. SFMASK */
    0xc0000102,                                     /* KERNEL_GS_BASE */
    0x174, 0x175, 0x176,                            /* SYSENTER_* */
    0x277,                                          /* PAT */
    0x1a0,                                          /* MISC_ENABLE */
    0x10,                                           /* TSC */
};
#define N_SAVED_MSRS (sizeof(saved_msrs) / sizeof(saved_msrs[0]))

int vmm__svm_vm_state_save(void *bvm, struct vmm__sw *w) {
  (void)bvm;
  vmm__sw_u32(w, SVM_STATE_VERSION);
  return 0;
}

int vmm__svm_vm_state_load(void *bvm, struct vmm__sr *r) {
  struct svm_vm *s = bvm;
  uint32_t v = vmm__sr_u32(r);
  if (!vmm__sr_error(r) && v != SVM_STATE_VERSION)
    vmm__sr_fail(r, "svm VM state version %u, this libvmm reads %u", v,
                 SVM_STATE_VERSION);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  /*
   * A restore may have mapped the saved memory over a region's own
   * mapping (same address, new pages: src/snapshot/restore.c). KVM
   * follows such a change through its MMU notifier; the module pinned
   * the old pages, so every slot is set again and pins what is mapped
   * there now.
   */
  for (uint32_t i = 0; i < LVS_MAX_REGIONS; i++) {
    struct lvs_region a = s->slots[i];
    if (!a.size)
      continue;
    struct lvs_region del = {.slot = i};
    if (vmm__svm_ioctl(s->fd, LVS_SET_REGION, &del) < 0 ||
        vmm__svm_ioctl(s->fd, LVS_SET_REGION, &a) < 0) {
      int e = errno;
      memset(&s->slots[i], 0, sizeof(s->slots[i]));
      return vmm__error(e == ENOMEM ? VMM_ENOMEM : VMM_EBACKEND,
                        "svm: setting slot %u again after the restore "
                        "failed: %s", i, strerror(e));
    }
  }
  return 0;
}

int vmm__svm_vcpu_state_save(void *bvcpu, struct vmm__sw *w) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_regs regs;
  struct lvs_sregs sregs;
  struct lvs_fpu fpu;
  struct lvs_msr m[N_SAVED_MSRS];
  if (vmm__svm_ioctl(v->fd, LVS_GET_REGS, &regs) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_REGS");
  if (vmm__svm_ioctl(v->fd, LVS_GET_SREGS, &sregs) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_SREGS");
  if (vmm__svm_ioctl(v->fd, LVS_GET_FPU, &fpu) < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_FPU");
  for (size_t i = 0; i < N_SAVED_MSRS; i++)
    m[i] = (struct lvs_msr){.index = saved_msrs[i]};
  struct lvs_msrs req = {.count = N_SAVED_MSRS, .entries = (uintptr_t)m};
  int n = vmm__svm_ioctl(v->fd, LVS_GET_MSRS, &req);
  if (n < 0)
    return vmm__svm_ioctl_error(v, "LVS_GET_MSRS");
  if ((size_t)n != N_SAVED_MSRS)
    return vmm__error(VMM_EBACKEND, "svm: vCPU %u: MSR 0x%x cannot be "
                      "read for saving", v->id, m[n].index);
  vmm__sw_u32(w, SVM_STATE_VERSION);
  vmm__sw_u32(w, (uint32_t)sizeof(regs));
  vmm__sw_bytes(w, &regs, sizeof(regs));
  vmm__sw_u32(w, (uint32_t)sizeof(sregs));
  vmm__sw_bytes(w, &sregs, sizeof(sregs));
  vmm__sw_bytes(w, fpu.fxsave, sizeof(fpu.fxsave));
  vmm__sw_u32(w, (uint32_t)N_SAVED_MSRS);
  for (size_t i = 0; i < N_SAVED_MSRS; i++) {
    vmm__sw_u32(w, m[i].index);
    vmm__sw_u64(w, m[i].value);
  }
  vmm__sw_u32(w, (uint32_t)v->n_cpuid);
  for (size_t i = 0; i < v->n_cpuid; i++) {
    const vmm_cpuid_entry_t *e = &v->cpuid[i];
    vmm__sw_u32(w, e->function);
    vmm__sw_u32(w, e->index);
    vmm__sw_u32(w, e->flags);
    vmm__sw_u32(w, e->eax);
    vmm__sw_u32(w, e->ebx);
    vmm__sw_u32(w, e->ecx);
    vmm__sw_u32(w, e->edx);
  }
  return 0;
}

int vmm__svm_vcpu_state_load(void *bvcpu, struct vmm__sr *r) {
  struct svm_vcpu *v = bvcpu;
  struct lvs_regs regs;
  struct lvs_sregs sregs;
  struct lvs_fpu fpu;
  struct lvs_msr m[N_SAVED_MSRS];
  vmm_cpuid_entry_t *cpuid = calloc(LVS_MAX_CPUID, sizeof(*cpuid));
  if (!cpuid)
    return vmm__error(VMM_ENOMEM, "svm: out of memory for CPUID");
  uint32_t ver = vmm__sr_u32(r);
  if (!vmm__sr_error(r) && ver != SVM_STATE_VERSION)
    vmm__sr_fail(r, "svm vCPU state version %u, this libvmm reads %u", ver,
                 SVM_STATE_VERSION);
  if (vmm__sr_u32(r) != sizeof(regs))
    vmm__sr_fail(r, "svm register record of another size");
  vmm__sr_bytes(r, &regs, sizeof(regs));
  if (vmm__sr_u32(r) != sizeof(sregs))
    vmm__sr_fail(r, "svm segment record of another size");
  vmm__sr_bytes(r, &sregs, sizeof(sregs));
  vmm__sr_bytes(r, fpu.fxsave, sizeof(fpu.fxsave));
  uint32_t nm = vmm__sr_u32(r);
  if (nm != N_SAVED_MSRS)
    vmm__sr_fail(r, "svm state has %u MSRs, this libvmm %zu", nm,
                 N_SAVED_MSRS);
  for (size_t i = 0; i < N_SAVED_MSRS && !vmm__sr_error(r); i++) {
    m[i].index = vmm__sr_u32(r);
    m[i].pad = 0;
    m[i].value = vmm__sr_u64(r);
  }
  uint32_t nc = vmm__sr_u32(r);
  if (nc > LVS_MAX_CPUID)
    vmm__sr_fail(r, "svm state has %u CPUID entries, at most %u", nc,
                 LVS_MAX_CPUID);
  for (uint32_t i = 0; i < nc && !vmm__sr_error(r); i++) {
    vmm_cpuid_entry_t *e = &cpuid[i];
    memset(e, 0, sizeof(*e));
    e->function = vmm__sr_u32(r);
    e->index = vmm__sr_u32(r);
    e->flags = vmm__sr_u32(r);
    e->eax = vmm__sr_u32(r);
    e->ebx = vmm__sr_u32(r);
    e->ecx = vmm__sr_u32(r);
    e->edx = vmm__sr_u32(r);
  }
  int rc = vmm__sr_finish(r);
  /* The module checks every value as it takes it. */
  if (rc == 0)
    rc = vmm__svm_set_cpuid(v, cpuid, nc);
  free(cpuid);
  if (rc < 0)
    return rc;
  if (vmm__svm_ioctl(v->fd, LVS_SET_SREGS, &sregs) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_SREGS (saved state)");
  if (vmm__svm_ioctl(v->fd, LVS_SET_FPU, &fpu) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_FPU (saved state)");
  struct lvs_msrs req = {.count = N_SAVED_MSRS, .entries = (uintptr_t)m};
  int n = vmm__svm_ioctl(v->fd, LVS_SET_MSRS, &req);
  if (n < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_MSRS (saved state)");
  if ((size_t)n != N_SAVED_MSRS)
    return vmm__error(VMM_EINVAL, "svm: vCPU %u: saved MSR 0x%x = 0x%llx "
                      "refused", v->id, m[n].index,
                      (unsigned long long)m[n].value);
  if (vmm__svm_ioctl(v->fd, LVS_SET_REGS, &regs) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_REGS (saved state)");
  v->pending = SVM_PEND_NONE;
  return 0;
}

int vmm__svm_vcpu_complete(void *bvcpu) {
  struct svm_vcpu *v = bvcpu;
  /* The backend's part (MMIO loads, string I/O), then the module's (an
   * IN) through a run that returns before entering the guest. */
  int rc = v->pending != SVM_PEND_NONE ? vmm__svm_complete(v) : 0;
  if (rc < 0)
    return rc;
  uint8_t was = __atomic_load_n(&v->run->immediate_exit, __ATOMIC_SEQ_CST);
  __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  int r = ioctl(v->fd, LVS_RUN, 0);
  int e = errno;
  __atomic_store_n(&v->run->immediate_exit, was, __ATOMIC_SEQ_CST);
  if (r == 0)
    return vmm__error(VMM_EBACKEND, "svm: vCPU %u: LVS_RUN with "
                      "immediate_exit entered the guest", v->id);
  if (e != EINTR && e != EAGAIN) {
    errno = e;
    return vmm__svm_ioctl_error(v, "LVS_RUN (completion)");
  }
  return 0;
}
