/* tests/fuzz/virtio_fuzz.h — the harness the virtio device targets share
 * (virtio_{blk,net,console,rng,mmio,pci}_fuzz.c): a hostile driver drives
 * one real device of a VM with no vCPU through its transport's registers
 * (virtio-mmio window, or PCI configuration space + BAR), with rings and
 * buffers in guest RAM from the input, and the device's queues served by
 * the program's own libuv loop (vmm_vm_use_loop) as the loop thread would.
 * The accesses go to the same bus handlers a vCPU exit reaches.
 *
 * The including file defines FUZZ_NAME (a string), FUZZ_DEVICE (one of
 * DEV_* or DEV_ANY: byte 3 picks) and FUZZ_TRANSPORT (VMM_VIRTIO_MMIO or
 * VMM_VIRTIO_PCI). Input (little-endian):
 *
 *   [0]      bit 0: bring the device up first (reset, features, queues at
 *            q * 0x800: descriptors +0, available ring +0x400, used ring
 *            +0x500; DRIVER_OK); bit 1: accept VERSION_1 whatever [4..11]
 *            say; bit 2: notify every queue at the end
 *   [1]      log2 of the queue size (mod 9)
 *   [2]      number of operations (mod 32)
 *   [3]      device (DEV_ANY targets, mod 4: blk, net, console, rng)
 *   [4..11]  driver features (ANDed with the device's)
 *   ops      8 bytes each: kind, size, offset (16 bits), value (32 bits);
 *            kind % 8: 0 register write, 1 register read, 2 doorbell of
 *            queue value % 4 then a loop pass, 3 back-end input (a net
 *            frame or console bytes, `value % 2048` bytes of the RAM image
 *            from `offset`), 4/5 PCI configuration write/read (register
 *            write/read on MMIO), 6 a loop pass, 7 bring-up again
 *   rest     guest RAM from address 0 (at most 64 KiB of the 1 MiB)
 *
 * After the operations: drain the back-end's output, check the invariants
 * (a failed device has a reason, the VM lock is free), reset the device and
 * let every request finish, so inputs stay independent. Needs /dev/kvm (a
 * VM without vCPUs): without it the target exits 77 (a skipped test). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include <libvmm/libvmm.h>
#include <libvmm/uv.h>

#include "bus.h"
#include "vm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { DEV_BLK, DEV_NET, DEV_CONSOLE, DEV_RNG, DEV_COUNT, DEV_ANY = -1 };
static const char *const dev_names[DEV_COUNT] = {"blk", "net", "console",
                                                 "rng"};

#define RAM_SIZE 0x100000u
#define IMAGE_MAX 0x10000u
#define BLK_IMAGE_SIZE 0x10000u
#define QUEUES 4
#define RING_STRIDE 0x800u
#define HDR 12

/* virtio-mmio registers the bring-up uses. */
#define M_DEVICE_FEATURES 0x010
#define M_DEVICE_FEATURES_SEL 0x014
#define M_DRIVER_FEATURES 0x020
#define M_DRIVER_FEATURES_SEL 0x024
#define M_QUEUE_SEL 0x030
#define M_QUEUE_NUM 0x038
#define M_QUEUE_READY 0x044
#define M_QUEUE_NOTIFY 0x050
#define M_STATUS 0x070
#define M_QUEUE_DESC 0x080
#define M_QUEUE_DRIVER 0x090
#define M_QUEUE_DEVICE 0x0a0
#define M_WINDOW 0x200 /* registers and configuration space */

/* virtio-pci common configuration (virtio 1.x 4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_STATUS 0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESC 0x20
#define C_Q_AVAIL 0x28
#define C_Q_USED 0x30

struct fuzz_dev {
  vmm_vm_t *vm;
  vmm_device_t *dev;
  vmm_chardev_t *chr; /* console */
  int peer;           /* net: the other end of the socket back-end */
  uint8_t *ram;
  uint64_t base;      /* MMIO window, or BAR 0 on PCI */
  uint32_t bar0;      /* PCI: BAR 0 as the bus assigned it */
  /* PCI: devfn and where the driver finds the structures (from the
   * capability list, as a driver would). */
  uint32_t devfn;
  uint64_t common, notify, device;
  uint32_t notify_mult;
};

