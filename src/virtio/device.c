/* src/virtio/device.c — the common virtio device: configuration, status and
 * feature negotiation, queue start/stop, doorbells on the loop, failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "virtio/device.h"
#include "vm_internal.h"

static const char *queue_name(const struct vmm__virtio_dev *v, uint16_t q) {
  const char *name = q < VMM__VIRTIO_MAX_QUEUES ? v->ops->queue_names[q] : NULL;
  return name ? name : "queue";
}

/* ---- state ------------------------------------------------------------ */

bool vmm__virtio_live(struct vmm__virtio_dev *v) {
  return (v->status & VMM__VIRTIO_S_DRIVER_OK) &&
         !atomic_load(&v->base.failed);
}

bool vmm__virtio_queue_live(struct vmm__virtio_dev *v, uint16_t q) {
  return q < v->ops->num_queues && vmm__virtio_live(v) &&
         v->queues[q].vq.running && !v->queues[q].vq.broken;
}

void vmm__virtio_fail(struct vmm__virtio_dev *v, const char *fmt, ...) {
  char msg[sizeof(v->base.error)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  vmm__device_fail(&v->base, "%s", msg);
  /* Tell the driver (virtio 1.x "device needs reset"): once it resets the
   * device, the device serves it again from a clean state. */
  if (!(v->status & VMM__VIRTIO_S_NEEDS_RESET)) {
    v->status |= VMM__VIRTIO_S_NEEDS_RESET;
    if (v->status & VMM__VIRTIO_S_DRIVER_OK) {
      vmm__device_count(&v->base.counters.interrupts, 1);
      v->transport->interrupt(v, VMM__VIRTIO_INT_CONFIG);
    }
  }
}

static void queues_reset(struct vmm__virtio_dev *v) {
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    struct vmm__virtio_queue *q = &v->queues[i];
    vmm__virtq_init(&q->vq);
    q->num = v->queue_size_max;
  }
}

static void device_reset(struct vmm__virtio_dev *v) {
  vmm__device_recover(&v->base);
  v->status = 0;
  v->driver_features = 0;
  v->device_features_sel = v->driver_features_sel = 0;
  v->queue_sel = 0;
  queues_reset(v);
  v->transport->reset(v);
  if (v->ops->reset)
    v->ops->reset(v);
}

static bool has_feature(const struct vmm__virtio_dev *v, unsigned bit) {
  return (v->driver_features >> bit) & 1;
}

/* Whether the driver's feature choice can be accepted (FEATURES_OK). */
static bool features_acceptable(struct vmm__virtio_dev *v) {
  if (atomic_load(&v->base.failed))
    return false; /* failed and not reset since */
  if (!has_feature(v, VMM__VIRTIO_F_VERSION_1))
    return false; /* legacy drivers are not served */
  return (v->driver_features & ~v->device_features) == 0;
}

void vmm__virtio_set_status(struct vmm__virtio_dev *v, uint32_t status) {
  if (status == 0) {
    device_reset(v);
    return;
  }
  uint32_t old = v->status;
  status &= 0xff;
  if ((status & VMM__VIRTIO_S_FEATURES_OK) &&
      !(old & VMM__VIRTIO_S_FEATURES_OK) && !features_acceptable(v))
    status &= ~VMM__VIRTIO_S_FEATURES_OK; /* the driver reads it back */
  if (!(status & VMM__VIRTIO_S_FEATURES_OK))
    status &= ~VMM__VIRTIO_S_DRIVER_OK;
  /* NEEDS_RESET is the device's to set; only a reset clears it. */
  status = (status & ~VMM__VIRTIO_S_NEEDS_RESET) |
           (old & VMM__VIRTIO_S_NEEDS_RESET);
  v->status = status;
  if ((status & VMM__VIRTIO_S_DRIVER_OK) && !(old & VMM__VIRTIO_S_DRIVER_OK)) {
    /* Chains made available before DRIVER_OK (and input waiting for
     * buffers) get their pass now. */
    for (uint16_t i = 0; i < v->ops->num_queues; i++)
      if (v->queues[i].vq.running)
        vmm__virtio_kick(v, i);
  }
}

uint32_t vmm__virtio_get_device_features(struct vmm__virtio_dev *v) {
  if (v->device_features_sel > 1)
    return 0;
  return (uint32_t)(v->device_features >> (32 * v->device_features_sel));
}

