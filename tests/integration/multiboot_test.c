/* tests/integration/multiboot_test.c — multiboot v1 kernels booted with
 * vmm_boot() and run on libvmm's threads: the checking kernel
 * (tests/guests/multiboot/info.c, as ELF32 and as an a.out-kludge flat
 * binary) with modules, command lines and fw_cfg items, and the SMP kernel
 * (smp.c) starting its APs with INIT/SIPI on 1 and 3 vCPUs.
 *
 *   multiboot_test --backend kvm --guest mbinfo PATH --guest mbinfo-aout PATH
 *                  --guest mbsmp PATH [--test NAME]... [--list]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mb_layout.h"
#include "runner.h"
#include "test_vm.h"

#define RAM_SIZE (32u << 20)
#define WAIT_MS 60000
#define MODULE_LEN 20000u

struct mb_run {
  const char *guest;
  uint32_t cpus;
  const char *cmdline;
  const void *module;
  size_t module_len;
  const char *fw_file; /* added to fw_cfg with fw_data */
  const void *fw_data;
  size_t fw_len;
};

struct mb_vm {
  vmm_vm_t *vm;
  vmm_chardev_t *uart;
  vmm_device_t *fw_cfg;
  vmm_boot_info_t boot;
};

static uint32_t fnv1a(const void *p, size_t len) {
  const uint8_t *b = p;
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < len; i++) {
    h ^= b[i];
    h *= 0x01000193u;
  }
  return h;
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed) {
  for (size_t i = 0; i < len; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    buf[i] = (uint8_t)seed;
  }
}

/* A VM with RAM, `cpus` vCPUs, the UART on a buffer, debug-exit and
 * fw_cfg, booted with vmm_boot(): true when all of it worked. */
static bool mb_setup(struct mb_vm *m, const struct mb_run *r) {
  memset(m, 0, sizeof(*m));
  const char *path = test_guest_path(r->guest);
  if (!EXPECT_TRUEF(path != NULL, "no --guest %s given", r->guest))
    return false;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.flags = VMM_VM_F_IRQCHIP; /* the SMP kernel's local APICs */
  if (!EXPECT_OK(vmm_vm_create(&cfg, &m->vm)) ||
      !EXPECT_OK(vmm_mem_map(m->vm, 0, RAM_SIZE, NULL, 0, NULL)))
    return false;
  for (uint32_t i = 0; i < r->cpus; i++) {
    vmm_vcpu_t *vcpu;
    if (!EXPECT_OK(vmm_vcpu_create(m->vm, i, &vcpu)))
      return false;
  }
  vmm_uart_config_t ucfg = VMM_UART_CONFIG_INIT;
  if (!EXPECT_OK(vmm_chardev_buffer(m->vm, 4096, &m->uart)))
    return false;
  ucfg.chardev = m->uart;
  vmm_fw_cfg_config_t fcfg = VMM_FW_CFG_CONFIG_INIT;
  fcfg.cmdline = r->cmdline;
  if (!EXPECT_OK(vmm_uart_create(m->vm, &ucfg, NULL)) ||
      !EXPECT_OK(vmm_debug_exit_create(m->vm, MB_EXIT_PORT, NULL)) ||
      !EXPECT_OK(vmm_fw_cfg_create(m->vm, &fcfg, &m->fw_cfg)))
    return false;
  if (r->fw_file &&
      !EXPECT_OK(vmm_fw_cfg_add_file(m->fw_cfg, r->fw_file, r->fw_data,
                                     r->fw_len)))
    return false;
  vmm_boot_config_t bcfg = VMM_BOOT_CONFIG_INIT;
  bcfg.kernel_path = path;
  bcfg.cmdline = r->cmdline;
  bcfg.initrd = r->module;
  bcfg.initrd_len = r->module_len;
  m->boot.size = sizeof(m->boot);
  return EXPECT_OK(vmm_boot(m->vm, &bcfg, &m->boot)) &&
         EXPECT_EQ(m->boot.format, VMM_KERNEL_MULTIBOOT);
}

/* Everything the guest wrote to the UART so far, NUL-terminated. */
static void uart_text(struct mb_vm *m, char *out, size_t cap) {
  size_t n = 0;
  int got;
  while (n + 1 < cap &&
         (got = vmm_chardev_buffer_read(m->uart, out + n, cap - 1 - n)) > 0)
    n += (size_t)got;
  out[n] = '\0';
}

