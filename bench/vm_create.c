/* bench/vm_create.c — cost of bringing a VM to its first exit: libvmm vs raw KVM. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"
#include "raw_kvm.h"

#define PROG "vm_create"
#define RAM_SIZE (64ull << 20)
#define CODE_GPA 0x1000u
#define STACK_SP 0x2000u
#define FIRST_PORT BENCH_PORT_DONE

/*
 * Real-mode guest at 0000:1000, the same on both paths:
 *   ba 01 05   mov $0x501, %dx
 *   ee         out %al, (%dx)     ; the first exit
 *   f4         hlt
 *   eb fd      jmp .-1
 */
static const uint8_t guest_code[] = {0xba, FIRST_PORT & 0xff, FIRST_PORT >> 8,
                                     0xee, 0xf4, 0xeb, 0xfd};

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [-n ITERATIONS]\n"
          "Times VM + 64 MiB RAM + 1 vCPU + run to the first exit, through\n"
          "libvmm and through raw KVM ioctls, alternating; destroys all of\n"
          "it after each iteration. Prints medians in microseconds.\n"
          "  -n, --iterations N   iterations per path (default 100)\n");
}

static int lib_fail(const char *what, int rc) {
  fprintf(stderr, PROG ": libvmm: %s: %s (%s)\n", what, vmm_strerror(rc),
          vmm_last_error());
  return -1;
}

/* The steps of one iteration, timed separately on both paths. */
enum step { S_VM, S_MEM, S_VCPU, S_LOAD, S_REGS, S_RUN, S_DESTROY, S_COUNT };
static const char *const step_names[S_COUNT] = {
    "VM", "64 MiB RAM", "vCPU", "load code", "registers", "run to exit",
    "destroy",
};
static const char *const step_lib[S_COUNT] = {
    "vmm_vm_create", "vmm_mem_map", "vmm_vcpu_create", "vmm_load_flat",
    "vmm_vcpu_setup_real_mode", "vmm_vcpu_run", "vmm_vm_destroy",
};
static const char *const step_raw[S_COUNT] = {
    "KVM_CREATE_VM, KVM_SET_TSS_ADDR",
    "mmap, KVM_SET_USER_MEMORY_REGION",
    "KVM_CREATE_VCPU, mmap run, KVM_SET_CPUID2",
    "memcpy",
    "KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_REGS",
    "KVM_RUN",
    "munmap run, close vCPU, close VM, munmap RAM",
};

/* One libvmm iteration; t[i] is the clock when step i ends, t[S_COUNT]
 * when the iteration starts. */
static int lib_iteration(uint64_t t[S_COUNT + 1]) {
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *vcpu;
  vmm_exit_t exit;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = "kvm";
  int ok = -1;
  t[S_COUNT] = bench_now_ns();
  int rc = vmm_vm_create(&cfg, &vm);
  t[S_VM] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vm_create", rc);
    goto out;
  }
  rc = vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0, NULL);
  t[S_MEM] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_mem_map", rc);
    goto out;
  }
  rc = vmm_vcpu_create(vm, 0, &vcpu);
  t[S_VCPU] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vcpu_create", rc);
    goto out;
  }
  rc = vmm_load_flat(vm, guest_code, sizeof(guest_code), CODE_GPA);
  t[S_LOAD] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_load_flat", rc);
    goto out;
  }
  rc = vmm_vcpu_setup_real_mode(vcpu, 0, CODE_GPA, STACK_SP);
  t[S_REGS] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vcpu_setup_real_mode", rc);
    goto out;
  }
  rc = vmm_vcpu_run(vcpu, &exit);
  t[S_RUN] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vcpu_run", rc);
    goto out;
  }
  if (exit.reason != VMM_EXIT_IO || exit.u.io.port != FIRST_PORT) {
    fprintf(stderr, PROG ": libvmm: unexpected first exit: reason %u\n",
            exit.reason);
    goto out;
  }
  rc = vmm_vm_destroy(vm);
  vm = NULL;
  t[S_DESTROY] = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vm_destroy", rc);
    goto out;
  }
  ok = 0;
out:
  vmm_vm_destroy(vm);
  return ok;
}

/* What vmm_vcpu_setup_real_mode() documents: CS:IP = 0:ip, SS:SP = 0:sp,
 * the other segments 0, 64 KiB limits, interrupts off, paging and
 * protection off. */
static void real_mode_sregs(vmm_sregs_t *s) {
  vmm_segment_t *segs[] = {&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss};
  for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
    vmm_segment_t *seg = segs[i];
    memset(seg, 0, sizeof(*seg));
    seg->limit = 0xffff;
    seg->type = seg == &s->cs ? 0xb : 0x3;
    seg->present = 1;
    seg->s = 1;
  }
  s->cr0 = VMM_X86_CR0_ET;
  s->cr3 = s->cr4 = 0;
  s->efer = 0;
}

