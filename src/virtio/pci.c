/* src/virtio/pci.c — the modern virtio-pci transport: a PCI function on
 * bus 0 whose one 32-bit memory BAR holds the common, ISR, device and
 * notify structures and the MSI-X table; INTx on a GSI when MSI-X is off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libvmm/io.h>
#include <libvmm/irq.h>

#include "error.h"
#include "hw/pci.h"
#include "irq_internal.h"
#include "snapshot/stream.h"
#include "virtio/device.h"
#include "vm_internal.h"

#define BAR 0
#define BAR_SIZE 0x4000u
#define COMMON_OFF 0x0000u
#define COMMON_LEN 0x38u
#define MSIX_TABLE_OFF 0x0800u
#define MSIX_PBA_OFF 0x0c00u
#define ISR_OFF 0x1000u
#define DEVICE_OFF 0x2000u
#define NOTIFY_OFF 0x3000u
#define NOTIFY_MULT 4u
#define NO_VECTOR 0xffffu
#define NVEC (VMM__VIRTIO_MAX_QUEUES + 1)

/* Virtio PCI capability types. */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5
#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX 0x11
#define MSIX_ENABLE 0x8000u
#define MSIX_FMASK 0x4000u

/* Common configuration fields. */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_MSIX 0x10
#define C_NUMQ 0x12
#define C_STATUS 0x14
#define C_CFGGEN 0x15
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESC 0x20
#define C_Q_AVAIL 0x28
#define C_Q_USED 0x30

#define ENV_NO_IOEVENTFD "LIBVMM_VIRTIO_NO_IOEVENTFD"
#define ENV_NO_IRQFD "LIBVMM_VIRTIO_NO_IRQFD"

struct msix_entry {
  uint32_t addr_lo, addr_hi, data, ctrl;
};

/* A vector's irqfd and the MSI route behind it, as last programmed. */
struct msix_route {
  int fd;        /* -1: not set up yet */
  uint32_t gsi;  /* VMM__GSI_NEW: none */
  uint64_t addr;
  uint32_t data;
};

struct vmm__virtio_pci {
  struct vmm__pci_fn fn;
  struct vmm__virtio_dev *v;
  uint32_t gsi;
  bool irqchip, level;
  uint8_t isr;
  uint8_t msix_cap, cfg_cap;
  uint16_t nvec;
  uint16_t config_vector;
  uint16_t queue_vector[VMM__VIRTIO_MAX_QUEUES];
  struct msix_entry table[NVEC];
  uint64_t pending; /* PBA */
  bool use_ioeventfd;
  bool eventfd_assigned[VMM__VIRTIO_MAX_QUEUES];
  /* Messages go through irqfds bound to MSI routes where the backend has
   * them (the loop only writes an eventfd); else vmm_msi_send(). */
  bool use_irqfd;
  struct msix_route route[NVEC];
};

/* ---- interrupts ------------------------------------------------------- */

static bool msix_enabled(const struct vmm__virtio_pci *p) {
  return vmm__pci_get16(p->fn.cfg, p->msix_cap + 2u) & MSIX_ENABLE;
}

/*
 * The irqfd of vector `vec`, its route matching what the table holds now:
 * set up at the vector's first message, reprogrammed at the first message
 * after the driver changed the entry (routes are only read when a message
 * is sent, and both happen under the device lock). -1 when irqfds cannot
 * be had; the transport then keeps to vmm_msi_send().
 */
static int msix_irqfd(struct vmm__virtio_pci *p, uint16_t vec,
                      uint64_t addr, uint32_t data) {
  struct msix_route *r = &p->route[vec];
  if (r->fd >= 0 && r->addr == addr && r->data == data)
    return r->fd;
  if ((addr >> 20) != 0xfee)
    return -1; /* not a message KVM delivers: vmm_msi_send() says why */
  vmm_vm_t *vm = p->v->base.vm;
  if (vmm__msi_route_set(vm, &r->gsi, addr, data) < 0 ||
      (r->fd < 0 && vmm__irqfd_open(vm, r->gsi, &r->fd) < 0)) {
    p->use_irqfd = false;
    return -1;
  }
  r->addr = addr;
  r->data = data;
  return r->fd;
}

