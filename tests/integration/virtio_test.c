/* tests/integration/virtio_test.c — libvmm's virtio-mmio devices driven by
 * a real guest (tests/guests/virtio_guest.c): the register protocol,
 * virtio-rng and virtio-console on libvmm's threads, interrupts through
 * the backend's IOAPIC, and a set of guests that break the rules on
 * purpose, each next to a well-behaved VM in the same process.
 *
 *   virtio_test --backend kvm --guest virtio PATH [--test NAME]... [--list]
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
#include <uv.h>

#include "../guests/virtio_guest.h"
#include "check.h"
#include "ctl_client.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "virtio";

static vmm_virtio_config_t mmio_config(void) {
  vmm_virtio_config_t cfg = VMM_VIRTIO_CONFIG_INIT;
  return cfg;
}

/* ---- creation and its errors ------------------------------------------ */

static void test_create(void) {
  struct vt_vm v, other;
  vmm_device_t *rng = NULL, *rng2 = NULL, *con = NULL, *dev = NULL;
  vmm_chardev_t *chr = NULL, *foreign = NULL;
  if (!VT_CREATE(&v, 0) || !VT_CREATE(&other, 0)) {
    vt_destroy(&v);
    return;
  }
  vmm_vm_t *vm = v.t.vm;
  vmm_virtio_config_t cfg = mmio_config();

  /* Defaults: a window at 0xd0000000 and up, a GSI each. */
  if (EXPECT_OK(vmm_virtio_rng_create(vm, NULL, &rng)) &&
      EXPECT_OK(vmm_virtio_rng_create(vm, &cfg, &rng2))) {
    EXPECT_STR(vmm_device_type(rng), "virtio-rng");
    EXPECT_TRUE(vmm_device_error(rng) == NULL);
    uint64_t a = vmm_virtio_mmio_base(rng), b = vmm_virtio_mmio_base(rng2);
    EXPECT_TRUE(a >= 0xd0000000ull && b >= 0xd0000000ull && a != b);
    EXPECT_TRUE(a % 4096 == 0 && b % 4096 == 0);
    EXPECT_TRUE(vmm_virtio_irq(rng) != vmm_virtio_irq(rng2));
    EXPECT_TRUE(vmm_virtio_irq(rng) > 0 && vmm_virtio_irq(rng) < 24);
  }
  /* Placement chosen by the caller. */
  cfg.mmio_base = 0xe0000000ull;
  cfg.irq = 21;
  if (EXPECT_OK(vmm_virtio_rng_create(vm, &cfg, &dev))) {
    EXPECT_EQ(vmm_virtio_mmio_base(dev), 0xe0000000ull);
    EXPECT_EQ(vmm_virtio_irq(dev), 21);
  }
  /* The same window twice. */
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EOVERLAP);

  /* Bad configurations. */
  cfg = mmio_config();
  cfg.transport = VMM_VIRTIO_PCI; /* works (pci_test.c); slot 32 does not */
  cfg.pci_slot = 32;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_ERANGE);
  cfg.pci_slot = 0;
  cfg.transport = 7;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EINVAL);
  cfg = mmio_config();
  cfg.queue_size = 100;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EINVAL);
  cfg = mmio_config();
  cfg.irq = 24;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_ERANGE);
  cfg = mmio_config();
  cfg.mmio_base = 0xd0000800ull;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EINVAL);
  cfg.mmio_base = GUEST_RAM_GPA + 0x10000; /* RAM */
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EOVERLAP);
  cfg = mmio_config();
  cfg.pci_slot = 1; /* a PCI field on an MMIO device */
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EINVAL);
  cfg = mmio_config();
  cfg.size = 4;
  EXPECT_RC(vmm_virtio_rng_create(vm, &cfg, &dev), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_rng_create(vm, NULL, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_rng_create(NULL, NULL, &dev), VMM_EBADF);
  /* A larger struct from a newer caller: fine while the tail is zero. */
  struct {
    vmm_virtio_config_t cfg;
    uint64_t future;
  } big = {mmio_config(), 0};
  big.cfg.size = sizeof(big);
  EXPECT_OK(vmm_virtio_rng_create(vm, &big.cfg, &dev));
  big.future = 1;
  EXPECT_RC(vmm_virtio_rng_create(vm, &big.cfg, &dev), VMM_EVERSION);

  /* Console: its back-end must be the VM's own and free. */
  if (EXPECT_OK(vmm_chardev_buffer(vm, 4096, &chr)) &&
      EXPECT_OK(vmm_chardev_buffer(other.t.vm, 4096, &foreign))) {
    EXPECT_RC(vmm_virtio_console_create(vm, NULL, foreign, &con), VMM_EINVAL);
    if (EXPECT_OK(vmm_virtio_console_create(vm, NULL, chr, &con))) {
      EXPECT_STR(vmm_device_type(con), "virtio-console");
      EXPECT_TRUE(vmm_device_error(con) == NULL);
    }
    vmm_device_t *con2 = NULL;
    EXPECT_RC(vmm_virtio_console_create(vm, NULL, chr, &con2), VMM_EBUSY);
  }
  EXPECT_OK(vmm_virtio_console_create(vm, NULL, NULL, &dev));

  /* Accessors on what is not a virtio device. */
  EXPECT_EQ(vmm_virtio_mmio_base(NULL), 0);
  EXPECT_EQ(vmm_virtio_irq(NULL), 0);
  EXPECT_EQ(vmm_virtio_mmio_base((vmm_device_t *)chr), 0);

  /* After start: too late. (The guest, given no mode, aborts.) */
  if (EXPECT_OK(vmm_vm_start(vm))) {
    EXPECT_RC(vmm_virtio_rng_create(vm, NULL, &dev), VMM_ESTATE);
    vmm_vm_stop(vm, 0);
    vmm_vm_wait(vm, -1, NULL);
  }
  vt_destroy(&other);
  vt_destroy(&v);
}

