/* examples/fleet.c — many VMs in one process, on one shared libuv loop or a loop each. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include <libvmm/libvmm.h>
#include <libvmm/uv.h>

/* The guest's side (tests/guests/fleet.c and its library). */
#include "compute.h"
#include "layout.h"
#include "ucall.h"

#define PROG "fleet"
#define EXIT_SKIP 77

#ifndef FLEET_GUEST
#define FLEET_GUEST "fleet.elf"
#endif

struct options {
  unsigned vms;
  bool shared_loop;
  uint64_t steps;
  unsigned rng_bytes;
  unsigned timeout_s;
  bool quiet;
  const char *guest;
};

/* What one VM reported and how it ended. */
struct fleet_vm {
  unsigned index;
  vmm_vm_t *vm;
  struct fleet *fleet;
  uint64_t seed, expected;
  bool synced, done, aborted;
  uint64_t result, rng_got, rng_or;
  char abort_text[UCALL_TEXT_MAX];
  vmm_vm_stop_info_t info;
  bool ok;
};

struct fleet {
  const struct options *opt;
  struct fleet_vm *vms;
  /* VMs that reached STOPPED; the main thread waits for all of them. */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  unsigned stopped;
  uv_async_t wake; /* shared-loop mode: the loop thread is told here */
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A "Name: value" field of /proc/self/status (VmRSS in KiB, Threads). */
static long status_field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  long v = -1;
  char line[256];
  size_t n = strlen(name);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  if (f)
    fclose(f);
  return v;
}

static long rss_kib(void) { return status_field("VmRSS"); }

static long open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  long n = 0;
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* vCPU thread: the guest's ucalls (an OUT of the struct's address to
 * UCALL_PORT that no handler took). */
static int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct fleet_vm *f = opaque;
  if (e->reason != VMM_EXIT_IO || e->u.io.port != UCALL_PORT ||
      e->u.io.size != 4 || !e->u.io.is_write)
    return 1; /* the default treatment */
  vmm_vm_t *vm = vmm_vcpu_vm(vcpu);
  uint32_t gpa;
  struct ucall uc;
  memcpy(&gpa, e->u.io.data, 4);
  if (vmm_mem_read(vm, gpa, &uc, sizeof(uc)) < 0 || uc.magic != UCALL_MAGIC)
    return VMM_EINVAL; /* stops this VM with VMM_STOP_ERROR */
  uc.text[UCALL_TEXT_MAX - 1] = 0;
  switch (uc.cmd) {
  case UCALL_SYNC:
    f->synced = true;
    f->result = uc.args[0];
    f->rng_got = uc.args[1];
    f->rng_or = uc.args[2];
    break;
  case UCALL_DONE:
    f->done = true;
    vmm_vm_stop(vm, 0);
    break;
  case UCALL_ABORT:
    f->aborted = true;
    memcpy(f->abort_text, uc.text, sizeof(uc.text));
    vmm_vm_stop(vm, 1);
    break;
  default:
    break;
  }
  return 0;
}

/* Whichever thread stopped the VM. */
static void on_state(vmm_vm_t *vm, vmm_vm_state_t old_state,
                     vmm_vm_state_t new_state, void *opaque) {
  (void)vm, (void)old_state;
  struct fleet *fl = opaque;
  if (new_state != VMM_VM_STOPPED)
    return;
  pthread_mutex_lock(&fl->mu);
  fl->stopped++;
  pthread_cond_broadcast(&fl->cond);
  pthread_mutex_unlock(&fl->mu);
  if (fl->opt->shared_loop)
    uv_async_send(&fl->wake);
}

static int fail(unsigned i, const char *what, int rc) {
  fprintf(stderr, PROG ": VM %u: %s: %s (%s)\n", i, what, vmm_err_name(rc),
          vmm_last_error());
  return rc;
}

/* One VM: 4 MiB of RAM, one vCPU in long mode at the guest's entry, a
 * virtio-rng on its loop (the shared one, or its own). */
