/* tests/integration/control_test.c — the VM control socket
 * (vmm_vm_control_listen) against a running guest: the socket's mode, each
 * command, malformed and oversized requests, clients that vanish, stall or
 * crowd in, and examples/vmm-ctl; the guest's counter must keep advancing
 * through all of it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "check.h"
#include "ctl_client.h"
#include "runner.h"
#include "test_vm.h"

extern char **environ;

/* ---- fixture: the control guest on libvmm's threads, a UART, a socket -- */

struct ctl {
  struct test_vm t;
  vmm_device_t *uart;
  char dir[64];
  char path[128];
};

static bool ctl_setup(struct ctl *c, bool start) {
  memset(c, 0, sizeof(*c));
  if (!CREATE(&c->t, "control"))
    return false;
  if (!EXPECT_OK(vmm_uart_create(c->t.vm, NULL, &c->uart)))
    return false;
  if (!ctl_make_dir(c->dir, sizeof(c->dir), c->path, sizeof(c->path)))
    return false;
  if (!EXPECT_OK(vmm_vm_control_listen(c->t.vm, c->path)))
    return false;
  if (start && !EXPECT_OK(vmm_vm_start(c->t.vm)))
    return false;
  return true;
}

static void ctl_teardown(struct ctl *c) {
  if (c->t.vm)
    EXPECT_OK(vmm_vm_destroy(c->t.vm));
  c->t.vm = NULL;
  test_vm_destroy(&c->t);
  /* vmm_vm_destroy() removed the socket file. */
  if (c->path[0])
    EXPECT_TRUEF(access(c->path, F_OK) < 0, "%s still exists", c->path);
  if (c->dir[0])
    rmdir(c->dir);
}

static uint64_t guest_counter(struct ctl *c) {
  uint64_t v = 0;
  vmm_mem_read(c->t.vm, GUEST_STATUS_GPA, &v, sizeof(v));
  return v;
}

/* True when the guest's counter moves within 5 s. */
static bool guest_advances(struct ctl *c) {
  uint64_t a = guest_counter(c);
  for (int i = 0; i < 500; i++) {
    usleep(10 * 1000);
    if (guest_counter(c) != a)
      return true;
  }
  return false;
}
#define EXPECT_GUEST_RUNS(c) EXPECT_TRUEF(guest_advances(c), "the guest's counter stood still")

/* An ok response to `req`, with a note of what came back otherwise. */
#define EXPECT_CALL_OK(k, req)                                                \
  ({                                                                          \
    cJSON *r_ = conn_call((k), (req));                                        \
    EXPECT_TRUEF(resp_ok(r_), "%s failed: %s", (req), resp_error(r_));        \
    r_;                                                                       \
  })

/* ---- tests ------------------------------------------------------------ */

static void test_socket_mode(void) {
  struct ctl c;
  /* A umask that would allow everyone in: the socket must still be 0600. */
  mode_t old = umask(0);
  bool ok = ctl_setup(&c, false);
  umask(old);
  if (ok) {
    struct stat st;
    if (EXPECT_TRUEF(stat(c.path, &st) == 0, "stat: %s", strerror(errno))) {
      EXPECT_TRUE(S_ISSOCK(st.st_mode));
      EXPECT_EQ(st.st_mode & 07777, 0600);
    }
    EXPECT_RC(vmm_vm_control_listen(c.t.vm, c.path), VMM_EBUSY);
    EXPECT_OK(vmm_vm_control_close(c.t.vm));
    EXPECT_TRUE(access(c.path, F_OK) < 0);
    EXPECT_OK(vmm_vm_control_close(c.t.vm)); /* none: nothing to do */
    /* Something at the path already: refused, and left alone. */
    int fd = open(c.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    EXPECT_TRUE(fd >= 0);
    if (fd >= 0)
      close(fd);
    EXPECT_RC(vmm_vm_control_listen(c.t.vm, c.path), VMM_EEXIST);
    EXPECT_TRUE(access(c.path, F_OK) == 0);
    unlink(c.path);
    EXPECT_RC(vmm_vm_control_listen(c.t.vm, ""), VMM_EINVAL);
    EXPECT_RC(vmm_vm_control_listen(c.t.vm, NULL), VMM_EINVAL);
    char longp[200];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    EXPECT_RC(vmm_vm_control_listen(c.t.vm, longp), VMM_ERANGE);
    EXPECT_RC(vmm_vm_control_listen(NULL, c.path), VMM_EBADF);
    EXPECT_RC(vmm_vm_control_close(NULL), VMM_EBADF);
    /* Listening again works, after start too (from this thread, while the
     * loop thread runs). */
    EXPECT_OK(vmm_vm_start(c.t.vm));
    if (EXPECT_OK(vmm_vm_control_listen(c.t.vm, c.path))) {
      struct conn k;
      if (conn_open(&k, c.path)) {
        cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":1,\"cmd\":\"stats\"}");
        cJSON_Delete(r);
        conn_close(&k);
      }
    }
  }
  ctl_teardown(&c);
}

