/* bench/snapshot.c — snapshot and restore of a 128 MiB guest: time to save,
 * time from vmm_vm_restore() to the guest's first instruction, and the
 * same for a fresh VM built from the same description, in one run. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"
#include "snapshot_guest.h"

#define PROG "snapshot"
#define RAM_MIB 128u
/* Guest memory the host fills before the start, so that the snapshot
 * holds real data (a guest that has used a quarter of its RAM). */
#define FILL_GPA (8ull << 20)
#define FILL_SIZE (32ull << 20)

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [-n ITERATIONS] [-d DIR]\n"
          "A %u MiB VM from a JSON description (the snapshot guest counting\n"
          "in ring 3, a UART, an RTC, %llu MiB of memory filled): median time\n"
          "of vmm_vm_snapshot() of the running VM, of vmm_vm_restore() to\n"
          "the guest's first instruction, and of a fresh\n"
          "vmm_vm_create_from_config() + vmm_vm_start() to its first\n"
          "instruction, alternating; also vmm_vm_restore_into() a VM built\n"
          "beforehand, to its first instruction.\n"
          "  -n, --iterations N   iterations (default 20)\n"
          "  --no-irqchip         a VM without the in-kernel irqchip and PIT\n"
          "  -d, --dir DIR        where snapshots go (default: a new\n"
          "                       directory under $TMPDIR or /tmp)\n",
          RAM_MIB, (unsigned long long)(FILL_SIZE >> 20));
}

static int fail(const char *what, int rc) {
  fprintf(stderr, PROG ": %s: %s (%s)\n", what, vmm_strerror(rc),
          vmm_last_error());
  exit(1);
}

/* Absolute CLOCK_MONOTONIC ns of the VM's first guest entry (waits). */
static uint64_t first_entry(vmm_vm_t *vm) {
  vmm_vm_timings_t t = {.size = sizeof(t)};
  for (int i = 0; i < 100000; i++) {
    int rc = vmm_vm_get_timings(vm, &t);
    if (rc < 0)
      fail("vmm_vm_get_timings", rc);
    if (t.first_entry_ns)
      return t.created_ns + t.first_entry_ns;
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, PROG ": the vCPU never entered the guest\n");
  exit(1);
}

static uint64_t counter(vmm_vm_t *vm) {
  uint64_t v = 0;
  vmm_mem_read(vm, SG_COUNTER_GPA, &v, sizeof(v));
  return v;
}

static void wait_counting(vmm_vm_t *vm, uint64_t above) {
  for (int i = 0; i < 100000; i++) {
    if (counter(vm) > above)
      return;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, PROG ": the guest does not count\n");
  exit(1);
}

static vmm_vm_t *fresh(const vmm_config_t *cfg, double *ms) {
  vmm_vm_t *vm = NULL;
  uint64_t t0 = bench_now_ns();
  int rc = vmm_vm_create_from_config(cfg, &vm);
  if (rc < 0)
    fail("vmm_vm_create_from_config", rc);
  if ((rc = vmm_vm_start(vm)) < 0)
    fail("vmm_vm_start", rc);
  *ms = (double)(first_entry(vm) - t0) / 1e6;
  return vm;
}

static uint64_t dir_bytes(const char *dir, uint64_t *apparent) {
  uint64_t used = 0;
  *apparent = 0;
  const char *names[] = {"manifest.json", "state.bin", "mem-0.bin"};
  for (size_t i = 0; i < 3; i++) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
    if (stat(p, &st) == 0) {
      used += (uint64_t)st.st_blocks * 512;
      *apparent += (uint64_t)st.st_size;
    }
  }
  return used;
}