/* Boots, runs to the guest's exit and checks its status and UART line. */
static void mb_expect(const struct mb_run *r, int32_t status,
                      const char *line) {
  struct mb_vm m;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  char out[1024] = "";
  if (mb_setup(&m, r) && EXPECT_OK(vmm_vm_start(m.vm)) &&
      EXPECT_RC(vmm_fw_cfg_add_file(m.fw_cfg, "opt/late", "x", 1),
                VMM_ESTATE) &&
      EXPECT_OK(vmm_vm_wait(m.vm, WAIT_MS, &info))) {
    uart_text(&m, out, sizeof(out));
    note("%s on %u vCPU(s): %s", r->guest, r->cpus, out);
    EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
    EXPECT_TRUEF(info.status == status, "status 0x%x, want 0x%x (%s)",
                 (unsigned)info.status, (unsigned)status, info.message);
    EXPECT_TRUEF(strstr(out, line) != NULL, "UART: \"%s\" lacks \"%s\"", out,
                 line);
  }
  vmm_vm_destroy(m.vm);
}

#define STATUS(v) ((int32_t)(((v) << 1) | 1))
#define CMD_RAM "ram=0x2000000"

/* ---- the checking kernel --------------------------------------------------- */

static void test_info_elf(void) {
  struct mb_run r = {"mbinfo", 1, "mbinfo mods=0 cpus=1 " CMD_RAM, NULL, 0,
                     NULL, NULL, 0};
  mb_expect(&r, STATUS(MB_PASS), "mbinfo: ok");
}

static void module_cmdline(char *buf, size_t cap, const uint8_t *mod,
                           size_t len, const char *extra) {
  snprintf(buf, cap, "mbinfo mods=1 modlen=%zu modsum=0x%x cpus=1 " CMD_RAM
           "%s", len, fnv1a(mod, len), extra);
}

static void test_info_module(void) {
  static uint8_t mod[MODULE_LEN];
  char cmd[256];
  fill_random(mod, sizeof(mod), 0x1234567);
  module_cmdline(cmd, sizeof(cmd), mod, sizeof(mod), "");
  struct mb_run r = {"mbinfo", 1, cmd, mod, sizeof(mod), NULL, NULL, 0};
  mb_expect(&r, STATUS(MB_PASS), "mods=1");
}

/* A wrong expectation must fail the kernel's check: the test can fail. */
static void test_info_module_wrong_sum(void) {
  static uint8_t mod[4096];
  char cmd[256];
  fill_random(mod, sizeof(mod), 99);
  snprintf(cmd, sizeof(cmd), "mbinfo mods=1 modsum=0x%x",
           fnv1a(mod, sizeof(mod)) ^ 1);
  struct mb_run r = {"mbinfo", 1, cmd, mod, sizeof(mod), NULL, NULL, 0};
  mb_expect(&r, STATUS(MB_FAIL + 38), "FAIL 38");
}

static void test_info_aout(void) {
  static uint8_t mod[MODULE_LEN];
  char cmd[256];
  fill_random(mod, sizeof(mod), 42);
  module_cmdline(cmd, sizeof(cmd), mod, sizeof(mod), " aout");
  struct mb_run r = {"mbinfo-aout", 1, cmd, mod, sizeof(mod), NULL, NULL, 0};
  mb_expect(&r, STATUS(MB_PASS), "aout");
}

static void test_info_fw_file(void) {
  static uint8_t data[3000];
  char cmd[256];
  fill_random(data, sizeof(data), 7);
  snprintf(cmd, sizeof(cmd), "mbinfo fwfile=opt/org.libvmm/test fwsum=0x%x",
           fnv1a(data, sizeof(data)));
  struct mb_run r = {"mbinfo", 1, cmd, NULL, 0, "opt/org.libvmm/test", data,
                     sizeof(data)};
  mb_expect(&r, STATUS(MB_PASS), "mbinfo: ok");
}

/* Three vCPUs, two of them never started: fw_cfg counts all three and
 * the VM still stops when the BSP exits. */
static void test_info_3cpus(void) {
  struct mb_run r = {"mbinfo", 3, "mbinfo cpus=3 " CMD_RAM, NULL, 0, NULL,
                     NULL, 0};
  mb_expect(&r, STATUS(MB_PASS), "mbinfo: ok");
}

static void test_info_boot_info(void) {
  static uint8_t mod[5000];
  struct mb_vm m;
  struct mb_run r = {"mbinfo", 1, "x", mod, sizeof(mod), NULL, NULL, 0};
  if (mb_setup(&m, &r)) {
    EXPECT_EQ(m.boot.params, 0x7000);
    EXPECT_EQ(m.boot.cmdline, 0x20000);
    EXPECT_EQ(m.boot.kernel_start, 0x100000);
    EXPECT_TRUE(m.boot.kernel_end > m.boot.kernel_start);
    EXPECT_EQ(m.boot.initrd_start & 0xfff, 0);
    EXPECT_TRUE(m.boot.initrd_start >= m.boot.kernel_end);
    EXPECT_EQ(m.boot.initrd_end - m.boot.initrd_start, sizeof(mod));
    EXPECT_TRUE(m.boot.e820_entries >= 2);
    char cmd[2] = "";
    EXPECT_OK(vmm_mem_read(m.vm, m.boot.cmdline, cmd, 2));
    EXPECT_STR(cmd, "x");
  }
  vmm_vm_destroy(m.vm);
}