static void msix_fire(struct vmm__virtio_pci *p, uint16_t vec) {
  if (vec >= p->nvec)
    return; /* NO_VECTOR or out of range: the driver asked for nothing */
  bool fmask = vmm__pci_get16(p->fn.cfg, p->msix_cap + 2u) & MSIX_FMASK;
  const struct msix_entry *e = &p->table[vec];
  if (fmask || (e->ctrl & 1)) {
    p->pending |= 1ull << vec;
    return;
  }
  p->pending &= ~(1ull << vec);
  uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
  int fd = p->use_irqfd ? msix_irqfd(p, vec, addr, e->data) : -1;
  uint64_t one = 1;
  /* A full counter (EAGAIN) is a message already on its way. */
  if (fd >= 0 && (write(fd, &one, sizeof(one)) == sizeof(one) ||
                  errno == EAGAIN))
    return;
  vmm_msi_send(p->v->base.vm, addr, e->data);
}

/* Delivers what became deliverable (an unmask). */
static void msix_flush(struct vmm__virtio_pci *p) {
  for (uint16_t i = 0; i < p->nvec; i++)
    if (p->pending & (1ull << i))
      msix_fire(p, i);
}

static void set_line(struct vmm__virtio_pci *p) {
  bool disabled = vmm__pci_get16(p->fn.cfg, VMM__PCI_COMMAND) &
                  VMM__PCI_CMD_INTX_DISABLE;
  bool level = p->isr != 0 && !msix_enabled(p) && !disabled;
  if (!p->irqchip || level == p->level)
    return;
  if (vmm_irq_set(p->v->base.vm, p->gsi, level) == 0)
    p->level = level;
}

static void pci_interrupt_vq(struct vmm__virtio_dev *v, uint32_t why,
                             int q) {
  struct vmm__virtio_pci *p = v->pci;
  if (msix_enabled(p)) {
    if (why & VMM__VIRTIO_INT_CONFIG)
      msix_fire(p, p->config_vector);
    if (why & VMM__VIRTIO_INT_VRING) {
      if (q >= 0) {
        msix_fire(p, p->queue_vector[q]);
      } else { /* queue unknown: every queue's vector */
        for (uint16_t i = 0; i < v->ops->num_queues; i++)
          msix_fire(p, p->queue_vector[i]);
      }
    }
    return;
  }
  p->isr |= (uint8_t)why;
  set_line(p);
}

static void pci_interrupt(struct vmm__virtio_dev *v, uint32_t why) {
  pci_interrupt_vq(v, why, -1);
}

static void pci_queue_interrupt(struct vmm__virtio_dev *v, uint16_t q) {
  pci_interrupt_vq(v, VMM__VIRTIO_INT_VRING, q);
}

static void pci_reset(struct vmm__virtio_dev *v) {
  struct vmm__virtio_pci *p = v->pci;
  p->isr = 0;
  p->config_vector = NO_VECTOR;
  for (int i = 0; i < VMM__VIRTIO_MAX_QUEUES; i++)
    p->queue_vector[i] = NO_VECTOR;
  set_line(p);
}

/* ---- doorbells -------------------------------------------------------- */

static int doorbell_assign(struct vmm__virtio_pci *p, uint16_t q,
                           uint64_t bar_base, int assign) {
  vmm_vm_t *vm = p->v->base.vm;
  return vm->ops->ioeventfd(vm->bvm, p->v->queues[q].notify_fd, VMM_IO_MMIO,
                            bar_base + NOTIFY_OFF + NOTIFY_MULT * q, 2, 0, 0,
                            assign);
}

