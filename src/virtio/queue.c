/* src/virtio/queue.c — the split virtqueue core: ring layout checks, chain
 * walking into iovecs, used ring, notification suppression.
 *
 * Everything read from guest memory is untrusted: each ring field and
 * descriptor is read once into a local and checked there, every buffer is
 * looked up in the region map before a host pointer is made, and a broken
 * rule stops the queue with a reason instead of touching memory outside
 * the guest's. */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/common.h>

#include "virtio/queue.h"

/* Offsets inside the available and used rings. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

/* An element never needs more iovecs than this: a chain has at most
 * VMM__VIRTQ_MAX_SIZE descriptors, and a buffer that crosses regions
 * splits only at region boundaries. Guards against runaway growth. */
#define MAX_IOV (4u * VMM__VIRTQ_MAX_SIZE)

static int q_fail(struct vmm__virtq *q, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int q_fail(struct vmm__virtq *q, int code, const char *fmt, ...) {
  if (!q->broken) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->error, sizeof(q->error), fmt, ap);
    va_end(ap);
    q->broken = true;
  }
  return code;
}

/* ---- guest memory through the region map ------------------------------ */

/* The region holding all of [gpa, gpa + len) (len > 0), or NULL. */
static const struct vmm__memslot *
slot_of(const struct vmm__memmap *map, uint64_t gpa, uint64_t len) {
  if (len == 0 || gpa + len < gpa)
    return NULL;
  const struct vmm__memslot *s = vmm__memmap_find(map, gpa);
  if (!s || !s->hva || gpa - s->gpa > s->size || len > s->size - (gpa - s->gpa))
    return NULL;
  return s;
}

/* True when [gpa, gpa + len) is guest memory, possibly over adjacent
 * regions. */
static bool range_in_memory(const struct vmm__memmap *map, uint64_t gpa,
                            uint64_t len) {
  if (gpa + len < gpa)
    return false;
  while (len) {
    const struct vmm__memslot *s = vmm__memmap_find(map, gpa);
    if (!s || !s->hva)
      return false;
    uint64_t n = s->size - (gpa - s->gpa);
    if (n > len)
      n = len;
    gpa += n;
    len -= n;
  }
  return true;
}

/* Copies guest memory that range_in_memory() accepted. */
static bool guest_read(const struct vmm__memmap *map, uint64_t gpa,
                       void *buf, size_t len) {
  uint8_t *p = buf;
  while (len) {
    const struct vmm__memslot *s = vmm__memmap_find(map, gpa);
    if (!s || !s->hva)
      return false;
    uint64_t off = gpa - s->gpa, n = s->size - off;
    if (n > len)
      n = len;
    memcpy(p, s->hva + off, n);
    p += n;
    gpa += n;
    len -= n;
  }
  return true;
}

/* Records host writes for regions with dirty logging (as guest writes
 * through vmm_mem_write() are). */
static void mark_dirty(const struct vmm__memmap *map, uint64_t gpa,
                       uint64_t len) {
  while (len) {
    const struct vmm__memslot *s = vmm__memmap_find(map, gpa);
    if (!s)
      return;
    uint64_t off = gpa - s->gpa, n = s->size - off;
    if (n > len)
      n = len;
    if (s->dirty) {
      for (uint64_t p = off / VMM_PAGE_SIZE; p <= (off + n - 1) / VMM_PAGE_SIZE;
           p++)
        __atomic_fetch_or(&s->dirty[p / 64], 1ull << (p % 64),
                          __ATOMIC_RELAXED);
    }
    gpa += n;
    len -= n;
  }
}

/* Ring fields: aligned (checked at start), read and written once each. */
static inline uint16_t load16(const uint8_t *p) {
  return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
                                 __ATOMIC_RELAXED));
}
static inline uint16_t load16_acquire(const uint8_t *p) {
  return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
                                 __ATOMIC_ACQUIRE));
}
static inline void store16(uint8_t *p, uint16_t v) {
  __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}
static inline void store16_release(uint8_t *p, uint16_t v) {
  __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}
