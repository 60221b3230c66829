/* bench/kvm_run_gaps.c — LD_PRELOAD probe: user-space time between KVM_RUNs per vCPU. */
/*
 * The time a VMM spends in user space per exit is the part libvmm can
 * change; it is small beside the exit itself and drowns in the exit's
 * noise in end-to-end figures. Preloaded into a benchmark, this wraps
 * ioctl() and, for each vCPU descriptor, adds up the time from the return
 * of one KVM_RUN to the entry of the next (gaps over 200 us, e.g. between
 * rounds, are left out), then prints per descriptor at exit:
 *
 *   LD_PRELOAD=build/bench/libkvm-run-gaps.so build/bench/exit_latency
 *   kvm_run_gaps: fd 5: 150003 exits, 104.9 ns/exit in user space, ...
 *
 * exit_latency creates the libvmm vCPU first, so it has the lower number.
 * Not for sanitizer builds (the sanitizer runtime must come first).
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MAX_FD 1024
#define MAX_GAP_NS 200000u

struct fd_stats {
  uint64_t last_return, user_ns, kernel_ns, gaps, runs;
};

static struct fd_stats stats[MAX_FD];
static int (*real_ioctl)(int, unsigned long, ...);

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* glibc declares ioctl(int, unsigned long, ...); so must the wrapper. */
int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (!real_ioctl) {
    void *sym = dlsym(RTLD_NEXT, "ioctl");
    *(void **)&real_ioctl = sym;
  }
  if (req != KVM_RUN || fd < 0 || fd >= MAX_FD)
    return real_ioctl(fd, req, arg);
  struct fd_stats *s = &stats[fd];
  uint64_t t0 = now_ns();
  if (s->last_return && t0 - s->last_return < MAX_GAP_NS) {
    s->user_ns += t0 - s->last_return;
    s->gaps++;
  }
  int r = real_ioctl(fd, req, arg);
  uint64_t t1 = now_ns();
  s->kernel_ns += t1 - t0;
  s->runs++;
  s->last_return = t1;
  return r;
}

__attribute__((destructor)) static void report(void) {
  for (int fd = 0; fd < MAX_FD; fd++) {
    const struct fd_stats *s = &stats[fd];
    if (!s->gaps)
      continue;
    fprintf(stderr,
            "kvm_run_gaps: fd %d: %llu exits, %.1f ns/exit in user space, "
            "%.1f ns per KVM_RUN\n",
            fd, (unsigned long long)s->gaps,
            (double)s->user_ns / (double)s->gaps,
            (double)s->kernel_ns / (double)s->runs);
  }
}
