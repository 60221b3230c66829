/* tests/integration/launcher_cli_test.c — examples/vmm-boot run as a
 * program on the boot guest (tests/guests/launch_guest.c, PVH and multiboot
 * builds): every exit status, bad usage, signals, the devices and options
 * a stock kernel needs. The guest's command line says what it does. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "launcher_cli.h"
#include "test_vm.h"

#define RUN_TIMEOUT_MS 60000
#define OUT_MAX 16384

struct run {
  int status;   /* exit status, or 128 + signal when killed by one */
  char dir[64]; /* scratch directory: uart.log, out.log, err.log */
  char out[OUT_MAX], err[OUT_MAX], uart[OUT_MAX];
};

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void slurp(const char *dir, const char *name, char *buf) {
  char path[128];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  buf[0] = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  ssize_t n = read(fd, buf, OUT_MAX - 1);
  buf[n > 0 ? n : 0] = 0;
  close(fd);
}

static bool new_dir(struct run *r) {
  snprintf(r->dir, sizeof(r->dir), "/tmp/vmm-boot-test.XXXXXX");
  return check_true(mkdtemp(r->dir) != NULL, __LINE__, "mkdtemp", "%s",
                    strerror(errno));
}

static void remove_dir(struct run *r) {
  static const char *const names[] = {"uart.log", "out.log", "err.log",
                                      "hvc.log",  "disk0",   "disk1",
                                      "initrd",   "junk"};
  char path[128];
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", r->dir, names[i]);
    unlink(path);
  }
  rmdir(r->dir);
}

/*
 * Runs vmm-boot with `args` (NULL-terminated; "@" inside an argument is
 * replaced by the scratch directory). With `sig`, sends it once the UART
 * log shows the guest booted. Fills r->status and the outputs.
 */
/* What the next launch() gets on its stdin (NULL: /dev/null). */
static const char *launch_input;

static bool launch(struct run *r, int sig, const char *const *args) {
  const char *exe = test_guest_path("vmm-boot");
  if (!check_true(exe != NULL, __LINE__, "vmm-boot", "--guest vmm-boot "
                  "PATH not given"))
    return false;
  char *argv[64];
  char store[32][256];
  int n = 0;
  argv[n++] = (char *)exe;
  for (int i = 0; args[i] && n < 32; i++) {
    const char *a = args[i], *at = strchr(a, '@');
    if (at) {
      snprintf(store[n], sizeof(store[n]), "%.*s%s%s", (int)(at - a), a,
               r->dir, at + 1);
      argv[n] = store[n];
    } else {
      argv[n] = (char *)a;
    }
    n++;
  }
  argv[n] = NULL;
  char out[128], err[128];
  /* vmm-boot appends to console files: each run starts with none. */
  snprintf(out, sizeof(out), "%s/uart.log", r->dir);
  unlink(out);
  snprintf(out, sizeof(out), "%s/hvc.log", r->dir);
  unlink(out);
  snprintf(out, sizeof(out), "%s/out.log", r->dir);
  snprintf(err, sizeof(err), "%s/err.log", r->dir);
  /* Input comes through a pipe, as from a terminal or another program
   * (the stdio back-end polls its fd, which a regular file does not
   * support). It fits in the pipe's buffer. */
  int in_pipe[2] = {-1, -1};
  if (launch_input && pipe(in_pipe) < 0)
    return check_true(false, __LINE__, "pipe", "%s", strerror(errno));
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (launch_input)
      close(in_pipe[1]); /* so that vmm-boot sees the end of its input */
    int in = launch_input ? in_pipe[0] : open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0)
      _exit(126);
    dup2(in, 0), dup2(o, 1), dup2(e, 2);
    execv(exe, argv);
    _exit(127);
  }
  if (launch_input) {
    close(in_pipe[0]);
    if (pid > 0 &&
        write(in_pipe[1], launch_input, strlen(launch_input)) < 0)
      note("writing vmm-boot's stdin: %s", strerror(errno));
    close(in_pipe[1]);
  }
  if (!check_true(pid > 0, __LINE__, "fork", "%s", strerror(errno)))
    return false;
  bool sent = false;
  int st = 0;
  for (int waited = 0;; waited += 10) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid)
      break;
    if (waited > RUN_TIMEOUT_MS) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      check_true(false, __LINE__, "vmm-boot finished", "still running after "
                 "%d ms", RUN_TIMEOUT_MS);
      return false;
    }
    if (sig && !sent) {
      slurp(r->dir, "uart.log", r->uart);
      if (strstr(r->uart, "booted via")) {
        kill(pid, sig);
        sent = true;
      }
    }
    sleep_ms(10);
  }
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  slurp(r->dir, "out.log", r->out);
  slurp(r->dir, "err.log", r->err);
  slurp(r->dir, "uart.log", r->uart);
  return true;
}

