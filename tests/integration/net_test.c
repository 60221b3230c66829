/* tests/integration/net_test.c — libvmm's virtio-net driven by a real
 * guest (tests/guests/net_guest.c): two VMs in one process exchanging
 * checksummed frames over a socketpair, a VM exchanging frames with this
 * program, configuration space (MAC as configured, random MAC
 * well-formed), the tap back-end (as root, where /dev/net/tun exists), and
 * drivers that break the rules on purpose next to a pair of working VMs.
 *
 *   net_test --backend kvm --guest net PATH [--test NAME]... [--list]
 *
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every test passed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "../guests/net_guest.h"
#include "check.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "net";

/* ---- helpers ------------------------------------------------------------ */

#define N_FRAMES 64
#define HOST_ID 0xee

/* The transport the next net_vm() devices use. */
static uint32_t net_transport = VMM_VIRTIO_MMIO;

/* A VM with a virtio-net device on `fd` (or `net` as given), the guest in
 * `mode`. */
static bool net_vm(struct vt_vm *v, vmm_device_t **dev,
                   const vmm_virtio_net_config_t *net, uint64_t mode,
                   uint64_t id, uint64_t peer, uint64_t count) {
  vmm_virtio_config_t vc = VMM_VIRTIO_CONFIG_INIT;
  vc.transport = net_transport;
  bool pci = net_transport == VMM_VIRTIO_PCI;
  *dev = NULL;
  return VT_CREATE(v, 0) &&
         EXPECT_OK(vmm_virtio_net_create(v->t.vm, &vc, net, dev)) &&
         set_param(v, NG_PARAM_MODE, mode) &&
         set_param(v, NG_PARAM_PCI, pci) &&
         set_param(v, NG_PARAM_BASE, pci ? (uint64_t)vmm_virtio_pci_devfn(*dev)
                                         : vmm_virtio_mmio_base(*dev)) &&
         set_param(v, NG_PARAM_ID, id) && set_param(v, NG_PARAM_PEER, peer) &&
         set_param(v, NG_PARAM_COUNT, count);
}

static vmm_virtio_net_config_t sock_config(int fd) {
  vmm_virtio_net_config_t cfg = VMM_VIRTIO_NET_CONFIG_INIT;
  cfg.backend = VMM_NET_SOCKET;
  cfg.fd = fd;
  return cfg;
}

static uint64_t mac64(const uint8_t mac[6]) {
  uint64_t m = 0;
  for (int i = 0; i < 6; i++)
    m |= (uint64_t)mac[i] << (8 * i);
  return m;
}

/* Checks an exchange guest's syncs: config, ready, done with n each way. */
static void check_exchange(struct vt_vm *v, vmm_device_t *dev, uint32_t n) {
  uint8_t mac[6];
  if (!EXPECT_EQ(v->n_syncs, 3))
    return;
  EXPECT_EQ(v->syncs[0].args[0], NG_SYNC_CONFIG);
  if (EXPECT_OK(vmm_virtio_net_mac(dev, mac)))
    EXPECT_EQ(v->syncs[0].args[1], mac64(mac));
  EXPECT_EQ(v->syncs[0].args[2], 1); /* VIRTIO_NET_S_LINK_UP */
  uint64_t f = v->syncs[0].args[3];
  EXPECT_TRUE(f & (1ull << 32));   /* VERSION_1 */
  EXPECT_TRUE(f & (1ull << 5));    /* MAC */
  EXPECT_TRUE(f & (1ull << 16));   /* STATUS */
  const struct ucall *d = &v->syncs[2];
  EXPECT_EQ(d->args[0], NG_SYNC_DONE);
  EXPECT_EQ(d->args[1], n); /* sent */
  EXPECT_EQ(d->args[2], n); /* received */
  EXPECT_EQ(d->args[3], 0); /* bad */
  EXPECT_EQ(d->args[5], n); /* transmitted */
  EXPECT_TRUEF(vmm_device_error(dev) == NULL, "%s", vmm_device_error(dev));
}

/* ---- two VMs over a socketpair ------------------------------------------ */

