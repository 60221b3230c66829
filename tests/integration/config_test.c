/* tests/integration/config_test.c — JSON VM descriptions on a real
 * backend: parse a description of a test guest, build the VM, run it to
 * its exit status, and check that describe → parse → create → describe
 * round-trips; a VM built call by call described; creation failures that
 * leave nothing behind.
 *
 *   config_test --backend kvm --guest launch-pvh PATH --guest launch-mb PATH
 *               --guest launch-bz PATH --guest hello PATH
 *               --guest realmode PATH */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "runner.h"
#include "test_vm.h"

static char tmpdir[256];

static void make_tmpdir(void) {
  if (tmpdir[0])
    return;
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/libvmm-config-it-XXXXXX",
           base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir))
    tmpdir[0] = 0;
}

/* printf into a malloc'd string. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char *s = NULL;
  if (vasprintf(&s, f, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

static vmm_vm_t *create_from_text(const char *json) {
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = NULL;
  if (!EXPECT_OK(vmm_config_parse(json, strlen(json), &cfg)))
    return NULL;
  EXPECT_OK(vmm_vm_create_from_config(cfg, &vm));
  vmm_config_free(cfg); /* the VM does not need it any more */
  return vm;
}

/* Starts the VM and waits for it; the stop info. */
static bool run_to_stop(vmm_vm_t *vm, vmm_vm_stop_info_t *info) {
  memset(info, 0, sizeof(*info));
  info->size = sizeof(*info);
  if (!EXPECT_OK(vmm_vm_start(vm)))
    return false;
  if (!EXPECT_OK(vmm_vm_wait(vm, 30000, info))) {
    vmm_vm_stop(vm, 0);
    vmm_vm_wait(vm, -1, NULL);
    return false;
  }
  return true;
}

/* What the guest wrote into the buffer back-end of device `id`. */
static void read_console(vmm_vm_t *vm, const char *id, char *buf,
                         size_t len) {
  buf[0] = 0;
  vmm_device_t *dev = NULL;
  if (!EXPECT_OK(vmm_vm_find_device(vm, id, &dev)))
    return;
  vmm_chardev_t *chr = vmm_device_chardev(dev);
  if (!EXPECT_TRUE(chr != NULL))
    return;
  int n = vmm_chardev_buffer_read(chr, buf, len - 1);
  if (EXPECT_TRUE(n >= 0))
    buf[n] = 0;
}

/* describe(vm) → parse → create → describe gives the same text; returns
 * the rebuilt VM (or NULL). */
static vmm_vm_t *round_trip(vmm_vm_t *vm, char **first_out) {
  char *first = NULL, *second = NULL;
  *first_out = NULL;
  if (!EXPECT_OK(vmm_vm_describe_json(vm, &first)))
    return NULL;
  vmm_vm_t *again = create_from_text(first);
  if (again && EXPECT_OK(vmm_vm_describe_json(again, &second)))
    EXPECT_STR(second, first);
  free(second);
  *first_out = first;
  return again;
}

/* ---- boot formats, run to their exit status ---------------------------- */