/* The outcome, shown when a check fails. */
static bool expect_status(struct run *r, int want, unsigned line) {
  return check_true(r->status == want, line, "vmm-boot's exit status",
                    "got %d, want %d\n  stderr: %s\n  UART: %s", r->status,
                    want, r->err, r->uart);
}
#define EXPECT_STATUS(r, want) expect_status((r), (want), __LINE__)

static bool expect_has(const char *hay, const char *needle, const char *what,
                       unsigned line) {
  return check_true(strstr(hay, needle) != NULL, line, what,
                    "'%s' not in:\n%s", needle, hay);
}
#define EXPECT_HAS(hay, needle) expect_has((hay), (needle), #hay, __LINE__)

/* vmm-boot on guest `kernel` ("launch-pvh", "launch-mb"), UART to a file. */
#define BOOT(r, kernel, ...)                                                  \
  launch((r), 0, (const char *const[]){"--kernel", test_guest_path(kernel),   \
                                       "--console", "file:@/uart.log",        \
                                       __VA_ARGS__, NULL})

static void test_usage(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  const char *const *bad[] = {
      (const char *const[]){NULL},
      (const char *const[]){"--kernel", NULL},
      (const char *const[]){"--kernel", "k", "--cpus", "0", NULL},
      (const char *const[]){"--kernel", "k", "--cpus", "257", NULL},
      (const char *const[]){"--kernel", "k", "--mem", "12x", NULL},
      (const char *const[]){"--kernel", "k", "--mem", "1", NULL},
      (const char *const[]){"--kernel", "k", "--bogus", "1", NULL},
      (const char *const[]){"--kernel", "k", "stray", NULL},
      (const char *const[]){"--kernel", "k", "--console", "tty", NULL},
      (const char *const[]){"--kernel", "k", "--net", "vde:x", NULL},
      (const char *const[]){"--kernel", "k", "--disk", "a,b", NULL},
      (const char *const[]){"--kernel", "k", "--virtio-console", "stdio",
                            NULL}, /* with --console stdio, the default */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (!launch(&r, 0, bad[i]))
      break;
    EXPECT_STATUS(&r, 2);
    EXPECT_HAS(r.err, "vmm-boot: ");
  }
  if (launch(&r, 0, (const char *const[]){"--help", NULL})) {
    EXPECT_STATUS(&r, 0);
    EXPECT_HAS(r.out, "usage: vmm-boot --kernel FILE");
  }
  remove_dir(&r);
}

static void test_bad_kernel(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  char junk[128];
  snprintf(junk, sizeof(junk), "%s/junk", r.dir);
  FILE *f = fopen(junk, "w");
  if (f) {
    fputs("not a kernel\n", f);
    fclose(f);
  }
  if (launch(&r, 0, (const char *const[]){"--kernel", "@/junk", NULL})) {
    EXPECT_STATUS(&r, 4);
    EXPECT_HAS(r.err, "none of the formats");
  }
  if (launch(&r, 0, (const char *const[]){"--kernel", "@/missing", NULL})) {
    EXPECT_STATUS(&r, 4);
    EXPECT_HAS(r.err, "missing");
  }
  remove_dir(&r);
}

