/* src/virtio/rng.c — virtio-rng (device id 4): fills the driver's
 * device-writable buffers with the host's getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "error.h"
#include "virtio/device.h"

#define VIRTIO_ID_RNG 4
#define RNG_REQUESTQ 0
/* Bytes given per chain: a driver asking for more gets a short write,
 * which the protocol allows; the loop thread never stalls on one chain. */
#define RNG_MAX_PER_CHAIN 65536u

struct virtio_rng {
  struct vmm__virtio_dev vdev; /* first */
  struct vmm__virtq_elem elem;
};

/* Fills up to `len` bytes; returns how many. */
static size_t fill_random(void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = getrandom((uint8_t *)buf + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    done += (size_t)n;
  }
  return done;
}

static void rng_queue_notify(struct vmm__virtio_dev *v, uint16_t qi) {
  struct virtio_rng *r = (struct virtio_rng *)v;
  struct vmm__virtq *vq = &v->queues[qi].vq;
  if (qi != RNG_REQUESTQ)
    return;
  /* One pass serves at most a queue's worth; then the loop serves others
   * and comes back through the doorbell. */
  unsigned budget = vq->size;
  bool pushed = false;
  for (;;) {
    vmm__virtq_set_notify(vq, false);
    int rc = 0;
    while (budget && (rc = vmm__virtio_pop(v, qi, &r->elem)) > 0) {
      budget--;
      if (r->elem.out_num) {
        vmm__virtio_fail(v, "requestq: chain %u has a device-readable "
                         "buffer; entropy only goes into device-writable "
                         "ones", r->elem.head);
        return;
      }
      uint32_t written = 0;
      for (uint32_t i = 0; i < r->elem.in_num && written < RNG_MAX_PER_CHAIN;
           i++) {
        struct iovec *iov = &r->elem.iov[i];
        size_t want = iov->iov_len;
        if (want > RNG_MAX_PER_CHAIN - written)
          want = RNG_MAX_PER_CHAIN - written;
        size_t got = fill_random(iov->iov_base, want);
        written += (uint32_t)got;
        if (got < want)
          break;
      }
      vmm__virtio_push(v, qi, &r->elem, written);
      pushed = true;
    }
    if (rc < 0)
      return; /* the device failed */
    vmm__virtq_set_notify(vq, true);
    if (!vmm__virtq_has_avail(vq))
      break;
    if (!budget) {
      vmm__virtio_kick(v, qi);
      break;
    }
  }
  if (pushed)
    vmm__virtio_notify_used(v, qi);
}

static void rng_destroy(struct vmm__virtio_dev *v) {
  vmm__virtq_elem_free(&((struct virtio_rng *)v)->elem);
}

static const struct vmm__virtio_ops rng_ops = {
    /* Chains are served within one loop callback: the common virtio
     * part is all its state. */
    .base = {.type = "virtio-rng", .destroy = vmm__virtio_destroy,
             .save = vmm__virtio_save, .load = vmm__virtio_load},
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .features = 0,
    .config_size = 0,
    .queue_names = {"requestq"},
    .queue_notify = rng_queue_notify,
    .destroy = rng_destroy,
};

int vmm_virtio_rng_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          vmm_device_t **out) {
  if (!out)
    return vmm__error(VMM_EINVAL, "vmm_virtio_rng_create: out is NULL");
  struct virtio_rng *r = calloc(1, sizeof(*r));
  if (!r)
    return vmm__error(VMM_ENOMEM, "vmm_virtio_rng_create: out of memory");
  int rc = vmm__virtio_init(&r->vdev, vm, &rng_ops, config);
  if (rc < 0) {
    free(r);
    return vmm__error_prefix(rc, "vmm_virtio_rng_create");
  }
  *out = &r->vdev.base;
  return 0;
}
