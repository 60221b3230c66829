/* src/migrate/recv.c — the destination side of live migration: checks the
 * source's handshake, builds the VM from its description, writes the
 * pages into guest memory, loads the state and acknowledges. Everything
 * read is untrusted: lengths, indices and page ranges are checked before
 * use, and every record's checksum before it counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libvmm/migrate.h>

#include "error.h"
#include "migrate/migrate_internal.h"
#include "migrate/proto.h"
#include "snapshot/state.h"
#include "vm_internal.h"

struct dst_region {
  uint64_t gpa, size;
  uint32_t flags;
  uint8_t *hva;
};

struct dst {
  struct vmm__mig_stream s;
  vmm_vm_t *vm;
  uint32_t n_regions;
  struct dst_region regions[VMM__MIG_MAX_REGIONS];
  uint64_t pages;
  uint32_t rounds;
  void *state;
  size_t state_len;
  uint64_t t_final; /* ROUND 0: the source paused its VM */
};

/*
 * The description without what only makes sense at the source: its
 * payload (memory comes over the stream, and the image files need not
 * exist here) and its control socket (the path is the source's).
 */
static int strip_description(const char *json, size_t len, char **out) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return vmm__error(VMM_EINVAL, "the VM description is not a JSON object");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(root, "payload");
  cJSON_DeleteItemFromObjectCaseSensitive(root, "control");
  *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!*out)
    return vmm__error(VMM_ENOMEM, "out of memory");
  return 0;
}

