/* bench/notify.c — latency of a virtio queue round trip with the doorbell
 * through ioeventfd against a plain MMIO exit handled on the vCPU thread,
 * and with the completion's MSI-X message through an irqfd against the
 * KVM_SIGNAL_MSI ioctl. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"
#include "bench_vm.h"
#include "notify_bench.h"
#include "raw_kvm.h"

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

/* ---- the sender's side alone --------------------------------------------
 * What the loop thread pays to send one MSI either way, on a raw KVM VM
 * with an in-kernel irqchip and one vCPU that never runs (so the vector
 * stays pending in its local APIC, as in the round trips above): a write
 * to an irqfd bound to an MSI route, or one KVM_SIGNAL_MSI ioctl. Median
 * of 9 batches of 20000. 0 on success. */
static int sender_cost(double *irqfd_ns, double *ioctl_ns) {
  struct raw_kvm kvm = {.fd = -1};
  struct raw_vm vm = {.fd = -1, .vcpu_fd = -1};
  int efd = -1, rc = -1;
  struct {
    struct kvm_irq_routing r;
    struct kvm_irq_routing_entry e[1];
  } rt;
  if (raw_kvm_open(&kvm) < 0 || raw_vm_create(&kvm, &vm) < 0)
    goto out;
  if (ioctl(vm.fd, KVM_CREATE_IRQCHIP, 0) < 0) {
    perror(PROG ": KVM_CREATE_IRQCHIP");
    goto out;
  }
  if (raw_mem_map(&vm, 1 << 20) < 0 || raw_vcpu_create(&kvm, &vm) < 0)
    goto out;
  /* One route is enough here: nothing uses the irqchip's pins. */
  memset(&rt, 0, sizeof(rt));
  rt.r.nr = 1;
  rt.e[0].gsi = 24;
  rt.e[0].type = KVM_IRQ_ROUTING_MSI;
  rt.e[0].u.msi.address_lo = 0xfee00000u;
  rt.e[0].u.msi.data = NB_VECTOR;
  struct kvm_irqfd irqfd = {.gsi = 24};
  struct kvm_msi msi = {.address_lo = 0xfee00000u, .data = NB_VECTOR};
  efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  irqfd.fd = (uint32_t)efd;
  if (efd < 0 || ioctl(vm.fd, KVM_SET_GSI_ROUTING, &rt) < 0 ||
      ioctl(vm.fd, KVM_IRQFD, &irqfd) < 0) {
    perror(PROG ": eventfd, KVM_SET_GSI_ROUTING or KVM_IRQFD");
    goto out;
  }
  enum { BATCH = 20000, BATCHES = 9 };
  double a[BATCHES], b[BATCHES];
  uint64_t one = 1;
  for (int k = 0; k < BATCHES; k++) {
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < BATCH; i++)
      if (write(efd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
        goto fail;
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < BATCH; i++)
      if (ioctl(vm.fd, KVM_SIGNAL_MSI, &msi) < 0)
        goto fail;
    uint64_t t2 = bench_now_ns();
    a[k] = (double)(t1 - t0) / BATCH;
    b[k] = (double)(t2 - t1) / BATCH;
  }
  *irqfd_ns = bench_median(a, BATCHES);
  *ioctl_ns = bench_median(b, BATCHES);
  rc = 0;
  goto out;
fail:
  perror(PROG ": sending an MSI");
out:
  if (efd >= 0)
    close(efd);
  raw_vm_destroy(&vm);
  raw_kvm_close(&kvm);
  return rc;
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
  double irqfd_ns, ioctl_ns;
  if (sender_cost(&irqfd_ns, &ioctl_ns) == 0)
    printf("sending one MSI from the loop thread: irqfd write %.0f ns, "
           "KVM_SIGNAL_MSI %.0f ns\n", irqfd_ns, ioctl_ns);
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