/* ---- the register protocol -------------------------------------------- */

static void test_protocol(void) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  vmm_virtio_config_t cfg = mmio_config();
  cfg.queue_size = 64;
  if (VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, &cfg, &rng)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_PROTOCOL) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(rng)) &&
      set_param(&v, VT_PARAM_QMAX, 64) && set_param(&v, VT_PARAM_FLAGS, 3) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v)) {
    EXPECT_EQ(v.n_syncs, 1);
    EXPECT_TRUEF(vmm_device_error(rng) == NULL, "%s", vmm_device_error(rng));
  }
  vt_destroy(&v);
}

/* ---- virtio-rng ------------------------------------------------------- */

/* Runs the rng mode; fills `out` with the n bytes the guest got. */
static void run_rng(uint64_t flags, uint64_t n, uint8_t *out) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  uint8_t buf[VT_RNG_MAX + VT_CANARY_LEN];
  if (VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, NULL, &rng)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_RNG) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(rng)) &&
      set_param(&v, VT_PARAM_COUNT, n) &&
      set_param(&v, VT_PARAM_FLAGS, flags) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = &v.syncs[0];
    EXPECT_EQ(s->args[1], n);
    EXPECT_EQ(s->args[2], 1); /* used-buffer interrupt status */
    EXPECT_EQ(s->args[3], 0); /* suppressed */
    EXPECT_EQ(s->args[4], 1); /* wanted again */
    uint64_t f = s->args[5] << 28;
    EXPECT_EQ(!!(f & (1ull << 28)), !!(flags & VT_F_INDIRECT));
    EXPECT_EQ(!!(f & (1ull << 29)), !!(flags & VT_F_EVENT_IDX));
    if (EXPECT_OK(vmm_mem_read(v.t.vm, s->args[0], buf, n + VT_CANARY_LEN))) {
      /* Nothing past what was asked for changed. */
      bool canary = true;
      for (size_t i = 0; i < VT_CANARY_LEN; i++)
        canary &= buf[n + i] == VT_CANARY;
      EXPECT_TRUE(canary);
      /* Random bytes: all 256 values show up in a few KiB, and no run of
       * 16 equal bytes (each has odds of 2^-120). */
      unsigned seen[256] = {0}, distinct = 0, run = 1, max_run = 1;
      for (size_t i = 0; i < n; i++) {
        distinct += !seen[buf[i]]++;
        run = i && buf[i] == buf[i - 1] ? run + 1 : 1;
        max_run = run > max_run ? run : max_run;
      }
      EXPECT_TRUEF(n < 4096 || distinct == 256, "%u distinct values",
                   distinct);
      EXPECT_TRUEF(max_run < 16, "a run of %u equal bytes", max_run);
      if (out)
        memcpy(out, buf, n);
    }
    EXPECT_TRUE(vmm_device_error(rng) == NULL);
  }
  vt_destroy(&v);
}