static int vm_create_one(struct fleet *fl, struct fleet_vm *f,
                         uv_loop_t *loop) {
  const struct options *o = fl->opt;
  unsigned i = f->index;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.max_vcpus = 1;
  vmm_vcpu_t *vcpu;
  int rc = vmm_vm_create(&cfg, &f->vm);
  if (rc < 0)
    return fail(i, "vmm_vm_create", rc);
  /* Before any device: the device's doorbell polls go on this loop. */
  if (loop && (rc = vmm_vm_use_loop(f->vm, (struct uv_loop_s *)loop)) < 0)
    return fail(i, "vmm_vm_use_loop", rc);
  if ((rc = vmm_mem_map(f->vm, GUEST_RAM_GPA, GUEST_RAM_SIZE, NULL, 0,
                        NULL)) < 0)
    return fail(i, "vmm_mem_map", rc);
  if ((rc = vmm_vcpu_create(f->vm, 0, &vcpu)) < 0)
    return fail(i, "vmm_vcpu_create", rc);
  vmm_elf_info_t elf = {.size = sizeof(elf)};
  if ((rc = vmm_load_elf_file(f->vm, o->guest, &elf)) < 0)
    return fail(i, "vmm_load_elf_file", rc);
  if ((rc = vmm_vcpu_setup_long_mode(vcpu, elf.entry, GUEST_STACK_TOP,
                                     GUEST_SETUP_GPA)) < 0)
    return fail(i, "vmm_vcpu_setup_long_mode", rc);
  uint64_t params[4] = {f->seed, o->steps, 0, o->rng_bytes};
  if (o->rng_bytes) {
    vmm_device_t *rng;
    if ((rc = vmm_virtio_rng_create(f->vm, NULL, &rng)) < 0)
      return fail(i, "vmm_virtio_rng_create", rc);
    params[2] = vmm_virtio_mmio_base(rng);
  }
  if ((rc = vmm_mem_write(f->vm, GUEST_PARAM_GPA, params, sizeof(params))) <
      0)
    return fail(i, "vmm_mem_write(params)", rc);
  if ((rc = vmm_vm_on_exit(f->vm, on_exit_ucall, f)) < 0 ||
      (rc = vmm_vm_on_state_change(f->vm, on_state, fl)) < 0)
    return fail(i, "vmm_vm_on_exit/state_change", rc);
  return 0;
}

/* Shared-loop mode: the loop thread (this one) sees each stop. */
static void on_wake(uv_async_t *async) {
  struct fleet *fl = async->data;
  pthread_mutex_lock(&fl->mu);
  bool all = fl->stopped == fl->opt->vms;
  pthread_mutex_unlock(&fl->mu);
  if (all)
    uv_stop(async->loop);
}

static void on_timeout(uv_timer_t *timer) { uv_stop(timer->loop); }

/* Per-VM mode: the VMs' own loop threads serve the devices; this thread
 * only waits. */
static void wait_all(struct fleet *fl, unsigned timeout_s) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_s;
  pthread_mutex_lock(&fl->mu);
  while (fl->stopped < fl->opt->vms &&
         pthread_cond_timedwait(&fl->cond, &fl->mu, &deadline) == 0) {
  }
  pthread_mutex_unlock(&fl->mu);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [-n VMS] [--loop shared|per-vm] [--steps N] "
          "[--rng BYTES]\n"
          "             [--timeout S] [--quiet] [--guest PATH]\n"
          "Starts VMS VMs in this process, each running the fleet guest: it\n"
          "reads BYTES from a virtio-rng, runs N steps of a computation in\n"
          "ring 3 seeded by the VM's number, and reports the result, which\n"
          "is checked here. Prints each VM's end and a summary line;\n"
          "exits 0 when every VM gave the right result, 1 otherwise, 77\n"
          "when /dev/kvm is unusable.\n"
          "  -n, --vms VMS     number of VMs (default 10)\n"
          "  --loop MODE       shared: one libuv loop, run by this thread,\n"
          "                    serves every VM's devices (default);\n"
          "                    per-vm: each VM has its own loop thread\n"
          "  --steps N         computation steps per VM (default 1000000)\n"
          "  --rng BYTES       virtio-rng bytes per VM, 0..256; 0: no device\n"
          "                    (default 32)\n"
          "  --timeout S       seconds before unfinished VMs are stopped\n"
          "                    (default 60)\n"
          "  -q, --quiet       no line per VM\n"
          "  --guest PATH      the guest ELF (default: as built)\n");
}

