/* bench/vm_create.c — cost of bringing a VM to its first exit: libvmm vs raw KVM. */
#include <errno.h>
#include <getopt.h>
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
          "  -n, --iterations N   iterations per path (default 50)\n");
}

static int lib_fail(const char *what, int rc) {
  fprintf(stderr, PROG ": libvmm: %s: %s (%s)\n", what, vmm_strerror(rc),
          vmm_last_error());
  return -1;
}

/* One libvmm iteration; `create_ns` up to the first exit, `destroy_ns`
 * for vmm_vm_destroy(). */
static int lib_iteration(double *create_ns, double *destroy_ns) {
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *vcpu;
  vmm_exit_t exit;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = "kvm";
  int ok = -1;
  uint64_t t0 = bench_now_ns();
  int rc = vmm_vm_create(&cfg, &vm);
  if (rc < 0) {
    lib_fail("vmm_vm_create", rc);
    goto out;
  }
  rc = vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0, NULL);
  if (rc < 0) {
    lib_fail("vmm_mem_map", rc);
    goto out;
  }
  rc = vmm_vcpu_create(vm, 0, &vcpu);
  if (rc < 0) {
    lib_fail("vmm_vcpu_create", rc);
    goto out;
  }
  rc = vmm_load_flat(vm, guest_code, sizeof(guest_code), CODE_GPA);
  if (rc < 0) {
    lib_fail("vmm_load_flat", rc);
    goto out;
  }
  rc = vmm_vcpu_setup_real_mode(vcpu, 0, CODE_GPA, STACK_SP);
  if (rc < 0) {
    lib_fail("vmm_vcpu_setup_real_mode", rc);
    goto out;
  }
  rc = vmm_vcpu_run(vcpu, &exit);
  uint64_t t1 = bench_now_ns();
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
  uint64_t t2 = bench_now_ns();
  if (rc < 0) {
    lib_fail("vmm_vm_destroy", rc);
    goto out;
  }
  *create_ns = (double)(t1 - t0);
  *destroy_ns = (double)(t2 - t1);
  ok = 0;
out:
  vmm_vm_destroy(vm);
  return ok;
}

/* What vmm_vcpu_setup_real_mode() documents: CS:IP = 0:ip, SS:SP = 0:sp,
 * the other segments 0, 64 KiB limits, interrupts off. */
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
  s->cr0 &= ~(VMM_X86_CR0_PE | VMM_X86_CR0_PG);
  s->efer = 0;
}

static int raw_iteration(struct raw_kvm *kvm, double *create_ns,
                         double *destroy_ns) {
  struct raw_vm vm;
  vmm_sregs_t sregs;
  vmm_regs_t regs;
  int ok = -1;
  uint64_t t0 = bench_now_ns();
  if (raw_vm_create(kvm, RAM_SIZE, &vm) < 0)
    return -1;
  memcpy((uint8_t *)vm.mem + CODE_GPA, guest_code, sizeof(guest_code));
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
  while (ioctl(vm.vcpu_fd, KVM_RUN, 0) < 0) {
    if (errno != EINTR && errno != EAGAIN) {
      perror(PROG ": raw: KVM_RUN");
      goto out;
    }
  }
  uint64_t t1 = bench_now_ns();
  if (vm.run->exit_reason != KVM_EXIT_IO || vm.run->io.port != FIRST_PORT) {
    fprintf(stderr, PROG ": raw: unexpected first exit: reason %u\n",
            vm.run->exit_reason);
    goto out;
  }
  raw_vm_destroy(&vm);
  uint64_t t2 = bench_now_ns();
  *create_ns = (double)(t1 - t0);
  *destroy_ns = (double)(t2 - t1);
  return 0;
out:
  raw_vm_destroy(&vm);
  return ok;
}

static void summary(const char *name, double *v, size_t n, double *median) {
  double lo = bench_min(v, n), hi = bench_max(v, n);
  *median = bench_median(v, n);
  printf("%-22s median %9.1f us  min %9.1f  max %9.1f\n", name,
         *median / 1000, lo / 1000, hi / 1000);
}

int main(int argc, char **argv) {
  unsigned long iters = 50;
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

  double *lib_create = calloc(iters, sizeof(double));
  double *lib_destroy = calloc(iters, sizeof(double));
  double *raw_create = calloc(iters, sizeof(double));
  double *raw_destroy = calloc(iters, sizeof(double));
  int status = 1;
  if (!lib_create || !lib_destroy || !raw_create || !raw_destroy) {
    fprintf(stderr, PROG ": out of memory\n");
    goto out;
  }

  /* Warm up both paths (first-use costs in the kernel and the library). */
  for (int i = 0; i < 2; i++) {
    double x, y;
    if (lib_iteration(&x, &y) < 0 || raw_iteration(&kvm, &x, &y) < 0)
      goto out;
  }
  for (unsigned long i = 0; i < iters; i++) {
    int r;
    if (i % 2 == 0) {
      r = lib_iteration(&lib_create[i], &lib_destroy[i]);
      if (r == 0)
        r = raw_iteration(&kvm, &raw_create[i], &raw_destroy[i]);
    } else {
      r = raw_iteration(&kvm, &raw_create[i], &raw_destroy[i]);
      if (r == 0)
        r = lib_iteration(&lib_create[i], &lib_destroy[i]);
    }
    if (r < 0)
      goto out;
  }
  double lc, ld, rcr, rd;
  printf(PROG ": %lu iterations per path, 64 MiB RAM, 1 vCPU\n", iters);
  summary("libvmm create..exit", lib_create, iters, &lc);
  summary("raw    create..exit", raw_create, iters, &rcr);
  summary("libvmm destroy", lib_destroy, iters, &ld);
  summary("raw    destroy", raw_destroy, iters, &rd);
  printf("vm_destroy ratio=%.3f libvmm_us=%.1f raw_us=%.1f\n", ld / rd,
         ld / 1000, rd / 1000);
  printf("vm_create ratio=%.3f libvmm_us=%.1f raw_us=%.1f\n", lc / rcr,
         lc / 1000, rcr / 1000);
  status = 0;
out:
  raw_kvm_close(&kvm);
  free(lib_create);
  free(lib_destroy);
  free(raw_create);
  free(raw_destroy);
  return status;
}