static void boot_and_exit(const char *guest, const char *type, int code,
                          const char *banner) {
  const char *path = test_guest_path(guest);
  if (!path) {
    note("no --guest %s given", guest);
    return;
  }
  char *json = fmt(
      "{\"memory\": \"64M\", \"vcpus\": {\"count\": 1, \"template\": "
      "\"baseline\"},\n"
      " \"payload\": {\"type\": \"%s\", \"path\": \"%s\", \"cmdline\": "
      "\"exit=%d\"},\n"
      " \"devices\": [\n"
      "  {\"type\": \"uart\", \"id\": \"com1\", \"chardev\": {\"type\": "
      "\"buffer\", \"capacity\": \"64K\"}},\n"
      "  {\"type\": \"debug-exit\"}, {\"type\": \"i8042\"}, {\"type\": "
      "\"rtc\"},\n"
      "  {\"type\": \"fw-cfg\"}, {\"type\": \"boot-timer\"},\n"
      "  {\"type\": \"virtio-rng\"},\n"
      "  {\"type\": \"virtio-rng\", \"transport\": \"pci\"},\n"
      "  {\"type\": \"virtio-console\", \"transport\": \"pci\", \"chardev\": "
      "{\"type\": \"buffer\"}}]}",
      type, path, code);
  vmm_vm_t *vm = create_from_text(json);
  free(json);
  if (!vm)
    return;
  /* Created, not started. */
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_CREATED);
  char *desc = NULL;
  vmm_vm_t *again = round_trip(vm, &desc);
  vmm_vm_stop_info_t info;
  char out[4096];
  if (run_to_stop(vm, &info)) {
    EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
    EXPECT_EQ(info.status, (code << 1) | 1);
    read_console(vm, "com1", out, sizeof(out));
    EXPECT_TRUEF(strstr(out, banner) != NULL, "console: %s", out);
  }
  /* The rebuilt VM runs the same way. */
  if (again && run_to_stop(again, &info)) {
    EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
    EXPECT_EQ(info.status, (code << 1) | 1);
    read_console(again, "com1", out, sizeof(out));
    EXPECT_TRUEF(strstr(out, banner) != NULL, "console: %s", out);
  }
  if (desc) {
    EXPECT_TRUEF(strstr(desc, "\"template\":\t\"baseline\"") != NULL, "%s",
                 desc);
    EXPECT_TRUEF(strstr(desc, "\"cmdline\":\t\"exit=") != NULL, "%s", desc);
  }
  free(desc);
  EXPECT_OK(vmm_vm_destroy(again));
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_pvh(void) {
  boot_and_exit("launch-pvh", "pvh", 5, "booted via pvh");
}
static void test_multiboot(void) {
  boot_and_exit("launch-mb", "multiboot", 3, "booted via multiboot");
}
static void test_bzimage(void) {
  boot_and_exit("launch-bz", "kernel", 9, "booted via bzimage");
}

/* fw-cfg files from the description reach the guest: the multiboot test
 * kernel "mbinfo" checks a file's FNV-1a (tests/guests/multiboot/info.c)
 * and exits with 0x10 (status 0x21) when it matches. */
static void test_fw_cfg_file(void) {
  const char *guest = test_guest_path("mbinfo");
  if (!guest) {
    note("no --guest mbinfo given");
    return;
  }
  make_tmpdir();
  char path[512];
  snprintf(path, sizeof(path), "%s/fw-file.bin", tmpdir);
  uint8_t data[3000];
  uint32_t h = 0x811c9dc5u, x = 7;
  for (size_t i = 0; i < sizeof(data); i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (uint8_t)(x >> 16);
    h = (h ^ data[i]) * 0x01000193u;
  }
  FILE *f = fopen(path, "wb");
  if (!EXPECT_TRUE(f && fwrite(data, 1, sizeof(data), f) == sizeof(data))) {
    if (f)
      fclose(f);
    return;
  }
  fclose(f);
  char *json = fmt(
      "{\"memory\": \"32M\", \"payload\": {\"type\": \"multiboot\", "
      "\"path\": \"%s\", \"cmdline\": \"mbinfo fwfile=opt/org.libvmm/test "
      "fwsum=0x%x\"},"
      " \"devices\": [{\"type\": \"uart\", \"id\": \"com1\", \"chardev\": "
      "{\"type\": \"buffer\"}}, {\"type\": \"debug-exit\"},"
      " {\"type\": \"fw-cfg\", \"files\": [{\"name\": "
      "\"opt/org.libvmm/test\", \"path\": \"%s\"}]}]}", guest, h, path);
  vmm_vm_t *vm = create_from_text(json);
  free(json);
  char *desc = NULL;
  vmm_vm_t *again = vm ? round_trip(vm, &desc) : NULL;
  if (desc)
    EXPECT_TRUEF(strstr(desc, "\"name\":\t\"opt/org.libvmm/test\"") != NULL,
                 "%s", desc);
  free(desc);
  vmm_vm_t *vms[2] = {vm, again};
  for (int i = 0; i < 2; i++) {
    vmm_vm_stop_info_t info;
    char out[4096];
    if (vms[i] && run_to_stop(vms[i], &info)) {
      read_console(vms[i], "com1", out, sizeof(out));
      EXPECT_TRUEF(info.reason == VMM_STOP_GUEST_EXIT && info.status == 0x21,
                   "reason %u status 0x%x; console: %s", info.reason,
                   info.status, out);
    }
  }
  EXPECT_OK(vmm_vm_destroy(again));
  EXPECT_OK(vmm_vm_destroy(vm));
  unlink(path);
}

