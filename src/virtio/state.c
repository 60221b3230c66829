/* src/virtio/state.c — saved state of a virtio device: status, features,
 * selectors and every queue with its layout and indices, then the
 * transport's and the device type's parts. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "snapshot/stream.h"
#include "virtio/device.h"
#include "vm_internal.h"

int vmm__virtio_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct vmm__virtio_dev *v = (struct vmm__virtio_dev *)dev;
  vmm_vm_t *vm = v->base.vm;
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  vmm__sw_u32(w, v->status);
  vmm__sw_u64(w, v->device_features);
  vmm__sw_u64(w, v->driver_features);
  vmm__sw_u32(w, v->device_features_sel);
  vmm__sw_u32(w, v->driver_features_sel);
  vmm__sw_u32(w, v->queue_sel);
  vmm__sw_u32(w, v->config_generation);
  vmm__sw_u16(w, v->queue_size_max);
  vmm__sw_u16(w, v->ops->num_queues);
  for (uint16_t i = 0; i < v->ops->num_queues; i++) {
    const struct vmm__virtio_queue *q = &v->queues[i];
    const struct vmm__virtq *vq = &q->vq;
    vmm__sw_u32(w, q->num);
    vmm__sw_u16(w, vq->size);
    vmm__sw_u64(w, vq->desc_gpa);
    vmm__sw_u64(w, vq->avail_gpa);
    vmm__sw_u64(w, vq->used_gpa);
    vmm__sw_bool(w, vq->indirect);
    vmm__sw_bool(w, vq->event_idx);
    vmm__sw_bool(w, vq->running);
    vmm__sw_bool(w, vq->broken);
    vmm__sw_bool(w, vq->notify_wanted);
    vmm__sw_u16(w, vq->last_avail);
    vmm__sw_u16(w, vq->used_idx);
    vmm__sw_u16(w, vq->signalled_used);
    vmm__sw_bool(w, vq->signalled_valid);
    vmm__sw_str(w, vq->broken ? vq->error : "");
  }
  size_t mark = vmm__sw_begin(w, "transport", 1);
  v->transport->save(v, w);
  vmm__sw_end(w, mark);
  mark = vmm__sw_begin(w, "type", 1);
  if (v->ops->save)
    v->ops->save(v, w);
  vmm__sw_end(w, mark);
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  return 0;
}

struct saved_queue {
  uint32_t num;
  struct vmm__virtq vq;
};

/* Checks one saved queue against the device; false (and the reader's
 * error) when it cannot be this device's. */
static bool queue_check(struct vmm__virtio_dev *v, uint16_t i,
                        struct saved_queue *s, struct vmm__sr *r) {
  const struct vmm__virtq *vq = &s->vq;
  bool indirect = (v->driver_features >> VMM__VIRTIO_F_INDIRECT_DESC) & 1;
  bool event_idx = (v->driver_features >> VMM__VIRTIO_F_EVENT_IDX) & 1;
  if (vq->broken && !vq->running)
    return vmm__sr_fail(r, "queue %u is broken but not running", i);
  if (!vq->running)
    return true;
  if (!(v->status & VMM__VIRTIO_S_FEATURES_OK))
    return vmm__sr_fail(r, "queue %u runs before FEATURES_OK", i);
  if (vq->size == 0 || vq->size > v->queue_size_max ||
      (vq->size & (vq->size - 1)) || s->num != vq->size)
    return vmm__sr_fail(r, "queue %u has size %u (QueueNum %u, at most %u)",
                        i, vq->size, s->num, v->queue_size_max);
  if (vq->indirect != indirect || vq->event_idx != event_idx)
    return vmm__sr_fail(r, "queue %u ring features disagree with the "
                        "driver's features", i);
  return true;
}