static void pci_destroy(struct vmm__virtio_dev *v) {
  struct vmm__virtio_pci *p = v->pci;
  if (!p)
    return;
  vmm_vm_t *vm = v->base.vm;
  if (vmm__handle_valid(vm, VMM__H_VM))
    vmm__pci_remove(vm, &p->fn); /* also drops the doorbells */
  for (uint16_t i = 0; i < NVEC; i++) {
    vmm__irqfd_close(vm, p->route[i].fd);
    vmm__msi_route_del(vm, p->route[i].gsi);
  }
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    if (v->queues[i].notify_fd >= 0)
      close(v->queues[i].notify_fd);
    v->queues[i].notify_fd = -1;
  }
  free(p);
  v->pci = NULL;
}

static void pci_save(struct vmm__virtio_dev *v, struct vmm__sw *w);
static int pci_load(struct vmm__virtio_dev *v, struct vmm__sr *r);

static const struct vmm__virtio_transport pci_transport = {
    .interrupt = pci_interrupt,
    .reset = pci_reset,
    .destroy = pci_destroy,
    .queue_interrupt = pci_queue_interrupt,
    .save = pci_save,
    .load = pci_load,
};

/* ---- the BAR ---------------------------------------------------------- */

static uint64_t common_read(struct vmm__virtio_pci *p, uint32_t off,
                            uint32_t size) {
  struct vmm__virtio_dev *v = p->v;
  struct vmm__virtio_queue *q = vmm__virtio_selected(v);
  uint8_t img[COMMON_LEN];
  memset(img, 0, sizeof(img));
  vmm__pci_set32(img, C_DFSELECT, v->device_features_sel);
  vmm__pci_set32(img, C_DF, vmm__virtio_get_device_features(v));
  vmm__pci_set32(img, C_GFSELECT, v->driver_features_sel);
  if (v->driver_features_sel < 2)
    vmm__pci_set32(img, C_GF, (uint32_t)(v->driver_features >>
                                         (32 * v->driver_features_sel)));
  vmm__pci_set16(img, C_MSIX, p->config_vector);
  vmm__pci_set16(img, C_NUMQ, v->ops->num_queues);
  img[C_STATUS] = (uint8_t)v->status;
  img[C_CFGGEN] = (uint8_t)v->config_generation;
  vmm__pci_set16(img, C_Q_SELECT, (uint16_t)v->queue_sel);
  if (q) {
    vmm__pci_set16(img, C_Q_SIZE, (uint16_t)q->num);
    vmm__pci_set16(img, C_Q_MSIX, p->queue_vector[q->index]);
    vmm__pci_set16(img, C_Q_ENABLE, q->vq.running);
    vmm__pci_set16(img, C_Q_NOFF, q->index);
    uint64_t a[3] = {q->vq.desc_gpa, q->vq.avail_gpa, q->vq.used_gpa};
    for (int i = 0; i < 3; i++) {
      vmm__pci_set32(img, C_Q_DESC + 8u * (unsigned)i, (uint32_t)a[i]);
      vmm__pci_set32(img, C_Q_DESC + 8u * (unsigned)i + 4,
                     (uint32_t)(a[i] >> 32));
    }
  }
  uint64_t val = 0;
  memcpy(&val, img + off, size);
  return val;
}

static void set_addr(uint64_t *addr, uint32_t off, uint32_t size,
                     uint64_t value) {
  if (size == 8) {
    *addr = value;
  } else if (off % 8 == 4) {
    *addr = (*addr & 0xffffffffull) | value << 32;
  } else {
    *addr = (*addr & ~0xffffffffull) | (uint32_t)value;
  }
}