/* ---- ELF and flat payloads: the registers set up by mode --------------- */

static void run_to_halt(const char *json) {
  vmm_vm_t *vm = create_from_text(json);
  if (!vm)
    return;
  char *desc = NULL;
  vmm_vm_t *again = round_trip(vm, &desc);
  free(desc);
  vmm_vm_stop_info_t info;
  if (run_to_stop(vm, &info))
    EXPECT_TRUEF(info.reason == VMM_STOP_HALT, "reason %u: %s", info.reason,
                 info.message);
  if (again && run_to_stop(again, &info))
    EXPECT_TRUEF(info.reason == VMM_STOP_HALT, "reason %u: %s", info.reason,
                 info.message);
  EXPECT_OK(vmm_vm_destroy(again));
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_elf_long_mode(void) {
  const char *path = test_guest_path("hello");
  if (!path) {
    note("no --guest hello given");
    return;
  }
  /* hello prints on port 0xE9 (nothing there) and halts; without an
   * interrupt controller HLT stops the VM. */
  char *json = fmt("{\"irqchip\": false, \"memory\": [{\"size\": \"4M\"}],"
                   " \"payload\": {\"type\": \"elf\", \"path\": \"%s\","
                   " \"stack\": \"0x80000\", \"setup_gpa\": \"0x1000\"}}",
                   path);
  run_to_halt(json);
  free(json);
}

static void test_flat_real_mode(void) {
  const char *path = test_guest_path("realmode");
  if (!path) {
    note("no --guest realmode given");
    return;
  }
  char *json = fmt("{\"irqchip\": false, \"memory\": \"1M\","
                   " \"payload\": {\"type\": \"flat\", \"path\": \"%s\","
                   " \"gpa\": \"0x7c00\", \"mode\": \"real\"}}", path);
  run_to_halt(json);
  free(json);
}

/* ---- a VM built call by call ------------------------------------------ */

static void test_describe_hand_built(void) {
  make_tmpdir();
  char img[512];
  snprintf(img, sizeof(img), "%s/disk.img", tmpdir);
  int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!EXPECT_TRUE(fd >= 0 && ftruncate(fd, 1 << 20) == 0))
    return;
  close(fd);

  vmm_vm_config_t vc = VMM_VM_CONFIG_INIT;
  vc.backend = test_backend;
  vc.flags = VMM_VM_F_IRQCHIP;
  vmm_vm_t *vm = NULL;
  if (!EXPECT_OK(vmm_vm_create(&vc, &vm)))
    return;
  vmm_chardev_t *chr = NULL;
  vmm_vcpu_t *v0, *v1;
  vmm_device_t *uart = NULL, *blk = NULL, *rng = NULL;
  vmm_uart_config_t u = VMM_UART_CONFIG_INIT;
  vmm_virtio_config_t pci = VMM_VIRTIO_CONFIG_INIT;
  pci.transport = VMM_VIRTIO_PCI;
  vmm_virtio_blk_config_t b = VMM_VIRTIO_BLK_CONFIG_INIT;
  b.path = img;
  b.flags = VMM_BLK_F_READONLY;
  if (!EXPECT_OK(vmm_mem_map(vm, 0, 8u << 20, NULL, 0, NULL)) ||
      !EXPECT_OK(vmm_mem_map(vm, 0x10000000, 1u << 20, NULL,
                             VMM_MEM_READONLY, NULL)) ||
      !EXPECT_OK(vmm_vcpu_create(vm, 0, &v0)) ||
      !EXPECT_OK(vmm_vcpu_create(vm, 1, &v1)) ||
      !EXPECT_OK(vmm_vcpu_set_assist(v0, VMM_ASSIST_ALL)) ||
      !EXPECT_OK(vmm_vcpu_set_assist(v1, VMM_ASSIST_ALL)) ||
      !EXPECT_OK(vmm_vm_set_cpu_template(vm, "host,-xsave")) ||
      !EXPECT_OK(vmm_chardev_buffer(vm, 8192, &chr)) ||
      (u.chardev = chr, !EXPECT_OK(vmm_uart_create(vm, &u, &uart))) ||
      !EXPECT_OK(vmm_virtio_rng_create(vm, NULL, &rng)) ||
      !EXPECT_OK(vmm_virtio_blk_create(vm, &pci, &b, &blk)) ||
      !EXPECT_OK(vmm_device_set_id(blk, "root-disk")))
    goto out;
  /* Ids: set, unique, found. */
  EXPECT_STR(vmm_device_id(blk), "root-disk");
  EXPECT_TRUE(vmm_device_id(uart) == NULL);
  EXPECT_RC(vmm_device_set_id(uart, "root-disk"), VMM_EEXIST);
  EXPECT_RC(vmm_device_set_id(uart, "bad id"), VMM_EINVAL);
  vmm_device_t *found = NULL;
  EXPECT_OK(vmm_vm_find_device(vm, "root-disk", &found));
  EXPECT_TRUE(found == blk);
  EXPECT_RC(vmm_vm_find_device(vm, "nope", &found), VMM_ENOENT);
  EXPECT_TRUE(vmm_device_chardev(uart) == chr);
  EXPECT_TRUE(vmm_device_chardev(rng) == NULL);

  char *desc = NULL;
  vmm_vm_t *again = round_trip(vm, &desc);
  if (desc) {
    static const char *const want[] = {
        "\"backend\":\t\"kvm\"", "\"irqchip\":\ttrue", "\"size\":\t\"8M\"",
        "\"gpa\":\t\"0x10000000\"", "\"readonly\":\ttrue",
        "\"count\":\t2", "\"template\":\t\"host\"", "\"-xsave\"",
        "\"type\":\t\"uart\"", "\"id\":\t\"uart0\"", "\"capacity\":\t\"8K\"",
        "\"type\":\t\"virtio-rng\"", "\"mmio_base\":\t\"0xd0000000\"",
        "\"id\":\t\"root-disk\"", "\"transport\":\t\"pci\"",
        "\"serial\":\t\"disk.img\"",
        "\"assist\":\t[\"int3\", \"ud\", \"soft_int\", \"hidden_ud\", \"emulate\"]",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
      EXPECT_TRUEF(strstr(desc, want[i]) != NULL, "%s not in %s", want[i],
                   desc);
    EXPECT_TRUEF(strstr(desc, "\"payload\"") == NULL, "%s", desc);
  }
  free(desc);
  EXPECT_OK(vmm_vm_destroy(again));
out:
  EXPECT_OK(vmm_vm_destroy(vm));
  unlink(img);
}

/* A VM that booted a kernel from a file with vmm_boot() is described with
 * that payload, and the description builds a VM that boots the same. */
static void test_describe_hand_built_boot(void) {
  const char *guest = test_guest_path("launch-mb");
  if (!guest) {
    note("no --guest launch-mb given");
    return;
  }
  vmm_vm_config_t vc = VMM_VM_CONFIG_INIT;
  vc.backend = test_backend;
  vc.flags = VMM_VM_F_IRQCHIP;
  vmm_vm_t *vm = NULL, *again = NULL;
  vmm_vcpu_t *vcpu;
  vmm_boot_config_t boot = VMM_BOOT_CONFIG_INIT;
  boot.kernel_path = guest;
  boot.cmdline = "exit=6";
  boot.flags = VMM_BOOT_F_NO_MPTABLE;
  char *desc = NULL;
  if (!EXPECT_OK(vmm_vm_create(&vc, &vm)) ||
      !EXPECT_OK(vmm_mem_map(vm, 0, 16u << 20, NULL, 0, NULL)) ||
      !EXPECT_OK(vmm_vcpu_create(vm, 0, &vcpu)) ||
      !EXPECT_OK(vmm_debug_exit_create(vm, 0, NULL)) ||
      !EXPECT_OK(vmm_boot(vm, &boot, NULL)) ||
      !EXPECT_OK(vmm_vm_describe_json(vm, &desc)))
    goto out;
  static const char *const want[] = {
      "\"type\":\t\"kernel\"", "\"format\":\t\"auto\"",
      "\"cmdline\":\t\"exit=6\"", "\"mptable\":\tfalse", "launch-mb.elf"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    EXPECT_TRUEF(strstr(desc, want[i]) != NULL, "%s not in %s", want[i],
                 desc);
  again = create_from_text(desc);
  vmm_vm_stop_info_t info;
  if (again && run_to_stop(again, &info)) {
    EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
    EXPECT_EQ(info.status, 13);
  }
out:
  free(desc);
  EXPECT_OK(vmm_vm_destroy(again));
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* ---- the control socket ----------------------------------------------- */

/* One request line on the control socket; the response line (static). */
static const char *control_request(const char *path, const char *req) {
  static char resp[65536];
  resp[0] = 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (!EXPECT_TRUE(fd >= 0) ||
      !EXPECT_TRUE(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) ||
      !EXPECT_TRUE(write(fd, req, strlen(req)) == (ssize_t)strlen(req))) {
    if (fd >= 0)
      close(fd);
    return resp;
  }
  size_t got = 0;
  while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
    ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
    if (r <= 0)
      break;
    got += (size_t)r;
    resp[got] = 0;
  }
  close(fd);
  return resp;
}

static void test_control_socket(void) {
  const char *guest = test_guest_path("launch-pvh");
  if (!guest) {
    note("no --guest launch-pvh given");
    return;
  }
  make_tmpdir();
  char sock[512];
  snprintf(sock, sizeof(sock), "%s/control.sock", tmpdir);
  char *json = fmt("{\"memory\": \"16M\", \"payload\": {\"type\": \"pvh\","
                   " \"path\": \"%s\", \"cmdline\": \"hang\"},"
                   " \"devices\": [{\"type\": \"debug-exit\"}],"
                   " \"control\": {\"path\": \"%s\"}}", guest, sock);
  vmm_vm_t *vm = create_from_text(json);
  free(json);
  if (!vm)
    return;
  struct stat st;
  EXPECT_TRUE(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) &&
              (st.st_mode & 0777) == 0600);
  char *desc = NULL;
  if (EXPECT_OK(vmm_vm_describe_json(vm, &desc)))
    EXPECT_TRUEF(strstr(desc, "\"control\":") && strstr(desc, sock), "%s",
                 desc);
  free(desc);
  if (EXPECT_OK(vmm_vm_start(vm))) {
    const char *r = control_request(sock, "{\"id\":1,\"cmd\":\"describe\"}\n");
    EXPECT_TRUEF(strstr(r, "\"ok\":true") && strstr(r, "debug-exit0"),
                 "response: %s", r);
    r = control_request(sock, "{\"id\":2,\"cmd\":\"stop\",\"status\":3}\n");
    EXPECT_TRUEF(strstr(r, "\"ok\":true") != NULL, "response: %s", r);
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    if (EXPECT_OK(vmm_vm_wait(vm, 30000, &info)))
      EXPECT_EQ(info.status, 3);
  }
  EXPECT_OK(vmm_vm_destroy(vm));
  EXPECT_TRUE(lstat(sock, &st) < 0); /* removed with the VM */
}

/* ---- failures ------------------------------------------------------------ */

static void test_create_failure_leaves_nothing(void) {
  make_tmpdir();
  /* Parses (a unix socket is there), but a stream socket, which
   * virtio-net cannot connect to (it needs SEQPACKET or DGRAM). */
  char path[512];
  snprintf(path, sizeof(path), "%s/stream.sock", tmpdir);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) < sizeof(sa.sun_path))
    memcpy(sa.sun_path, path, strlen(path) + 1);
  if (!EXPECT_TRUE(fd >= 0 &&
                   bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                   listen(fd, 1) == 0)) {
    if (fd >= 0)
      close(fd);
    return;
  }
  char sock[512];
  snprintf(sock, sizeof(sock), "%s/console.sock", tmpdir);
  char *json = fmt("{\"memory\": \"16M\", \"devices\": ["
                   "{\"type\": \"uart\", \"chardev\": {\"type\": \"socket\", "
                   "\"path\": \"%s\"}},"
                   "{\"type\": \"virtio-net\", \"id\": \"net\", \"backend\": "
                   "\"socket\", \"path\": \"%s\"}]}", sock, path);
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = (vmm_vm_t *)1;
  if (EXPECT_OK(vmm_config_parse(json, strlen(json), &cfg))) {
    EXPECT_FAIL(vmm_vm_create_from_config(cfg, &vm));
    EXPECT_TRUE(vm == NULL);
    EXPECT_TRUEF(strstr(vmm_last_error(), "vmm_vm_create_from_config: "
                        "devices[1] (virtio-net \"net\"): ") != NULL, "%s",
                 vmm_last_error());
    /* The console socket the first device made is gone again. */
    struct stat st;
    EXPECT_TRUE(lstat(sock, &st) < 0);
    /* And the description still builds once the cause is fixed. */
    EXPECT_RC(vmm_vm_create_from_config(NULL, &vm), VMM_EINVAL);
  }
  vmm_config_free(cfg);
  free(json);
  close(fd);
  unlink(path);
}

