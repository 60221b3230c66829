/* tests/integration/sandbox_test.c — the seccomp sandbox (<libvmm/sandbox.h>)
 * with a real guest: a port handler on a sandboxed vCPU thread tries to
 * open a file, create sockets, execute a program, start a thread and map
 * executable memory, and is refused while the guest runs to its end; the
 * loop thread is filtered too and still serves the control socket; the
 * KILL mode ends the process; a thread of the program's own enters the
 * sandbox and runs a vCPU; without the sandbox the same calls succeed.
 *
 *   sandbox_test --backend kvm --guest hello PATH [--test NAME]... [--list]
 *
 * Exits 77 (meson's SKIP) without /dev/kvm or without the sandbox (libvmm
 * built without libseccomp), 0 when every test passed, 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "check.h"
#include "ctl_client.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "hello";

static const char hello[] = "Hello from the guest\n";

/* ---- what a back-end tries on a vCPU thread -------------------------- */

/* errno of each attempt (0: it succeeded). */
struct attempts {
  int open_file, socket_inet, socket_unix, exec, thread, mmap_exec;
  int getpid_ok; /* allowed calls still work: getpid matches */
};

static void *thread_noop(void *arg) { return arg; }

static void attempt_forbidden(struct attempts *a, bool try_exec) {
  int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  a->open_file = fd < 0 ? errno : 0;
  if (fd >= 0)
    close(fd);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  a->socket_inet = fd < 0 ? errno : 0;
  if (fd >= 0)
    close(fd);
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  a->socket_unix = fd < 0 ? errno : 0;
  if (fd >= 0)
    close(fd);
  /* /bin/false: should the exec go through, the program ends with 1 and
   * the test fails loudly instead of passing. */
  if (try_exec) {
    char *const argv[] = {"false", NULL};
    execv("/bin/false", argv);
    a->exec = errno;
  }
  pthread_t t;
  int e = pthread_create(&t, NULL, thread_noop, NULL);
  a->thread = e;
  if (e == 0)
    pthread_join(t, NULL);
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  a->mmap_exec = p == MAP_FAILED ? errno : 0;
  if (p != MAP_FAILED)
    munmap(p, 4096);
  a->getpid_ok = getpid() > 0;
}

/* The port 0xE9 handler with a misbehaving back-end: the first byte
 * triggers the attempts; at the newline the thread waits on `gate` (a
 * read on a pipe: allowed) so that the test can look at its threads. */
struct probe {
  struct test_vm *t;
  struct attempts a;
  bool tried;
  bool try_exec;  /* only where the sandbox must refuse it */
  int reached[2]; /* vCPU → test: at the newline */
  int gate[2];    /* test → vCPU: go on */
};

static int probe_out(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                     uint32_t size, int is_write, void *opaque) {
  struct probe *p = opaque;
  if (is_write && !p->tried) {
    p->tried = true;
    attempt_forbidden(&p->a, p->try_exec);
  }
  int rc = test_console_out(vcpu, addr, data, size, is_write, p->t);
  if (is_write && data[0] == '\n' && p->gate[0] >= 0) {
    char c = 1;
    if (write(p->reached[1], &c, 1) != 1 || read(p->gate[0], &c, 1) != 1)
      return VMM_EIO;
  }
  return rc;
}

static void probe_init(struct probe *p, struct test_vm *t, bool gate) {
  memset(p, 0, sizeof(*p));
  p->t = t;
  p->try_exec = gate;
  p->gate[0] = p->gate[1] = p->reached[0] = p->reached[1] = -1;
  if (gate && (pipe2(p->gate, O_CLOEXEC) || pipe2(p->reached, O_CLOEXEC)))
    CU_FAIL("pipe2");
}

static void probe_fini(struct probe *p) {
  for (int i = 0; i < 2; i++) {
    if (p->gate[i] >= 0)
      close(p->gate[i]);
    if (p->reached[i] >= 0)
      close(p->reached[i]);
  }
}