static void common_write(struct vmm__virtio_pci *p, uint32_t off,
                         uint32_t size, uint64_t value) {
  struct vmm__virtio_dev *v = p->v;
  struct vmm__virtio_queue *q = vmm__virtio_selected(v);
  bool q_stopped = q && !q->vq.running;
  /* Fields take their natural width; the 64-bit addresses also two
   * 32-bit halves. Anything else is ignored. */
  static const uint8_t width[COMMON_LEN] = {
      [C_DFSELECT] = 4, [C_GFSELECT] = 4, [C_GF] = 4, [C_MSIX] = 2,
      [C_STATUS] = 1, [C_Q_SELECT] = 2, [C_Q_SIZE] = 2, [C_Q_MSIX] = 2,
      [C_Q_ENABLE] = 2, [C_Q_DESC] = 8, [C_Q_DESC + 4] = 4, [C_Q_AVAIL] = 8,
      [C_Q_AVAIL + 4] = 4, [C_Q_USED] = 8, [C_Q_USED + 4] = 4};
  bool ok = width[off] == size ||
            (off >= C_Q_DESC && off % 8 == 0 && size == 4);
  if (!ok)
    return;
  switch (off) {
  case C_DFSELECT:
    v->device_features_sel = (uint32_t)value;
    break;
  case C_GFSELECT:
    v->driver_features_sel = (uint32_t)value;
    break;
  case C_GF:
    vmm__virtio_set_driver_features(v, (uint32_t)value);
    break;
  case C_MSIX:
    p->config_vector = (uint16_t)value < p->nvec ? (uint16_t)value
                                                  : NO_VECTOR;
    break;
  case C_STATUS:
    vmm__virtio_set_status(v, (uint32_t)value);
    break;
  case C_Q_SELECT:
    v->queue_sel = (uint32_t)value;
    break;
  case C_Q_SIZE:
    if (q_stopped)
      q->num = (uint32_t)value;
    break;
  case C_Q_MSIX:
    if (q)
      p->queue_vector[q->index] = (uint16_t)value < p->nvec ? (uint16_t)value
                                                             : NO_VECTOR;
    break;
  case C_Q_ENABLE:
    /* 0 is not for the driver to write (queue reset is not offered). */
    if (value == 1)
      vmm__virtio_set_queue_ready(v, 1);
    break;
  default:
    if (!q_stopped)
      break;
    if (off >= C_Q_USED)
      set_addr(&q->vq.used_gpa, off, size, value);
    else if (off >= C_Q_AVAIL)
      set_addr(&q->vq.avail_gpa, off, size, value);
    else if (off >= C_Q_DESC)
      set_addr(&q->vq.desc_gpa, off, size, value);
    break;
  }
}

static void msix_access(struct vmm__virtio_pci *p, uint32_t off,
                        uint8_t *data, uint32_t size, int is_write) {
  uint32_t limit = p->nvec * 16u;
  /* Entries take aligned 32-bit (or 64-bit) accesses; others are
   * ignored, reads of them float high. */
  if ((size != 4 && size != 8) || off % size || off + size > limit) {
    if (!is_write)
      memset(data, 0xff, size);
    return;
  }
  for (uint32_t d = 0; d < size; d += 4) {
    uint32_t o = off + d;
    struct msix_entry *e = &p->table[o / 16];
    uint32_t *f = &e->addr_lo + (o % 16) / 4;
    if (!is_write) {
      memcpy(data + d, f, 4);
      continue;
    }
    uint32_t value;
    memcpy(&value, data + d, 4);
    if (f == &e->ctrl)
      value &= 1; /* only the mask bit is writable */
    *f = value;
    if (f == &e->ctrl && !value)
      msix_flush(p);
  }
}

/* One access to the BAR at `off` (the device lock and the VM lock for
 * reading are held). */
