/* bench/density.c — how many small VMs one process holds, and what each costs. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"

#define PROG "density"
#define CODE_GPA 0x1000u
#define TOUCH_GPA 0x2000u
#define READY_PORT 0x501u
#define MAX_TOUCH_PAGES 14u /* the pages stay inside real mode's first 64 KiB */

/*
 * The guest: real-mode code at 0000:1000 that writes one word into each of
 * `pages` pages from 0x2000 up, says it is up with an OUT to READY_PORT,
 * then waits for good with interrupts off (CLI; HLT). With the backend's
 * interrupt controller (VMM_VM_F_IRQCHIP) HLT sleeps inside the kernel
 * until the vCPU is kicked, so a thousand waiting VMs cost no CPU.
 *   bb 00 20      mov $0x2000, %bx
 * 1: 89 1f        mov %bx, (%bx)
 *   81 c3 00 10   add $0x1000, %bx
 *   81 fb LL HH   cmp $end, %bx
 *   75 f4         jne 1b
 *   ba 01 05      mov $0x501, %dx
 *   ee            out %al, (%dx)
 *   fa            cli
 * 2: f4           hlt
 *   eb fd         jmp 2b
 */
static void guest_code(uint8_t code[23], unsigned pages) {
  static const uint8_t tmpl[23] = {
      0xbb, 0x00, 0x20, 0x89, 0x1f, 0x81, 0xc3, 0x00, 0x10, 0x81, 0xfb, 0x00,
      0x00, 0x75, 0xf4, 0xba, READY_PORT & 0xff, READY_PORT >> 8, 0xee,
      0xfa, 0xf4, 0xeb, 0xfd};
  memcpy(code, tmpl, sizeof(tmpl));
  uint16_t end = (uint16_t)(TOUCH_GPA + pages * 0x1000u);
  code[11] = (uint8_t)end;
  code[12] = (uint8_t)(end >> 8);
}

struct options {
  unsigned counts[8];
  unsigned n_counts;
  unsigned mem_mib;
  unsigned pages;
  unsigned timeout_s;
  unsigned hold_s;
};

/* VMs that said they are up; the main thread waits for all of them. */
static atomic_uint ready;
static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;

static int on_ready(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                    uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)opaque;
  if (is_write) {
    pthread_mutex_lock(&ready_mu);
    atomic_fetch_add(&ready, 1);
    pthread_cond_broadcast(&ready_cond);
    pthread_mutex_unlock(&ready_mu);
  }
  return 0;
}

struct vm_slot {
  vmm_vm_t *vm;
  vmm_mem_region_t *ram;
};

/* Resident set of this process in KiB (smaps_rollup counts every page
 * mapped, shared ones such as the vCPUs' run areas included). */
