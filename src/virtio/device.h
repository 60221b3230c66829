/* src/virtio/device.h — the common virtio device: status, features, queues,
 * failure; the const ops table each device type provides; the transport
 * interface (virtio-mmio, virtio-pci). */
#ifndef VMM__VIRTIO_DEVICE_H
#define VMM__VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libvmm/virtio.h>

#include "device_internal.h"
#include "virtio/queue.h"

/* Feature bits every device offers (virtio 1.x, "reserved" range). */
#define VMM__VIRTIO_F_INDIRECT_DESC 28
#define VMM__VIRTIO_F_EVENT_IDX 29
#define VMM__VIRTIO_F_VERSION_1 32

/* Device status bits. */
#define VMM__VIRTIO_S_ACKNOWLEDGE 1u
#define VMM__VIRTIO_S_DRIVER 2u
#define VMM__VIRTIO_S_DRIVER_OK 4u
#define VMM__VIRTIO_S_FEATURES_OK 8u
#define VMM__VIRTIO_S_NEEDS_RESET 64u
#define VMM__VIRTIO_S_FAILED 128u

/* Why the device interrupts (virtio-mmio InterruptStatus bits). */
#define VMM__VIRTIO_INT_VRING 1u  /* used buffers */
#define VMM__VIRTIO_INT_CONFIG 2u /* configuration change (or NEEDS_RESET) */

#define VMM__VIRTIO_MAX_QUEUES VMM_VIRTIO_MAX_QUEUES
#define VMM__VIRTIO_DEFAULT_QUEUE_SIZE 256

struct vmm__virtio_dev;
struct vmm__virtio_pci;

/*
 * A virtio device type: one const table (kvmtool style). Callbacks named
 * "locked" run with the device lock held (and the VM lock for reading, so
 * guest memory stays put); keep them free of blocking calls and of calls
 * into other objects' locks (character back-ends: use `unlocked`).
 */
struct vmm__virtio_ops {
  struct vmm__device_ops base; /* type name; destroy is vmm__virtio_destroy */
  uint32_t device_id;          /* VIRTIO_ID_* */
  uint16_t num_queues;         /* at most VMM__VIRTIO_MAX_QUEUES */
  uint64_t features;           /* device-type feature bits offered */
  uint32_t config_size;        /* bytes of device configuration space */
  const char *queue_names[VMM__VIRTIO_MAX_QUEUES]; /* for messages */
  /* Locked: fills `len` bytes at `off` (inside config_size). */
  void (*config_read)(struct vmm__virtio_dev *v, uint32_t off, void *buf,
                      uint32_t len);
  /* Locked: a driver write inside config_size; NULL ignores writes. */
  void (*config_write)(struct vmm__virtio_dev *v, uint32_t off,
                       const void *buf, uint32_t len);
  /* Locked, loop thread: queue `q` may have new chains. */
  void (*queue_notify)(struct vmm__virtio_dev *v, uint16_t q);
  /* Loop thread, no lock held, after a queue_notify pass: back-end I/O
   * that must not run under the device lock. May be NULL. */
  void (*unlocked)(struct vmm__virtio_dev *v);
  /* Locked: the driver reset the device; drop device-type state. */
  void (*reset)(struct vmm__virtio_dev *v);
  /* Frees device-type resources (not the object). May be NULL. */
  void (*destroy)(struct vmm__virtio_dev *v);
  /* Saved state of the device type beyond the common part (src/virtio/
   * state.c); NULL when the type holds nothing but creation parameters
   * between two loop callbacks. Locked. load checks every value. */
  void (*save)(struct vmm__virtio_dev *v, struct vmm__sw *w);
  int (*load)(struct vmm__virtio_dev *v, struct vmm__sr *r);
};

/* What the transport does for the common code. */
struct vmm__virtio_transport {
  /* Locked: tell the driver VMM__VIRTIO_INT_* `why`. */
  void (*interrupt)(struct vmm__virtio_dev *v, uint32_t why);
  /* Locked: the device was reset; interrupt state goes back to none. */
  void (*reset)(struct vmm__virtio_dev *v);
  /* Releases what the transport holds (fds, ...). */
  void (*destroy)(struct vmm__virtio_dev *v);
  /* Locked: used buffers on queue `q` (per-queue vectors); NULL: the
   * common code calls interrupt(v, VMM__VIRTIO_INT_VRING) instead. */
  void (*queue_interrupt)(struct vmm__virtio_dev *v, uint16_t q);
  /* Saved state: registers and interrupt state of the transport. save
   * runs locked; load runs with no lock held (it may move a BAR) and
   * takes the device lock itself. */
  void (*save)(struct vmm__virtio_dev *v, struct vmm__sw *w);
  int (*load)(struct vmm__virtio_dev *v, struct vmm__sr *r);
};

struct vmm__virtio_queue {
  struct vmm__virtq vq;
  uint32_t num;          /* QueueNum as written (checked at QueueReady) */
  /* The doorbell: a KVM ioeventfd on QueueNotify, or an eventfd that the
   * MMIO handler signals. Polled on the loop. */
  int notify_fd;
  bool ioeventfd;        /* notify_fd came from vmm__ioeventfd_open() */
  struct vmm__poll *poll;
  struct vmm__virtio_dev *dev;
  uint16_t index;
};

