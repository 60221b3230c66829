/* src/sandbox.c — the seccomp allow-list of vCPU and loop threads (libseccomp). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "error.h"
#include "sandbox_internal.h"
#include "vm_internal.h"

#define KNOWN_FLAGS (VMM_SANDBOX_ON | VMM_SANDBOX_KILL)


int vmm_vm_set_sandbox(vmm_vm_t *vm, uint32_t flags) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_set_sandbox: not a live VM handle");
  if (flags & ~KNOWN_FLAGS)
    return vmm__error(VMM_EINVAL, "vmm_vm_set_sandbox: unknown flags 0x%x",
                      flags & ~KNOWN_FLAGS);
  if (flags && !(flags & VMM_SANDBOX_ON))
    return vmm__error(VMM_EINVAL, "vmm_vm_set_sandbox: flags 0x%x without "
                      "VMM_SANDBOX_ON", flags);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vm_set_sandbox: the VM was started "
                      "(the threads filter themselves when they start)");
  if (flags) {
    int rc = vmm_sandbox_available();
    if (rc < 0)
      return vmm__error_prefix(rc, "vmm_vm_set_sandbox");
    /* Build the filter now: a failure is the caller's to see here, not a
     * vCPU thread's later. */
    rc = vmm__sandbox_prepare(flags);
    if (rc < 0)
      return vmm__error_prefix(rc, "vmm_vm_set_sandbox");
  }
  atomic_store(&vm->sandbox, flags);
  return 0;
}

uint32_t vmm_vm_get_sandbox(const vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return 0;
  return atomic_load(&((vmm_vm_t *)vm)->sandbox);
}

int vmm_sandbox_apply_current_thread(uint32_t flags) {
  if ((flags & ~KNOWN_FLAGS) || !(flags & VMM_SANDBOX_ON))
    return vmm__error(VMM_EINVAL, "vmm_sandbox_apply_current_thread: flags "
                      "0x%x (VMM_SANDBOX_ON and VMM_SANDBOX_KILL only, ON "
                      "required)", flags);
  int rc = vmm_sandbox_available();
  if (rc == 0)
    rc = vmm__sandbox_prepare(flags);
  if (rc < 0)
    return vmm__error_prefix(rc, "vmm_sandbox_apply_current_thread");
  return vmm__sandbox_enter(flags);
}

#ifndef VMM_HAVE_SECCOMP

int vmm_sandbox_available(void) {
  return vmm__error(VMM_ENOTSUP, "the sandbox is not available: libvmm "
                    "was built without libseccomp");
}
int vmm__sandbox_prepare(uint32_t flags) {
  (void)flags;
  return vmm_sandbox_available();
}
int vmm__sandbox_enter(uint32_t flags) {
  (void)flags;
  return vmm_sandbox_available();
}

#else

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <seccomp.h>

/* The two compiled filters (index: refused calls fail / kill), built once
 * per process and shared by every thread that enters the sandbox. */
static pthread_mutex_t filters_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sock_fprog filters[2];
/* The process the filters were built in: they name it (tgkill), so a
 * forked child builds its own. */
static pid_t filters_pid;

/* Calls allowed whatever their arguments. Grouped by who needs them. */
static const char *const allowed[] = {
    /* I/O on descriptors opened during set-up: disk images (preadv2 with
     * RWF_NOWAIT on the loop, the rest on the thread pool), character
     * back-ends, tap and socket network back-ends, eventfds, the control
     * socket's clients. */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
    "pwritev", "preadv2", "pwritev2", "lseek", "fsync", "fdatasync",
    "fallocate", "close",
    "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
    "shutdown", "getsockopt", "getsockname", "getpeername",
    /* Accepting on sockets listened on during set-up (control socket,
     * chardev socket): the new descriptor is a client of a known server. */
    "accept", "accept4",
    /* The event loop (libuv: epoll, eventfd for its async handles). */
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll",
    "ppoll", "eventfd2", "pipe2", "dup", "dup3",
    /* Locks, sleeps, clocks, identity. */
    "futex", "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime",
    "clock_getres", "gettimeofday", "getpid", "gettid", "getrandom",
    "restart_syscall",
    /* Memory (malloc, stacks of nothing new: no thread creation). mmap and
     * mprotect are below, without PROT_EXEC. */
    "munmap", "madvise", "mremap", "brk",
    /* Signals: the kick signal's return path and masks. */
    "rt_sigreturn", "rt_sigprocmask", "sigaltstack",
    /* Leaving. */
    "exit", "exit_group",
};