static void bar_access(struct vmm__virtio_pci *p, uint32_t off,
                       uint8_t *data, uint32_t size, int is_write) {
  struct vmm__virtio_dev *v = p->v;
  uint64_t value = 0;
  if (is_write)
    memcpy(&value, data, size);
  if (off + size <= COMMON_OFF + COMMON_LEN) {
    if (is_write) {
      common_write(p, off - COMMON_OFF, size, value);
    } else {
      value = common_read(p, off - COMMON_OFF, size);
      memcpy(data, &value, size);
    }
  } else if (off >= MSIX_TABLE_OFF && off < MSIX_PBA_OFF) {
    msix_access(p, off - MSIX_TABLE_OFF, data, size, is_write);
  } else if (off >= MSIX_PBA_OFF && off + size <= MSIX_PBA_OFF + 8) {
    if (!is_write) {
      value = p->pending >> (8 * (off - MSIX_PBA_OFF));
      memcpy(data, &value, size);
    }
  } else if (off == ISR_OFF) {
    if (!is_write) {
      /* Reading acknowledges: the bits clear, the line drops. */
      memset(data, 0, size);
      data[0] = p->isr;
      p->isr = 0;
      set_line(p);
    }
  } else if (off >= DEVICE_OFF && off < NOTIFY_OFF) {
    uint32_t coff = off - DEVICE_OFF, csize = v->ops->config_size;
    if (size > csize || coff > csize - size) {
      if (!is_write)
        memset(data, 0xff, size);
    } else if (!is_write) {
      v->ops->config_read(v, coff, data, size);
    } else if (v->ops->config_write) {
      v->ops->config_write(v, coff, data, size);
    }
  } else if (off >= NOTIFY_OFF) {
    /* Reached only where no ioeventfd caught the write. */
    uint32_t q = (off - NOTIFY_OFF) / NOTIFY_MULT;
    if (is_write && q < v->ops->num_queues)
      vmm__virtio_kick(v, (uint16_t)q);
    else if (!is_write)
      memset(data, 0, size);
  } else if (!is_write) {
    memset(data, 0xff, size);
  }
}

static int mmio_access(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                       uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct vmm__virtio_pci *p = opaque;
  struct vmm__virtio_dev *v = p->v;
  vmm_vm_t *vm = v->base.vm;
  if (size == 0 || size > 8)
    return 0;
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  /* The BAR is naturally aligned, so the offset is the low bits (no need
   * to read the mapping, which another vCPU may be moving). */
  uint64_t off = addr & (BAR_SIZE - 1);
  if (size <= BAR_SIZE - off)
    bar_access(p, (uint32_t)off, data, size, is_write);
  else if (!is_write)
    memset(data, 0xff, size);
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}

/* The PCI bus moves the BAR: the handler and the doorbells follow. */
static int bar_map(struct vmm__pci_fn *fn, int bar, uint64_t addr, bool map) {
  struct vmm__virtio_pci *p = fn->opaque;
  struct vmm__virtio_dev *v = p->v;
  vmm_vm_t *vm = v->base.vm;
  if (bar != BAR)
    return VMM_EINVAL;
  if (!map) {
    for (uint16_t i = 0; i < v->ops->num_queues; i++) {
      if (p->eventfd_assigned[i])
        doorbell_assign(p, i, addr, 0);
      p->eventfd_assigned[i] = false;
    }
    vmm_io_unregister(vm, VMM_IO_MMIO, addr);
    return 0;
  }
  /* Guest RAM there: refused (the RAM wins; the device is not mapped). */
  pthread_rwlock_rdlock(&vm->lock);
  bool ram = false;
  for (size_t i = 0; i < vm->mem.count && !ram; i++) {
    const struct vmm__memslot *s = vm->mem.slots[i];
    ram = s->gpa < addr + BAR_SIZE && addr < s->gpa + s->size;
  }
  pthread_rwlock_unlock(&vm->lock);
  if (ram)
    return VMM_EOVERLAP;
  int rc = vmm_io_register(vm, VMM_IO_MMIO, addr, BAR_SIZE, mmio_access, p);
  if (rc < 0)
    return rc;
  vmm__io_attribute(vm, VMM_IO_MMIO, p, &v->base); /* count as the device's */
  if (p->use_ioeventfd)
    for (uint16_t i = 0; i < v->ops->num_queues; i++)
      p->eventfd_assigned[i] = doorbell_assign(p, i, addr, 1) == 0;
  return 0;
}