static uv_loop_t loop;
static bool loop_ready;
static struct fuzz_dev devs[DEV_COUNT];

static void invariant(int ok, const char *what) {
  if (ok)
    return;
  fprintf(stderr, "%s_fuzz: invariant broken: %s\n", FUZZ_NAME, what);
  abort();
}

/* One access through the bus, as vcpu.c's dispatch makes it. */
static void bus_access(vmm_vm_t *vm, struct vmm__bus *bus, uint64_t addr,
                       void *data, uint32_t size, int is_write) {
  pthread_rwlock_rdlock(&vm->lock);
  const struct vmm__bus_range *r = vmm__bus_find(bus, addr);
  vmm_io_fn fn = r ? r->fn : NULL;
  void *opaque = r ? r->opaque : NULL;
  pthread_rwlock_unlock(&vm->lock);
  if (!is_write)
    memset(data, 0, size);
  if (fn)
    (void)fn(NULL, addr, data, size, is_write, opaque);
}

static void mmio_w(struct fuzz_dev *d, uint64_t addr, uint64_t v,
                   uint32_t size) {
  bus_access(d->vm, &d->vm->mmio, addr, &v, size, 1);
}
static uint64_t mmio_r(struct fuzz_dev *d, uint64_t addr, uint32_t size) {
  uint64_t v = 0;
  bus_access(d->vm, &d->vm->mmio, addr, &v, size, 0);
  return v;
}

/* PCI configuration mechanism #1 (ports 0xCF8/0xCFC). */
static void cfg_w(struct fuzz_dev *d, uint32_t off, uint32_t v,
                  uint32_t size) {
  uint32_t a = 0x80000000u | d->devfn << 8 | (off & 0xfc);
  bus_access(d->vm, &d->vm->pio, 0xcf8, &a, 4, 1);
  bus_access(d->vm, &d->vm->pio, 0xcfc + (off & 3), &v, size, 1);
}
static uint32_t cfg_r(struct fuzz_dev *d, uint32_t off, uint32_t size) {
  uint32_t a = 0x80000000u | d->devfn << 8 | (off & 0xfc), v = 0;
  bus_access(d->vm, &d->vm->pio, 0xcf8, &a, 4, 1);
  bus_access(d->vm, &d->vm->pio, 0xcfc + (off & 3), &v, size, 0);
  return v;
}

/* ---- the loop --------------------------------------------------------- */