void vmm__virtio_set_driver_features(struct vmm__virtio_dev *v,
                                     uint32_t value) {
  /* Features are fixed once accepted; selectors beyond 1 name bits no
   * device of ours has. */
  if ((v->status & VMM__VIRTIO_S_FEATURES_OK) || v->driver_features_sel > 1)
    return;
  unsigned shift = 32 * v->driver_features_sel;
  v->driver_features &= ~(0xffffffffull << shift);
  v->driver_features |= (uint64_t)value << shift;
}

struct vmm__virtio_queue *vmm__virtio_selected(struct vmm__virtio_dev *v) {
  return v->queue_sel < v->ops->num_queues ? &v->queues[v->queue_sel] : NULL;
}

void vmm__virtio_set_queue_ready(struct vmm__virtio_dev *v, uint32_t ready) {
  struct vmm__virtio_queue *q = vmm__virtio_selected(v);
  if (!q)
    return;
  if (!ready) {
    vmm__virtq_stop(&q->vq);
    return;
  }
  if (q->vq.running || atomic_load(&v->base.failed))
    return;
  /* Queues are set up after feature negotiation (it decides the ring
   * protocol); an earlier QueueReady is ignored, as a real device would. */
  if (!(v->status & VMM__VIRTIO_S_FEATURES_OK))
    return;
  const char *name = queue_name(v, q->index);
  if (q->num == 0 || q->num > v->queue_size_max || (q->num & (q->num - 1))) {
    vmm__virtio_fail(v, "%s: queue size %u is not a power of two from 1 to "
                     "%u", name, q->num, v->queue_size_max);
    return;
  }
  q->vq.size = (uint16_t)q->num;
  q->vq.indirect = has_feature(v, VMM__VIRTIO_F_INDIRECT_DESC);
  q->vq.event_idx = has_feature(v, VMM__VIRTIO_F_EVENT_IDX);
  if (vmm__virtq_start(&q->vq, &v->base.vm->mem) < 0) {
    char why[sizeof(q->vq.error)];
    memcpy(why, q->vq.error, sizeof(why));
    vmm__virtq_stop(&q->vq);
    vmm__virtio_fail(v, "%s: %s", name, why);
  }
}

/* ---- queue passes on the loop ----------------------------------------- */

bool vmm__virtio_lock_queue(struct vmm__virtio_dev *v, uint16_t q) {
  vmm_vm_t *vm = v->base.vm;
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  if (!vmm__virtio_queue_live(v, q))
    goto out;
  /* Regions may have changed since the last pass: resolve the rings. */
  if (vmm__virtq_map(&v->queues[q].vq, &vm->mem) < 0) {
    vmm__virtio_fail(v, "%s: %s", queue_name(v, q), v->queues[q].vq.error);
    goto out;
  }
  return true;
out:
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  return false;
}

void vmm__virtio_unlock(struct vmm__virtio_dev *v) {
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&v->base.vm->lock);
}

int vmm__virtio_pop(struct vmm__virtio_dev *v, uint16_t q,
                    struct vmm__virtq_elem *elem) {
  int rc = vmm__virtq_pop(&v->queues[q].vq, elem);
  if (rc < 0)
    vmm__virtio_fail(v, "%s: %s", queue_name(v, q), v->queues[q].vq.error);
  return rc;
}

void vmm__virtio_push(struct vmm__virtio_dev *v, uint16_t q,
                      const struct vmm__virtq_elem *elem, uint32_t written) {
  vmm__virtq_push(&v->queues[q].vq, elem, written);
}

void vmm__virtio_notify_used(struct vmm__virtio_dev *v, uint16_t q) {
  if (!vmm__virtq_should_notify(&v->queues[q].vq))
    return;
  vmm__device_count(&v->base.counters.interrupts, 1);
  if (v->transport->queue_interrupt)
    v->transport->queue_interrupt(v, q);
  else
    v->transport->interrupt(v, VMM__VIRTIO_INT_VRING);
}

void vmm__virtio_kick(struct vmm__virtio_dev *v, uint16_t q) {
  uint64_t one = 1;
  /* A full counter (EAGAIN) already means "run the queue". */
  ssize_t n = write(v->queues[q].notify_fd, &one, sizeof(one));
  (void)n;
}

/* The loop saw the doorbell of one queue. */
static void on_doorbell(void *opaque) {
  struct vmm__virtio_queue *q = opaque;
  struct vmm__virtio_dev *v = q->dev;
  uint64_t count;
  /* Non-blocking eventfd: one read clears it (EAGAIN if spurious). */
  ssize_t n = read(q->notify_fd, &count, sizeof(count));
  if (n == (ssize_t)sizeof(count))
    vmm__device_count(&v->base.counters.notifications, count);
  if (vmm__virtio_lock_queue(v, q->index)) {
    v->ops->queue_notify(v, q->index);
    vmm__virtio_unlock(v);
  }
  if (v->ops->unlocked)
    v->ops->unlocked(v);
}

