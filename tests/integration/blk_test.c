/* tests/integration/blk_test.c — libvmm's virtio-blk over virtio-mmio driven
 * by a real guest (tests/guests/blk_guest.c): reads of what the host put in
 * the image, writes the host finds there, flush, discard, GET_ID, several
 * requests in flight, two queues, a reset with requests in flight, a
 * read-only device, requests that must fail, a host file that fails, and
 * creation errors.
 *
 *   blk_test --backend kvm --guest blk PATH [--test NAME]... [--list]
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

#include <fcntl.h>
#include <sys/stat.h>

#include "../guests/blk_guest.h"
#include "check.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "blk";

/* ---- images ----------------------------------------------------------- */

#define IMAGE_SECTORS 128u
#define SECTOR 512u

/* A fresh image: the host pattern in [0, 8), 0xff in the discard range,
 * zeros elsewhere. Returns the path (static buffer per slot). */
static const char *make_image(unsigned slot, uint64_t bytes) {
  static char paths[4][64];
  char *path = paths[slot % 4];
  snprintf(path, sizeof(paths[0]), "/tmp/blk_test_%d_%u.img", (int)getpid(),
           slot);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return NULL;
  uint8_t *img = calloc(1, bytes);
  bool ok = img != NULL;
  if (ok && bytes >= (uint64_t)BT_MIN_SECTORS * SECTOR) {
    for (size_t i = 0; i < BT_SECTORS * SECTOR; i++)
      img[BT_READ_SECTOR * SECTOR + i] = bt_pattern(i, BT_SEED_HOST);
    memset(img + BT_DISCARD_SECTOR * SECTOR, 0xff, BT_SECTORS * SECTOR);
  }
  ok = ok && write(fd, img, bytes) == (ssize_t)bytes;
  free(img);
  close(fd);
  return ok ? path : NULL;
}

static uint64_t checksum(const uint8_t *p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum = sum * 31 + p[i];
  return sum;
}

static uint64_t host_pattern_sum(void) {
  uint8_t buf[BT_SECTORS * SECTOR];
  for (size_t i = 0; i < sizeof(buf); i++)
    buf[i] = bt_pattern(i, BT_SEED_HOST);
  return checksum(buf, sizeof(buf));
}

static vmm_virtio_blk_config_t blk_config(const char *path) {
  vmm_virtio_blk_config_t cfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  cfg.path = path;
  return cfg;
}

/* ---- creation and its errors ------------------------------------------ */

static void test_create(void) {
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  if (!VT_CREATE(&v, 0)) {
    vt_destroy(&v);
    return;
  }
  vmm_vm_t *vm = v.t.vm;
  const char *good = make_image(0, IMAGE_SECTORS * SECTOR);
  const char *odd = make_image(1, 1000);
  if (!EXPECT_TRUE(good && odd))
    goto out;
  vmm_virtio_blk_config_t cfg = blk_config(good);
  if (EXPECT_OK(vmm_virtio_blk_create(vm, NULL, &cfg, &dev))) {
    EXPECT_STR(vmm_device_type(dev), "virtio-blk");
    EXPECT_TRUE(vmm_virtio_mmio_base(dev) >= 0xd0000000ull);
    EXPECT_TRUE(vmm_device_error(dev) == NULL);
  }
  cfg.path = "/nonexistent/blk_test.img";
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_ENOENT);
  EXPECT_TRUEF(strstr(vmm_last_error(), "/nonexistent/blk_test.img") != NULL,
               "%s", vmm_last_error());
  cfg.path = "/tmp";
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg.flags = VMM_BLK_F_READONLY; /* opens, then finds a directory */
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  EXPECT_TRUEF(strstr(vmm_last_error(), "directory") != NULL, "%s",
               vmm_last_error());
  cfg = blk_config(odd);
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  EXPECT_TRUEF(strstr(vmm_last_error(), "multiple of 512") != NULL, "%s",
               vmm_last_error());
  cfg = blk_config(NULL);
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg = blk_config(good);
  cfg.num_queues = VMM_VIRTIO_MAX_QUEUES + 1;
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_ERANGE);
  cfg = blk_config(good);
  cfg.flags = 0x80;
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg = blk_config(good);
  cfg.size = 8;
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg = blk_config(good);
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, NULL, &dev), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_blk_create(vm, NULL, &cfg, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_blk_create(NULL, NULL, &cfg, &dev), VMM_EBADF);
  vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
  vcfg.queue_size = 100;
  EXPECT_RC(vmm_virtio_blk_create(vm, &vcfg, &cfg, &dev), VMM_EINVAL);
out:
  vt_destroy(&v);
  if (good)
    unlink(good);
  if (odd)
    unlink(odd);
}