/* A payload that does not load fails with the part named. */
static void test_bad_payload(void) {
  make_tmpdir();
  char path[512];
  snprintf(path, sizeof(path), "%s/garbage.elf", tmpdir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    if (write(fd, "\177ELF garbage", 12) != 12)
      note("short write");
    close(fd);
  }
  char *json = fmt("{\"memory\": \"4M\", \"payload\": {\"type\": \"elf\","
                   " \"path\": \"%s\"}}", path);
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = NULL;
  if (EXPECT_OK(vmm_config_parse(json, strlen(json), &cfg))) {
    EXPECT_RC(vmm_vm_create_from_config(cfg, &vm), VMM_ENOEXEC);
    EXPECT_TRUEF(strstr(vmm_last_error(), "vmm_vm_create_from_config: "
                        "payload: ") != NULL, "%s", vmm_last_error());
  }
  vmm_config_free(cfg);
  free(json);
  unlink(path);
}

static const struct test_def tests[] = {
    {"pvh", test_pvh},
    {"multiboot", test_multiboot},
    {"bzimage", test_bzimage},
    {"fw_cfg_file", test_fw_cfg_file},
    {"elf_long_mode", test_elf_long_mode},
    {"flat_real_mode", test_flat_real_mode},
    {"describe_hand_built", test_describe_hand_built},
    {"describe_hand_built_boot", test_describe_hand_built_boot},
    {"control_socket", test_control_socket},
    {"create_failure_leaves_nothing", test_create_failure_leaves_nothing},
    {"bad_payload", test_bad_payload},
};

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {
      {"config", tests, sizeof(tests) / sizeof(tests[0])},
  };
  int rc = test_main(argc, argv, "config_test",
                     "[--guest launch-pvh|launch-mb|launch-bz|hello|realmode "
                     "PATH]... ", suites, 1, 120);
  if (tmpdir[0])
    rmdir(tmpdir);
  return rc;
}