/* Replaces test_vm's port 0xE9 handler with the probe. */
static bool install_probe(struct test_vm *t, struct probe *p) {
  return EXPECT_OK(vmm_io_unregister(t->vm, VMM_IO_PIO, 0xE9)) &&
         EXPECT_OK(vmm_io_register(t->vm, VMM_IO_PIO, 0xE9, 1, probe_out, p));
}

/* Threads of this process whose status says "Seccomp: 2" (filter). KVM's
 * kernel workers that show up among them ("kvm-nx-lpage-recovery", made
 * by the first KVM_RUN and taking on the vCPU thread's filter) are not
 * counted. */
static unsigned filtered_threads(void) {
  unsigned n = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    char path[300];
    snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
    FILE *f = fopen(path, "r");
    char line[256];
    bool kvm_worker = false;
    while (f && fgets(line, sizeof(line), f)) {
      if (strncmp(line, "Name:\tkvm-", 10) == 0)
        kvm_worker = true;
      if (strncmp(line, "Seccomp:", 8) == 0 &&
          strtol(line + 8, NULL, 10) == 2 && !kvm_worker)
        n++;
    }
    if (f)
      fclose(f);
  }
  if (d)
    closedir(d);
  return n;
}

/* ---- the API ------------------------------------------------------------ */

static void test_api(void) {
  struct test_vm t;
  memset(&t, 0, sizeof(t));
  if (!CREATE(&t, "hello"))
    goto out;
  EXPECT_OK(vmm_sandbox_available());
  EXPECT_EQ(vmm_vm_get_sandbox(t.vm), 0);
  EXPECT_RC(vmm_vm_set_sandbox(t.vm, 1u << 7), VMM_EINVAL);
  EXPECT_RC(vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_KILL), VMM_EINVAL);
  EXPECT_RC(vmm_vm_set_sandbox(NULL, VMM_SANDBOX_ON), VMM_EBADF);
  EXPECT_RC(vmm_sandbox_apply_current_thread(0), VMM_EINVAL);
  EXPECT_OK(vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_ON | VMM_SANDBOX_KILL));
  EXPECT_EQ(vmm_vm_get_sandbox(t.vm), VMM_SANDBOX_ON | VMM_SANDBOX_KILL);
  EXPECT_OK(vmm_vm_set_sandbox(t.vm, 0));
  EXPECT_OK(vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_ON));
  if (EXPECT_OK(vmm_vm_start(t.vm))) {
    EXPECT_RC(vmm_vm_set_sandbox(t.vm, 0), VMM_ESTATE);
    EXPECT_OK(vmm_vm_wait(t.vm, WAIT_MS, NULL));
  }
  EXPECT_EQ(vmm_vm_get_sandbox(t.vm), VMM_SANDBOX_ON);
out:
  test_vm_destroy(&t);
}

/* ---- refused on libvmm's threads ---------------------------------------- */

static void expect_refused(const struct attempts *a) {
  EXPECT_EQ(a->open_file, EPERM);
  EXPECT_EQ(a->socket_inet, EPERM);
  EXPECT_EQ(a->socket_unix, EPERM);
  EXPECT_EQ(a->exec, EPERM);
  EXPECT_EQ(a->thread, EPERM);
  EXPECT_EQ(a->mmap_exec, EPERM);
  EXPECT_TRUE(a->getpid_ok);
}

/* The guest runs to its HLT with its whole output while the back-end's
 * forbidden calls fail; the loop thread (there for the control socket)
 * is filtered as well and answers requests; the program's own threads are
 * not filtered. */
