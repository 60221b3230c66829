/* src/gdbstub/gdbstub.c — the gdb stub's server: its socket and thread,
 * the stop/resume protocol with the vCPU threads (run.c's debug hold),
 * and the hooks the run loop calls. Commands are in commands.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "gdbstub_priv.h"
#include "irq_internal.h"
#include "regs.h"
#include "run_internal.h"
#include "vm_internal.h"

/*
 * Threads: one server thread per stub owns the socket, the breakpoint
 * table and the protocol state. vCPU threads only report stop events
 * (debug exits, planted INT3s) under `mu` and wake the server through a
 * pipe. While gdb looks at the VM every vCPU thread is parked by run.c's
 * debug hold, so register and memory calls never race with the guest.
 */

#define RFLAGS_TF (1ull << 8)

static struct vmm__gdbstub *stub_of(vmm_vm_t *vm) {
  struct vmm__gdbstub *gs = atomic_load(&vm->gdb);
  return gs && atomic_load(&gs->active) ? gs : NULL;
}

static void wake(struct vmm__gdbstub *gs) {
  char c = 1;
  ssize_t n = write(gs->wake[1], &c, 1);
  (void)n; /* a full pipe already holds a wake-up */
}

/* ---- hooks on vCPU threads ---------------------------------------------- */

bool vmm__gdbstub_debug_exit(vmm_vcpu_t *vcpu, vmm_exit_t *exit) {
  struct vmm__gdbstub *gs = stub_of(vcpu->vm);
  if (!gs)
    return false;
  pthread_mutex_lock(&gs->mu);
  bool mine = gs->attached;
  if (mine && !gs->ev_pending) {
    gs->ev_pending = true;
    gs->ev_vcpu = vcpu->id;
    gs->ev_sig = 5; /* SIGTRAP */
    gs->ev_kind = VMM__GDB_EV_STEP;
    gs->ev_addr = 0;
    if (exit->u.debug.exception == 3) {
      gs->ev_kind = VMM__GDB_EV_SWBREAK;
    } else if (exit->u.debug.dr6 & 0xf) {
      int slot = __builtin_ctzll(exit->u.debug.dr6 & 0xf);
      struct vmm__gdb_bp *bp = vmm__gdb_bp_of_slot(gs, slot);
      if (bp) {
        gs->ev_kind = bp->type == 0   ? VMM__GDB_EV_SWBREAK
                      : bp->type == 1 ? VMM__GDB_EV_HWBREAK
                                      : VMM__GDB_EV_WATCH;
        gs->ev_watch_type = bp->type;
        gs->ev_addr = bp->addr;
      }
    }
  }
  pthread_mutex_unlock(&gs->mu);
  if (!mine)
    return false;
  vmm__run_debug_hold(vcpu->vm, true, UINT32_MAX);
  wake(gs);
  return true;
}

bool vmm__gdbstub_int3(vmm_vcpu_t *vcpu, vmm_exit_t *exit) {
  struct vmm__gdbstub *gs = stub_of(vcpu->vm);
  if (!gs)
    return false;
  if (exit->u.internal.insn_len > 0 && exit->u.internal.insn[0] != 0xcc)
    return false;
  uint64_t rip = exit->u.internal.rip;
  pthread_mutex_lock(&gs->mu);
  bool mine = false;
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++)
    if (gs->bps[i].used && gs->bps[i].slot < 0 && gs->bps[i].addr == rip)
      mine = true;
  pthread_mutex_unlock(&gs->mu);
  if (!mine)
    return false;
  memset(&exit->u, 0, sizeof(exit->u));
  exit->reason = VMM_EXIT_DEBUG;
  exit->u.debug.exception = 3;
  exit->u.debug.rip = rip;
  return true;
}

void vmm__gdbstub_vm_stopped(vmm_vm_t *vm) {
  struct vmm__gdbstub *gs = stub_of(vm);
  if (gs)
    wake(gs);
}

/* ---- sending ------------------------------------------------------------ */

static int send_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int vmm__gdb_send(struct vmm__gdbstub *gs, const void *body, size_t len) {
  long n = vmm__gdb_frame(body, len, gs->out, sizeof(gs->out));
  if (n < 0) /* cannot happen with bodies bounded by the packet size */
    n = vmm__gdb_frame((const uint8_t *)"E01", 3, gs->out, sizeof(gs->out));
  gs->out_len = (size_t)n;
  return send_all(gs->cfd, gs->out, gs->out_len);
}

