/* tests/integration/fault_test.c — host-side faults under running guests
 * (docs/faults.md): the disk image's file system fills up, the image is
 * deleted or truncated while the guest uses it, the tap device is
 * deleted, a control-socket client floods the VM's loop. Each time the
 * guest gets a clear error where one is due and nothing else, the data
 * that was written is there, the device stays in service and the process
 * carries on. (One VM's triple fault while other VMs run is fleet_test's.)
 *
 *   fault_test --backend kvm --guest fault PATH --guest net PATH
 *              [--test NAME]... [--list]
 *
 * Exits 77 (meson's SKIP) without /dev/kvm, 0 when every test passed, 1
 * otherwise. Parts that need root (a tmpfs mount, a tap device) say
 * "skipped" as a note where that is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <CUnit/Basic.h>

#include "../guests/fault_guest.h"
#include "../guests/net_guest.h"
#include "check.h"
#include "ctl_client.h"
#include "test_vm.h"
#include "vt_harness.h"

const char *vt_guest = "fault";

#define SECTOR 512u
#define LEN (FG_SECTORS * SECTOR)
#define MAX_ROUNDS 64
#define VIRTIO_BLK_S_IOERR 1

/* ---- the disk-rounds guest ---------------------------------------------- */

struct rounds {
  unsigned n;                       /* rounds asked for */
  char dir[128], sock[160];         /* the VM's control socket */
  void (*before)(struct rounds *r, unsigned round); /* host fault, or NULL */
  void *opaque;
  unsigned results;                 /* RESULT syncs seen */
  uint64_t status[MAX_ROUNDS], match[MAX_ROUNDS], host_sum[MAX_ROUNDS];
};

/* On the vCPU thread: the guest waits while this runs. */
static void rounds_on_sync(struct vt_vm *v, const struct ucall *uc) {
  struct rounds *r = v->opaque;
  uint64_t round = uc->args[1];
  if (uc->args[0] == FG_SYNC_BEFORE && r->before && round < MAX_ROUNDS)
    r->before(r, (unsigned)round);
  if (uc->args[0] == FG_SYNC_RESULT && round < MAX_ROUNDS) {
    r->status[round] = uc->args[2];
    r->match[round] = uc->args[3];
    r->host_sum[round] = uc->args[4];
    r->results++;
  }
}

static uint64_t pattern_sum(unsigned long seed) {
  uint8_t buf[LEN];
  for (size_t i = 0; i < LEN; i++)
    buf[i] = fg_pattern(i, seed);
  return fg_sum(buf, LEN);
}

static uint64_t zero_sum(void) {
  static const uint8_t zeros[LEN];
  return fg_sum(zeros, LEN);
}

/* A sparse image of `sectors` with the host pattern in [0, FG_SECTORS). */
static bool make_image(const char *path, unsigned sectors) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return EXPECT_TRUEF(false, "open %s: %s", path, strerror(errno));
  uint8_t buf[LEN];
  for (size_t i = 0; i < LEN; i++)
    buf[i] = fg_pattern(i, FG_SEED_HOST);
  bool ok = ftruncate(fd, (off_t)sectors * SECTOR) == 0 &&
            pwrite(fd, buf, LEN, 0) == (ssize_t)LEN;
  close(fd);
  return EXPECT_TRUEF(ok, "writing %s: %s", path, strerror(errno));
}

/* Whether round `round`'s sectors in the open image hold its pattern
 * (`seed` < 0: zeros). */
static bool image_has(int fd, unsigned round, long seed) {
  uint8_t buf[LEN];
  if (pread(fd, buf, LEN, (off_t)fg_sector(round) * SECTOR) != (ssize_t)LEN)
    return false;
  for (size_t i = 0; i < LEN; i++)
    if (buf[i] != (seed < 0 ? 0 : fg_pattern(i, (unsigned long)seed)))
      return false;
  return true;
}

/* Runs the guest's rounds on `path` (virtio-blk over MMIO) to its DONE;
 * the VM serves a control socket at r->sock (rounds_fini() removes it). */