static long rss_kib(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "Rss: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

/* Pages of guest RAM that are resident (the guest, the loader or the
 * kernel touched them): the part of the RSS growth that is the guests'. */
static long resident_kib(void *hva, size_t size) {
  size_t pages = size / 4096;
  unsigned char *vec = malloc(pages);
  if (!vec || mincore(hva, size, vec) < 0) {
    free(vec);
    return -1;
  }
  long n = 0;
  for (size_t i = 0; i < pages; i++)
    n += vec[i] & 1;
  free(vec);
  return n * 4;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int threads_now(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  int n = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

static int vm_make(struct vm_slot *s, const struct options *o,
                   const uint8_t *code, size_t code_len) {
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = "kvm";
  cfg.max_vcpus = 1;
  cfg.flags = VMM_VM_F_IRQCHIP;
  vmm_vcpu_t *vcpu;
  const char *what = "vmm_vm_create";
  int rc = vmm_vm_create(&cfg, &s->vm);
  if (rc == 0) {
    what = "vmm_mem_map";
    rc = vmm_mem_map(s->vm, 0, (uint64_t)o->mem_mib << 20, NULL, 0, &s->ram);
  }
  if (rc == 0) {
    what = "vmm_vcpu_create";
    rc = vmm_vcpu_create(s->vm, 0, &vcpu);
  }
  if (rc == 0) {
    what = "vmm_load_flat";
    rc = vmm_load_flat(s->vm, code, code_len, CODE_GPA);
  }
  if (rc == 0) {
    what = "vmm_vcpu_setup_real_mode";
    rc = vmm_vcpu_setup_real_mode(vcpu, 0, CODE_GPA, 0x1000);
  }
  if (rc == 0) {
    what = "vmm_io_register";
    rc = vmm_io_register(s->vm, VMM_IO_PIO, READY_PORT, 1, on_ready, NULL);
  }
  if (rc == 0) {
    what = "vmm_vm_start";
    rc = vmm_vm_start(s->vm);
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s (%s)\n", what, vmm_err_name(rc),
            vmm_last_error());
    vmm_vm_destroy(s->vm);
    s->vm = NULL;
  }
  return rc;
}

struct round {
  unsigned created;       /* VMs created and started */
  bool all_up;            /* every one of them reported */
  double create_s, up_s, stop_s;
  long rss_growth_kib, guest_kib;
  double overhead_kib;    /* per VM, beyond the guest pages resident */
  double idle_cpu_pct;    /* CPU use of the process while all VMs wait */
  int threads;
};

/* Creates and starts `n` VMs, waits for all to be up, measures, stops and
 * destroys them. */
static void run_round(unsigned n, const struct options *o, struct round *r) {
  memset(r, 0, sizeof(*r));
  uint8_t code[23];
  guest_code(code, o->pages);
  struct vm_slot *vms = calloc(n, sizeof(*vms));
  if (!vms) {
    fprintf(stderr, PROG ": out of memory\n");
    return;
  }
  atomic_store(&ready, 0);
  long rss0 = rss_kib();
  uint64_t t0 = bench_now_ns();
  for (unsigned i = 0; i < n; i++) {
    if (vm_make(&vms[i], o, code, sizeof(code)) < 0) {
      fprintf(stderr, PROG ": stopped at VM %u of %u\n", i + 1, n);
      break;
    }
    r->created++;
  }
  uint64_t t1 = bench_now_ns();
  r->create_s = (t1 - t0) / 1e9;

  /* Wait for every created VM to have touched its pages and halted. */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += o->timeout_s;
  pthread_mutex_lock(&ready_mu);
  while (atomic_load(&ready) < r->created &&
         pthread_cond_timedwait(&ready_cond, &ready_mu, &deadline) == 0) {
  }
  unsigned up = atomic_load(&ready);
  pthread_mutex_unlock(&ready_mu);
  uint64_t t2 = bench_now_ns();
  r->up_s = (t2 - t0) / 1e9;
  r->all_up = r->created == n && up == n;
  if (up < r->created)
    fprintf(stderr, PROG ": only %u of %u VMs came up within %u s\n", up,
            r->created, o->timeout_s);

  /* The VMs wait in HLT now; a second of CPU time shows whether they do
   * so without spinning. */
  long rss1 = rss_kib();
  long guest = 0;
  for (unsigned i = 0; i < r->created; i++)
    guest += resident_kib(vmm_mem_region_hva(vms[i].ram),
                          (size_t)vmm_mem_region_size(vms[i].ram));
  r->threads = threads_now();
  double c0 = cpu_seconds();
  uint64_t w0 = bench_now_ns();
  usleep(1000 * 1000);
  r->idle_cpu_pct = 100.0 * (cpu_seconds() - c0) / ((bench_now_ns() - w0) / 1e9);
  r->rss_growth_kib = rss1 - rss0;
  r->guest_kib = guest;
  r->overhead_kib =
      r->created ? (double)(r->rss_growth_kib - guest) / r->created : 0;
  if (o->hold_s) {
    /* Time to look at the process from outside (/proc/PID/smaps). */
    printf("%s: %u VMs up, pid %d, holding %u s\n", PROG, r->created,
           (int)getpid(), o->hold_s);
    fflush(stdout);
    sleep(o->hold_s);
  }

  uint64_t t3 = bench_now_ns();
  for (unsigned i = 0; i < r->created; i++)
    vmm_vm_stop(vms[i].vm, 0);
  for (unsigned i = 0; i < r->created; i++) {
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    int rc = vmm_vm_wait(vms[i].vm, 30000, &info);
    if (rc < 0 || info.reason != VMM_STOP_REQUESTED) {
      fprintf(stderr, PROG ": VM %u: wait %s, stop reason %u: %s\n", i,
              vmm_err_name(rc), info.reason, info.message);
      r->all_up = false;
    }
    rc = vmm_vm_destroy(vms[i].vm);
    if (rc < 0)
      fprintf(stderr, PROG ": VM %u: vmm_vm_destroy: %s (%s)\n", i,
              vmm_err_name(rc), vmm_last_error());
  }
  r->stop_s = (bench_now_ns() - t3) / 1e9;
  free(vms);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [-n COUNT]... [--mem MIB] [--pages P] "
          "[--timeout S]\n"
          "Creates COUNT VMs (1 vCPU, MIB MiB of RAM, the backend's\n"
          "interrupt controller) in this process, all running at once: each\n"
          "guest writes to P pages, reports, and waits in HLT. Reports the\n"
          "growth of the process's resident set per VM beyond the guest\n"
          "pages resident, the creation rate, and the CPU use while all\n"
          "wait; then stops and destroys them. Rounds run in order.\n"
          "  -n, --vms COUNT   VMs in a round (repeatable; default 1 100 1000)\n"
          "  --mem MIB         guest RAM per VM (default 16)\n"
          "  --pages P         pages each guest writes, 1..%u (default 4)\n"
          "  --timeout S       seconds for all VMs of a round to come up "
          "(default 120)\n"
          "  --hold S          keep each round's VMs S seconds after measuring\n"
          "                    (to inspect the process from outside)\n"
          "Last line: density vms=<largest round fully up> "
          "overhead_kib_per_vm=<..> create_per_s=<..>\n",
          MAX_TOUCH_PAGES);
}

static void parse(int argc, char **argv, struct options *o) {
  static const struct option longopts[] = {
      {"vms", required_argument, NULL, 'n'},
      {"mem", required_argument, NULL, 'm'},
      {"pages", required_argument, NULL, 'p'},
      {"timeout", required_argument, NULL, 't'},
      {"hold", required_argument, NULL, 'H'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (struct options){.mem_mib = 16, .pages = 4, .timeout_s = 120};
  int c;
  while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'n':
      if (o->n_counts == sizeof(o->counts) / sizeof(o->counts[0])) {
        fprintf(stderr, PROG ": too many -n\n");
        exit(2);
      }
      o->counts[o->n_counts++] =
          (unsigned)bench_parse_count(PROG, "--vms", optarg);
      break;
    case 'm':
      o->mem_mib = (unsigned)bench_parse_count(PROG, "--mem", optarg);
      break;
    case 'p':
      o->pages = (unsigned)bench_parse_count(PROG, "--pages", optarg);
      break;
    case 't':
      o->timeout_s = (unsigned)bench_parse_count(PROG, "--timeout", optarg);
      break;
    case 'H':
      o->hold_s = (unsigned)bench_parse_count(PROG, "--hold", optarg);
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      exit(2);
    }
  }
  if (optind < argc || o->pages > MAX_TOUCH_PAGES || o->mem_mib < 1 ||
      o->mem_mib > 4096) {
    usage(stderr);
    exit(2);
  }
  if (o->n_counts == 0) {
    o->counts[0] = 1;
    o->counts[1] = 100;
    o->counts[2] = 1000;
    o->n_counts = 3;
  }
}

int main(int argc, char **argv) {
  struct options o;
  parse(argc, argv, &o);
  bench_require_kvm(PROG);
  /* Two descriptors per VM (VM, vCPU): take all the kernel allows. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("%s: %u MiB and 1 vCPU per VM, %u pages written by each guest, "
         "RLIMIT_NOFILE %llu\n", PROG, o.mem_mib, o.pages,
         (unsigned long long)rl.rlim_cur);

  /* One VM first, so that what libvmm sets up once per process (the
   * CPUID table, the kick signal, the handle registry, allocator arenas)
   * is not charged to the first round. */
  struct round warm;
  run_round(1, &o, &warm);
  if (!warm.all_up) {
    fprintf(stderr, PROG ": the warm-up VM did not come up\n");
    return 1;
  }

  unsigned best = 0;
  struct round best_r = {0};
  for (unsigned k = 0; k < o.n_counts; k++) {
    struct round r;
    run_round(o.counts[k], &o, &r);
    printf("vms=%u created=%u all_up=%s create_s=%.3f create_per_s=%.1f "
           "up_s=%.3f rss_growth_kib=%ld guest_resident_kib=%ld "
           "overhead_kib_per_vm=%.1f threads=%d idle_cpu_pct=%.1f "
           "stop_destroy_s=%.3f\n",
           o.counts[k], r.created, r.all_up ? "yes" : "no", r.create_s,
           r.create_s > 0 ? r.created / r.create_s : 0, r.up_s,
           r.rss_growth_kib, r.guest_kib, r.overhead_kib, r.threads,
           r.idle_cpu_pct, r.stop_s);
    fflush(stdout);
    if (!r.all_up)
      break;
    if (o.counts[k] >= best) {
      best = o.counts[k];
      best_r = r;
    }
  }
  printf("density vms=%u overhead_kib_per_vm=%.1f create_per_s=%.1f\n", best,
         best_r.overhead_kib,
         best_r.create_s > 0 ? best_r.created / best_r.create_s : 0);
  return best ? 0 : 1;
}