/* A VM started with nothing on its loop has no loop thread: listening
 * afterwards must give it one. */
static void test_listen_after_start(void) {
  struct ctl c;
  memset(&c, 0, sizeof(c));
  struct conn k = {.fd = -1};
  if (!CREATE(&c.t, "control") || !EXPECT_OK(vmm_vm_start(c.t.vm)))
    goto out;
  if (!ctl_make_dir(c.dir, sizeof(c.dir), c.path, sizeof(c.path)))
    goto out;
  EXPECT_GUEST_RUNS(&c);
  if (!EXPECT_OK(vmm_vm_control_listen(c.t.vm, c.path)) ||
      !conn_open(&k, c.path))
    goto out;
  cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":1,\"cmd\":\"pause\"}");
  cJSON_Delete(r);
  r = EXPECT_CALL_OK(&k, "{\"id\":2,\"cmd\":\"resume\"}");
  cJSON_Delete(r);
  EXPECT_GUEST_RUNS(&c);
  /* A paused VM stops too. */
  r = EXPECT_CALL_OK(&k, "{\"id\":3,\"cmd\":\"pause\"}");
  cJSON_Delete(r);
  r = EXPECT_CALL_OK(&k, "{\"id\":4,\"cmd\":\"stop\",\"status\":-2}");
  cJSON_Delete(r);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(c.t.vm, 5000, &info)))
    EXPECT_EQ((int64_t)info.status, -2);
  r = conn_call(&k, "{\"id\":5,\"cmd\":\"resume\"}");
  EXPECT_TRUE(r && !resp_ok(r));
  cJSON_Delete(r);
out:
  conn_close(&k);
  ctl_teardown(&c);
}

