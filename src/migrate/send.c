/* src/migrate/send.c — the source side of live migration: handshake,
 * iterative pre-copy of guest memory with the dirty log, stop-and-copy of
 * the last dirty pages and the VM state, and the destination's
 * acknowledgement; on any failure the VM runs on here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/migrate.h>

#include "error.h"
#include "migrate/migrate_internal.h"
#include "migrate/proto.h"
#include "snapshot/state.h"
#include "vm_internal.h"

struct src_region {
  uint64_t gpa, size, pages;
  uint8_t *hva;
  uint32_t flags;
  vmm_mem_region_t *handle;
  uint64_t *dirty;   /* this round's pages (logged regions only) */
  uint64_t *pending; /* found dirty but not sent yet */
  size_t words;
};

struct src {
  vmm_vm_t *vm;
  struct vmm__mig_stream s;
  struct src_region *regions;
  uint32_t n_regions;
  uint8_t *buf; /* one PAGES record's data */
  uint64_t pages_sent;
  uint32_t rounds;
};

static int collect_regions(struct src *c) {
  vmm_vm_t *vm = c->vm;
  int rc = 0;
  pthread_rwlock_rdlock(&vm->lock);
  size_t n = vm->mem.count;
  if (n == 0 || n > VMM__MIG_MAX_REGIONS) {
    pthread_rwlock_unlock(&vm->lock);
    return vmm__error(VMM_ERANGE, "the VM has %zu memory regions (1..%u can "
                      "be migrated)", n, VMM__MIG_MAX_REGIONS);
  }
  c->regions = calloc(n, sizeof(*c->regions));
  if (!c->regions)
    rc = vmm__error(VMM_ENOMEM, "out of memory");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const struct vmm__memslot *sl = vm->mem.slots[i];
    struct src_region *r = &c->regions[i];
    r->gpa = sl->gpa;
    r->size = sl->size;
    r->pages = sl->size / VMM__MIG_PAGE;
    r->hva = sl->hva;
    r->flags = sl->flags;
    r->handle = sl->owner;
    r->words = (size_t)((r->pages + 63) / 64);
    if (sl->dirty) {
      r->dirty = calloc(r->words, 8);
      r->pending = calloc(r->words, 8);
      if (!r->dirty || !r->pending)
        rc = vmm__error(VMM_ENOMEM, "out of memory for dirty bitmaps");
    }
  }
  c->n_regions = (uint32_t)n;
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

static void free_regions(struct src *c) {
  for (uint32_t i = 0; c->regions && i < c->n_regions; i++) {
    free(c->regions[i].dirty);
    free(c->regions[i].pending);
  }
  free(c->regions);
}

static int send_hello(struct src *c) {
  char *desc = NULL;
  int rc = vmm_vm_describe_json(c->vm, &desc);
  if (rc < 0)
    return vmm__error_prefix(rc, "describing the VM");
  size_t dlen = strlen(desc);
  if (dlen > VMM__MIG_MAX_DESC) {
    free(desc);
    return vmm__error(VMM_ERANGE, "the VM description has %zu bytes (at "
                      "most %u)", dlen, VMM__MIG_MAX_DESC);
  }
  size_t fixed = VMM__MIG_HELLO_FIXED + c->n_regions * VMM__MIG_REGION_SIZE;
  uint8_t *h = calloc(1, fixed);
  if (!h) {
    free(desc);
    return vmm__error(VMM_ENOMEM, "out of memory");
  }
  memcpy(h, VMM__MIG_MAGIC, 8);
  vmm__mig_put32(h + 8, VMM__MIG_FORMAT);
  vmm__mig_put32(h + 12, VMM__MIG_PAGE);
  vmm__mig_put32(h + 16, vmm_version());
  vmm__mig_put32(h + 20, c->n_regions);
  vmm__mig_put32(h + 24, (uint32_t)dlen);
  for (uint32_t i = 0; i < c->n_regions; i++) {
    uint8_t *e = h + VMM__MIG_HELLO_FIXED + i * VMM__MIG_REGION_SIZE;
    vmm__mig_put64(e, c->regions[i].gpa);
    vmm__mig_put64(e + 8, c->regions[i].size);
    vmm__mig_put32(e + 16, c->regions[i].flags & VMM_MEM_READONLY);
  }
  rc = vmm__mig_send(&c->s, VMM__MIG_HELLO, h, fixed, desc, dlen);
  free(h);
  free(desc);
  return rc;
}

