/* src/migrate/proto.c — the migration stream's records: framing, checksums
 * and blocking I/O with a time limit per wait (SIGPIPE never raised). */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "migrate/proto.h"

/* ---- checksum: a 64-bit multiply-rotate hash over little-endian words.
 * It guards against corruption and framing mistakes, not against an
 * attacker (who controls the stream anyway). ---- */

static inline uint64_t mix(uint64_t h, uint64_t w) {
  h ^= w * 0x9e3779b97f4a7c15ull;
  h = (h << 29) | (h >> 35);
  return h * 0xbf58476d1ce4e5b9ull;
}

void vmm__mig_hash_init(struct vmm__mig_hash *h) {
  h->h = 0x6c6962766d6d6d67ull;
  h->ntail = 0;
}

void vmm__mig_hash_update(struct vmm__mig_hash *h, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n && h->ntail) {
    h->tail[h->ntail++] = *b++;
    n--;
    if (h->ntail == 8) {
      h->h = mix(h->h, vmm__mig_get64(h->tail));
      h->ntail = 0;
    }
  }
  for (; n >= 8; b += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    h->h = mix(h->h, le64toh(w));
  }
  while (n--)
    h->tail[h->ntail++] = *b++;
}

uint64_t vmm__mig_hash_final(struct vmm__mig_hash *h) {
  uint64_t last = 0x80;
  for (unsigned i = 0; i < h->ntail; i++)
    last = (last << 8) | h->tail[i];
  uint64_t r = mix(h->h, last ^ ((uint64_t)h->ntail << 56));
  h->ntail = 0;
  return r ^ (r >> 31);
}

/* ---- I/O ---- */

void vmm__mig_stream_init(struct vmm__mig_stream *s, int fd, int timeout_ms) {
  memset(s, 0, sizeof(*s));
  s->fd = fd;
  s->timeout_ms = timeout_ms;
  s->is_socket = -1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until the fd is ready for `events`; 0, or VMM_ETIMEDOUT / an
 * error. A hang-up counts as ready: the read or write then says what. */
static int wait_fd(struct vmm__mig_stream *s, short events, const char *what) {
  uint64_t start = now_ms();
  for (;;) {
    int left = -1;
    if (s->timeout_ms >= 0) {
      uint64_t spent = now_ms() - start;
      if (spent >= (uint64_t)s->timeout_ms)
        return vmm__error(VMM_ETIMEDOUT, "migration stream: no progress for "
                          "%d ms while %s", s->timeout_ms, what);
      left = s->timeout_ms - (int)spent;
    }
    struct pollfd p = {.fd = s->fd, .events = events};
    int n = poll(&p, 1, left);
    if (n > 0) {
      if (p.revents & POLLNVAL)
        return vmm__error(VMM_EBADF, "migration stream: fd %d is not open",
                          s->fd);
      return 0;
    }
    if (n < 0 && errno != EINTR)
      return vmm__error(-errno, "migration stream: poll: %s", strerror(errno));
  }
}

static int write_all(struct vmm__mig_stream *s, const void *buf, size_t n,
                     const char *what) {
  const uint8_t *p = buf;
  if (s->broken)
    return vmm__error(VMM_EIO, "migration stream: broken earlier, not %s",
                      what);
  while (n) {
    int rc = wait_fd(s, POLLOUT, what);
    if (rc < 0) {
      s->broken = true;
      return rc;
    }
    ssize_t w = -1;
    if (s->is_socket != 0) {
      /* MSG_NOSIGNAL: a peer that went away must not kill the process. */
      w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno == ENOTSOCK)
        s->is_socket = 0;
      else
        s->is_socket = 1;
    }
    /* A pipe: at most PIPE_BUF, which poll() promised room for, so that
     * a blocking descriptor does not block past the time limit. */
    if (s->is_socket == 0)
      w = write(s->fd, p, n > 4096 ? 4096 : n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      s->broken = true;
      return vmm__error(VMM_EIO, "migration stream: write failed while %s: %s", what,
                        strerror(errno));
    }
    p += w;
    n -= (size_t)w;
    s->bytes += (uint64_t)w;
  }
  return 0;
}

static int read_all(struct vmm__mig_stream *s, void *buf, size_t n,
                    const char *what) {
  uint8_t *p = buf;
  size_t want = n;
  while (n) {
    int rc = wait_fd(s, POLLIN, what);
    if (rc < 0) {
      s->broken = true;
      return rc;
    }
    ssize_t r = read(s->fd, p, n);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      s->broken = true;
      return vmm__error(VMM_EIO, "migration stream: read failed in %s: %s",
                        what, strerror(errno));
    }
    if (r == 0) {
      s->broken = true;
      return vmm__error(VMM_EIO, "migration stream: ended in %s (%zu of "
                        "%zu bytes)", what, want - n, want);
    }
    p += r;
    n -= (size_t)r;
    s->bytes += (uint64_t)r;
  }
  return 0;
}

/* ---- records ---- */

const char *vmm__mig_type_name(unsigned type) {
  static const char *const names[] = {
      NULL, "HELLO", "READY", "ROUND", "PAGES", "STATE", "END", "ACK",
      "ABORT"};
  if (type < sizeof(names) / sizeof(names[0]) && names[type])
    return names[type];
  return "unknown";
}

static uint64_t max_len(unsigned type) {
  switch (type) {
  case VMM__MIG_HELLO:
    return VMM__MIG_HELLO_FIXED +
           VMM__MIG_MAX_REGIONS * VMM__MIG_REGION_SIZE + VMM__MIG_MAX_DESC;
  case VMM__MIG_READY:
  case VMM__MIG_ACK:
  case VMM__MIG_ABORT:
    return 4 + VMM__MIG_MAX_TEXT;
  case VMM__MIG_ROUND:
    return 8;
  case VMM__MIG_PAGES:
    return VMM__MIG_PAGES_FIXED + (uint64_t)VMM__MIG_RUN_PAGES * VMM__MIG_PAGE;
  case VMM__MIG_STATE:
    return VMM__MIG_MAX_STATE;
  case VMM__MIG_END:
    return 16;
  default:
    return 0;
  }
}