static void test_commands(void) {
  struct ctl c;
  struct conn k = {.fd = -1};
  if (!ctl_setup(&c, true) || !conn_open(&k, c.path))
    goto out;
  EXPECT_GUEST_RUNS(&c);

  /* stats: state, uptime, exits per vCPU and in total, the UART's count. */
  usleep(100 * 1000);
  cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":1,\"cmd\":\"stats\"}");
  const cJSON *res = resp_result(r);
  EXPECT_STR(result_state(r), "running");
  EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble, 1);
  EXPECT_TRUE(path_get(res, "uptime_ns", NULL) &&
              path_get(res, "uptime_ns", NULL)->valuedouble > 0);
  const cJSON *vcpus = path_get(res, "vcpus", NULL);
  EXPECT_EQ(cJSON_GetArraySize(vcpus), 1);
  const cJSON *v0 = cJSON_GetArrayItem(vcpus, 0);
  const cJSON *io0 = path_get(v0, "exits", "io");
  EXPECT_TRUEF(io0 && io0->valuedouble > 0, "vCPU 0 has no I/O exits");
  const cJSON *total = path_get(res, "exits", "total");
  EXPECT_TRUEF(total && total->valuedouble >= io0->valuedouble,
               "total exits below the I/O exits");
  double uart_pio = -1;
  const cJSON *d;
  cJSON_ArrayForEach(d, path_get(res, "devices", NULL)) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "uart16550"))
      uart_pio = cJSON_GetObjectItemCaseSensitive(d, "pio")->valuedouble;
  }
  EXPECT_TRUEF(uart_pio > 0, "UART pio count %.0f", uart_pio);
  /* Each of the guest's OUTs to the UART is one port-I/O exit; the exits
   * are read a moment before the device count (a little slack). */
  EXPECT_TRUEF(io0 && uart_pio <= io0->valuedouble * 1.01 + 100,
               "UART pio %.0f above the I/O exits", uart_pio);
  cJSON_Delete(r);

  /* pause: the vCPU leaves the guest; the counter stands still. */
  r = EXPECT_CALL_OK(&k, "{\"id\":\"p\",\"cmd\":\"pause\"}");
  EXPECT_STR(result_state(r), "paused");
  EXPECT_STR(cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring, "p");
  cJSON_Delete(r);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_PAUSED);
  uint64_t a = guest_counter(&c);
  usleep(100 * 1000);
  EXPECT_EQ(guest_counter(&c), a);
  r = conn_call(&k, "{\"id\":2,\"cmd\":\"pause\"}");
  EXPECT_TRUE(r && !resp_ok(r));
  EXPECT_TRUEF(strstr(resp_error(r), "not running") != NULL, "error: %s",
               resp_error(r));
  cJSON_Delete(r);
  r = EXPECT_CALL_OK(&k, "{\"id\":3,\"cmd\":\"stats\"}");
  EXPECT_STR(result_state(r), "paused");
  cJSON_Delete(r);

  /* resume */
  r = EXPECT_CALL_OK(&k, "{\"id\":4,\"cmd\":\"resume\"}");
  EXPECT_STR(result_state(r), "running");
  cJSON_Delete(r);
  EXPECT_GUEST_RUNS(&c);
  r = conn_call(&k, "{\"id\":5,\"cmd\":\"resume\"}");
  EXPECT_TRUE(r && !resp_ok(r));
  cJSON_Delete(r);

  /* describe: the VM's description (vmm_vm_describe_json()), with the
   * UART among its devices. */
  r = EXPECT_CALL_OK(&k, "{\"id\":6,\"cmd\":\"describe\"}");
  bool uart = false;
  cJSON_ArrayForEach(d, path_get(resp_result(r), "devices", NULL)) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
    uart |= cJSON_IsString(type) && strstr(type->valuestring, "uart");
  }
  EXPECT_TRUEF(uart, "no UART in the description");
  cJSON_Delete(r);

  /* snapshot: needs a directory; writes one while the guest runs on. */
  r = conn_call(&k, "{\"id\":7,\"cmd\":\"snapshot\"}");
  EXPECT_TRUE(r && !resp_ok(r));
  EXPECT_TRUEF(strstr(resp_error(r), "\"dir\"") != NULL, "error: %s",
               resp_error(r));
  cJSON_Delete(r);
  char snapdir[] = "/tmp/libvmm-ctl-snap-XXXXXX";
  if (EXPECT_TRUE(mkdtemp(snapdir) != NULL)) {
    char req[256], manifest[300];
    snprintf(req, sizeof(req), "{\"id\":7,\"cmd\":\"snapshot\","
             "\"dir\":\"%s/s\"}", snapdir);
    r = EXPECT_CALL_OK(&k, req);
    cJSON_Delete(r);
    snprintf(manifest, sizeof(manifest), "%s/s/manifest.json", snapdir);
    EXPECT_TRUEF(access(manifest, F_OK) == 0, "no %s", manifest);
    snprintf(req, sizeof(req), "rm -rf '%s'", snapdir);
    EXPECT_EQ(system(req), 0);
  }
  /* migrate needs the destination's socket (migrate_test.c moves a VM
   * this way). */
  r = conn_call(&k, "{\"id\":8,\"cmd\":\"migrate\"}");
  EXPECT_TRUEF(strstr(resp_error(r), "\"path\"") != NULL,
               "error: %s", resp_error(r));
  cJSON_Delete(r);
  r = conn_call(&k, "{\"id\":8,\"cmd\":\"migrate\",\"path\":\"/nonexistent/x\"}");
  EXPECT_TRUEF(strstr(resp_error(r), "cannot connect") != NULL,
               "error: %s", resp_error(r));
  cJSON_Delete(r);
  EXPECT_GUEST_RUNS(&c);

  /* stop: bad status first, then status 7. */
  r = conn_call(&k, "{\"id\":9,\"cmd\":\"stop\",\"status\":\"x\"}");
  EXPECT_TRUE(r && !resp_ok(r));
  cJSON_Delete(r);
  r = conn_call(&k, "{\"id\":9,\"cmd\":\"stop\",\"status\":1.5}");
  EXPECT_TRUE(r && !resp_ok(r));
  cJSON_Delete(r);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
  r = EXPECT_CALL_OK(&k, "{\"id\":10,\"cmd\":\"stop\",\"status\":7}");
  EXPECT_EQ(path_get(resp_result(r), "status", NULL)->valuedouble, 7);
  cJSON_Delete(r);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(c.t.vm, 5000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_EQ(info.status, 7);
  }
  /* The socket still answers once the VM stopped. */
  r = EXPECT_CALL_OK(&k, "{\"id\":11,\"cmd\":\"stats\"}");
  EXPECT_STR(result_state(r), "stopped");
  const cJSON *why = path_get(resp_result(r), "stop", "reason");
  EXPECT_STR(cJSON_IsString(why) ? why->valuestring : "", "requested");
  cJSON_Delete(r);