static void test_guest_status(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  if (BOOT(&r, "launch-pvh", "--cmdline", "exit=3")) {
    EXPECT_STATUS(&r, 7); /* (3 << 1) | 1 */
    EXPECT_HAS(r.uart, "boot-guest: booted via pvh, command line 'exit=3'");
    EXPECT_HAS(r.err, "exited with status 7");
  }
  if (BOOT(&r, "launch-pvh", "--cmdline", "exit=100")) {
    EXPECT_STATUS(&r, 201);
  }
  remove_dir(&r);
}

static void test_reset_triple_internal(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  if (BOOT(&r, "launch-pvh", "--cmdline", "reset exit=5")) {
    EXPECT_STATUS(&r, 6);
    EXPECT_HAS(r.err, "reset");
  }
  if (BOOT(&r, "launch-pvh", "--cmdline", "triple exit=5")) {
    EXPECT_STATUS(&r, 8);
    EXPECT_HAS(r.err, "triple fault");
  }
  if (BOOT(&r, "launch-pvh", "--cmdline", "internal exit=5")) {
    EXPECT_STATUS(&r, 10);
    EXPECT_HAS(r.err, "backend internal error");
    EXPECT_HAS(r.err, "rip 0xf0000000, 32-bit protected mode, CPL 0");
  }
  remove_dir(&r);
}

static void test_signals(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  if (launch(&r, SIGTERM, (const char *const[]){
                 "--kernel", test_guest_path("launch-pvh"), "--console",
                 "file:@/uart.log", "--cmdline", "hang", NULL})) {
    EXPECT_STATUS(&r, 143);
    EXPECT_HAS(r.err, "stopped by signal 15");
    /* How far it got: the spinning guest, in its own mode. */
    EXPECT_HAS(r.err, "at the stop: vCPU 0 rip 0x1");
    EXPECT_HAS(r.err, "(32-bit protected mode, CPL 0, no paging), runnable");
  }
  if (launch(&r, SIGINT, (const char *const[]){
                 "--kernel", test_guest_path("launch-pvh"), "--console",
                 "file:@/uart.log", "--cmdline", "hang", "--cpus", "2",
                 NULL})) {
    EXPECT_STATUS(&r, 130);
    EXPECT_HAS(r.err, "at the stop: vCPU 1 rip 0x");
    EXPECT_HAS(r.err, "uninitialized");
  }
  remove_dir(&r);
}

static void test_timings(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  if (BOOT(&r, "launch-pvh", "--cmdline", "boottime", "--timings")) {
    EXPECT_STATUS(&r, 1); /* the guest's "done": exit=0 */
    EXPECT_HAS(r.err, "timings: VM created -> first UART byte ");
    EXPECT_HAS(r.err, "timings: VM created -> init (boot-time port) ");
    EXPECT_TRUE(!strstr(r.err, "(boot-time port): not seen"));
    EXPECT_HAS(r.uart, "boot-guest: done");
  }
  /* Without the magic write, the time is reported as not seen. */
  if (BOOT(&r, "launch-pvh", "--timings")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.err, "init (boot-time port): not seen");
  }
  remove_dir(&r);
}

static void test_initrd_memory_smp(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  char path[128];
  snprintf(path, sizeof(path), "%s/initrd", r.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("initrd-contents-0123456789", f);
    fclose(f);
  }
  if (BOOT(&r, "launch-pvh", "--initrd", "@/initrd", "--cmdline", "modules")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.uart, "module 0: 26 bytes: initrd-contents-");
  }
  /* Above 3 GiB the RAM continues at 4 GiB. */
  if (BOOT(&r, "launch-pvh", "--mem", "3200", "--cmdline", "memmap")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.uart, "memory 0x100000 size 0xbff00000 type 1");
    EXPECT_HAS(r.uart, "memory 0x100000000 size 0x8000000 type 1");
  }
  if (BOOT(&r, "launch-pvh", "--cpus", "3", "--cmdline", "smp=3")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.uart, "boot-guest: 3 CPUs up");
  }
  /* Many vCPUs, 4 GiB of RAM (3 below the hole, 1 above). Under valgrind
   * (VMM_TEST_VALGRIND, tests/meson.build) 64 vCPU threads do not all
   * reach the guest within its ~10 s wait for its APs: 16 there. */
  const char *cpus = getenv("VMM_TEST_VALGRIND") ? "16" : "64";
  char smp[32], up[40];
  snprintf(smp, sizeof(smp), "smp=%s memmap", cpus);
  snprintf(up, sizeof(up), "boot-guest: %s CPUs up", cpus);
  if (BOOT(&r, "launch-pvh", "--cpus", cpus, "--mem", "4096", "--cmdline",
           smp)) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.uart, up);
    EXPECT_HAS(r.uart, "memory 0x100000000 size 0x40000000 type 1");
  }
  remove_dir(&r);
}

