/* tests/integration/devices_backend_test.c — the UART over the file, unix
 * socket and stdio character back-ends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include "../guests/devices.h"
#include "check.h"
#include "test_vm.h"

#include "devices_util.h"

void test_uart_file(void) {
  struct test_vm t;
  struct ucall_log log;
  vmm_chardev_t *chr = NULL;
  vmm_vm_stop_info_t info;
  char dir[] = "/tmp/libvmm-devices-XXXXXX", path[64];
  if (!EXPECT_TRUE(mkdtemp(dir)))
    return;
  snprintf(path, sizeof(path), "%s/console.log", dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("before\n", f);
    fclose(f);
  }
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_chardev_file(t.vm, path, &chr)) &&
      add_uart(&t, chr, NULL) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, 0, NULL)) &&
      set_params(&t, DEV_MODE_UART_OUTPUT, 0xf4, 0, 1, 0) &&
      start(&t, &log) && wait_stopped(&t, &log, &info))
    EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 1);
  EXPECT_RC(vmm_chardev_buffer_read(chr, path, 1), VMM_EINVAL);
  test_vm_destroy(&t);
  size_t len = 0;
  char *text = test_read_file(path, &len);
  if (EXPECT_TRUE(text)) {
    char *s = realloc(text, len + 1);
    if (s) {
      s[len] = 0;
      EXPECT_STR(s, "before\n" DEV_MESSAGE);
      text = s;
    }
    free(text);
  }
  EXPECT_FAIL(vmm_chardev_file(NULL, path, &chr));
  unlink(path);
  rmdir(dir);
}

static size_t read_all(int fd, void *buf, size_t len, int ms) {
  size_t got = 0;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (got < len) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long spent = (now.tv_sec - start.tv_sec) * 1000 +
                 (now.tv_nsec - start.tv_nsec) / 1000000;
    if (spent >= ms)
      break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(ms - spent)) <= 0)
      continue;
    ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
    if (n > 0)
      got += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
      break;
  }
  return got;
}

static int connect_to(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* A fresh directory in which unix sockets can be bound: not every
 * filesystem allows that (the nested test machine's root, /tmp included,
 * is 9p, whose QEMU server also complains on stderr when asked; its
 * /dev/shm is a tmpfs, so that goes first). */
static bool socket_dir(char *dir, size_t size) {
  const char *candidates[] = {getenv("TMPDIR"), "/dev/shm", "/tmp", "/run"};
  for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
    if (!candidates[i] || !*candidates[i])
      continue;
    snprintf(dir, size, "%s/libvmm-devices-XXXXXX", candidates[i]);
    if (!mkdtemp(dir))
      continue;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/probe", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    if (fd >= 0)
      close(fd);
    unlink(addr.sun_path);
    if (ok)
      return true;
    rmdir(dir);
  }
  return false;
}

/* A unix-socket back-end: mode 0600, one client, input through the loop. */
void test_uart_socket(void) {
  enum { N = 500 };
  struct test_vm t;
  struct ucall_log log;
  vmm_chardev_t *chr = NULL;
  vmm_vm_stop_info_t info;
  uint8_t in[N], out[N];
  char dir[80], path[100];
  int client = -1, second = -1;
  pattern(in, N, 3);
  if (!socket_dir(dir, sizeof(dir))) {
    note("no directory here can hold a unix socket: not tested");
    return;
  }
  snprintf(path, sizeof(path), "%s/console.sock", dir);
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_chardev_socket(t.vm, path, &chr))) {
    struct stat st;
    if (EXPECT_OK(stat(path, &st))) {
      EXPECT_TRUE(S_ISSOCK(st.st_mode));
      EXPECT_EQ(st.st_mode & 0777, 0600);
    }
    vmm_chardev_t *again = NULL;
    EXPECT_FAIL(vmm_chardev_socket(t.vm, path, &again)); /* path taken */
    EXPECT_TRUE(again == NULL);
    client = connect_to(path); /* waits in the backlog until the loop runs */
    EXPECT_TRUE(client >= 0);
  }
  if (client >= 0 && add_uart(&t, chr, NULL) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, 0, NULL)) &&
      set_params(&t, DEV_MODE_UART_ECHO, 0xf4, 7, 1, N) &&
      start(&t, &log) && wait_syncs(&log, 1)) {
    EXPECT_EQ(write(client, in, N), N);
    EXPECT_EQ(read_all(client, out, N, 20000), N);
    EXPECT_TRUE(memcmp(out, in, N) == 0);
    if (wait_stopped(&t, &log, &info))
      EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 15);
    /* The loop still serves the back-end: a second client is refused. */
    second = connect_to(path);
    if (EXPECT_TRUE(second >= 0)) {
      char msg[128] = {0};
      read_all(second, msg, sizeof(msg) - 1, 5000);
      EXPECT_TRUE(strncmp(msg, "libvmm:", 7) == 0);
    }
  }
  if (client >= 0)
    close(client);
  if (second >= 0)
    close(second);
  test_vm_destroy(&t);
  struct stat st;
  EXPECT_TRUE(stat(path, &st) < 0 && errno == ENOENT); /* unlinked */
  rmdir(dir);
}