out:
  conn_close(&k);
  ctl_teardown(&c);
}

static void test_malformed(void) {
  struct ctl c;
  struct conn k = {.fd = -1};
  if (!ctl_setup(&c, true) || !conn_open(&k, c.path))
    goto out;
  static const struct {
    const char *req, *error;
  } bad[] = {
      {"{not json", "malformed JSON"},
      {"{\"id\":1,\"cmd\":\"stats\"", "malformed JSON"},
      {"[1,2,3]", "JSON object"},
      {"\"stats\"", "JSON object"},
      {"{\"id\":1}", "missing \"cmd\""},
      {"{\"id\":1,\"cmd\":42}", "must be a string"},
      {"{\"id\":{},\"cmd\":\"stats\"}", "\"id\" must be"},
      {"{\"id\":1,\"cmd\":\"reboot-the-host\"}", "unknown command"},
      {"{\"id\":1,\"cmd\":\"\"}", "unknown command"},
      {"\x01\x02\xff\xfe", "malformed JSON"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cJSON *r = conn_call(&k, bad[i].req);
    EXPECT_TRUEF(r && !resp_ok(r) && strstr(resp_error(r), bad[i].error),
                 "%s: got error '%s', want '%s'", bad[i].req, resp_error(r),
                 bad[i].error);
    cJSON_Delete(r);
  }
  /* The id comes back where it could be read. */
  cJSON *r = conn_call(&k, "{\"id\":\"abc\",\"cmd\":\"nope\"}");
  const cJSON *id = r ? cJSON_GetObjectItemCaseSensitive(r, "id") : NULL;
  EXPECT_STR(cJSON_IsString(id) ? id->valuestring : "", "abc");
  cJSON_Delete(r);
  /* Blank lines are ignored; several requests in one write are answered
   * in order; the connection still works. */
  static const char batch[] =
      "\n  \r\n{\"id\":21,\"cmd\":\"stats\"}\n{\"id\":22,\"cmd\":\"nope\"}\n"
      "{\"id\":23,\"cmd\":\"stats\"}\n";
  EXPECT_TRUE(conn_send(&k, batch, sizeof(batch) - 1));
  for (int want = 21; want <= 23; want++) {
    char *line = conn_line(&k);
    cJSON *j = line ? cJSON_Parse(line) : NULL;
    const cJSON *jid = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    EXPECT_EQ(cJSON_IsNumber(jid) ? jid->valuedouble : -1, want);
    EXPECT_EQ(resp_ok(j), want != 22);
    cJSON_Delete(j);
    free(line);
  }
  r = EXPECT_CALL_OK(&k, "{\"id\":24,\"cmd\":\"stats\"}");
  const cJSON *errors = path_get(resp_result(r), "control", "errors");
  EXPECT_TRUE(errors && errors->valuedouble >= 12);
  cJSON_Delete(r);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
  EXPECT_GUEST_RUNS(&c);
out:
  conn_close(&k);
  ctl_teardown(&c);
}

/* A 10 MiB line: one error, the rest skipped, the connection usable. */
static void test_huge_line(void) {
  struct ctl c;
  struct conn k = {.fd = -1};
  if (!ctl_setup(&c, true) || !conn_open(&k, c.path))
    goto out;
  size_t big = 10u << 20;
  char *junk = malloc(big);
  memset(junk, 'a', big);
  memcpy(junk, "{\"id\":1,\"cmd\":\"stats\",\"pad\":\"", 30);
  EXPECT_GUEST_RUNS(&c);
  EXPECT_TRUE(conn_send(&k, junk, big));
  EXPECT_TRUE(conn_send(&k, "\"}\n", 3));
  free(junk);
  char *line = conn_line(&k);
  EXPECT_TRUEF(line && strstr(line, "longer than 65536"), "got %.200s",
               line ? line : "(nothing)");
  free(line);
  cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":2,\"cmd\":\"stats\"}");
  const cJSON *o = path_get(resp_result(r), "control", "oversized");
  EXPECT_EQ(o ? o->valuedouble : 0, 1);
  cJSON_Delete(r);
  EXPECT_GUEST_RUNS(&c);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
out:
  conn_close(&k);
  ctl_teardown(&c);
}