/* The devices a stock kernel uses are built (the boot guest does not
 * drive them): disks, a read-only disk, virtio-net over a socket,
 * virtio-console to a file. */
static void test_devices(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  char path[128];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof(path), "%s/disk%d", r.dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      if (ftruncate(fd, 1 << 20) < 0)
        note("ftruncate: %s", strerror(errno));
      close(fd);
    }
  }
  /* A datagram socket for virtio-net to connect to (/dev/shm: /tmp may
   * not take sockets, e.g. 9p in the nested machine). */
  char sock[108];
  snprintf(sock, sizeof(sock), "/dev/shm/vmm-boot-test-%d.sock", getpid());
  unlink(sock);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path, sock, strlen(sock) + 1);
  if (!EXPECT_TRUE(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0))
    goto out;
  char net[128];
  snprintf(net, sizeof(net), "socket:%s", sock);
  if (BOOT(&r, "launch-pvh", "--disk", "@/disk0", "--disk", "@/disk1,ro",
           "--net", net, "--virtio-console", "file:@/hvc.log", "--verbose",
           "--cmdline", "exit=0")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.err, "/disk0 at PCI 00:");
    EXPECT_HAS(r.err, "/disk1 (read-only) at PCI 00:");
  }
  /* A tap interface (created by libvmm; needs CAP_NET_ADMIN). */
  if (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0) {
    char tap[64];
    snprintf(tap, sizeof(tap), "tap:vmmboot%d", getpid() % 10000);
    if (BOOT(&r, "launch-pvh", "--net", tap, "--cmdline", "exit=0"))
      EXPECT_STATUS(&r, 1);
  } else {
    note("not root or no /dev/net/tun: --net tap:NAME not tried");
  }
  /* A disk that does not exist is a set-up error. */
  if (BOOT(&r, "launch-pvh", "--disk", "@/nothing")) {
    EXPECT_STATUS(&r, 4);
    EXPECT_HAS(r.err, "--disk");
  }
out:
  if (s >= 0)
    close(s);
  unlink(sock);
  remove_dir(&r);
}

/* The guest's CPUID leaf 1 ECX/EDX on the UART (the "cpuid" word). */
static uint32_t cpuid_word(const char *uart, const char *reg) {
  char key[16];
  snprintf(key, sizeof(key), "%s=0x", reg);
  const char *p = strstr(uart, key);
  return p ? (uint32_t)strtoul(p + strlen(key), NULL, 16) : 0;
}

static void test_cpu_template(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  /* cx16 (ECX bit 13) follows the template on both KVMs; this machine's
   * KVM takes most other leaf-1 bits from the host (docs/platforms.md),
   * so they are not checked here. sse2 is EDX bit 26. */
  const uint32_t cx16 = 1u << 13;
  if (BOOT(&r, "launch-pvh", "--cpu-template", "host", "--cmdline",
           "cpuid")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_TRUE(cpuid_word(r.uart, "edx") & (1u << 26));
  }
  if (BOOT(&r, "launch-pvh", "--cpu-template", "baseline", "--cmdline",
           "cpuid")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_EQ(cpuid_word(r.uart, "ecx") & cx16, 0);
    EXPECT_TRUE(cpuid_word(r.uart, "edx") & (1u << 26));
  }
  if (BOOT(&r, "launch-pvh", "--cpu-template", "baseline,+cx16", "--cpus",
           "2", "--cmdline", "cpuid")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_EQ(cpuid_word(r.uart, "ecx") & cx16, cx16);
  }
  if (BOOT(&r, "launch-pvh", "--cpu-template", "host,-cx16", "--cmdline",
           "cpuid")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_EQ(cpuid_word(r.uart, "ecx") & cx16, 0);
  }
  /* A spec the library refuses is bad usage. */
  if (BOOT(&r, "launch-pvh", "--cpu-template", "bogus")) {
    EXPECT_STATUS(&r, 2);
    EXPECT_HAS(r.err, "bogus");
  }
  if (BOOT(&r, "launch-pvh", "--cpu-template", "host,-nosuchfeature")) {
    EXPECT_STATUS(&r, 2);
    EXPECT_HAS(r.err, "nosuchfeature");
  }
  remove_dir(&r);
}

