/* tests/integration/boot_test.c — vmm_boot() with real tiny kernels
 * (tests/guests/boot): a bzImage entered through the Linux 64-bit boot
 * protocol and an ELF32 entered through PVH. The kernels check their
 * start state from the inside and report hashes of the command line and
 * initrd they found; this side compares them with what it passed. Public
 * API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot_guest.h"
#include "check.h"
#include "runner.h"
#include "test_vm.h"

#define TEST_TIMEOUT_S 60
#define MiB (1024ull * 1024ull)

/* The test VM's 4 MiB at 0 plus a second region up to `ram_end`: two
 * adjacent regions that the e820 map must show as one RAM range. */
static bool boot_vm(struct test_vm *t, uint64_t ram_end) {
  if (!CREATE(t, NULL))
    return false;
  if (ram_end > GUEST_RAM_SIZE &&
      !EXPECT_OK(vmm_mem_map(t->vm, GUEST_RAM_SIZE, ram_end - GUEST_RAM_SIZE,
                             NULL, 0, NULL)))
    return false;
  return true;
}

/* RAM as e820 shows it: [0, 0x9fc00) and [1 MiB, ram_end). */
static uint64_t ram_seen(uint64_t ram_end) {
  return 0x9fc00 + (ram_end - MiB);
}

static uint8_t *pattern(size_t len, unsigned seed) {
  uint8_t *p = malloc(len);
  uint32_t x = 0x12345678u ^ seed;
  for (size_t i = 0; p && i < len; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  return p;
}

static vmm_boot_info_t fresh_info(void) {
  vmm_boot_info_t i;
  memset(&i, 0, sizeof(i));
  i.size = sizeof(i);
  return i;
}

/* ---- bzImage ---------------------------------------------------------- */

static void test_bz_initrd(void) {
  struct test_vm t;
  const uint64_t ram = 64 * MiB;
  const size_t initrd_len = 20000; /* not a page multiple */
  const char *cmdline = "console=ttyS0 libvmm.test=bz quiet";
  uint8_t *initrd = pattern(initrd_len, 1);
  CU_ASSERT_FATAL(initrd != NULL);
  if (!boot_vm(&t, ram))
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel_path = test_guest_path("boot_bz");
  cfg.initrd = initrd;
  cfg.initrd_len = initrd_len;
  cfg.cmdline = cmdline;
  vmm_boot_info_t info = fresh_info();
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, &info)))
    goto out;
  EXPECT_EQ(info.format, VMM_KERNEL_BZIMAGE);
  EXPECT_EQ(info.cpus, 1);
  EXPECT_EQ(info.kernel_start, BOOT_BZ_LOAD);
  EXPECT_EQ(info.entry, BOOT_BZ_LOAD + 0x200);
  EXPECT_EQ(info.params, 0x7000);
  EXPECT_EQ(info.e820_entries, 3);
  EXPECT_EQ(info.initrd_start & 0xfff, 0);
  EXPECT_EQ(info.initrd_end - info.initrd_start, initrd_len);
  /* As high as possible below initrd_addr_max. */
  EXPECT_TRUEF(info.initrd_end <= BOOT_BZ_INITRD_MAX + 1ull &&
                   info.initrd_start + 0x2000 > BOOT_BZ_INITRD_MAX - initrd_len,
               "initrd at [0x%llx, 0x%llx)",
               (unsigned long long)info.initrd_start,
               (unsigned long long)info.initrd_end);
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], info.params); /* RSI */
  EXPECT_EQ(t.uc.args[1], 3);           /* e820 entries */
  EXPECT_EQ(t.uc.args[2], ram_seen(ram));
  EXPECT_EQ(t.uc.args[3], boot_hash(cmdline, strlen(cmdline)));
  EXPECT_EQ(t.uc.args[4], info.initrd_start);
  EXPECT_EQ(t.uc.args[5], boot_hash(initrd, initrd_len));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], strlen(cmdline));
  EXPECT_EQ(t.uc.args[1], initrd_len);
  EXPECT_EQ(t.uc.args[2], info.acpi_rsdp); /* boot_params.acpi_rsdp_addr */
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
  free(initrd);
}

