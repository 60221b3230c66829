/* tests/integration/tables_test.c — the platform tables vmm_boot() writes,
 * read by a guest the way kernels read them (tests/guests/multiboot/
 * tables.c: RSDP scan, XSDT → MADT/FADT/DSDT, MP table scan, PCI INTx
 * against the MP table), and the ACPI power-off path (S5 through the PM1a
 * control register stops the VM with status 0).
 *
 *   tables_test --backend kvm --guest mbtables PATH [--test NAME]... [--list]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mb_layout.h"
#include "runner.h"
#include "test_vm.h"

#define RAM_SIZE (32u << 20)
#define WAIT_MS 60000
#define STATUS(v) ((int32_t)(((v) << 1) | 1))

struct run {
  uint32_t cpus;
  uint32_t pci;  /* virtio-rng devices on PCI */
  uint32_t mmio; /* virtio-rng devices on virtio-mmio */
  uint32_t flags; /* VMM_BOOT_F_* */
  const char *cmdline;
};

struct tvm {
  vmm_vm_t *vm;
  vmm_chardev_t *uart;
  vmm_boot_info_t boot;
};

static bool setup(struct tvm *t, const struct run *r) {
  memset(t, 0, sizeof(*t));
  const char *path = test_guest_path("mbtables");
  if (!EXPECT_TRUEF(path != NULL, "no --guest mbtables given"))
    return false;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.flags = VMM_VM_F_IRQCHIP;
  if (!EXPECT_OK(vmm_vm_create(&cfg, &t->vm)) ||
      !EXPECT_OK(vmm_mem_map(t->vm, 0, RAM_SIZE, NULL, 0, NULL)))
    return false;
  for (uint32_t i = 0; i < r->cpus; i++) {
    vmm_vcpu_t *vcpu;
    if (!EXPECT_OK(vmm_vcpu_create(t->vm, i, &vcpu)))
      return false;
  }
  vmm_uart_config_t ucfg = VMM_UART_CONFIG_INIT;
  if (!EXPECT_OK(vmm_chardev_buffer(t->vm, 4096, &t->uart)))
    return false;
  ucfg.chardev = t->uart;
  if (!EXPECT_OK(vmm_uart_create(t->vm, &ucfg, NULL)) ||
      !EXPECT_OK(vmm_debug_exit_create(t->vm, MB_EXIT_PORT, NULL)))
    return false;
  for (uint32_t i = 0; i < r->pci + r->mmio; i++) {
    vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
    vcfg.transport = i < r->pci ? VMM_VIRTIO_PCI : VMM_VIRTIO_MMIO;
    vmm_device_t *dev;
    if (!EXPECT_OK(vmm_virtio_rng_create(t->vm, &vcfg, &dev)))
      return false;
  }
  vmm_boot_config_t bcfg = VMM_BOOT_CONFIG_INIT;
  bcfg.kernel_path = path;
  bcfg.cmdline = r->cmdline;
  bcfg.flags = r->flags;
  t->boot.size = sizeof(t->boot);
  return EXPECT_OK(vmm_boot(t->vm, &bcfg, &t->boot));
}

static void uart_text(struct tvm *t, char *out, size_t cap) {
  size_t n = 0;
  int got;
  while (n + 1 < cap &&
         (got = vmm_chardev_buffer_read(t->uart, out + n, cap - 1 - n)) > 0)
    n += (size_t)got;
  out[n] = '\0';
}

static void expect(const struct run *r, int32_t status, const char *line,
                   const char *msg) {
  struct tvm t;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  char out[2048] = "";
  if (setup(&t, r) && EXPECT_OK(vmm_vm_start(t.vm)) &&
      EXPECT_OK(vmm_vm_wait(t.vm, WAIT_MS, &info))) {
    uart_text(&t, out, sizeof(out));
    note("%s on %u vCPU(s): %s", r->cmdline, r->cpus, out);
    EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
    EXPECT_TRUEF(info.status == status, "status 0x%x, want 0x%x (%s)",
                 (unsigned)info.status, (unsigned)status, info.message);
    EXPECT_TRUEF(strstr(out, line) != NULL, "UART: \"%s\" lacks \"%s\"", out,
                 line);
    if (msg)
      EXPECT_TRUEF(strstr(info.message, msg) != NULL, "stop message \"%s\" "
                   "lacks \"%s\"", info.message, msg);
  }
  vmm_vm_destroy(t.vm);
}

static void test_one_cpu(void) {
  struct run r = {1, 0, 0, 0, "mbtables cpus=1"};
  expect(&r, STATUS(MB_PASS), "mbtables: ok", NULL);
}

static void test_three_cpus_pci(void) {
  struct run r = {3, 2, 1, 0, "mbtables cpus=3"};
  expect(&r, STATUS(MB_PASS), "mbtables: ok", NULL);
}

