/* src/virtio/console.c — virtio-console (device id 3): one port, receiveq 0
 * and transmitq 1, over a character back-end. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "virtio/device.h"
#include "vm_internal.h"

#define VIRTIO_ID_CONSOLE 3
#define CONSOLE_RXQ 0 /* receiveq: host → guest */
#define CONSOLE_TXQ 1 /* transmitq: guest → host */
/* struct virtio_console_config: cols, rows (u16), max_nr_ports (u32).
 * Without VIRTIO_CONSOLE_F_SIZE / _MULTIPORT the fields only say "0". */
#define CONSOLE_CONFIG_SIZE 8
/* Guest output taken in one pass, and from one chain (a longer chain is
 * cut: consoles write a page at a time). */
#define TX_BATCH 65536u

struct virtio_console {
  struct vmm__virtio_dev vdev; /* first */
  vmm_chardev_t *chr;          /* NULL: output dropped, no input */
  bool attached;               /* chr calls console_input() */
  struct vmm__virtq_elem rx_elem, tx_elem;
  /* Bumped by each reset (locked): staged chains of an older generation
   * are not given back. */
  uint64_t generation;
  /* Loop thread only: output taken from the transmitq and the chains it
   * came from, handed to the back-end without the device lock and then
   * given back to the driver. */
  uint8_t *tx_buf;
  size_t tx_len;
  uint16_t *tx_heads;
  uint32_t tx_count;
  uint64_t tx_generation;
  bool want_input; /* the receiveq got buffers: offer input again */
};

static void console_config_read(struct vmm__virtio_dev *v, uint32_t off,
                                void *buf, uint32_t len) {
  (void)v;
  uint8_t config[CONSOLE_CONFIG_SIZE] = {0}; /* cols 0, rows 0, ports 0 */
  memcpy(buf, config + off, len);
}

/* Locked: stage what the transmitq holds (up to TX_BATCH bytes). */
static void console_tx(struct virtio_console *c) {
  struct vmm__virtio_dev *v = &c->vdev;
  struct vmm__virtq *vq = &v->queues[CONSOLE_TXQ].vq;
  if (c->tx_count)
    return; /* the previous batch is not given back yet */
  c->tx_len = 0;
  c->tx_generation = c->generation;
  vmm__virtq_set_notify(vq, false);
  for (;;) {
    while (c->tx_len < TX_BATCH && c->tx_count < vq->size &&
           vmm__virtio_pop(v, CONSOLE_TXQ, &c->tx_elem) > 0) {
      if (c->tx_elem.in_num) {
        vmm__virtio_fail(v, "transmitq: chain %u has a device-writable "
                         "buffer; output is only read from device-readable "
                         "ones", c->tx_elem.head);
        c->tx_count = 0;
        return;
      }
      c->tx_len += vmm__virtq_elem_read(&c->tx_elem, 0, c->tx_buf + c->tx_len,
                                        TX_BATCH);
      c->tx_heads[c->tx_count++] = c->tx_elem.head;
    }
    if (atomic_load(&v->base.failed)) {
      c->tx_count = 0;
      return;
    }
    if (c->tx_len >= TX_BATCH || c->tx_count >= vq->size) {
      /* More may wait: come back after this batch is out. */
      vmm__virtq_set_notify(vq, true);
      vmm__virtio_kick(v, CONSOLE_TXQ);
      return;
    }
    vmm__virtq_set_notify(vq, true);
    if (!vmm__virtq_has_avail(vq))
      return;
    vmm__virtq_set_notify(vq, false);
  }
}

static void console_queue_notify(struct vmm__virtio_dev *v, uint16_t q) {
  struct virtio_console *c = (struct virtio_console *)v;
  if (q == CONSOLE_RXQ)
    c->want_input = true; /* buffers are taken when input arrives */
  else if (q == CONSOLE_TXQ)
    console_tx(c);
}

/* Loop thread, no lock: output to the back-end, then the chains back. */
static void console_unlocked(struct vmm__virtio_dev *v) {
  struct virtio_console *c = (struct virtio_console *)v;
  if (c->tx_count) {
    if (c->chr && c->tx_len)
      vmm__chardev_write(c->chr, c->tx_buf, c->tx_len);
    if (vmm__virtio_lock_queue(v, CONSOLE_TXQ)) {
      if (c->tx_generation == c->generation) {
        for (uint32_t i = 0; i < c->tx_count; i++) {
          struct vmm__virtq_elem done = {.head = c->tx_heads[i]};
          vmm__virtio_push(v, CONSOLE_TXQ, &done, 0);
        }
        vmm__virtio_notify_used(v, CONSOLE_TXQ);
      }
      vmm__virtio_unlock(v);
    }
    c->tx_count = 0;
    c->tx_len = 0;
  }
  if (c->want_input) {
    c->want_input = false;
    if (c->chr)
      vmm__chardev_input_ready(c->chr);
  }
}