/* A module larger than the RAM after the kernel: VMM_ENOSPC, clearly. */
static void test_module_too_big(void) {
  size_t len = RAM_SIZE;
  uint8_t *mod = calloc(1, len);
  vmm_vcpu_t *vcpu;
  struct mb_vm m;
  memset(&m, 0, sizeof(m));
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  if (mod && EXPECT_OK(vmm_vm_create(&cfg, &m.vm)) &&
      EXPECT_OK(vmm_mem_map(m.vm, 0, RAM_SIZE, NULL, 0, NULL)) &&
      EXPECT_OK(vmm_vcpu_create(m.vm, 0, &vcpu))) {
    vmm_boot_config_t bcfg = VMM_BOOT_CONFIG_INIT;
    bcfg.kernel_path = test_guest_path("mbinfo");
    bcfg.initrd = mod;
    bcfg.initrd_len = len;
    EXPECT_RC(vmm_boot(m.vm, &bcfg, NULL), VMM_ENOSPC);
    EXPECT_TRUEF(strstr(vmm_last_error(), "module") != NULL, "message: %s",
                 vmm_last_error());
  }
  vmm_vm_destroy(m.vm);
  free(mod);
}

/* ---- the SMP kernel ---------------------------------------------------------- */

static void test_smp_1(void) {
  struct mb_run r = {"mbsmp", 1, "mbsmp", NULL, 0, NULL, NULL, 0};
  mb_expect(&r, STATUS(1), "cpus=1 started=0 mask=0x0 ok");
}

static void test_smp_3(void) {
  struct mb_run r = {"mbsmp", 3, "mbsmp", NULL, 0, NULL, NULL, 0};
  mb_expect(&r, STATUS(3), "cpus=3 started=2 mask=0x6 ok");
}

/* The APs are never sent SIPI: the BSP alone exits, and the stop does not
 * wait on vCPUs still waiting for INIT/SIPI inside the backend. */
static void test_smp_3_no_sipi(void) {
  struct mb_run r = {"mbsmp", 3, "mbsmp sipi=0", NULL, 0, NULL, NULL, 0};
  mb_expect(&r, STATUS(1), "cpus=3 started=0 mask=0x0 ok");
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A spinning BSP with the APs halted for good (started) or still waiting
 * for INIT/SIPI inside the backend (sipi=0): pause, resume and stop all
 * return promptly. */
static void smp_pause_stop(const char *cmdline, const char *line) {
  struct mb_run r = {"mbsmp", 3, cmdline, NULL, 0, NULL, NULL, 0};
  struct mb_vm m;
  char out[1024] = "";
  if (mb_setup(&m, &r) && EXPECT_OK(vmm_vm_start(m.vm))) {
    uint64_t t0 = now_ms();
    size_t n = 0;
    while (!strstr(out, "\n") && now_ms() - t0 < WAIT_MS) {
      int got = vmm_chardev_buffer_read(m.uart, out + n, sizeof(out) - 1 - n);
      if (got > 0)
        n += (size_t)got;
      out[n] = '\0';
      usleep(10000);
    }
    note("mbsmp spin: %s", out);
    EXPECT_TRUEF(strstr(out, line) != NULL, "UART: %s", out);
    t0 = now_ms();
    EXPECT_OK(vmm_vm_pause(m.vm));
    EXPECT_EQ(vmm_vm_state(m.vm), VMM_VM_PAUSED);
    EXPECT_OK(vmm_vm_resume(m.vm));
    EXPECT_OK(vmm_vm_stop(m.vm, 5));
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    EXPECT_OK(vmm_vm_wait(m.vm, 10000, &info));
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_TRUEF(now_ms() - t0 < 5000, "pause/resume/stop took %llu ms",
                 (unsigned long long)(now_ms() - t0));
  }
  vmm_vm_destroy(m.vm);
}

static void test_smp_3_pause_stop(void) {
  smp_pause_stop("mbsmp spin=1", "started=2 mask=0x6 ok");
}

static void test_smp_3_no_sipi_pause_stop(void) {
  smp_pause_stop("mbsmp sipi=0 spin=1", "started=0 mask=0x0 ok");
}

static void test_detect(void) {
  static const char *const names[] = {"mbinfo", "mbinfo-aout", "mbsmp"};
  for (size_t i = 0; i < 3; i++) {
    const char *path = test_guest_path(names[i]);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!EXPECT_TRUEF(f != NULL, "cannot open guest %s", names[i]))
      continue;
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    EXPECT_EQ(vmm_kernel_detect(buf, len), VMM_KERNEL_MULTIBOOT);
    EXPECT_STR(vmm_kernel_format_name(VMM_KERNEL_MULTIBOOT), "multiboot");
  }
}