/* ---- creation and destruction ----------------------------------------- */

static int config_copy(const vmm_virtio_config_t *in, vmm_virtio_config_t *cfg,
                       const char *type) {
  static const vmm_virtio_config_t defaults = VMM_VIRTIO_CONFIG_INIT;
  *cfg = defaults;
  cfg->queue_size = VMM__VIRTIO_DEFAULT_QUEUE_SIZE;
  if (!in)
    return 0;
  if (in->size < offsetof(vmm_virtio_config_t, irq))
    return vmm__error(VMM_EINVAL, "%s: vmm_virtio_config_t.size %zu is too "
                      "small", type, in->size);
  if (in->size > sizeof(*cfg)) {
    const uint8_t *extra = (const uint8_t *)in + sizeof(*cfg);
    for (size_t i = 0; i < in->size - sizeof(*cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "%s: vmm_virtio_config_t has fields "
                          "libvmm %s does not know set (size %zu > %zu)",
                          type, vmm_version_string(), in->size, sizeof(*cfg));
  }
  memcpy(cfg, in, in->size < sizeof(*cfg) ? in->size : sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  if (cfg->reserved16 || (cfg->transport != VMM_VIRTIO_PCI && cfg->pci_slot))
    return vmm__error(VMM_EINVAL, "%s: reserved fields of "
                      "vmm_virtio_config_t must be 0", type);
  if (cfg->transport != VMM_VIRTIO_MMIO && cfg->transport != VMM_VIRTIO_PCI)
    return vmm__error(VMM_EINVAL, "%s: unknown virtio transport %u", type,
                      cfg->transport);
  if (cfg->queue_size == 0)
    cfg->queue_size = VMM__VIRTIO_DEFAULT_QUEUE_SIZE;
  if (cfg->queue_size & (cfg->queue_size - 1) ||
      cfg->queue_size > VMM__VIRTQ_MAX_SIZE)
    return vmm__error(VMM_EINVAL, "%s: queue size %u is not a power of two "
                      "up to %u", type, cfg->queue_size, VMM__VIRTQ_MAX_SIZE);
  return 0;
}

static void release(struct vmm__virtio_dev *v) {
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    vmm__loop_poll_close(v->queues[i].poll);
    v->queues[i].poll = NULL;
  }
  if (v->transport)
    v->transport->destroy(v);
  pthread_mutex_destroy(&v->lock);
}

int vmm__virtio_init(struct vmm__virtio_dev *v, vmm_vm_t *vm,
                     const struct vmm__virtio_ops *ops,
                     const vmm_virtio_config_t *config) {
  const char *type = ops->base.type;
  vmm_virtio_config_t cfg;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", type);
  int rc = config_copy(config, &cfg, type);
  if (rc < 0)
    return rc;
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: devices are added before "
                      "vmm_vm_start()", type);

  v->base.vm = vm;
  v->ops = ops;
  pthread_mutex_init(&v->lock, NULL);
  v->queue_size_max = cfg.queue_size;
  v->device_features = ops->features | 1ull << VMM__VIRTIO_F_VERSION_1 |
                       1ull << VMM__VIRTIO_F_INDIRECT_DESC |
                       1ull << VMM__VIRTIO_F_EVENT_IDX;
  for (uint16_t i = 0; i < ops->num_queues; i++) {
    v->queues[i].dev = v;
    v->queues[i].index = i;
    v->queues[i].notify_fd = -1;
  }
  queues_reset(v);

  rc = cfg.transport == VMM_VIRTIO_PCI ? vmm__virtio_pci_init(v, &cfg)
                                        : vmm__virtio_mmio_init(v, &cfg);
  if (rc < 0)
    goto fail;
  for (uint16_t i = 0; i < ops->num_queues; i++) {
    rc = vmm__loop_poll(vm, v->queues[i].notify_fd, on_doorbell,
                        &v->queues[i], &v->queues[i].poll);
    if (rc < 0)
      goto fail;
  }
  rc = vmm__device_add(vm, &v->base, &ops->base);
  if (rc < 0)
    goto fail;
  return 0;
fail:
  rc = vmm__error_prefix(rc, type);
  release(v);
  return rc;
}

void vmm__virtio_destroy(vmm_device_t *dev) {
  struct vmm__virtio_dev *v = (struct vmm__virtio_dev *)dev;
  if (v->ops->destroy)
    v->ops->destroy(v);
  release(v);
  free(v);
}
