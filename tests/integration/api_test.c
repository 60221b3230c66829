/* tests/integration/api_test.c — handler registration rules and bad input:
 * NULL and out-of-range arguments, duplicate ids, handles used after they
 * died. Every one must be an error code, never a crash. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

static int nop_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                  uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)is_write, (void)opaque;
  return 0;
}

static void test_pio_registration(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_vm_t *vm = t.vm;
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x3f8, 8, nop_io, NULL));
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x3fc, 2, nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x3f0, 0x10, nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x3f8, 8, nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x400, 1, nop_io, NULL));
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x3f7, 1, nop_io, NULL));
  /* The hypercall port and the print port test_vm_create() took. */
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, VMM_HYPERCALL_PORT_DEFAULT, 1,
                            nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0xe0, 0x10, nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_FAIL(vmm_io_unregister(vm, VMM_IO_PIO, VMM_HYPERCALL_PORT_DEFAULT));
  /* Bad ranges and arguments. */
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x500, 0, nop_io, NULL),
            VMM_EINVAL);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x500, 1, NULL, NULL), VMM_EINVAL);
  EXPECT_FAIL(vmm_io_register(vm, VMM_IO_PIO, 0xfff0, 0x20, nop_io, NULL));
  EXPECT_FAIL(vmm_io_register(vm, VMM_IO_PIO, 0x10000, 1, nop_io, NULL));
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0xfff0, 0x10, nop_io, NULL));
  EXPECT_RC(vmm_io_register(vm, (vmm_io_space_t)7, 0x500, 1, nop_io, NULL),
            VMM_EINVAL);
  /* Unregister: by exact start only. */
  EXPECT_FAIL(vmm_io_unregister(vm, VMM_IO_PIO, 0x3f9));
  EXPECT_OK(vmm_io_unregister(vm, VMM_IO_PIO, 0x3f8));
  EXPECT_FAIL(vmm_io_unregister(vm, VMM_IO_PIO, 0x3f8));
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x3fc, 2, nop_io, NULL));
  EXPECT_RC(vmm_io_unregister(vm, (vmm_io_space_t)7, 0x3fc), VMM_EINVAL);
out:
  test_vm_destroy(&t);
}

static void test_mmio_registration(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  vmm_vm_t *vm = t.vm;
  EXPECT_OK(vmm_io_register(vm, VMM_IO_MMIO, 0xd0000000, 0x1000, nop_io,
                            NULL));
  EXPECT_RC(vmm_io_register(vm, VMM_IO_MMIO, 0xd0000ff8, 0x10, nop_io, NULL),
            VMM_EOVERLAP);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_MMIO, 0xcffff000, 0x2000, nop_io,
                            NULL),
            VMM_EOVERLAP);
  EXPECT_OK(vmm_io_register(vm, VMM_IO_MMIO, 0xd0001000, 4, nop_io, NULL));
  /* PIO and MMIO are separate spaces. */
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x1000, 4, nop_io, NULL));
  EXPECT_OK(vmm_io_register(vm, VMM_IO_MMIO, 0x1000000, 4, nop_io, NULL));
  EXPECT_RC(vmm_io_register(vm, VMM_IO_MMIO, 0xe0000000, 0, nop_io, NULL),
            VMM_EINVAL);
  EXPECT_FAIL(vmm_io_register(vm, VMM_IO_MMIO, 0xfffffffffffff000ull, 0x2000,
                              nop_io, NULL));
  EXPECT_OK(vmm_io_unregister(vm, VMM_IO_MMIO, 0xd0000000));
  EXPECT_OK(vmm_io_register(vm, VMM_IO_MMIO, 0xd0000ff8, 8, nop_io, NULL));
out:
  test_vm_destroy(&t);
}

/* ---- bad input --------------------------------------------------------- */