static void run_pair(int type, uint64_t flags, uint32_t n) {
  struct vt_vm a, b;
  vmm_device_t *da = NULL, *db = NULL;
  int sv[2];
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  if (!EXPECT_OK(socketpair(AF_UNIX, type, 0, sv)))
    return;
  vmm_virtio_net_config_t ca = sock_config(sv[0]), cb = sock_config(sv[1]);
  bool ok = net_vm(&a, &da, &ca, NG_MODE_EXCHANGE, 1, 2, n);
  if (!da)
    close(sv[0]);
  ok = net_vm(&b, &db, &cb, NG_MODE_EXCHANGE, 2, 1, n) && ok;
  if (!db)
    close(sv[1]);
  if (ok && set_param(&a, NG_PARAM_FLAGS, flags) &&
      set_param(&b, NG_PARAM_FLAGS, flags) &&
      EXPECT_OK(vmm_vm_start(a.t.vm)) && EXPECT_OK(vmm_vm_start(b.t.vm))) {
    bool wa = vt_wait(&a), wb = vt_wait(&b);
    if (wa)
      check_exchange(&a, da, n);
    if (wb)
      check_exchange(&b, db, n);
    uint8_t ma[6], mb[6];
    if (EXPECT_OK(vmm_virtio_net_mac(da, ma)) &&
        EXPECT_OK(vmm_virtio_net_mac(db, mb)))
      EXPECT_TRUE(memcmp(ma, mb, 6) != 0);
  }
  vt_destroy(&a);
  vt_destroy(&b);
}

static void test_pair(void) { run_pair(SOCK_SEQPACKET, 0, N_FRAMES); }
static void test_pair_event_idx(void) {
  run_pair(SOCK_SEQPACKET, 3, N_FRAMES);
}
static void test_pair_dgram(void) { run_pair(SOCK_DGRAM, 1, N_FRAMES); }
static void test_pair_pci(void) {
  net_transport = VMM_VIRTIO_PCI;
  run_pair(SOCK_SEQPACKET, 1, N_FRAMES);
  net_transport = VMM_VIRTIO_MMIO;
}

/* ---- a VM and this program ---------------------------------------------- */

struct host_peer {
  int fd;
  uint32_t n;
  uint32_t sent, recvd, bad, foreign;
  pthread_t thread;
};

/* The host side of an exchange: hello first, the rest once the guest's
 * hello came, reading all the while. */
static void *host_peer_run(void *opaque) {
  struct host_peer *h = opaque;
  static const uint8_t src[6] = {0x02, 0, 0, 0, 0, HOST_ID};
  uint8_t frame[2048], in[70000];
  time_t end = time(NULL) + 60;
  while ((h->sent < h->n || h->recvd < h->n) && time(NULL) < end) {
    struct pollfd p = {.fd = h->fd, .events = POLLIN};
    if (h->sent < h->n && (h->sent == 0 || h->recvd > 0))
      p.events |= POLLOUT;
    if (poll(&p, 1, 100) <= 0)
      continue;
    if (p.revents & POLLIN) {
      ssize_t r = recv(h->fd, in, sizeof(in), MSG_DONTWAIT);
      uint8_t id;
      uint32_t seq;
      if (r > 0) {
        int c = ng_check(in, (uint32_t)r, &id, &seq);
        if (c == 0)
          h->foreign++;
        else if (c < 0 || id != 1 || seq != h->recvd)
          h->bad++, h->recvd++;
        else
          h->recvd++;
      } else if (r == 0) {
        break;
      }
    }
    if ((p.revents & POLLOUT) && h->sent < h->n) {
      uint32_t len = ng_build(frame, src, HOST_ID, h->sent);
      if (send(h->fd, frame, len, MSG_DONTWAIT) == (ssize_t)len)
        h->sent++;
    }
  }
  return NULL;
}