static void run_refused(bool sandbox) {
  struct test_vm t;
  struct probe p;
  char dir[128], sock[160];
  memset(&t, 0, sizeof(t));
  probe_init(&p, &t, sandbox);
  if (!CREATE(&t, "hello") || !install_probe(&t, &p) ||
      !EXPECT_TRUE(ctl_make_dir(dir, sizeof(dir), sock, sizeof(sock))))
    goto out;
  if (!EXPECT_OK(vmm_vm_control_listen(t.vm, sock)))
    goto out_dir;
  if (sandbox && !EXPECT_OK(vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_ON)))
    goto out_dir;
  unsigned before = filtered_threads();
  if (!EXPECT_OK(vmm_vm_start(t.vm)))
    goto out_dir;
  if (sandbox) {
    /* The vCPU waits in the handler at the newline. */
    char c;
    if (EXPECT_EQ(read(p.reached[0], &c, 1), 1)) {
      /* The vCPU and the loop thread, which filters itself when it
       * starts: it may not have got there yet. */
      unsigned n = filtered_threads();
      for (int i = 0; i < 200 && n < before + 2; i++) {
        usleep(10000);
        n = filtered_threads();
      }
      EXPECT_EQ(n, before + 2);
      cJSON *r = ctl_request(sock, "{\"cmd\":\"stats\"}");
      EXPECT_TRUEF(r && resp_ok(r), "%s", r ? resp_error(r) : "no answer");
      cJSON_Delete(r);
      /* A command that would need a socket and a thread (migrate) is
       * refused with its reason, not tripped over the filter. */
      r = ctl_request(sock, "{\"cmd\":\"migrate\",\"path\":"
                            "\"/nonexistent/vmm-sandbox.sock\"}");
      const char *e = r ? resp_error(r) : NULL;
      EXPECT_TRUEF(r && !resp_ok(r) && e && strstr(e, "sandboxed") &&
                   !strstr(e, "not permitted"), "migrate: %s",
                   e ? e : "no answer");
      cJSON_Delete(r);
    }
    EXPECT_EQ(write(p.gate[1], &c, 1), 1);
  }
  vmm_vm_stop_info_t info;
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  if (EXPECT_OK(vmm_vm_wait(t.vm, WAIT_MS, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_HALT);
    EXPECT_TRUEF(t.console_len == strlen(hello) &&
                 memcmp(t.console, hello, t.console_len) == 0,
                 "console: \"%.*s\"", (int)t.console_len, t.console);
  }
  EXPECT_TRUE(p.tried);
  if (sandbox) {
    expect_refused(&p.a);
  } else {
    EXPECT_EQ(p.a.open_file, 0);
    EXPECT_EQ(p.a.socket_inet, 0);
    EXPECT_EQ(p.a.thread, 0);
  }
  /* This thread was never filtered. */
  int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  EXPECT_TRUEF(fd >= 0 || errno == ENOENT, "open: %s", strerror(errno));
  if (fd >= 0)
    close(fd);
  /* Closed from here while the (filtered) loop thread still runs: the
   * socket file goes all the same. */
  EXPECT_OK(vmm_vm_control_close(t.vm));
  EXPECT_TRUEF(access(sock, F_OK) != 0 && errno == ENOENT, "%s is left",
               sock);
out_dir:
  vmm_vm_control_close(t.vm);
  unlink(sock);
  rmdir(dir);
out:
  test_vm_destroy(&t);
  probe_fini(&p);
}

static void test_refused(void) { run_refused(true); }
static void test_unfiltered(void) { run_refused(false); }

/* ---- KILL: a refused call ends the process ----------------------------- */

static void test_kill(void) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    struct test_vm t;
    struct probe p;
    memset(&t, 0, sizeof(t));
    probe_init(&p, &t, false);
    if (test_vm_create(&t, "hello") < 0 ||
        vmm_io_unregister(t.vm, VMM_IO_PIO, 0xE9) < 0 ||
        vmm_io_register(t.vm, VMM_IO_PIO, 0xE9, 1, probe_out, &p) < 0 ||
        vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_ON | VMM_SANDBOX_KILL) < 0 ||
        vmm_vm_start(t.vm) < 0)
      _exit(3);
    vmm_vm_wait(t.vm, WAIT_MS, NULL);
    _exit(4); /* survived: wrong */
  }
  if (!EXPECT_TRUE(pid > 0))
    return;
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUEF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
               "child status 0x%x (exit %d)", status,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- the C library's lazy set-up --------------------------------------- */