static void parse(int argc, char **argv, struct options *o) {
  static const struct option longopts[] = {
      {"vms", required_argument, NULL, 'n'},
      {"loop", required_argument, NULL, 'l'},
      {"steps", required_argument, NULL, 's'},
      {"rng", required_argument, NULL, 'r'},
      {"timeout", required_argument, NULL, 't'},
      {"quiet", no_argument, NULL, 'q'},
      {"guest", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (struct options){.vms = 10, .shared_loop = true, .steps = 1000000,
                        .rng_bytes = 32, .timeout_s = 60,
                        .guest = FLEET_GUEST};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "n:qh", longopts, NULL)) != -1) {
    errno = 0;
    switch (c) {
    case 'n':
      o->vms = (unsigned)strtoul(optarg, &end, 10);
      if (*end || errno || o->vms == 0 || o->vms > 100000)
        goto bad;
      break;
    case 'l':
      if (strcmp(optarg, "shared") == 0)
        o->shared_loop = true;
      else if (strcmp(optarg, "per-vm") == 0)
        o->shared_loop = false;
      else
        goto bad;
      break;
    case 's':
      o->steps = strtoull(optarg, &end, 10);
      if (*end || errno)
        goto bad;
      break;
    case 'r':
      o->rng_bytes = (unsigned)strtoul(optarg, &end, 10);
      if (*end || errno || o->rng_bytes > 256)
        goto bad;
      break;
    case 't':
      o->timeout_s = (unsigned)strtoul(optarg, &end, 10);
      if (*end || errno || o->timeout_s == 0)
        goto bad;
      break;
    case 'q':
      o->quiet = true;
      break;
    case 'g':
      o->guest = optarg;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      goto bad;
    }
  }
  if (optind == argc)
    return;
bad:
  usage(stderr);
  exit(2);
}

