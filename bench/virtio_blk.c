/* bench/virtio_blk.c — reads through libvmm's virtio-blk from a ring-3
 * guest against the same reads done by the host with pread(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "bench_util.h"
#include "bench_vm.h"
#include "vblk_bench.h"

#define PROG "virtio_blk"
#define GUEST_RAM (16u << 20)
#define TIMEOUT_S 3600

static void usage(FILE *f) {
  fprintf(f,
      "usage: " PROG " [--file PATH] [--size MIB] [--rounds R] [-n READS]\n"
      "                  [--depth D] [--seq-depth D] [--transport pci|mmio]\n"
      "                  [--cold] [--guest PATH]\n"
      "A ring-3 guest reads a file through libvmm's virtio-blk: the whole\n"
      "file in 1 MiB requests, then READS 4 KiB blocks at random offsets\n"
      "with D requests in flight. The host reads the same ranges with\n"
      "pread() in the same run (D threads for the random reads). Rounds\n"
      "alternate which side goes first; the figures are medians.\n"
      "  --file PATH       the file (default: a new one in /var/tmp, removed\n"
      "                    at the end; an existing PATH is overwritten)\n"
      "  --size MIB        file size (default 256)\n"
      "  -r, --rounds R    rounds (default 5)\n"
      "  -n READS          random reads per round (default 65536)\n"
      "  --depth D         random reads in flight, 1-32 (default 32)\n"
      "  --seq-depth D     sequential reads in flight, 1-2 (default 1)\n"
      "  --transport T     pci (default) or mmio\n"
      "  --cold            drop the file's pages (POSIX_FADV_DONTNEED)\n"
      "                    before every pass instead of reading warm\n"
      "  --guest PATH      the guest ELF (default: the one built with this)\n");
}

/* ---- options and shared state ----------------------------------------- */

static struct {
  const char *file;
  uint64_t size;
  unsigned long rounds, nrand;
  unsigned depth, seq_depth;
  bool pci, cold;
  const char *guest;
} opt = {NULL, 256ull << 20, 5, 65536, 32, 1, true, false, VBLK_GUEST};

struct sample {
  double seq_s, rand_s;     /* guest */
  double host_seq_s, host_rand_s;
};

static int fd = -1;
static uint64_t *rand_offs; /* the random offsets, in guest order */
static struct sample *samples;
static uint64_t t_start;
static unsigned long bad_total;