static int add(scmp_filter_ctx ctx, const char *name, unsigned n,
               const struct scmp_arg_cmp *cmp) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0; /* not on this architecture or libseccomp */
  int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
  if (rc < 0)
    return vmm__error(VMM_EIO, "seccomp rule for %s: %s", name,
                      strerror(-rc));
  return 0;
}

static int add_rules(scmp_filter_ctx ctx) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
    rc = add(ctx, allowed[i], 0, NULL);
  /* ioctl: the KVM ioctls (type 0xAE: KVM_RUN, register access, dirty
   * logs, interrupt lines) and the two that set descriptor flags. */
  struct scmp_arg_cmp kvm = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00u, 0xae00u);
  struct scmp_arg_cmp fionbio = SCMP_A1(SCMP_CMP_EQ, 0x5421u); /* FIONBIO */
  struct scmp_arg_cmp fioclex = SCMP_A1(SCMP_CMP_EQ, 0x5451u); /* FIOCLEX */
  struct scmp_arg_cmp fionread = SCMP_A1(SCMP_CMP_EQ, 0x541bu); /* FIONREAD */
  if (rc == 0)
    rc = add(ctx, "ioctl", 1, &kvm);
  if (rc == 0)
    rc = add(ctx, "ioctl", 1, &fionbio);
  if (rc == 0)
    rc = add(ctx, "ioctl", 1, &fioclex);
  if (rc == 0)
    rc = add(ctx, "ioctl", 1, &fionread);
  /* fcntl: reading and setting status and descriptor flags only. */
  static const int fcntl_cmds[] = {F_GETFL, F_SETFL, F_GETFD, F_SETFD};
  for (size_t i = 0; rc == 0 && i < 4; i++) {
    struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i]);
    rc = add(ctx, "fcntl", 1, &c);
  }
  /* Memory without PROT_EXEC: no new code. */
  struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
  if (rc == 0)
    rc = add(ctx, "mmap", 1, &noexec);
  if (rc == 0)
    rc = add(ctx, "mprotect", 1, &noexec);
  /* stdio's first use of a FILE stats its descriptor: fstat, or
   * newfstatat(fd, "", AT_EMPTY_PATH) — never a path lookup. */
  struct scmp_arg_cmp empty_path =
      SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH);
  if (rc == 0)
    rc = add(ctx, "fstat", 0, NULL);
  if (rc == 0)
    rc = add(ctx, "newfstatat", 1, &empty_path);
  /* Signals only inside this process (kicking vCPU threads). */
  struct scmp_arg_cmp own = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
  if (rc == 0)
    rc = add(ctx, "tgkill", 1, &own);
  return rc;
}

/* Compiles the filter into a BPF program (libseccomp writes it to a
 * descriptor; a memfd keeps it in memory). */
