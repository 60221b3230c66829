/* src/virtio/net.c — virtio-net (device id 1): receiveq 0 and transmitq 1,
 * no control queue, no offloads. Each frame is preceded by a 12-byte
 * struct virtio_net_hdr (VIRTIO_F_VERSION_1). Frames go to and come from
 * a back-end fd: a tap interface or a unix datagram/seqpacket socket (one
 * message, one frame).
 *
 * Threads: everything here runs on the VM's loop thread (doorbells and the
 * back-end's poll), except reset (locked, on a vCPU thread) and
 * create/destroy. Guest memory is touched only under
 * vmm__virtio_lock_queue(); back-end I/O is non-blocking.
 *
 * Drops: frames the guest sends that break a length or header rule, frames
 * the back-end refuses, and frames from the back-end that are too short or
 * do not fit the guest's buffer are dropped and counted (struct
 * net_stats), never silently. A chain that breaks the virtqueue rules
 * (a device-writable buffer on the transmitq, a device-readable one on
 * the receiveq, a receive buffer too small for the header) fails the
 * device (NEEDS_RESET) until the driver resets it.
 *
 * Link status (VIRTIO_NET_F_STATUS): up from the start; down for good, with
 * a configuration-change interrupt, once a SOCK_SEQPACKET peer hangs up. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "virtio/device.h"
#include "vm_internal.h"

#define VIRTIO_ID_NET 1
#define NET_RXQ 0 /* receiveq: back-end → guest */
#define NET_TXQ 1 /* transmitq: guest → back-end */

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1u

/* struct virtio_net_config as far as the features offered reach: mac[6],
 * status (le16). */
#define NET_CONFIG_SIZE 8

/* struct virtio_net_hdr with VIRTIO_F_VERSION_1: flags, gso_type, hdr_len,
 * gso_size, csum_start, csum_offset, num_buffers. */
#define NET_HDR_LEN 12
#define VIRTIO_NET_HDR_GSO_NONE 0

/* Frame lengths (Ethernet header included, virtio header not). */
#define NET_MIN_FRAME 14u
#define NET_MAX_FRAME 65550u

/* Frames handled in one pass before the loop serves others. */
#define NET_BUDGET 64u
/* How long a transmit waits for a full back-end before it drops (ms). */
#define NET_TX_WAIT_MS 20

struct net_stats {
  uint64_t tx_frames, tx_dropped; /* dropped: bad header/length, back-end */
  uint64_t rx_frames, rx_dropped; /* dropped: runt, too big for the buffer */
};

struct virtio_net {
  struct vmm__virtio_dev vdev; /* first */
  uint32_t backend;            /* vmm_net_backend_t */
  int fd;                      /* the back-end, non-blocking, CLOEXEC */
  int sock_type;               /* SOCKET: SOCK_SEQPACKET or SOCK_DGRAM */
  uint8_t mac[6];
  char name[108];              /* tap name or socket path ("" for an fd) */
  bool link_down;              /* locked: the back-end's peer hung up */
  /* Loop thread only. */
  struct vmm__poll *rx_poll;   /* armed while frames can be taken */
  bool hung_up;                /* the back-end ended: no more polling */
  bool tx_wanted, rx_wanted;   /* set by queue_notify, served unlocked */
  struct vmm__virtq_elem rx_elem, tx_elem;
  uint8_t *rx_buf, *tx_buf;    /* NET_HDR_LEN + NET_MAX_FRAME + 1 each */
  struct net_stats stats;
};

#define NET_BUF_SIZE (NET_HDR_LEN + NET_MAX_FRAME + 1)

static const struct vmm__virtio_ops net_ops;

static void net_config_read(struct vmm__virtio_dev *v, uint32_t off,
                            void *buf, uint32_t len) {
  struct virtio_net *n = (struct virtio_net *)v;
  uint8_t config[NET_CONFIG_SIZE];
  memcpy(config, n->mac, 6);
  config[6] = n->link_down ? 0 : VIRTIO_NET_S_LINK_UP; /* le16 status */
  config[7] = 0;
  memcpy(buf, config + off, len);
}

