/* src/virtio/mmio.c — the virtio-mmio transport (register layout version 2):
 * a 4 KiB MMIO window, doorbells through ioeventfd, a level interrupt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libvmm/irq.h>

#include "error.h"
#include "irq_internal.h"
#include "snapshot/stream.h"
#include "virtio/device.h"
#include "vm_internal.h"

#define MMIO_WINDOW 0x1000u

/* Registers (32-bit), then the device configuration space. */
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_SHM_SEL 0x0ac
#define REG_SHM_LEN_LOW 0x0b0
#define REG_SHM_LEN_HIGH 0x0b4
#define REG_SHM_BASE_LOW 0x0b8
#define REG_SHM_BASE_HIGH 0x0bc
#define REG_QUEUE_RESET 0x0c0
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define MMIO_MAGIC 0x74726976u  /* "virt" */
#define MMIO_VERSION 2u
#define MMIO_VENDOR 0x4d4d564cu /* "LVMM" */

/* Test knob: force the MMIO-handler doorbell path (no ioeventfd). */
#define ENV_NO_IOEVENTFD "LIBVMM_VIRTIO_NO_IOEVENTFD"

static void set_line(struct vmm__virtio_dev *v) {
  struct vmm__virtio_mmio *m = &v->mmio;
  bool level = m->isr != 0;
  if (!m->irqchip || level == m->level)
    return;
  /* VMM_ENOTSUP (no interrupt controller) leaves the device polled. */
  if (vmm_irq_set(v->base.vm, m->gsi, level) == 0)
    m->level = level;
}

static void mmio_interrupt(struct vmm__virtio_dev *v, uint32_t why) {
  v->mmio.isr |= why;
  set_line(v);
}

static void mmio_reset(struct vmm__virtio_dev *v) {
  v->mmio.isr = 0;
  set_line(v);
}

static void close_doorbells(struct vmm__virtio_dev *v) {
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    struct vmm__virtio_queue *q = &v->queues[i];
    if (q->notify_fd < 0)
      continue;
    if (q->ioeventfd)
      vmm__ioeventfd_close(v->base.vm, q->notify_fd);
    else
      close(q->notify_fd);
    q->notify_fd = -1;
  }
}

static void mmio_destroy(struct vmm__virtio_dev *v) {
  /* At VM destruction the bus goes with the VM; only a failed creation
   * takes its handler off again. */
  if (v->mmio.registered && vmm__handle_valid(v->base.vm, VMM__H_VM))
    vmm_io_unregister(v->base.vm, VMM_IO_MMIO, v->mmio.base);
  v->mmio.registered = false;
  close_doorbells(v);
}

/* The window and line are creation parameters: only the interrupt. */
static void mmio_save(struct vmm__virtio_dev *v, struct vmm__sw *w) {
  vmm__sw_u32(w, v->mmio.isr);
}

static int mmio_load(struct vmm__virtio_dev *v, struct vmm__sr *r) {
  uint32_t isr = vmm__sr_u32(r);
  if (isr & ~(VMM__VIRTIO_INT_VRING | VMM__VIRTIO_INT_CONFIG))
    vmm__sr_fail(r, "InterruptStatus 0x%x has unknown bits", isr);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_rwlock_rdlock(&v->base.vm->lock);
  pthread_mutex_lock(&v->lock);
  v->mmio.isr = isr;
  set_line(v);
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&v->base.vm->lock);
  return 0;
}

static const struct vmm__virtio_transport mmio_transport = {
    .interrupt = mmio_interrupt,
    .reset = mmio_reset,
    .destroy = mmio_destroy,
    .save = mmio_save,
    .load = mmio_load,
};