static void test_rng(void) {
  static uint8_t a[VT_RNG_MAX], b[VT_RNG_MAX];
  run_rng(0, VT_RNG_MAX, a);
  run_rng(0, VT_RNG_MAX, b);
  EXPECT_TRUE(memcmp(a, b, VT_RNG_MAX) != 0);
}

/*
 * Device work on the embedder's own libuv loop: this thread owns the loop,
 * hands it to the VM before the device exists, and has to run it for the
 * rng's doorbells (ioeventfd polls on that loop) to be served at all. The
 * VM is then destroyed on this thread, as vmm_vm_use_loop() asks.
 */
static void test_rng_embedder_loop(void) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  uv_loop_t loop;
  if (!EXPECT_EQ(uv_loop_init(&loop), 0))
    return;
  if (VT_CREATE(&v, 0) && EXPECT_OK(vmm_vm_use_loop(v.t.vm, &loop)) &&
      EXPECT_RC(vmm_vm_use_loop(v.t.vm, &loop), VMM_ESTATE) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, NULL, &rng)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_RNG) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(rng)) &&
      set_param(&v, VT_PARAM_COUNT, 4096) &&
      EXPECT_OK(vmm_vm_start(v.t.vm))) {
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    int rc;
    time_t deadline = time(NULL) + WAIT_MS / 1000;
    while ((rc = vmm_vm_wait(v.t.vm, 0, &info)) == VMM_ETIMEDOUT &&
           time(NULL) < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(100);
    }
    if (rc == VMM_ETIMEDOUT) {
      vmm_vm_stop(v.t.vm, -1);
      vmm_vm_wait(v.t.vm, -1, &info);
    }
    EXPECT_OK(rc);
    EXPECT_TRUEF(!v.aborted, "guest aborted: %s", v.abort_text);
    if (EXPECT_EQ(v.n_syncs, 1))
      EXPECT_EQ(v.syncs[0].args[1], 4096);
    EXPECT_TRUE(vmm_device_error(rng) == NULL);
  }
  vt_destroy(&v);
  /* Close callbacks of the VM's handles run on the loop's next turns. */
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

/* The device's counters as the control socket reports them: the guest's
 * register accesses, its doorbells and the used-buffer interrupts. */
static void test_rng_stats(void) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  char dir[64] = "", path[128];
  if (VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, NULL, &rng)) &&
      ctl_make_dir(dir, sizeof(dir), path, sizeof(path)) &&
      EXPECT_OK(vmm_vm_control_listen(v.t.vm, path)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_RNG) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(rng)) &&
      set_param(&v, VT_PARAM_COUNT, 4096) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v)) {
    cJSON *r = ctl_request(path, "{\"id\":1,\"cmd\":\"stats\"}");
    EXPECT_STR(result_state(r), "stopped");
    const cJSON *d, *dev = NULL;
    cJSON_ArrayForEach(d, path_get(resp_result(r), "devices", NULL)) {
      const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
      if (cJSON_IsString(type) && !strcmp(type->valuestring, "virtio-rng"))
        dev = d;
    }
    if (EXPECT_TRUE(dev != NULL)) {
      EXPECT_TRUE(path_get(dev, "mmio", NULL)->valuedouble > 10);
      EXPECT_TRUE(path_get(dev, "notifications", NULL)->valuedouble >= 1);
      EXPECT_TRUE(path_get(dev, "interrupts", NULL)->valuedouble >= 1);
      EXPECT_EQ(path_get(dev, "pio", NULL)->valuedouble, 0);
    }
    const cJSON *mmio = path_get(path_get(resp_result(r), "exits", NULL),
                                 "mmio", NULL);
    EXPECT_TRUE(mmio && mmio->valuedouble > 0);
    cJSON_Delete(r);
  }
  vt_destroy(&v);
  if (dir[0])
    rmdir(dir);
}

static void test_rng_indirect(void) { run_rng(VT_F_INDIRECT, 5000, NULL); }
static void test_rng_event_idx(void) { run_rng(VT_F_EVENT_IDX, 5000, NULL); }
static void test_rng_all_features(void) {
  run_rng(VT_F_INDIRECT | VT_F_EVENT_IDX, 3000, NULL);
}