static void test_vm_create_bad(void) {
  vmm_vm_t *vm = NULL;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  EXPECT_RC(vmm_vm_create(&cfg, NULL), VMM_EINVAL);
  cfg.backend = "no-such-backend";
  EXPECT_RC(vmm_vm_create(&cfg, &vm), VMM_ENODEV);
  EXPECT_TRUE(vm == NULL);
  EXPECT_TRUE(vmm_last_error()[0] != 0);
  EXPECT_RC(vmm_backend_probe("no-such-backend"), VMM_ENODEV);
  cfg.backend = test_backend;
  cfg.size = 4;
  EXPECT_FAIL(vmm_vm_create(&cfg, &vm));
  cfg.size = sizeof(cfg);
  cfg.max_vcpus = VMM_MAX_VCPUS + 1;
  EXPECT_FAIL(vmm_vm_create(&cfg, &vm));
  cfg.max_vcpus = 0;
  cfg.flags = 0x80000000u;
  EXPECT_FAIL(vmm_vm_create(&cfg, &vm));
  /* A newer caller's larger struct: fine while the extra bytes are 0. */
  struct {
    vmm_vm_config_t cfg;
    uint64_t future;
  } big;
  memset(&big, 0, sizeof(big));
  big.cfg = (vmm_vm_config_t)VMM_VM_CONFIG_INIT;
  big.cfg.size = sizeof(big);
  big.cfg.backend = test_backend;
  if (EXPECT_OK(vmm_vm_create(&big.cfg, &vm)))
    EXPECT_OK(vmm_vm_destroy(vm));
  big.future = 1;
  EXPECT_RC(vmm_vm_create(&big.cfg, &vm), VMM_EVERSION);
  EXPECT_TRUE(vmm_strerror(-123456) != NULL);
  EXPECT_TRUE(vmm_err_name(-123456) != NULL);
  EXPECT_STR(vmm_err_name(VMM_EBADF), "VMM_EBADF");
}