static uint32_t reg_read(struct vmm__virtio_dev *v, uint32_t off) {
  struct vmm__virtio_queue *q = vmm__virtio_selected(v);
  switch (off) {
  case REG_MAGIC:
    return MMIO_MAGIC;
  case REG_VERSION:
    return MMIO_VERSION;
  case REG_DEVICE_ID:
    return v->ops->device_id;
  case REG_VENDOR_ID:
    return MMIO_VENDOR;
  case REG_DEVICE_FEATURES:
    return vmm__virtio_get_device_features(v);
  case REG_QUEUE_NUM_MAX:
    return q ? v->queue_size_max : 0;
  case REG_QUEUE_READY:
    return q && q->vq.running;
  case REG_INTERRUPT_STATUS:
    return v->mmio.isr;
  case REG_STATUS:
    return v->status;
  case REG_QUEUE_DESC_LOW:
    return q ? (uint32_t)q->vq.desc_gpa : 0;
  case REG_QUEUE_DESC_HIGH:
    return q ? (uint32_t)(q->vq.desc_gpa >> 32) : 0;
  case REG_QUEUE_DRIVER_LOW:
    return q ? (uint32_t)q->vq.avail_gpa : 0;
  case REG_QUEUE_DRIVER_HIGH:
    return q ? (uint32_t)(q->vq.avail_gpa >> 32) : 0;
  case REG_QUEUE_DEVICE_LOW:
    return q ? (uint32_t)q->vq.used_gpa : 0;
  case REG_QUEUE_DEVICE_HIGH:
    return q ? (uint32_t)(q->vq.used_gpa >> 32) : 0;
  case REG_SHM_LEN_LOW:
  case REG_SHM_LEN_HIGH:
  case REG_SHM_BASE_LOW:
  case REG_SHM_BASE_HIGH:
    return 0xffffffffu; /* no shared memory regions: length -1 */
  case REG_CONFIG_GENERATION:
    return v->config_generation;
  default:
    return 0; /* write-only and unknown registers */
  }
}

/* Sets the low or high half of a ring address of a stopped queue. */
static void set_half(uint64_t *addr, uint32_t value, bool high) {
  if (high)
    *addr = (*addr & 0xffffffffull) | (uint64_t)value << 32;
  else
    *addr = (*addr & ~0xffffffffull) | value;
}

static void reg_write(struct vmm__virtio_dev *v, uint32_t off,
                      uint32_t value) {
  struct vmm__virtio_queue *q = vmm__virtio_selected(v);
  /* The layout of a running queue is fixed until it is stopped. */
  bool q_stopped = q && !q->vq.running;
  switch (off) {
  case REG_DEVICE_FEATURES_SEL:
    v->device_features_sel = value;
    break;
  case REG_DRIVER_FEATURES:
    vmm__virtio_set_driver_features(v, value);
    break;
  case REG_DRIVER_FEATURES_SEL:
    v->driver_features_sel = value;
    break;
  case REG_QUEUE_SEL:
    v->queue_sel = value;
    break;
  case REG_QUEUE_NUM:
    if (q_stopped)
      q->num = value;
    break;
  case REG_QUEUE_READY:
    vmm__virtio_set_queue_ready(v, value);
    break;
  case REG_QUEUE_NOTIFY:
    /* Reached only without ioeventfd (or for a value it does not match):
     * ring the same doorbell, so the queue still runs on the loop. */
    if (value < v->ops->num_queues)
      vmm__virtio_kick(v, (uint16_t)value);
    break;
  case REG_INTERRUPT_ACK:
    v->mmio.isr &= ~value;
    set_line(v);
    break;
  case REG_STATUS:
    vmm__virtio_set_status(v, value);
    break;
  case REG_QUEUE_DESC_LOW:
  case REG_QUEUE_DESC_HIGH:
    if (q_stopped)
      set_half(&q->vq.desc_gpa, value, off == REG_QUEUE_DESC_HIGH);
    break;
  case REG_QUEUE_DRIVER_LOW:
  case REG_QUEUE_DRIVER_HIGH:
    if (q_stopped)
      set_half(&q->vq.avail_gpa, value, off == REG_QUEUE_DRIVER_HIGH);
    break;
  case REG_QUEUE_DEVICE_LOW:
  case REG_QUEUE_DEVICE_HIGH:
    if (q_stopped)
      set_half(&q->vq.used_gpa, value, off == REG_QUEUE_DEVICE_HIGH);
    break;
  default:
    break; /* read-only, SHMSel, QueueReset (not offered), unknown */
  }
}

/* vCPU thread: one access to the device's window. Never fails the vCPU:
 * a driver that breaks the rules fails the device instead. */
static int mmio_access(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                       uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct vmm__virtio_dev *v = opaque;
  vmm_vm_t *vm = v->base.vm;
  uint64_t off = addr - v->mmio.base;
  const char *dir = is_write ? "write" : "read";

  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  if (off >= REG_CONFIG) {
    uint64_t coff = off - REG_CONFIG, csize = v->ops->config_size;
    if (size > csize || coff > csize - size) {
      vmm__virtio_fail(v, "%u-byte config %s at offset 0x%llx is outside the "
                       "%llu-byte configuration space", size, dir,
                       (unsigned long long)coff, (unsigned long long)csize);
    } else if (!is_write) {
      v->ops->config_read(v, (uint32_t)coff, data, size);
    } else if (v->ops->config_write) {
      v->ops->config_write(v, (uint32_t)coff, data, size);
    }
  } else if (size != 4 || off % 4) {
    vmm__virtio_fail(v, "%u-byte register %s at offset 0x%03llx: registers "
                     "take aligned 32-bit accesses only", size, dir,
                     (unsigned long long)off);
  } else if (is_write) {
    uint32_t value;
    memcpy(&value, data, 4);
    reg_write(v, (uint32_t)off, value);
  } else {
    uint32_t value = reg_read(v, (uint32_t)off);
    memcpy(data, &value, 4);
  }
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}