/* Clients that leave half-way through a request, or before reading the
 * answer, change nothing. */
static void test_disconnect(void) {
  struct ctl c;
  struct conn k = {.fd = -1};
  if (!ctl_setup(&c, true))
    goto out;
  for (int i = 0; i < 20; i++) {
    struct conn q;
    if (!conn_open(&q, c.path))
      break;
    if (i % 2)
      conn_send(&q, "{\"id\":1,\"cmd\":\"pau", 18); /* never finished */
    else
      conn_send(&q, "{\"id\":1,\"cmd\":\"stats\"}\n", 23); /* not read */
    conn_close(&q);
  }
  /* Half-closed after the request: the answer still comes. */
  struct conn h;
  if (conn_open(&h, c.path)) {
    conn_send(&h, "{\"id\":5,\"cmd\":\"stats\"}\n", 23);
    shutdown(h.fd, SHUT_WR);
    char *line = conn_line(&h);
    EXPECT_TRUEF(line && strstr(line, "\"ok\":true"), "got %.100s",
                 line ? line : "(nothing)");
    free(line);
    char *eof = conn_line(&h);
    EXPECT_TRUE(eof == NULL); /* then the server closes */
    free(eof);
    conn_close(&h);
  }
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
  EXPECT_GUEST_RUNS(&c);
  if (conn_open(&k, c.path)) {
    /* Only this client is left (the others are gone, none paused it). */
    usleep(100 * 1000);
    cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":1,\"cmd\":\"stats\"}");
    EXPECT_STR(result_state(r), "running");
    const cJSON *n = path_get(resp_result(r), "control", "clients");
    EXPECT_EQ(n ? n->valuedouble : -1, 1);
    cJSON_Delete(r);
  }
out:
  conn_close(&k);
  ctl_teardown(&c);
}