int vmm__gdb_send_str(struct vmm__gdbstub *gs, const char *s) {
  return vmm__gdb_send(gs, s, strlen(s));
}

/* ---- stopping and resuming the VM ---------------------------------------- */

/* Waits for every vCPU thread to park after a hold; false when the VM
 * stopped meanwhile (gdb then hears it exited). */
static bool wait_parked(struct vmm__gdbstub *gs) {
  for (int tries = 0; tries < 30; tries++) {
    if (vmm__run_debug_wait(gs->vm, 1000))
      return !vmm__run_all_exited(gs->vm);
    if (vmm__run_all_exited(gs->vm))
      return false;
  }
  return true; /* a vCPU that does not come back: state calls say EBUSY */
}

/* The debug settings of every vCPU for the next resume: breakpoints in
 * the debug registers, INT3 interception, single step on `step`. */
static int apply_debug(struct vmm__gdbstub *gs, uint32_t step) {
  vmm_vm_t *vm = gs->vm;
  uint64_t dr[8];
  bool hw = vmm__gdb_debugregs(gs, dr);
  bool sw = false;
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++)
    sw |= gs->bps[i].used && gs->bps[i].slot < 0;
  for (uint32_t i = 0; i < vm->max_vcpus; i++) {
    vmm_vcpu_t *v = vm->vcpus[i];
    if (!v || !gs->attached)
      continue;
    uint32_t flags = (hw ? VMM__DEBUG_HW_BREAKPOINTS : 0) |
                     (sw ? VMM_DEBUG_SW_BREAKPOINTS : 0) |
                     (i == step ? VMM_DEBUG_SINGLESTEP : 0);
    int rc = vm->ops->set_debug(v->bvcpu, flags, hw ? dr : NULL);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int vmm__gdb_resume(struct vmm__gdbstub *gs, uint32_t step) {
  int rc = apply_debug(gs, step);
  if (rc < 0)
    return rc;
  gs->step_vcpu = step;
  if (step != UINT32_MAX) {
    vmm_regs_t r;
    gs->step_tf = vmm_vcpu_get_regs(gs->vm->vcpus[step], &r) == 0 &&
                  (r.rflags & RFLAGS_TF);
  }
  pthread_mutex_lock(&gs->mu);
  gs->ev_pending = false;
  pthread_mutex_unlock(&gs->mu);
  gs->running = true;
  /* While one vCPU steps the others stay parked, so that the step ends
   * on the instruction gdb asked for. */
  vmm__run_debug_hold(gs->vm, step != UINT32_MAX, step);
  return 0;
}

/* Builds the stop reply for the current event into gs->last_stop. */
static void make_stop_reply(struct vmm__gdbstub *gs) {
  pthread_mutex_lock(&gs->mu);
  uint32_t id = gs->ev_vcpu;
  int sig = gs->ev_sig, kind = gs->ev_kind, wtype = gs->ev_watch_type;
  uint64_t addr = gs->ev_addr;
  pthread_mutex_unlock(&gs->mu);
  int n = snprintf(gs->last_stop, sizeof(gs->last_stop),
                   "T%02xthread:%x;", sig, id + 1);
  if (kind == VMM__GDB_EV_SWBREAK && gs->swbreak)
    snprintf(gs->last_stop + n, sizeof(gs->last_stop) - (size_t)n,
             "swbreak:;");
  else if (kind == VMM__GDB_EV_HWBREAK && gs->hwbreak)
    snprintf(gs->last_stop + n, sizeof(gs->last_stop) - (size_t)n,
             "hwbreak:;");
  else if (kind == VMM__GDB_EV_WATCH)
    snprintf(gs->last_stop + n, sizeof(gs->last_stop) - (size_t)n,
             "%s:%llx;", wtype == 2 ? "watch" : wtype == 3 ? "rwatch"
                                                           : "awatch",
             (unsigned long long)addr);
  gs->cur = id;
}

/* The VM ended while gdb watched: "W<status>". */
static void report_exit(struct vmm__gdbstub *gs) {
  vmm_vm_stop_info_t info;
  vmm__run_stop_info(gs->vm, &info);
  snprintf(gs->last_stop, sizeof(gs->last_stop), "W%02x",
           (unsigned)info.status & 0xff);
  gs->running = false;
  gs->exited = true;
  vmm__gdb_send_str(gs, gs->last_stop);
}

/* The server heard a stop event (or Ctrl-C): park everyone, answer. */
static void report_stop(struct vmm__gdbstub *gs) {
  vmm__run_debug_hold(gs->vm, true, UINT32_MAX);
  if (!wait_parked(gs)) {
    report_exit(gs);
    return;
  }
  make_stop_reply(gs);
  /* Single step and breakpoints stay off while gdb looks. */
  apply_debug(gs, UINT32_MAX);
  if (gs->step_vcpu != UINT32_MAX) {
    /* KVM steps by setting RFLAGS.TF; on this machine's KVM it was seen
     * left set after a step in ring 3, so the guest took a #DB of its own
     * later. The stub clears what the guest did not set itself. */
    vmm_vcpu_t *v = gs->vm->vcpus[gs->step_vcpu];
    vmm_regs_t r;
    if (!gs->step_tf && vmm_vcpu_get_regs(v, &r) == 0 &&
        (r.rflags & RFLAGS_TF)) {
      r.rflags &= ~RFLAGS_TF;
      vmm_vcpu_set_regs(v, &r);
    }
    gs->step_vcpu = UINT32_MAX;
  }
  gs->running = false;
  vmm__gdb_send_str(gs, gs->last_stop);
}

uint32_t vmm__gdb_first_vcpu(struct vmm__gdbstub *gs) {
  for (uint32_t i = 0; i < gs->vm->max_vcpus; i++)
    if (gs->vm->vcpus[i])
      return i;
  return 0;
}

/* ---- connection ------------------------------------------------------------- */

static void attach(struct vmm__gdbstub *gs, int fd) {
  gs->cfd = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  vmm__gdb_rx_init(&gs->rx);
  gs->no_ack = false;
  gs->swbreak = gs->hwbreak = false;
  gs->exited = false;
  gs->step_vcpu = gs->cont = UINT32_MAX;
  pthread_mutex_lock(&gs->mu);
  gs->attached = true;
  gs->ev_pending = false;
  gs->ev_vcpu = vmm__gdb_first_vcpu(gs);
  gs->ev_sig = 5;
  gs->ev_kind = VMM__GDB_EV_STEP;
  pthread_mutex_unlock(&gs->mu);
  vmm__run_debug_hold(gs->vm, true, UINT32_MAX);
  if (!wait_parked(gs))
    gs->exited = true;
  make_stop_reply(gs);
  /* The layout gdb gets for this connection: that of the vCPU's mode. */
  struct vmm__gdb_state st;
  gs->arch = VMM__GDB_ARCH_64;
  if (!gs->exited &&
      vmm__gdb_state_get(gs->vm->vcpus[gs->cur], &st) == 0)
    gs->arch = vmm__gdb_arch_of(&st);
  if (gs->exited) {
    vmm_vm_stop_info_t info;
    vmm__run_stop_info(gs->vm, &info);
    snprintf(gs->last_stop, sizeof(gs->last_stop), "W%02x",
             (unsigned)info.status & 0xff);
  }
  gs->running = false;
}

void vmm__gdb_detach(struct vmm__gdbstub *gs) {
  if (gs->cfd < 0)
    return;
  vmm__gdb_bps_clear(gs);
  apply_debug(gs, UINT32_MAX);
  vmm_vm_t *vm = gs->vm;
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    if (vm->vcpus[i])
      vm->ops->set_debug(vm->vcpus[i]->bvcpu, 0, NULL);
  pthread_mutex_lock(&gs->mu);
  gs->attached = false;
  gs->ev_pending = false;
  pthread_mutex_unlock(&gs->mu);
  close(gs->cfd);
  gs->cfd = -1;
  gs->running = false;
  vmm__run_debug_hold(vm, false, UINT32_MAX);
}

/* Feeds received bytes to the packet layer; false when the connection is
 * to be closed. */
static bool on_bytes(struct vmm__gdbstub *gs, const uint8_t *buf, size_t n) {
  for (size_t i = 0; i < n && gs->cfd >= 0; i++) {
    switch (vmm__gdb_rx_byte(&gs->rx, buf[i])) {
    case VMM__GDB_RX_PACKET:
      /* A failed ack is not fatal: "$k#6b" and a hang-up arrive together,
       * and the kill must still happen. */
      if (!gs->no_ack)
        send_all(gs->cfd, "+", 1);
      if (vmm__gdb_command(gs, (const char *)gs->rx.data, gs->rx.len) < 0)
        return false;
      break;
    case VMM__GDB_RX_BAD:
      if (!gs->no_ack && send_all(gs->cfd, "-", 1) < 0)
        return false;
      break;
    case VMM__GDB_RX_NACK:
      if (gs->out_len && send_all(gs->cfd, gs->out, gs->out_len) < 0)
        return false;
      break;
    case VMM__GDB_RX_INTERRUPT:
      if (gs->running) {
        pthread_mutex_lock(&gs->mu);
        if (!gs->ev_pending) {
          gs->ev_pending = true;
          gs->ev_vcpu = gs->cur;
          gs->ev_sig = 2; /* SIGINT */
          gs->ev_kind = VMM__GDB_EV_STEP;
        }
        pthread_mutex_unlock(&gs->mu);
        report_stop(gs);
      }
      break;
    default:
      break;
    }
  }
  return gs->cfd >= 0;
}

static void *server_main(void *arg) {
  struct vmm__gdbstub *gs = arg;
  uint8_t buf[4096];
  while (!atomic_load(&gs->quit)) {
    struct pollfd p[2] = {{gs->wake[0], POLLIN, 0},
                          {gs->cfd >= 0 ? gs->cfd : gs->lfd, POLLIN, 0}};
    int n = poll(p, 2, 500);
    if (n < 0 && errno != EINTR)
      break;
    if (p[0].revents & POLLIN) {
      while (read(gs->wake[0], buf, sizeof(buf)) > 0)
        ;
    }
    if (gs->cfd >= 0 && gs->running) {
      pthread_mutex_lock(&gs->mu);
      bool ev = gs->ev_pending;
      pthread_mutex_unlock(&gs->mu);
      if (ev)
        report_stop(gs);
      else if (vmm__run_all_exited(gs->vm))
        report_exit(gs);
    }
    if (n <= 0 || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    if (gs->cfd < 0) {
      int fd = accept4(gs->lfd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0)
        attach(gs, fd);
      continue;
    }
    ssize_t r = read(gs->cfd, buf, sizeof(buf));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (r <= 0 || !on_bytes(gs, buf, (size_t)r))
      vmm__gdb_detach(gs);
  }
  /* Stopped (often right after the VM ended): gdb still hears the end. */
  if (gs->cfd >= 0 && gs->running && vmm__run_all_exited(gs->vm))
    report_exit(gs);
  vmm__gdb_detach(gs);
  return NULL;
}

/* ---- listening ---------------------------------------------------------------- */

static int listen_on(struct vmm__gdbstub *gs, const char *addr) {
  int fd;
  if (strncmp(addr, "unix:", 5) == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = addr + 5;
    if (!*path || strlen(path) >= sizeof(sa.sun_path))
      return vmm__error(VMM_EINVAL, "vmm_gdbstub_start: bad unix socket "
                        "path in \"%s\"", addr);
    memcpy(sa.sun_path, path, strlen(path));
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
      unlink(path); /* a stale socket of an earlier run */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0) {
      int e = errno;
      if (fd >= 0)
        close(fd);
      return vmm__error(VMM_EIO, "vmm_gdbstub_start: cannot listen on %s: "
                        "%s", path, strerror(e));
    }
    snprintf(gs->path, sizeof(gs->path), "%s", path);
  } else if (strncmp(addr, "tcp:", 4) == 0) {
    char host[64];
    const char *colon = strrchr(addr + 4, ':');
    size_t hl = colon ? (size_t)(colon - (addr + 4)) : 0;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!colon || hl == 0 || hl >= sizeof(host) || !end || *end ||
        port < 0 || port > 65535)
      return vmm__error(VMM_EINVAL, "vmm_gdbstub_start: \"%s\" is not "
                        "tcp:HOST:PORT", addr);
    memcpy(host, addr + 4, hl);
    host[hl] = 0;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
      return vmm__error(VMM_EINVAL, "vmm_gdbstub_start: \"%s\" is not an "
                        "IPv4 address", host);
    sa.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0) {
      int e = errno;
      if (fd >= 0)
        close(fd);
      return vmm__error(e == EADDRINUSE ? VMM_EBUSY : VMM_EIO,
                        "vmm_gdbstub_start: cannot listen on %s: %s", addr,
                        strerror(e));
    }
  } else {
    return vmm__error(VMM_EINVAL, "vmm_gdbstub_start: address \"%s\" is "
                      "neither tcp:HOST:PORT nor unix:PATH", addr);
  }
  gs->lfd = fd;
  return 0;
}