static bool run_rounds(struct rounds *r, const char *path, vmm_device_t **blk,
                       struct vt_vm *v) {
  vmm_virtio_blk_config_t cfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  cfg.path = path;
  vt_guest = "fault";
  v->on_sync = NULL;
  bool ok = ctl_make_dir(r->dir, sizeof(r->dir), r->sock, sizeof(r->sock)) &&
            VT_CREATE(v, 0) &&
            EXPECT_OK(vmm_virtio_blk_create(v->t.vm, NULL, &cfg, blk)) &&
            set_param(v, FG_PARAM_BASE, vmm_virtio_mmio_base(*blk)) &&
            set_param(v, FG_PARAM_ROUNDS, r->n) &&
            EXPECT_OK(vmm_vm_control_listen(v->t.vm, r->sock));
  v->on_sync = rounds_on_sync;
  v->opaque = r;
  return ok && EXPECT_OK(vmm_vm_start(v->t.vm)) && vt_wait(v) &&
         EXPECT_EQ(r->results, r->n);
}

static void rounds_fini(struct rounds *r) {
  if (r->sock[0])
    unlink(r->sock);
  if (r->dir[0])
    rmdir(r->dir);
}

/* The virtio-blk device's "host_errors" in the control socket's stats. */
static double blk_host_errors(const struct rounds *r) {
  cJSON *s = ctl_request(r->sock, "{\"id\":1,\"cmd\":\"stats\"}");
  double n = -1;
  const cJSON *devs = s ? path_get(resp_result(s), "devices", NULL) : NULL;
  const cJSON *d;
  cJSON_ArrayForEach(d, devs) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "host_errors");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "virtio-blk") &&
        cJSON_IsNumber(e))
      n = e->valuedouble;
  }
  cJSON_Delete(s);
  return n;
}

static void expect_clean_round(const struct rounds *r, unsigned i,
                               uint64_t host_sum) {
  EXPECT_TRUEF(r->status[i] == 0, "round %u: status 0x%llx", i,
               (unsigned long long)r->status[i]);
  EXPECT_TRUEF(r->match[i] == 1, "round %u: read-back differs", i);
  EXPECT_TRUEF(r->host_sum[i] == host_sum, "round %u: host sectors", i);
}

/* ---- the file system fills up ---------------------------------------- */

struct full {
  char dir[64], filler[96];
};