static void test_host(void) {
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  int sv[2];
  memset(&v, 0, sizeof(v));
  if (!EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)))
    return;
  struct host_peer h = {.fd = sv[1], .n = N_FRAMES};
  vmm_virtio_net_config_t cfg = sock_config(sv[0]);
  static const uint8_t want[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  memcpy(cfg.mac, want, 6);
  bool ok = net_vm(&v, &dev, &cfg, NG_MODE_EXCHANGE, 1, HOST_ID, N_FRAMES);
  if (!dev)
    close(sv[0]);
  if (ok && EXPECT_OK(vmm_vm_start(v.t.vm))) {
    pthread_create(&h.thread, NULL, host_peer_run, &h);
    if (vt_wait(&v))
      check_exchange(&v, dev, N_FRAMES);
    pthread_join(h.thread, NULL);
    EXPECT_EQ(h.sent, N_FRAMES);
    EXPECT_EQ(h.recvd, N_FRAMES);
    EXPECT_EQ(h.bad, 0);
    EXPECT_EQ(h.foreign, 0);
    uint8_t mac[6];
    if (EXPECT_OK(vmm_virtio_net_mac(dev, mac)))
      EXPECT_TRUE(memcmp(mac, want, 6) == 0);
  }
  vt_destroy(&v);
  close(sv[1]);
}

/* A socket back-end given by path: libvmm connects to a listening
 * SOCK_SEQPACKET socket (not under /tmp: some test machines have a /tmp
 * where unix sockets cannot be bound). */
static void test_socket_path(void) {
  char dir[] = "/dev/shm/vmmnetXXXXXX", path[64];
  if (!mkdtemp(dir)) {
    note("skipped: no /dev/shm directory: %s", strerror(errno));
    return;
  }
  snprintf(path, sizeof(path), "%s/net.sock", dir);
  int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  memset(&v, 0, sizeof(v));
  if (EXPECT_TRUE(l >= 0) &&
      EXPECT_OK(bind(l, (struct sockaddr *)&sa, sizeof(sa))) &&
      EXPECT_OK(listen(l, 1)) && VT_CREATE(&v, 0)) {
    vmm_virtio_net_config_t cfg = sock_config(-1);
    cfg.name = path;
    if (EXPECT_OK(vmm_virtio_net_create(v.t.vm, NULL, &cfg, &dev))) {
      int c = accept(l, NULL, NULL);
      struct host_peer h = {.fd = c, .n = 8};
      if (EXPECT_TRUE(c >= 0) &&
          set_param(&v, NG_PARAM_MODE, NG_MODE_EXCHANGE) &&
          set_param(&v, NG_PARAM_BASE, vmm_virtio_mmio_base(dev)) &&
          set_param(&v, NG_PARAM_ID, 1) &&
          set_param(&v, NG_PARAM_PEER, HOST_ID) &&
          set_param(&v, NG_PARAM_COUNT, 8) &&
          EXPECT_OK(vmm_vm_start(v.t.vm))) {
        pthread_create(&h.thread, NULL, host_peer_run, &h);
        if (vt_wait(&v))
          check_exchange(&v, dev, 8);
        pthread_join(h.thread, NULL);
        EXPECT_EQ(h.recvd, 8);
        EXPECT_EQ(h.bad, 0);
      }
      if (c >= 0)
        close(c);
    }
  }
  vt_destroy(&v);
  if (l >= 0)
    close(l);
  unlink(path);
  rmdir(dir);
}

/* ---- the link goes down when the peer hangs up ---------------------------- */

static void link_on_sync(struct vt_vm *v, const struct ucall *uc) {
  int *fd = v->opaque;
  if (uc->args[0] == NG_SYNC_READY && *fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static void test_link_down(void) {
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  int sv[2];
  memset(&v, 0, sizeof(v));
  if (!EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)))
    return;
  vmm_virtio_net_config_t cfg = sock_config(sv[0]);
  bool ok = net_vm(&v, &dev, &cfg, NG_MODE_LINK, 1, HOST_ID, 0);
  if (!dev)
    close(sv[0]);
  v.on_sync = link_on_sync;
  v.opaque = &sv[1];
  if (ok && EXPECT_OK(vmm_vm_start(v.t.vm)) && vt_wait(&v) &&
      EXPECT_EQ(v.n_syncs, 2)) {
    EXPECT_EQ(v.syncs[1].args[0], NG_SYNC_LINK);
    EXPECT_EQ(v.syncs[1].args[1], 1); /* up */
    EXPECT_EQ(v.syncs[1].args[2], 0); /* down */
    EXPECT_TRUE(vmm_device_error(dev) == NULL);
  }
  vt_destroy(&v);
  if (sv[1] >= 0)
    close(sv[1]);
}

