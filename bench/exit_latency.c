/* bench/exit_latency.c — cost of a port-I/O exit: libvmm against raw KVM_RUN
 * (or, with --backend NAME other than kvm, libvmm on that backend alone). */
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

#define PROG "exit_latency"

/*
 * The guest, identical on both paths: after the ring-0 entry of
 * bench_util.h it runs this in 64-bit ring 3 (or, with --ring 0, straight
 * from the same 64-bit ring-0 state), with RCX = number of exits and
 * RDX = BENCH_PORT_COUNT:
 *
 *   0:  ee              1: out  %al, (%dx)     ; one exit per iteration
 *   1:  48 ff c9           dec  %rcx
 *   4:  75 fa              jnz  1b
 *   6:  ba 01 05 00 00     mov  $BENCH_PORT_DONE, %edx
 *   11: ee              2: out  %al, (%dx)     ; "done": ends the run
 *   12: eb fd              jmp  2b
 */
static const uint8_t guest_code[] = {
    0xee, 0x48, 0xff, 0xc9, 0x75, 0xfa, 0xba, BENCH_PORT_DONE & 0xff,
    BENCH_PORT_DONE >> 8, 0x00, 0x00, 0xee, 0xeb, 0xfd,
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [-n EXITS] [--rounds R] [--ring 3|0] "
          "[--backend NAME]\n"
          "Times EXITS port-I/O exits of the same ring-3 guest loop through\n"
          "libvmm (vmm_vcpu_run with a counting PIO handler) and through a\n"
          "raw KVM_RUN loop, alternating, R rounds each; prints ns per exit.\n"
          "  -n, --exits N    exits per round (default 10000)\n"
          "  -r, --rounds R   rounds per path (default 15)\n"
          "  --ring 3|0       privilege level of the loop (default 3: runs\n"
          "                   natively where guest ring 0 is emulated)\n"
          "  --backend NAME   libvmm's backend (default kvm); another one\n"
          "                   (e.g. svm) runs the libvmm path alone\n");
}

/* Ring of the loop: 3 enters it through the ring-0 entry's IRETQ, 0 jumps
 * to it directly in the same ring-0 state. */
static int loop_ring = 3;
/* libvmm's backend; the raw KVM_RUN path runs only beside "kvm". */
static const char *backend = "kvm";

static void round_regs(vmm_regs_t *regs, uint64_t n) {
  bench_guest_regs(regs);
  if (loop_ring == 0)
    regs->rip = BENCH_USER_GPA;
  regs->rcx = n;
  regs->rdx = BENCH_PORT_COUNT;
}

/* ---- libvmm path --------------------------------------------------------- */

struct lib_path {
  vmm_vm_t *vm;
  vmm_vcpu_t *vcpu;
  uint64_t count;
};

static int count_exit(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                      uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)is_write;
  ((struct lib_path *)opaque)->count++;
  return 0;
}

static int lib_fail(const char *what, int rc) {
  fprintf(stderr, PROG ": libvmm: %s: %s (%s)\n", what, vmm_strerror(rc),
          vmm_last_error());
  return -1;
}

static int lib_setup(struct lib_path *p, const uint8_t *image) {
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = backend;
  int rc = vmm_vm_create(&cfg, &p->vm);
  if (rc < 0)
    return lib_fail("vmm_vm_create", rc);
  rc = vmm_mem_map(p->vm, 0, BENCH_GUEST_RAM, NULL, 0, NULL);
  if (rc < 0)
    return lib_fail("vmm_mem_map", rc);
  rc = vmm_mem_write(p->vm, 0, image, BENCH_IMAGE_SIZE);
  if (rc < 0)
    return lib_fail("vmm_mem_write", rc);
  rc = vmm_io_register(p->vm, VMM_IO_PIO, BENCH_PORT_COUNT, 1, count_exit, p);
  if (rc < 0)
    return lib_fail("vmm_io_register", rc);
  rc = vmm_vcpu_create(p->vm, 0, &p->vcpu);
  if (rc < 0)
    return lib_fail("vmm_vcpu_create", rc);
  return 0;
}