static int raw_iteration(struct raw_kvm *kvm, uint64_t t[S_COUNT + 1]) {
  struct raw_vm vm;
  vmm_sregs_t sregs;
  vmm_regs_t regs;
  t[S_COUNT] = bench_now_ns();
  if (raw_vm_create(kvm, &vm) < 0)
    return -1;
  t[S_VM] = bench_now_ns();
  if (raw_mem_map(&vm, RAM_SIZE) < 0)
    return -1;
  t[S_MEM] = bench_now_ns();
  if (raw_vcpu_create(kvm, &vm) < 0)
    return -1;
  t[S_VCPU] = bench_now_ns();
  memcpy((uint8_t *)vm.mem + CODE_GPA, guest_code, sizeof(guest_code));
  t[S_LOAD] = bench_now_ns();
  if (raw_get_sregs(&vm, &sregs) < 0)
    goto out;
  real_mode_sregs(&sregs);
  if (raw_set_sregs(&vm, &sregs) < 0)
    goto out;
  memset(&regs, 0, sizeof(regs));
  regs.rip = CODE_GPA;
  regs.rsp = STACK_SP;
  regs.rflags = VMM_X86_RFLAGS_FIXED;
  if (raw_set_regs(&vm, &regs) < 0)
    goto out;
  t[S_REGS] = bench_now_ns();
  while (ioctl(vm.vcpu_fd, KVM_RUN, 0) < 0) {
    if (errno != EINTR && errno != EAGAIN) {
      perror(PROG ": raw: KVM_RUN");
      goto out;
    }
  }
  /* Looking at the exit is part of the step, as in vmm_vcpu_run(): the
   * first access to the run area page-faults it in (~3 us here). */
  bool io_exit =
      vm.run->exit_reason == KVM_EXIT_IO && vm.run->io.port == FIRST_PORT;
  t[S_RUN] = bench_now_ns();
  if (!io_exit) {
    fprintf(stderr, PROG ": raw: unexpected first exit: reason %u\n",
            vm.run->exit_reason);
    goto out;
  }
  raw_vm_destroy(&vm);
  t[S_DESTROY] = bench_now_ns();
  return 0;
out:
  raw_vm_destroy(&vm);
  return -1;
}

/* Per path: step durations [step][iteration] and create..exit totals. */
struct samples {
  double *step[S_COUNT];
  double *total;
};

static int samples_alloc(struct samples *s, size_t n) {
  int ok = 0;
  for (int i = 0; i < S_COUNT; i++)
    ok |= !(s->step[i] = calloc(n, sizeof(double)));
  ok |= !(s->total = calloc(n, sizeof(double)));
  return ok ? -1 : 0;
}

static void samples_free(struct samples *s) {
  for (int i = 0; i < S_COUNT; i++)
    free(s->step[i]);
  free(s->total);
}

static void samples_put(struct samples *s, size_t i,
                        const uint64_t t[S_COUNT + 1]) {
  uint64_t prev = t[S_COUNT];
  for (int k = 0; k < S_COUNT; k++) {
    s->step[k][i] = (double)(t[k] - prev);
    prev = t[k];
  }
  s->total[i] = (double)(t[S_RUN] - t[S_COUNT]);
}

int main(int argc, char **argv) {
  unsigned long iters = 100;
  static const struct option opts[] = {
      {"iterations", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      iters = bench_parse_count(PROG, "-n", optarg);
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }

  bench_require_kvm(PROG);
  int rc = vmm_backend_probe("kvm");
  if (rc < 0) {
    fprintf(stderr, PROG ": raw /dev/kvm works but libvmm's kvm backend "
            "does not: %s\n", vmm_last_error());
    return 1;
  }
  /* A VMM opens /dev/kvm once per process; so does the raw path. */
  struct raw_kvm kvm;
  if (raw_kvm_open(&kvm) < 0)
    return 1;

  struct samples lib = {0}, raw = {0};
  int status = 1;
  if (samples_alloc(&lib, iters) < 0 || samples_alloc(&raw, iters) < 0) {
    fprintf(stderr, PROG ": out of memory\n");
    goto out;
  }

  /* Warm up both paths (first-use costs in the kernel and the library). */
  uint64_t t[S_COUNT + 1];
  for (int i = 0; i < 2; i++)
    if (lib_iteration(t) < 0 || raw_iteration(&kvm, t) < 0)
      goto out;
  for (unsigned long i = 0; i < iters; i++) {
    /* Alternate which path goes first so that drift hits both alike. */
    for (int k = 0; k < 2; k++) {
      if ((k == 0) == (i % 2 == 0)) {
        if (lib_iteration(t) < 0)
          goto out;
        samples_put(&lib, i, t);
      } else {
        if (raw_iteration(&kvm, t) < 0)
          goto out;
        samples_put(&raw, i, t);
      }
    }
  }

  printf(PROG ": %lu iterations per path, 64 MiB RAM, 1 vCPU; medians in "
         "us\n", iters);
  printf("%-12s %9s %9s  %-26s %s\n", "step", "libvmm", "raw",
         "libvmm call", "raw calls");
  for (int k = 0; k < S_COUNT; k++) {
    double lm = bench_median(lib.step[k], iters);
    double rm = bench_median(raw.step[k], iters);
    printf("%-12s %9.1f %9.1f  %-26s %s\n", step_names[k], lm / 1000,
           rm / 1000, step_lib[k], step_raw[k]);
  }
  double lmin = bench_min(lib.total, iters), rmin = bench_min(raw.total, iters);
  double lmax = bench_max(lib.total, iters), rmax = bench_max(raw.total, iters);
  double lc = bench_median(lib.total, iters);
  double rcr = bench_median(raw.total, iters);
  printf("create..exit: libvmm min %.1f max %.1f, raw min %.1f max %.1f us\n",
         lmin / 1000, lmax / 1000, rmin / 1000, rmax / 1000);
  double ld = bench_median(lib.step[S_DESTROY], iters);
  double rd = bench_median(raw.step[S_DESTROY], iters);
  printf("vm_destroy ratio=%.3f libvmm_us=%.1f raw_us=%.1f\n", ld / rd,
         ld / 1000, rd / 1000);
  printf("vm_create ratio=%.3f libvmm_us=%.1f raw_us=%.1f\n", lc / rcr,
         lc / 1000, rcr / 1000);
  status = 0;
out:
  raw_kvm_close(&kvm);
  samples_free(&lib);
  samples_free(&raw);
  return status;
}