int vmm__virtio_mmio_init(struct vmm__virtio_dev *v,
                          const vmm_virtio_config_t *cfg) {
  vmm_vm_t *vm = v->base.vm;
  int rc;
  uint64_t base = cfg->mmio_base;
  if (base) {
    if (base % MMIO_WINDOW || base + MMIO_WINDOW < base)
      return vmm__error(VMM_EINVAL, "MMIO base 0x%llx is not a 4 KiB-aligned "
                        "window", (unsigned long long)base);
    pthread_rwlock_rdlock(&vm->lock);
    bool ram = false;
    for (size_t i = 0; i < vm->mem.count && !ram; i++) {
      const struct vmm__memslot *s = vm->mem.slots[i];
      ram = s->gpa < base + MMIO_WINDOW && base < s->gpa + s->size;
    }
    pthread_rwlock_unlock(&vm->lock);
    if (ram)
      return vmm__error(VMM_EOVERLAP, "MMIO window at 0x%llx overlaps guest "
                        "RAM", (unsigned long long)base);
  } else if ((rc = vmm__mmio_alloc(vm, MMIO_WINDOW, &base)) < 0) {
    return rc;
  }
  uint32_t gsi = cfg->irq;
  if (gsi >= VMM_IRQ_GSI_MAX)
    return vmm__error(VMM_ERANGE, "GSI %u is not below %u", gsi,
                      VMM_IRQ_GSI_MAX);
  if (!gsi && (rc = vmm__gsi_alloc(vm, &gsi)) < 0)
    return rc;

  v->transport = &mmio_transport;
  v->mmio.base = base;
  v->mmio.gsi = gsi;
  v->mmio.irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;

  const char *knob = getenv(ENV_NO_IOEVENTFD);
  bool try_ioeventfd = !(knob && knob[0] && strcmp(knob, "0") != 0);
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    struct vmm__virtio_queue *q = &v->queues[i];
    /* Without VIRTIO_F_NOTIFICATION_DATA the driver writes the queue
     * index: one doorbell per queue, matched on the value. */
    rc = try_ioeventfd
             ? vmm__ioeventfd_open(vm, VMM_IO_MMIO, base + REG_QUEUE_NOTIFY, 4,
                                   true, i, &q->notify_fd)
             : VMM_ENOTSUP;
    if (rc == 0) {
      q->ioeventfd = true;
      continue;
    }
    /* Any failure: the MMIO handler rings an eventfd of our own. */
    q->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->notify_fd < 0) {
      rc = vmm__error(VMM_EIO, "eventfd: %s", strerror(errno));
      close_doorbells(v);
      return rc;
    }
  }
  rc = vmm_io_register(vm, VMM_IO_MMIO, base, MMIO_WINDOW, mmio_access, v);
  if (rc < 0) {
    close_doorbells(v);
    return rc;
  }
  v->mmio.registered = true;
  return 0;
}

/* ---- public accessors ------------------------------------------------- */

static const struct vmm__virtio_dev *as_virtio(const vmm_device_t *dev) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE) ||
      dev->ops->destroy != vmm__virtio_destroy)
    return NULL;
  return (const struct vmm__virtio_dev *)dev;
}

bool vmm__virtio_mmio_window(const vmm_device_t *dev, uint64_t *base,
                             uint64_t *size, uint32_t *gsi) {
  const struct vmm__virtio_dev *v = as_virtio(dev);
  if (!v || v->transport != &mmio_transport)
    return false;
  *base = v->mmio.base;
  *size = MMIO_WINDOW;
  *gsi = v->mmio.gsi;
  return true;
}

uint64_t vmm_virtio_mmio_base(const vmm_device_t *dev) {
  const struct vmm__virtio_dev *v = as_virtio(dev);
  return v && v->transport == &mmio_transport ? v->mmio.base : 0;
}

uint32_t vmm_virtio_irq(const vmm_device_t *dev) {
  const struct vmm__virtio_dev *v = as_virtio(dev);
  return v && v->transport == &mmio_transport ? v->mmio.gsi : 0;
}