static int build(uint32_t flags, struct sock_fprog *out) {
  uint32_t refuse = (flags & VMM_SANDBOX_KILL) ? SCMP_ACT_KILL_PROCESS
                                               : SCMP_ACT_ERRNO(EPERM);
  scmp_filter_ctx ctx = seccomp_init(refuse);
  if (!ctx)
    return vmm__error(VMM_ENOMEM, "seccomp_init failed");
  int rc = add_rules(ctx);
  int fd = -1;
  if (rc == 0) {
    fd = memfd_create("libvmm-seccomp", MFD_CLOEXEC);
    if (fd < 0)
      rc = vmm__error(VMM_EIO, "memfd_create: %s", strerror(errno));
  }
  if (rc == 0) {
    int e = seccomp_export_bpf(ctx, fd);
    if (e < 0)
      rc = vmm__error(VMM_EIO, "seccomp_export_bpf: %s", strerror(-e));
  }
  off_t len = rc == 0 ? lseek(fd, 0, SEEK_END) : 0;
  if (rc == 0 && (len <= 0 || len % sizeof(struct sock_filter) ||
                  len / sizeof(struct sock_filter) > BPF_MAXINSNS))
    rc = vmm__error(VMM_EIO, "seccomp filter of %lld bytes", (long long)len);
  struct sock_filter *prog = rc == 0 ? malloc((size_t)len) : NULL;
  if (rc == 0 && !prog)
    rc = vmm__error(VMM_ENOMEM, "out of memory for the seccomp filter");
  if (rc == 0 && pread(fd, prog, (size_t)len, 0) != len)
    rc = vmm__error(VMM_EIO, "reading the seccomp filter back failed");
  if (fd >= 0)
    close(fd);
  seccomp_release(ctx);
  if (rc < 0) {
    free(prog);
    return rc;
  }
  out->len = (unsigned short)(len / sizeof(struct sock_filter));
  out->filter = prog;
  return 0;
}

int vmm_sandbox_available(void) {
  /* Valgrind implements no seccomp (it warns about the unknown system
   * call on stderr) and its translator needs executable memory anyway. */
  const char *preload = getenv("LD_PRELOAD");
  if (preload && strstr(preload, "vgpreload"))
    return vmm__error(VMM_ENOTSUP, "the sandbox is not available under "
                      "valgrind");
  /* Asking the kernel for an action it knows tells whether seccomp
   * filters exist here without installing one. */
  uint32_t action = SECCOMP_RET_ERRNO;
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
    return vmm__error(VMM_ENOTSUP, "the sandbox is not available: the "
                      "kernel refuses seccomp filters: %s", strerror(errno));
  return 0;
}

/* State the C library sets up on first use by reading files, made now
 * (on a thread that may open files) rather than on a filtered thread:
 * the first gmtime_r() (the RTC) reads /etc/localtime through tzset(),
 * the first strerror() may load the locale's message catalogue. */
static void warm_libc(void) {
  tzset();
  char buf[64];
  snprintf(buf, sizeof(buf), "%s", strerror(EIO));
}

int vmm__sandbox_prepare(uint32_t flags) {
  int rc = 0;
  warm_libc();
  struct sock_fprog *f = &filters[(flags & VMM_SANDBOX_KILL) ? 1 : 0];
  pthread_mutex_lock(&filters_mu);
  if (filters_pid != getpid()) {
    for (int i = 0; i < 2; i++) {
      free(filters[i].filter);
      filters[i].filter = NULL;
    }
    filters_pid = getpid();
  }
  if (!f->filter)
    rc = build(flags, f);
  pthread_mutex_unlock(&filters_mu);
  return rc;
}

int vmm__sandbox_enter(uint32_t flags) {
  struct sock_fprog *f = &filters[(flags & VMM_SANDBOX_KILL) ? 1 : 0];
  pthread_mutex_lock(&filters_mu);
  bool ready = f->filter != NULL && filters_pid == getpid();
  pthread_mutex_unlock(&filters_mu);
  if (!ready)
    return vmm__error(VMM_ESTATE, "the sandbox filter was not prepared");
  /* no_new_privs is per thread, like the filter: it is what lets a
   * process without CAP_SYS_ADMIN install one. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return vmm__error(VMM_EIO, "prctl(PR_SET_NO_NEW_PRIVS): %s",
                      strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, f) != 0)
    return vmm__error(VMM_EIO, "seccomp(SECCOMP_SET_MODE_FILTER): %s",
                      strerror(errno));
  return 0;
}

#endif