/* PCI_CFG capability: a window into the BAR through configuration space. */
static void cfg_window(struct vmm__virtio_pci *p, uint32_t off, uint32_t len,
                       int is_write) {
  uint32_t data_off = p->cfg_cap + 16u;
  if (off + len <= data_off || off >= data_off + 4)
    return;
  uint8_t *c = p->fn.cfg + p->cfg_cap;
  uint32_t boff = vmm__pci_get32(c, 8), blen = vmm__pci_get32(c, 12);
  if (c[4] != BAR || (blen != 1 && blen != 2 && blen != 4) ||
      boff % blen || boff >= BAR_SIZE || blen > BAR_SIZE - boff)
    return;
  struct vmm__virtio_dev *v = p->v;
  pthread_rwlock_rdlock(&v->base.vm->lock);
  pthread_mutex_lock(&v->lock);
  bar_access(p, boff, c + 16, blen, is_write);
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&v->base.vm->lock);
}

static void hook_read(struct vmm__pci_fn *fn, uint32_t off, uint32_t len) {
  cfg_window(fn->opaque, off, len, 0);
}

static void hook_write(struct vmm__pci_fn *fn, uint32_t off, uint32_t len) {
  struct vmm__virtio_pci *p = fn->opaque;
  cfg_window(p, off, len, 1);
  uint32_t ctrl = p->msix_cap + 2u;
  if (off < ctrl + 2 && off + len > ctrl) {
    /* MSI-X enabled or unmasked as a whole: INTx off, pending out. */
    struct vmm__virtio_dev *v = p->v;
    pthread_rwlock_rdlock(&v->base.vm->lock);
    pthread_mutex_lock(&v->lock);
    set_line(p);
    if (msix_enabled(p))
      msix_flush(p);
    pthread_mutex_unlock(&v->lock);
    pthread_rwlock_unlock(&v->base.vm->lock);
  }
}

static void vendor_cap(struct vmm__pci_fn *fn, uint8_t type, uint32_t off,
                       uint32_t len, uint8_t caplen) {
  uint8_t at = vmm__pci_cap_add(fn, PCI_CAP_VENDOR, caplen);
  fn->cfg[at + 2] = caplen;
  fn->cfg[at + 3] = type;
  fn->cfg[at + 4] = BAR;
  vmm__pci_set32(fn->cfg, at + 8u, off);
  vmm__pci_set32(fn->cfg, at + 12u, len);
  if (type == CAP_NOTIFY)
    vmm__pci_set32(fn->cfg, at + 16u, NOTIFY_MULT);
}