/* From a buffer, no initrd, no command line. */
static void test_bz_minimal(void) {
  struct test_vm t;
  size_t len = 0;
  void *kernel = test_read_file(test_guest_path("boot_bz"), &len);
  CU_ASSERT_FATAL(kernel != NULL);
  if (!boot_vm(&t, 32 * MiB))
    goto out;
  EXPECT_EQ(vmm_kernel_detect(kernel, len), VMM_KERNEL_BZIMAGE);
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = kernel;
  cfg.kernel_len = len;
  vmm_boot_info_t info = fresh_info();
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, &info)))
    goto out;
  EXPECT_EQ(info.initrd_start, 0);
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[2], ram_seen(32 * MiB));
  EXPECT_EQ(t.uc.args[3], boot_hash("", 0));
  EXPECT_EQ(t.uc.args[4], 0);
  RUN_UCALL(&t, UCALL_SYNC);
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
  free(kernel);
}

/* What the kernel or the VM cannot take, through the public call. */
static void test_bz_errors(void) {
  struct test_vm t;
  size_t len = 0;
  uint8_t *kernel = test_read_file(test_guest_path("boot_bz"), &len);
  CU_ASSERT_FATAL(kernel != NULL);
  char longline[300];
  memset(longline, 'x', sizeof(longline) - 1);
  longline[BOOT_BZ_CMDLINE_SIZE + 1] = 0; /* one byte too long */
  if (!boot_vm(&t, 16 * MiB)) /* the kernel wants [16 MiB, ...) */
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = kernel;
  cfg.kernel_len = len;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOSPC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "not relocatable"), "%s",
               vmm_last_error());
  EXPECT_OK(vmm_mem_map(t.vm, 16 * MiB, 16 * MiB, NULL, 0, NULL));
  cfg.cmdline = longline;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOSPC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "cmdline_size (255)"), "%s",
               vmm_last_error());
  longline[BOOT_BZ_CMDLINE_SIZE] = 0; /* exactly the limit */
  EXPECT_OK(vmm_boot(t.vm, &cfg, NULL));
  cfg.cmdline = NULL;
  cfg.kernel_len = len - 100;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOEXEC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "truncated"), "%s", vmm_last_error());
  cfg.kernel_len = len;
  cfg.format = VMM_KERNEL_PVH; /* forced, and wrong */
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOEXEC);
  cfg.format = 0;
  cfg.kernel = NULL;
  cfg.kernel_path = "/nonexistent/bzImage";
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOENT);
  /* An initrd that fits nowhere below initrd_addr_max. */
  cfg.kernel_path = test_guest_path("boot_bz");
  cfg.initrd_path = test_guest_path("boot_bz");
  EXPECT_OK(vmm_boot(t.vm, &cfg, NULL));
  size_t big = 40 * MiB;
  uint8_t *huge = calloc(1, big);
  CU_ASSERT_FATAL(huge != NULL);
  cfg.initrd_path = NULL;
  cfg.initrd = huge;
  cfg.initrd_len = big;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOSPC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "initrd"), "%s", vmm_last_error());
  free(huge);
out:
  test_vm_destroy(&t);
  free(kernel);
}

/* ---- PVH -------------------------------------------------------------- */

static void pvh_module(const char *guest) {
  struct test_vm t;
  const uint64_t ram = 48 * MiB;
  const size_t mod_len = 12345;
  const char *cmdline = "root=/dev/vda ro libvmm.test=pvh";
  uint8_t *mod = pattern(mod_len, 2);
  CU_ASSERT_FATAL(mod != NULL);
  if (!boot_vm(&t, ram))
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel_path = test_guest_path(guest);
  cfg.initrd = mod;
  cfg.initrd_len = mod_len;
  cfg.cmdline = cmdline;
  vmm_boot_info_t info = fresh_info();
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, &info)))
    goto out;
  EXPECT_EQ(info.format, VMM_KERNEL_PVH);
  EXPECT_EQ(info.kernel_start, BOOT_PVH_LOAD);
  EXPECT_EQ(info.entry, BOOT_PVH_LOAD); /* pvh_start is first in .text */
  /* As high as possible: the top of RAM, page aligned down. */
  EXPECT_EQ(info.initrd_start, (ram - mod_len) & ~0xfffull);
  EXPECT_EQ(info.initrd_end, info.initrd_start + mod_len);
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], info.params); /* EBX */
  EXPECT_EQ(t.uc.args[1], 3);
  EXPECT_EQ(t.uc.args[2], ram_seen(ram));
  EXPECT_EQ(t.uc.args[3], boot_hash(cmdline, strlen(cmdline)));
  EXPECT_EQ(t.uc.args[4], info.initrd_start);
  EXPECT_EQ(t.uc.args[5], boot_hash(mod, mod_len));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], strlen(cmdline));
  EXPECT_EQ(t.uc.args[1], mod_len);
  EXPECT_EQ(t.uc.args[2], info.acpi_rsdp);
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
  free(mod);
}