/* ---- the read/write set ----------------------------------------------- */

/* The transport the next blk_attach() devices use. */
static uint32_t blk_transport = VMM_VIRTIO_MMIO;

/* A virtio-blk device on `cfg` in `v`, over blk_transport; tells the
 * guest where it is and which transport. */
static bool blk_attach(struct vt_vm *v, const vmm_virtio_blk_config_t *cfg,
                       vmm_device_t **blk) {
  vmm_virtio_config_t vc = VMM_VIRTIO_CONFIG_INIT;
  vc.transport = blk_transport;
  bool pci = blk_transport == VMM_VIRTIO_PCI;
  return EXPECT_OK(vmm_virtio_blk_create(v->t.vm, &vc, cfg, blk)) &&
         set_param(v, BT_PARAM_PCI, pci) &&
         set_param(v, BT_PARAM_BASE,
                   pci ? (uint64_t)vmm_virtio_pci_devfn(*blk)
                       : vmm_virtio_mmio_base(*blk));
}

static void run_rw(uint64_t flags, uint16_t queues) {
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  const char *path = make_image(0, IMAGE_SECTORS * SECTOR);
  if (!EXPECT_TRUE(path != NULL))
    return;
  vmm_virtio_blk_config_t cfg = blk_config(path);
  cfg.num_queues = queues;
  memcpy(cfg.serial, "libvmm-blk-serial-20", 20); /* all 20 bytes */
  if (VT_CREATE(&v, 0) &&
      blk_attach(&v, &cfg, &blk) &&
      set_param(&v, BT_PARAM_MODE, BT_MODE_RW) &&
      set_param(&v, BT_PARAM_FLAGS, flags) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 6)) {
    const struct ucall *s = v.syncs;
    EXPECT_EQ(s[0].args[0], BT_SYNC_ID);
    char id[21] = {0};
    if (EXPECT_OK(vmm_mem_read(v.t.vm, s[0].args[1], id, 20)))
      EXPECT_STR(id, "libvmm-blk-serial-20");
    EXPECT_EQ(s[1].args[0], BT_SYNC_READ);
    EXPECT_EQ(s[1].args[1], host_pattern_sum());
    EXPECT_EQ(s[2].args[0], BT_SYNC_WRITTEN);
    EXPECT_EQ(s[2].args[1], queues ? queues : 1);
    EXPECT_EQ(s[3].args[0], BT_SYNC_FAILED);
    EXPECT_TRUEF(s[3].args[1] & 64, "status 0x%llx",
                 (unsigned long long)s[3].args[1]);
    EXPECT_EQ(s[4].args[0], BT_SYNC_RECOVERED);
    EXPECT_EQ(s[4].args[1], host_pattern_sum());
    EXPECT_EQ(s[5].args[0], BT_SYNC_RESET);
    EXPECT_EQ(s[5].args[1], 2); /* nothing stale in the new used ring */
    const char *err = vmm_device_error(blk);
    EXPECT_TRUEF(err && strstr(err, "status byte"), "%s",
                 err ? err : "(no error)");
    /* The image as the guest left it. */
    size_t len = 0;
    uint8_t *img = test_read_file(path, &len);
    if (EXPECT_TRUE(img != NULL) && EXPECT_EQ(len, IMAGE_SECTORS * SECTOR)) {
      bool written = true, discarded = true, q1 = true, host = true;
      for (size_t i = 0; i < BT_SECTORS * SECTOR; i++) {
        written &= img[BT_WRITE_SECTOR * SECTOR + i] ==
                   bt_pattern(i, BT_SEED_GUEST);
        discarded &= img[BT_DISCARD_SECTOR * SECTOR + i] == 0;
        host &= img[BT_READ_SECTOR * SECTOR + i] ==
                bt_pattern(i, BT_SEED_HOST);
      }
      for (size_t i = 0; i < SECTOR; i++)
        q1 &= img[BT_Q1_SECTOR * SECTOR + i] ==
              (queues > 1 ? bt_pattern(i, BT_SEED_GUEST) : 0);
      EXPECT_TRUE(written);
      EXPECT_TRUE(discarded);
      EXPECT_TRUE(q1);
      EXPECT_TRUE(host);
    }
    free(img);
  }
  vt_destroy(&v);
  unlink(path);
}

static void test_rw(void) { run_rw(0, 0); }
static void test_rw_features(void) {
  run_rw(BT_F_INDIRECT | BT_F_EVENT_IDX, 2);
}
static void test_rw_no_ioeventfd(void) {
  setenv("LIBVMM_VIRTIO_NO_IOEVENTFD", "1", 1);
  run_rw(BT_F_EVENT_IDX, 1);
  unsetenv("LIBVMM_VIRTIO_NO_IOEVENTFD");
}
/* The same set over virtio-pci: one queue, then two with indirect
 * descriptors and event-idx (the refused requests and the resets
 * included). */