int vmm__virtio_pci_init(struct vmm__virtio_dev *v,
                         const vmm_virtio_config_t *cfg) {
  vmm_vm_t *vm = v->base.vm;
  struct vmm__virtio_pci *p = calloc(1, sizeof(*p));
  if (!p)
    return vmm__error(VMM_ENOMEM, "out of memory");
  int rc;
  uint32_t gsi;
  /* A bad slot fails before a line is handed out. */
  if (cfg->pci_slot >= 32) {
    free(p);
    return vmm__error(VMM_ERANGE, "PCI slot %u is not from 1 to 31",
                      cfg->pci_slot);
  }
  if ((rc = vmm__gsi_alloc(vm, &gsi)) < 0) {
    free(p);
    return rc;
  }
  p->v = v;
  p->gsi = gsi;
  p->irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;
  p->nvec = (uint16_t)(v->ops->num_queues + 1);
  for (uint16_t i = 0; i < p->nvec; i++)
    p->table[i].ctrl = 1; /* masked at reset */
  for (uint16_t i = 0; i < NVEC; i++)
    p->route[i] = (struct msix_route){.fd = -1, .gsi = VMM__GSI_NEW};
  const char *no_irqfd = getenv(ENV_NO_IRQFD);
  p->use_irqfd = !(no_irqfd && no_irqfd[0] && strcmp(no_irqfd, "0") != 0) &&
                 p->irqchip && vm->ops->msi_route_set && vm->ops->irqfd &&
                 (vm->caps & VMM_CAP_IRQFD);
  const char *knob = getenv(ENV_NO_IOEVENTFD);
  p->use_ioeventfd = !(knob && knob[0] && strcmp(knob, "0") != 0) &&
                     vm->ops->ioeventfd && (vm->caps & VMM_CAP_IOEVENTFD);
  v->pci = p;
  v->transport = &pci_transport;
  pci_reset(v);
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    v->queues[i].ioeventfd = false; /* ours: deassigned, then closed */
    v->queues[i].notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (v->queues[i].notify_fd < 0) {
      rc = vmm__error(VMM_EIO, "eventfd: %s", strerror(errno));
      goto fail;
    }
  }

  struct vmm__pci_fn *fn = &p->fn;
  fn->opaque = p;
  fn->bar_map = bar_map;
  fn->cfg_read = hook_read;
  fn->cfg_write = hook_write;
  fn->bar_size[BAR] = BAR_SIZE;
  uint8_t *c = fn->cfg;
  vmm__pci_set16(c, VMM__PCI_VENDOR_ID, 0x1af4);
  vmm__pci_set16(c, VMM__PCI_DEVICE_ID, (uint16_t)(0x1040 + v->ops->device_id));
  c[VMM__PCI_REVISION] = 1;
  /* Class: what the device is, where PCI has a code for it. */
  uint8_t cls = 0xff, sub = 0x00;
  switch (v->ops->device_id) {
  case 1: cls = 0x02; break;             /* network */
  case 2: cls = 0x01; sub = 0x80; break; /* storage, other */
  case 3: cls = 0x07; sub = 0x80; break; /* communication, other */
  default: break;
  }
  c[VMM__PCI_CLASS_PROG + 1] = sub;
  c[VMM__PCI_CLASS_PROG + 2] = cls;
  vmm__pci_set16(c, VMM__PCI_SUBSYS_VENDOR, 0x1af4);
  vmm__pci_set16(c, VMM__PCI_SUBSYS_ID, 0x1100);
  c[VMM__PCI_INT_PIN] = 1; /* INTA# */
  c[VMM__PCI_INT_LINE] = (uint8_t)gsi;
  fn->wmask[VMM__PCI_INT_LINE] = 0xff;

  vendor_cap(fn, CAP_COMMON, COMMON_OFF, COMMON_LEN, 16);
  vendor_cap(fn, CAP_NOTIFY, NOTIFY_OFF, NOTIFY_MULT * v->ops->num_queues, 20);
  vendor_cap(fn, CAP_ISR, ISR_OFF, 1, 16);
  if (v->ops->config_size)
    vendor_cap(fn, CAP_DEVICE, DEVICE_OFF, v->ops->config_size, 16);
  p->cfg_cap = vmm__pci_cap_add(fn, PCI_CAP_VENDOR, 20);
  c[p->cfg_cap + 2] = 20;
  c[p->cfg_cap + 3] = CAP_PCI_CFG;
  /* bar, offset, length and data are the driver's to write. */
  fn->wmask[p->cfg_cap + 4] = 0xff;
  memset(fn->wmask + p->cfg_cap + 8, 0xff, 12);
  p->msix_cap = vmm__pci_cap_add(fn, PCI_CAP_MSIX, 12);
  vmm__pci_set16(c, p->msix_cap + 2u, (uint16_t)(p->nvec - 1));
  vmm__pci_set32(c, p->msix_cap + 4u, MSIX_TABLE_OFF | BAR);
  vmm__pci_set32(c, p->msix_cap + 8u, MSIX_PBA_OFF | BAR);
  fn->wmask[p->msix_cap + 3] = (MSIX_ENABLE | MSIX_FMASK) >> 8;

  rc = vmm__pci_add(vm, fn, cfg->pci_slot);
  if (rc < 0)
    goto fail;
  return 0;
fail:
  pci_destroy(v);
  v->transport = NULL;
  return rc;
}

int vmm_virtio_pci_devfn(const vmm_device_t *dev) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE) ||
      dev->ops->destroy != vmm__virtio_destroy)
    return VMM_EINVAL;
  const struct vmm__virtio_dev *v = (const struct vmm__virtio_dev *)dev;
  return v->transport == &pci_transport ? v->pci->fn.devfn : VMM_EINVAL;
}