/* ---- creation, MACs ------------------------------------------------------ */

static void test_create(void) {
  struct vt_vm v;
  vmm_device_t *a = NULL, *b = NULL, *dev = NULL, *rng = NULL;
  int sv[2], sv2[2], st[2];
  if (!VT_CREATE(&v, 0)) {
    vt_destroy(&v);
    return;
  }
  vmm_vm_t *vm = v.t.vm;
  if (!EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) ||
      !EXPECT_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv2)) ||
      !EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, st))) {
    vt_destroy(&v);
    return;
  }
  vmm_virtio_net_config_t cfg = sock_config(sv[0]);
  if (EXPECT_OK(vmm_virtio_net_create(vm, NULL, &cfg, &a))) {
    EXPECT_STR(vmm_device_type(a), "virtio-net");
    uint8_t mac[6];
    if (EXPECT_OK(vmm_virtio_net_mac(a, mac))) {
      EXPECT_EQ(mac[0] & 3, 2); /* unicast, locally administered */
      EXPECT_TRUE(mac64(mac) != 0);
    }
    /* The fd is libvmm's now, non-blocking and close-on-exec. */
    EXPECT_TRUE(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
  } else {
    close(sv[0]);
  }
  cfg = sock_config(sv2[0]);
  if (EXPECT_OK(vmm_virtio_net_create(vm, NULL, &cfg, &b))) {
    uint8_t m1[6], m2[6];
    if (EXPECT_OK(vmm_virtio_net_mac(a, m1)) &&
        EXPECT_OK(vmm_virtio_net_mac(b, m2)))
      EXPECT_TRUE(memcmp(m1, m2, 6) != 0);
  } else {
    close(sv2[0]);
  }
  /* On the PCI transport too. */
  int sp[2];
  if (EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp))) {
    vmm_virtio_config_t vc = VMM_VIRTIO_CONFIG_INIT;
    vc.transport = VMM_VIRTIO_PCI;
    vmm_device_t *p = NULL;
    cfg = sock_config(sp[0]);
    if (EXPECT_OK(vmm_virtio_net_create(vm, &vc, &cfg, &p))) {
      uint8_t m[6];
      EXPECT_TRUE(vmm_virtio_pci_devfn(p) > 0);
      EXPECT_OK(vmm_virtio_net_mac(p, m));
    } else {
      close(sp[0]);
    }
    close(sp[1]);
  }
  /* Refused: a stream socket, a non-socket, a multicast MAC, no back-end,
   * reserved fields, an unknown back-end; the caller keeps its fd. */
  cfg = sock_config(st[0]);
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  EXPECT_TRUE(fcntl(st[0], F_GETFD) >= 0);
  cfg = sock_config(0x7ffff);
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EBADF);
  cfg = sock_config(st[1]);
  cfg.mac[0] = 1;
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg = sock_config(-1);
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg.name = "/nonexistent/net.sock";
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_ENOENT);
  cfg = sock_config(st[1]);
  cfg.reserved32 = 1;
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  cfg = sock_config(st[1]);
  cfg.backend = 9;
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, &dev), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, NULL, &dev), VMM_EINVAL);
  cfg = sock_config(st[1]);
  EXPECT_RC(vmm_virtio_net_create(vm, NULL, &cfg, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_virtio_net_create(NULL, NULL, &cfg, &dev), VMM_EBADF);
  /* The MAC of what is not a virtio-net device. */
  uint8_t mac[6];
  EXPECT_RC(vmm_virtio_net_mac(NULL, mac), VMM_EBADF);
  if (EXPECT_OK(vmm_virtio_rng_create(vm, NULL, &rng)))
    EXPECT_RC(vmm_virtio_net_mac(rng, mac), VMM_EBADF);
  if (a)
    EXPECT_RC(vmm_virtio_net_mac(a, NULL), VMM_EINVAL);
  close(st[0]);
  close(st[1]);
  vt_destroy(&v); /* closes sv[0] and sv2[0] */
  close(sv[1]);
  close(sv2[1]);
}

/* ---- tap ----------------------------------------------------------------- */

#include <linux/if.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/ioctl.h>