static void test_pvh_module(void) { pvh_module("boot_pvh"); }
/* The same kernel in an ELF64 file, as Linux's vmlinux is. */
static void test_pvh_elf64(void) { pvh_module("boot_pvh64"); }

static void test_pvh_minimal(void) {
  struct test_vm t;
  size_t len = 0;
  uint8_t *kernel = test_read_file(test_guest_path("boot_pvh"), &len);
  CU_ASSERT_FATAL(kernel != NULL);
  EXPECT_EQ(vmm_kernel_detect(kernel, len), VMM_KERNEL_PVH);
  if (!boot_vm(&t, 8 * MiB))
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = kernel;
  cfg.kernel_len = len;
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, NULL)))
    goto out;
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[2], ram_seen(8 * MiB));
  EXPECT_EQ(t.uc.args[3], boot_hash("", 0));
  EXPECT_EQ(t.uc.args[4], 0);
  RUN_UCALL(&t, UCALL_SYNC);
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
  free(kernel);
}

static void test_pvh_errors(void) {
  struct test_vm t;
  size_t len = 0;
  uint8_t *kernel = test_read_file(test_guest_path("boot_pvh"), &len);
  CU_ASSERT_FATAL(kernel != NULL);
  if (!boot_vm(&t, 8 * MiB))
    goto out;
  /* The note's type changed: no PVH entry, so it is a plain ELF when
   * detected, and refused when PVH is asked for. */
  static const uint8_t pvh_note[16] = {4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0,
                                       'X', 'e', 'n', 0};
  uint8_t *note = memmem(kernel, len, pvh_note, sizeof(pvh_note));
  CU_ASSERT_FATAL(note != NULL);
  note += 12; /* at the name; the type is the word before */
  note[-4] = 17;
  EXPECT_EQ(vmm_kernel_detect(kernel, len), VMM_KERNEL_ELF);
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = kernel;
  cfg.kernel_len = len;
  cfg.format = VMM_KERNEL_PVH;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOEXEC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "XEN_ELFNOTE_PHYS32_ENTRY"), "%s",
               vmm_last_error());
  note[-4] = 18;
  /* A module larger than the RAM left. */
  size_t big = 8 * MiB;
  uint8_t *huge = calloc(1, big);
  CU_ASSERT_FATAL(huge != NULL);
  cfg.initrd = huge;
  cfg.initrd_len = big;
  EXPECT_RC(vmm_boot(t.vm, &cfg, NULL), VMM_ENOSPC);
  free(huge);
out:
  test_vm_destroy(&t);
  free(kernel);
}

/* ---- plain ELF and argument errors ----------------------------------- */

/* A static ELF64 without boot notes: loaded by segments, entered in long
 * mode; the command line is in memory at info.cmdline. */
static void test_elf64_plain(void) {
  struct test_vm t;
  if (!boot_vm(&t, 8 * MiB))
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel_path = test_guest_path("hello");
  cfg.cmdline = "plain elf";
  vmm_boot_info_t info = fresh_info();
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, &info)))
    goto out;
  EXPECT_EQ(info.format, VMM_KERNEL_ELF);
  EXPECT_EQ(info.kernel_start, GUEST_LOAD_GPA);
  char line[16] = {0};
  EXPECT_OK(vmm_mem_read(t.vm, info.cmdline, line, sizeof(line)));
  EXPECT_STR(line, "plain elf");
  if (RUN_EXPECT(&t, VMM_EXIT_HLT))
    EXPECT_STR(t.console, "Hello from the guest\n");