int vmm_gdbstub_start(vmm_vm_t *vm, const char *addr) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_gdbstub_start: not a live VM handle");
  if (!addr)
    return vmm__error(VMM_EINVAL, "vmm_gdbstub_start: addr is NULL");
  struct vmm__gdbstub *gs = atomic_load(&vm->gdb);
  if (gs && atomic_load(&gs->active))
    return vmm__error(VMM_EBUSY, "vmm_gdbstub_start: a gdb stub already "
                      "listens for this VM");
  bool fresh = !gs;
  if (fresh) {
    /* Kept until the VM goes: vCPU threads may look at it at any time. */
    gs = calloc(1, sizeof(*gs));
    if (!gs)
      return vmm__error(VMM_ENOMEM, "out of memory for the gdb stub");
    pthread_mutex_init(&gs->mu, NULL);
    gs->vm = vm;
  }
  gs->lfd = gs->cfd = -1;
  gs->wake[0] = gs->wake[1] = -1;
  gs->path[0] = 0;
  atomic_store(&gs->quit, false);
  memset(gs->bps, 0, sizeof(gs->bps));
  int rc = listen_on(gs, addr);
  if (rc == 0 && pipe2(gs->wake, O_CLOEXEC | O_NONBLOCK) < 0)
    rc = vmm__error(VMM_EIO, "vmm_gdbstub_start: pipe: %s", strerror(errno));
  if (rc == 0) {
    if (fresh)
      atomic_store(&vm->gdb, gs);
    atomic_store(&gs->active, true);
    /* gdb finds the VM where it is now (before its first instruction
     * when not started yet). */
    vmm__run_debug_hold(vm, true, UINT32_MAX);
    int e = pthread_create(&gs->thread, NULL, server_main, gs);
    if (e) {
      atomic_store(&gs->active, false);
      vmm__run_debug_hold(vm, false, UINT32_MAX);
      rc = vmm__error(VMM_EAGAIN, "vmm_gdbstub_start: thread: %s",
                      strerror(e));
    }
  }
  if (rc < 0) {
    if (gs->lfd >= 0)
      close(gs->lfd);
    if (gs->path[0])
      unlink(gs->path);
    for (int i = 0; i < 2; i++)
      if (gs->wake[i] >= 0)
        close(gs->wake[i]);
    if (fresh && atomic_load(&vm->gdb) != gs) {
      pthread_mutex_destroy(&gs->mu);
      free(gs);
    }
    return rc;
  }
  return 0;
}

int vmm_gdbstub_stop(vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_gdbstub_stop: not a live VM handle");
  struct vmm__gdbstub *gs = atomic_load(&vm->gdb);
  if (!gs || !atomic_load(&gs->active))
    return 0;
  atomic_store(&gs->quit, true);
  wake(gs);
  pthread_join(gs->thread, NULL);
  atomic_store(&gs->active, false);
  close(gs->lfd);
  close(gs->wake[0]);
  close(gs->wake[1]);
  if (gs->path[0])
    unlink(gs->path);
  vmm__run_debug_hold(vm, false, UINT32_MAX);
  return 0;
}

void vmm__gdbstub_destroy(vmm_vm_t *vm) {
  struct vmm__gdbstub *gs = atomic_load(&vm->gdb);
  if (!gs)
    return;
  vmm_gdbstub_stop(vm);
  atomic_store(&vm->gdb, NULL);
  pthread_mutex_destroy(&gs->mu);
  free(gs);
}