static void drop_cache(void) {
  if (opt.cold)
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* ---- host reads: `nthreads` threads take items off a shared counter --- */

struct host_pass {
  const uint64_t *offs; /* NULL: item i is at offset i * len */
  uint64_t n, len;
  atomic_uint_fast64_t next;
  atomic_uint_fast64_t bad;
  atomic_int err;
  atomic_uint_fast64_t t_end; /* the last worker's finish time */
  pthread_barrier_t ready, go, end;
};

static void *host_worker(void *arg) {
  struct host_pass *p = arg;
  uint8_t *buf = aligned_alloc(4096, p->len);
  pthread_barrier_wait(&p->ready);
  pthread_barrier_wait(&p->go);
  uint64_t bad = 0;
  for (;;) {
    uint64_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n || !buf)
      break;
    uint64_t off = p->offs ? p->offs[i] : i * p->len;
    uint64_t got = 0;
    while (got < p->len) {
      ssize_t r = pread(fd, buf + got, p->len - got, (off_t)(off + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        atomic_store(&p->err, r < 0 ? errno : EIO);
        goto out;
      }
      got += (uint64_t)r;
    }
    for (uint64_t b = 0; b < p->len; b += 4096)
      bad += *(const uint64_t *)(buf + b) != vb_word(off + b);
  }
out:;
  uint64_t t = bench_now_ns(), seen = atomic_load(&p->t_end);
  while (t > seen && !atomic_compare_exchange_weak(&p->t_end, &seen, t))
    ;
  atomic_fetch_add(&p->bad, bad);
  pthread_barrier_wait(&p->end);
  free(buf);
  return NULL;
}

/* Seconds for the pass, or -1. Thread start-up is outside the timing. */
static double host_pass(const uint64_t *offs, uint64_t n, uint64_t len,
                        unsigned nthreads) {
  struct host_pass p = {.offs = offs, .n = n, .len = len};
  atomic_init(&p.next, 0);
  atomic_init(&p.bad, 0);
  atomic_init(&p.err, 0);
  atomic_init(&p.t_end, 0);
  pthread_barrier_init(&p.ready, NULL, nthreads + 1);
  pthread_barrier_init(&p.go, NULL, nthreads + 1);
  pthread_barrier_init(&p.end, NULL, nthreads + 1);
  pthread_t th[VB_MAX_DEPTH];
  for (unsigned i = 0; i < nthreads; i++)
    if (pthread_create(&th[i], NULL, host_worker, &p) != 0) {
      fprintf(stderr, PROG ": pthread_create failed\n");
      exit(1);
    }
  drop_cache();
  /* Every worker is waiting at `go` once `ready` opens; none can start
   * before the main thread reaches `go`, after t0. The pass ends when
   * the last worker finished (not when the main thread got the CPU back:
   * with more threads than CPUs that can be much later). */
  pthread_barrier_wait(&p.ready);
  uint64_t t0 = bench_now_ns();
  pthread_barrier_wait(&p.go);
  pthread_barrier_wait(&p.end);
  uint64_t t1 = atomic_load(&p.t_end);
  for (unsigned i = 0; i < nthreads; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&p.ready);
  pthread_barrier_destroy(&p.go);
  pthread_barrier_destroy(&p.end);
  if (atomic_load(&p.err)) {
    fprintf(stderr, PROG ": host pread: %s\n", strerror(atomic_load(&p.err)));
    return -1;
  }
  if (atomic_load(&p.bad)) {
    fprintf(stderr, PROG ": host read %llu wrong blocks\n",
            (unsigned long long)atomic_load(&p.bad));
    bad_total += atomic_load(&p.bad);
  }
  return (double)(t1 - t0) / 1e9;
}

static double host_seq(void) {
  return host_pass(NULL, opt.size / VB_SEQ_BYTES, VB_SEQ_BYTES,
                   opt.seq_depth);
}

static double host_rand(void) {
  return host_pass(rand_offs, opt.nrand, VB_RAND_BYTES, opt.depth);
}

/* ---- the guest's checkpoints ------------------------------------------ */

/* Runs on the vCPU thread while the guest waits: the host's pass of the
 * same kind runs there, before the guest's in odd rounds, after it in
 * even ones, so that neither side always comes first. */
static int on_sync(struct bench_vm *b, const struct ucall *uc) {
  (void)b;
  uint64_t code = uc->args[0], round = uc->args[1];
  if (round >= opt.rounds)
    return -1;
  struct sample *s = &samples[round];
  bool host_first = round % 2;
  double t;
  switch (code) {
  case VB_SYNC_SEQ_START:
  case VB_SYNC_RAND_START:
    if (host_first) {
      t = code == VB_SYNC_SEQ_START ? host_seq() : host_rand();
      if (t < 0)
        return -1;
      *(code == VB_SYNC_SEQ_START ? &s->host_seq_s : &s->host_rand_s) = t;
    }
    drop_cache();
    t_start = bench_now_ns();
    return 0;
  case VB_SYNC_SEQ_END:
  case VB_SYNC_RAND_END: {
    t = (double)(bench_now_ns() - t_start) / 1e9;
    bool seq = code == VB_SYNC_SEQ_END;
    uint64_t want = seq ? opt.size : opt.nrand;
    if (uc->args[2] || uc->args[3] != want) {
      fprintf(stderr, PROG ": guest %s pass: %llu wrong blocks, %llu of %llu "
              "%s\n", seq ? "sequential" : "random",
              (unsigned long long)uc->args[2],
              (unsigned long long)uc->args[3], (unsigned long long)want,
              seq ? "bytes" : "reads");
      bad_total += uc->args[2] ? uc->args[2] : 1;
    }
    *(seq ? &s->seq_s : &s->rand_s) = t;
    if (!host_first) {
      t = seq ? host_seq() : host_rand();
      if (t < 0)
        return -1;
      *(seq ? &s->host_seq_s : &s->host_rand_s) = t;
    }
    if (!seq) {
      double mib = (double)opt.size / (1 << 20);
      printf("round %lu: seq guest %7.1f host %7.1f MiB/s (%.3f)   "
             "rand guest %8.0f host %8.0f IOPS (%.3f)\n", round + 1,
             mib / s->seq_s, mib / s->host_seq_s, s->host_seq_s / s->seq_s,
             opt.nrand / s->rand_s, opt.nrand / s->host_rand_s,
             s->host_rand_s / s->rand_s);
    }
    return 0;
  }
  default:
    return -1;
  }
}

/* ---- the file --------------------------------------------------------- */

static char tmp_path[256];

static int make_file(void) {
  const char *path = opt.file;
  if (!path) {
    snprintf(tmp_path, sizeof(tmp_path), "/var/tmp/libvmm-" PROG "-%d.img",
             (int)getpid());
    path = opt.file = tmp_path;
  }
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
    return -1;
  }
  uint64_t *chunk = malloc(VB_SEQ_BYTES);
  if (!chunk)
    return -1;
  for (uint64_t off = 0; off < opt.size; off += VB_SEQ_BYTES) {
    for (size_t i = 0; i < VB_SEQ_BYTES / 8; i++)
      chunk[i] = vb_word(off + 8 * i);
    if (pwrite(fd, chunk, VB_SEQ_BYTES, (off_t)off) != VB_SEQ_BYTES) {
      fprintf(stderr, PROG ": writing %s: %s\n", path, strerror(errno));
      free(chunk);
      return -1;
    }
  }
  free(chunk);
  /* On disk, then in the page cache: a warm run reads it from there. */
  fdatasync(fd);
  if (!opt.cold && host_seq() < 0)
    return -1;
  return 0;
}