/* Reads the destination's READY or ACK; its refusal becomes our error. */
static int recv_reply(struct src *c, uint16_t want) {
  struct vmm__mig_hdr hdr;
  char where[64], msg[VMM__MIG_MAX_TEXT + 1];
  snprintf(where, sizeof(where), "waiting for the destination's %s",
           vmm__mig_type_name(want));
  int rc = vmm__mig_recv_hdr(&c->s, &hdr, where);
  if (rc < 0)
    return rc;
  if (hdr.type != want)
    return vmm__error(VMM_EINVAL, "migration: the destination sent %s, "
                      "expected %s", vmm__mig_type_name(hdr.type),
                      vmm__mig_type_name(want));
  int status;
  rc = vmm__mig_recv_status(&c->s, hdr.len, &status, msg, sizeof(msg));
  if (rc < 0)
    return rc;
  if (status < 0)
    return vmm__error(status, "migration: the destination failed: %s", msg);
  return 0;
}

static bool page_is_zero(const uint8_t *p) {
  const uint64_t *w = (const uint64_t *)(const void *)p;
  for (unsigned i = 0; i < VMM__MIG_PAGE / 8; i++)
    if (w[i])
      return false;
  return true;
}

static int flush_run(struct src *c, uint32_t region, uint64_t first,
                     uint32_t count) {
  if (count == 0)
    return 0;
  uint8_t f[VMM__MIG_PAGES_FIXED];
  vmm__mig_put32(f, region);
  vmm__mig_put32(f + 4, count);
  vmm__mig_put64(f + 8, first);
  c->pages_sent += count;
  return vmm__mig_send(&c->s, VMM__MIG_PAGES, f, sizeof(f), c->buf,
                       (size_t)count * VMM__MIG_PAGE);
}

/*
 * Sends the pages of region `ri` set in `bm` (every page when NULL) in
 * runs of adjacent pages. Pages are copied before they are checksummed
 * and sent: the guest may be writing them (such a page is in the next
 * round's log). With `skip_zero`, all-zero pages are left out: the
 * destination's memory starts zeroed.
 */
static int send_pages(struct src *c, uint32_t ri, const uint64_t *bm,
                      bool skip_zero, uint64_t *count) {
  const struct src_region *r = &c->regions[ri];
  uint64_t first = 0;
  uint32_t run = 0;
  for (uint64_t p = 0; p < r->pages; p++) {
    if (bm && !(bm[p / 64] >> (p % 64) & 1)) {
      if (bm[p / 64] == 0)
        p |= 63; /* skip a clean word at once */
      continue;
    }
    if (run && (p != first + run || run == VMM__MIG_RUN_PAGES)) {
      int rc = flush_run(c, ri, first, run);
      if (rc < 0)
        return rc;
      run = 0;
    }
    uint8_t *dst = c->buf + (size_t)run * VMM__MIG_PAGE;
    memcpy(dst, r->hva + p * VMM__MIG_PAGE, VMM__MIG_PAGE);
    if (skip_zero && page_is_zero(dst))
      continue;
    if (run == 0)
      first = p;
    run++;
    (*count)++;
  }
  return flush_run(c, ri, first, run);
}

static int send_round_mark(struct src *c, uint32_t round) {
  uint8_t b[8];
  vmm__mig_put32(b, round);
  vmm__mig_put32(b + 4, 0);
  return vmm__mig_send(&c->s, VMM__MIG_ROUND, b, sizeof(b), NULL, 0);
}

/* Takes every logged region's dirty log into `pending` (OR); returns the
 * number of pages pending, or a negative code. */