/* ---- transmit ---------------------------------------------------------- */

/* Loop thread, no lock: one frame to the back-end; false when the
 * back-end is gone for good (a deleted tap: EBADFD; a socket whose peer
 * closed: EPIPE, ECONNRESET). */
static bool net_send(struct virtio_net *n, const uint8_t *frame, size_t len) {
  for (int attempt = 0; attempt < 2; attempt++) {
    ssize_t r;
    if (n->backend == VMM_NET_SOCKET)
      r = send(n->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    else
      r = write(n->fd, frame, len);
    if (r == (ssize_t)len) {
      n->stats.tx_frames++;
      return true;
    }
    if (r < 0 && errno == EINTR) {
      attempt--;
      continue;
    }
    if (r < 0 && (errno == EBADFD || errno == EPIPE || errno == ECONNRESET)) {
      n->stats.tx_dropped++;
      return false;
    }
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS))
      break;
    /* The back-end is full: give its reader a moment, then drop. */
    struct pollfd p = {.fd = n->fd, .events = POLLOUT};
    if (attempt == 0 && poll(&p, 1, NET_TX_WAIT_MS) <= 0)
      break;
  }
  n->stats.tx_dropped++;
  return true;
}

static void net_rx_unpoll(struct virtio_net *n);

/* Locked (the device's lock): the back-end is gone; the link goes down
 * (a configuration change the driver hears about) and the back-end is not
 * polled again (the caller unpolls after unlocking). */
static void net_hang_up_locked(struct virtio_net *n) {
  struct vmm__virtio_dev *v = &n->vdev;
  if (n->hung_up)
    return;
  n->hung_up = true;
  n->link_down = true;
  v->config_generation++;
  v->transport->interrupt(v, VMM__VIRTIO_INT_CONFIG);
}

/* Loop thread, no lock: takes up to NET_BUDGET frames off the transmitq,
 * each copied out and given back before it is sent. */
static void net_tx(struct virtio_net *n) {
  struct vmm__virtio_dev *v = &n->vdev;
  for (unsigned budget = NET_BUDGET; budget; budget--) {
    if (!vmm__virtio_lock_queue(v, NET_TXQ))
      return;
    struct vmm__virtq *vq = &v->queues[NET_TXQ].vq;
    vmm__virtq_set_notify(vq, false);
    int rc = vmm__virtio_pop(v, NET_TXQ, &n->tx_elem);
    if (rc == 0) {
      /* Empty: ask for doorbells, then look once more (a chain may have
       * come while they were off). */
      vmm__virtq_set_notify(vq, true);
      if (vmm__virtq_has_avail(vq))
        rc = vmm__virtio_pop(v, NET_TXQ, &n->tx_elem);
    }
    if (rc <= 0) {
      vmm__virtio_unlock(v);
      return;
    }
    struct vmm__virtq_elem *e = &n->tx_elem;
    if (e->in_num) {
      vmm__virtio_fail(v, "transmitq: chain %u has a device-writable buffer; "
                       "frames are only read from device-readable ones",
                       e->head);
      vmm__virtio_unlock(v);
      return;
    }
    size_t len = 0;
    bool ok = false;
    uint8_t hdr[NET_HDR_LEN];
    if (e->out_len >= NET_HDR_LEN + NET_MIN_FRAME &&
        e->out_len <= NET_HDR_LEN + NET_MAX_FRAME &&
        vmm__virtq_elem_read(e, 0, hdr, NET_HDR_LEN) == NET_HDR_LEN) {
      /* No offloads were offered: no NEEDS_CSUM, no GSO. */
      uint8_t flags = hdr[0], gso_type = hdr[1];
      if (flags == 0 && gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        len = e->out_len - NET_HDR_LEN;
        ok = vmm__virtq_elem_read(e, NET_HDR_LEN, n->tx_buf, len) == len;
      }
    }
    vmm__virtio_push(v, NET_TXQ, e, 0);
    vmm__virtio_notify_used(v, NET_TXQ);
    vmm__virtio_unlock(v);
    if (!ok) {
      n->stats.tx_dropped++;
    } else if (!net_send(n, n->tx_buf, len)) {
      /* A deleted tap may not wake its readers (the kernel wakes them
       * before it detaches the file), so the transmit path says so too. */
      if (vmm__virtio_lock_queue(v, NET_TXQ)) {
        net_hang_up_locked(n);
        vmm__virtio_unlock(v);
      }
      net_rx_unpoll(n);
    }
  }
  /* More may wait: come back through the doorbell after the others. */
  vmm__virtio_kick(v, NET_TXQ);
}