/* Round 1 starts on a full file system; round 2 after space came back. */
static void full_before(struct rounds *r, unsigned round) {
  struct full *f = r->opaque;
  if (round == 1) {
    int fd = open(f->filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    static const uint8_t chunk[4096];
    while (fd >= 0 && write(fd, chunk, sizeof(chunk)) > 0)
      ;
    if (fd >= 0)
      close(fd);
  } else if (round == 2) {
    unlink(f->filler);
  }
}

static void test_disk_full(void) {
  struct full f;
  snprintf(f.dir, sizeof(f.dir), "/tmp/vmm-fault-full-XXXXXX");
  if (!EXPECT_TRUE(mkdtemp(f.dir) != NULL))
    return;
  /* A 1 MiB tmpfs of its own: filling it harms nobody. */
  if (mount("tmpfs", f.dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) {
    note("skipped: cannot mount a tmpfs (%s); needs root", strerror(errno));
    rmdir(f.dir);
    return;
  }
  char path[96];
  snprintf(path, sizeof(path), "%s/disk.img", f.dir);
  snprintf(f.filler, sizeof(f.filler), "%s/filler", f.dir);
  struct rounds r = {.n = 4, .before = full_before, .opaque = &f};
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  memset(&v, 0, sizeof(v));
  if (make_image(path, 256) && run_rounds(&r, path, &blk, &v)) {
    expect_clean_round(&r, 0, pattern_sum(FG_SEED_HOST));
    /* Full: the write fails with IOERR and nothing else does. */
    EXPECT_EQ(FG_ST_WRITE(r.status[1]), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(FG_ST_READ(r.status[1]), 0);
    EXPECT_EQ(FG_ST_READBACK(r.status[1]), 0);
    EXPECT_EQ(r.match[1], 0);
    /* Space again: back to normal. */
    expect_clean_round(&r, 2, pattern_sum(FG_SEED_HOST));
    expect_clean_round(&r, 3, pattern_sum(FG_SEED_HOST));
    EXPECT_TRUEF(vmm_device_error(blk) == NULL, "%s", vmm_device_error(blk));
    EXPECT_EQ(blk_host_errors(&r), 1); /* the operator sees it too */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (EXPECT_TRUE(fd >= 0)) {
      EXPECT_TRUE(image_has(fd, 0, 0));
      EXPECT_TRUE(image_has(fd, 2, 2));
      EXPECT_TRUE(image_has(fd, 3, 3));
      close(fd);
    }
  }
  vt_destroy(&v);
  rounds_fini(&r);
  unlink(f.filler);
  unlink(path);
  EXPECT_OK(umount(f.dir));
  rmdir(f.dir);
}

/* ---- the image is deleted or truncated --------------------------------- */

struct gone {
  char path[64];
  bool truncate;
};

static void gone_before(struct rounds *r, unsigned round) {
  struct gone *g = r->opaque;
  if (round != 1)
    return;
  if (g->truncate)
    EXPECT_OK(truncate(g->path, 0));
  else
    EXPECT_OK(unlink(g->path));
}

/* Deleted: the open image lives on, every round succeeds, and what the
 * guest wrote is in it (seen through a descriptor kept by the test). */
static void test_image_deleted(void) {
  struct gone g = {.truncate = false};
  snprintf(g.path, sizeof(g.path), "/tmp/vmm-fault-%d.img", (int)getpid());
  struct rounds r = {.n = 4, .before = gone_before, .opaque = &g};
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  memset(&v, 0, sizeof(v));
  int keep = -1;
  if (make_image(g.path, 128) &&
      EXPECT_TRUE((keep = open(g.path, O_RDONLY | O_CLOEXEC)) >= 0) &&
      run_rounds(&r, g.path, &blk, &v)) {
    for (unsigned i = 0; i < r.n; i++)
      expect_clean_round(&r, i, pattern_sum(FG_SEED_HOST));
    EXPECT_EQ(blk_host_errors(&r), 0);
    EXPECT_TRUE(access(g.path, F_OK) != 0);
    for (unsigned i = 0; i < r.n; i++)
      EXPECT_TRUEF(image_has(keep, i, i), "round %u's data", i);
    EXPECT_TRUEF(vmm_device_error(blk) == NULL, "%s", vmm_device_error(blk));
  }
  if (keep >= 0)
    close(keep);
  vt_destroy(&v);
  rounds_fini(&r);
  unlink(g.path);
}

/* Truncated to nothing: the read of what is gone fails (IOERR: the image
 * ends there), writes extend the file again and read back; later reads
 * inside the new size see zeros where the host's data was. */
static void test_image_truncated(void) {
  struct gone g = {.truncate = true};
  snprintf(g.path, sizeof(g.path), "/tmp/vmm-fault-%d.img", (int)getpid());
  struct rounds r = {.n = 3, .before = gone_before, .opaque = &g};
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  memset(&v, 0, sizeof(v));
  if (make_image(g.path, 128) && run_rounds(&r, g.path, &blk, &v)) {
    expect_clean_round(&r, 0, pattern_sum(FG_SEED_HOST));
    EXPECT_EQ(FG_ST_READ(r.status[1]), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(FG_ST_WRITE(r.status[1]), 0);
    EXPECT_EQ(FG_ST_FLUSH(r.status[1]), 0);
    EXPECT_EQ(FG_ST_READBACK(r.status[1]), 0);
    EXPECT_EQ(r.match[1], 1);
    expect_clean_round(&r, 2, zero_sum());
    EXPECT_TRUEF(vmm_device_error(blk) == NULL, "%s", vmm_device_error(blk));
    EXPECT_EQ(blk_host_errors(&r), 1);
    int fd = open(g.path, O_RDONLY | O_CLOEXEC);
    if (EXPECT_TRUE(fd >= 0)) {
      EXPECT_TRUE(image_has(fd, 1, 1));
      EXPECT_TRUE(image_has(fd, 2, 2));
      close(fd);
    }
  }
  vt_destroy(&v);
  rounds_fini(&r);
  unlink(g.path);
}

/* ---- the tap device disappears ----------------------------------------- */

/* Deletes network interface `name` (RTM_DELLINK); 0 or -errno. */
static int delete_link(const char *name) {
  unsigned index = if_nametoindex(name);
  if (!index)
    return -errno;
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0)
    return -errno;
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh.nlmsg_type = RTM_DELLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = (int)index;
  int rc = -EIO;
  char buf[512];
  if (send(s, &req, req.nh.nlmsg_len, 0) == (ssize_t)req.nh.nlmsg_len) {
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
        h->nlmsg_type == NLMSG_ERROR)
      rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
  }
  close(s);
  return rc;
}

struct tap {
  char name[IFNAMSIZ];
  int deleted; /* delete_link()'s result */
};

static void tap_on_sync(struct vt_vm *v, const struct ucall *uc) {
  struct tap *t = v->opaque;
  if (uc->args[0] == NG_SYNC_READY)
    t->deleted = delete_link(t->name);
}

/* The guest has receive buffers posted, sends frames one at a time and
 * watches the link status; the tap interface is deleted under the device:
 * the link goes down (whichever of the receive poll and the next transmit
 * sees it first: the kernel may wake the tap's readers before it detaches
 * them, so a reader alone can miss it), the device stays in service, the
 * VM ends normally. */
static void test_tap_deleted(void) {
  if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
    note("skipped: needs root and /dev/net/tun");
    return;
  }
  struct tap t = {.deleted = 1};
  snprintf(t.name, sizeof(t.name), "vmmfault%d", (int)(getpid() % 100000));
  struct vt_vm v;
  vmm_device_t *dev = NULL;
  memset(&v, 0, sizeof(v));
  vt_guest = "net";
  vmm_virtio_net_config_t cfg = VMM_VIRTIO_NET_CONFIG_INIT;
  cfg.backend = VMM_NET_TAP;
  cfg.name = t.name;
  if (!VT_CREATE(&v, 0))
    goto out;
  int rc = vmm_virtio_net_create(v.t.vm, NULL, &cfg, &dev);
  if (rc == VMM_EPERM || rc == VMM_EIO) {
    note("skipped: cannot create tap %s here: %s", t.name, vmm_last_error());
    goto out;
  }
  v.on_sync = tap_on_sync;
  v.opaque = &t;
  if (EXPECT_OK(rc) && set_param(&v, NG_PARAM_MODE, NG_MODE_LINK_TX) &&
      set_param(&v, NG_PARAM_BASE, vmm_virtio_mmio_base(dev)) &&
      set_param(&v, NG_PARAM_ID, 1) && set_param(&v, NG_PARAM_PEER, 2) &&
      set_param(&v, NG_PARAM_COUNT, 1) && EXPECT_OK(vmm_vm_start(v.t.vm)) &&
      vt_wait(&v) && EXPECT_EQ(v.n_syncs, 2)) {
    EXPECT_EQ(t.deleted, 0);
    EXPECT_EQ(v.syncs[1].args[0], NG_SYNC_LINK);
    EXPECT_EQ(v.syncs[1].args[1], 1); /* up */
    EXPECT_EQ(v.syncs[1].args[2], 0); /* down once the tap was gone */
    note("%llu frames sent before the link went down",
         (unsigned long long)v.syncs[1].args[3]);
    EXPECT_TRUEF(vmm_device_error(dev) == NULL, "%s", vmm_device_error(dev));
    EXPECT_EQ(if_nametoindex(t.name), 0);
  }
out:
  vt_destroy(&v);
  vt_guest = "fault";
}

/* ---- a control client floods the loop ---------------------------------- */

struct flood {
  const char *path;
  atomic_bool stop;
  unsigned long answered, bad, batches;
  unsigned long churned; /* connect / garbage / close cycles */
};

/* Batches of pipelined requests on one connection, every answer read. */
static void *flood_main(void *arg) {
  struct flood *f = arg;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    f->bad++;
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  static const char one[] = "{\"id\":1,\"cmd\":\"stats\"}\n"
                            "{\"id\":2,\"cmd\":\"describe\"}\n";
  enum { PAIRS = 32 };
  char batch[PAIRS * (sizeof(one) - 1)];
  for (int i = 0; i < PAIRS; i++)
    memcpy(batch + i * (sizeof(one) - 1), one, sizeof(one) - 1);
  static char buf[1 << 16];
  while (!atomic_load(&f->stop)) {
    if (write(fd, batch, sizeof(batch)) != (ssize_t)sizeof(batch)) {
      f->bad++;
      break;
    }
    f->batches++;
    unsigned lines = 0;
    while (lines < 2 * PAIRS) {
      ssize_t n = read(fd, buf, sizeof(buf) - 1);
      if (n <= 0) {
        f->bad++;
        close(fd);
        return NULL;
      }
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n')
          lines++;
      /* Every answer says "ok": true; an error would say false. */
      buf[n] = 0;
      if (strstr(buf, "\"ok\":false") || strstr(buf, "\"ok\": false"))
        f->bad++;
    }
    f->answered += lines;
  }
  close(fd);
  return NULL;
}

/* Clients that connect, send half a line of garbage and vanish. */
static void *churn_main(void *arg) {
  struct flood *f = arg;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->path);
  while (!atomic_load(&f->stop)) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, "{\"id\":9,\"cmd\":\"sta", 18) == 18)
      f->churned++;
    close(fd);
    /* Let the others in: under valgrind threads take turns, and a loop
     * that never blocks would have the CPU to itself. */
    sched_yield();
  }
  return NULL;
}