/* ---- driver ----------------------------------------------------------- */

static unsigned long parse_range(const char *o, const char *arg,
                                 unsigned long max) {
  unsigned long v = bench_parse_count(PROG, o, arg);
  if (v > max) {
    fprintf(stderr, PROG ": %s is at most %lu\n", o, max);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"file", required_argument, NULL, 'f'},
      {"size", required_argument, NULL, 's'},
      {"rounds", required_argument, NULL, 'r'},
      {"depth", required_argument, NULL, 'd'},
      {"seq-depth", required_argument, NULL, 'D'},
      {"transport", required_argument, NULL, 't'},
      {"cold", no_argument, NULL, 'c'},
      {"guest", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f': opt.file = optarg; break;
    case 's': opt.size = parse_range("--size", optarg, 1 << 20) << 20; break;
    case 'r': opt.rounds = parse_range("--rounds", optarg, 1000); break;
    case 'n': opt.nrand = bench_parse_count(PROG, "-n", optarg); break;
    case 'd': opt.depth = (unsigned)parse_range("--depth", optarg,
                                                VB_MAX_DEPTH); break;
    case 'D': opt.seq_depth = (unsigned)parse_range("--seq-depth", optarg,
                                                    VB_MAX_SEQ_DEPTH); break;
    case 't':
      if (strcmp(optarg, "pci") && strcmp(optarg, "mmio")) {
        fprintf(stderr, PROG ": --transport wants pci or mmio\n");
        return 2;
      }
      opt.pci = !strcmp(optarg, "pci");
      break;
    case 'c': opt.cold = true; break;
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

  samples = calloc(opt.rounds, sizeof(*samples));
  rand_offs = malloc(opt.nrand * sizeof(*rand_offs));
  if (!samples || !rand_offs) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  const uint64_t seed = 0x5eed0f1b10c5ull;
  uint64_t state = seed;
  for (unsigned long i = 0; i < opt.nrand; i++)
    rand_offs[i] = vb_rand_offset(&state, opt.size);

  int status = 1;
  struct bench_vm b;
  memset(&b, 0, sizeof(b));
  if (make_file() < 0)
    goto out;
  if (bench_vm_create(&b, PROG, opt.guest, GUEST_RAM, 0) < 0)
    goto out;
  vmm_virtio_config_t vcfg = VMM_VIRTIO_CONFIG_INIT;
  vcfg.transport = opt.pci ? VMM_VIRTIO_PCI : VMM_VIRTIO_MMIO;
  vcfg.queue_size = 64;
  vmm_virtio_blk_config_t bcfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  bcfg.path = opt.file;
  bcfg.flags = VMM_BLK_F_READONLY;
  vmm_device_t *dev;
  int rc = vmm_virtio_blk_create(b.vm, &vcfg, &bcfg, &dev);
  if (rc < 0) {
    fprintf(stderr, PROG ": vmm_virtio_blk_create: %s (%s)\n",
            vmm_strerror(rc), vmm_last_error());
    goto out;
  }
  uint64_t base = opt.pci ? (uint64_t)vmm_virtio_pci_devfn(dev)
                          : vmm_virtio_mmio_base(dev);
  if (bench_vm_param(&b, VB_PARAM_PCI, opt.pci) < 0 ||
      bench_vm_param(&b, VB_PARAM_BASE, base) < 0 ||
      bench_vm_param(&b, VB_PARAM_ROUNDS, opt.rounds) < 0 ||
      bench_vm_param(&b, VB_PARAM_NRAND, opt.nrand) < 0 ||
      bench_vm_param(&b, VB_PARAM_SEED, seed) < 0 ||
      bench_vm_param(&b, VB_PARAM_DEPTH, opt.depth) < 0 ||
      bench_vm_param(&b, VB_PARAM_SEQ_DEPTH, opt.seq_depth) < 0)
    goto out;
  b.on_sync = on_sync;

  const char *pool = getenv("UV_THREADPOOL_SIZE");
  printf(PROG ": %s, %llu MiB, %s page cache; sequential 1 MiB x %u in "
         "flight; %lu random 4 KiB reads x %u in flight; virtio-%s; host: "
         "pread, %u thread(s) sequential, %u random; libuv pool %s; %lu "
         "rounds\n", opt.file, (unsigned long long)(opt.size >> 20),
         opt.cold ? "cold (POSIX_FADV_DONTNEED before each pass)" : "warm",
         opt.seq_depth, opt.nrand, opt.depth, opt.pci ? "pci" : "mmio",
         opt.seq_depth, opt.depth, pool ? pool : "4 (default)", opt.rounds);
  if (bench_vm_run(&b, TIMEOUT_S) < 0)
    goto out;
  if (bad_total) {
    fprintf(stderr, PROG ": data checks failed\n");
    goto out;
  }

  double *gs = calloc(opt.rounds, sizeof(double)),
         *hs = calloc(opt.rounds, sizeof(double)),
         *gr = calloc(opt.rounds, sizeof(double)),
         *hr = calloc(opt.rounds, sizeof(double)),
         *qs = calloc(opt.rounds, sizeof(double)),
         *qr = calloc(opt.rounds, sizeof(double));
  if (!gs || !hs || !gr || !hr || !qs || !qr)
    goto out;
  double mib = (double)opt.size / (1 << 20);
  for (unsigned long r = 0; r < opt.rounds; r++) {
    gs[r] = mib / samples[r].seq_s;
    hs[r] = mib / samples[r].host_seq_s;
    gr[r] = opt.nrand / samples[r].rand_s;
    hr[r] = opt.nrand / samples[r].host_rand_s;
    qs[r] = gs[r] / hs[r];
    qr[r] = gr[r] / hr[r];
  }
  printf("seq ratio:  min %.3f max %.3f   rand ratio: min %.3f max %.3f\n",
         bench_min(qs, opt.rounds), bench_max(qs, opt.rounds),
         bench_min(qr, opt.rounds), bench_max(qr, opt.rounds));
  double mgs = bench_median(gs, opt.rounds), mhs = bench_median(hs, opt.rounds);
  double mgr = bench_median(gr, opt.rounds), mhr = bench_median(hr, opt.rounds);
  printf("host: seq_mib_s=%.1f rand_iops=%.0f\n", mhs, mhr);
  /* For scale: the host's random reads on one thread, i.e. on one CPU
   * (the loop thread serves the guest's reads on one CPU while the
   * polling vCPU holds another). Not part of the ratios. */
  double one[3];
  int n_one = 0;
  for (double t; n_one < 3 &&
                 (t = host_pass(rand_offs, opt.nrand, VB_RAND_BYTES, 1)) > 0;)
    one[n_one++] = opt.nrand / t;
  if (n_one == 3) {
    double mone = bench_median(one, 3);
    printf("host, one thread: rand_iops=%.0f (guest/that %.3f)\n", mone,
           mgr / mone);
  }
  printf(PROG " seq_ratio=%.3f rand_qd32_ratio=%.3f seq_mib_s=%.1f "
         "rand_iops=%.0f\n", mgs / mhs, mgr / mhr, mgs, mgr);
  free(gs), free(hs), free(gr), free(hr), free(qs), free(qr);
  status = 0;
out:
  bench_vm_destroy(&b);
  if (fd >= 0)
    close(fd);
  if (tmp_path[0])
    unlink(tmp_path);
  free(samples);
  free(rand_offs);
  return status;
}