static int build_vm(struct dst *d, const char *json, size_t len) {
  char *desc = NULL;
  int rc = strip_description(json, len, &desc);
  if (rc < 0)
    return rc;
  vmm_config_t *cfg = NULL;
  rc = vmm_config_parse(desc, strlen(desc), &cfg);
  free(desc);
  if (rc < 0)
    return vmm__error_prefix(rc, "the source's VM description");
  rc = vmm_vm_create_from_config(cfg, &d->vm);
  vmm_config_free(cfg);
  if (rc < 0)
    return rc;
  /* The regions built here must be those the source listed. */
  vmm_vm_t *vm = d->vm;
  pthread_rwlock_rdlock(&vm->lock);
  if (vm->mem.count != d->n_regions)
    rc = vmm__error(VMM_EINVAL, "the description makes %zu memory regions, "
                    "the source listed %u", vm->mem.count, d->n_regions);
  for (uint32_t i = 0; rc == 0 && i < d->n_regions; i++) {
    const struct vmm__memslot *sl = vm->mem.slots[i];
    struct dst_region *r = &d->regions[i];
    if (sl->gpa != r->gpa || sl->size != r->size ||
        (sl->flags & VMM_MEM_READONLY) != r->flags)
      rc = vmm__error(VMM_EINVAL, "memory region %u: the source listed "
                      "[0x%llx, +0x%llx), the description made [0x%llx, "
                      "+0x%llx)", i, (unsigned long long)r->gpa,
                      (unsigned long long)r->size, (unsigned long long)sl->gpa,
                      (unsigned long long)sl->size);
    else
      r->hva = sl->hva;
  }
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

static int recv_hello(struct dst *d) {
  struct vmm__mig_hdr hdr;
  int rc = vmm__mig_recv_hdr(&d->s, &hdr, "at the start of the stream");
  if (rc < 0)
    return rc;
  if (hdr.type != VMM__MIG_HELLO)
    return vmm__error(VMM_EINVAL, "migration stream: starts with a %s "
                      "record, not HELLO", vmm__mig_type_name(hdr.type));
  if (hdr.len < VMM__MIG_HELLO_FIXED)
    return vmm__error(VMM_EINVAL, "migration stream: HELLO of %llu bytes "
                      "(at least %u)", (unsigned long long)hdr.len,
                      VMM__MIG_HELLO_FIXED);
  /* Bounded by the header check (HELLO's maximum is about 1 MiB). */
  uint8_t *h = malloc((size_t)hdr.len + 1);
  if (!h)
    return vmm__error(VMM_ENOMEM, "out of memory");
  rc = vmm__mig_recv_payload(&d->s, h, (size_t)hdr.len, "HELLO");
  if (rc == 0)
    rc = vmm__mig_recv_end(&d->s, "HELLO");
  uint32_t format = 0, page = 0, version = 0, n = 0, dlen = 0;
  if (rc == 0) {
    format = vmm__mig_get32(h + 8);
    page = vmm__mig_get32(h + 12);
    version = vmm__mig_get32(h + 16);
    n = vmm__mig_get32(h + 20);
    dlen = vmm__mig_get32(h + 24);
  }
  if (rc < 0) {
  } else if (memcmp(h, VMM__MIG_MAGIC, 8) != 0) {
    rc = vmm__error(VMM_EINVAL, "migration stream: HELLO without the libvmm "
                    "migration magic");
  } else if (format != VMM__MIG_FORMAT) {
    rc = vmm__error(VMM_EVERSION, "migration stream: format %u, this "
                    "library reads format %u", format, VMM__MIG_FORMAT);
  } else if (version >> 16 != vmm_version() >> 16) {
    rc = vmm__error(VMM_EVERSION, "migration stream: from libvmm %u.%u, "
                    "this is %u.%u (the major versions must match)",
                    version >> 16, (version >> 8) & 0xff,
                    vmm_version() >> 16, (vmm_version() >> 8) & 0xff);
  } else if (page != VMM__MIG_PAGE) {
    rc = vmm__error(VMM_EINVAL, "migration stream: page size %u (need %u)",
                    page, VMM__MIG_PAGE);
  } else if (n == 0 || n > VMM__MIG_MAX_REGIONS) {
    rc = vmm__error(VMM_ERANGE, "migration stream: %u memory regions "
                    "(1..%u)", n, VMM__MIG_MAX_REGIONS);
  } else if (hdr.len != VMM__MIG_HELLO_FIXED +
                            (uint64_t)n * VMM__MIG_REGION_SIZE + dlen) {
    rc = vmm__error(VMM_EINVAL, "migration stream: HELLO of %llu bytes does "
                    "not hold %u regions and a %u-byte description",
                    (unsigned long long)hdr.len, n, dlen);
  }
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    const uint8_t *e = h + VMM__MIG_HELLO_FIXED + i * VMM__MIG_REGION_SIZE;
    struct dst_region *r = &d->regions[i];
    r->gpa = vmm__mig_get64(e);
    r->size = vmm__mig_get64(e + 8);
    r->flags = vmm__mig_get32(e + 16);
    if (r->size == 0 || r->size % VMM__MIG_PAGE || r->gpa % VMM__MIG_PAGE ||
        r->flags & ~VMM_MEM_READONLY)
      rc = vmm__error(VMM_EINVAL, "migration stream: region %u [0x%llx, "
                      "+0x%llx) flags 0x%x is malformed", i,
                      (unsigned long long)r->gpa, (unsigned long long)r->size,
                      r->flags);
  }
  d->n_regions = n;
  if (rc == 0) {
    const char *json =
        (const char *)h + VMM__MIG_HELLO_FIXED + n * VMM__MIG_REGION_SIZE;
    rc = build_vm(d, json, dlen);
  }
  free(h);
  return rc;
}