/* Runs `n` counted exits plus the final one; returns ns or -1. */
static double lib_round(struct lib_path *p, uint64_t n) {
  /* Back to the ring-0 entry (the last round ended in ring 3). */
  vmm_sregs_t sregs;
  int rc = vmm_vcpu_get_sregs(p->vcpu, &sregs);
  if (rc < 0)
    return lib_fail("vmm_vcpu_get_sregs", rc);
  bench_guest_sregs(&sregs);
  rc = vmm_vcpu_set_sregs(p->vcpu, &sregs);
  if (rc < 0)
    return lib_fail("vmm_vcpu_set_sregs", rc);
  vmm_regs_t regs;
  round_regs(&regs, n);
  rc = vmm_vcpu_set_regs(p->vcpu, &regs);
  if (rc < 0)
    return lib_fail("vmm_vcpu_set_regs", rc);
  p->count = 0;
  vmm_exit_t exit;
  uint64_t t0 = bench_now_ns();
  rc = vmm_vcpu_run(p->vcpu, &exit);
  uint64_t t1 = bench_now_ns();
  if (rc < 0)
    return lib_fail("vmm_vcpu_run", rc);
  if (exit.reason != VMM_EXIT_IO || exit.u.io.port != BENCH_PORT_DONE) {
    fprintf(stderr,
            PROG ": libvmm: unexpected exit: reason %u port 0x%x "
            "(internal kind %u rip 0x%llx)\n",
            exit.reason, exit.reason == VMM_EXIT_IO ? exit.u.io.port : 0,
            exit.reason == VMM_EXIT_INTERNAL_ERROR ? exit.u.internal.kind : 0,
            exit.reason == VMM_EXIT_INTERNAL_ERROR
                ? (unsigned long long)exit.u.internal.rip
                : 0ull);
    return -1;
  }
  if (p->count != n) {
    fprintf(stderr, PROG ": libvmm: counted %llu exits, expected %llu\n",
            (unsigned long long)p->count, (unsigned long long)n);
    return -1;
  }
  return (double)(t1 - t0);
}

/* ---- raw KVM path -------------------------------------------------------- */

struct raw_path {
  struct raw_kvm kvm;
  struct raw_vm vm;
  uint64_t count;
};

static int raw_setup(struct raw_path *p, const uint8_t *image) {
  if (raw_kvm_open(&p->kvm) < 0)
    return -1;
  if (raw_vm_setup(&p->kvm, BENCH_GUEST_RAM, &p->vm) < 0)
    return -1;
  memcpy(p->vm.mem, image, BENCH_IMAGE_SIZE);
  return 0;
}

static double raw_round(struct raw_path *p, uint64_t n) {
  vmm_sregs_t sregs;
  if (raw_get_sregs(&p->vm, &sregs) < 0)
    return -1;
  bench_guest_sregs(&sregs);
  if (raw_set_sregs(&p->vm, &sregs) < 0)
    return -1;
  vmm_regs_t regs;
  round_regs(&regs, n);
  if (raw_set_regs(&p->vm, &regs) < 0)
    return -1;
  p->count = 0;
  struct kvm_run *run = p->vm.run;
  uint64_t t0 = bench_now_ns();
  for (;;) {
    if (ioctl(p->vm.vcpu_fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      perror(PROG ": raw: KVM_RUN");
      return -1;
    }
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, PROG ": raw: unexpected exit reason %u\n",
              run->exit_reason);
      return -1;
    }
    /* A VMM looks at the port and the data of every exit. */
    volatile uint8_t *data = (uint8_t *)run + run->io.data_offset;
    (void)*data;
    if (run->io.port == BENCH_PORT_COUNT &&
        run->io.direction == KVM_EXIT_IO_OUT) {
      p->count++;
      continue;
    }
    if (run->io.port == BENCH_PORT_DONE)
      break;
    fprintf(stderr, PROG ": raw: unexpected I/O to port 0x%x\n",
            run->io.port);
    return -1;
  }
  uint64_t t1 = bench_now_ns();
  if (p->count != n) {
    fprintf(stderr, PROG ": raw: counted %llu exits, expected %llu\n",
            (unsigned long long)p->count, (unsigned long long)n);
    return -1;
  }
  return (double)(t1 - t0);
}

/* ---- driver -------------------------------------------------------------- */