out:
  test_vm_destroy(&t);
}

/* The PVH kernel with its note's type changed is a plain ELF32: entered
 * at e_entry in 32-bit protected mode with nothing in EBX, which it
 * notices. */
static void test_elf32_plain(void) {
  struct test_vm t;
  size_t len = 0;
  uint8_t *kernel = test_read_file(test_guest_path("boot_pvh"), &len);
  CU_ASSERT_FATAL(kernel != NULL);
  static const uint8_t pvh_note[16] = {4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0,
                                       'X', 'e', 'n', 0};
  uint8_t *note = memmem(kernel, len, pvh_note, sizeof(pvh_note));
  CU_ASSERT_FATAL(note != NULL);
  note[8] = 17;
  if (!boot_vm(&t, 8 * MiB))
    goto out;
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel = kernel;
  cfg.kernel_len = len;
  vmm_boot_info_t info = fresh_info();
  if (!EXPECT_OK(vmm_boot(t.vm, &cfg, &info)))
    goto out;
  EXPECT_EQ(info.format, VMM_KERNEL_ELF);
  EXPECT_EQ(info.entry, BOOT_PVH_LOAD);
  if (RUN_UCALL(&t, UCALL_ABORT))
    EXPECT_TRUEF(strstr(t.uc.text, "0x336ec578"), "%s", t.uc.text);
out:
  test_vm_destroy(&t);
  free(kernel);
}

static void test_boot_args(void) {
  vmm_vm_t *vm = NULL;
  vmm_vm_config_t vc = VMM_VM_CONFIG_INIT;
  vc.backend = test_backend;
  if (!EXPECT_OK(vmm_vm_create(&vc, &vm)))
    return;
  EXPECT_OK(vmm_mem_map(vm, 0, 8 * MiB, NULL, 0, NULL));
  vmm_boot_config_t cfg = VMM_BOOT_CONFIG_INIT;
  cfg.kernel_path = test_guest_path("boot_bz");
  EXPECT_RC(vmm_boot(vm, &cfg, NULL), VMM_EINVAL); /* no vCPU 0 */
  EXPECT_TRUEF(strstr(vmm_last_error(), "vCPU 0"), "%s", vmm_last_error());
  vmm_vcpu_t *cpu;
  EXPECT_OK(vmm_vcpu_create(vm, 0, &cpu));
  cfg.kernel_path = NULL;
  EXPECT_RC(vmm_boot(vm, &cfg, NULL), VMM_EINVAL); /* no kernel */
  cfg.format = 99;
  cfg.kernel_path = test_guest_path("boot_bz");
  EXPECT_RC(vmm_boot(vm, &cfg, NULL), VMM_EINVAL);
  cfg.format = 0;
  static const uint8_t junk[4096];
  cfg.kernel_path = NULL;
  cfg.kernel = junk;
  cfg.kernel_len = sizeof(junk);
  EXPECT_RC(vmm_boot(vm, &cfg, NULL), VMM_ENOEXEC);
  EXPECT_TRUEF(strstr(vmm_last_error(), "none of the formats"), "%s",
               vmm_last_error());
  cfg.kernel_len = 0;
  EXPECT_RC(vmm_boot(vm, &cfg, NULL), VMM_EINVAL);
  vmm_vm_destroy(vm);
}

int main(int argc, char **argv) {
  static const struct test_def tests[] = {
      {"bz_initrd", test_bz_initrd},
      {"bz_minimal", test_bz_minimal},
      {"bz_errors", test_bz_errors},
      {"pvh_module", test_pvh_module},
      {"pvh_elf64", test_pvh_elf64},
      {"pvh_minimal", test_pvh_minimal},
      {"pvh_errors", test_pvh_errors},
      {"elf64_plain", test_elf64_plain},
      {"elf32_plain", test_elf32_plain},
      {"boot_args", test_boot_args},
  };
  const struct test_suite suite = {"boot", tests,
                                   sizeof(tests) / sizeof(tests[0])};
  return test_main(argc, argv, "boot_test",
                   "--guest boot_bz PATH --guest boot_pvh PATH --guest boot_pvh64 PATH "
                   "--guest hello PATH ", &suite, 1,
                   TEST_TIMEOUT_S);
}