/* ACPI power-off (S5 through the FADT's PM1a control block, the RSDP
 * from hvm_start_info or the BIOS-area scan) ends with status 0. */
static void test_poweroff(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  if (BOOT(&r, "launch-pvh", "--cmdline", "poweroff")) {
    EXPECT_STATUS(&r, 0);
    EXPECT_HAS(r.err, "the guest powered off");
  }
  if (BOOT(&r, "launch-mb", "--cpus", "2", "--cmdline", "poweroff")) {
    EXPECT_STATUS(&r, 0);
    EXPECT_HAS(r.uart, "ACPI power-off (PM1a_CNT");
  }
  remove_dir(&r);
}

/* The multiboot build of the same guest, on 1 and 3 vCPUs, with a
 * module. */
static void test_multiboot(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  char path[128];
  snprintf(path, sizeof(path), "%s/initrd", r.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("multiboot-module", f);
    fclose(f);
  }
  if (BOOT(&r, "launch-mb", "--initrd", "@/initrd", "--cmdline",
           "modules exit=2")) {
    EXPECT_STATUS(&r, 5);
    EXPECT_HAS(r.uart, "boot-guest: booted via multiboot");
    EXPECT_HAS(r.uart, "module 0: 16 bytes: multiboot-module");
  }
  if (BOOT(&r, "launch-mb", "--cpus", "3", "--cmdline", "smp=3")) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.uart, "boot-guest: 3 CPUs up");
  }
  remove_dir(&r);
}

/* --console stdio both ways: the library's stdio back-end, and with
 * --timings the launcher's relay. */
static void test_console_stdio(void) {
  struct run r;
  if (!new_dir(&r))
    return;
  launch_input = "hello-uart\n";
  const char *const plain[] = {"--kernel", test_guest_path("launch-pvh"),
                               "--cmdline", "echo", NULL};
  if (launch(&r, 0, plain)) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.out, "boot-guest: read 'hello-uart'");
  }
  const char *const timed[] = {"--kernel", test_guest_path("launch-pvh"),
                               "--cmdline", "echo", "--timings", NULL};
  if (launch(&r, 0, timed)) {
    EXPECT_STATUS(&r, 1);
    EXPECT_HAS(r.out, "boot-guest: read 'hello-uart'");
    EXPECT_HAS(r.err, "first UART byte ");
  }
  launch_input = NULL;
  remove_dir(&r);
}

/* FNV-1a, 32 bits: what mbinfo checks its module with. */
static uint32_t fnv1a(const char *s, size_t n) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

/* The multiboot helpers' kernels (tests/guests/multiboot) through
 * vmm-boot: mbinfo checks the info block, its module and fw_cfg; mbsmp
 * starts every other CPU with INIT/SIPI and exits with how many ran. */