/* ---- receive ----------------------------------------------------------- */

static void net_rx_readable(void *opaque);

/* Loop thread: stop polling the back-end until the driver adds buffers. */
static void net_rx_unpoll(struct virtio_net *n) {
  if (n->rx_poll) {
    vmm__loop_poll_close(n->rx_poll);
    n->rx_poll = NULL;
  }
}

/* Loop thread (or before start): poll the back-end again. */
static void net_rx_arm(struct virtio_net *n) {
  if (n->rx_poll || n->fd < 0 || n->hung_up)
    return;
  if (vmm__loop_poll(n->vdev.base.vm, n->fd, net_rx_readable, n,
                     &n->rx_poll) < 0)
    n->rx_poll = NULL;
}

/* Reads one message into rx_buf after the header room: its length, 0 for
 * nothing now, or -1 when the back-end ended. */
static ssize_t net_recv(struct virtio_net *n) {
  for (;;) {
    ssize_t r;
    if (n->backend == VMM_NET_SOCKET)
      r = recv(n->fd, n->rx_buf + NET_HDR_LEN, NET_MAX_FRAME + 1,
               MSG_DONTWAIT | MSG_TRUNC);
    else
      r = read(n->fd, n->rx_buf + NET_HDR_LEN, NET_MAX_FRAME + 1);
    if (r > 0)
      return r;
    if (r == 0) {
      /* A stream-like socket at its end; an empty datagram is a runt. */
      if (n->backend == VMM_NET_SOCKET && n->sock_type == SOCK_SEQPACKET)
        return -1;
      n->stats.rx_dropped++;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    if (errno == ECONNREFUSED || errno == ENOBUFS || errno == EIO) {
      n->stats.rx_dropped++; /* transient: the next one may do */
      return 0;
    }
    return -1;
  }
}

/* Loop thread: the back-end has frames. Each goes into the next receive
 * buffer; with none available, polling stops until the driver's doorbell
 * (queue_notify) arms it again. */
static void net_rx_readable(void *opaque) {
  struct virtio_net *n = opaque;
  struct vmm__virtio_dev *v = &n->vdev;
  for (unsigned budget = NET_BUDGET; budget; budget--) {
    if (!vmm__virtio_lock_queue(v, NET_RXQ)) {
      net_rx_unpoll(n); /* not serving: DRIVER_OK's kick re-arms */
      return;
    }
    struct vmm__virtq *vq = &v->queues[NET_RXQ].vq;
    if (!vmm__virtq_has_avail(vq)) {
      vmm__virtq_set_notify(vq, true);
      if (!vmm__virtq_has_avail(vq)) {
        vmm__virtio_unlock(v);
        net_rx_unpoll(n);
        return;
      }
    }
    /* Only this thread pops the receiveq: the buffer stays available. */
    ssize_t r = net_recv(n);
    if (r <= 0) {
      if (r < 0)
        net_hang_up_locked(n); /* the peer is gone */
      vmm__virtio_unlock(v);
      if (r < 0)
        net_rx_unpoll(n);
      return;
    }
    size_t len = (size_t)r;
    if (len < NET_MIN_FRAME || len > NET_MAX_FRAME) {
      n->stats.rx_dropped++;
      vmm__virtio_unlock(v);
      continue;
    }
    int rc = vmm__virtio_pop(v, NET_RXQ, &n->rx_elem);
    if (rc <= 0) { /* 0 cannot happen (checked above); <0: failed */
      n->stats.rx_dropped++;
      vmm__virtio_unlock(v);
      net_rx_unpoll(n);
      return;
    }
    struct vmm__virtq_elem *e = &n->rx_elem;
    if (e->out_num || e->in_len < NET_HDR_LEN) {
      vmm__virtio_fail(v, "receiveq: chain %u %s", e->head,
                       e->out_num ? "has a device-readable buffer; frames "
                                    "only go into device-writable ones"
                                  : "cannot hold the 12-byte header");
      n->stats.rx_dropped++;
      vmm__virtio_unlock(v);
      net_rx_unpoll(n);
      return;
    }
    uint32_t written = 0;
    if (len <= e->in_len - NET_HDR_LEN) {
      /* flags 0, gso_type NONE, the rest 0, num_buffers 1. */
      memset(n->rx_buf, 0, NET_HDR_LEN);
      n->rx_buf[10] = 1;
      written = (uint32_t)vmm__virtq_elem_write(e, 0, n->rx_buf,
                                                NET_HDR_LEN + len);
      n->stats.rx_frames++;
    } else {
      n->stats.rx_dropped++; /* the driver's buffer is too small */
    }
    vmm__virtio_push(v, NET_RXQ, e, written);
    vmm__virtio_notify_used(v, NET_RXQ);
    vmm__virtio_unlock(v);
  }
  /* Budget spent: the poll is level-triggered and calls again. */
}

/* ---- the device -------------------------------------------------------- */

static void net_queue_notify(struct vmm__virtio_dev *v, uint16_t q) {
  struct virtio_net *n = (struct virtio_net *)v;
  if (q == NET_RXQ)
    n->rx_wanted = true;
  else if (q == NET_TXQ)
    n->tx_wanted = true;
}

static void net_unlocked(struct vmm__virtio_dev *v) {
  struct virtio_net *n = (struct virtio_net *)v;
  if (n->tx_wanted) {
    n->tx_wanted = false;
    net_tx(n);
  }
  if (n->rx_wanted) {
    n->rx_wanted = false;
    net_rx_arm(n);
  }
}

static void net_destroy(struct vmm__virtio_dev *v) {
  struct virtio_net *n = (struct virtio_net *)v;
  net_rx_unpoll(n);
  if (n->fd >= 0)
    close(n->fd);
  n->fd = -1;
  vmm__virtq_elem_free(&n->rx_elem);
  vmm__virtq_elem_free(&n->tx_elem);
  free(n->rx_buf);
  free(n->tx_buf);
}

static void net_describe(const vmm_device_t *dev,
                         struct vmm__device_desc *d) {
  const struct virtio_net *n = (const struct virtio_net *)dev;
  d->net_backend = n->backend;
  d->path = n->name[0] ? n->name : NULL;
  memcpy(d->mac, n->mac, 6);
}

static const struct vmm__virtio_ops net_ops = {
    /* Frames move within one loop callback: the common virtio part is all
     * its state. The link status follows the back-end of the VM the state
     * is loaded into (a new socket is up). */
    .base = {.type = "virtio-net", .destroy = vmm__virtio_destroy,
             .describe = net_describe, .save = vmm__virtio_save,
             .load = vmm__virtio_load},
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .features = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
    .config_size = NET_CONFIG_SIZE,
    .queue_names = {"receiveq", "transmitq"},
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .unlocked = net_unlocked,
    .destroy = net_destroy,
};

/* ---- back-ends --------------------------------------------------------- */

static int set_fd_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

/* Checks a caller's fd: a unix socket of a message type. */
static int socket_check(int fd, int *type, const char *fn) {
  int domain = 0;
  socklen_t l = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
    return vmm__error(errno == EBADF ? VMM_EBADF : VMM_EINVAL,
                      "%s: fd %d is not a socket: %s", fn, fd,
                      strerror(errno));
  l = sizeof(*type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &l) < 0)
    return vmm__error(VMM_EINVAL, "%s: fd %d: %s", fn, fd, strerror(errno));
  if (domain != AF_UNIX || (*type != SOCK_SEQPACKET && *type != SOCK_DGRAM))
    return vmm__error(VMM_EINVAL, "%s: fd %d is not a SOCK_SEQPACKET or "
                      "SOCK_DGRAM unix socket", fn, fd);
  if (set_fd_flags(fd) < 0)
    return vmm__error(VMM_EIO, "%s: fd %d: fcntl: %s", fn, fd,
                      strerror(errno));
  return 0;
}