/* Doorbells through the MMIO handler (as without ioeventfd). */
static void test_rng_no_ioeventfd(void) {
  setenv("LIBVMM_VIRTIO_NO_IOEVENTFD", "1", 1);
  run_rng(VT_F_EVENT_IDX, 2000, NULL);
  unsetenv("LIBVMM_VIRTIO_NO_IOEVENTFD");
}

/* ---- virtio-console echo ---------------------------------------------- */

struct echo {
  vmm_chardev_t *chr;
  const uint8_t *in;
  size_t first, total;
  int rc;
};

static void pattern(uint8_t *buf, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t)(' ' + (i * 7 + seed) % 95);
}

/* The guest posted its buffers: the rest of the input goes now, from the
 * vCPU thread (delivery takes the device's lock, not the vCPU's). */
static void echo_on_sync(struct vt_vm *v, const struct ucall *uc) {
  struct echo *e = v->opaque;
  if (uc->args[0] == VT_SYNC_READY)
    e->rc = vmm_chardev_buffer_write(e->chr, e->in + e->first,
                                     e->total - e->first);
}

static void run_console(uint64_t flags, size_t n, size_t first) {
  struct vt_vm v;
  vmm_device_t *con = NULL;
  vmm_chardev_t *chr = NULL;
  uint8_t *in = malloc(n), *out = malloc(n + 1);
  struct echo e = {NULL, in, first, n, 0};
  pattern(in, n, (unsigned)flags);
  if (in && out && VT_CREATE(&v, 0) &&
      EXPECT_OK(vmm_chardev_buffer(v.t.vm, n + 1024, &chr)) &&
      EXPECT_OK(vmm_virtio_console_create(v.t.vm, NULL, chr, &con)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_CONSOLE) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(con)) &&
      set_param(&v, VT_PARAM_COUNT, n) &&
      set_param(&v, VT_PARAM_FLAGS, flags) &&
      /* Written before the guest has buffers: waits in the back-end. */
      EXPECT_OK(vmm_chardev_buffer_write(chr, in, first))) {
    e.chr = chr;
    v.on_sync = echo_on_sync;
    v.opaque = &e;
    if (EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
        EXPECT_EQ(v.n_syncs, 2)) {
      EXPECT_OK(e.rc);
      uint64_t sum = 0;
      for (size_t i = 0; i < n; i++)
        sum = sum * 31 + in[i];
      EXPECT_EQ(v.syncs[1].args[0], VT_SYNC_ECHOED);
      EXPECT_EQ(v.syncs[1].args[1], n);
      EXPECT_EQ(v.syncs[1].args[2], sum);
      /* The guest saw each chunk's transmission completed only after
       * the back-end had it: everything is there now. */
      size_t got = 0;
      for (;;) {
        int r = vmm_chardev_buffer_read(chr, out + got, n + 1 - got);
        if (r <= 0)
          break;
        got += (size_t)r;
      }
      EXPECT_EQ(got, n);
      EXPECT_TRUE(got == n && memcmp(in, out, n) == 0);
    }
    EXPECT_TRUEF(vmm_device_error(con) == NULL, "%s", vmm_device_error(con));
  }
  vt_destroy(&v);
  free(in);
  free(out);
}

static void test_console_echo(void) { run_console(0, 1000, 300); }
static void test_console_echo_features(void) {
  run_console(VT_F_INDIRECT | VT_F_EVENT_IDX, 2500, 7);
}

/* ---- interrupts ------------------------------------------------------- */

