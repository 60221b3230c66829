/* bench/notify.c — latency of a virtio queue round trip with the doorbell
 * through ioeventfd against a plain MMIO exit handled on the vCPU thread,
 * and with the completion's MSI-X message through an irqfd against the
 * KVM_SIGNAL_MSI ioctl. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"
#include "bench_vm.h"
#include "notify_bench.h"

#define PROG "notify"
#define GUEST_RAM (4u << 20)
#define TIMEOUT_S 3600

/* The paths compared: one VM each, in one process. The environment
 * variables are read when a virtio device is created. */
enum { P_IOEVENTFD, P_MMIO_EXIT, P_MSI_IOCTL, NPATHS };
static const struct {
  const char *name, *env;
  const char *what;
} paths[NPATHS] = {
    {"ioeventfd", NULL, "doorbell: KVM ioeventfd -> loop thread"},
    {"mmio_exit", "LIBVMM_VIRTIO_NO_IOEVENTFD",
     "doorbell: MMIO exit to the vCPU thread -> eventfd -> loop thread"},
    {"msi_ioctl", "LIBVMM_VIRTIO_NO_IRQFD",
     "doorbell: ioeventfd; MSI-X by KVM_SIGNAL_MSI from the loop thread"},
};

static struct {
  unsigned long n, rounds;
  bool pci, msix;
  const char *guest;
} opt = {2000, 15, true, true, NOTIFY_GUEST};

struct path_vm {
  struct bench_vm b;
  int index;
  uint64_t t0;
  double *ns; /* per round */
};

/* Turns: one VM runs its round trips at a time, in an order that rotates
 * each round; the others wait in their START checkpoint (on their vCPU
 * threads, off the CPU). Round 0 is a warm-up. */
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static int *schedule;
static size_t turn, n_turns;

static int on_sync(struct bench_vm *b, const struct ucall *uc) {
  struct path_vm *p = b->opaque;
  uint64_t code = uc->args[0], round = uc->args[1];
  if (round > opt.rounds)
    return -1;
  if (code == NB_SYNC_START) {
    pthread_mutex_lock(&turn_lock);
    while (turn < n_turns && schedule[turn] != p->index)
      pthread_cond_wait(&turn_cond, &turn_lock);
    pthread_mutex_unlock(&turn_lock);
    p->t0 = bench_now_ns();
    return 0;
  }
  if (code != NB_SYNC_END)
    return -1;
  double ns = (double)(bench_now_ns() - p->t0) / (double)opt.n;
  if (uc->args[2] != opt.n) {
    fprintf(stderr, PROG ": %s: %llu bytes for %lu requests\n",
            paths[p->index].name, (unsigned long long)uc->args[2], opt.n);
    return -1;
  }
  if (round > 0)
    p->ns[round - 1] = ns;
  if (uc->args[3])
    printf("  %s: round %llu: %llu notifications not wanted by the "
           "device\n", paths[p->index].name, (unsigned long long)round,
           (unsigned long long)uc->args[3]);
  pthread_mutex_lock(&turn_lock);
  turn++;
  while (turn < n_turns && schedule[turn] < 0)
    turn++;
  pthread_cond_broadcast(&turn_cond);
  pthread_mutex_unlock(&turn_lock);
  return 0;
}

static int path_setup(struct path_vm *p, int index) {
  p->index = index;
  p->ns = calloc(opt.rounds, sizeof(double));
  if (!p->ns)
    return -1;
  if (bench_vm_create(&p->b, PROG, opt.guest, GUEST_RAM,
                      VMM_VM_F_IRQCHIP) < 0)
    return -1;
  p->b.on_sync = on_sync;
  p->b.opaque = p;
  vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
  vcfg.transport = opt.pci ? VMM_VIRTIO_PCI : VMM_VIRTIO_MMIO;
  vmm_device_t *dev;
  if (paths[index].env)
    setenv(paths[index].env, "1", 1);
  int rc = vmm_virtio_rng_create(p->b.vm, &vcfg, &dev);
  if (paths[index].env)
    unsetenv(paths[index].env);
  if (rc < 0) {
    fprintf(stderr, PROG ": vmm_virtio_rng_create: %s (%s)\n",
            vmm_strerror(rc), vmm_last_error());
    return -1;
  }
  uint64_t base = opt.pci ? (uint64_t)vmm_virtio_pci_devfn(dev)
                          : vmm_virtio_mmio_base(dev);
  if (bench_vm_param(&p->b, NB_PARAM_PCI, opt.pci) < 0 ||
      bench_vm_param(&p->b, NB_PARAM_BASE, base) < 0 ||
      bench_vm_param(&p->b, NB_PARAM_ROUNDS, opt.rounds + 1) < 0 ||
      bench_vm_param(&p->b, NB_PARAM_N, opt.n) < 0 ||
      bench_vm_param(&p->b, NB_PARAM_MSIX, opt.pci && opt.msix) < 0)
    return -1;
  return 0;
}

struct runner {
  struct path_vm *p;
  pthread_t th;
  int rc;
};