static void test_boot_info(void) {
  struct tvm t;
  struct run r = {2, 0, 0, 0, "x"};
  if (setup(&t, &r)) {
    EXPECT_TRUE(t.boot.acpi_rsdp >= 0xe0000 && t.boot.acpi_rsdp < 0x100000);
    EXPECT_EQ(t.boot.acpi_rsdp % 16, 0);
    EXPECT_EQ(t.boot.mptable, 0x9fc00);
    char sig[9] = "";
    EXPECT_OK(vmm_mem_read(t.vm, t.boot.acpi_rsdp, sig, 8));
    EXPECT_STR(sig, "RSD PTR ");
  }
  vmm_vm_destroy(t.vm);
}

static void test_no_acpi(void) {
  struct run r = {2, 1, 0, VMM_BOOT_F_NO_ACPI, "mbtables cpus=2 acpi=0"};
  expect(&r, STATUS(MB_PASS), "mbtables: ok", NULL);
}

static void test_no_mptable(void) {
  struct run r = {2, 0, 0, VMM_BOOT_F_NO_MPTABLE, "mbtables cpus=2 mp=0"};
  expect(&r, STATUS(MB_PASS), "mbtables: ok", NULL);
}

/* The guest expects the wrong number of CPUs: the check fails (the test
 * can fail). */
static void test_wrong_count_fails(void) {
  struct run r = {2, 0, 0, 0, "mbtables cpus=3"};
  expect(&r, STATUS(MB_FAIL + 31), "FAIL 31", NULL);
}

static void test_poweroff(void) {
  struct run r = {1, 1, 0, 0, "mbtables poweroff=1"};
  expect(&r, 0, "powering off (S5)", "ACPI S5");
}

/* S3 is not emulated: ignored, the guest is woken at once and goes on. */
static void test_sleep_ignored(void) {
  struct run r = {1, 0, 0, 0, "mbtables sleep=3"};
  expect(&r, STATUS(MB_PASS), "mbtables: ok", NULL);
}

static void test_mmio_cmdline(void) {
  struct tvm t;
  struct run r = {1, 0, 2, VMM_BOOT_F_VIRTIO_MMIO_CMDLINE, "console=ttyS0"};
  if (setup(&t, &r)) {
    char cmd[512] = "";
    EXPECT_OK(vmm_mem_read(t.vm, t.boot.cmdline, cmd, sizeof(cmd) - 1));
    note("command line: %s", cmd);
    EXPECT_TRUEF(strstr(cmd, "console=ttyS0 virtio_mmio.device=4K@0xd0000000:")
                     != NULL, "command line: %s", cmd);
    EXPECT_TRUEF(strstr(cmd, " virtio_mmio.device=4K@0xd0001000:") != NULL,
                 "command line: %s", cmd);
  }
  vmm_vm_destroy(t.vm);
}

/* A virtio-mmio device put on GSI 9 by hand clashes with the SCI: a clear
 * refusal, and without ACPI the same VM boots. */
static void test_sci_line_taken(void) {
  for (int acpi = 1; acpi >= 0; acpi--) {
    vmm_vm_t *vm = NULL;
    vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
    cfg.backend = test_backend;
    cfg.flags = VMM_VM_F_IRQCHIP;
    vmm_vcpu_t *vcpu;
    vmm_device_t *dev;
    vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
    vcfg.irq = 9;
    if (EXPECT_OK(vmm_vm_create(&cfg, &vm)) &&
        EXPECT_OK(vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0, NULL)) &&
        EXPECT_OK(vmm_vcpu_create(vm, 0, &vcpu)) &&
        EXPECT_OK(vmm_virtio_rng_create(vm, &vcfg, &dev))) {
      vmm_boot_config_t bcfg = VMM_BOOT_CONFIG_INIT;
      bcfg.kernel_path = test_guest_path("mbtables");
      bcfg.flags = acpi ? 0 : VMM_BOOT_F_NO_ACPI;
      if (acpi) {
        EXPECT_RC(vmm_boot(vm, &bcfg, NULL), VMM_EBUSY);
        EXPECT_TRUEF(strstr(vmm_last_error(), "SCI") != NULL, "message: %s",
                     vmm_last_error());
      } else {
        EXPECT_OK(vmm_boot(vm, &bcfg, NULL));
      }
    }
    vmm_vm_destroy(vm);
  }
}

static const struct test_def tests[] = {
    {"sci_line_taken", test_sci_line_taken},
    {"one_cpu", test_one_cpu},
    {"three_cpus_pci", test_three_cpus_pci},
    {"boot_info", test_boot_info},
    {"no_acpi", test_no_acpi},
    {"no_mptable", test_no_mptable},
    {"wrong_count_fails", test_wrong_count_fails},
    {"poweroff", test_poweroff},
    {"sleep_ignored", test_sleep_ignored},
    {"mmio_cmdline", test_mmio_cmdline},
};

int main(int argc, char **argv) {
  static const struct test_suite suite = {
      "tables", tests, sizeof(tests) / sizeof(tests[0])};
  return test_main(argc, argv, "tables_test", "--guest mbtables PATH ",
                   &suite, 1, 120);
}