static void run_irq(uint64_t flags) {
  struct vt_vm v;
  vmm_device_t *rng = NULL;
  vmm_virtio_config_t cfg = mmio_config();
  cfg.irq = 20; /* an IOAPIC-only line: the guest leaves the PIC masked */
  if (VT_CREATE(&v, VMM_VM_F_IRQCHIP) &&
      EXPECT_OK(vmm_virtio_rng_create(v.t.vm, &cfg, &rng)) &&
      set_param(&v, VT_PARAM_MODE, VT_MODE_RNG_IRQ) &&
      set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(rng)) &&
      set_param(&v, VT_PARAM_GSI, 20) &&
      set_param(&v, VT_PARAM_FLAGS, flags) &&
      EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 1)) {
    const struct ucall *s = &v.syncs[0];
    EXPECT_EQ(s->args[5], 5); /* one per request, none when suppressed */
    EXPECT_EQ(s->args[0], 6); /* and the configuration interrupt */
    /* Entries without a status bit: none on a conventional KVM; on this
     * machine's, at most one after an interrupt (a line left up after the
     * ack would be a storm instead). */
    EXPECT_TRUEF(s->args[1] <= s->args[0], "%llu entries without status",
                 (unsigned long long)s->args[1]);
    if (s->args[1])
      note("%llu interrupt entries found no status bit",
           (unsigned long long)s->args[1]);
    EXPECT_EQ(s->args[2], 0); /* nothing on other vectors */
    EXPECT_EQ(s->args[3], 3); /* used buffers and configuration */
    EXPECT_TRUE(s->args[4] & 64); /* NEEDS_RESET */
    const char *err = vmm_device_error(rng);
    EXPECT_TRUEF(err && strstr(err, "2-byte register read"), "%s",
                 err ? err : "(no error)");
  }
  vt_destroy(&v);
}

static void test_irq(void) { run_irq(0); }
static void test_irq_event_idx(void) { run_irq(VT_F_EVENT_IDX); }

/* ---- malicious guests ------------------------------------------------- */

static const struct {
  int id;
  const char *name;
  const char *error; /* in vmm_device_error() */
  bool after_driver_ok; /* a configuration interrupt is due */
} bad_cases[] = {
    {VT_BAD_LOOP, "looping chain", "a loop?", true},
    {VT_BAD_ADDR, "buffer outside memory",
     "buffer [0x40000000, 0x40000008) is not guest memory", true},
    {VT_BAD_WRAP, "wrapping length", "wraps around", true},
    {VT_BAD_NESTED_INDIRECT, "nested indirect",
     "indirect descriptor inside the indirect table", true},
    {VT_BAD_HEAD, "head index", "names descriptor 21, beyond the queue size "
     "16", true},
    {VT_BAD_AVAIL_JUMP, "avail idx jump", "available index moved from 0 to "
     "17", true},
    {VT_BAD_READONLY_BUF, "write into a readable buffer",
     "requestq: chain 0 has a device-readable buffer", true},
    {VT_BAD_CONFIG_WRITE, "config write out of range",
     "4-byte config write at offset 0x10 is outside the 0-byte", true},
    {VT_BAD_ODD_READ, "2-byte register read",
     "2-byte register read at offset 0x070", true},
    {VT_BAD_RING_ADDR, "ring outside memory",
     "descriptor table [0x40000000, +0x100) is not inside one guest memory "
     "region", false},
    {VT_BAD_RING_ALIGN, "misaligned ring", "is not 16-byte aligned", false},
    {VT_BAD_NEXT, "next index", "links to 17, beyond the queue size", true},
    {VT_BAD_TX_WRITABLE, "read from a writable buffer",
     "transmitq: chain 0 has a device-writable buffer", true},
    {VT_BAD_RX_READABLE, "input into a readable buffer",
     "receiveq: chain 0 has a device-readable buffer", true},
    {VT_BAD_INDIRECT_LEN, "indirect table length",
     "has length 24, not a non-zero multiple of 16", true},
    {VT_BAD_QUEUE_SIZE, "queue size", "queue size 3 is not a power of two",
     false},
    {VT_BAD_ODD_WRITE, "1-byte register write",
     "1-byte register write at offset 0x050", true},
    {VT_BAD_CONFIG_READ, "config read across the end",
     "4-byte config read at offset 0x6 is outside the 8-byte", true},
    {VT_BAD_USED_ROM, "used ring in ROM",
     "used ring at 0x600000 is in read-only memory", false},
};

/* A well-behaved VM that reads random bytes while the other misbehaves. */
static bool good_vm_start(struct vt_vm *g, vmm_device_t **rng) {
  return VT_CREATE(g, 0) &&
         EXPECT_OK(vmm_virtio_rng_create(g->t.vm, NULL, rng)) &&
         set_param(g, VT_PARAM_MODE, VT_MODE_RNG) &&
         set_param(g, VT_PARAM_BASE, vmm_virtio_mmio_base(*rng)) &&
         set_param(g, VT_PARAM_COUNT, 512) && EXPECT_OK(vmm_vm_start(g->t.vm));
}

