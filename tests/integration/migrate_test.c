/* tests/integration/migrate_test.c — live migration between two processes
 * over a unix socket while the guest (tests/guests/migrate.c) keeps
 * rewriting and checking its memory; a destination that vanishes at
 * several points (the source VM must run on, unharmed); and bad, short
 * and corrupt streams fed to the receiving side.
 *
 *   migrate_test --backend kvm --guest migrate PATH [--test ...]
 *   migrate_test --dest FD [--cut TYPE:N]   (the destination process)
 *   migrate_test --listen PATH [--stall]    (a destination on a socket)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ctl_client.h"
#include "migrate_guest.h"
#include "migrate_wire.h"
#include "runner.h"
#include "test_vm.h"

/* Busy-loop iterations after each page the guest writes: a few tens of
 * thousands of pages a second, so that pre-copy needs several rounds. */
#define GUEST_DELAY 20000

static uint64_t status_word(vmm_vm_t *vm, unsigned i) {
  uint64_t v = 0;
  vmm_mem_read(vm, GUEST_STATUS_GPA + 8 * i, &v, sizeof(v));
  return v;
}

/* Waits until the guest finished `passes` more full checks (20 s). */
static bool wait_passes(vmm_vm_t *vm, uint64_t passes) {
  uint64_t want = status_word(vm, MIG_ST_PASSES) + passes;
  for (int i = 0; i < 2000; i++) {
    if (status_word(vm, MIG_ST_PASSES) >= want)
      return true;
    usleep(10000);
  }
  return false;
}

/* FNV-1a over the whole RAM, 8 bytes at a time. */
static uint64_t ram_hash(vmm_vm_t *vm) {
  void *hva;
  if (vmm_mem_gpa_to_hva(vm, 0, MIG_RAM_SIZE, &hva) < 0)
    return 0;
  const uint64_t *w = hva;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < MIG_RAM_SIZE / 8; i++)
    h = (h ^ w[i]) * 0x100000001b3ull;
  return h;
}

static const char *description(char *buf, size_t n, const char *extra) {
  snprintf(buf, n,
           "{\"backend\": \"%s\", \"irqchip\": true,"
           " \"memory\": [{\"gpa\": 0, \"size\": \"32M\", \"dirty_log\": true}],"
           " \"payload\": {\"type\": \"elf\", \"path\": \"%s\", \"mode\": \"long\"},"
           " \"devices\": [{\"type\": \"uart\", \"id\": \"com1\"},"
           " {\"type\": \"rtc\"}%s]}",
           test_backend, test_guest_path("migrate"), extra);
  return buf;
}

/* The source: the guest built from its description, started, and past
 * one full check of its pages. */
static vmm_vm_t *make_source_with(const char *extra, uint32_t sandbox) {
  char json[1024];
  description(json, sizeof(json), extra);
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = NULL;
  if (!EXPECT_OK(vmm_config_parse(json, strlen(json), &cfg)))
    return NULL;
  bool ok = EXPECT_OK(vmm_vm_create_from_config(cfg, &vm));
  vmm_config_free(cfg);
  if (!ok)
    return NULL;
  uint64_t delay = GUEST_DELAY;
  ok = (!sandbox || EXPECT_OK(vmm_vm_set_sandbox(vm, sandbox))) &&
       EXPECT_OK(vmm_mem_write(vm, GUEST_PARAM_GPA, &delay, sizeof(delay))) &&
       EXPECT_OK(vmm_vm_start(vm)) &&
       EXPECT_TRUEF(wait_passes(vm, 1), "the guest made no full check");
  if (!ok) {
    vmm_vm_destroy(vm);
    return NULL;
  }
  EXPECT_EQ(status_word(vm, MIG_ST_ERRORS), 0);
  return vm;
}

static vmm_vm_t *make_source(void) { return make_source_with("", 0); }

/* This program's own path, read once: exec'ing "/proc/self/exe" under
 * valgrind would start valgrind's tool, not this test. */
static const char *self_exe(void) {
  static char path[4096];
  if (!path[0]) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
      return "/proc/self/exe";
    path[n] = '\0';
  }
  return path;
}

/* Starts this program as the destination on the other end of a
 * socketpair; *fd is our end. `cut` "" or TYPE:N (see dest_main). */