/* Input from the back-end (loop thread or a vmm_chardev_buffer_write()
 * caller): as much as the receiveq has room for. */
static size_t console_input(void *opaque, const uint8_t *data, size_t len) {
  struct virtio_console *c = opaque;
  struct vmm__virtio_dev *v = &c->vdev;
  if (!len || !vmm__virtio_lock_queue(v, CONSOLE_RXQ))
    return 0;
  size_t taken = 0;
  bool pushed = false;
  while (taken < len && vmm__virtio_pop(v, CONSOLE_RXQ, &c->rx_elem) > 0) {
    if (c->rx_elem.out_num) {
      vmm__virtio_fail(v, "receiveq: chain %u has a device-readable buffer; "
                       "input only goes into device-writable ones",
                       c->rx_elem.head);
      break;
    }
    size_t n = vmm__virtq_elem_write(&c->rx_elem, 0, data + taken,
                                     len - taken);
    vmm__virtio_push(v, CONSOLE_RXQ, &c->rx_elem, (uint32_t)n);
    pushed = true;
    taken += n;
  }
  if (pushed)
    vmm__virtio_notify_used(v, CONSOLE_RXQ);
  vmm__virtio_unlock(v);
  return taken;
}

static void console_reset(struct vmm__virtio_dev *v) {
  ((struct virtio_console *)v)->generation++;
}

static void console_destroy(struct vmm__virtio_dev *v) {
  struct virtio_console *c = (struct virtio_console *)v;
  /* Returns once an input call in flight is over. */
  if (c->attached)
    vmm__chardev_detach(c->chr);
  vmm__virtq_elem_free(&c->rx_elem);
  vmm__virtq_elem_free(&c->tx_elem);
  free(c->tx_buf);
  free(c->tx_heads);
}

static void console_describe(const vmm_device_t *dev,
                             struct vmm__device_desc *d) {
  d->chardev = ((const struct virtio_console *)dev)->chr;
}

static const struct vmm__virtio_ops console_ops = {
    /* Output is staged and given back within one loop callback and input
     * is taken into the ring at once: between callbacks the common virtio
     * part is all its state (a load kicks the receiveq, which offers the
     * back-end's input again). */
    .base = {.type = "virtio-console", .destroy = vmm__virtio_destroy,
             .describe = console_describe, .save = vmm__virtio_save,
             .load = vmm__virtio_load},
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .features = 0,
    .config_size = CONSOLE_CONFIG_SIZE,
    .queue_names = {"receiveq", "transmitq"},
    .config_read = console_config_read,
    .queue_notify = console_queue_notify,
    .unlocked = console_unlocked,
    .reset = console_reset,
    .destroy = console_destroy,
};

int vmm_virtio_console_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                              vmm_chardev_t *chardev, vmm_device_t **out) {
  static const char fn[] = "vmm_virtio_console_create";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  if (chardev && !vmm__handle_valid(chardev, VMM__H_CHARDEV))
    return vmm__error(VMM_EBADF, "%s: not a live character back-end", fn);
  if (chardev && vmm__chardev_vm(chardev) != vm)
    return vmm__error(VMM_EINVAL, "%s: the character back-end belongs to "
                      "another VM", fn);
  struct virtio_console *c = calloc(1, sizeof(*c));
  if (c) {
    /* A chain may bring up to TX_BATCH bytes on top of a nearly full
     * batch; one head per queue entry at most. */
    c->tx_buf = malloc(2 * TX_BATCH);
    c->tx_heads = calloc(VMM__VIRTQ_MAX_SIZE, sizeof(*c->tx_heads));
  }
  if (!c || !c->tx_buf || !c->tx_heads) {
    if (c)
      console_destroy(&c->vdev);
    free(c);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  c->chr = chardev;
  int rc = vmm__virtio_init(&c->vdev, vm, &console_ops, config);
  if (rc < 0) {
    console_destroy(&c->vdev);
    free(c);
    return vmm__error_prefix(rc, fn);
  }
  /* The device is the VM's now (freed with it): if the back-end refuses,
   * the device stays out of service and the caller gets the error. */
  if (chardev) {
    rc = vmm__chardev_attach(chardev, console_input, c);
    c->attached = rc == 0;
    if (rc < 0) {
      pthread_mutex_lock(&c->vdev.lock);
      vmm__virtio_fail(&c->vdev, "character back-end: %s",
                       vmm_last_error());
      pthread_mutex_unlock(&c->vdev.lock);
      return vmm__error_prefix(rc, fn);
    }
  }
  *out = &c->vdev.base;
  return 0;
}
