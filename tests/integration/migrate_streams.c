/* tests/integration/migrate_streams.c — the receiving side of live
 * migration fed bad, short and corrupt streams (built with
 * migrate_wire.h): each must fail with the expected code and a message
 * saying what, leave no VM, and tell the source why where it can; and the
 * API's argument checks on both sides. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "migrate_wire.h"
#include "runner.h"
#include "test_vm.h"

#define DESC_FMT                                                             \
  "{\"backend\": \"%s\", \"irqchip\": false,"                                \
  " \"memory\": [{\"gpa\": 0, \"size\": \"1M\"}]%s}"
#define RAM 0x100000ull

static char desc[512];

static const char *good_desc(void) {
  snprintf(desc, sizeof(desc), DESC_FMT, test_backend, "");
  return desc;
}

static void good_hello(struct migw *w) {
  migw_hello(w, 1, vmm_version(), 1, RAM, good_desc());
}

struct feeder {
  int fd;
  const struct migw *w;
};

static void *feed(void *arg) {
  struct feeder *f = arg;
  size_t off = 0;
  while (off < f->w->len) {
    ssize_t n = write(f->fd, f->w->buf + off, f->w->len - off);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  shutdown(f->fd, SHUT_WR);
  return NULL;
}

/*
 * Feeds `w` to vmm_vm_migrate_recv(): it must return `want` with `text`
 * in its message and no VM. With `reply` (READY or ACK), the source end
 * must have received that record with a negative status.
 */
static void expect_refused(struct migw *w, int want, const char *text,
                           unsigned reply, unsigned line) {
  int sv[2];
  if (!EXPECT_TRUE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0))
    return;
  struct feeder f = {sv[0], w};
  pthread_t th;
  pthread_create(&th, NULL, feed, &f);
  vmm_vm_t *vm = (vmm_vm_t *)&f; /* must be overwritten with NULL */
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.timeout_ms = 5000;
  int rc = vmm_vm_migrate_recv(sv[1], &o, &vm);
  char what[64];
  snprintf(what, sizeof(what), "stream of line %u", line);
  check_rc(rc, want, what, line);
  check_true(strstr(vmm_last_error(), text) != NULL, line, what,
             "message '%s' lacks '%s'", vmm_last_error(), text);
  check_true(vm == NULL, line, what, "a VM was left behind");
  pthread_join(th, NULL);
  if (reply) {
    /* What came back: READY (ok or not), maybe ACK; look for `reply`
     * with a negative status. */
    uint8_t r[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(r) &&
           (n = recv(sv[0], r + len, sizeof(r) - len, MSG_DONTWAIT)) > 0)
      len += (size_t)n;
    bool found = false;
    for (size_t off = 0; off + MIGW_HDR + 4 <= len;) {
      uint64_t plen = migw_get64(r + off + 8);
      int32_t status = (int32_t)(r[off + 16] | r[off + 17] << 8 |
                                 r[off + 18] << 16 |
                                 (uint32_t)r[off + 19] << 24);
      if (r[off + 2] == reply && status < 0)
        found = true;
      if (plen > len)
        break;
      off += MIGW_HDR + plen + 8;
    }
    check_true(found, line, what, "no %s with an error status came back",
               reply == MIGW_READY ? "READY" : "ACK");
  }
  close(sv[0]);
  close(sv[1]);
  free(w->buf);
  memset(w, 0, sizeof(*w));
}
#define REFUSED(w, want, text, reply)                                        \
  expect_refused((w), (want), (text), (reply), __LINE__)