/* The stdio back-end, with the process's stdin and stdout on pipes. */
void test_uart_stdio(void) {
  enum { N = 64 };
  struct test_vm t;
  struct ucall_log log;
  vmm_chardev_t *chr = NULL;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  uint8_t in[N], out[N];
  int to_guest[2], from_guest[2];
  pattern(in, N, 4);
  if (!EXPECT_OK(pipe2(to_guest, O_CLOEXEC)))
    return;
  if (!EXPECT_OK(pipe2(from_guest, O_CLOEXEC))) {
    close(to_guest[0]);
    close(to_guest[1]);
    return;
  }
  fflush(stdout);
  int saved_in = dup(0), saved_out = dup(1);
  dup2(to_guest[0], 0);
  dup2(from_guest[1], 1);
  int created = dev_vm_create(&t, 0), rc = created, rc_wait = 0;
  size_t got = 0, written = 0;
  bool aborted = false;
  if (rc == 0)
    rc = vmm_chardev_stdio(t.vm, &chr);
  if (rc == 0) {
    vmm_uart_config_t cfg = VMM_UART_CONFIG_INIT;
    cfg.chardev = chr;
    rc = vmm_uart_create(t.vm, &cfg, NULL);
  }
  if (rc == 0)
    rc = vmm_debug_exit_create(t.vm, 0, NULL);
  for (unsigned i = 0; rc == 0 && i < 5; i++)
    rc = test_vm_set_param(&t, i, (uint64_t[]){DEV_MODE_UART_ECHO, 0xf4, 2,
                                               1, N}[i]);
  if (rc == 0) {
    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    rc = vmm_vm_on_exit(t.vm, on_exit_ucall, &log);
  }
  if (rc == 0)
    rc = vmm_vm_start(t.vm);
  for (int i = 0; rc == 0 && i < WAIT_MS / 2; i++) {
    pthread_mutex_lock(&log.mu);
    bool ready = log.syncs >= 1 || log.aborted;
    pthread_mutex_unlock(&log.mu);
    if (ready)
      break;
    usleep(2000);
  }
  if (rc == 0) {
    ssize_t w = write(to_guest[1], in, N);
    written = w > 0 ? (size_t)w : 0;
    close(to_guest[1]); /* then EOF: the back-end stops polling stdin */
    to_guest[1] = -1;
    got = read_all(from_guest[0], out, N, 20000);
    rc_wait = vmm_vm_wait(t.vm, WAIT_MS, &info);
    aborted = log.aborted;
  }
  /* Back to the real stdio before saying anything. */
  fflush(stdout);
  dup2(saved_in, 0);
  dup2(saved_out, 1);
  close(saved_in);
  close(saved_out);
  if (EXPECT_OK(rc)) {
    EXPECT_EQ(written, N);
    EXPECT_EQ(got, N);
    EXPECT_TRUE(memcmp(out, in, N) == 0);
    EXPECT_OK(rc_wait);
    EXPECT_TRUEF(!aborted, "guest aborted: %s", log.abort_text);
    EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 5);
  } else if (created < 0) {
    EXPECT_TRUEF(false, "%s", t.error);
  }
  test_vm_destroy(&t);
  if (to_guest[1] >= 0)
    close(to_guest[1]);
  close(to_guest[0]);
  close(from_guest[0]);
  close(from_guest[1]);
}