struct flood_rounds {
  struct flood *f;
  pthread_t flooder, churner;
  bool started;
};

/* The flood starts when the guest starts its rounds. */
static void flood_before(struct rounds *r, unsigned round) {
  struct flood_rounds *fr = r->opaque;
  if (round == 0 && !fr->started) {
    fr->started = pthread_create(&fr->flooder, NULL, flood_main, fr->f) == 0;
    if (fr->started &&
        pthread_create(&fr->churner, NULL, churn_main, fr->f) != 0) {
      atomic_store(&fr->f->stop, true);
      pthread_join(fr->flooder, NULL);
      fr->started = false;
    }
  }
}

/* Disk rounds on the VM's loop while one client pipelines requests as fast
 * as it can and another connects and drops half a request in a loop:
 * every round of I/O completes on time and correct, every request gets
 * its answer. */
static void test_control_flood(void) {
  char path[64];
  snprintf(path, sizeof(path), "/tmp/vmm-fault-flood-%d.img", (int)getpid());
  struct flood_rounds fr;
  /* Under valgrind every thread takes its turn on one CPU and the flood
   * gets most of them: 11 rounds took its 30 s there. */
  const char *preload = getenv("LD_PRELOAD");
  bool valgrind = preload && strstr(preload, "vgpreload");
  struct rounds r = {.n = valgrind ? 5 : 40, .before = flood_before,
                     .opaque = &fr};
  /* run_rounds() names the socket before the first round starts. */
  struct flood f = {.path = r.sock};
  atomic_init(&f.stop, false);
  fr = (struct flood_rounds){.f = &f};
  struct vt_vm v;
  vmm_device_t *blk = NULL;
  memset(&v, 0, sizeof(v));
  bool ran = make_image(path, 16 + 16 * 41) &&
             run_rounds(&r, path, &blk, &v);
  atomic_store(&f.stop, true);
  if (!ran)
    note("%u of %u rounds done; %lu answers, %lu dropped clients",
         r.results, r.n, f.answered, f.churned);
  if (fr.started) {
    pthread_join(fr.flooder, NULL);
    pthread_join(fr.churner, NULL);
  }
  if (ran) {
    for (unsigned i = 0; i < r.n; i++)
      expect_clean_round(&r, i, pattern_sum(FG_SEED_HOST));
    EXPECT_TRUE(fr.started);
    EXPECT_EQ(f.bad, 0);
    EXPECT_TRUEF(f.answered >= 64, "%lu answers", f.answered);
    note("%lu answers in %lu batches and %lu dropped clients during %u "
         "disk rounds", f.answered, f.batches, f.churned, r.n);
    /* The server is still there and says what it saw. */
    EXPECT_EQ(blk_host_errors(&r), 0);
  }
  vt_destroy(&v);
  rounds_fini(&r);
  unlink(path);
}

static const struct test_def tests[] = {
    {"disk_full", test_disk_full},
    {"image_deleted", test_image_deleted},
    {"image_truncated", test_image_truncated},
    {"tap_deleted", test_tap_deleted},
    {"control_flood", test_control_flood},
};

int main(int argc, char **argv) {
  return vt_main(argc, argv, "fault_test", "fault", tests,
                 sizeof(tests) / sizeof(tests[0]));
}