int main(int argc, char **argv) {
  unsigned long n = 10000, rounds = 15;
  static const struct option opts[] = {
      {"exits", required_argument, NULL, 'n'},
      {"rounds", required_argument, NULL, 'r'},
      {"ring", required_argument, NULL, 'R'},
      {"backend", required_argument, NULL, 'B'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      n = bench_parse_count(PROG, "-n", optarg);
      break;
    case 'r':
      rounds = bench_parse_count(PROG, "--rounds", optarg);
      break;
    case 'R':
      if (strcmp(optarg, "0") && strcmp(optarg, "3")) {
        fprintf(stderr, PROG ": --ring wants 0 or 3, not '%s'\n", optarg);
        return 2;
      }
      loop_ring = optarg[0] - '0';
      break;
    case 'B':
      backend = optarg;
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

  bool raw_too = !strcmp(backend, "kvm");
  if (raw_too)
    bench_require_kvm(PROG);
  int rc = vmm_backend_probe(backend);
  if (rc < 0 && !raw_too) {
    printf(PROG ": SKIP: backend %s: %s\n", backend, vmm_last_error());
    return BENCH_EXIT_SKIP;
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": raw /dev/kvm works but libvmm's kvm backend "
            "does not: %s\n", vmm_last_error());
    return 1;
  }

  uint8_t *image = malloc(BENCH_IMAGE_SIZE);
  double *lib_ns = calloc(rounds, sizeof(double));
  double *raw_ns = calloc(rounds, sizeof(double));
  if (!image || !lib_ns || !raw_ns) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  bench_guest_image(image, guest_code, sizeof(guest_code));

  struct lib_path lib = {0};
  struct raw_path raw = {0};
  raw.kvm.fd = -1;
  raw.vm.fd = raw.vm.vcpu_fd = -1;
  int status = 1;
  if (lib_setup(&lib, image) < 0 || (raw_too && raw_setup(&raw, image) < 0))
    goto out;

  /* Warm up both paths (page faults, caches, CPU frequency). */
  uint64_t warm = n / 10 ? n / 10 : 1;
  if (lib_round(&lib, warm) < 0 || (raw_too && raw_round(&raw, warm) < 0))
    goto out;

  printf(PROG ": %lu exits per round, %lu rounds per path, loop in ring %d, "
         "backend %s\n", n, rounds, loop_ring, backend);
  if (!raw_too) {
    for (unsigned long r = 0; r < rounds; r++) {
      double a = lib_round(&lib, n);
      if (a < 0)
        goto out;
      lib_ns[r] = a / (double)n;
      printf("round %2lu: libvmm %9.1f ns/exit\n", r + 1, lib_ns[r]);
    }
    printf("exit_latency backend=%s libvmm_ns=%.1f min=%.1f max=%.1f\n",
           backend, bench_median(lib_ns, rounds), bench_min(lib_ns, rounds),
           bench_max(lib_ns, rounds));
    status = 0;
    goto out;
  }
  for (unsigned long r = 0; r < rounds; r++) {
    /* Alternate which path goes first so that drift hits both alike. */
    double a, b;
    if (r % 2 == 0) {
      a = lib_round(&lib, n);
      b = a < 0 ? -1 : raw_round(&raw, n);
    } else {
      b = raw_round(&raw, n);
      a = b < 0 ? -1 : lib_round(&lib, n);
    }
    if (a < 0 || b < 0)
      goto out;
    lib_ns[r] = a / (double)n;
    raw_ns[r] = b / (double)n;
    printf("round %2lu: libvmm %9.1f ns/exit   raw %9.1f ns/exit   "
           "ratio %.3f\n",
           r + 1, lib_ns[r], raw_ns[r], lib_ns[r] / raw_ns[r]);
  }
  printf("libvmm: min %.1f max %.1f ns/exit\n", bench_min(lib_ns, rounds),
         bench_max(lib_ns, rounds));
  printf("raw:    min %.1f max %.1f ns/exit\n", bench_min(raw_ns, rounds),
         bench_max(raw_ns, rounds));
  double lm = bench_median(lib_ns, rounds), rm = bench_median(raw_ns, rounds);
  printf("exit_latency ratio=%.3f libvmm_ns=%.1f raw_ns=%.1f\n", lm / rm, lm,
         rm);
  status = 0;
out:
  vmm_vm_destroy(lib.vm);
  raw_vm_destroy(&raw.vm);
  raw_kvm_close(&raw.kvm);
  free(image);
  free(lib_ns);
  free(raw_ns);
  return status;
}
