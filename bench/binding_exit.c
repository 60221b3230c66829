/* bench/binding_exit.c — the C third of the binding exit benchmark
 * (bench/binding_exit.sh): the pio_loop guest (bench/guests/pio_loop.c)
 * makes N port-I/O exits, each served by a C handler registered with
 * vmm_io_register(); prints the median ns per exit over R rounds, in wall
 * time (c_ns=) and in the vCPU thread's CPU time (c_cpu_ns=). The
 * Python (bench/binding_exit.py) and Go (bench/binding_exit_go) thirds do
 * exactly the same through their bindings, so the differences are the
 * cost of crossing into each language per exit.
 *
 *   binding_exit GUEST.elf [-n EXITS] [--rounds R]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"

#define PROG "binding_exit"
#define PORT 0x500           /* any port without a device */
#define PARAM_GPA 0x90000ull /* tests/guests/lib/layout.h: GUEST_PARAM_GPA */

struct counter {
  uint64_t seen;
  int bad;
};

/* The guest writes its loop counter: check that every exit arrives. */
static int count_exit(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                      uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)size;
  struct counter *c = opaque;
  if (!is_write || data[0] != (uint8_t)c->seen)
    c->bad = 1;
  c->seen++;
  return 0;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, PROG ": %s: %s (%s)\n", what, vmm_strerror(rc),
          vmm_last_error());
  return -1;
}

/* CPU time of the calling thread: the vCPU thread's time in the guest,
 * in KVM and in the handler, without the time it waited for a CPU (on a
 * loaded machine wall time per exit varies by 2x, this by a few %). */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One round: a fresh VM, N exits; *ns_per_exit = run time / N, *cpu_ns
 * the thread's CPU time / N. */
static int round_once(const char *guest, uint64_t n, double *ns_per_exit,
                      double *cpu_ns) {
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *vcpu = NULL;
  vmm_elf_info_t elf = {.size = sizeof(elf)};
  struct counter c = {0, 0};
  uint64_t params[2] = {n, PORT};
  vmm_exit_t exit;
  int rc, ret = -1;

  if ((rc = vmm_vm_create(NULL, &vm)) < 0) {
    fail("vmm_vm_create", rc);
    goto out;
  }
  if ((rc = vmm_mem_map(vm, 0, 4 << 20, NULL, 0, NULL)) < 0 ||
      (rc = vmm_vcpu_create(vm, 0, &vcpu)) < 0 ||
      (rc = vmm_io_register(vm, VMM_IO_PIO, PORT, 1, count_exit, &c)) < 0 ||
      (rc = vmm_load_elf_file(vm, guest, &elf)) < 0 ||
      (rc = vmm_mem_write(vm, PARAM_GPA, params, sizeof(params))) < 0 ||
      (rc = vmm_vcpu_setup_long_mode(vcpu, elf.entry, 0x80000, 0x1000)) < 0) {
    fail("setting up the VM", rc);
    goto out;
  }
  uint64_t c0 = thread_cpu_ns(), t0 = bench_now_ns();
  rc = vmm_vcpu_run(vcpu, &exit);
  uint64_t t1 = bench_now_ns(), c1 = thread_cpu_ns();
  if (rc < 0) {
    fail("vmm_vcpu_run", rc);
    goto out;
  }
  if (exit.reason != VMM_EXIT_HLT || c.bad || c.seen != n) {
    fprintf(stderr,
            PROG ": the guest stopped with exit %u after %" PRIu64
            " of %" PRIu64 " exits%s\n",
            exit.reason, c.seen, n, c.bad ? " (a write was wrong)" : "");
    goto out;
  }
  *ns_per_exit = (double)(t1 - t0) / (double)n;
  *cpu_ns = (double)(c1 - c0) / (double)n;
  ret = 0;
out:
  vmm_vm_destroy(vm);
  return ret;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"exits", required_argument, 0, 'n'},
                                       {"rounds", required_argument, 0, 'r'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  unsigned long n = 20000, rounds = 5;
  int o;
  while ((o = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
    switch (o) {
    case 'n': n = bench_parse_count(PROG, "-n", optarg); break;
    case 'r': rounds = bench_parse_count(PROG, "--rounds", optarg); break;
    case 'h':
      printf("usage: " PROG " GUEST.elf [-n EXITS] [--rounds R]\n");
      return 0;
    default: return 2;
    }
  }
  if (optind != argc - 1 || rounds > 1000) {
    fprintf(stderr, "usage: " PROG " GUEST.elf [-n EXITS] [--rounds R]\n");
    return 2;
  }
  bench_require_kvm(PROG);
  double per[1000], cpu[1000];
  for (unsigned long r = 0; r < rounds; r++)
    if (round_once(argv[optind], n, &per[r], &cpu[r]) < 0)
      return 1;
  double lo = bench_min(per, rounds), hi = bench_max(per, rounds);
  double med = bench_median(per, rounds);
  printf(PROG ": %lu exits x %lu rounds, ns per exit min %.0f median %.0f "
         "max %.0f\n", n, rounds, lo, med, hi);
  printf("c_ns=%.1f\n", med);
  printf("c_cpu_ns=%.1f\n", bench_median(cpu, rounds));
  return 0;
}