static void run_bad(size_t k) {
  struct vt_vm v, good;
  vmm_device_t *dev = NULL, *good_rng = NULL;
  vmm_chardev_t *chr = NULL;
  int id = bad_cases[k].id;
  bool console = id == VT_BAD_TX_WRITABLE || id == VT_BAD_RX_READABLE ||
                 id == VT_BAD_CONFIG_READ;
  printf("\n    case %d: %s", id, bad_cases[k].name);
  bool good_started = good_vm_start(&good, &good_rng);
  if (!VT_CREATE(&v, 0))
    goto out;
  if (id == VT_BAD_USED_ROM) {
    uint64_t caps = 0;
    vmm_vm_caps(v.t.vm, &caps);
    if (!(caps & VMM_CAP_READONLY_MEM)) {
      note("no read-only memory on this backend: case skipped");
      goto out;
    }
    if (!EXPECT_OK(vmm_mem_map(v.t.vm, VT_ROM_GPA, VT_ROM_SIZE, NULL,
                               VMM_MEM_READONLY, NULL)))
      goto out;
  }
  if (console) {
    if (!EXPECT_OK(vmm_chardev_buffer(v.t.vm, 4096, &chr)) ||
        !EXPECT_OK(vmm_virtio_console_create(v.t.vm, NULL, chr, &dev)) ||
        !EXPECT_OK(vmm_chardev_buffer_write(chr, "input", 5)))
      goto out;
  } else if (!EXPECT_OK(vmm_virtio_rng_create(v.t.vm, NULL, &dev))) {
    goto out;
  }
  if (!set_param(&v, VT_PARAM_MODE, VT_MODE_BAD) ||
      !set_param(&v, VT_PARAM_BASE, vmm_virtio_mmio_base(dev)) ||
      !set_param(&v, VT_PARAM_CASE, (uint64_t)id) ||
      !EXPECT_OK(vmm_vm_start(v.t.vm)) || !vt_wait(&v) ||
      !EXPECT_EQ(v.n_syncs, 2))
    goto out;
  const char *err = vmm_device_error(dev);
  EXPECT_TRUEF(err && strstr(err, bad_cases[k].error), "case %d: error "
               "\"%s\", want \"%s\"", id, err ? err : "(none)",
               bad_cases[k].error);
  /* The guest saw NEEDS_RESET, and a configuration interrupt if it had
   * set DRIVER_OK. */
  EXPECT_TRUEF(v.syncs[0].args[1] & 64, "case %d: status 0x%llx", id,
               (unsigned long long)v.syncs[0].args[1]);
  EXPECT_EQ(!!(v.syncs[0].args[2] & 2), bad_cases[k].after_driver_ok);
  /* After a reset a new driver is accepted (FEATURES_OK), and an rng
   * answers its request again; the reason stays readable. */
  EXPECT_EQ(v.syncs[1].args[2], 0);
  EXPECT_EQ(v.syncs[1].args[1] & 8, 8);
  if (!console)
    EXPECT_EQ(v.syncs[1].args[3], 16);
out:
  if (good_started && vt_wait(&good) && EXPECT_EQ(good.n_syncs, 1))
    EXPECT_TRUE(vmm_device_error(good_rng) == NULL);
  vt_destroy(&v);
  vt_destroy(&good);
}

static void test_malicious(void) {
  for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++)
    run_bad(k);
  printf("\n");
}

/* ---- runner ----------------------------------------------------------- */

static const struct test_def tests[] = {
    {"create", test_create},
    {"protocol", test_protocol},
    {"rng", test_rng},
    {"rng_stats", test_rng_stats},
    {"rng_embedder_loop", test_rng_embedder_loop},
    {"rng_indirect", test_rng_indirect},
    {"rng_event_idx", test_rng_event_idx},
    {"rng_all_features", test_rng_all_features},
    {"rng_no_ioeventfd", test_rng_no_ioeventfd},
    {"console_echo", test_console_echo},
    {"console_echo_features", test_console_echo_features},
    {"irq", test_irq},
    {"irq_event_idx", test_irq_event_idx},
    {"malicious", test_malicious},
};

int main(int argc, char **argv) {
  return vt_main(argc, argv, "virtio_test", "virtio", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