int vmm__virtio_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct vmm__virtio_dev *v = (struct vmm__virtio_dev *)dev;
  vmm_vm_t *vm = v->base.vm;
  uint32_t status = vmm__sr_u32(r);
  uint64_t dev_features = vmm__sr_u64(r), drv_features = vmm__sr_u64(r);
  uint32_t dsel = vmm__sr_u32(r), gsel = vmm__sr_u32(r);
  uint32_t qsel = vmm__sr_u32(r), cfg_gen = vmm__sr_u32(r);
  uint16_t qmax = vmm__sr_u16(r), nq = vmm__sr_u16(r);
  if (!vmm__sr_error(r)) {
    if (dev_features != v->device_features)
      vmm__sr_fail(r, "device features 0x%llx saved, this device offers "
                   "0x%llx", (unsigned long long)dev_features,
                   (unsigned long long)v->device_features);
    else if (qmax != v->queue_size_max || nq != v->ops->num_queues)
      vmm__sr_fail(r, "%u queues of at most %u saved, this device has %u "
                   "of at most %u", nq, qmax, v->ops->num_queues,
                   v->queue_size_max);
    else if (status & ~0xffu)
      vmm__sr_fail(r, "status 0x%x", status);
    else if ((status & VMM__VIRTIO_S_FEATURES_OK) &&
             (drv_features & ~dev_features))
      vmm__sr_fail(r, "driver features 0x%llx beyond the device's",
                   (unsigned long long)drv_features);
  }
  if (vmm__sr_error(r))
    return vmm__sr_finish(r);

  struct saved_queue qs[VMM__VIRTIO_MAX_QUEUES];
  char errors[VMM__VIRTIO_MAX_QUEUES][sizeof(qs[0].vq.error)];
  memset(qs, 0, sizeof(qs));
  /* The checks read the driver's features from the device: set the
   * common part's scalars first (nothing runs meanwhile). */
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  v->driver_features = drv_features;
  v->status = status;
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  for (uint16_t i = 0; i < nq && !vmm__sr_error(r); i++) {
    struct vmm__virtq *vq = &qs[i].vq;
    qs[i].num = vmm__sr_u32(r);
    vq->size = vmm__sr_u16(r);
    vq->desc_gpa = vmm__sr_u64(r);
    vq->avail_gpa = vmm__sr_u64(r);
    vq->used_gpa = vmm__sr_u64(r);
    vq->indirect = vmm__sr_bool(r);
    vq->event_idx = vmm__sr_bool(r);
    vq->running = vmm__sr_bool(r);
    vq->broken = vmm__sr_bool(r);
    vq->notify_wanted = vmm__sr_bool(r);
    vq->last_avail = vmm__sr_u16(r);
    vq->used_idx = vmm__sr_u16(r);
    vq->signalled_used = vmm__sr_u16(r);
    vq->signalled_valid = vmm__sr_bool(r);
    vmm__sr_str(r, errors[i], sizeof(errors[i]));
    if (!vmm__sr_error(r))
      queue_check(v, i, &qs[i], r);
  }
  struct vmm__sr tr, ty;
  vmm__sr_section(r, "transport", 1, &tr, NULL);
  vmm__sr_section(r, "type", 1, &ty, NULL);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;

  /* The queues: started on the saved layout (checked against guest
   * memory) with the saved indices; the rings are left as they are. */
  pthread_rwlock_rdlock(&vm->lock);
  pthread_mutex_lock(&v->lock);
  v->device_features_sel = dsel;
  v->driver_features_sel = gsel;
  v->queue_sel = qsel;
  v->config_generation = cfg_gen;
  for (uint16_t i = 0; i < nq && rc == 0; i++) {
    struct vmm__virtio_queue *q = &v->queues[i];
    const struct vmm__virtq *s = &qs[i].vq;
    vmm__virtq_init(&q->vq);
    q->num = qs[i].num;
    q->vq.size = s->size;
    q->vq.desc_gpa = s->desc_gpa;
    q->vq.avail_gpa = s->avail_gpa;
    q->vq.used_gpa = s->used_gpa;
    q->vq.indirect = s->indirect;
    q->vq.event_idx = s->event_idx;
    if (!s->running)
      continue;
    if (vmm__virtq_resume(&q->vq, &vm->mem, s->last_avail, s->used_idx,
                          s->signalled_used, s->signalled_valid,
                          s->notify_wanted) < 0) {
      rc = vmm__error(VMM_EINVAL, "queue %u: %s", i, q->vq.error);
      vmm__virtq_stop(&q->vq);
      break;
    }
    if (s->broken) {
      q->vq.broken = true;
      memcpy(q->vq.error, errors[i], sizeof(q->vq.error));
    }
  }
  pthread_mutex_unlock(&v->lock);
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0)
    return rc;
  tr.what = "transport";
  if ((rc = v->transport->load(v, &tr)) < 0)
    return rc;
  ty.what = v->ops->base.type;
  if (v->ops->load) {
    pthread_rwlock_rdlock(&vm->lock);
    pthread_mutex_lock(&v->lock);
    rc = v->ops->load(v, &ty);
    pthread_mutex_unlock(&v->lock);
    pthread_rwlock_unlock(&vm->lock);
  } else {
    rc = vmm__sr_finish(&ty);
  }
  if (rc < 0)
    return rc;
  /* A doorbell rung just before the save was not seen by the loop, and
   * the eventfd did not come along: every running queue gets a pass
   * (one with nothing new to do costs a look at the ring). */
  for (uint16_t i = 0; i < nq; i++)
    if (v->queues[i].vq.running)
      vmm__virtio_kick(v, i);
  return 0;
}