/* virtio-mmio transport state. */
struct vmm__virtio_mmio {
  uint64_t base;
  uint32_t gsi;
  bool irqchip;          /* the VM has one: drive the line */
  bool level;            /* the line as last set */
  uint32_t isr;          /* InterruptStatus */
  bool registered;       /* the MMIO handler is on the bus */
};

struct vmm__virtio_dev {
  vmm_device_t base; /* first: the device registry sees this */
  const struct vmm__virtio_ops *ops;
  const struct vmm__virtio_transport *transport;
  /* Guards everything below. Order: VM lock (read) before this one. */
  pthread_mutex_t lock;
  uint32_t status;
  uint64_t device_features, driver_features;
  uint32_t device_features_sel, driver_features_sel;
  uint32_t queue_sel;
  uint32_t config_generation;
  uint16_t queue_size_max;
  struct vmm__virtio_queue queues[VMM__VIRTIO_MAX_QUEUES];
  struct vmm__virtio_mmio mmio;
  struct vmm__virtio_pci *pci; /* virtio-pci transport state (pci.c) */
};

/*
 * Sets up `v` (zeroed, embedded first in the device type's object) as a
 * device of type `ops` on `vm` with `config` (NULL: defaults), attaches
 * the transport and registers the device. On failure everything is
 * undone and the caller frees its object.
 */
int vmm__virtio_init(struct vmm__virtio_dev *v, vmm_vm_t *vm,
                     const struct vmm__virtio_ops *ops,
                     const vmm_virtio_config_t *config);
/* vmm__device_ops.destroy of every virtio device. */
void vmm__virtio_destroy(vmm_device_t *dev);
/* vmm__device_ops.save / load of every virtio device (state.c): status,
 * features, queues with their indices, then the transport's and the
 * type's parts. After a load every running queue gets a pass. */
int vmm__virtio_save(vmm_device_t *dev, struct vmm__sw *w);
int vmm__virtio_load(vmm_device_t *dev, struct vmm__sr *r);

/* The driver broke a rule: the device stops serving it (NEEDS_RESET and a
 * configuration interrupt). Locked. */
void vmm__virtio_fail(struct vmm__virtio_dev *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The device serves its driver: DRIVER_OK and not failed. Locked. */
bool vmm__virtio_live(struct vmm__virtio_dev *v);
/* Queue `q` is started and the device live. Locked. */
bool vmm__virtio_queue_live(struct vmm__virtio_dev *v, uint16_t q);

/* Locked, in queue_notify or another locked pass: the next chain of queue
 * `q` (1), none (0), or a broken rule (negative; the device has failed). */
int vmm__virtio_pop(struct vmm__virtio_dev *v, uint16_t q,
                    struct vmm__virtq_elem *elem);
/* Locked: gives a chain back; then vmm__virtio_notify_used() once for a
 * batch. */
void vmm__virtio_push(struct vmm__virtio_dev *v, uint16_t q,
                      const struct vmm__virtq_elem *elem, uint32_t written);
/* Locked: interrupts the driver if it wants to hear about used buffers. */
void vmm__virtio_notify_used(struct vmm__virtio_dev *v, uint16_t q);
/* Any thread: makes the loop run queue_notify for `q` again. */
void vmm__virtio_kick(struct vmm__virtio_dev *v, uint16_t q);
/* Takes the VM lock (read) and the device lock, maps queue `q` for a
 * pass; returns false (and unlocks) when the queue is not live. */
bool vmm__virtio_lock_queue(struct vmm__virtio_dev *v, uint16_t q);
void vmm__virtio_unlock(struct vmm__virtio_dev *v);

/* Register-level operations for transports (locked; vm locked for read). */
void vmm__virtio_set_status(struct vmm__virtio_dev *v, uint32_t status);
void vmm__virtio_set_driver_features(struct vmm__virtio_dev *v,
                                     uint32_t value);
uint32_t vmm__virtio_get_device_features(struct vmm__virtio_dev *v);
void vmm__virtio_set_queue_ready(struct vmm__virtio_dev *v, uint32_t ready);
/* The queue QueueSel selects, or NULL for a queue the device lacks. */
struct vmm__virtio_queue *vmm__virtio_selected(struct vmm__virtio_dev *v);

/* virtio-mmio (mmio.c). */
int vmm__virtio_mmio_init(struct vmm__virtio_dev *v,
                          const vmm_virtio_config_t *config);
/* The window and line of a virtio-mmio device (platform tables); false
 * for any other device. */
bool vmm__virtio_mmio_window(const vmm_device_t *dev, uint64_t *base,
                             uint64_t *size, uint32_t *gsi);
/* virtio-pci (pci.c). */
int vmm__virtio_pci_init(struct vmm__virtio_dev *v,
                         const vmm_virtio_config_t *config);

#endif