static const char *reason_name(uint32_t r) {
  static const char *const names[] = {"none", "requested", "guest-exit",
                                      "reset", "halt", "shutdown", "debug",
                                      "error"};
  return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

int main(int argc, char **argv) {
  struct options o;
  parse(argc, argv, &o);

  /* Two descriptors per VM (VM, vCPU), three more with a virtio device
   * (its doorbell eventfd; with its own loop, the loop's epoll and wake
   * descriptors): take all the kernel allows. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  struct fleet fl = {.opt = &o};
  pthread_mutex_init(&fl.mu, NULL);
  pthread_cond_init(&fl.cond, NULL);
  fl.vms = calloc(o.vms, sizeof(*fl.vms));
  if (!fl.vms) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  uv_loop_t loop;
  uv_timer_t timer;
  if (o.shared_loop) {
    if (uv_loop_init(&loop) < 0 || uv_async_init(&loop, &fl.wake, on_wake) <
        0 || uv_timer_init(&loop, &timer) < 0) {
      fprintf(stderr, PROG ": cannot set up the libuv loop\n");
      return 1;
    }
    fl.wake.data = &fl;
  }

  /* The results to expect, computed here before anything is timed. */
  for (unsigned i = 0; i < o.vms; i++) {
    struct fleet_vm *f = &fl.vms[i];
    f->index = i;
    f->fleet = &fl;
    f->seed = COMPUTE_SEED + i;
    f->expected = compute_run(f->seed, o.steps);
  }

  long rss0 = rss_kib();
  uint64_t t0 = now_ns();
  int rc = 0;
  unsigned created = 0;
  for (unsigned i = 0; i < o.vms && rc == 0; i++) {
    struct fleet_vm *f = &fl.vms[i];
    rc = vm_create_one(&fl, f, o.shared_loop ? &loop : NULL);
    if (rc == 0)
      created++;
  }
  uint64_t t1 = now_ns();
  if (rc < 0) {
    int code = (rc == VMM_ENODEV || rc == VMM_EACCES) && created == 0
                   ? EXIT_SKIP : 1;
    if (code == EXIT_SKIP)
      fprintf(stderr, PROG ": SKIP: no usable /dev/kvm\n");
    for (unsigned i = 0; i <= created && i < o.vms; i++)
      vmm_vm_destroy(fl.vms[i].vm);
    if (o.shared_loop) {
      uv_close((uv_handle_t *)&fl.wake, NULL);
      uv_close((uv_handle_t *)&timer, NULL);
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
    }
    free(fl.vms);
    return code;
  }

  for (unsigned i = 0; i < o.vms; i++) {
    rc = vmm_vm_start(fl.vms[i].vm);
    if (rc < 0) {
      fail(i, "vmm_vm_start", rc);
      /* With its one vCPU thread not started, the VM went to STOPPED
       * without a state callback: count it here. */
      pthread_mutex_lock(&fl.mu);
      fl.stopped++;
      pthread_mutex_unlock(&fl.mu);
    }
    /* Shared loop: this thread is its only runner, so it serves the
     * devices of the VMs already started while it starts the rest. */
    if (o.shared_loop)
      uv_run(&loop, UV_RUN_NOWAIT);
  }
  uint64_t t2 = now_ns();
  /* Threads and descriptors while every VM runs (most are still busy:
   * the guests compute for longer than the start takes). */
  long threads = status_field("Threads"), fds = open_fds();

  if (o.shared_loop) {
    /* This thread is the loop thread: it serves every VM's devices until
     * the last VM stops (or the time is up). */
    uv_timer_start(&timer, on_timeout, (uint64_t)o.timeout_s * 1000, 0);
    on_wake(&fl.wake); /* all may have stopped before the loop runs */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_timer_stop(&timer);
  } else {
    wait_all(&fl, o.timeout_s);
  }
  long rss1 = rss_kib();
  unsigned timed_out = 0;
  for (unsigned i = 0; i < o.vms; i++) {
    struct fleet_vm *f = &fl.vms[i];
    if (vmm_vm_state(f->vm) != VMM_VM_STOPPED) {
      timed_out++;
      vmm_vm_stop(f->vm, -1);
    }
  }
  if (timed_out && o.shared_loop) {
    /* Keep serving devices while the stragglers stop. */
    while (true) {
      pthread_mutex_lock(&fl.mu);
      bool all = fl.stopped >= o.vms;
      pthread_mutex_unlock(&fl.mu);
      if (all)
        break;
      uv_run(&loop, UV_RUN_ONCE); /* each stop wakes it (on_state) */
    }
  }
  uint64_t t3 = now_ns();

  unsigned ok = 0;
  for (unsigned i = 0; i < o.vms; i++) {
    struct fleet_vm *f = &fl.vms[i];
    f->info.size = sizeof(f->info);
    int wrc = vmm_vm_wait(f->vm, -1, &f->info);
    f->ok = wrc == 0 && f->done && !f->aborted && f->synced &&
            f->result == f->expected && f->info.reason == VMM_STOP_REQUESTED &&
            f->info.status == 0 && f->rng_got == o.rng_bytes &&
            (o.rng_bytes < 8 || f->rng_or != 0);
    ok += f->ok;
    if (!o.quiet || !f->ok)
      printf("vm %u: %s, stop %s status %d, result 0x%016llx (%s), rng "
             "%llu bytes%s%s\n", i, f->ok ? "ok" : "FAILED",
             reason_name(f->info.reason), f->info.status,
             (unsigned long long)f->result,
             !f->synced ? "none" : f->result == f->expected ? "right"
                                                            : "WRONG",
             (unsigned long long)f->rng_got,
             f->aborted ? ", guest aborted: " : f->info.message[0] &&
                 !f->done ? ", " : "",
             f->aborted ? f->abort_text : !f->done ? f->info.message : "");
  }
  for (unsigned i = 0; i < o.vms; i++)
    if ((rc = vmm_vm_destroy(fl.vms[i].vm)) < 0)
      fail(i, "vmm_vm_destroy", rc);
  uint64_t t4 = now_ns();
  if (o.shared_loop) {
    /* The VMs' handles on the loop close now; then the loop can go. */
    uv_close((uv_handle_t *)&fl.wake, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0)
      fprintf(stderr, PROG ": the loop still has handles\n");
  }

  printf("fleet vms=%u ok=%u failed=%u timed_out=%u loop=%s create_ms=%.1f "
         "start_ms=%.1f wall_ms=%.1f destroy_ms=%.1f rss_growth_kib=%ld "
         "threads=%ld fds=%ld\n",
         o.vms, ok, o.vms - ok, timed_out,
         o.shared_loop ? "shared" : "per-vm", (t1 - t0) / 1e6,
         (t2 - t1) / 1e6, (t3 - t1) / 1e6, (t4 - t3) / 1e6, rss1 - rss0,
         threads, fds);
  free(fl.vms);
  pthread_mutex_destroy(&fl.mu);
  pthread_cond_destroy(&fl.cond);
  return ok == o.vms ? 0 : 1;
}