/* What libvmm's devices call from the C library on a vCPU thread and that
 * reads files on first use: gmtime_r() (the RTC: /etc/localtime) and
 * strerror() (message catalogues). */
static int libc_out(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                    uint32_t size, int is_write, void *opaque) {
  time_t t = 0;
  struct tm tm;
  volatile size_t n = strlen(strerror(ENOSPC));
  (void)n;
  if (!gmtime_r(&t, &tm))
    return VMM_EIO;
  return test_console_out(vcpu, addr, data, size, is_write, opaque);
}

/* The child: a fresh process (exec'd: nothing of the C library used
 * yet), the hello guest with VMM_SANDBOX_KILL; exits 0 when it ran. */
static int libc_warm_child(const char *guest) {
  struct test_vm t;
  memset(&t, 0, sizeof(t));
  test_backend = "kvm";
  if (test_guest_add("hello", guest) < 0 || test_vm_create(&t, "hello") < 0 ||
      vmm_io_unregister(t.vm, VMM_IO_PIO, 0xE9) < 0 ||
      vmm_io_register(t.vm, VMM_IO_PIO, 0xE9, 1, libc_out, &t) < 0 ||
      vmm_vm_set_sandbox(t.vm, VMM_SANDBOX_ON | VMM_SANDBOX_KILL) < 0 ||
      vmm_vm_start(t.vm) < 0 || vmm_vm_wait(t.vm, WAIT_MS, NULL) < 0)
    return 3;
  return t.console_len == strlen(hello) ? 0 : 4;
}

static char self_path[4096];

/* In a process that never used either: with VMM_SANDBOX_KILL a file read
 * there would kill it; libvmm set them up before filtering. */
static void test_libc_warm(void) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char *const argv[] = {self_path, "--libc-warm-child",
                          (char *)test_guest_path("hello"), NULL};
    execv(self_path, argv);
    _exit(5);
  }
  if (!EXPECT_TRUE(pid > 0))
    return;
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUEF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "child status 0x%x (signal %d)", status,
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- a thread of the program's own ------------------------------------- */

struct own {
  struct test_vm *t;
  int apply_rc;
  int open_errno;
  int last;
};

static void *own_thread(void *arg) {
  struct own *o = arg;
  o->apply_rc = vmm_sandbox_apply_current_thread(VMM_SANDBOX_ON);
  int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  o->open_errno = fd < 0 ? errno : 0;
  if (fd >= 0)
    close(fd);
  /* vmm_vcpu_run() on this filtered thread until the guest halts. */
  do
    o->last = test_vm_run(o->t);
  while (o->last == VMM_EXIT_IO || o->last == VMM_EXIT_KICKED);
  return NULL;
}

static void test_own_thread(void) {
  struct test_vm t;
  memset(&t, 0, sizeof(t));
  if (!CREATE(&t, "hello"))
    goto out;
  struct own o = {&t, -1, 0, -1};
  pthread_t th;
  if (EXPECT_EQ(pthread_create(&th, NULL, own_thread, &o), 0)) {
    pthread_join(th, NULL);
    EXPECT_OK(o.apply_rc);
    EXPECT_EQ(o.open_errno, EPERM);
    EXPECT_EQ(o.last, VMM_EXIT_HLT);
    EXPECT_TRUEF(t.console_len == strlen(hello) &&
                 memcmp(t.console, hello, t.console_len) == 0,
                 "console: \"%.*s\"", (int)t.console_len, t.console);
  }
out:
  test_vm_destroy(&t);
}

static const struct test_def tests[] = {
    {"api", test_api},
    {"refused", test_refused},
    {"unfiltered", test_unfiltered},
    {"kill", test_kill},
    {"libc_warm", test_libc_warm},
    {"own_thread", test_own_thread},
};

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--libc-warm-child") == 0)
    return libc_warm_child(argv[2]);
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
  self_path[n > 0 ? n : 0] = '\0';
  if (vmm_sandbox_available() < 0) {
    printf("SKIP: %s\n", vmm_last_error());
    return 77;
  }
  return vt_main(argc, argv, "sandbox_test", "sandbox", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