static int recv_pages(struct dst *d, uint64_t len) {
  uint8_t f[VMM__MIG_PAGES_FIXED];
  if (len < sizeof(f))
    return vmm__error(VMM_EINVAL, "migration stream: PAGES record of %llu "
                      "bytes", (unsigned long long)len);
  int rc = vmm__mig_recv_payload(&d->s, f, sizeof(f), "PAGES");
  if (rc < 0)
    return rc;
  uint32_t ri = vmm__mig_get32(f), count = vmm__mig_get32(f + 4);
  uint64_t first = vmm__mig_get64(f + 8);
  if (ri >= d->n_regions)
    return vmm__error(VMM_ERANGE, "migration stream: PAGES for region %u "
                      "(there are %u)", ri, d->n_regions);
  const struct dst_region *r = &d->regions[ri];
  uint64_t pages = r->size / VMM__MIG_PAGE;
  if (count == 0 || count > VMM__MIG_RUN_PAGES || first >= pages ||
      count > pages - first)
    return vmm__error(VMM_ERANGE, "migration stream: PAGES %llu..+%u outside "
                      "region %u (%llu pages) or too many",
                      (unsigned long long)first, count, ri,
                      (unsigned long long)pages);
  if (len != sizeof(f) + (uint64_t)count * VMM__MIG_PAGE)
    return vmm__error(VMM_EINVAL, "migration stream: PAGES record of %llu "
                      "bytes for %u pages", (unsigned long long)len, count);
  /* Straight into guest memory: the VM does not run yet, and a bad
   * checksum below discards the whole VM. */
  rc = vmm__mig_recv_payload(&d->s, r->hva + first * VMM__MIG_PAGE,
                             (size_t)count * VMM__MIG_PAGE, "PAGES data");
  if (rc == 0)
    rc = vmm__mig_recv_end(&d->s, "PAGES");
  if (rc == 0)
    d->pages += count;
  return rc;
}

static int recv_small(struct dst *d, uint64_t len, uint64_t want, uint8_t *b,
                      const char *what) {
  if (len != want)
    return vmm__error(VMM_EINVAL, "migration stream: %s record of %llu bytes "
                      "(must be %llu)", what, (unsigned long long)len,
                      (unsigned long long)want);
  int rc = vmm__mig_recv_payload(&d->s, b, (size_t)len, what);
  return rc < 0 ? rc : vmm__mig_recv_end(&d->s, what);
}

/* Reads records until END; memory goes into the VM, the state is kept. */
static int recv_body(struct dst *d) {
  for (;;) {
    char where[96];
    snprintf(where, sizeof(where), "after %llu pages in round %u",
             (unsigned long long)d->pages, d->rounds);
    struct vmm__mig_hdr hdr;
    int rc = vmm__mig_recv_hdr(&d->s, &hdr, where);
    if (rc < 0)
      return rc;
    uint8_t b[16];
    switch (hdr.type) {
    case VMM__MIG_ROUND:
      rc = recv_small(d, hdr.len, 8, b, "ROUND");
      if (rc == 0 && vmm__mig_get32(b) == 0)
        d->t_final = vmm__now_ns();
      else if (rc == 0)
        d->rounds++;
      break;
    case VMM__MIG_PAGES:
      rc = recv_pages(d, hdr.len);
      break;
    case VMM__MIG_STATE:
      if (d->state)
        return vmm__error(VMM_EINVAL, "migration stream: a second STATE "
                          "record");
      d->state = malloc(hdr.len ? (size_t)hdr.len : 1);
      if (!d->state)
        return vmm__error(VMM_ENOMEM, "out of memory for %llu bytes of "
                          "state", (unsigned long long)hdr.len);
      d->state_len = (size_t)hdr.len;
      rc = vmm__mig_recv_payload(&d->s, d->state, d->state_len, "STATE");
      if (rc == 0)
        rc = vmm__mig_recv_end(&d->s, "STATE");
      break;
    case VMM__MIG_END:
      rc = recv_small(d, hdr.len, 16, b, "END");
      if (rc < 0)
        return rc;
      if (vmm__mig_get64(b) != d->pages)
        return vmm__error(VMM_EIO, "migration stream: the source sent %llu "
                          "pages, %llu arrived",
                          (unsigned long long)vmm__mig_get64(b),
                          (unsigned long long)d->pages);
      if (!d->state)
        return vmm__error(VMM_EINVAL, "migration stream: END without a "
                          "STATE record");
      return 0;
    case VMM__MIG_ABORT: {
      int status;
      char msg[VMM__MIG_MAX_TEXT + 1];
      rc = vmm__mig_recv_status(&d->s, hdr.len, &status, msg, sizeof(msg));
      if (rc == 0)
        rc = vmm__error(status < 0 ? status : VMM_EIO,
                        "migration: the source gave up: %s", msg);
      return rc;
    }
    default:
      return vmm__error(VMM_EINVAL, "migration stream: unexpected %s record "
                        "%s", vmm__mig_type_name(hdr.type), where);
    }
    if (rc < 0)
      return rc;
  }
}