struct worker {
  const char *path;
  int index;
  int ok, failed;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct conn k;
  if (!conn_open(&k, w->path))
    return NULL;
  for (int i = 0; i < 40; i++) {
    char req[128];
    const char *cmd = "stats";
    if (w->index == 0)
      cmd = i % 2 ? "resume" : "pause"; /* one client pauses and resumes */
    snprintf(req, sizeof(req), "{\"id\":%d,\"cmd\":\"%s\"}",
             w->index * 1000 + i, cmd);
    cJSON *r = conn_call(&k, req);
    const cJSON *id = r ? cJSON_GetObjectItemCaseSensitive(r, "id") : NULL;
    if (resp_ok(r) && cJSON_IsNumber(id) &&
        id->valuedouble == w->index * 1000 + i)
      w->ok++;
    else
      w->failed++;
    cJSON_Delete(r);
  }
  conn_close(&k);
  return NULL;
}

static void test_concurrent(void) {
  struct ctl c;
  if (!ctl_setup(&c, true))
    goto out;
  enum { N = 8 };
  struct worker w[N];
  pthread_t tid[N];
  for (int i = 0; i < N; i++) {
    w[i] = (struct worker){.path = c.path, .index = i};
    pthread_create(&tid[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(tid[i], NULL);
    EXPECT_TRUEF(w[i].ok == 40 && w[i].failed == 0,
                 "client %d: %d ok, %d failed", i, w[i].ok, w[i].failed);
  }
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
  EXPECT_GUEST_RUNS(&c);
  /* More clients than the limit: the extra ones are told and closed. */
  struct conn many[70];
  int opened = 0, refused = 0;
  for (int i = 0; i < 70; i++) {
    if (!conn_open(&many[i], c.path))
      break;
    opened++;
  }
  usleep(200 * 1000);
  for (int i = 0; i < opened; i++) {
    /* The refused ones have their answer waiting; ask the rest. */
    char buf[256];
    ssize_t n = recv(many[i].fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n > 0) {
      buf[n] = '\0';
      EXPECT_TRUEF(strstr(buf, "too many control clients") != NULL,
                   "client %d got %s", i, buf);
      refused++;
      continue;
    }
    cJSON *r = EXPECT_CALL_OK(&many[i], "{\"id\":1,\"cmd\":\"stats\"}");
    cJSON_Delete(r);
  }
  EXPECT_EQ(refused, opened - 64);
  for (int i = 0; i < opened; i++)
    conn_close(&many[i]);
  EXPECT_GUEST_RUNS(&c);
out:
  ctl_teardown(&c);
}

/* A client that sends and never reads is dropped once its unread answers
 * pass the limit; the loop and the other clients carry on. */
static void test_slow_client(void) {
  struct ctl c;
  struct conn k = {.fd = -1}, slow = {.fd = -1};
  if (!ctl_setup(&c, true) || !conn_open(&k, c.path) ||
      !conn_open(&slow, c.path))
    goto out;
  static const char req[] = "{\"id\":1,\"cmd\":\"stats\"}\n";
  bool dropped = false;
  for (int i = 0; i < 20000 && !dropped; i++)
    dropped = !conn_send(&slow, req, sizeof(req) - 1);
  /* Even when every request was sent, the server has dropped it by now
   * or does so shortly: the other client sees the count. */
  double n = 0;
  for (int i = 0; i < 100 && n < 1; i++) {
    cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":2,\"cmd\":\"stats\"}");
    const cJSON *d = path_get(resp_result(r), "control", "dropped_slow");
    n = d ? d->valuedouble : 0;
    cJSON_Delete(r);
    if (n < 1)
      usleep(20 * 1000);
  }
  EXPECT_EQ(n, 1);
  EXPECT_GUEST_RUNS(&c);
out:
  conn_close(&slow);
  conn_close(&k);
  ctl_teardown(&c);
}

/* vmm_vm_destroy() with a client connected: it sees the end, the socket
 * file goes. */
static void test_destroy_with_client(void) {
  struct ctl c;
  struct conn k = {.fd = -1};
  if (!ctl_setup(&c, true) || !conn_open(&k, c.path))
    goto out;
  cJSON *r = EXPECT_CALL_OK(&k, "{\"id\":1,\"cmd\":\"stats\"}");
  cJSON_Delete(r);
  EXPECT_OK(vmm_vm_destroy(c.t.vm));
  c.t.vm = NULL;
  char *line = conn_line(&k);
  EXPECT_TRUE(line == NULL);
  free(line);
out:
  conn_close(&k);
  ctl_teardown(&c);
}

/* The socket on the embedder's own libuv loop (vmm_vm_use_loop()): served
 * only while this thread runs the loop; destroying the VM leaves nothing
 * open on it. */
struct loop_client {
  const char *path;
  atomic_int done;
  int ok;
};

static void *loop_client_main(void *arg) {
  struct loop_client *lc = arg;
  static const char *const reqs[] = {
      "{\"id\":1,\"cmd\":\"stats\"}", "{\"id\":2,\"cmd\":\"pause\"}",
      "{\"id\":3,\"cmd\":\"resume\"}", "{\"id\":4,\"cmd\":\"describe\"}"};
  for (size_t i = 0; i < 4; i++) {
    cJSON *r = ctl_request(lc->path, reqs[i]);
    lc->ok += resp_ok(r);
    cJSON_Delete(r);
  }
  atomic_store(&lc->done, 1);
  return NULL;
}

static void test_embedder_loop(void) {
  struct ctl c;
  memset(&c, 0, sizeof(c));
  uv_loop_t loop;
  if (!EXPECT_EQ(uv_loop_init(&loop), 0))
    return;
  if (CREATE(&c.t, "control") && EXPECT_OK(vmm_vm_use_loop(c.t.vm, &loop)) &&
      ctl_make_dir(c.dir, sizeof(c.dir), c.path, sizeof(c.path)) &&
      EXPECT_OK(vmm_vm_control_listen(c.t.vm, c.path)) &&
      EXPECT_OK(vmm_vm_start(c.t.vm))) {
    struct loop_client lc = {.path = c.path};
    pthread_t tid;
    pthread_create(&tid, NULL, loop_client_main, &lc);
    time_t deadline = time(NULL) + 30;
    while (!atomic_load(&lc.done) && time(NULL) < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(200);
    }
    EXPECT_TRUE(atomic_load(&lc.done));
    pthread_join(tid, NULL);
    EXPECT_EQ(lc.ok, 4);
    EXPECT_GUEST_RUNS(&c);
  }
  ctl_teardown(&c);
  /* The close callbacks of the socket's handles run on the next turns;
   * then the loop has nothing left. */
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

/* ---- examples/vmm-ctl ---------------------------------------------- */

/* Runs vmm-ctl with `args`; its exit status, stdout and stderr. */
static int run_ctl(const char *const *args, char *out, size_t out_len,
                   char *err, size_t err_len) {
  const char *prog = test_guest_path("vmm-ctl");
  int po[2], pe[2];
  if (pipe(po) < 0 || pipe(pe) < 0)
    return -1;
  char *argv[8];
  int n = 0;
  argv[n++] = (char *)prog;
  for (; args[n - 1] && n < 7; n++)
    argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  pid_t pid;
  int rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]);
  close(pe[1]);
  if (rc) {
    close(po[0]);
    close(pe[0]);
    return -1;
  }
  size_t o = 0, e = 0;
  ssize_t m;
  while ((m = read(po[0], out + o, out_len - 1 - o)) > 0)
    o += (size_t)m;
  while ((m = read(pe[0], err + e, err_len - 1 - e)) > 0)
    e += (size_t)m;
  out[o] = err[e] = '\0';
  close(po[0]);
  close(pe[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static unsigned count_lines(const char *s) {
  unsigned n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void test_vmm_ctl(void) {
  if (!test_guest_path("vmm-ctl")) {
    note("no --guest vmm-ctl PATH: skipped");
    return;
  }
  struct ctl c;
  if (!ctl_setup(&c, true))
    goto out;
  static char out[1 << 16], err[4096];
  const char *p = c.path;

  EXPECT_EQ(run_ctl((const char *[]){p, "stats", NULL}, out, sizeof(out),
                    err, sizeof(err)), 0);
  EXPECT_TRUEF(strstr(out, "\"state\":\t\"running\"") != NULL, "out: %.300s",
               out);
  EXPECT_EQ(run_ctl((const char *[]){p, "pause", NULL}, out, sizeof(out),
                    err, sizeof(err)), 0);
  EXPECT_TRUEF(strstr(out, "paused") != NULL, "out: %s", out);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_PAUSED);
  /* A refused request: exit 1, one line on stderr. */
  EXPECT_EQ(run_ctl((const char *[]){p, "pause", NULL}, out, sizeof(out),
                    err, sizeof(err)), 1);
  EXPECT_TRUEF(!strncmp(err, "vmm-ctl: ", 9) && count_lines(err) == 1,
               "stderr: %s", err);
  EXPECT_EQ(run_ctl((const char *[]){p, "resume", NULL}, out, sizeof(out),
                    err, sizeof(err)), 0);
  EXPECT_GUEST_RUNS(&c);
  EXPECT_EQ(run_ctl((const char *[]){p, "--raw", "{\"id\":77,\"cmd\":\"stats\"}",
                                     NULL}, out, sizeof(out), err,
                    sizeof(err)), 0);
  EXPECT_TRUEF(strncmp(out, "{\"id\":77,\"ok\":true", 18) == 0, "out: %.100s",
               out);
  EXPECT_EQ(run_ctl((const char *[]){p, "--raw", "not json", NULL}, out,
                    sizeof(out), err, sizeof(err)), 1);
  EXPECT_TRUEF(strstr(err, "malformed JSON") && count_lines(err) == 1,
               "stderr: %s", err);
  EXPECT_EQ(run_ctl((const char *[]){p, "frobnicate", NULL}, out, sizeof(out),
                    err, sizeof(err)), 2);
  EXPECT_EQ(run_ctl((const char *[]){p, "stop", "x", NULL}, out, sizeof(out),
                    err, sizeof(err)), 2);
  EXPECT_EQ(run_ctl((const char *[]){"/nonexistent/ctl.sock", "stats", NULL},
                    out, sizeof(out), err, sizeof(err)), 1);
  EXPECT_TRUEF(strstr(err, "cannot connect") && count_lines(err) == 1,
               "stderr: %s", err);
  EXPECT_EQ(vmm_vm_state(c.t.vm), VMM_VM_RUNNING);
  EXPECT_EQ(run_ctl((const char *[]){p, "stop", "3", NULL}, out, sizeof(out),
                    err, sizeof(err)), 0);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(c.t.vm, 5000, &info)))
    EXPECT_EQ(info.status, 3);
out:
  ctl_teardown(&c);
}

static const struct test_def tests[] = {
    {"socket_mode", test_socket_mode},
    {"listen_after_start", test_listen_after_start},
    {"commands", test_commands},
    {"malformed", test_malformed},
    {"huge_line", test_huge_line},
    {"disconnect", test_disconnect},
    {"concurrent", test_concurrent},
    {"slow_client", test_slow_client},
    {"destroy_with_client", test_destroy_with_client},
    {"embedder_loop", test_embedder_loop},
    {"vmm_ctl", test_vmm_ctl},
};

int main(int argc, char **argv) {
  /* SIGPIPE is left at its default on purpose: neither libvmm nor the
   * test may write to a closed socket without MSG_NOSIGNAL. */
  static const struct test_suite suites[] = {
      {"control", tests, sizeof(tests) / sizeof(tests[0])}};
  return test_main(argc, argv, "control_test",
                   "--guest control PATH [--guest vmm-ctl PATH]", suites, 1,
                   120);
}