static int socket_connect(const char *path, int *fd_out, int *type,
                          const char *fn) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path))
    return vmm__error(VMM_EINVAL, "%s: socket path '%s' is too long", fn,
                      path);
  strcpy(sa.sun_path, path);
  static const int types[] = {SOCK_SEQPACKET, SOCK_DGRAM};
  int err = 0;
  for (size_t i = 0; i < 2; i++) {
    int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return vmm__error(VMM_EIO, "%s: socket: %s", fn, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        set_fd_flags(fd) == 0) {
      *fd_out = fd;
      *type = types[i];
      return 0;
    }
    err = errno;
    close(fd);
    if (err != EPROTOTYPE)
      break;
  }
  return vmm__error(err == ENOENT ? VMM_ENOENT : VMM_EIO,
                    "%s: connecting to '%s': %s", fn, path, strerror(err));
}

static int tap_open(const char *name, int *fd_out, const char *fn) {
  struct ifreq ifr;
  if (!name || !name[0] || strlen(name) >= sizeof(ifr.ifr_name))
    return vmm__error(VMM_EINVAL, "%s: a tap interface name of 1 to %zu "
                      "characters is needed", fn, sizeof(ifr.ifr_name) - 1);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return vmm__error(errno == EACCES || errno == EPERM ? VMM_EPERM
                                                         : VMM_EIO,
                      "%s: /dev/net/tun: %s", fn, strerror(errno));
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strcpy(ifr.ifr_name, name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return vmm__error(err == EPERM ? VMM_EPERM : VMM_EIO,
                      "%s: TUNSETIFF '%s': %s", fn, name, strerror(err));
  }
  *fd_out = fd;
  return 0;
}