static void *run_vm(void *arg) {
  struct runner *r = arg;
  r->rc = bench_vm_run(&r->p->b, TIMEOUT_S);
  if (r->rc < 0) {
    /* Let the others go on without this VM's turns. */
    pthread_mutex_lock(&turn_lock);
    for (size_t i = turn; i < n_turns; i++)
      if (schedule[i] == r->p->index)
        schedule[i] = -1;
    while (turn < n_turns && schedule[turn] < 0)
      turn++;
    pthread_cond_broadcast(&turn_cond);
    pthread_mutex_unlock(&turn_lock);
  }
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f,
      "usage: " PROG " [-n TRIPS] [--rounds R] [--transport pci|mmio] "
      "[--no-msix] [--guest PATH]\n"
      "Times one-byte virtio-rng requests made one at a time by a ring-3\n"
      "guest that polls the used ring, in three VMs that take turns:\n"
      "  ioeventfd  the doorbell is a KVM ioeventfd polled by the loop\n"
      "  mmio_exit  the doorbell write exits to the vCPU thread, whose\n"
      "             handler signals the loop (LIBVMM_VIRTIO_NO_IOEVENTFD=1)\n"
      "  msi_ioctl  like ioeventfd, but the completion's MSI-X message is\n"
      "             sent with KVM_SIGNAL_MSI instead of an irqfd\n"
      "             (LIBVMM_VIRTIO_NO_IRQFD=1)\n"
      "  -n TRIPS          round trips per round (default 2000)\n"
      "  -r, --rounds R    rounds per VM after a warm-up (default 15)\n"
      "  --transport T     pci (default) or mmio (no MSI-X: the mmio\n"
      "                    transport's line stays up while polled)\n"
      "  --no-msix         pci without a queue vector (no interrupt)\n"
      "  --guest PATH      the guest ELF (default: the one built with this)\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"rounds", required_argument, NULL, 'r'},
      {"transport", required_argument, NULL, 't'},
      {"no-msix", no_argument, NULL, 'm'},
      {"guest", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n': opt.n = bench_parse_count(PROG, "-n", optarg); break;
    case 'r': opt.rounds = bench_parse_count(PROG, "--rounds", optarg); break;
    case 't':
      if (strcmp(optarg, "pci") && strcmp(optarg, "mmio")) {
        fprintf(stderr, PROG ": --transport wants pci or mmio\n");
        return 2;
      }
      opt.pci = !strcmp(optarg, "pci");
      break;
    case 'm': opt.msix = false; break;
    case 'g': opt.guest = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  bench_require_kvm(PROG);

  n_turns = (opt.rounds + 1) * NPATHS;
  schedule = calloc(n_turns, sizeof(*schedule));
  struct path_vm *pv = calloc(NPATHS, sizeof(*pv));
  struct runner run[NPATHS];
  if (!schedule || !pv)
    return 1;
  for (size_t r = 0; r <= opt.rounds; r++)
    for (int i = 0; i < NPATHS; i++)
      schedule[r * NPATHS + (size_t)i] = (int)((r + (size_t)i) % NPATHS);

  int status = 1;
  for (int i = 0; i < NPATHS; i++)
    if (path_setup(&pv[i], i) < 0)
      goto out;
  printf(PROG ": virtio-rng over virtio-%s%s, %lu one-byte round trips per "
         "round, %lu rounds per VM (+1 warm-up); guest polls in ring 3\n",
         opt.pci ? "pci" : "mmio",
         !opt.pci ? " (level line)" : opt.msix ? " with an MSI-X vector"
                                               : " without interrupts",
         opt.n, opt.rounds);
  for (int i = 0; i < NPATHS; i++)
    printf("  %-9s %s\n", paths[i].name, paths[i].what);
  for (int i = 0; i < NPATHS; i++) {
    run[i].p = &pv[i];
    pthread_create(&run[i].th, NULL, run_vm, &run[i]);
  }
  bool ok = true;
  for (int i = 0; i < NPATHS; i++) {
    pthread_join(run[i].th, NULL);
    ok &= run[i].rc == 0;
  }
  if (!ok)
    goto out;
  double med[NPATHS];
  for (unsigned long r = 0; r < opt.rounds; r++)
    printf("round %2lu: ioeventfd %9.1f  mmio_exit %9.1f  msi_ioctl %9.1f "
           "ns\n", r + 1, pv[P_IOEVENTFD].ns[r], pv[P_MMIO_EXIT].ns[r],
           pv[P_MSI_IOCTL].ns[r]);
  for (int i = 0; i < NPATHS; i++) {
    printf("%-9s min %.1f max %.1f ns\n", paths[i].name,
           bench_min(pv[i].ns, opt.rounds), bench_max(pv[i].ns, opt.rounds));
    med[i] = bench_median(pv[i].ns, opt.rounds);
  }
  printf(PROG " ioeventfd_ns=%.1f mmio_exit_ns=%.1f ratio=%.3f "
         "msi_ioctl_ns=%.1f irqfd_ratio=%.3f\n", med[P_IOEVENTFD],
         med[P_MMIO_EXIT], med[P_IOEVENTFD] / med[P_MMIO_EXIT],
         med[P_MSI_IOCTL], med[P_IOEVENTFD] / med[P_MSI_IOCTL]);
  status = 0;
out:
  for (int i = 0; i < NPATHS; i++) {
    bench_vm_destroy(&pv[i].b);
    free(pv[i].ns);
  }
  free(pv);
  free(schedule);
  return status;
}
