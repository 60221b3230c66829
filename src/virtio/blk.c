/* src/virtio/blk.c — virtio-blk (device id 2) over a raw image file: request
 * validation on the loop thread, file I/O on the loop's thread pool. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "le.h"
#include "error.h"
#include "loop.h"
#include "virtio/device.h"
#include "vm_internal.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13

/* Request types and status values. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR 512u
#define HEADER_LEN 16u
#define ID_LEN 20u
#define DISCARD_SEG_LEN 16u

/* struct virtio_blk_config, up to and including discard_sector_alignment
 * (the write-zeroes fields follow; they read 0). */
#define CFG_CAPACITY 0
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20
#define CFG_NUM_QUEUES 34
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG 40
#define CFG_DISCARD_ALIGN 44
#define BLK_CONFIG_SIZE 60

#define MAX_DISCARD_SEG 32u
#define MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
/* Requests handed to the thread pool and not yet completed, per device:
 * beyond it, chains wait in the ring until one completes. */
#define MAX_INFLIGHT 64u
/* Reads up to this size are first tried on the loop thread with
 * RWF_NOWAIT (see read_nowait). */
#define NOWAIT_MAX (1u << 20)
/* How long the loop keeps watching a queue it just drained before it asks
 * the driver to notify again (LIBVMM_VIRTIO_BLK_POLL_US overrides; 0 turns
 * it off). See poll_avail(). */
#define POLL_US_DEFAULT 50u
#define POLL_US_MAX 1000u
#define ENV_POLL_US "LIBVMM_VIRTIO_BLK_POLL_US"

struct blk_req;

struct virtio_blk {
  struct vmm__virtio_dev vdev; /* first */
  int fd;
  bool readonly;
  uint64_t capacity; /* sectors */
  uint16_t num_queues;
  char serial[ID_LEN];
  char *path;      /* the image as given (vmm_vm_describe_json) */
  /* Locked: bumped by each reset; a completion of an older generation
   * is not given back. */
  uint64_t generation;
  /* Loop thread only. */
  unsigned inflight;
  bool no_nowait; /* the file refused RWF_NOWAIT once: always the pool */
  uint64_t poll_ns; /* see poll_avail(); 0: off */
  bool stalled[VMM__VIRTIO_MAX_QUEUES];
  struct blk_req *free_reqs;
};

/* One request on its way through the thread pool. */
struct blk_req {
  struct virtio_blk *blk;
  struct blk_req *next; /* free list */
  struct vmm__virtq_elem elem; /* the chain as popped; host pointers are not
                                * used after the pass that popped it */
  uint16_t queue;
  uint64_t generation;
  uint32_t type;
  uint64_t offset;      /* bytes into the image */
  /* The data buffers by guest address (resolved again on the worker). */
  uint64_t *seg_gpa;
  uint32_t *seg_len;
  struct iovec *iov;
  uint32_t nseg, seg_cap;
  uint64_t data_len;
  uint64_t status_gpa;
  /* DISCARD: byte ranges. */
  uint64_t disc_off[MAX_DISCARD_SEG], disc_len[MAX_DISCARD_SEG];
  uint32_t ndisc;
  uint8_t status;       /* set by the worker */
};

static inline struct virtio_blk *as_blk(struct vmm__virtio_dev *v) {
  return (struct virtio_blk *)v;
}

/* ---- configuration ---------------------------------------------------- */


static void blk_config_read(struct vmm__virtio_dev *v, uint32_t off,
                            void *buf, uint32_t len) {
  struct virtio_blk *b = as_blk(v);
  uint8_t cfg[BLK_CONFIG_SIZE] = {0};
  for (int i = 0; i < 8; i++)
    cfg[CFG_CAPACITY + i] = (uint8_t)(b->capacity >> (8 * i));
  vmm__wr32(cfg + CFG_SEG_MAX,
            v->queue_size_max > 2 ? v->queue_size_max - 2u : 1u);
  vmm__wr32(cfg + CFG_BLK_SIZE, SECTOR);
  cfg[CFG_NUM_QUEUES] = (uint8_t)b->num_queues;
  cfg[CFG_NUM_QUEUES + 1] = (uint8_t)(b->num_queues >> 8);
  if (!b->readonly) {
    vmm__wr32(cfg + CFG_MAX_DISCARD_SECTORS, MAX_DISCARD_SECTORS);
    vmm__wr32(cfg + CFG_MAX_DISCARD_SEG, MAX_DISCARD_SEG);
    vmm__wr32(cfg + CFG_DISCARD_ALIGN, 1);
  }
  memcpy(buf, cfg + off, len);
}

