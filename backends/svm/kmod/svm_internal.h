/* backends/svm/kmod/svm_internal.h — the SVM vendor part's shared state
 * (svm.c: SVM on/off, VMCB, entry and exits; svm_regs.c: registers,
 * MSRs, events and debugging of a vCPU). */
#ifndef LVS_SVM_INTERNAL_H
#define LVS_SVM_INTERNAL_H

#include <linux/types.h>
#include <asm/svm.h>

#include "lvs.h"

struct svm_vcpu {
  struct vmcb *vmcb;
  u64 vmcb_pa;
  u64 gprs[16];             /* by ModRM number; RAX and RSP live in the VMCB */
  int last_cpu;
  int npt_gen;
  bool flush;               /* the guest's paging was changed from outside */
  /* Guest debugging (LVS_SET_DEBUG). */
  u32 debug;
  u64 dr[4], dr7;
  bool tf_added;            /* RFLAGS.TF set by the module, not the guest */
};

/* What the CPU offers (LVS_FEAT_*), and the CR4 bits a guest may set:
 * what the CPU has and the module switches (not OSXSAVE: XCR0 stays the
 * host's; not VMXE, PKE, LA57, CET). Set at module load. */
extern u32 lvs_svm_features;
extern u64 lvs_svm_cr4_allowed;

static inline bool lvs_canonical(u64 a) {
  return (s64)(a << 16) >> 16 == (s64)a;
}

void svm_get_regs(struct lvs_vcpu *v, struct lvs_regs *r);
void svm_set_regs(struct lvs_vcpu *v, const struct lvs_regs *r);
void svm_get_sregs(struct lvs_vcpu *v, struct lvs_sregs *o);
int svm_set_sregs(struct lvs_vcpu *v, const struct lvs_sregs *n);
int svm_get_msr(struct lvs_vcpu *v, u32 index, u64 *value);
int svm_set_msr(struct lvs_vcpu *v, u32 index, u64 value, bool guest);
int svm_inject(struct lvs_vcpu *v, const struct lvs_event *ev);
int svm_set_debug(struct lvs_vcpu *v, const struct lvs_debug *d);

#endif
