/* tests/integration/pci_test.c — libvmm's PCI bus and the virtio-pci
 * transport driven by a real guest (tests/guests/pci_guest.c): host
 * bridge and device configuration space, BAR sizing and relocation,
 * hostile configuration and MSI-X table accesses, virtio-rng polled and
 * with MSI-X interrupts.
 *
 *   pci_test --backend kvm --guest pci PATH [--test NAME]... [--list]
 *
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every test passed, 1 otherwise.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "../guests/pci_guest.h"
#include "check.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "pci";

static vmm_virtio_config_t pci_config(uint32_t slot) {
  vmm_virtio_config_t cfg = VMM_VIRTIO_CONFIG_INIT;
  cfg.transport = VMM_VIRTIO_PCI;
  cfg.pci_slot = slot;
  return cfg;
}

/* ---- creation --------------------------------------------------------- */

static void test_create(void) {
  struct vt_vm v;
  vmm_device_t *a = NULL, *b = NULL, *c = NULL, *mmio = NULL, *dev = NULL;
  if (!VT_CREATE(&v, 0)) {
    vt_destroy(&v);
    return;
  }
  vmm_vm_t *vm = v.t.vm;
  vmm_virtio_config_t cfg = pci_config(0);
  if (EXPECT_OK(vmm_virtio_rng_create(vm, &cfg, &a)) &&
      EXPECT_OK(vmm_virtio_rng_create(vm, &cfg, &b))) {
    EXPECT_EQ(vmm_virtio_pci_devfn(a), 1 << 3); /* the first free slot */
    EXPECT_EQ(vmm_virtio_pci_devfn(b), 2 << 3);
    EXPECT_EQ(vmm_virtio_mmio_base(a), 0); /* not an MMIO device */
  }
  cfg = pci_config(7);
  if (EXPECT_OK(vmm_virtio_console_create(vm, &cfg, NULL, &c)))
    EXPECT_EQ(vmm_virtio_pci_devfn(c), 7 << 3);
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EBUSY);
  cfg = pci_config(32);
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_ERANGE);
  if (EXPECT_OK(vmm_virtio_rng_create(vm, NULL, &mmio)))
    EXPECT_TRUE(vmm_virtio_pci_devfn(mmio) < 0);
  EXPECT_TRUE(vmm_virtio_pci_devfn(NULL) < 0);
  vt_destroy(&v);
}

/* ---- guest-driven ------------------------------------------------------ */

static void test_config_and_rng(void) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  vmm_virtio_config_t cfg = pci_config(3);
  if (VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, &cfg, &rng)) &&
      set_param(&v, PG_PARAM_MODE, PG_MODE_CONFIG) &&
      set_param(&v, PG_PARAM_DEVFN, (uint64_t)vmm_virtio_pci_devfn(rng)) &&
      set_param(&v, PG_PARAM_COUNT, 64) &&
      set_param(&v, PG_PARAM_NEWBAR, 0xe8000000ull) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = &v.syncs[0];
    EXPECT_EQ(s->args[0], PG_SYNC_RNG);
    EXPECT_EQ(s->args[2], 64);
    EXPECT_EQ(s->args[3], 1); /* ISR: used buffers */
    EXPECT_EQ(s->args[4], 0); /* cleared by the first read */
    uint8_t buf[64];
    unsigned zeros = 0;
    if (EXPECT_OK(vmm_mem_read(v.t.vm, s->args[1], buf, sizeof(buf))))
      for (size_t i = 0; i < sizeof(buf); i++)
        zeros += buf[i] == 0;
    EXPECT_TRUEF(zeros < 16, "%u of 64 random bytes are 0", zeros);
    EXPECT_TRUEF(vmm_device_error(rng) == NULL, "%s", vmm_device_error(rng));
  }
  vt_destroy(&v);
}

static void run_config(const char *knob) {
  if (knob)
    setenv("LIBVMM_VIRTIO_NO_IOEVENTFD", knob, 1);
  test_config_and_rng();
  if (knob)
    unsetenv("LIBVMM_VIRTIO_NO_IOEVENTFD");
}

static void test_config(void) { run_config(NULL); }
/* The doorbell through the MMIO handler instead of an ioeventfd. */
static void test_config_no_ioeventfd(void) { run_config("1"); }

/* `no_irqfd`: LIBVMM_VIRTIO_NO_IRQFD's value at creation (NULL: unset):
 * messages through irqfds on MSI routes, or KVM_SIGNAL_MSI. */