static void test_tap(void) {
  if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
    note("skipped: the tap test needs root and /dev/net/tun");
    return;
  }
  char name[IFNAMSIZ];
  snprintf(name, sizeof(name), "vmmtest%d", (int)(getpid() % 100000));
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  memset(&v, 0, sizeof(v));
  vmm_virtio_net_config_t cfg = VMM_VIRTIO_NET_CONFIG_INIT;
  cfg.backend = VMM_NET_TAP;
  cfg.name = name;
  int rc = 0;
  if (!VT_CREATE(&v, 0))
    goto out;
  rc = vmm_virtio_net_create(v.t.vm, NULL, &cfg, &dev);
  if (rc == VMM_EPERM || rc == VMM_EIO) {
    note("skipped: cannot create tap %s here: %s", name, vmm_last_error());
    goto out;
  }
  if (!EXPECT_OK(rc))
    goto out;
  /* Bringing the interface up is the caller's job. No IPv6 chatter. */
  char path[128];
  snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
           name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("1", f);
    fclose(f);
  }
  int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(NG_ETHERTYPE));
  if (!EXPECT_TRUE(s >= 0))
    goto out;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  bool up = EXPECT_OK(ioctl(s, SIOCGIFFLAGS, &ifr));
  ifr.ifr_flags |= IFF_UP;
  up = up && EXPECT_OK(ioctl(s, SIOCSIFFLAGS, &ifr));
  up = up && EXPECT_OK(ioctl(s, SIOCGIFINDEX, &ifr));
  struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                            .sll_protocol = htons(NG_ETHERTYPE),
                            .sll_ifindex = ifr.ifr_ifindex};
  up = up && EXPECT_OK(bind(s, (struct sockaddr *)&sll, sizeof(sll)));
  struct host_peer h = {.fd = s, .n = 8};
  if (up && set_param(&v, NG_PARAM_MODE, NG_MODE_EXCHANGE) &&
      set_param(&v, NG_PARAM_BASE, vmm_virtio_mmio_base(dev)) &&
      set_param(&v, NG_PARAM_ID, 1) && set_param(&v, NG_PARAM_PEER, HOST_ID) &&
      set_param(&v, NG_PARAM_COUNT, 8) && EXPECT_OK(vmm_vm_start(v.t.vm))) {
    pthread_create(&h.thread, NULL, host_peer_run, &h);
    if (vt_wait(&v) && EXPECT_EQ(v.n_syncs, 3)) {
      EXPECT_EQ(v.syncs[2].args[1], 8); /* sent */
      EXPECT_EQ(v.syncs[2].args[2], 8); /* received from the host */
      EXPECT_EQ(v.syncs[2].args[3], 0);
    }
    pthread_join(h.thread, NULL);
    EXPECT_EQ(h.recvd, 8); /* the guest's frames, seen on the interface */
    EXPECT_EQ(h.bad, 0);
  }
  close(s);
out:
  vt_destroy(&v); /* the tap (not persistent) goes with its fd */
}

/* ---- rule breakers next to a working pair -------------------------------- */

struct bad_host {
  int fd;
};

/* The guest posted its bad receive buffer: a frame for it. */
static void bad_on_sync(struct vt_vm *v, const struct ucall *uc) {
  struct bad_host *b = v->opaque;
  static const uint8_t src[6] = {0x02, 0, 0, 0, 0, HOST_ID};
  uint8_t frame[2048];
  if (uc->args[0] == NG_SYNC_READY) {
    uint32_t len = ng_build(frame, src, HOST_ID, 0);
    ssize_t r = send(b->fd, frame, len, MSG_DONTWAIT);
    (void)r;
  }
}