static void test_multiboot_kernels(void) {
  if (!test_guest_path("mbinfo") || !test_guest_path("mbsmp")) {
    note("--guest mbinfo/mbsmp not given: skipped");
    return;
  }
  struct run r;
  if (!new_dir(&r))
    return;
  static const char module[] = "a module for mbinfo, 37 bytes long...";
  char path[128], cmdline[256];
  snprintf(path, sizeof(path), "%s/initrd", r.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(module, f);
    fclose(f);
  }
  snprintf(cmdline, sizeof(cmdline), "mbinfo mods=1 modlen=%zu "
           "modsum=0x%x cpus=2 ram=0x%x", sizeof(module) - 1,
           fnv1a(module, sizeof(module) - 1), 48u << 20);
  if (BOOT(&r, "mbinfo", "--initrd", "@/initrd", "--mem", "48", "--cpus",
           "2", "--cmdline", cmdline)) {
    EXPECT_STATUS(&r, 0x21); /* MB_PASS */
    EXPECT_HAS(r.uart, "mbinfo: ok");
  }
  if (BOOT(&r, "mbsmp", "--cpus", "1", "--cmdline", "mbsmp")) {
    EXPECT_STATUS(&r, 3); /* exit value 1 + 0 APs */
    EXPECT_HAS(r.uart, "mbsmp: cpus=1 started=0");
  }
  if (BOOT(&r, "mbsmp", "--cpus", "3", "--cmdline", "mbsmp")) {
    EXPECT_STATUS(&r, 7); /* exit value 1 + 2 APs */
    EXPECT_HAS(r.uart, "mbsmp: cpus=3 started=2 mask=0x6 ok");
  }
  remove_dir(&r);
}

/* The same guest in each format vmm_boot() detects: bzImage (64-bit
 * entry), PVH and multiboot (32-bit), through every exit path that
 * depends on the CPU mode, with an initrd / module and 3 vCPUs. */
static void test_formats(void) {
  static const struct {
    const char *guest, *via, *mode;
  } formats[] = {
      {"launch-bz", "bzimage", "64-bit mode, CPL 0, paging"},
      {"launch-pvh", "pvh", "32-bit protected mode, CPL 0, no paging"},
      {"launch-mb", "multiboot", "32-bit protected mode, CPL 0, no paging"},
  };
  struct run r;
  if (!new_dir(&r))
    return;
  char path[128], want[128];
  snprintf(path, sizeof(path), "%s/initrd", r.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("formats-initrd", f);
    fclose(f);
  }
  for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
    const char *g = formats[i].guest;
    if (!test_guest_path(g)) {
      check_true(false, __LINE__, g, "--guest %s PATH not given", g);
      continue;
    }
    if (BOOT(&r, g, "--initrd", "@/initrd", "--cpus", "3", "--cmdline",
             "modules smp=3 boottime exit=3", "--timings")) {
      EXPECT_STATUS(&r, 7);
      snprintf(want, sizeof(want), "booted via %s", formats[i].via);
      EXPECT_HAS(r.uart, want);
      EXPECT_HAS(r.uart, "module 0: 14 bytes: formats-initrd");
      EXPECT_HAS(r.uart, "boot-guest: 3 CPUs up");
      EXPECT_TRUE(!strstr(r.err, "(boot-time port): not seen"));
    }
    /* The mode at a triple fault only where the backend keeps the
     * registers (KVM on AMD resets the vCPU first: docs/platforms.md). */
    if (BOOT(&r, g, "--cmdline", "triple")) {
      EXPECT_STATUS(&r, 8);
      if (!strstr(r.err, "the backend reset the vCPU"))
        EXPECT_HAS(r.err, formats[i].mode);
    }
    if (BOOT(&r, g, "--cpus", "2", "--cmdline", "internal")) {
      EXPECT_STATUS(&r, 10);
      EXPECT_HAS(r.err, "rip 0xf0000000");
      EXPECT_HAS(r.err, formats[i].mode);
      EXPECT_HAS(r.err, "vCPU 1: uninitialized"); /* never started */
    }
  }
  remove_dir(&r);
}

const struct test_def launcher_cli_tests[] = {
    {"usage", test_usage},
    {"bad_kernel", test_bad_kernel},
    {"guest_status", test_guest_status},
    {"reset_triple_internal", test_reset_triple_internal},
    {"signals", test_signals},
    {"timings", test_timings},
    {"initrd_memory_smp", test_initrd_memory_smp},
    {"devices", test_devices},
    {"cpu_template", test_cpu_template},
    {"poweroff", test_poweroff},
    {"multiboot", test_multiboot},
    {"formats", test_formats},
    {"console_stdio", test_console_stdio},
    {"multiboot_kernels", test_multiboot_kernels},
    {NULL, NULL},
};