static pid_t spawn_dest(int *fd, const char *cut) {
  int sv[2];
  if (!EXPECT_TRUEF(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
                    "socketpair: %s", strerror(errno)))
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int child = dup(sv[1]); /* without CLOEXEC */
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", child);
    execl(self_exe(), "migrate_test", "--dest", fdstr, "--cut", cut,
          (char *)NULL);
    _exit(127);
  }
  close(sv[1]);
  if (!EXPECT_TRUEF(pid > 0, "fork: %s", strerror(errno))) {
    close(sv[0]);
    return -1;
  }
  *fd = sv[0];
  return pid;
}

/* A line the destination wrote after the migration stream (10 s). */
static bool read_line(int fd, char *buf, size_t n) {
  size_t len = 0;
  while (len + 1 < n) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 30000) <= 0)
      break;
    ssize_t r = read(fd, buf + len, 1);
    if (r <= 0)
      break;
    if (buf[len] == '\n') {
      buf[len] = '\0';
      return true;
    }
    len++;
  }
  buf[len] = '\0';
  return false;
}

static int wait_child(pid_t pid) {
  int st = 0;
  for (int i = 0; i < 3000; i++) {
    if (waitpid(pid, &st, WNOHANG) == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

/* ---- the whole migration ------------------------------------------- */

static void live(uint32_t sandbox) {
  vmm_vm_t *vm = make_source_with("", sandbox);
  if (!vm)
    return;
  int fd = -1;
  pid_t pid = spawn_dest(&fd, "");
  if (pid < 0) {
    vmm_vm_destroy(vm);
    return;
  }
  vmm_migrate_stats_t st = {.size = sizeof(st)};
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.stats = &st;
  /* Below the default (30 ms), so that pre-copy goes several rounds. */
  o.max_downtime_ms = 5;
  uint64_t writes0 = status_word(vm, MIG_ST_WRITES);
  if (EXPECT_OK(vmm_vm_migrate_send(vm, fd, &o))) {
    EXPECT_EQ(vmm_vm_state(vm), VMM_VM_PAUSED);
    uint64_t writes1 = status_word(vm, MIG_ST_WRITES);
    EXPECT_TRUEF(writes1 > writes0, "the guest wrote nothing during the "
                 "pre-copy (%llu)", (unsigned long long)writes1);
    uint64_t h = ram_hash(vm);
    char line[256];
    /* The destination's RAM before it ran, then the guest's own checks. */
    if (EXPECT_TRUEF(read_line(fd, line, sizeof(line)), "no hash line: '%s'",
                     line)) {
      unsigned long long dh = 0;
      EXPECT_TRUEF(sscanf(line, "hash %llx", &dh) == 1, "'%s'", line);
      EXPECT_TRUEF(dh == h, "destination RAM hash %llx, source %llx", dh,
                   (unsigned long long)h);
    }
    if (EXPECT_TRUEF(read_line(fd, line, sizeof(line)), "no guest line: '%s'",
                     line)) {
      unsigned long long w = 0, p = 0, e = 1, b = 0;
      EXPECT_TRUEF(sscanf(line, "guest writes=%llu passes=%llu errors=%llu "
                          "bad=%llu", &w, &p, &e, &b) == 4, "'%s'", line);
      EXPECT_TRUEF(w > writes1, "the guest did not go on writing at the "
                   "destination (%llu, %llu at the source)", w,
                   (unsigned long long)writes1);
      EXPECT_TRUEF(e == 0, "the guest found %llu wrong pages after the "
                   "migration (first: page %llu)", e, b - 1);
    }
    printf("\n    migrate: total_ms=%.1f rounds=%u pages=%llu "
           "final_pages=%llu downtime_ms=%.2f state_bytes=%llu "
           "stream_mib=%.1f\n",
           st.total_ns / 1e6, st.rounds, (unsigned long long)st.pages_sent,
           (unsigned long long)st.final_pages, st.downtime_ns / 1e6,
           (unsigned long long)st.state_bytes, st.bytes / 1048576.0);
    EXPECT_TRUE(st.rounds >= 1);
    EXPECT_TRUE(st.pages_sent >= MIG_PAGES);
    EXPECT_TRUE(st.downtime_ns > 0 && st.downtime_ns < st.total_ns);
  }
  EXPECT_EQ(wait_child(pid), 0);
  close(fd);
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_live(void) { live(0); }

/* The same with the source's threads sandboxed (with VMM_SANDBOX_KILL: a
 * refused call would end the test); the destination builds its VM from
 * the description, sandbox included. */
static void test_live_sandboxed(void) {
  if (vmm_sandbox_available() < 0) {
    note("no sandbox here: %s", vmm_last_error());
    return;
  }
  live(VMM_SANDBOX_ON | VMM_SANDBOX_KILL);
}

/* ---- a destination that vanishes ------------------------------------ */

/* The source must get an error (not a signal), and its VM must run on
 * with every page right. */
static void vanish(const char *cut) {
  vmm_vm_t *vm = make_source();
  if (!vm)
    return;
  int fd = -1;
  pid_t pid = spawn_dest(&fd, cut);
  if (pid < 0) {
    vmm_vm_destroy(vm);
    return;
  }
  signal(SIGPIPE, SIG_DFL); /* libvmm must not raise it */
  vmm_migrate_stats_t st = {.size = sizeof(st)};
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.stats = &st;
  o.timeout_ms = 10000;
  int rc = vmm_vm_migrate_send(vm, fd, &o);
  signal(SIGPIPE, SIG_IGN);
  EXPECT_TRUEF(rc < 0, "the migration succeeded with the destination cut "
               "at %s", cut);
  note("cut at %s: %s (%s) after %llu pages, %u rounds", cut,
       vmm_last_error(), vmm_err_name(rc), (unsigned long long)st.pages_sent,
       st.rounds);
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  EXPECT_TRUEF(wait_passes(vm, 2), "the source guest stopped checking");
  EXPECT_EQ(status_word(vm, MIG_ST_ERRORS), 0);
  EXPECT_EQ(wait_child(pid), 0);
  close(fd);
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* The destination cannot build the VM (the source's disk image is gone
 * from the file system): its refusal is the source's error, and the
 * source's VM runs on. */
static void test_refused(void) {
  char img[] = "/tmp/migrate-disk-XXXXXX";
  int dfd = mkstemp(img);
  if (!EXPECT_TRUEF(dfd >= 0 && ftruncate(dfd, 1 << 20) == 0, "%s: %s", img,
                    strerror(errno)))
    return;
  close(dfd);
  char extra[160];
  snprintf(extra, sizeof(extra),
           ", {\"type\": \"virtio-blk\", \"id\": \"disk\", \"path\": \"%s\"}",
           img);
  vmm_vm_t *vm = make_source_with(extra, 0);
  unlink(img); /* the source keeps it open; the destination finds nothing */
  if (!vm)
    return;
  int fd = -1;
  pid_t pid = spawn_dest(&fd, "");
  if (pid < 0) {
    vmm_vm_destroy(vm);
    return;
  }
  int rc = vmm_vm_migrate_send(vm, fd, NULL);
  EXPECT_TRUEF(rc < 0, "the migration succeeded without the disk");
  EXPECT_TRUEF(strstr(vmm_last_error(), "the destination failed") &&
                   strstr(vmm_last_error(), "devices[2].path"),
               "error: %s", vmm_last_error());
  note("%s", vmm_last_error());
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  EXPECT_TRUEF(wait_passes(vm, 1), "the source guest stopped checking");
  EXPECT_EQ(status_word(vm, MIG_ST_ERRORS), 0);
  EXPECT_EQ(wait_child(pid), 1); /* the destination failed, and said so */
  close(fd);
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_vanish_handshake(void) { vanish("HELLO:1"); }
static void test_vanish_precopy(void) { vanish("PAGES:5"); }
static void test_vanish_stop_copy(void) { vanish("STATE:1"); }
static void test_vanish_before_ack(void) { vanish("END:1"); }

/* ---- the destination process ----------------------------------------- */

struct dest_thread {
  int fd;
  int rc;
  char error[512];
  vmm_vm_t *vm;
  vmm_migrate_stats_t st;
};

static void *dest_recv(void *arg) {
  struct dest_thread *d = arg;
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  d->st.size = sizeof(d->st);
  o.stats = &d->st;
  o.flags = VMM_MIGRATE_NO_START;
  o.timeout_ms = 10000;
  d->rc = vmm_vm_migrate_recv(d->fd, &o, &d->vm);
  if (d->rc < 0)
    snprintf(d->error, sizeof(d->error), "%s", vmm_last_error());
  return NULL;
}

/*
 * Copies the stream between the source (`src`) and the receiving thread
 * (`dst`) and cuts both when the source starts record number N of type
 * TYPE, before passing it on.
 */
static void relay(int src, int dst, unsigned cut_type, unsigned cut_n) {
  uint8_t hdr[MIGW_HDR];
  size_t have = 0;    /* bytes of the current header */
  uint64_t left = 0;  /* bytes of the current record still to pass */
  unsigned seen = 0;
  uint8_t buf[65536];
  for (;;) {
    struct pollfd p[2] = {{.fd = src, .events = POLLIN},
                          {.fd = dst, .events = POLLIN}};
    if (poll(p, 2, 20000) <= 0)
      return;
    if (p[1].revents) {
      ssize_t r = read(dst, buf, sizeof(buf));
      if (r <= 0 || write(src, buf, (size_t)r) != r)
        return;
    }
    if (!p[0].revents)
      continue;
    if (left == 0) {
      ssize_t r = read(src, hdr + have, MIGW_HDR - have);
      if (r <= 0)
        return;
      have += (size_t)r;
      if (have < MIGW_HDR)
        continue;
      have = 0;
      unsigned type = hdr[2] | hdr[3] << 8;
      if (type == cut_type && ++seen == cut_n)
        return;
      left = migw_get64(hdr + 8) + 8;
      if (write(dst, hdr, MIGW_HDR) != MIGW_HDR)
        return;
      continue;
    }
    ssize_t r = read(src, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
    if (r <= 0)
      return;
    left -= (uint64_t)r;
    for (ssize_t o = 0; o < r;) {
      ssize_t w = write(dst, buf + o, (size_t)(r - o));
      if (w <= 0)
        return;
      o += w;
    }
  }
}

static int dest_main(int fd, const char *cut, bool report) {
  signal(SIGPIPE, SIG_DFL);
  struct dest_thread d = {.fd = fd};
  if (cut && *cut) {
    char name[16] = "";
    unsigned n = 0;
    if (sscanf(cut, "%15[A-Z]:%u", name, &n) != 2)
      return 2;
    unsigned type = migw_type(name);
    int sv[2];
    if (!type || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      return 2;
    d.fd = sv[1];
    pthread_t th;
    pthread_create(&th, NULL, dest_recv, &d);
    relay(fd, sv[0], type, n);
    close(fd);
    close(sv[0]);
    pthread_join(th, NULL);
    fprintf(stderr, "destination (cut at %s): %s\n", cut,
            d.rc < 0 ? d.error : "succeeded");
    vmm_vm_destroy(d.vm);
    return d.rc < 0 ? 0 : 1;
  }
  dest_recv(&d);
  if (d.rc < 0) {
    fprintf(stderr, "destination: %s\n", d.error);
    return 1;
  }
  if (report)
    dprintf(fd, "hash %llx\n", (unsigned long long)ram_hash(d.vm));
  fprintf(stderr, "destination: rounds=%u pages=%llu downtime_ms=%.2f "
          "state_bytes=%llu\n", d.st.rounds,
          (unsigned long long)d.st.pages_sent, d.st.downtime_ns / 1e6,
          (unsigned long long)d.st.state_bytes);
  uint64_t w0 = status_word(d.vm, MIG_ST_WRITES);
  if (vmm_vm_start(d.vm) < 0) {
    fprintf(stderr, "destination: start: %s\n", vmm_last_error());
    return 1;
  }
  bool ok = wait_passes(d.vm, 3);
  dprintf(report ? fd : 2, "guest writes=%llu passes=%llu errors=%llu bad=%llu\n",
          (unsigned long long)status_word(d.vm, MIG_ST_WRITES),
          (unsigned long long)status_word(d.vm, MIG_ST_PASSES),
          (unsigned long long)status_word(d.vm, MIG_ST_ERRORS),
          (unsigned long long)status_word(d.vm, MIG_ST_BAD));
  fprintf(stderr, "destination: guest went on from %llu writes%s\n",
          (unsigned long long)w0, ok ? "" : " (too slowly)");
  bool clean = status_word(d.vm, MIG_ST_ERRORS) == 0;
  vmm_vm_destroy(d.vm);
  return ok && clean ? 0 : 1;
}

/* Listens on unix socket `path` and takes one migration there
 * (the control socket's "migrate"); with `stall`, accepts and then
 * neither reads nor answers for 30 s. */
static int listen_main(const char *path, bool stall) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      listen(l, 1) < 0) {
    perror(path);
    return 2;
  }
  int fd = accept(l, NULL, NULL);
  close(l);
  unlink(path);
  if (fd < 0)
    return 2;
  if (stall) {
    sleep(30);
    return 0;
  }
  return dest_main(fd, "", false);
}

/* ---- through the control socket ------------------------------------ */

static pid_t spawn_listener(const char *path, bool stall) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(self_exe(), "migrate_test", "--listen", path,
          stall ? "--stall" : "", (char *)NULL);
    _exit(127);
  }
  EXPECT_TRUEF(pid > 0, "fork: %s", strerror(errno));
  for (int i = 0; pid > 0 && i < 500 && access(path, F_OK) < 0; i++)
    usleep(10000);
  return pid;
}

/* {"cmd":"migrate","path":P}: answered at once, the VM stops here once it
 * runs at the destination, "stats" says how it went. */
static void test_control(void) {
  vmm_vm_t *vm = make_source();
  if (!vm)
    return;
  char dir[64], ctl[128], dest[160];
  if (!ctl_make_dir(dir, sizeof(dir), ctl, sizeof(ctl)) ||
      !EXPECT_OK(vmm_vm_control_listen(vm, ctl))) {
    vmm_vm_destroy(vm);
    return;
  }
  snprintf(dest, sizeof(dest), "%s/dest.sock", dir);
  pid_t pid = spawn_listener(dest, false);
  char req[256];
  snprintf(req, sizeof(req), "{\"id\":1,\"cmd\":\"migrate\",\"path\":\"%s\"}",
           dest);
  cJSON *r = ctl_request(ctl, req);
  EXPECT_TRUEF(resp_ok(r), "migrate: %s", resp_error(r));
  cJSON_Delete(r);
  r = ctl_request(ctl, req); /* a second one while the first runs */
  EXPECT_TRUEF(!resp_ok(r) && (strstr(resp_error(r), "under way") ||
                               strstr(resp_error(r), "not running")),
               "a second migrate: %s", resp_ok(r) ? "accepted" : resp_error(r));
  cJSON_Delete(r);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 60000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_EQ(info.status, 0);
  }
  r = ctl_request(ctl, "{\"id\":2,\"cmd\":\"stats\"}");
  const cJSON *st = path_get(resp_result(r), "migration", "state");
  EXPECT_TRUEF(cJSON_IsString(st) && !strcmp(st->valuestring, "succeeded"),
               "stats.migration.state: %s",
               cJSON_IsString(st) ? st->valuestring : "absent");
  const cJSON *rounds = path_get(resp_result(r), "migration", "rounds");
  const cJSON *down = path_get(resp_result(r), "migration", "downtime_ns");
  if (cJSON_IsNumber(rounds) && cJSON_IsNumber(down))
    note("through the control socket: rounds=%d downtime_ms=%.2f",
         rounds->valueint, down->valuedouble / 1e6);
  cJSON_Delete(r);
  if (pid > 0)
    EXPECT_EQ(wait_child(pid), 0);
  EXPECT_OK(vmm_vm_destroy(vm));
  rmdir(dir);
}

/* A sandboxed VM refuses "migrate" on its control socket (the loop
 * thread may not open the connection) and runs on. */
static void test_control_sandboxed(void) {
  if (vmm_sandbox_available() < 0) {
    note("no sandbox here: %s", vmm_last_error());
    return;
  }
  vmm_vm_t *vm = make_source_with("", VMM_SANDBOX_ON | VMM_SANDBOX_KILL);
  if (!vm)
    return;
  char dir[64], ctl[128];
  if (ctl_make_dir(dir, sizeof(dir), ctl, sizeof(ctl)) &&
      EXPECT_OK(vmm_vm_control_listen(vm, ctl))) {
    cJSON *r = ctl_request(ctl, "{\"id\":1,\"cmd\":\"migrate\","
                                "\"path\":\"/nonexistent/x\"}");
    EXPECT_TRUEF(!resp_ok(r) && strstr(resp_error(r), "sandboxed"),
                 "migrate: %s", resp_ok(r) ? "accepted" : resp_error(r));
    cJSON_Delete(r);
    EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
    EXPECT_TRUEF(wait_passes(vm, 1), "the guest stopped checking");
  }
  EXPECT_OK(vmm_vm_destroy(vm));
  rmdir(dir);
}

/* vmm_vm_destroy() while the control socket's migration waits for a
 * destination that does not answer: it cuts the migration short. */
static void test_control_destroy(void) {
  vmm_vm_t *vm = make_source();
  if (!vm)
    return;
  char dir[64], ctl[128], dest[160];
  if (!ctl_make_dir(dir, sizeof(dir), ctl, sizeof(ctl)) ||
      !EXPECT_OK(vmm_vm_control_listen(vm, ctl))) {
    vmm_vm_destroy(vm);
    return;
  }
  snprintf(dest, sizeof(dest), "%s/dest.sock", dir);
  pid_t pid = spawn_listener(dest, true);
  char req[256];
  snprintf(req, sizeof(req), "{\"id\":1,\"cmd\":\"migrate\",\"path\":\"%s\"}",
           dest);
  cJSON *r = ctl_request(ctl, req);
  EXPECT_TRUEF(resp_ok(r), "migrate: %s", resp_error(r));
  cJSON_Delete(r);
  usleep(200000);
  r = ctl_request(ctl, "{\"id\":2,\"cmd\":\"stats\"}");
  const cJSON *st = path_get(resp_result(r), "migration", "state");
  EXPECT_TRUEF(cJSON_IsString(st) && !strcmp(st->valuestring, "running"),
               "stats.migration.state: %s",
               cJSON_IsString(st) ? st->valuestring : "absent");
  cJSON_Delete(r);
  int sv[2];
  if (EXPECT_TRUE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)) {
    /* One migration at a time, also through the API. */
    EXPECT_RC(vmm_vm_migrate_send(vm, sv[0], NULL), VMM_EBUSY);
    close(sv[0]);
    close(sv[1]);
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  EXPECT_OK(vmm_vm_destroy(vm));
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  EXPECT_TRUEF(s < 5, "vmm_vm_destroy() took %.1f s", s);
  if (pid > 0) {
    kill(pid, SIGKILL);
    wait_child(pid);
  }
  rmdir(dir);
}

/* ---- bad streams at the receiving side ----------------------------- */

void migrate_streams_register(const struct test_def **tests, size_t *n);

static const struct test_def live_tests[] = {
    {"live", test_live},
    {"live_sandboxed", test_live_sandboxed},
    {"refused", test_refused},
    {"vanish_handshake", test_vanish_handshake},
    {"vanish_precopy", test_vanish_precopy},
    {"vanish_stop_copy", test_vanish_stop_copy},
    {"vanish_before_ack", test_vanish_before_ack},
    {"control", test_control},
    {"control_destroy", test_control_destroy},
    {"control_sandboxed", test_control_sandboxed},
};

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "--dest"))
    return dest_main(atoi(argv[2]),
                     argc >= 5 && !strcmp(argv[3], "--cut") ? argv[4] : "",
                     true);
  if (argc >= 3 && !strcmp(argv[1], "--listen"))
    return listen_main(argv[2], argc >= 4 && !strcmp(argv[3], "--stall"));
  const struct test_def *stream_tests;
  size_t n_stream;
  migrate_streams_register(&stream_tests, &n_stream);
  const struct test_suite suites[] = {
      {"migrate", live_tests, sizeof(live_tests) / sizeof(live_tests[0])},
      {"streams", stream_tests, n_stream},
  };
  return test_main(argc, argv, "migrate_test", "--guest migrate PATH", suites,
                   2, 120);
}