static void run_bad(uint64_t c) {
  struct vt_vm bad, a, b;
  vmm_device_t *dbad = NULL, *da = NULL, *db = NULL;
  int hv[2], pv[2];
  memset(&bad, 0, sizeof(bad));
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  if (!EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, hv)))
    return;
  if (!EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pv))) {
    close(hv[0]);
    close(hv[1]);
    return;
  }
  struct bad_host bh = {hv[1]};
  vmm_virtio_net_config_t cbad = sock_config(hv[0]), ca = sock_config(pv[0]),
                          cb = sock_config(pv[1]);
  bool ok = net_vm(&bad, &dbad, &cbad, NG_MODE_BAD, 1, HOST_ID, 1);
  if (!dbad)
    close(hv[0]);
  ok = net_vm(&a, &da, &ca, NG_MODE_EXCHANGE, 1, 2, 16) && ok;
  if (!da)
    close(pv[0]);
  ok = net_vm(&b, &db, &cb, NG_MODE_EXCHANGE, 2, 1, 16) && ok;
  if (!db)
    close(pv[1]);
  bad.on_sync = bad_on_sync;
  bad.opaque = &bh;
  printf(" %llu", (unsigned long long)c);
  if (ok && set_param(&bad, NG_PARAM_CASE, c) &&
      EXPECT_OK(vmm_vm_start(a.t.vm)) && EXPECT_OK(vmm_vm_start(bad.t.vm)) &&
      EXPECT_OK(vmm_vm_start(b.t.vm))) {
    bool fails = c == NG_BAD_TX_WRITABLE || c == NG_BAD_RX_READONLY ||
                 c == NG_BAD_RX_TINY;
    if (vt_wait(&bad)) {
      /* RX cases: READY, BAD, READY (after the reset), DONE. */
      bool rx = c == NG_BAD_RX_READONLY || c == NG_BAD_RX_TINY;
      unsigned i = rx ? 1 : 0;
      if (EXPECT_EQ(bad.n_syncs, rx ? 4 : 2)) {
        const struct ucall *s = &bad.syncs[i];
        EXPECT_EQ(s->args[0], NG_SYNC_BAD);
        EXPECT_EQ(!!(s->args[2] & 64), fails); /* NEEDS_RESET */
        if (!fails)
          EXPECT_EQ(s->args[3], 0); /* given back, nothing written */
        const struct ucall *d = &bad.syncs[bad.n_syncs - 1];
        EXPECT_EQ(d->args[0], NG_SYNC_DONE);
        EXPECT_EQ(d->args[1] & 64, 0); /* recovered */
      }
      EXPECT_TRUEF((vmm_device_error(dbad) != NULL) == fails, "%s",
                   vmm_device_error(dbad) ? vmm_device_error(dbad) : "-");
      /* Exactly the one good frame came out. */
      uint8_t in[70000], id;
      uint32_t seq;
      struct pollfd p = {.fd = hv[1], .events = POLLIN};
      ssize_t r = poll(&p, 1, 5000) > 0
                      ? recv(hv[1], in, sizeof(in), MSG_DONTWAIT)
                      : -1;
      EXPECT_TRUEF(r > 0 && ng_check(in, (uint32_t)r, &id, &seq) == 1 &&
                       id == 1 && seq == 0,
                   "case %llu: no good frame (%zd bytes)",
                   (unsigned long long)c, r);
      EXPECT_TRUE(poll(&p, 1, 200) == 0);
    }
    if (vt_wait(&a))
      check_exchange(&a, da, 16);
    if (vt_wait(&b))
      check_exchange(&b, db, 16);
  }
  vt_destroy(&bad);
  vt_destroy(&a);
  vt_destroy(&b);
  close(hv[1]);
}

static void test_malicious(void) {
  for (uint64_t c = 1; c <= NG_BAD_COUNT; c++)
    run_bad(c);
  printf("\n");
}

static void test_malicious_pci(void) {
  net_transport = VMM_VIRTIO_PCI;
  test_malicious();
  net_transport = VMM_VIRTIO_MMIO;
}

/* ---- runner ------------------------------------------------------------- */

static const struct test_def tests[] = {
    {"create", test_create},
    {"pair", test_pair},
    {"pair_event_idx", test_pair_event_idx},
    {"pair_dgram", test_pair_dgram},
    {"pair_pci", test_pair_pci},
    {"socket_path", test_socket_path},
    {"host", test_host},
    {"link_down", test_link_down},
    {"tap", test_tap},
    {"malicious", test_malicious},
    {"malicious_pci", test_malicious_pci},
};

int main(int argc, char **argv) {
  /* A peer that hangs up must not kill the test with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  return vt_main(argc, argv, "net_test", "virtio-net", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