static void drain_backend(struct fuzz_dev *d) {
  uint8_t buf[2048];
  if (d->peer >= 0)
    while (recv(d->peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
      ;
  if (d->chr)
    while (vmm_chardev_buffer_read(d->chr, buf, sizeof(buf)) > 0)
      ;
}

/* Runs what is ready (doorbells, back-end input), and waits for the
 * requests on the thread pool (virtio-blk) to complete. */
static void loop_pass(struct fuzz_dev *d) {
  for (int i = 0; i < 256; i++) {
    drain_backend(d);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (loop.active_reqs.count) {
      uv_run(&loop, UV_RUN_ONCE);
      continue;
    }
    if (i >= 3)
      break;
  }
}

/* ---- set-up ----------------------------------------------------------- */

/* Memory decoding on and BAR 0 where the bus first put it (the input may
 * have moved or disabled it), then the structures from the capabilities. */
static void pci_find(struct fuzz_dev *d) {
  if (!d->bar0)
    d->bar0 = cfg_r(d, 0x10, 4);
  cfg_w(d, 0x10, d->bar0, 4);
  cfg_w(d, 0x04, 0x6, 2); /* memory decoding, bus master */
  d->base = cfg_r(d, 0x10, 4) & ~0xfull;
  for (uint32_t p = cfg_r(d, 0x34, 1), n = 0; p && n < 48;
       p = cfg_r(d, p + 1, 1), n++) {
    if (cfg_r(d, p, 1) != 0x09 || cfg_r(d, p + 4, 1) != 0)
      continue; /* vendor capabilities in BAR 0 only */
    uint64_t at = d->base + cfg_r(d, p + 8, 4);
    switch (cfg_r(d, p + 3, 1)) {
    case 1:
      d->common = at;
      break;
    case 2:
      d->notify = at;
      d->notify_mult = cfg_r(d, p + 16, 4);
      break;
    case 4:
      d->device = at;
      break;
    }
  }
  invariant(d->base && d->common && d->notify, "no virtio-pci structures");
}

static void dev_create(int kind) {
  struct fuzz_dev *d = &devs[kind];
  d->peer = -1;
  vmm_mem_region_t *region;
  if (vmm_vm_create(NULL, &d->vm) < 0) {
    fprintf(stderr, "%s_fuzz: no VM (%s): skipped\n", FUZZ_NAME,
            vmm_last_error());
    exit(77);
  }
  if (vmm_vm_use_loop(d->vm, &loop) < 0 ||
      vmm_mem_map(d->vm, 0, RAM_SIZE, NULL, 0, &region) < 0)
    goto fail;
  d->ram = vmm_mem_region_hva(region);
  vmm_virtio_config_t cfg = VMM_VIRTIO_CONFIG_INIT;
  cfg.transport = FUZZ_TRANSPORT;
  int rc = -1;
  switch (kind) {
  case DEV_BLK: {
    /* The image: 64 KiB in memory, opened by path like a file. */
    int fd = memfd_create("virtio_blk_fuzz", 0);
    char path[64];
    if (fd < 0 || ftruncate(fd, BLK_IMAGE_SIZE) < 0)
      goto fail;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    vmm_virtio_blk_config_t blk = VMM_VIRTIO_BLK_CONFIG_INIT;
    blk.path = path;
    blk.num_queues = 2;
    rc = vmm_virtio_blk_create(d->vm, &cfg, &blk, &d->dev);
    close(fd);
    break;
  }
  case DEV_NET: {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      goto fail;
    vmm_virtio_net_config_t net = VMM_VIRTIO_NET_CONFIG_INIT;
    net.backend = VMM_NET_SOCKET;
    net.fd = sv[0];
    memcpy(net.mac, "\x02\x00\x00\x00\x00\x01", 6);
    rc = vmm_virtio_net_create(d->vm, &cfg, &net, &d->dev);
    d->peer = sv[1];
    break;
  }
  case DEV_CONSOLE:
    if (vmm_chardev_buffer(d->vm, 4096, &d->chr) < 0)
      goto fail;
    rc = vmm_virtio_console_create(d->vm, &cfg, d->chr, &d->dev);
    break;
  case DEV_RNG:
    rc = vmm_virtio_rng_create(d->vm, &cfg, &d->dev);
    break;
  }
  if (rc < 0)
    goto fail;
  if (FUZZ_TRANSPORT == VMM_VIRTIO_PCI) {
    d->devfn = (uint32_t)vmm_virtio_pci_devfn(d->dev);
    pci_find(d);
  } else {
    d->base = vmm_virtio_mmio_base(d->dev);
  }
  return;
fail:
  fprintf(stderr, "%s_fuzz: cannot set up virtio-%s: %s\n", FUZZ_NAME,
          dev_names[kind], vmm_last_error());
  abort();
}

/* At exit: everything freed, so that valgrind and LeakSanitizer see a
 * clean process (the devices close their handles on our loop). */
static void teardown(void) {
  for (int k = 0; k < DEV_COUNT; k++) {
    struct fuzz_dev *d = &devs[k];
    if (!d->vm)
      continue;
    vmm_vm_destroy(d->vm);
    if (d->peer >= 0)
      close(d->peer);
    memset(d, 0, sizeof(*d));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

/* ---- the driver's side ------------------------------------------------ */

static uint64_t ring(unsigned q) { return (uint64_t)q * RING_STRIDE; }

static void reg_w(struct fuzz_dev *d, uint32_t off, uint64_t v, uint32_t size) {
  mmio_w(d, (FUZZ_TRANSPORT == VMM_VIRTIO_PCI ? d->common : d->base) + off, v,
         size);
}

static void set_status(struct fuzz_dev *d, uint8_t s) {
  if (FUZZ_TRANSPORT == VMM_VIRTIO_PCI)
    reg_w(d, C_STATUS, s, 1);
  else
    reg_w(d, M_STATUS, s, 4);
}

static uint8_t get_status(struct fuzz_dev *d) {
  if (FUZZ_TRANSPORT == VMM_VIRTIO_PCI)
    return (uint8_t)mmio_r(d, d->common + C_STATUS, 1);
  return (uint8_t)mmio_r(d, d->base + M_STATUS, 4);
}

static void bring_up(struct fuzz_dev *d, uint64_t want, bool version1,
                     uint16_t qsize) {
  bool pci = FUZZ_TRANSPORT == VMM_VIRTIO_PCI;
  set_status(d, 0);
  set_status(d, 1);
  set_status(d, 3);
  uint64_t offered = 0;
  for (uint32_t sel = 0; sel < 2; sel++) {
    reg_w(d, pci ? C_DFSELECT : M_DEVICE_FEATURES_SEL, sel, 4);
    offered |= mmio_r(d, (pci ? d->common : d->base) +
                             (pci ? C_DF : M_DEVICE_FEATURES), 4)
               << (32 * sel);
  }
  uint64_t feat = offered & want;
  if (version1)
    feat |= 1ull << 32;
  for (uint32_t sel = 0; sel < 2; sel++) {
    reg_w(d, pci ? C_GFSELECT : M_DRIVER_FEATURES_SEL, sel, 4);
    reg_w(d, pci ? C_GF : M_DRIVER_FEATURES, (uint32_t)(feat >> (32 * sel)),
          4);
  }
  set_status(d, 0xb);
  for (unsigned q = 0; q < QUEUES; q++) {
    if (pci) {
      reg_w(d, C_Q_SELECT, q, 2);
      reg_w(d, C_Q_SIZE, qsize, 2);
      reg_w(d, C_Q_DESC, ring(q), 8);
      reg_w(d, C_Q_AVAIL, ring(q) + 0x400, 8);
      reg_w(d, C_Q_USED, ring(q) + 0x500, 8);
      reg_w(d, C_Q_ENABLE, 1, 2);
    } else {
      reg_w(d, M_QUEUE_SEL, q, 4);
      reg_w(d, M_QUEUE_NUM, qsize, 4);
      reg_w(d, M_QUEUE_DESC, ring(q), 4);
      reg_w(d, M_QUEUE_DRIVER, ring(q) + 0x400, 4);
      reg_w(d, M_QUEUE_DEVICE, ring(q) + 0x500, 4);
      reg_w(d, M_QUEUE_READY, 1, 4);
    }
  }
  set_status(d, 0xf);
}

static void doorbell(struct fuzz_dev *d, unsigned q) {
  if (FUZZ_TRANSPORT == VMM_VIRTIO_PCI) {
    reg_w(d, C_Q_SELECT, q, 2);
    uint64_t noff = mmio_r(d, d->common + C_Q_NOFF, 2);
    mmio_w(d, d->notify + noff * d->notify_mult, q, 2);
  } else {
    reg_w(d, M_QUEUE_NOTIFY, q, 4);
  }
}

static void backend_input(struct fuzz_dev *d, const uint8_t *p, size_t n) {
  if (d->peer >= 0 && n)
    (void)send(d->peer, p, n, MSG_DONTWAIT);
  if (d->chr)
    (void)vmm_chardev_buffer_write(d->chr, p, n);
}

static const uint32_t sizes[4] = {1, 2, 4, 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!loop_ready) {
    if (uv_loop_init(&loop) != 0)
      abort();
    loop_ready = true;
    atexit(teardown);
  }
  if (size < HDR)
    return 0;
  int kind = FUZZ_DEVICE == DEV_ANY ? data[3] % DEV_COUNT : FUZZ_DEVICE;
  struct fuzz_dev *d = &devs[kind];
  if (!d->vm)
    dev_create(kind);
  bool pci = FUZZ_TRANSPORT == VMM_VIRTIO_PCI;

  unsigned nops = data[2] % 32u;
  size_t ops_end = HDR + 8 * (size_t)nops;
  if (ops_end > size) {
    nops = (unsigned)((size - HDR) / 8);
    ops_end = HDR + 8 * (size_t)nops;
  }
  size_t image = size - ops_end < IMAGE_MAX ? size - ops_end : IMAGE_MAX;
  memset(d->ram, 0, IMAGE_MAX);
  memcpy(d->ram, data + ops_end, image);

  uint64_t want;
  memcpy(&want, data + 4, 8);
  uint16_t qsize = (uint16_t)(1u << (data[1] % 9));
  if (data[0] & 1)
    bring_up(d, want, data[0] & 2, qsize);

  for (unsigned i = 0; i < nops; i++) {
    const uint8_t *op = data + HDR + 8 * i;
    uint32_t sz = sizes[op[1] & 3];
    uint32_t off = (uint32_t)(op[2] | op[3] << 8);
    uint32_t value;
    memcpy(&value, op + 4, 4);
    /* Bit 2 of the size byte: an aligned 32-bit access (what the
     * registers take), else whatever the offset and size say. */
    if (op[1] & 4) {
      sz = 4;
      off &= ~3u;
    }
    uint64_t at = d->base + (pci ? off % 0x4000u : off % M_WINDOW);
    switch (op[0] % 8) {
    case 0:
      mmio_w(d, at, value, sz);
      break;
    case 1:
      (void)mmio_r(d, at, sz);
      break;
    case 2:
      doorbell(d, value % QUEUES);
      loop_pass(d);
      break;
    case 3: {
      size_t from = off % IMAGE_MAX, n = value % 2048u;
      if (n > IMAGE_MAX - from)
        n = IMAGE_MAX - from;
      backend_input(d, d->ram + from, n);
      break;
    }
    case 4:
      if (pci)
        cfg_w(d, off & 0xff, value, sz > 4 ? 4 : sz);
      else
        mmio_w(d, at, value, sz);
      break;
    case 5:
      if (pci)
        (void)cfg_r(d, off & 0xff, sz > 4 ? 4 : sz);
      else
        (void)mmio_r(d, at, sz);
      break;
    case 6:
      loop_pass(d);
      break;
    case 7:
      bring_up(d, want, data[0] & 2, qsize);
      break;
    }
  }
  if (data[0] & 4)
    for (unsigned q = 0; q < QUEUES; q++)
      doorbell(d, q);
  loop_pass(d);

  /* A device that stopped serving its driver says why. */
  if (get_status(d) & 0x40) {
    const char *why = vmm_device_error(d->dev);
    invariant(why && why[0], "NEEDS_RESET without a reason");
  }
  invariant(pthread_rwlock_trywrlock(&d->vm->lock) == 0, "VM lock held");
  pthread_rwlock_unlock(&d->vm->lock);

  /* Next input: a reset device, nothing in flight, memory decoding on. */
  if (pci)
    pci_find(d);
  set_status(d, 0);
  loop_pass(d);
  invariant(loop.active_reqs.count == 0, "requests still in flight");
  invariant(get_status(d) == 0, "the device did not reset");
  drain_backend(d);
  return 0;
}