/* ---- public ------------------------------------------------------------ */

static int net_config_copy(const vmm_virtio_net_config_t *in,
                           vmm_virtio_net_config_t *cfg, const char *fn) {
  static const vmm_virtio_net_config_t defaults = VMM_VIRTIO_NET_CONFIG_INIT;
  *cfg = defaults;
  if (!in)
    return vmm__error(VMM_EINVAL, "%s: the net configuration is NULL", fn);
  if (in->size < offsetof(vmm_virtio_net_config_t, reserved16))
    return vmm__error(VMM_EINVAL, "%s: vmm_virtio_net_config_t.size %zu is "
                      "too small", fn, in->size);
  if (in->size > sizeof(*cfg)) {
    const uint8_t *extra = (const uint8_t *)in + sizeof(*cfg);
    for (size_t i = 0; i < in->size - sizeof(*cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "%s: vmm_virtio_net_config_t has "
                          "fields libvmm %s does not know set", fn,
                          vmm_version_string());
  }
  memcpy(cfg, in, in->size < sizeof(*cfg) ? in->size : sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  if (cfg->reserved16 || cfg->reserved32)
    return vmm__error(VMM_EINVAL, "%s: reserved fields of "
                      "vmm_virtio_net_config_t must be 0", fn);
  if (cfg->backend != VMM_NET_TAP && cfg->backend != VMM_NET_SOCKET)
    return vmm__error(VMM_EINVAL, "%s: unknown net back-end %u", fn,
                      cfg->backend);
  if (cfg->backend == VMM_NET_SOCKET && cfg->fd < 0 && !cfg->name)
    return vmm__error(VMM_EINVAL, "%s: a socket back-end needs an fd or a "
                      "path", fn);
  if (cfg->mac[0] & 1)
    return vmm__error(VMM_EINVAL, "%s: %02x:%02x:%02x:%02x:%02x:%02x is a "
                      "multicast address", fn, cfg->mac[0], cfg->mac[1],
                      cfg->mac[2], cfg->mac[3], cfg->mac[4], cfg->mac[5]);
  return 0;
}

int vmm_virtio_net_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          const vmm_virtio_net_config_t *net,
                          vmm_device_t **out) {
  static const char fn[] = "vmm_virtio_net_create";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  vmm_virtio_net_config_t cfg;
  int rc = net_config_copy(net, &cfg, fn);
  if (rc < 0)
    return rc;
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: devices are added before "
                      "vmm_vm_start()", fn);

  /* The back-end first: a caller's fd becomes libvmm's only on success. */
  int fd = -1, type = 0;
  bool own_fd = false;
  if (cfg.backend == VMM_NET_TAP) {
    rc = tap_open(cfg.name, &fd, fn);
    own_fd = true;
  } else if (cfg.fd >= 0) {
    fd = cfg.fd;
    rc = socket_check(fd, &type, fn);
  } else {
    rc = socket_connect(cfg.name, &fd, &type, fn);
    own_fd = true;
  }
  if (rc < 0)
    return rc;

  struct virtio_net *n = calloc(1, sizeof(*n));
  if (n) {
    n->rx_buf = malloc(NET_BUF_SIZE);
    n->tx_buf = malloc(NET_BUF_SIZE);
  }
  if (!n || !n->rx_buf || !n->tx_buf) {
    if (n) {
      free(n->rx_buf);
      free(n->tx_buf);
    }
    free(n);
    if (own_fd)
      close(fd);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  n->fd = -1;
  n->backend = cfg.backend;
  if (cfg.fd < 0 && cfg.name)
    snprintf(n->name, sizeof(n->name), "%s", cfg.name);
  n->sock_type = type;
  memcpy(n->mac, cfg.mac, 6);
  static const uint8_t zero[6];
  if (!memcmp(n->mac, zero, 6)) {
    if (getrandom(n->mac, 6, 0) != 6) {
      /* No entropy: still a unique-enough address per device. */
      uintptr_t p = (uintptr_t)n ^ (uintptr_t)getpid();
      memcpy(n->mac + 2, &p, 4);
    }
    n->mac[0] = (uint8_t)((n->mac[0] & 0xfe) | 0x02); /* unicast, local */
  }
  rc = vmm__virtio_init(&n->vdev, vm, &net_ops, config);
  if (rc < 0) {
    free(n->rx_buf);
    free(n->tx_buf);
    free(n);
    if (own_fd)
      close(fd);
    return vmm__error_prefix(rc, fn);
  }
  /* The device is the VM's now (freed with it), and so is the fd. */
  n->fd = fd;
  net_rx_arm(n);
  *out = &n->vdev.base;
  return 0;
}

int vmm_virtio_net_mac(const vmm_device_t *dev, uint8_t mac[6]) {
  if (!vmm__handle_valid(dev, VMM__H_DEVICE) || dev->ops != &net_ops.base)
    return vmm__error(VMM_EBADF, "vmm_virtio_net_mac: not a virtio-net "
                      "device");
  if (!mac)
    return vmm__error(VMM_EINVAL, "vmm_virtio_net_mac: mac is NULL");
  memcpy(mac, ((const struct virtio_net *)dev)->mac, 6);
  return 0;
}