static void test_framing(void) {
  struct migw w = {0};
  REFUSED(&w, VMM_EIO, "ended", 0); /* empty */
  memcpy(migw_grow(&w, 32), "this is not a migration stream!", 32);
  REFUSED(&w, VMM_EINVAL, "bad record magic", 0);
  uint8_t h[MIGW_HDR] = {0x56, 0x4d, MIGW_PAGES};
  migw_put64(h + 8, 1ull << 40);
  memcpy(migw_grow(&w, sizeof(h)), h, sizeof(h));
  REFUSED(&w, VMM_ERANGE, "PAGES record of 1099511627776 bytes", 0);
  h[2] = 99;
  migw_put64(h + 8, 0);
  memcpy(migw_grow(&w, sizeof(h)), h, sizeof(h));
  REFUSED(&w, VMM_EINVAL, "unknown record type 99", 0);
  h[2] = MIGW_HELLO;
  h[4] = 1; /* reserved */
  memcpy(migw_grow(&w, sizeof(h)), h, sizeof(h));
  REFUSED(&w, VMM_EINVAL, "reserved", 0);
  migw_pages(&w, 0, 0, 1, 1, 0xaa);
  REFUSED(&w, VMM_EINVAL, "not HELLO", 0);
  good_hello(&w);
  w.buf[w.len - 1] ^= 1; /* the checksum */
  REFUSED(&w, VMM_EIO, "checksum mismatch in HELLO", 0);
  good_hello(&w);
  w.len -= 30; /* cut inside the description */
  REFUSED(&w, VMM_EIO, "ended in HELLO", 0);
}

static void test_hello(void) {
  struct migw w = {0};
  uint8_t bad[32 + 24] = {0};
  memcpy(bad, "LIBVMMXX", 8);
  migw_record(&w, MIGW_HELLO, bad, sizeof(bad));
  REFUSED(&w, VMM_EINVAL, "magic", MIGW_READY);
  migw_record(&w, MIGW_HELLO, bad, 8);
  REFUSED(&w, VMM_EINVAL, "HELLO of 8 bytes", MIGW_READY);
  migw_hello(&w, 2, vmm_version(), 1, RAM, good_desc());
  REFUSED(&w, VMM_EVERSION, "format 2", MIGW_READY);
  migw_hello(&w, 1, vmm_version() + 0x10000, 1, RAM, good_desc());
  REFUSED(&w, VMM_EVERSION, "major versions", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 0, RAM, good_desc());
  REFUSED(&w, VMM_ERANGE, "0 memory regions", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 2, RAM, good_desc());
  REFUSED(&w, VMM_EINVAL, "does not hold 2 regions", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 1, RAM + 1, good_desc());
  REFUSED(&w, VMM_EINVAL, "malformed", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 1, 2 * RAM, good_desc());
  REFUSED(&w, VMM_EINVAL, "memory region 0", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 1, RAM, "{\"backend\": ");
  REFUSED(&w, VMM_EINVAL, "not a JSON object", MIGW_READY);
  migw_hello(&w, 1, vmm_version(), 1, RAM, "{\"memory\": \"1M\", \"x\": 1}");
  REFUSED(&w, VMM_EINVAL, "description", MIGW_READY);
  /* The source's payload and control socket are not rebuilt here. */
  char d[512];
  snprintf(d, sizeof(d), DESC_FMT, test_backend,
           ", \"payload\": {\"type\": \"elf\", \"path\": \"/nonexistent\"},"
           " \"control\": {\"path\": \"/nonexistent/ctl.sock\"}");
  migw_hello(&w, 1, vmm_version(), 1, RAM, d);
  REFUSED(&w, VMM_EIO, "ended", 0);
}