static void test_vcpu_create_bad(void) {
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *a = NULL, *b = NULL;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.max_vcpus = 2;
  if (!EXPECT_OK(vmm_vm_create(&cfg, &vm)))
    return;
  EXPECT_STR(vmm_vm_backend(vm), test_backend);
  EXPECT_OK(vmm_vcpu_create(vm, 1, &a));
  EXPECT_EQ(vmm_vcpu_id(a), 1);
  EXPECT_TRUE(vmm_vcpu_vm(a) == vm);
  EXPECT_RC(vmm_vcpu_create(vm, 1, &b), VMM_EEXIST);
  EXPECT_FAIL(vmm_vcpu_create(vm, 2, &b));
  EXPECT_FAIL(vmm_vcpu_create(vm, UINT32_MAX, &b));
  EXPECT_RC(vmm_vcpu_create(vm, 0, NULL), VMM_EINVAL);
  EXPECT_OK(vmm_vcpu_create(vm, 0, &b));
  /* NULL where a pointer is needed. */
  vmm_exit_t exit;
  EXPECT_RC(vmm_vcpu_run(a, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vcpu_run(NULL, &exit), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_get_regs(a, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vcpu_set_regs(a, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vcpu_get_sregs(a, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vcpu_get_fpu(a, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vcpu_kick(NULL), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_get_regs(NULL, NULL), VMM_EINVAL);
  vmm_regs_t regs;
  EXPECT_RC(vmm_vcpu_get_regs((vmm_vcpu_t *)vm, &regs), VMM_EBADF);
  EXPECT_RC(vmm_vm_caps(vm, NULL), VMM_EINVAL);
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* The documented caps (docs/security.md): each one reached, then one more
 * refused with its code and a message, and the VM still usable. */
static void test_limits(void) {
  vmm_vm_t *vm = NULL;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.max_vcpus = VMM_MAX_VCPUS + 1;
  EXPECT_RC(vmm_vm_create(&cfg, &vm), VMM_ERANGE);
  cfg.max_vcpus = VMM_MAX_VCPUS;
  if (!EXPECT_OK(vmm_vm_create(&cfg, &vm)))
    return;
  /* Memory: one region over the total, then the total passed by a second
   * one (refused before the backend sees it), then the region count. */
  EXPECT_RC(vmm_mem_map(vm, 0, VMM_MEM_MAX_TOTAL + VMM_PAGE_SIZE, NULL, 0,
                        NULL), VMM_ERANGE);
  EXPECT_TRUE(strstr(vmm_last_error(), "VMM_MEM_MAX_TOTAL") != NULL);
  EXPECT_OK(vmm_mem_map(vm, 0, VMM_PAGE_SIZE, NULL, 0, NULL));
  EXPECT_RC(vmm_mem_map(vm, 1ull << 41, VMM_MEM_MAX_TOTAL, NULL, 0, NULL),
            VMM_ERANGE);
  EXPECT_TRUE(strstr(vmm_last_error(), "VMM_MEM_MAX_TOTAL") != NULL);
  /* A backend may run out of slots first (svm has 32): then its own error
   * must say so; KVM reaches the cap. */
  int mapped = 1, rc = 0;
  for (uint64_t i = 1; i < VMM_MEM_MAX_REGIONS && rc == 0; i++) {
    rc = vmm_mem_map(vm, i * 2 * VMM_PAGE_SIZE, VMM_PAGE_SIZE, NULL, 0, NULL);
    mapped += rc == 0;
  }
  if (rc == 0) {
    EXPECT_EQ(mapped, VMM_MEM_MAX_REGIONS);
    EXPECT_RC(vmm_mem_map(vm, 0x10000000, VMM_PAGE_SIZE, NULL, 0, NULL),
              VMM_ENOSPC);
    EXPECT_TRUE(strstr(vmm_last_error(), "VMM_MEM_MAX_REGIONS") != NULL);
  } else {
    EXPECT_TRUE(vmm_last_error()[0] != 0);
    note("backend %s refused region %d of %d: %s", test_backend, mapped + 1,
         VMM_MEM_MAX_REGIONS, vmm_last_error());
  }
  if (strcmp(test_backend, "kvm") == 0)
    EXPECT_EQ(mapped, VMM_MEM_MAX_REGIONS);
  /* Devices: debug-exit ports are the cheapest. */
  int made = 0;
  vmm_device_t *dev;
  for (int i = 0; i < VMM_MAX_DEVICES; i++)
    made += vmm_debug_exit_create(vm, (uint16_t)(0x1000 + i), &dev) == 0;
  EXPECT_EQ(made, VMM_MAX_DEVICES);
  EXPECT_RC(vmm_debug_exit_create(vm, 0x2000, &dev), VMM_ENOSPC);
  EXPECT_TRUE(strstr(vmm_last_error(), "VMM_MAX_DEVICES") != NULL);
  /* The port of the refused device is free again. */
  EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x2000, 1, nop_io, NULL));
  /* Queue sizes: the largest is taken on a fresh VM, a non-power of two
   * (all that is left above it in 16 bits) is not. */
  EXPECT_OK(vmm_vm_destroy(vm));
  if (!EXPECT_OK(vmm_vm_create(&cfg, &vm)))
    return;
  vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
  vcfg.queue_size = VMM_VIRTIO_QUEUE_SIZE_MAX;
  EXPECT_OK(vmm_virtio_rng_create(vm, &vcfg, &dev));
  vcfg.queue_size = VMM_VIRTIO_QUEUE_SIZE_MAX + 1;
  EXPECT_RC(vmm_virtio_rng_create(vm, &vcfg, &dev), VMM_EINVAL);
  vcfg.queue_size = 0;
  vmm_virtio_blk_config_t bcfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  bcfg.path = "/dev/null"; /* refused for its queue count before it opens */
  bcfg.num_queues = VMM_VIRTIO_MAX_QUEUES + 1;
  EXPECT_RC(vmm_virtio_blk_create(vm, &vcfg, &bcfg, &dev), VMM_ERANGE);
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_loader_bad(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    goto out;
  static const uint8_t junk[64] = "\x7f" "ELF but not really";
  vmm_elf_info_t info = {.size = sizeof(info)};
  EXPECT_RC(vmm_load_elf(t.vm, junk, sizeof(junk), &info), VMM_ENOEXEC);
  EXPECT_FAIL(vmm_load_elf(t.vm, NULL, 64, &info));
  EXPECT_FAIL(vmm_load_elf_file(t.vm, "/nonexistent/guest.elf", &info));
  EXPECT_RC(vmm_load_flat(t.vm, junk, sizeof(junk), GUEST_RAM_SIZE - 8),
            VMM_EFAULT);
  EXPECT_OK(vmm_load_flat(t.vm, junk, sizeof(junk), GUEST_RAM_SIZE - 64));
  /* A real guest into a VM too small for it. */
  const char *path = test_guest_path("hello");
  if (path) {
    struct test_vm small;
    if (CREATE(&small, NULL)) {
      EXPECT_OK(vmm_mem_unmap(small.ram));
      EXPECT_OK(vmm_mem_map(small.vm, 0, 0x100000, NULL, 0, NULL));
      EXPECT_RC(vmm_load_elf_file(small.vm, path, &info), VMM_EFAULT);
    }
    test_vm_destroy(&small);
  }
out:
  test_vm_destroy(&t);
}

/* Handles of a destroyed VM, and of its vCPU and regions, are dead. */
static void test_use_after_destroy(void) {
  struct test_vm t;
  if (!CREATE(&t, NULL))
    return;
  vmm_vm_t *vm = t.vm;
  vmm_vcpu_t *vcpu = t.vcpu;
  vmm_mem_region_t *ram = t.ram;
  EXPECT_OK(vmm_vm_destroy(vm));
  t.vm = NULL;
  vmm_exit_t exit;
  vmm_regs_t regs;
  char c;
  EXPECT_RC(vmm_vm_destroy(vm), VMM_EBADF);
  EXPECT_RC(vmm_mem_map(vm, 0x10000000, 0x1000, NULL, 0, NULL), VMM_EBADF);
  EXPECT_RC(vmm_mem_read(vm, 0, &c, 1), VMM_EBADF);
  EXPECT_RC(vmm_mem_unmap(ram), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_run(vcpu, &exit), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_get_regs(vcpu, &regs), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_kick(vcpu), VMM_EBADF);
  EXPECT_RC(vmm_vcpu_create(vm, 1, &vcpu), VMM_EBADF);
  EXPECT_RC(vmm_io_register(vm, VMM_IO_PIO, 0x500, 1, nop_io, NULL),
            VMM_EBADF);
  EXPECT_RC(vmm_hypercall_register(vm, 1, NULL, NULL), VMM_EBADF);
  EXPECT_TRUE(vmm_vm_backend(vm) == NULL);
  EXPECT_TRUE(vmm_vm_get_userdata(vm) == NULL);
  EXPECT_OK(vmm_vm_destroy(NULL));
}

static void test_userdata(void) {
  struct test_vm t;
  if (CREATE(&t, NULL)) {
    EXPECT_TRUE(vmm_vm_get_userdata(t.vm) == NULL);
    vmm_vm_set_userdata(t.vm, &t);
    EXPECT_TRUE(vmm_vm_get_userdata(t.vm) == &t);
    uint64_t caps = 0;
    EXPECT_OK(vmm_vm_caps(t.vm, &caps));
    uint64_t bcaps = 0;
    EXPECT_OK(vmm_backend_caps(test_backend, &bcaps));
    EXPECT_EQ(caps, bcaps);
  }
  test_vm_destroy(&t);
}

const struct test_def io_tests[] = {
    {"pio_registration", test_pio_registration},
    {"mmio_registration", test_mmio_registration},
    {NULL, NULL},
};

const struct test_def misuse_tests[] = {
    {"vm_create_bad", test_vm_create_bad},
    {"vcpu_create_bad", test_vcpu_create_bad},
    {"limits", test_limits},
    {"loader_bad", test_loader_bad},
    {"use_after_destroy", test_use_after_destroy},
    {"userdata_and_caps", test_userdata},
    {NULL, NULL},
};