static int64_t take_dirty(struct src *c) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < c->n_regions; i++) {
    struct src_region *r = &c->regions[i];
    if (!r->dirty)
      continue;
    int rc = vmm__mem_dirty_log_take(r->handle, r->dirty, r->words * 8);
    if (rc < 0)
      return rc;
    for (size_t w = 0; w < r->words; w++) {
      r->pending[w] |= r->dirty[w];
      n += (uint64_t)__builtin_popcountll(r->pending[w]);
    }
  }
  return (int64_t)n;
}

/* Sends every pending page of the logged regions and forgets them. */
static int send_pending(struct src *c, uint64_t *count) {
  for (uint32_t i = 0; i < c->n_regions; i++) {
    struct src_region *r = &c->regions[i];
    if (!r->pending)
      continue;
    int rc = send_pages(c, i, r->pending, false, count);
    if (rc < 0)
      return rc;
    memset(r->pending, 0, r->words * 8);
  }
  return 0;
}

static int send_state(struct src *c, vmm_migrate_stats_t *st) {
  void *blob = NULL;
  size_t len = 0;
  int rc = vmm__vm_state_save(c->vm, &blob, &len);
  if (rc < 0)
    return vmm__error_prefix(rc, "saving the VM state");
  if (len > VMM__MIG_MAX_STATE)
    rc = vmm__error(VMM_ERANGE, "the VM state has %zu bytes (at most %u)",
                    len, VMM__MIG_MAX_STATE);
  else
    rc = vmm__mig_send(&c->s, VMM__MIG_STATE, blob, len, NULL, 0);
  st->state_bytes = len;
  free(blob);
  return rc;
}

static int send_end(struct src *c) {
  uint8_t b[16];
  vmm__mig_put64(b, c->pages_sent);
  vmm__mig_put64(b + 8, c->rounds);
  return vmm__mig_send(&c->s, VMM__MIG_END, b, sizeof(b), NULL, 0);
}

/*
 * Pre-copy: round 1 copies every non-zero page of the logged regions;
 * each later round the pages dirtied during the one before. Stop and
 * copy when (a) the pages left would take at most max_downtime_ms at the
 * bandwidth of the last round, or (b) max_rounds were made, or (c) three
 * rounds in a row left no fewer dirty pages than the best round so far
 * (the guest writes about as fast as the stream carries).
 */
static int precopy(struct src *c, const struct vmm__mig_opts *o) {
  int64_t n = take_dirty(c); /* start the log afresh; round 1 sends all */
  if (n < 0)
    return (int)n;
  for (uint32_t i = 0; i < c->n_regions; i++)
    if (c->regions[i].pending)
      memset(c->regions[i].pending, 0, c->regions[i].words * 8);

  uint64_t t = vmm__now_ns(), sent = 0;
  int rc = send_round_mark(c, 1);
  for (uint32_t i = 0; rc == 0 && i < c->n_regions; i++)
    if (c->regions[i].dirty)
      rc = send_pages(c, i, NULL, true, &sent);
  if (rc < 0)
    return rc;
  c->rounds = 1;
  uint64_t best = UINT64_MAX;
  unsigned no_progress = 0;
  for (;;) {
    uint64_t dt = vmm__now_ns() - t;
    /* bytes per ms, at least 1 (a round with nothing to send) */
    double bw = dt ? (double)sent * VMM__MIG_PAGE * 1e6 / (double)dt : 0;
    n = take_dirty(c);
    if (n < 0)
      return (int)n;
    double est_ms = bw > 0 ? (double)n * VMM__MIG_PAGE / bw : 0;
    /* Progress: a dirty set smaller than any before (compared with the
     * previous round only, a set that goes up and down never stops). */
    if ((uint64_t)n >= best) {
      no_progress++;
    } else {
      best = (uint64_t)n;
      no_progress = 0;
    }
    if (n == 0 || est_ms <= o->max_downtime_ms || c->rounds >= o->max_rounds ||
        no_progress >= 3)
      return 0;
    t = vmm__now_ns();
    sent = 0;
    rc = send_round_mark(c, c->rounds + 1);
    if (rc == 0)
      rc = send_pending(c, &sent);
    if (rc < 0)
      return rc;
    c->rounds++;
  }
}