int vmm__mig_send(struct vmm__mig_stream *s, uint16_t type, const void *a,
                  size_t alen, const void *b, size_t blen) {
  uint8_t hdr[VMM__MIG_HDR_SIZE] = {0};
  hdr[0] = VMM__MIG_HDR_MAGIC & 0xff;
  hdr[1] = VMM__MIG_HDR_MAGIC >> 8;
  hdr[2] = (uint8_t)type;
  hdr[3] = (uint8_t)(type >> 8);
  vmm__mig_put64(hdr + 8, (uint64_t)alen + blen);
  struct vmm__mig_hash h;
  vmm__mig_hash_init(&h);
  vmm__mig_hash_update(&h, hdr, sizeof(hdr));
  vmm__mig_hash_update(&h, a, alen);
  vmm__mig_hash_update(&h, b, blen);
  uint8_t sum[8];
  vmm__mig_put64(sum, vmm__mig_hash_final(&h));
  char what[64];
  snprintf(what, sizeof(what), "sending %s", vmm__mig_type_name(type));
  int rc = write_all(s, hdr, sizeof(hdr), what);
  if (rc == 0 && alen)
    rc = write_all(s, a, alen, what);
  if (rc == 0 && blen)
    rc = write_all(s, b, blen, what);
  if (rc == 0)
    rc = write_all(s, sum, sizeof(sum), what);
  return rc;
}

int vmm__mig_recv_hdr(struct vmm__mig_stream *s, struct vmm__mig_hdr *hdr,
                      const char *where) {
  uint8_t raw[VMM__MIG_HDR_SIZE];
  char what[96];
  snprintf(what, sizeof(what), "a record header %s", where);
  int rc = read_all(s, raw, sizeof(raw), what);
  if (rc < 0)
    return rc;
  uint16_t magic = (uint16_t)(raw[0] | raw[1] << 8);
  hdr->type = (uint16_t)(raw[2] | raw[3] << 8);
  hdr->len = vmm__mig_get64(raw + 8);
  if (magic != VMM__MIG_HDR_MAGIC)
    return vmm__error(VMM_EINVAL, "migration stream: bad record magic 0x%04x "
                      "%s (not a libvmm migration stream, or out of step)",
                      magic, where);
  if (vmm__mig_get32(raw + 4) != 0)
    return vmm__error(VMM_EINVAL, "migration stream: reserved header field "
                      "not 0 %s", where);
  uint64_t max = max_len(hdr->type);
  if (max == 0)
    return vmm__error(VMM_EINVAL, "migration stream: unknown record type %u "
                      "%s", hdr->type, where);
  if (hdr->len > max)
    return vmm__error(VMM_ERANGE, "migration stream: %s record of %llu bytes "
                      "%s (at most %llu)", vmm__mig_type_name(hdr->type),
                      (unsigned long long)hdr->len, where,
                      (unsigned long long)max);
  vmm__mig_hash_init(&s->rx);
  vmm__mig_hash_update(&s->rx, raw, sizeof(raw));
  return 0;
}

int vmm__mig_recv_payload(struct vmm__mig_stream *s, void *buf, size_t n,
                          const char *what) {
  int rc = read_all(s, buf, n, what);
  if (rc == 0)
    vmm__mig_hash_update(&s->rx, buf, n);
  return rc;
}

int vmm__mig_recv_end(struct vmm__mig_stream *s, const char *what) {
  uint8_t sum[8];
  int rc = read_all(s, sum, sizeof(sum), what);
  if (rc < 0)
    return rc;
  uint64_t want = vmm__mig_hash_final(&s->rx);
  if (vmm__mig_get64(sum) != want)
    return vmm__error(VMM_EIO, "migration stream: checksum mismatch in %s "
                      "(the stream is corrupt)", what);
  return 0;
}

int vmm__mig_send_status(struct vmm__mig_stream *s, uint16_t type,
                         int status, const char *msg) {
  uint8_t st[4];
  vmm__mig_put32(st, (uint32_t)status);
  size_t n = msg ? strnlen(msg, VMM__MIG_MAX_TEXT) : 0;
  return vmm__mig_send(s, type, st, sizeof(st), msg, n);
}

int vmm__mig_recv_status(struct vmm__mig_stream *s, uint64_t len,
                         int *status, char *msg, size_t msg_size) {
  uint8_t buf[4 + VMM__MIG_MAX_TEXT];
  if (len < 4)
    return vmm__error(VMM_EINVAL, "migration stream: status record of %llu "
                      "bytes (at least 4)", (unsigned long long)len);
  /* The header check bounded len to 4 + VMM__MIG_MAX_TEXT. */
  int rc = vmm__mig_recv_payload(s, buf, (size_t)len, "a status record");
  if (rc == 0)
    rc = vmm__mig_recv_end(s, "a status record");
  if (rc < 0)
    return rc;
  *status = (int)vmm__mig_get32(buf);
  size_t n = (size_t)len - 4;
  if (n >= msg_size)
    n = msg_size - 1;
  memcpy(msg, buf + 4, n);
  msg[n] = '\0';
  /* A message for people: keep it printable. */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
      msg[i] = '?';
  if (*status > 0 || *status < -4096 * 2)
    return vmm__error(VMM_EINVAL, "migration stream: bad status %d", *status);
  return 0;
}