static inline void store32(uint8_t *p, uint32_t v) {
  __atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* ---- life cycle ------------------------------------------------------- */

void vmm__virtq_init(struct vmm__virtq *q) { memset(q, 0, sizeof(*q)); }

void vmm__virtq_stop(struct vmm__virtq *q) {
  q->running = false;
  q->broken = false;
  q->notify_wanted = false;
  q->last_avail = q->used_idx = q->signalled_used = 0;
  q->signalled_valid = false;
  q->map = NULL;
  q->desc = q->avail = q->used = NULL;
  q->error[0] = '\0';
}

int vmm__virtq_map(struct vmm__virtq *q, const struct vmm__memmap *map) {
  if (q->broken)
    return VMM_EINVAL;
  const struct vmm__memslot *sd, *sa, *su;
  sd = slot_of(map, q->desc_gpa, vmm__vring_desc_size(q->size));
  sa = slot_of(map, q->avail_gpa, vmm__vring_avail_size(q->size));
  su = slot_of(map, q->used_gpa, vmm__vring_used_size(q->size));
  if (!sd)
    return q_fail(q, VMM_EFAULT, "descriptor table [0x%llx, +0x%llx) is not "
                  "inside one guest memory region",
                  (unsigned long long)q->desc_gpa,
                  (unsigned long long)vmm__vring_desc_size(q->size));
  if (!sa)
    return q_fail(q, VMM_EFAULT, "available ring [0x%llx, +0x%llx) is not "
                  "inside one guest memory region",
                  (unsigned long long)q->avail_gpa,
                  (unsigned long long)vmm__vring_avail_size(q->size));
  if (!su)
    return q_fail(q, VMM_EFAULT, "used ring [0x%llx, +0x%llx) is not inside "
                  "one guest memory region", (unsigned long long)q->used_gpa,
                  (unsigned long long)vmm__vring_used_size(q->size));
  if (su->flags & VMM_MEM_READONLY)
    return q_fail(q, VMM_EFAULT, "used ring at 0x%llx is in read-only memory",
                  (unsigned long long)q->used_gpa);
  q->map = map;
  q->desc = sd->hva + (q->desc_gpa - sd->gpa);
  q->avail = sa->hva + (q->avail_gpa - sa->gpa);
  q->used = su->hva + (q->used_gpa - su->gpa);
  return 0;
}

/* The layout checks of a start; maps the rings. */
static int layout_check(struct vmm__virtq *q, const struct vmm__memmap *map) {
  q->running = false;
  q->broken = false;
  q->error[0] = '\0';
  if (q->size == 0 || q->size > VMM__VIRTQ_MAX_SIZE ||
      (q->size & (q->size - 1)))
    return q_fail(q, VMM_EINVAL, "queue size %u is not a power of two from "
                  "1 to %u", q->size, VMM__VIRTQ_MAX_SIZE);
  if (q->desc_gpa % VMM__VRING_DESC_ALIGN)
    return q_fail(q, VMM_EINVAL, "descriptor table at 0x%llx is not %u-byte "
                  "aligned", (unsigned long long)q->desc_gpa,
                  VMM__VRING_DESC_ALIGN);
  if (q->avail_gpa % VMM__VRING_AVAIL_ALIGN)
    return q_fail(q, VMM_EINVAL, "available ring at 0x%llx is not %u-byte "
                  "aligned", (unsigned long long)q->avail_gpa,
                  VMM__VRING_AVAIL_ALIGN);
  if (q->used_gpa % VMM__VRING_USED_ALIGN)
    return q_fail(q, VMM_EINVAL, "used ring at 0x%llx is not %u-byte aligned",
                  (unsigned long long)q->used_gpa, VMM__VRING_USED_ALIGN);
  return vmm__virtq_map(q, map);
}

int vmm__virtq_start(struct vmm__virtq *q, const struct vmm__memmap *map) {
  int rc = layout_check(q, map);
  if (rc < 0)
    return rc;
  q->last_avail = 0;
  q->used_idx = 0;
  q->signalled_used = 0;
  q->signalled_valid = false;
  q->running = true;
  /* The used ring is the device's: start it from a known state. */
  store16(q->used + USED_FLAGS, 0);
  store16_release(q->used + USED_IDX, 0);
  mark_dirty(map, q->used_gpa, 4);
  vmm__virtq_set_notify(q, true);
  return 0;
}

int vmm__virtq_resume(struct vmm__virtq *q, const struct vmm__memmap *map,
                      uint16_t last_avail, uint16_t used_idx,
                      uint16_t signalled_used, bool signalled_valid,
                      bool notify_wanted) {
  int rc = layout_check(q, map);
  if (rc < 0)
    return rc;
  /* The device never has more chains than the queue's size out of the
   * ring: popped (last_avail) minus given back (used_idx). */
  if ((uint16_t)(last_avail - used_idx) > q->size)
    return q_fail(q, VMM_EINVAL, "%u chains taken and not given back in a "
                  "queue of %u", (uint16_t)(last_avail - used_idx), q->size);
  q->last_avail = last_avail;
  q->used_idx = used_idx;
  q->signalled_used = signalled_used;
  q->signalled_valid = signalled_valid;
  q->notify_wanted = notify_wanted;
  q->running = true;
  return 0;
}

/* ---- notifications ---------------------------------------------------- */

void vmm__virtq_set_notify(struct vmm__virtq *q, bool enable) {
  q->notify_wanted = enable;
  if (!q->running || q->broken)
    return;
  if (q->event_idx) {
    /* avail_event follows the used ring; when disabled it is left alone,
     * so the driver stops notifying once it has passed it. */
    if (enable) {
      uint64_t off = USED_RING + 8ull * q->size;
      store16(q->used + off, q->last_avail);
      mark_dirty(q->map, q->used_gpa + off, 2);
    }
  } else {
    store16(q->used + USED_FLAGS, enable ? 0 : VMM__VRING_USED_F_NO_NOTIFY);
    mark_dirty(q->map, q->used_gpa + USED_FLAGS, 2);
  }
  /* The driver must see the flag before we look at its index again. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool vmm__virtq_has_avail(struct vmm__virtq *q) {
  if (!q->running || q->broken)
    return false;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return load16_acquire(q->avail + AVAIL_IDX) != q->last_avail;
}

bool vmm__virtq_should_notify(struct vmm__virtq *q) {
  if (!q->running || q->broken)
    return false;
  /* The used index we published must be visible before we read what the
   * driver asked for, or a notification could be lost. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!q->event_idx)
    return !(load16(q->avail + AVAIL_FLAGS) & VMM__VRING_AVAIL_F_NO_INTERRUPT);
  uint16_t old = q->signalled_used, now = q->used_idx;
  bool valid = q->signalled_valid;
  q->signalled_used = now;
  q->signalled_valid = true;
  if (!valid)
    return true;
  uint16_t used_event = load16(q->avail + AVAIL_RING + 2ull * q->size);
  /* Notify when used_event lies in [old, now): the driver asked to hear
   * about the entry at used_event, and it was published since last time. */
  return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

/* ---- popping chains --------------------------------------------------- */

static int elem_grow(struct vmm__virtq *q, struct vmm__virtq_elem *e) {
  if (e->cap >= MAX_IOV)
    return q_fail(q, VMM_E2BIG, "descriptor chain needs more than %u buffers",
                  MAX_IOV);
  uint32_t cap = e->cap ? e->cap * 2 : 16;
  if (cap > MAX_IOV)
    cap = MAX_IOV;
  struct iovec *iov = realloc(e->iov, cap * sizeof(*iov));
  if (!iov)
    return q_fail(q, VMM_ENOMEM, "out of memory for %u buffers", cap);
  e->iov = iov;
  uint64_t *gpa = realloc(e->gpa, cap * sizeof(*gpa));
  if (!gpa)
    return q_fail(q, VMM_ENOMEM, "out of memory for %u buffers", cap);
  e->gpa = gpa;
  e->cap = cap;
  return 0;
}

/* Appends the buffer [gpa, gpa + len) as one iovec per region it covers. */
static int add_buffer(struct vmm__virtq *q, struct vmm__virtq_elem *e,
                      uint64_t gpa, uint32_t len, bool writable) {
  const uint64_t start = gpa, end = gpa + len;
  while (gpa < end) {
    const struct vmm__memslot *s = vmm__memmap_find(q->map, gpa);
    if (!s || !s->hva)
      return q_fail(q, VMM_EFAULT, "buffer [0x%llx, 0x%llx) is not guest "
                    "memory (at 0x%llx)", (unsigned long long)start,
                    (unsigned long long)end, (unsigned long long)gpa);
    if (writable && (s->flags & VMM_MEM_READONLY))
      return q_fail(q, VMM_EFAULT, "device-writable buffer [0x%llx, 0x%llx) "
                    "lies in read-only memory", (unsigned long long)start,
                    (unsigned long long)end);
    uint64_t off = gpa - s->gpa, n = s->size - off;
    if (n > end - gpa)
      n = end - gpa;
    uint32_t i = e->out_num + e->in_num;
    if (i == e->cap) {
      int rc = elem_grow(q, e);
      if (rc < 0)
        return rc;
    }
    e->iov[i].iov_base = s->hva + off;
    e->iov[i].iov_len = n;
    e->gpa[i] = gpa;
    if (writable)
      e->in_num++;
    else
      e->out_num++;
    gpa += n;
  }
  if (writable)
    e->in_len += len;
  else
    e->out_len += len;
  return 0;
}

/* Reads descriptor `i` of the queue's own table. */
static void read_ring_desc(const struct vmm__virtq *q, uint32_t i,
                           struct vmm__vring_desc *d) {
  memcpy(d, q->desc + 16ull * i, sizeof(*d));
}

int vmm__virtq_pop(struct vmm__virtq *q, struct vmm__virtq_elem *e) {
  if (q->broken)
    return VMM_EINVAL;
  if (!q->running)
    return 0;
  uint16_t avail_idx = load16_acquire(q->avail + AVAIL_IDX);
  uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
  if (pending == 0)
    return 0;
  if (pending > q->size)
    return q_fail(q, VMM_EINVAL, "available index moved from %u to %u: "
                  "more than the queue size %u", q->last_avail, avail_idx,
                  q->size);
  uint16_t head = load16(q->avail + AVAIL_RING +
                         2ull * (q->last_avail & (q->size - 1)));
  if (head >= q->size)
    return q_fail(q, VMM_EINVAL, "available ring entry %u names descriptor "
                  "%u, beyond the queue size %u", q->last_avail, head,
                  q->size);

  e->head = head;
  e->out_num = e->in_num = 0;
  e->out_len = e->in_len = 0;

  /* The table being walked: the queue's own, or one indirect table. */
  bool in_indirect = false;
  const uint8_t *table = NULL;   /* indirect table's host pointer, if in one region */
  uint64_t table_gpa = 0;
  uint32_t table_len = q->size;  /* entries */
  uint32_t idx = head, count = 0;
  uint64_t total = 0;
  bool seen_writable = false;
  for (;;) {
    struct vmm__vring_desc d;
    if (++count > table_len)
      return q_fail(q, VMM_EINVAL, "descriptor chain from %u is longer than "
                    "%s (%u entries): a loop?", head,
                    in_indirect ? "its indirect table" : "the queue",
                    table_len);
    if (!in_indirect) {
      read_ring_desc(q, idx, &d);
    } else if (table) {
      memcpy(&d, table + 16ull * idx, sizeof(d));
    } else if (!guest_read(q->map, table_gpa + 16ull * idx, &d, sizeof(d))) {
      /* The table was checked; only a concurrent map change gets here. */
      return q_fail(q, VMM_EFAULT, "indirect table at 0x%llx left guest "
                    "memory", (unsigned long long)table_gpa);
    }
    uint64_t addr = le64toh(d.addr);
    uint32_t len = le32toh(d.len);
    uint16_t flags = le16toh(d.flags), next = le16toh(d.next);

    if (flags & VMM__VRING_DESC_F_INDIRECT) {
      if (!q->indirect)
        return q_fail(q, VMM_EINVAL, "descriptor %u is indirect, but "
                      "VIRTIO_F_INDIRECT_DESC was not negotiated", idx);
      if (in_indirect)
        return q_fail(q, VMM_EINVAL, "indirect descriptor inside the "
                      "indirect table at 0x%llx (entry %u)",
                      (unsigned long long)table_gpa, idx);
      if (flags & VMM__VRING_DESC_F_NEXT)
        return q_fail(q, VMM_EINVAL, "descriptor %u has both INDIRECT and "
                      "NEXT", idx);
      if (len == 0 || len % 16)
        return q_fail(q, VMM_EINVAL, "indirect table at 0x%llx has length "
                      "%u, not a non-zero multiple of 16",
                      (unsigned long long)addr, len);
      if (len / 16 > VMM__VIRTQ_MAX_SIZE)
        return q_fail(q, VMM_EINVAL, "indirect table at 0x%llx has %u "
                      "entries, more than %u", (unsigned long long)addr,
                      len / 16, VMM__VIRTQ_MAX_SIZE);
      if (!range_in_memory(q->map, addr, len))
        return q_fail(q, VMM_EFAULT, "indirect table [0x%llx, +0x%x) is not "
                      "guest memory", (unsigned long long)addr, len);
      const struct vmm__memslot *s = slot_of(q->map, addr, len);
      table = s ? s->hva + (addr - s->gpa) : NULL;
      table_gpa = addr;
      table_len = len / 16;
      in_indirect = true;
      idx = 0;
      count = 0;
      continue;
    }

    if (addr + len < addr)
      return q_fail(q, VMM_EFAULT, "descriptor %u: buffer at 0x%llx of "
                    "length 0x%x wraps around", idx,
                    (unsigned long long)addr, len);
    total += len;
    if (total > UINT32_MAX)
      return q_fail(q, VMM_E2BIG, "descriptor chain from %u holds more than "
                    "4 GiB", head);
    bool writable = flags & VMM__VRING_DESC_F_WRITE;
    if (!writable && seen_writable)
      return q_fail(q, VMM_EINVAL, "descriptor chain from %u has a "
                    "device-readable buffer after a device-writable one",
                    head);
    seen_writable |= writable;
    int rc = add_buffer(q, e, addr, len, writable);
    if (rc < 0)
      return rc;

    if (!(flags & VMM__VRING_DESC_F_NEXT))
      break;
    if (next >= table_len)
      return q_fail(q, VMM_EINVAL, "descriptor %u links to %u, beyond %s "
                    "(%u entries)", idx, next,
                    in_indirect ? "its indirect table" : "the queue size",
                    table_len);
    idx = next;
  }

  q->last_avail++;
  if (q->event_idx && q->notify_wanted) {
    uint64_t off = USED_RING + 8ull * q->size;
    store16(q->used + off, q->last_avail);
    mark_dirty(q->map, q->used_gpa + off, 2);
  }
  return 1;
}

/* ---- pushing used elements -------------------------------------------- */

int vmm__virtq_push(struct vmm__virtq *q, const struct vmm__virtq_elem *e,
                    uint32_t written) {
  if (q->broken)
    return VMM_EINVAL;
  if (!q->running)
    return VMM_EINVAL;
  if (written > e->in_len)
    written = e->in_len;
  /* What the device wrote becomes dirty for migration. */
  uint32_t left = written;
  for (uint32_t i = e->out_num; left && i < e->out_num + e->in_num; i++) {
    uint64_t n = e->iov[i].iov_len < left ? e->iov[i].iov_len : left;
    mark_dirty(q->map, e->gpa[i], n);
    left -= (uint32_t)n;
  }
  uint64_t off = USED_RING + 8ull * (q->used_idx & (q->size - 1));
  store32(q->used + off, e->head);
  store32(q->used + off + 4, written);
  mark_dirty(q->map, q->used_gpa + off, 8);
  q->used_idx++;
  /* The entry must be visible before the index that publishes it. */
  store16_release(q->used + USED_IDX, q->used_idx);
  mark_dirty(q->map, q->used_gpa + USED_IDX, 2);
  return 0;
}

/* ---- copying to and from an element ----------------------------------- */

static size_t iov_copy(const struct iovec *iov, uint32_t n, size_t off,
                       void *buf, size_t len, bool to_iov) {
  size_t done = 0;
  for (uint32_t i = 0; i < n && done < len; i++) {
    if (off >= iov[i].iov_len) {
      off -= iov[i].iov_len;
      continue;
    }
    size_t k = iov[i].iov_len - off;
    if (k > len - done)
      k = len - done;
    if (to_iov)
      memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done,
             k);
    else
      memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + off,
             k);
    done += k;
    off = 0;
  }
  return done;
}

size_t vmm__virtq_elem_read(const struct vmm__virtq_elem *e, size_t off,
                            void *buf, size_t len) {
  return iov_copy(e->iov, e->out_num, off, buf, len, false);
}

size_t vmm__virtq_elem_write(const struct vmm__virtq_elem *e, size_t off,
                             const void *buf, size_t len) {
  if (!e->in_num)
    return 0;
  return iov_copy(e->iov + e->out_num, e->in_num, off, (void *)buf, len,
                  true);
}

void vmm__virtq_elem_free(struct vmm__virtq_elem *e) {
  free(e->iov);
  free(e->gpa);
  memset(e, 0, sizeof(*e));
}