static void test_rw_pci(void) {
  blk_transport = VMM_VIRTIO_PCI;
  run_rw(0, 0);
  blk_transport = VMM_VIRTIO_MMIO;
}
static void test_rw_features_pci(void) {
  blk_transport = VMM_VIRTIO_PCI;
  run_rw(BT_F_INDIRECT | BT_F_EVENT_IDX, 2);
  blk_transport = VMM_VIRTIO_MMIO;
}

/* ---- read-only -------------------------------------------------------- */

static void test_readonly(void) {
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  const char *path = make_image(0, IMAGE_SECTORS * SECTOR);
  if (!EXPECT_TRUE(path != NULL))
    return;
  chmod(path, 0400); /* O_RDONLY is enough (root ignores the mode anyway) */
  vmm_virtio_blk_config_t cfg = blk_config(path);
  cfg.flags = VMM_BLK_F_READONLY;
  if (VT_CREATE(&v, 0) &&
      blk_attach(&v, &cfg, &blk) &&
      set_param(&v, BT_PARAM_MODE, BT_MODE_RO) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = v.syncs;
    EXPECT_EQ(s[0].args[0], BT_SYNC_RO);
    EXPECT_EQ(s[0].args[1], 1); /* write: VIRTIO_BLK_S_IOERR */
    EXPECT_EQ(s[0].args[2], 1); /* discard: VIRTIO_BLK_S_IOERR */
    EXPECT_EQ(s[0].args[3], host_pattern_sum());
    EXPECT_TRUEF(vmm_device_error(blk) == NULL, "%s", vmm_device_error(blk));
    size_t len = 0;
    uint8_t *img = test_read_file(path, &len);
    if (EXPECT_TRUE(img != NULL)) {
      bool host = true;
      for (size_t i = 0; i < BT_SECTORS * SECTOR; i++)
        host &= img[i] == bt_pattern(i, BT_SEED_HOST);
      EXPECT_TRUE(host);
    }
    free(img);
  }
  vt_destroy(&v);
  unlink(path);
}

/* ---- the host file fails ---------------------------------------------- */

/* The image shrinks under the device: reads past the new end fail on the
 * host, and the guest gets VIRTIO_BLK_S_IOERR (the RO guest sees its read
 * fail and aborts with the status it got); the device stays in service. */
static void test_host_error(void) {
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  const char *path = make_image(0, IMAGE_SECTORS * SECTOR);
  if (!EXPECT_TRUE(path != NULL))
    return;
  vmm_virtio_blk_config_t cfg = blk_config(path);
  cfg.flags = VMM_BLK_F_READONLY;
  if (VT_CREATE(&v, 0) &&
      blk_attach(&v, &cfg, &blk) &&
      set_param(&v, BT_PARAM_MODE, BT_MODE_RO) &&
      EXPECT_TRUE(truncate(path, 0) == 0) &&
      EXPECT_OK(vmm_vm_start(v.t.vm))) {
    vmm_vm_stop_info_t info;
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    EXPECT_OK(vmm_vm_wait(v.t.vm, WAIT_MS, &info));
    pthread_mutex_lock(&v.mu);
    EXPECT_TRUE(v.aborted);
    EXPECT_TRUEF(strstr(v.abort_text, "0x1 != 0x0") != NULL, "%s",
                 v.abort_text);
    pthread_mutex_unlock(&v.mu);
    EXPECT_TRUEF(vmm_device_error(blk) == NULL, "%s", vmm_device_error(blk));
  }
  vt_destroy(&v);
  unlink(path);
}

/* ---- runner ----------------------------------------------------------- */

static void test_readonly_pci(void) {
  blk_transport = VMM_VIRTIO_PCI;
  test_readonly();
  blk_transport = VMM_VIRTIO_MMIO;
}
static void test_host_error_pci(void) {
  blk_transport = VMM_VIRTIO_PCI;
  test_host_error();
  blk_transport = VMM_VIRTIO_MMIO;
}

static const struct test_def tests[] = {
    {"create", test_create},
    {"rw", test_rw},
    {"rw_features", test_rw_features},
    {"rw_no_ioeventfd", test_rw_no_ioeventfd},
    {"readonly", test_readonly},
    {"host_error", test_host_error},
    {"rw_pci", test_rw_pci},
    {"rw_features_pci", test_rw_features_pci},
    {"readonly_pci", test_readonly_pci},
    {"host_error_pci", test_host_error_pci},
};

int main(int argc, char **argv) {
  return vt_main(argc, argv, "blk_test", "virtio-blk", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
