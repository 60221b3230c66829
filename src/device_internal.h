/* src/device_internal.h — the device object every device model embeds. */
#ifndef VMM__DEVICE_INTERNAL_H
#define VMM__DEVICE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include <libvmm/libvmm.h>

/* What a device tells vmm_vm_describe_json() (src/config) about how it
 * was made; fields a device does not have stay zero / NULL. */
struct vmm__device_desc {
  uint16_t port;          /* first port of a port device */
  uint32_t irq;           /* the GSI of an emulated device (UART) */
  vmm_chardev_t *chardev; /* UART, virtio-console */
  const char *path;       /* virtio-blk image; virtio-net socket / tap */
  uint32_t flags;         /* virtio-blk VMM_BLK_F_* */
  uint16_t num_queues;    /* virtio-blk request queues */
  char serial[21];        /* virtio-blk GET_ID answer */
  uint32_t net_backend;   /* virtio-net vmm_net_backend_t */
  uint8_t mac[6];         /* virtio-net */
  const char *cmdline;    /* fw_cfg */
};

struct vmm__sw;
struct vmm__sr;

struct vmm__device_ops {
  const char *type; /* "uart16550" */
  /* Frees what the device holds (its handlers go with the VM). */
  void (*destroy)(vmm_device_t *dev);
  /* Fills what describes the device's creation parameters; NULL for a
   * device that has none. Called with the device quiescent or locked by
   * the device itself: only fields set at creation are read. */
  void (*describe)(const vmm_device_t *dev, struct vmm__device_desc *desc);
  /*
   * Saved state (src/snapshot/state.c): save writes what the device holds
   * beyond its creation parameters; load checks every value and installs
   * it into a device made with the same parameters (a refused value is an
   * error, never a crash). Both run with the VM's vCPUs out of the guest,
   * on the loop thread when the VM has a loop, after guest memory is in
   * place. A device that holds nothing sets `stateless` (and no
   * callbacks); a device with neither cannot be saved.
   */
  int (*save)(vmm_device_t *dev, struct vmm__sw *w);
  int (*load)(vmm_device_t *dev, struct vmm__sr *r);
  bool stateless;
  /* True while work is under way whose result the saved state could not
   * hold (a block request on the thread pool); the snapshot waits for it.
   * Loop thread. NULL: never. */
  bool (*busy)(vmm_device_t *dev);
};

/* Longest device id plus its NUL (vmm_device_set_id). */
#define VMM__DEVICE_ID_MAX 64

/* Devices put this first in their own struct and cast. */
struct vmm_device {
  const struct vmm__device_ops *ops;
  vmm_vm_t *vm;
  vmm_device_t *next;  /* the VM's list, newest first */
  atomic_int failed;   /* the guest broke the device's rules */
  atomic_int has_error; /* `error` holds a reason (stays after recovery) */
  char error[256];
  char id[VMM__DEVICE_ID_MAX]; /* vmm_device_set_id(); "" = none */
  /* Counters for the control socket's "stats" (src/control.c); updated
   * with relaxed atomics (vmm__device_count), read the same way. */
  struct vmm__device_counters {
    uint64_t pio, mmio;     /* guest accesses through the bus (vCPUs) */
    uint64_t notifications; /* virtio doorbells rung (eventfd counts) */
    uint64_t interrupts;    /* interrupts the device raised */
    uint64_t host_errors;   /* back-end I/O the host failed (e.g. a full
                               disk): the guest got an error status */
  } counters;
};

/* Adds `n` to a counter of a device; cheap, lock-free, any thread. */
static inline void vmm__device_count(uint64_t *counter, uint64_t n) {
  __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* The first check of every device constructor: `vm` is a live VM that
 * was not started yet. `fn` names the constructor in the message. */
int vmm__device_precheck(vmm_vm_t *vm, const char *fn);
/* Registers a device built by a constructor: checks the VM is a live,
 * not-yet-started VM, links it and makes the handle valid. */
int vmm__device_add(vmm_vm_t *vm, vmm_device_t *dev,
                    const struct vmm__device_ops *ops);
/* Counts accesses to `vm`'s handlers registered with `opaque` as `dev`'s,
 * for handlers whose opaque is not the device object itself (virtio-pci's
 * BAR). Any thread that may register handlers. */
void vmm__io_attribute(vmm_vm_t *vm, vmm_io_space_t space, const void *opaque,
                       vmm_device_t *dev);
/*
 * Puts the device into its error state with a reason (printf-style), once:
 * the first reason wins and is also printed to stderr as
 * "libvmm: <type>: <reason>". Returns true the first time.
 */
bool vmm__device_fail(vmm_device_t *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Puts a failed device back into service when its guest driver reset it
 * (virtio's answer to DEVICE_NEEDS_RESET). The reason stays readable
 * through vmm_device_error() as the last failure. */
void vmm__device_recover(vmm_device_t *dev);
/* Frees every device of a VM (vmm_vm_destroy, after the vCPUs stopped). */
void vmm__devices_destroy(vmm_vm_t *vm);

/* ---- character back-ends, as devices see them ---------------------- */

/*
 * Input for the device: returns how many of `len` bytes it took. What it
 * did not take stays with the back-end until vmm__chardev_input_ready().
 * Called on the loop thread (fd back-ends) or on the thread calling
 * vmm_chardev_buffer_write(); the device locks what it shares.
 */
typedef size_t (*vmm__chardev_input_fn)(void *opaque, const uint8_t *data,
                                        size_t len);
/* Connects a device to the back-end (VMM_EBUSY if one already is). */
int vmm__chardev_attach(vmm_chardev_t *chr, vmm__chardev_input_fn fn,
                        void *opaque);
/* Guest output. Never blocks for long: what cannot be written now is
 * dropped and counted. Any thread. */
void vmm__chardev_write(vmm_chardev_t *chr, const uint8_t *data, size_t len);
/* The device has room again: pending input is offered anew (any thread;
 * delivered on the loop thread or at once for buffer back-ends). */
void vmm__chardev_input_ready(vmm_chardev_t *chr);
/* Disconnects the device (its destroy, or a constructor failing after
 * attach); an input call in flight has returned when this returns. */
void vmm__chardev_detach(vmm_chardev_t *chr);
/* The VM a back-end belongs to; NULL for a handle that is not live. */
vmm_vm_t *vmm__chardev_vm(const vmm_chardev_t *chr);
/* How many bytes of guest output were dropped so far (tests, messages). */
uint64_t vmm__chardev_dropped(const vmm_chardev_t *chr);
/* What a back-end is, for vmm_vm_describe_json(): "stdio", "file",
 * "socket" or "buffer"; `*path` the file or socket path (NULL otherwise),
 * `*capacity` a buffer's capacity (0 otherwise). */
const char *vmm__chardev_describe(const vmm_chardev_t *chr, const char **path,
                                  size_t *capacity);
/* Frees every character back-end of a VM. */
void vmm__chardevs_destroy(vmm_vm_t *vm);

#endif