/* ---- the thread pool side --------------------------------------------- */

/* Full preadv/pwritev over `iov` (modified), retrying short transfers. */
static int io_full(int fd, struct iovec *iov, uint32_t n, uint64_t off,
                   bool write) {
  while (n) {
    int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
    ssize_t r = write ? pwritev(fd, iov, cnt, (off_t)off)
                      : preadv(fd, iov, cnt, (off_t)off);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      return -EIO; /* the image shrank under us */
    off += (uint64_t)r;
    size_t left = (size_t)r;
    while (n && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n) {
      iov->iov_base = (uint8_t *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

/* Zeroes [off, off + len) of the image: a hole where the file system can. */
static int discard_range(int fd, uint64_t off, uint64_t len) {
  if (len == 0)
    return 0; /* fallocate() would call it invalid */
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                (off_t)len) == 0)
    return 0;
  if (errno != EOPNOTSUPP && errno != ENOSYS)
    return -errno;
  static const uint8_t zeros[65536];
  while (len) {
    size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
    ssize_t r = pwrite(fd, zeros, n, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? -errno : -EIO;
    off += (uint64_t)r;
    len -= (uint64_t)r;
  }
  return 0;
}

/* Resolves the data buffers into host pointers under the VM lock (the
 * caller holds it for reading): regions may have moved since the pop. */
static bool resolve(struct blk_req *r, bool writable) {
  const struct vmm__memmap *map = &r->blk->vdev.base.vm->mem;
  for (uint32_t i = 0; i < r->nseg; i++) {
    uint64_t gpa = r->seg_gpa[i], len = r->seg_len[i];
    const struct vmm__memslot *s = vmm__memmap_find(map, gpa);
    if (!s || !s->hva || len > s->size - (gpa - s->gpa) ||
        (writable && (s->flags & VMM_MEM_READONLY)))
      return false;
    r->iov[i].iov_base = s->hva + (gpa - s->gpa);
    r->iov[i].iov_len = (size_t)len;
  }
  return true;
}

static void blk_work(void *opaque) {
  struct blk_req *r = opaque;
  struct virtio_blk *b = r->blk;
  vmm_vm_t *vm = b->vdev.base.vm;
  int rc = 0;
  switch (r->type) {
  case VIRTIO_BLK_T_IN:
  case VIRTIO_BLK_T_OUT: {
    bool in = r->type == VIRTIO_BLK_T_IN;
    /* Guest memory stays mapped while the transfer runs. */
    pthread_rwlock_rdlock(&vm->lock);
    rc = resolve(r, in) ? io_full(b->fd, r->iov, r->nseg, r->offset, !in)
                        : -EFAULT;
    pthread_rwlock_unlock(&vm->lock);
    break;
  }
  case VIRTIO_BLK_T_FLUSH:
    while ((rc = fdatasync(b->fd)) < 0 && errno == EINTR)
      ;
    if (rc < 0)
      rc = -errno;
    break;
  case VIRTIO_BLK_T_DISCARD:
    for (uint32_t i = 0; i < r->ndisc && rc == 0; i++)
      rc = discard_range(b->fd, r->disc_off[i], r->disc_len[i]);
    break;
  default:
    rc = -EINVAL;
  }
  r->status = rc == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
  /* The host's own failures (not a guest buffer outside memory), for
   * the control socket's "stats": the operator's side of the IOERR. */
  if (rc != 0 && rc != -EFAULT)
    vmm__device_count(&b->vdev.base.counters.host_errors, 1);
}

/*
 * Locked, loop thread: a read served from the page cache without leaving
 * the loop. preadv2(RWF_NOWAIT) copies what is cached and fails with
 * EAGAIN (or returns short) instead of waiting for the disk, so the loop
 * never blocks on I/O; everything else still goes to the thread pool.
 * For cached data the pool's two thread hand-offs per request (wake a
 * worker, wake the loop again to complete) cost more than the copy
 * itself (docs/benchmarks.md, virtio_blk). True when the read is done.
 */
static bool read_nowait(struct virtio_blk *b, struct blk_req *r) {
  if (b->no_nowait || r->type != VIRTIO_BLK_T_IN || r->data_len > NOWAIT_MAX ||
      r->nseg > IOV_MAX || !resolve(r, true))
    return false;
  ssize_t n;
  do
    n = preadv2(b->fd, r->iov, (int)r->nseg, (off_t)r->offset, RWF_NOWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
    b->no_nowait = true;
  /* Short (part not cached) or failed: the pool reads it all again. */
  return n >= 0 && (uint64_t)n == r->data_len;
}

/* ---- completion on the loop ------------------------------------------- */

static void req_release(struct virtio_blk *b, struct blk_req *r) {
  r->next = b->free_reqs;
  b->free_reqs = r;
}

static void blk_done(void *opaque) {
  struct blk_req *r = opaque;
  struct virtio_blk *b = r->blk;
  struct vmm__virtio_dev *v = &b->vdev;
  b->inflight--;
  if (vmm__virtio_lock_queue(v, r->queue)) {
    /* After a reset the ring belongs to a new driver: nothing is given
     * back into it. */
    if (r->generation == b->generation) {
      vmm__memmap_access(&v->base.vm->mem, r->status_gpa, &r->status, 1,
                         true);
      vmm__virtio_push(v, r->queue, &r->elem, r->elem.in_len);
      vmm__virtio_notify_used(v, r->queue);
    }
    vmm__virtio_unlock(v);
  }
  req_release(b, r);
  /* A queue that stopped taking chains for lack of slots goes on. */
  for (uint16_t q = 0; q < b->num_queues; q++) {
    if (b->stalled[q]) {
      b->stalled[q] = false;
      vmm__virtio_kick(v, q);
    }
  }
}

/* ---- requests, validated on the loop ---------------------------------- */

static struct blk_req *req_get(struct virtio_blk *b) {
  struct blk_req *r = b->free_reqs;
  if (r) {
    b->free_reqs = r->next;
    return r;
  }
  r = calloc(1, sizeof(*r));
  if (r)
    r->blk = b;
  return r;
}

static void req_free(struct blk_req *r) {
  vmm__virtq_elem_free(&r->elem);
  free(r->seg_gpa);
  free(r->seg_len);
  free(r->iov);
  free(r);
}

static bool seg_add(struct blk_req *r, uint64_t gpa, uint64_t len) {
  if (!len)
    return true;
  if (r->nseg == r->seg_cap) {
    uint32_t cap = r->seg_cap ? r->seg_cap * 2 : 16;
    uint64_t *g = realloc(r->seg_gpa, cap * sizeof(*g));
    if (g)
      r->seg_gpa = g;
    uint32_t *l = realloc(r->seg_len, cap * sizeof(*l));
    if (l)
      r->seg_len = l;
    struct iovec *iov = realloc(r->iov, cap * sizeof(*iov));
    if (iov)
      r->iov = iov;
    if (!g || !l || !iov)
      return false;
    r->seg_cap = cap;
  }
  r->seg_gpa[r->nseg] = gpa;
  r->seg_len[r->nseg] = (uint32_t)len;
  r->nseg++;
  r->data_len += len;
  return true;
}

/* Collects the bytes [from, to) of the chain's iovecs [first, last) as
 * data segments. */
static bool collect(struct blk_req *r, uint32_t first, uint32_t last,
                    uint64_t from, uint64_t to) {
  uint64_t pos = 0;
  for (uint32_t i = first; i < last; i++) {
    uint64_t len = r->elem.iov[i].iov_len, a = pos, e = pos + len;
    pos = e;
    if (e <= from || a >= to)
      continue;
    uint64_t s = a < from ? from : a, t = e > to ? to : e;
    if (!seg_add(r, r->elem.gpa[i] + (s - a), t - s))
      return false;
  }
  return true;
}

/* Whether [sector, sector + bytes / 512) lies inside the image. */
static bool in_range(const struct virtio_blk *b, uint64_t sector,
                     uint64_t bytes) {
  return sector <= b->capacity && bytes / SECTOR <= b->capacity - sector;
}

/*
 * Locked: checks one popped request. Returns a status to give back at
 * once, or -1 when the request goes to the thread pool.
 */
static int req_prepare(struct virtio_blk *b, struct blk_req *r) {
  struct vmm__virtq_elem *e = &r->elem;
  uint8_t hdr[HEADER_LEN];
  r->nseg = 0;
  r->data_len = 0;
  r->ndisc = 0;
  if (e->out_len < HEADER_LEN ||
      vmm__virtq_elem_read(e, 0, hdr, HEADER_LEN) != HEADER_LEN)
    return VIRTIO_BLK_S_IOERR;
  uint32_t type = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
                  (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
  uint64_t sector = 0;
  for (int i = 7; i >= 0; i--)
    sector = sector << 8 | hdr[8 + i];
  r->type = type;
  uint64_t data_in = e->in_len - 1u; /* writable bytes before the status */
  switch (type) {
  case VIRTIO_BLK_T_IN:
    if (e->out_len != HEADER_LEN || data_in % SECTOR ||
        !in_range(b, sector, data_in))
      return VIRTIO_BLK_S_IOERR;
    if (!collect(r, e->out_num, e->out_num + e->in_num, 0, data_in))
      return VIRTIO_BLK_S_IOERR;
    r->offset = sector * SECTOR;
    return -1;
  case VIRTIO_BLK_T_OUT: {
    uint64_t data_out = e->out_len - HEADER_LEN;
    if (b->readonly || e->in_len != 1 || data_out % SECTOR ||
        !in_range(b, sector, data_out))
      return VIRTIO_BLK_S_IOERR;
    if (!collect(r, 0, e->out_num, HEADER_LEN, e->out_len))
      return VIRTIO_BLK_S_IOERR;
    r->offset = sector * SECTOR;
    return -1;
  }
  case VIRTIO_BLK_T_FLUSH:
    if (e->out_len != HEADER_LEN)
      return VIRTIO_BLK_S_IOERR;
    return -1;
  case VIRTIO_BLK_T_GET_ID: {
    if (e->out_len != HEADER_LEN)
      return VIRTIO_BLK_S_IOERR;
    uint8_t id[ID_LEN];
    memcpy(id, b->serial, ID_LEN);
    vmm__virtq_elem_write(e, 0, id, data_in < ID_LEN ? data_in : ID_LEN);
    return VIRTIO_BLK_S_OK;
  }
  case VIRTIO_BLK_T_DISCARD: {
    uint64_t segs = e->out_len - HEADER_LEN;
    if (b->readonly)
      return VIRTIO_BLK_S_IOERR;
    if (e->in_len != 1 || segs == 0 || segs % DISCARD_SEG_LEN ||
        segs / DISCARD_SEG_LEN > MAX_DISCARD_SEG)
      return VIRTIO_BLK_S_IOERR;
    for (uint32_t i = 0; i < segs / DISCARD_SEG_LEN; i++) {
      uint8_t d[DISCARD_SEG_LEN];
      vmm__virtq_elem_read(e, HEADER_LEN + DISCARD_SEG_LEN * i, d,
                           DISCARD_SEG_LEN);
      uint64_t s = 0;
      for (int k = 7; k >= 0; k--)
        s = s << 8 | d[k];
      uint32_t n = (uint32_t)d[8] | (uint32_t)d[9] << 8 |
                   (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
      uint32_t flags = (uint32_t)d[12] | (uint32_t)d[13] << 8 |
                       (uint32_t)d[14] << 16 | (uint32_t)d[15] << 24;
      if (flags) /* "unmap" and reserved bits: not for discard */
        return VIRTIO_BLK_S_UNSUPP;
      if (n > MAX_DISCARD_SECTORS || !in_range(b, s, (uint64_t)n * SECTOR))
        return VIRTIO_BLK_S_IOERR;
      r->disc_off[i] = s * SECTOR;
      r->disc_len[i] = (uint64_t)n * SECTOR;
    }
    r->ndisc = (uint32_t)(segs / DISCARD_SEG_LEN);
    return -1;
  }
  default:
    return VIRTIO_BLK_S_UNSUPP;
  }
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Locked, loop thread, notifications still off: waits up to b->poll_ns for
 * the driver to make more chains available. A notification costs the
 * guest an exit (tens of microseconds on some hosts: docs/benchmarks.md,
 * notify) and the loop a wake-up; a driver that keeps a queue busy posts
 * its next requests within microseconds of seeing completions, and while
 * notifications are off it does not exit to say so. The same adaptive
 * idea as QEMU's AioContext polling, with a fixed window. Only while no
 * request is on the thread pool (its completions run on this thread), and
 * not on a host with one CPU (the guest could not run meanwhile).
 */
static bool poll_avail(struct virtio_blk *b, struct vmm__virtq *vq) {
  if (!b->poll_ns || b->inflight)
    return false;
  uint64_t t0 = now_ns();
  do {
    if (vmm__virtq_has_avail(vq))
      return true;
    __builtin_ia32_pause();
  } while (now_ns() - t0 < b->poll_ns);
  return false;
}

static void blk_queue_notify(struct vmm__virtio_dev *v, uint16_t qi) {
  struct virtio_blk *b = as_blk(v);
  struct vmm__virtq *vq = &v->queues[qi].vq;
  unsigned budget = vq->size;
  bool pushed = false;
  for (;;) {
    vmm__virtq_set_notify(vq, false);
    unsigned budget_before = budget;
    int rc = 0;
    while (budget) {
      if (b->inflight >= MAX_INFLIGHT) {
        b->stalled[qi] = true; /* blk_done kicks the queue again */
        break;
      }
      struct blk_req *r = req_get(b);
      if (!r) {
        vmm__virtio_kick(v, qi);
        budget = 0;
        break;
      }
      rc = vmm__virtio_pop(v, qi, &r->elem);
      if (rc <= 0) {
        req_release(b, r);
        break;
      }
      budget--;
      if (r->elem.in_len == 0) {
        req_release(b, r);
        vmm__virtio_fail(v, "request %u has no device-writable status byte",
                         r->elem.head);
        return;
      }
      /* The status byte: the last device-writable one. */
      const struct iovec *last = &r->elem.iov[r->elem.out_num +
                                              r->elem.in_num - 1];
      r->status_gpa = r->elem.gpa[r->elem.out_num + r->elem.in_num - 1] +
                      last->iov_len - 1;
      r->queue = qi;
      r->generation = b->generation;
      int status = req_prepare(b, r);
      if (status < 0 && read_nowait(b, r))
        status = VIRTIO_BLK_S_OK;
      if (status < 0 &&
          vmm__loop_work(v->base.vm, blk_work, blk_done, r) == 0) {
        b->inflight++;
        continue;
      }
      uint8_t s = status < 0 ? VIRTIO_BLK_S_IOERR : (uint8_t)status;
      ((uint8_t *)last->iov_base)[last->iov_len - 1] = s;
      vmm__virtio_push(v, qi, &r->elem, r->elem.in_len);
      pushed = true;
      req_release(b, r);
    }
    if (rc < 0)
      return; /* the device failed */
    if (b->stalled[qi] || !budget) {
      if (!budget)
        vmm__virtio_kick(v, qi);
      break;
    }
    if (budget != budget_before) {
      /* The driver hears about this pass's completions before we wait
       * for its next requests. */
      if (pushed)
        vmm__virtio_notify_used(v, qi);
      pushed = false;
      if (poll_avail(b, vq))
        continue;
    }
    vmm__virtq_set_notify(vq, true);
    if (!vmm__virtq_has_avail(vq))
      break;
  }
  if (pushed)
    vmm__virtio_notify_used(v, qi);
}

static void blk_reset(struct vmm__virtio_dev *v) {
  as_blk(v)->generation++;
}

static void blk_destroy(struct vmm__virtio_dev *v) {
  struct virtio_blk *b = as_blk(v);
  /* The loop drained its work before devices go (vmm__loop_stop). */
  while (b->free_reqs) {
    struct blk_req *r = b->free_reqs;
    b->free_reqs = r->next;
    req_free(r);
  }
  if (b->fd >= 0)
    close(b->fd);
  b->fd = -1;
  free(b->path);
  b->path = NULL;
}

/* Requests on the thread pool: a snapshot waits for them (their chains
 * are out of the ring, and their data not yet in the image or guest). The
 * rest of the device's state is the common virtio part. Loop thread. */
static bool blk_busy(vmm_device_t *dev) {
  return ((struct virtio_blk *)dev)->inflight != 0;
}

static void blk_describe(const vmm_device_t *dev,
                         struct vmm__device_desc *d) {
  const struct virtio_blk *b = (const struct virtio_blk *)dev;
  d->path = b->path;
  d->flags = b->readonly ? VMM_BLK_F_READONLY : 0;
  d->num_queues = b->num_queues;
  memcpy(d->serial, b->serial, ID_LEN);
  d->serial[ID_LEN] = 0;
}

#define BLK_FEATURES                                                          \
  (1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |             \
   1ull << VIRTIO_BLK_F_FLUSH)

/* One const table per queue count (the core reads num_queues there). */
#define BLK_OPS(n, extra)                                                     \
  {                                                                           \
    .base = {.type = "virtio-blk", .destroy = vmm__virtio_destroy,            \
             .describe = blk_describe, .save = vmm__virtio_save,              \
             .load = vmm__virtio_load, .busy = blk_busy},                     \
    .device_id = VIRTIO_ID_BLOCK, .num_queues = (n),                          \
    .features = BLK_FEATURES | (extra), .config_size = BLK_CONFIG_SIZE,       \
    .queue_names = {"requestq0", "requestq1", "requestq2", "requestq3",       \
                    "requestq4", "requestq5", "requestq6", "requestq7"},      \
    .config_read = blk_config_read, .queue_notify = blk_queue_notify,         \
    .reset = blk_reset, .destroy = blk_destroy,                               \
  }
#define MQ (1ull << VIRTIO_BLK_F_MQ)
#define RO (1ull << VIRTIO_BLK_F_RO)
#define DISC (1ull << VIRTIO_BLK_F_DISCARD)

/* [read-only][queues - 1] */
static const struct vmm__virtio_ops blk_ops[2][VMM__VIRTIO_MAX_QUEUES] = {
    {BLK_OPS(1, DISC), BLK_OPS(2, MQ | DISC), BLK_OPS(3, MQ | DISC),
     BLK_OPS(4, MQ | DISC), BLK_OPS(5, MQ | DISC), BLK_OPS(6, MQ | DISC),
     BLK_OPS(7, MQ | DISC), BLK_OPS(8, MQ | DISC)},
    {BLK_OPS(1, RO), BLK_OPS(2, MQ | RO), BLK_OPS(3, MQ | RO),
     BLK_OPS(4, MQ | RO), BLK_OPS(5, MQ | RO), BLK_OPS(6, MQ | RO),
     BLK_OPS(7, MQ | RO), BLK_OPS(8, MQ | RO)},
};

/* ---- creation --------------------------------------------------------- */

static int open_image(struct virtio_blk *b, const char *path) {
  b->fd = open(path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (b->fd < 0) {
    int err = errno;
    return vmm__error(err == ENOENT ? VMM_ENOENT
                      : err == EACCES || err == EROFS ? VMM_EACCES
                      : err == EISDIR ? VMM_EINVAL : VMM_EIO,
                      "cannot open image \"%s\"%s: %s", path,
                      b->readonly ? " read-only" : " for reading and writing",
                      strerror(err));
  }
  struct stat st;
  if (fstat(b->fd, &st) < 0)
    return vmm__error(VMM_EIO, "fstat \"%s\": %s", path,
                      strerror(errno));
  uint64_t size;
  if (S_ISREG(st.st_mode)) {
    size = (uint64_t)st.st_size;
  } else if (S_ISBLK(st.st_mode)) {
    if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
      return vmm__error(VMM_EIO, "size of \"%s\": %s", path,
                        strerror(errno));
  } else {
    return vmm__error(VMM_EINVAL, "image \"%s\" is %s, not a regular "
                      "file or block device", path,
                      S_ISDIR(st.st_mode) ? "a directory" : "special");
  }
  if (size % SECTOR)
    return vmm__error(VMM_EINVAL, "image \"%s\" has %llu bytes, not a "
                      "multiple of 512", path, (unsigned long long)size);
  b->capacity = size / SECTOR;
  return 0;
}

int vmm_virtio_blk_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          const vmm_virtio_blk_config_t *blk,
                          vmm_device_t **out) {
  static const char fn[] = "vmm_virtio_blk_create";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  if (!blk)
    return vmm__error(VMM_EINVAL, "%s: blk is NULL", fn);
  vmm_virtio_blk_config_t cfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  if (blk->size < offsetof(vmm_virtio_blk_config_t, serial) + ID_LEN)
    return vmm__error(VMM_EINVAL, "%s: vmm_virtio_blk_config_t.size %zu is "
                      "too small", fn, blk->size);
  if (blk->size > sizeof(cfg)) {
    const uint8_t *extra = (const uint8_t *)blk + sizeof(cfg);
    for (size_t i = 0; i < blk->size - sizeof(cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "%s: vmm_virtio_blk_config_t has "
                          "fields this libvmm does not know set", fn);
  }
  memcpy(&cfg, blk, sizeof(cfg));
  if (!cfg.path || !cfg.path[0])
    return vmm__error(VMM_EINVAL, "%s: no image path", fn);
  if (cfg.flags & ~VMM_BLK_F_READONLY)
    return vmm__error(VMM_EINVAL, "%s: unknown flags 0x%x", fn,
                      cfg.flags & ~VMM_BLK_F_READONLY);
  if (cfg.reserved16)
    return vmm__error(VMM_EINVAL, "%s: reserved fields must be 0", fn);
  uint16_t nq = cfg.num_queues ? cfg.num_queues : 1;
  if (nq > VMM__VIRTIO_MAX_QUEUES)
    return vmm__error(VMM_ERANGE, "%s: %u queues; at most %u "
                      "(VMM_VIRTIO_MAX_QUEUES)", fn, nq,
                      VMM__VIRTIO_MAX_QUEUES);

  struct virtio_blk *b = calloc(1, sizeof(*b));
  if (!b)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  b->fd = -1;
  b->readonly = cfg.flags & VMM_BLK_F_READONLY;
  /* With one CPU the guest cannot run while the loop watches for it. */
  b->poll_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? POLL_US_DEFAULT * 1000ull
                                                 : 0;
  const char *poll = getenv(ENV_POLL_US);
  if (poll && poll[0]) {
    char *end;
    unsigned long us = strtoul(poll, &end, 10);
    if (!*end)
      b->poll_ns = (us < POLL_US_MAX ? us : POLL_US_MAX) * 1000ull;
  }
  b->num_queues = nq;
  if (cfg.serial[0]) {
    memcpy(b->serial, cfg.serial, ID_LEN);
  } else {
    /* The image's file name, cut to 20 bytes (no NUL when it fills them). */
    const char *base = strrchr(cfg.path, '/');
    base = base && base[1] ? base + 1 : cfg.path;
    size_t n = strlen(base);
    memcpy(b->serial, base, n < ID_LEN ? n : ID_LEN);
  }
  b->path = strdup(cfg.path);
  int rc = b->path ? open_image(b, cfg.path)
                   : vmm__error(VMM_ENOMEM, "out of memory");
  if (rc == 0)
    rc = vmm__virtio_init(&b->vdev, vm, &blk_ops[b->readonly][nq - 1],
                          config);
  if (rc < 0) {
    if (b->fd >= 0)
      close(b->fd);
    free(b->path);
    free(b);
    return vmm__error_prefix(rc, fn);
  }
  *out = &b->vdev.base;
  return 0;
}
