/* backends/svm/kmod/lvs.h — the module's objects and the vendor ops table.
 *
 * main.c owns the device, VM and vCPU files, guest memory regions and
 * argument checking; everything that depends on the CPU vendor (turning
 * the virtualization mode on, the control block, the nested page table
 * format, entering the guest and decoding its exits) sits behind
 * struct lvs_vendor_ops. svm.c is the only implementation; docs/backends.md
 * says what a VMX one would have to provide. */
#ifndef LVS_H
#define LVS_H

#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>

#include "libvmm_svm.h"

struct lvs_vm;
struct lvs_vcpu;

struct lvs_region_k {
  bool used;
  bool pinned_ro;             /* pinned without FOLL_WRITE */
  u32 flags;
  u64 gpa, size, uaddr;
  unsigned long npages;
  struct page **pages;
  unsigned long *dirty;       /* LVS_REGION_DIRTY_LOG: one bit per page */
};

struct lvs_vm {
  struct mutex lock;          /* regions, vCPU creation */
  /* Held for reading around each guest entry, for writing while the
   * nested page tables change: no vCPU is inside the guest then. */
  struct rw_semaphore mem_lock;
  struct lvs_region_k regions[LVS_MAX_REGIONS];
  struct lvs_vcpu *vcpus[LVS_MAX_VCPUS];
  u32 nr_vcpus;
  /* Bumped at each unmap: vCPUs flush their TLB before the next entry. */
  atomic_t npt_gen;
  struct mm_struct *mm;       /* whose locked_vm the pinned pages count in */
  void *vendor;
};

struct lvs_cpuid_k {
  u32 count;
  struct lvs_cpuid_entry e[LVS_MAX_CPUID];
};

struct lvs_vcpu {
  struct mutex lock;          /* one ioctl at a time */
  struct lvs_vm *vm;
  struct file *vm_file;       /* the vCPU keeps its VM alive */
  u32 id;
  struct lvs_run *run;        /* the shared page */
  /* Guest x87/SSE state while the guest is out (FXSAVE image). */
  u8 fx[512] __aligned(64);
  struct lvs_cpuid_k *cpuid;
  u64 apic_base, misc_enable;
  /* An IN exit waiting for its data (size in bytes, 0 if none). */
  u8 pending_in;
  u64 pending_rip;
  void *vendor;
};

/* Results of vendor vcpu_run. */
#define LVS_RUN_AGAIN 1 /* handled inside: enter again */
#define LVS_RUN_USER 0  /* run page filled: back to user space */

struct lvs_vendor_ops {
  const char *name;
  /* Module load: is the hardware there and usable? features: LVS_FEAT_*. */
  int (*hw_setup)(u32 *features);
  /* Module unload: turn the mode off on every CPU where it was turned on. */
  void (*hw_unsetup)(void);
  int (*vm_init)(struct lvs_vm *vm);
  void (*vm_free)(struct lvs_vm *vm);
  /* Nested page tables: map one 4 KiB guest page, or unmap it. */
  int (*map)(struct lvs_vm *vm, u64 gpa, u64 hpa, bool writable);
  void (*unmap)(struct lvs_vm *vm, u64 gpa);
  int (*vcpu_init)(struct lvs_vcpu *v);
  void (*vcpu_free)(struct lvs_vcpu *v);
  /* Enters the guest once, handles what the module handles itself.
   * Called with vm->mem_lock held for reading. LVS_RUN_* or -errno. */
  int (*vcpu_run)(struct lvs_vcpu *v);
  void (*get_regs)(struct lvs_vcpu *v, struct lvs_regs *r);
  void (*set_regs)(struct lvs_vcpu *v, const struct lvs_regs *r);
  void (*get_sregs)(struct lvs_vcpu *v, struct lvs_sregs *s);
  int (*set_sregs)(struct lvs_vcpu *v, const struct lvs_sregs *s);
  /* `guest`: asked by the guest (RDMSR/WRMSR) rather than user space. */
  int (*get_msr)(struct lvs_vcpu *v, u32 index, u64 *value);
  int (*set_msr)(struct lvs_vcpu *v, u32 index, u64 value, bool guest);
  int (*inject)(struct lvs_vcpu *v, const struct lvs_event *ev);
  int (*set_debug)(struct lvs_vcpu *v, const struct lvs_debug *d);
  /* Finishes an IN whose data user space supplied, without entering. */
  void (*complete)(struct lvs_vcpu *v);
};

extern const struct lvs_vendor_ops lvs_svm_ops;

/* main.c helpers for the vendor code. */
struct lvs_region_k *lvs_region_find(struct lvs_vm *vm, u64 gpa);
/* A write fault at `gpa` in a dirty-logged region: logs the page and
 * makes it writable; false when the fault is not that. Called with
 * mem_lock held for reading. */
bool lvs_dirty_fault(struct lvs_vm *vm, u64 gpa);
void lvs_cpuid_lookup(struct lvs_vcpu *v, u32 fn, u32 idx, u32 out[4]);
/* Generic MSRs the module keeps itself (APIC base, MISC_ENABLE). */
int lvs_msr_get_common(struct lvs_vcpu *v, u32 index, u64 *value);
int lvs_msr_set_common(struct lvs_vcpu *v, u32 index, u64 value);

#endif