static void run_msix(const char *no_irqfd) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  vmm_virtio_config_t cfg = pci_config(0);
  bool created = VT_CREATE(&v, VMM_VM_F_IRQCHIP);
  if (no_irqfd)
    setenv("LIBVMM_VIRTIO_NO_IRQFD", no_irqfd, 1);
  int rc = created ? vmm_virtio_rng_create(v.t.vm, &cfg, &rng) : 0;
  unsetenv("LIBVMM_VIRTIO_NO_IRQFD");
  if (created && EXPECT_OK(rc) &&
      set_param(&v, PG_PARAM_MODE, PG_MODE_MSIX) &&
      set_param(&v, PG_PARAM_DEVFN, (uint64_t)vmm_virtio_pci_devfn(rng)) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = &v.syncs[0];
    EXPECT_EQ(s->args[0], PG_SYNC_MSIX);
    EXPECT_EQ(s->args[1], 4);
    EXPECT_EQ(s->args[2], 0);
    EXPECT_TRUE(s->args[3] & 2);
    EXPECT_EQ(s->args[4], 1); /* the reprogrammed vector */
    EXPECT_TRUEF(vmm_device_error(rng) == NULL, "%s", vmm_device_error(rng));
  }
  vt_destroy(&v);
}

static void test_msix(void) { run_msix(NULL); }
static void test_msix_no_irqfd(void) { run_msix("1"); }

static void test_intx(void) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  vmm_virtio_config_t cfg = pci_config(0);
  if (VT_CREATE(&v, VMM_VM_F_IRQCHIP) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, &cfg, &rng)) &&
      set_param(&v, PG_PARAM_MODE, PG_MODE_INTX) &&
      set_param(&v, PG_PARAM_DEVFN, (uint64_t)vmm_virtio_pci_devfn(rng)) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = &v.syncs[0];
    EXPECT_EQ(s->args[0], PG_SYNC_INTX);
    EXPECT_EQ(s->args[1], 3);
    EXPECT_EQ(s->args[2], 1); /* used buffers only */
    EXPECT_TRUEF(vmm_device_error(rng) == NULL, "%s", vmm_device_error(rng));
  }
  vt_destroy(&v);
}

/* vCPU thread, at the guest's READY: the input goes to the console. */
struct echo {
  vmm_chardev_t *chr;
  const uint8_t *in;
  size_t n;
  int rc;
};

static void echo_on_sync(struct vt_vm *v, const struct ucall *uc) {
  struct echo *e = v->opaque;
  if (uc->args[0] == PG_SYNC_READY)
    e->rc = vmm_chardev_buffer_write(e->chr, e->in, e->n);
}

static void test_console(void) {
  enum { N = 300 };
  struct vt_vm v;
  vmm_device_t *con = NULL;
  vmm_chardev_t *chr = NULL;
  uint8_t in[N], out[N + 1];
  for (size_t i = 0; i < N; i++)
    in[i] = (uint8_t)(i * 7 + 3);
  struct echo e = {NULL, in, N, 0};
  vmm_virtio_config_t cfg = pci_config(0);
  if (VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_chardev_buffer(v.t.vm, 4096, &chr)) &&
      EXPECT_OK(vmm_virtio_console_create(v.t.vm, &cfg, chr, &con)) &&
      set_param(&v, PG_PARAM_MODE, PG_MODE_CONSOLE) &&
      set_param(&v, PG_PARAM_DEVFN, (uint64_t)vmm_virtio_pci_devfn(con)) &&
      set_param(&v, PG_PARAM_COUNT, N)) {
    e.chr = chr;
    v.on_sync = echo_on_sync;
    v.opaque = &e;
    if (EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
        EXPECT_EQ(v.n_syncs, 2)) {
      EXPECT_OK(e.rc);
      uint64_t sum = 0;
      for (size_t i = 0; i < N; i++)
        sum = sum * 31 + in[i];
      EXPECT_EQ(v.syncs[1].args[0], PG_SYNC_ECHOED);
      EXPECT_EQ(v.syncs[1].args[1], N);
      EXPECT_EQ(v.syncs[1].args[2], sum);
      size_t got = 0;
      for (;;) {
        int r = vmm_chardev_buffer_read(chr, out + got, N + 1 - got);
        if (r <= 0)
          break;
        got += (size_t)r;
      }
      EXPECT_TRUE(got == N && memcmp(in, out, N) == 0);
    }
    EXPECT_TRUEF(vmm_device_error(con) == NULL, "%s", vmm_device_error(con));
  }
  vt_destroy(&v);
}

static const struct test_def tests[] = {
    {"console", test_console},
    {"intx", test_intx},
    {"create", test_create},
    {"config", test_config},
    {"config_no_ioeventfd", test_config_no_ioeventfd},
    {"msix", test_msix},
    {"msix_no_irqfd", test_msix_no_irqfd},
};

int main(int argc, char **argv) {
  return vt_main(argc, argv, "pci_test", "pci", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