int main(int argc, char **argv) {
  unsigned long n = 20;
  const char *dir_opt = NULL;
  bool irqchip = true;
  static const struct option opts[] = {{"iterations", 1, NULL, 'n'},
                                       {"dir", 1, NULL, 'd'},
                                       {"no-irqchip", 0, NULL, 'i'},
                                       {"help", 0, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "n:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      n = bench_parse_count(PROG, "-n", optarg);
      break;
    case 'd':
      dir_opt = optarg;
      break;
    case 'i':
      irqchip = false;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  bench_require_kvm(PROG);

  char base[4096], snap[4200];
  if (dir_opt) {
    snprintf(base, sizeof(base), "%s", dir_opt);
    mkdir(base, 0755);
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/libvmm-bench-snap-XXXXXX",
             t && t[0] ? t : "/tmp");
    if (!mkdtemp(base)) {
      perror(PROG ": mkdtemp");
      return 1;
    }
  }
  snprintf(snap, sizeof(snap), "%s/snap", base);

  char json[8192];
  snprintf(json, sizeof(json),
           "{\"backend\": \"kvm\", \"irqchip\": %s,"
           " \"memory\": [{\"gpa\": 0, \"size\": \"%uM\"}],"
           " \"vcpus\": {\"count\": 1},"
           " \"payload\": {\"type\": \"elf\", \"path\": \"%s\"},"
           " \"devices\": [{\"type\": \"uart\", \"chardev\": {\"type\": "
           "\"buffer\", \"capacity\": 4096}}, {\"type\": \"rtc\"}]}",
           irqchip ? "true" : "false", RAM_MIB, SNAPSHOT_GUEST);
  vmm_config_t *cfg = NULL;
  int rc = vmm_config_parse(json, strlen(json), &cfg);
  if (rc < 0)
    fail("vmm_config_parse", rc);

  double *fresh_ms = calloc(n, sizeof(double));
  double *restore_ms = calloc(n, sizeof(double));
  double *save_ms = calloc(n, sizeof(double));
  double *into_ms = calloc(n, sizeof(double));
  uint8_t *fill = malloc(FILL_SIZE);
  if (!fresh_ms || !restore_ms || !save_ms || !into_ms || !fill)
    return 1;
  for (uint64_t i = 0; i < FILL_SIZE; i++)
    fill[i] = (uint8_t)(i * 2654435761u >> 13);

  for (unsigned long i = 0; i < n; i++) {
    /* A fresh VM to its first instruction; it then counts and fills
     * memory, and is snapshotted while it runs. */
    vmm_vm_t *vm = fresh(cfg, &fresh_ms[i]);
    if ((rc = vmm_mem_write(vm, FILL_GPA, fill, FILL_SIZE)) < 0)
      fail("vmm_mem_write", rc);
    wait_counting(vm, 1000000);
    uint64_t t0 = bench_now_ns();
    if ((rc = vmm_vm_snapshot(vm, snap)) < 0)
      fail("vmm_vm_snapshot", rc);
    save_ms[i] = (double)(bench_now_ns() - t0) / 1e6;
    uint64_t saved = counter(vm);
    vmm_vm_destroy(vm);

    /* Restored to its first instruction; it must count on. */
    vmm_vm_t *r = NULL;
    t0 = bench_now_ns();
    if ((rc = vmm_vm_restore(snap, NULL, &r)) < 0)
      fail("vmm_vm_restore", rc);
    restore_ms[i] = (double)(first_entry(r) - t0) / 1e6;
    wait_counting(r, saved);
    uint8_t check[64];
    vmm_mem_read(r, FILL_GPA + FILL_SIZE / 2, check, sizeof(check));
    if (memcmp(check, fill + FILL_SIZE / 2, sizeof(check)) != 0) {
      fprintf(stderr, PROG ": restored memory differs\n");
      return 1;
    }
    vmm_vm_destroy(r);

    /* Into a VM built beforehand (a pool of prepared VMs): only memory,
     * state and the start are on the clock. */
    vmm_vm_t *pre = NULL;
    if ((rc = vmm_vm_create_from_config(cfg, &pre)) < 0)
      fail("vmm_vm_create_from_config", rc);
    t0 = bench_now_ns();
    if ((rc = vmm_vm_restore_into(pre, snap, 0)) < 0)
      fail("vmm_vm_restore_into", rc);
    if ((rc = vmm_vm_start(pre)) < 0)
      fail("vmm_vm_start", rc);
    into_ms[i] = (double)(first_entry(pre) - t0) / 1e6;
    wait_counting(pre, saved);
    vmm_vm_destroy(pre);
  }
  uint64_t apparent = 0, used = dir_bytes(snap, &apparent);
  double f = bench_median(fresh_ms, n), rs = bench_median(restore_ms, n);
  double sv = bench_median(save_ms, n);
  printf("%lu iterations, %u MiB guest (%llu MiB filled)%s, snapshot %.1f "
         "MiB on disk (%.1f MiB apparent) in %s\n", n, RAM_MIB,
         (unsigned long long)(FILL_SIZE >> 20),
         irqchip ? "" : ", no irqchip", (double)used / (1 << 20),
         (double)apparent / (1 << 20), base);
  printf("fresh   create+start to first instruction: median %.3f ms "
         "(min %.3f, max %.3f)\n", f, bench_min(fresh_ms, n),
         bench_max(fresh_ms, n));
  printf("restore restore to first instruction:      median %.3f ms "
         "(min %.3f, max %.3f)\n", rs, bench_min(restore_ms, n),
         bench_max(restore_ms, n));
  printf("into    restore_into a built VM + start:   median %.3f ms "
         "(min %.3f, max %.3f)\n", bench_median(into_ms, n),
         bench_min(into_ms, n), bench_max(into_ms, n));
  printf("save    vmm_vm_snapshot (running VM):      median %.1f ms "
         "(min %.1f, max %.1f)\n", sv, bench_min(save_ms, n),
         bench_max(save_ms, n));
  if (!dir_opt) {
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
      fprintf(stderr, PROG ": could not remove %s\n", base);
  }
  vmm_config_free(cfg);
  printf("snapshot restore_ms=%.3f fresh_ms=%.3f ratio=%.3f save_ms=%.1f\n",
         rs, f, rs / f, sv);
  return 0;
}