/* Tells the source why (best effort: the stream may be what failed). */
static void reply_error(struct dst *d, uint16_t type, int code) {
  if (d->s.broken)
    return;
  char msg[VMM__MIG_MAX_TEXT];
  snprintf(msg, sizeof(msg), "%s", vmm_last_error());
  d->s.timeout_ms = 1000;
  vmm__mig_send_status(&d->s, type, code, msg);
}

int vmm_vm_migrate_recv(int fd, const vmm_migrate_opts_t *opts,
                        vmm_vm_t **out) {
  if (out)
    *out = NULL;
  struct vmm__mig_opts o;
  int rc = vmm__mig_opts(opts, &o, "vmm_vm_migrate_recv");
  if (rc < 0)
    return rc;
  if (!out)
    return vmm__error(VMM_EINVAL, "vmm_vm_migrate_recv: out is NULL");
  if (fd < 0)
    return vmm__error(VMM_EBADF, "vmm_vm_migrate_recv: bad fd %d", fd);
  uint64_t t0 = vmm__now_ns();
  struct dst *d = calloc(1, sizeof(*d));
  if (!d)
    return vmm__error(VMM_ENOMEM, "out of memory");
  vmm__mig_stream_init(&d->s, fd, o.timeout_ms);

  rc = recv_hello(d);
  if (rc < 0) {
    reply_error(d, VMM__MIG_READY, rc);
  } else {
    rc = vmm__mig_send_status(&d->s, VMM__MIG_READY, 0, "ready");
    if (rc == 0)
      rc = recv_body(d);
    if (rc == 0) {
      rc = vmm__vm_state_load(d->vm, d->state, d->state_len);
      if (rc < 0)
        vmm__error_prefix(rc, "loading the VM state");
    }
    if (rc == 0 && !(o.flags & VMM_MIGRATE_NO_START)) {
      rc = vmm_vm_start(d->vm);
      if (rc < 0)
        vmm__error_prefix(rc, "starting the VM");
    }
    if (rc < 0)
      reply_error(d, VMM__MIG_ACK, rc);
    else
      /* If this fails the source keeps (and resumes) its VM: ours must
       * not run as well. */
      rc = vmm__mig_send_status(&d->s, VMM__MIG_ACK, 0, "running");
  }
  uint64_t end = vmm__now_ns();
  if (o.stats) {
    vmm_migrate_stats_t st = {.size = sizeof(st)};
    st.total_ns = end - t0;
    st.downtime_ns = rc == 0 && d->t_final ? end - d->t_final : 0;
    st.rounds = d->rounds;
    st.pages_sent = d->pages;
    st.bytes = d->s.bytes;
    st.state_bytes = d->state_len;
    vmm__mig_stats_out(o.stats, &st);
  }
  if (rc < 0) {
    char msg[1024];
    int saved = rc;
    snprintf(msg, sizeof(msg), "%s", vmm_last_error());
    vmm_vm_destroy(d->vm); /* stops it first if it was started */
    rc = vmm__error(saved, "vmm_vm_migrate_recv: %s", msg);
  } else {
    *out = d->vm;
  }
  free(d->state);
  free(d);
  return rc;
}