/* Best effort: tells the destination why we give up. */
static void send_abort(struct src *c, int code) {
  if (c->s.broken)
    return;
  char msg[VMM__MIG_MAX_TEXT];
  snprintf(msg, sizeof(msg), "%s", vmm_last_error());
  c->s.timeout_ms = 1000;
  vmm__mig_send_status(&c->s, VMM__MIG_ABORT, code, msg);
}

int vmm_vm_migrate_send(vmm_vm_t *vm, int fd, const vmm_migrate_opts_t *opts) {
  struct vmm__mig_opts o;
  int rc = vmm__mig_opts(opts, &o, "vmm_vm_migrate_send");
  if (rc < 0)
    return rc;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_migrate_send: not a live VM handle");
  if (fd < 0)
    return vmm__error(VMM_EBADF, "vmm_vm_migrate_send: bad fd %d", fd);
  vmm_vm_state_t state0 = vmm_vm_state(vm);
  if (state0 != VMM_VM_RUNNING && state0 != VMM_VM_PAUSED)
    return vmm__error(VMM_ESTATE, "vmm_vm_migrate_send: the VM must run on "
                      "libvmm's threads (running or paused)");
  if (atomic_exchange(&vm->migrating, true))
    return vmm__error(VMM_EBUSY, "vmm_vm_migrate_send: the VM is being "
                      "migrated already");

  uint64_t t0 = vmm__now_ns(), t_pause = 0;
  vmm_migrate_stats_t st = {.size = sizeof(st)};
  struct src c = {.vm = vm};
  vmm__mig_stream_init(&c.s, fd, o.timeout_ms);
  bool paused_here = false;
  c.buf = malloc((size_t)VMM__MIG_RUN_PAGES * VMM__MIG_PAGE);
  if (!c.buf)
    rc = vmm__error(VMM_ENOMEM, "out of memory");
  if (rc == 0)
    rc = collect_regions(&c);
  if (rc == 0)
    rc = send_hello(&c);
  if (rc == 0)
    rc = recv_reply(&c, VMM__MIG_READY);
  if (rc == 0)
    rc = precopy(&c, &o);
  st.rounds = c.rounds;
  uint64_t before_final = c.pages_sent;
  if (rc == 0 && state0 == VMM_VM_RUNNING) {
    t_pause = vmm__now_ns();
    rc = vmm_vm_pause(vm);
    if (rc < 0)
      vmm__error_prefix(rc, "pausing the VM");
    else
      paused_here = true;
  }
  if (rc == 0 && !t_pause)
    t_pause = vmm__now_ns();
  uint64_t final = 0;
  if (rc == 0) {
    /* Stop and copy: what the last round left and what was written since,
     * then the regions that have no log, whole. */
    int64_t n = take_dirty(&c);
    rc = n < 0 ? (int)n : send_round_mark(&c, 0);
    if (rc == 0)
      rc = send_pending(&c, &final);
    for (uint32_t i = 0; rc == 0 && i < c.n_regions; i++)
      if (!c.regions[i].dirty)
        rc = send_pages(&c, i, NULL, true, &final);
  }
  if (rc == 0)
    rc = send_state(&c, &st);
  if (rc == 0)
    rc = send_end(&c);
  if (rc == 0)
    rc = recv_reply(&c, VMM__MIG_ACK);

  uint64_t end = vmm__now_ns();
  st.total_ns = end - t0;
  st.downtime_ns = rc == 0 ? end - t_pause : 0;
  st.pages_sent = c.pages_sent;
  st.final_pages = c.pages_sent - before_final;
  st.bytes = c.s.bytes;
  if (rc < 0) {
    int saved = rc;
    vmm__error_prefix(rc, "vmm_vm_migrate_send");
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", vmm_last_error());
    send_abort(&c, rc);
    if (paused_here && !(o.flags & VMM_MIGRATE_NO_RESUME)) {
      int r2 = vmm_vm_resume(vm);
      if (r2 < 0)
        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                 "; and resuming the VM failed: %s", vmm_last_error());
    }
    rc = vmm__error(saved, "%s", msg);
  }
  if (o.stats)
    vmm__mig_stats_out(o.stats, &st);
  free_regions(&c);
  free(c.buf);
  atomic_store(&vm->migrating, false);
  return rc;
}