/* ---- saved state -------------------------------------------------------- */

/* The function's configuration space and BAR, the ISR, the vectors, the
 * MSI-X table and pending bits. The irqfds and MSI routes behind the
 * vectors are set up again at each vector's next message. */
static void pci_save(struct vmm__virtio_dev *v, struct vmm__sw *w) {
  struct vmm__virtio_pci *p = v->pci;
  vmm__pci_fn_save(v->base.vm, &p->fn, w);
  vmm__sw_u8(w, p->isr);
  vmm__sw_u16(w, p->nvec);
  vmm__sw_u16(w, p->config_vector);
  for (uint16_t i = 0; i < VMM__VIRTIO_MAX_QUEUES; i++)
    vmm__sw_u16(w, p->queue_vector[i]);
  for (uint16_t i = 0; i < p->nvec; i++) {
    vmm__sw_u32(w, p->table[i].addr_lo);
    vmm__sw_u32(w, p->table[i].addr_hi);
    vmm__sw_u32(w, p->table[i].data);
    vmm__sw_u32(w, p->table[i].ctrl);
  }
  vmm__sw_u64(w, p->pending);
}

static int pci_load(struct vmm__virtio_dev *v, struct vmm__sr *r) {
  struct vmm__virtio_pci *p = v->pci;
  vmm_vm_t *vm = v->base.vm;
  /* The configuration space first, without the device lock: moving the
   * BAR takes the VM lock for writing. */
  int rc = vmm__pci_fn_load(vm, &p->fn, r);
  if (rc < 0)
    return vmm__sr_error(r) ? vmm__sr_finish(r) : rc;
  uint8_t isr = vmm__sr_u8(r);
  uint16_t nvec = vmm__sr_u16(r), config_vector = vmm__sr_u16(r);
  uint16_t qv[VMM__VIRTIO_MAX_QUEUES];
  struct msix_entry table[NVEC];
  for (uint16_t i = 0; i < VMM__VIRTIO_MAX_QUEUES; i++)
    qv[i] = vmm__sr_u16(r);
  if (nvec != p->nvec)
    vmm__sr_fail(r, "%u MSI-X vectors saved, the device has %u", nvec,
                 p->nvec);
  for (uint16_t i = 0; i < p->nvec && !vmm__sr_error(r); i++) {
    table[i].addr_lo = vmm__sr_u32(r);
    table[i].addr_hi = vmm__sr_u32(r);
    table[i].data = vmm__sr_u32(r);
    table[i].ctrl = vmm__sr_u32(r);
    if (table[i].ctrl & ~1u)
      vmm__sr_fail(r, "MSI-X entry %u control 0x%x", i, table[i].ctrl);
  }
  uint64_t pending = vmm__sr_u64(r);
  if (isr & ~(VMM__VIRTIO_INT_VRING | VMM__VIRTIO_INT_CONFIG))
    vmm__sr_fail(r, "ISR 0x%x has unknown bits", isr);
  if (config_vector != NO_VECTOR && config_vector >= p->nvec)
    vmm__sr_fail(r, "configuration vector %u of %u", config_vector, p->nvec);
  for (uint16_t i = 0; i < VMM__VIRTIO_MAX_QUEUES; i++)
    if (qv[i] != NO_VECTOR && (qv[i] >= p->nvec || i >= v->ops->num_queues))
      vmm__sr_fail(r, "queue %u vector %u of %u", i, qv[i], p->nvec);
  if (pending >> p->nvec)
    vmm__sr_fail(r, "pending bits 0x%llx beyond %u vectors",
                 (unsigned long long)pending, p->nvec);
  if ((rc = vmm__sr_finish(r)) < 0)
    return rc;
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  p->isr = isr;
  p->config_vector = config_vector;
  memcpy(p->queue_vector, qv, sizeof(qv));
  memcpy(p->table, table, p->nvec * sizeof(table[0]));
  p->pending = pending;
  set_line(p);
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}