static void test_body(void) {
  struct migw w = {0};
  good_hello(&w);
  REFUSED(&w, VMM_EIO, "ended in a record header after 0 pages", 0);
  good_hello(&w);
  migw_pages(&w, 0, 255, 2, 2, 1);
  REFUSED(&w, VMM_ERANGE, "outside region 0", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 0, 1ull << 60, 1, 1, 1);
  REFUSED(&w, VMM_ERANGE, "outside region 0", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 1, 0, 1, 1, 1);
  REFUSED(&w, VMM_ERANGE, "region 1 (there are 1)", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 0, 0, 0, 0, 1);
  REFUSED(&w, VMM_ERANGE, "outside region 0", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 0, 0, 2, 1, 1);
  REFUSED(&w, VMM_EINVAL, "for 2 pages", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 0, 3, 4, 4, 1);
  w.len -= 5000;
  REFUSED(&w, VMM_EIO, "ended in PAGES data", 0);
  good_hello(&w);
  migw_pages(&w, 0, 3, 4, 4, 1);
  w.buf[w.len - 100] ^= 0x10;
  REFUSED(&w, VMM_EIO, "checksum mismatch in PAGES", MIGW_ACK);
  good_hello(&w);
  migw_end(&w, 0, 1);
  REFUSED(&w, VMM_EINVAL, "without a STATE", MIGW_ACK);
  good_hello(&w);
  migw_pages(&w, 0, 0, 1, 1, 7);
  migw_end(&w, 5, 1);
  REFUSED(&w, VMM_EIO, "the source sent 5 pages, 1 arrived", MIGW_ACK);
  good_hello(&w);
  migw_record(&w, MIGW_STATE, "garbage", 7);
  migw_record(&w, MIGW_STATE, "garbage", 7);
  REFUSED(&w, VMM_EINVAL, "second STATE", MIGW_ACK);
  good_hello(&w);
  migw_record(&w, MIGW_STATE, "not a state blob", 16);
  migw_end(&w, 0, 1);
  REFUSED(&w, VMM_EINVAL, "loading the VM state", MIGW_ACK);
  good_hello(&w);
  uint8_t ab[4 + 6];
  migw_put32(ab, (uint32_t)VMM_EIO);
  memcpy(ab + 4, "boom\n!", 6);
  migw_record(&w, MIGW_ABORT, ab, sizeof(ab));
  REFUSED(&w, VMM_EIO, "the source gave up: boom?!", MIGW_ACK);
  good_hello(&w);
  migw_record(&w, MIGW_READY, ab, 4);
  REFUSED(&w, VMM_EINVAL, "unexpected READY", MIGW_ACK);
  good_hello(&w);
  migw_record(&w, MIGW_ROUND, ab, 4);
  REFUSED(&w, VMM_EINVAL, "ROUND record of 4 bytes", MIGW_ACK);
}

static void test_api_args(void) {
  vmm_vm_t *vm = (vmm_vm_t *)&vm;
  EXPECT_RC(vmm_vm_migrate_recv(0, NULL, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vm_migrate_recv(-1, NULL, &vm), VMM_EBADF);
  EXPECT_TRUE(vm == NULL);
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.size = 8;
  EXPECT_RC(vmm_vm_migrate_recv(0, &o, &vm), VMM_EINVAL);
  o = (vmm_migrate_opts_t)VMM_MIGRATE_OPTS_INIT;
  o.flags = 0x80;
  EXPECT_RC(vmm_vm_migrate_recv(0, &o, &vm), VMM_EINVAL);
  EXPECT_RC(vmm_vm_migrate_send(NULL, 0, NULL), VMM_EBADF);
  struct test_vm t;
  if (!CREATE(&t, NULL))
    return;
  int sv[2];
  if (EXPECT_TRUE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)) {
    /* Not on libvmm's threads: nothing to pause, refused up front. */
    EXPECT_RC(vmm_vm_migrate_send(t.vm, sv[0], NULL), VMM_ESTATE);
    EXPECT_RC(vmm_vm_migrate_send(t.vm, -1, NULL), VMM_EBADF);
    uint8_t b;
    EXPECT_TRUE(recv(sv[1], &b, 1, MSG_DONTWAIT) < 0); /* nothing sent */
    close(sv[0]);
    close(sv[1]);
  }
  test_vm_destroy(&t);
}

static const struct test_def stream_tests[] = {
    {"framing", test_framing},
    {"hello", test_hello},
    {"body", test_body},
    {"api_args", test_api_args},
};

void migrate_streams_register(const struct test_def **tests, size_t *n);
void migrate_streams_register(const struct test_def **tests, size_t *n) {
  *tests = stream_tests;
  *n = sizeof(stream_tests) / sizeof(stream_tests[0]);
}
