/* src/vm_internal.h — the private layout of VM, vCPU and region objects. */
#ifndef VMM__VM_INTERNAL_H
#define VMM__VM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libvmm/libvmm.h>

#include "backend_ops.h"
#include "bus.h"
#include "memmap.h"

struct vmm__hypercall {
  uint64_t nr;
  vmm_hypercall_fn fn;
  void *opaque;
};

struct vmm_vm {
  const struct vmm__backend_ops *ops;
  void *bvm;
  uint64_t caps;
  uint32_t max_vcpus;
  uint16_t hypercall_port;
  void *userdata;

  /* Guards the object tables below against concurrent API calls.
   * vCPU threads take it for reading only (memory and bus lookups). */
  pthread_rwlock_t lock;
  struct vmm__memmap mem;
  struct vmm__bus pio, mmio;
  struct vmm__hypercall *hypercalls; /* sorted by nr */
  size_t n_hypercalls, cap_hypercalls;
  vmm_vcpu_t **vcpus;                /* indexed by id, max_vcpus entries */
  uint32_t flags;                    /* VMM_VM_F_* */

  /* Devices and character back-ends (device.c, chardev.c), and what was
   * handed out to devices that did not choose (irq.c). */
  vmm_device_t *devices;
  vmm_chardev_t *chardevs;
  uint32_t next_gsi;
  uint64_t next_mmio;

  /* The event loop (loop.c) and libvmm's threads (run.c); NULL until
   * first needed. */
  struct vmm__loop *loop;
  struct vmm__run *run;
  /* PCI bus 0 (src/hw/pci.c); NULL until a PCI device is added. */
  struct vmm__pci_bus *pci;
  /* Boot timing (vmm_vm_get_timings): CLOCK_MONOTONIC ns at creation,
   * later events relative to it, 0 until they happen (vmm__vm_mark). */
  uint64_t created_ns;
  _Atomic uint64_t start_ns, first_output_ns, boot_done_ns, first_entry_ns;
  /* When the last vCPU thread ended (run.c), for the uptime in stats. */
  _Atomic uint64_t stopped_ns;
  /* The control socket (control.c); NULL when not listening. Changed on
   * the loop thread (or with no thread running the loop). */
  struct vmm__control *control;
  /* The gdb stub (src/gdbstub); NULL until vmm_gdbstub_start(). */
  struct vmm__gdbstub *_Atomic gdb;
  /* The CPU template for vCPUs created from now on ("" = none), set by
   * vmm_vm_set_cpu_template() (src/x86/cpu_template.c). */
  char cpu_template[256];
  /* What vmm_vm_create_from_config() keeps of the description for
   * vmm_vm_describe_json() (src/config); NULL for a VM built by hand. */
  struct vmm__config_state *config_state;
  /* VMM_SANDBOX_* for the threads vmm_vm_start() starts (src/sandbox.c). */
  _Atomic uint32_t sandbox;
  /* The control socket's background migration (src/migrate/job.c);
   * guarded by that file's lock. */
  struct vmm__mig_job *migration;
  /* vmm_vm_migrate_send() is under way (src/migrate/send.c). */
  atomic_bool migrating;
};

/* The handler range a vCPU used last in one address space; valid while
 * the bus generation is unchanged. Exits tend to hit the same device. */
struct vmm__io_cache {
  uint64_t generation; /* 0: empty */
  struct vmm__bus_range range;
};

/* Functions on the path of every exit: grouped by the linker (.text.hot),
 * so an exit touches fewer code pages. */
#define VMM__HOT __attribute__((hot))

struct vmm_vcpu {
  vmm_vm_t *vm;
  void *bvcpu;
  uint32_t id;
  /* Copies of what every exit needs from the VM and its backend, kept
   * here so that the exit path reads one object. */
  uint16_t hypercall_port;
  int (*backend_run)(void *bvcpu, vmm_exit_t *exit);
  atomic_int running;      /* a thread is inside vmm_vcpu_run() */
  atomic_int kick_pending; /* vmm_vcpu_kick() not yet reported */
  pthread_t thread;        /* valid while running */
  /* The last exit handed to the caller needs completing on the next run. */
  bool pending_hypercall;
  struct vmm__io_cache pio_cache, mmio_cache;
  /* The emulation-failure assist (src/x86/assist.c): VMM_ASSIST_* flags
   * and counters. */
  uint32_t assist_flags;
  vmm_vcpu_stats_t stats;
};

struct vmm_mem_region {
  vmm_vm_t *vm;
  struct vmm__memslot slot;
  bool owned; /* hva was allocated by libvmm */
};

/*
 * Live-handle registry: lets API calls reject destroyed or foreign
 * pointers with VMM_EBADF instead of touching freed memory.
 */
enum vmm__handle_type {
  VMM__H_VM = 1,
  VMM__H_VCPU,
  VMM__H_REGION,
  VMM__H_DEVICE,
  VMM__H_CHARDEV
};
int vmm__handle_add(const void *p, enum vmm__handle_type type);
void vmm__handle_remove(const void *p);
bool vmm__handle_valid(const void *p, enum vmm__handle_type type);

/* Frees an object of the VM (the VM lock is held or the VM is dying). */
void vmm__region_free(vmm_mem_region_t *region);
void vmm__vcpu_free(vmm_vcpu_t *vcpu);
/* A region's dirty log, fetched and cleared at once (memory.c). */
int vmm__mem_dirty_log_take(vmm_mem_region_t *region, uint64_t *bitmap,
                            size_t nbytes);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t vmm__now_ns(void);
/* Records "now" (relative to creation, at least 1) in a timing slot of
 * the VM unless it holds a time already; returns the time recorded by
 * this call, 0 when the slot was set before. Any thread. */
uint64_t vmm__vm_mark(vmm_vm_t *vm, _Atomic uint64_t *slot);
/* CPU templates (src/x86/cpu_template.c): applies `spec` to a vCPU that
 * is not running; and whether the vCPU's CPUID hides feature `name`. */
int vmm__cpu_template_apply(vmm_vcpu_t *vcpu, const char *spec);
bool vmm__cpu_feature_hidden(vmm_vcpu_t *vcpu, const char *name);
/* The emulation-failure assist (src/x86/assist.c): handles an
 * INTERNAL_ERROR exit of kind EMULATION; *resume true when the guest may
 * simply be run again. Fills the exit's bytes and mode either way. */
int vmm__assist_emulation_failure(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                                  bool *resume);

/* Hypercall dispatch for an OUT to the hypercall port (vcpu.c → io.c). */
int vmm__hypercall_dispatch(vmm_vcpu_t *vcpu, vmm_exit_t *exit, bool *handled);

#endif
