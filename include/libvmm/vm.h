/* libvmm/vm.h — creating and destroying virtual machines. */
#ifndef LIBVMM_VM_H
#define LIBVMM_VM_H

#include <libvmm/common.h>
#include <libvmm/vcpu.h>

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
  uint32_t flags;         /* VMM_VM_F_* */
  uint16_t hypercall_port; /* 0: VMM_HYPERCALL_PORT_DEFAULT; see io.h */
  uint16_t reserved16;
  uint32_t reserved32;
} vmm_vm_config_t;

#define VMM_MAX_VCPUS 256

/* VM flags. */
/* An interrupt controller in the backend (on KVM: the in-kernel PIC,
 * IOAPIC and local APICs, and the PIT). Devices can then raise interrupts;
 * HLT is handled by the backend (it waits for an interrupt) instead of
 * ending vmm_vcpu_run() with VMM_EXIT_HLT. */
#define VMM_VM_F_IRQCHIP (1u << 0)
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
/*
 * Running a VM on libvmm's threads. Instead of calling vmm_vcpu_run() on
 * threads of its own, a program may call vmm_vm_start(): one thread per
 * vCPU created so far, and a loop thread driving the VM's devices (unless
 * the program handed in its own libuv loop, see <libvmm/uv.h>; a VM whose
 * devices need no loop, e.g. one with only port handlers, gets none).
 *
 *   CREATED --start--> RUNNING --pause--> PAUSED --resume--> RUNNING
 *   RUNNING / PAUSED --stop, or the guest stops itself--> STOPPED
 *
 * On those threads, exits that no handler consumed are treated like this:
 * the vmm_vm_on_exit() function sees them first (if set); otherwise port
 * and MMIO reads with no handler return all ones and writes are ignored
 * (as on a bus with nothing attached), an unregistered hypercall returns
 * -ENOSYS, and HLT without VMM_VM_F_IRQCHIP, SHUTDOWN, DEBUG and
 * INTERNAL_ERROR stop the VM with the matching VMM_STOP_* reason.
 */
typedef enum vmm_vm_state {
  VMM_VM_CREATED = 0,
  VMM_VM_RUNNING = 1,
  VMM_VM_PAUSED = 2,
  VMM_VM_STOPPED = 3
} vmm_vm_state_t;

/* Why a VM stopped (vmm_vm_stop_info_t.reason). */
typedef enum vmm_stop_reason {
  VMM_STOP_NONE = 0,      /* not stopped */
  VMM_STOP_REQUESTED = 1, /* vmm_vm_stop() */
  VMM_STOP_GUEST_EXIT = 2, /* the guest asked (debug-exit port, poweroff) */
  VMM_STOP_RESET = 3,     /* the guest asked for a reset (i8042 0xFE) */
  VMM_STOP_HALT = 4,      /* HLT on a VM without VMM_VM_F_IRQCHIP */
  VMM_STOP_SHUTDOWN = 5,  /* triple fault */
  VMM_STOP_DEBUG = 6,     /* a debug exit nobody consumed */
  VMM_STOP_ERROR = 7      /* internal error, or a handler failed */
} vmm_stop_reason_t;

typedef struct vmm_vm_stop_info {
  size_t size;     /* sizeof(vmm_vm_stop_info_t), set by the caller */
  uint32_t reason; /* vmm_stop_reason_t */
  int32_t status;  /* the guest's exit status, or vmm_vm_stop()'s */
  uint32_t vcpu;   /* the vCPU that stopped the VM (UINT32_MAX: none) */
  int32_t error;   /* VMM_STOP_ERROR: the error code */
  char message[256]; /* what happened, for people */
} vmm_vm_stop_info_t;

/* Called on whichever thread changed the state; keep it short. */
typedef void (*vmm_vm_state_fn)(vmm_vm_t *vm, vmm_vm_state_t old_state,
                                vmm_vm_state_t new_state, void *opaque);
/*
 * Called on the vCPU thread for each exit no handler consumed, before the
 * default treatment above. Return 0 when the exit was dealt with (for a
 * read, `exit->u.io.data` / `u.mmio.data` holds the value), 1 to get the
 * default treatment, or a negative code to stop the VM with VMM_STOP_ERROR.
 */
typedef int (*vmm_vm_exit_fn)(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                              void *opaque);

VMM_EXPORT int vmm_vm_on_state_change(vmm_vm_t *vm, vmm_vm_state_fn fn,
                                      void *opaque);
VMM_EXPORT int vmm_vm_on_exit(vmm_vm_t *vm, vmm_vm_exit_fn fn, void *opaque);
/* CREATED → RUNNING. VMM_ESTATE in any other state, VMM_EINVAL without
 * vCPUs. vCPUs cannot be added after this. */
VMM_EXPORT int vmm_vm_start(vmm_vm_t *vm);
/* RUNNING → PAUSED: returns when every vCPU has left the guest and waits.
 * Device work already under way completes; interrupts it raises stay
 * pending until resume. */
VMM_EXPORT int vmm_vm_pause(vmm_vm_t *vm);
VMM_EXPORT int vmm_vm_resume(vmm_vm_t *vm);
/* Asks the VM to stop with `status` (any thread, handlers included);
 * returns at once. VMM_ESTATE if not started; 0 if already stopping. */
VMM_EXPORT int vmm_vm_stop(vmm_vm_t *vm, int status);
/*
 * Waits until the VM has stopped and its threads have ended; fills `info`
 * (may be NULL). timeout_ms < 0 waits forever; VMM_ETIMEDOUT otherwise.
 * vmm_vm_destroy() of a started VM stops and waits itself.
 */
VMM_EXPORT int vmm_vm_wait(vmm_vm_t *vm, int timeout_ms,
                           vmm_vm_stop_info_t *info);
VMM_EXPORT vmm_vm_state_t vmm_vm_state(const vmm_vm_t *vm);

/*
 * Boot timing. Times are CLOCK_MONOTONIC nanoseconds; every event after
 * creation is relative to `created_ns` and 0 while it has not happened.
 * `size` = sizeof(vmm_vm_timings_t), set by the caller (a shorter struct
 * from an older caller is filled as far as it goes).
 */
typedef struct vmm_vm_timings {
  size_t size;
  uint64_t created_ns;      /* entry of vmm_vm_create() (absolute) */
  uint64_t start_ns;        /* vmm_vm_start() began starting the threads */
  uint64_t first_output_ns; /* a device first wrote guest output to a
                               character back-end (UART, virtio-console) */
  uint64_t boot_done_ns;    /* the guest first wrote the magic value to a
                               boot-time port (vmm_boot_timer_create) */
  uint64_t first_entry_ns;  /* a vCPU first entered the guest (the first
                               vmm_vcpu_run() call): the guest's first
                               instruction follows */
} vmm_vm_timings_t;

VMM_EXPORT int vmm_vm_get_timings(const vmm_vm_t *vm, vmm_vm_timings_t *t);

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
