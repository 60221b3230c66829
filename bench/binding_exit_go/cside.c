/* bench/binding_exit_go/cside.c — the C half of binding_exit_go: the C
 * handler of the -c rounds, the thread CPU clock, and the -cgo loop. Kept
 * out of main.go's preamble, which cannot hold definitions because it
 * exports a Go function. */
#include "cside.h"
#include "_cgo_export.h"

/* The vCPU thread's CPU time, as bench/binding_exit.c measures it. */
uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The C handler: the same check as the Go one (the guest writes its loop
 * counter), so both do the same work per exit. */
static uint64_t c_seen;

static int c_count(vmm_vcpu_t *vcpu, uint64_t port, uint8_t *data,
                   uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)port, (void)size, (void)opaque;
  if (!is_write || data[0] != (uint8_t)c_seen)
    return VMM_EIO;
  c_seen++;
  return 0;
}

int c_register(void *vm, uint16_t port) {
  c_seen = 0;
  return vmm_io_register(vm, VMM_IO_PIO, port, 1, c_count, NULL);
}

uint64_t c_count_seen(void) { return c_seen; }

/* -cgo: the cost of a bare C-to-Go call, in a tight loop, after 30 us of
 * busy C code, and after 30 us asleep (the thread off the CPU, as during
 * an exit). Returns the mean ns of the call. */
static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double cgo_call_ns(uint64_t n, int mode) {
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (mode == 1) {
      uint64_t end = mono_ns() + 30000;
      while (mono_ns() < end)
        ;
    } else if (mode == 2) {
      struct timespec d = {0, 30000};
      nanosleep(&d, NULL);
    }
    uint64_t t0 = mono_ns();
    goNop(i);
    total += mono_ns() - t0;
  }
  return (double)total / (double)n;
}