/* The fw_cfg API's refusals. */
static void test_fw_cfg_api(void) {
  vmm_vm_t *vm = NULL;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  vmm_device_t *fw = NULL, *dbg = NULL;
  vmm_vcpu_t *vcpu;
  if (EXPECT_OK(vmm_vm_create(&cfg, &vm)) &&
      EXPECT_OK(vmm_vcpu_create(vm, 0, &vcpu))) {
    vmm_fw_cfg_config_t fc = VMM_FW_CFG_CONFIG_INIT;
    fc.size = 8;
    EXPECT_RC(vmm_fw_cfg_create(vm, &fc, &fw), VMM_EINVAL);
    fc = (vmm_fw_cfg_config_t)VMM_FW_CFG_CONFIG_INIT;
    fc.reserved32 = 1;
    EXPECT_RC(vmm_fw_cfg_create(vm, &fc, &fw), VMM_EINVAL);
    fc = (vmm_fw_cfg_config_t)VMM_FW_CFG_CONFIG_INIT;
    fc.kernel_len = 10;
    EXPECT_RC(vmm_fw_cfg_create(vm, &fc, &fw), VMM_EINVAL);
    EXPECT_OK(vmm_fw_cfg_create(vm, NULL, &fw));
    EXPECT_STR(vmm_device_type(fw), "fw-cfg");
    /* The ports are taken now. */
    EXPECT_RC(vmm_fw_cfg_create(vm, NULL, NULL), VMM_EOVERLAP);
    EXPECT_OK(vmm_fw_cfg_add_file(fw, "opt/a", "x", 1));
    EXPECT_RC(vmm_fw_cfg_add_file(fw, "opt/a", "y", 1), VMM_EEXIST);
    EXPECT_OK(vmm_fw_cfg_add_file(fw, "opt/empty", NULL, 0));
    EXPECT_RC(vmm_fw_cfg_add_file(fw, "", "x", 1), VMM_EINVAL);
    EXPECT_RC(vmm_fw_cfg_add_file(fw, NULL, "x", 1), VMM_EINVAL);
    EXPECT_RC(vmm_fw_cfg_add_file(fw, "opt/n", NULL, 3), VMM_EINVAL);
    char name[57];
    memset(name, 'n', 56);
    name[56] = '\0';
    EXPECT_RC(vmm_fw_cfg_add_file(fw, name, "x", 1), VMM_EINVAL);
    name[55] = '\0';
    EXPECT_OK(vmm_fw_cfg_add_file(fw, name, "x", 1));
    EXPECT_OK(vmm_debug_exit_create(vm, 0, &dbg));
    EXPECT_RC(vmm_fw_cfg_add_file(dbg, "opt/b", "x", 1), VMM_EINVAL);
    EXPECT_RC(vmm_fw_cfg_add_file(NULL, "opt/b", "x", 1), VMM_EBADF);
  }
  vmm_vm_destroy(vm);
}

static const struct test_def tests[] = {
    {"fw_cfg_api", test_fw_cfg_api},
    {"detect", test_detect},
    {"info_elf", test_info_elf},
    {"info_module", test_info_module},
    {"info_module_wrong_sum", test_info_module_wrong_sum},
    {"info_aout", test_info_aout},
    {"info_fw_file", test_info_fw_file},
    {"info_3cpus", test_info_3cpus},
    {"info_boot_info", test_info_boot_info},
    {"module_too_big", test_module_too_big},
    {"smp_1", test_smp_1},
    {"smp_3", test_smp_3},
    {"smp_3_no_sipi", test_smp_3_no_sipi},
    {"smp_3_pause_stop", test_smp_3_pause_stop},
    {"smp_3_no_sipi_pause_stop", test_smp_3_no_sipi_pause_stop},
};

int main(int argc, char **argv) {
  static const struct test_suite suite = {
      "multiboot", tests, sizeof(tests) / sizeof(tests[0])};
  return test_main(argc, argv, "multiboot_test",
                   "--guest mbinfo PATH --guest mbinfo-aout PATH "
                   "--guest mbsmp PATH ", &suite, 1, 120);
}
