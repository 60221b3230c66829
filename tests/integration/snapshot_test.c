/* tests/integration/snapshot_test.c — vmm_vm_snapshot() / vmm_vm_restore()
 * through the public API: a guest counting, writing disk records and UART
 * lines is snapshotted by one process and restored by another, where it
 * goes on exactly where it was; damaged, truncated and foreign snapshots
 * are refused; a process killed in the middle of a snapshot leaves the
 * previous one intact; a VM with API handlers restores into a VM the
 * caller built; a snapshot on a full disk fails cleanly.
 *
 *   snapshot_test --backend kvm --guest snapshot PATH --guest spin PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "runner.h"
#include "snapshot_guest.h"
#include "test_vm.h"

#define BLK_BASE 0xd0000000ull
#define BLK_PCI_SLOT 3

/* The cross-process test's disk on virtio-pci instead of virtio-mmio. */
static bool use_pci;
#define CHILD_TIMEOUT_S 60

static char tmpdir[64];

/* Under $TMPDIR (/tmp by default; the nested test machine's /tmp is 9p,
 * its /dev/shm a tmpfs). */
static bool make_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  if (base && strlen(base) > 40)
    base = NULL;
  snprintf(tmpdir, sizeof(tmpdir), "%s/libvmm-snap-XXXXXX",
           base && base[0] ? base : "/tmp");
  return EXPECT_TRUE(mkdtemp(tmpdir) != NULL);
}

static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    note("could not remove %s", tmpdir);
}

static void path_in(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* The description of the snapshot guest's VM: 4 MiB, one vCPU, an
 * irqchip, the UART writing to console.txt, virtio-blk on disk.img. */
static bool write_config(const char *guest) {
  char path[256], cfg[8192], where[64];
  if (use_pci)
    snprintf(where, sizeof(where), "\"transport\": \"pci\", \"pci_slot\": %d",
             BLK_PCI_SLOT);
  else
    snprintf(where, sizeof(where), "\"mmio_base\": \"0x%llx\"",
             (unsigned long long)BLK_BASE);
  path_in(path, sizeof(path), "disk.img");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!EXPECT_TRUE(fd >= 0) ||
      !EXPECT_TRUE(ftruncate(fd, SG_SECTORS * 512) == 0))
    return false;
  close(fd);
  snprintf(cfg, sizeof(cfg),
           "{\"backend\": \"%s\", \"irqchip\": true,\n"
           " \"memory\": [{\"gpa\": 0, \"size\": \"4M\"}],\n"
           " \"vcpus\": {\"count\": 1},\n"
           " \"payload\": {\"type\": \"elf\", \"path\": \"%s\"},\n"
           " \"devices\": [\n"
           "  {\"type\": \"uart\", \"id\": \"com1\", \"chardev\": "
           "{\"type\": \"file\", \"path\": \"%s/console.txt\"}},\n"
           "  {\"type\": \"virtio-blk\", \"id\": \"disk\", %s, "
           "\"path\": \"%s/disk.img\"}]}\n",
           test_backend, guest, tmpdir, where, tmpdir);
  path_in(path, sizeof(path), "vm.json");
  FILE *f = fopen(path, "w");
  if (!EXPECT_TRUE(f != NULL))
    return false;
  fputs(cfg, f);
  fclose(f);
  return true;
}

static uint64_t read64(vmm_vm_t *vm, uint64_t gpa) {
  uint64_t v = 0;
  vmm_mem_read(vm, gpa, &v, sizeof(v));
  return v;
}

static bool wait_ticks(vmm_vm_t *vm, uint64_t n) {
  for (int i = 0; i < 30000; i++) {
    if (read64(vm, SG_TICK_GPA) >= n)
      return true;
    if (vmm_vm_state(vm) == VMM_VM_STOPPED)
      return false;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return false;
}

/* Child processes report through a small file: "counter tick". */
static void put_result(const char *name, uint64_t counter, uint64_t tick) {
  char path[256];
  path_in(path, sizeof(path), name);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%llu %llu\n", (unsigned long long)counter,
            (unsigned long long)tick);
    fclose(f);
  }
}

static bool get_result(const char *name, uint64_t *counter, uint64_t *tick) {
  char path[256];
  unsigned long long c = 0, t = 0;
  path_in(path, sizeof(path), name);
  FILE *f = fopen(path, "r");
  bool ok = f && fscanf(f, "%llu %llu", &c, &t) == 2;
  if (f)
    fclose(f);
  *counter = c;
  *tick = t;
  return ok;
}

static void child_fail(const char *what, int rc) {
  fprintf(stderr, "child %d: %s: %s (%s)\n", (int)getpid(), what,
          vmm_err_name(rc), vmm_last_error());
  _exit(1);
}

/* Process 1: build, run to tick 20, pause, snapshot, exit. */
static void phase_save(void) {
  alarm(CHILD_TIMEOUT_S);
  char path[256], snap[256];
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = NULL;
  path_in(path, sizeof(path), "vm.json");
  path_in(snap, sizeof(snap), "snap");
  int rc = vmm_config_parse_file(path, &cfg);
  if (rc == 0)
    rc = vmm_vm_create_from_config(cfg, &vm);
  uint64_t base = use_pci ? BLK_PCI_SLOT << 3 : BLK_BASE, pci = use_pci;
  if (rc == 0)
    rc = vmm_mem_write(vm, GUEST_PARAM_GPA + 8 * SG_PARAM_BLK, &base, 8);
  if (rc == 0)
    rc = vmm_mem_write(vm, GUEST_PARAM_GPA + 8 * SG_PARAM_PCI, &pci, 8);
  if (rc == 0)
    rc = vmm_vm_start(vm);
  if (rc < 0)
    child_fail("create", rc);
  if (!wait_ticks(vm, 20))
    child_fail("the guest does not tick", 0);
  if ((rc = vmm_vm_pause(vm)) < 0)
    child_fail("pause", rc);
  uint64_t counter = read64(vm, SG_COUNTER_GPA);
  uint64_t tick = read64(vm, SG_TICK_GPA);
  if ((rc = vmm_vm_snapshot(vm, snap)) < 0)
    child_fail("snapshot", rc);
  put_result("saved.txt", counter, tick);
  /* Exits with the VM paused: the process and its VM are gone. */
  _exit(0);
}

/* Process 2: restore, check memory as saved, run 100 more ticks. */
static void phase_restore(void) {
  alarm(CHILD_TIMEOUT_S);
  char snap[256];
  path_in(snap, sizeof(snap), "snap");
  uint64_t c0, t0;
  if (!get_result("saved.txt", &c0, &t0))
    child_fail("no saved.txt", 0);
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  o.flags = VMM_RESTORE_F_NO_START | VMM_RESTORE_F_VERIFY;
  vmm_vm_t *vm = NULL;
  int rc = vmm_vm_restore(snap, &o, &vm);
  if (rc < 0)
    child_fail("restore", rc);
  uint64_t c1 = read64(vm, SG_COUNTER_GPA), t1 = read64(vm, SG_TICK_GPA);
  if (c1 != c0 || t1 != t0) {
    fprintf(stderr, "child: restored counter %llu tick %llu, saved %llu %llu\n",
            (unsigned long long)c1, (unsigned long long)t1,
            (unsigned long long)c0, (unsigned long long)t0);
    _exit(1);
  }
  if ((rc = vmm_vm_start(vm)) < 0)
    child_fail("start", rc);
  if (!wait_ticks(vm, t0 + 100))
    child_fail("the restored guest does not tick on", 0);
  if ((rc = vmm_vm_pause(vm)) < 0)
    child_fail("pause", rc);
  put_result("after.txt", read64(vm, SG_COUNTER_GPA), read64(vm, SG_TICK_GPA));
  vmm_vm_destroy(vm);
  _exit(0);
}

static bool run_child(void (*fn)(void), const char *what) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0)
    fn();
  int st = 0;
  if (!EXPECT_TRUE(pid > 0) || !EXPECT_TRUE(waitpid(pid, &st, 0) == pid))
    return false;
  return EXPECT_TRUEF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s process: status 0x%x", what, st);
}

/* The console holds "tick 1" .. "tick n", each once, in order. */
static void check_console(uint64_t n) {
  char path[256];
  path_in(path, sizeof(path), "console.txt");
  size_t len = 0;
  char *text = test_read_file(path, &len);
  if (!EXPECT_TRUE(text != NULL))
    return;
  uint64_t want = 1;
  const char *p = text;
  while (p < text + len) {
    const char *nl = memchr(p, '\n', (size_t)(text + len - p));
    if (!nl)
      break;
    char line[64];
    snprintf(line, sizeof(line), "tick %llu", (unsigned long long)want);
    if (!EXPECT_TRUEF((size_t)(nl - p) == strlen(line) &&
                          memcmp(p, line, strlen(line)) == 0,
                      "console line %llu is \"%.*s\"",
                      (unsigned long long)want, (int)(nl - p), p))
      break;
    want++;
    p = nl + 1;
  }
  EXPECT_TRUEF(want - 1 >= n, "console has %llu lines, want %llu",
               (unsigned long long)(want - 1), (unsigned long long)n);
  free(text);
}

/* Sector s holds the record of the last tick t <= n with t % 64 == s;
 * tick n + 1 may have written its record before the guest counted it. */
static void check_disk(uint64_t n) {
  char path[256];
  path_in(path, sizeof(path), "disk.img");
  size_t len = 0;
  uint8_t *disk = test_read_file(path, &len);
  if (!EXPECT_TRUE(disk != NULL && len == SG_SECTORS * 512))
    goto out;
  for (uint64_t t = n > SG_SECTORS ? n - SG_SECTORS + 1 : 1; t <= n; t++) {
    const struct sg_record *r =
        (const struct sg_record *)(disk + 512 * (t % SG_SECTORS));
    uint64_t want = t + SG_SECTORS == n + 1 && r->tick == n + 1 ? n + 1 : t;
    bool fill = true;
    for (unsigned i = 0; i < sizeof(r->fill); i++)
      fill &= r->fill[i] == sg_fill(want, i);
    if (!EXPECT_TRUEF(r->magic == SG_MAGIC && r->tick == want && fill,
                      "sector %llu: magic 0x%x tick %llu, want tick %llu",
                      (unsigned long long)(t % SG_SECTORS), r->magic,
                      (unsigned long long)r->tick, (unsigned long long)t))
      break;
  }
out:
  free(disk);
}

static void cross_process(bool pci) {
  use_pci = pci;
  char guest[4096];
  const char *g = test_guest_path("snapshot");
  if (!EXPECT_TRUE(g && realpath(g, guest)) || !make_tmpdir())
    return;
  uint64_t c0, t0, c1, t1;
  if (write_config(guest) && run_child(phase_save, "saving") &&
      EXPECT_TRUE(get_result("saved.txt", &c0, &t0)) &&
      run_child(phase_restore, "restoring") &&
      EXPECT_TRUE(get_result("after.txt", &c1, &t1))) {
    note("saved at counter %llu tick %llu; the new process went on to "
         "counter %llu tick %llu", (unsigned long long)c0,
         (unsigned long long)t0, (unsigned long long)c1,
         (unsigned long long)t1);
    EXPECT_TRUE(t0 >= 20 && t1 >= t0 + 100 && c1 > c0);
    check_console(t1);
    check_disk(t1);
  }
  remove_tmpdir();
}

static void test_cross_process(void) { cross_process(false); }
/* The same with the disk on virtio-pci: configuration space, BAR and
 * MSI-X table (the guest checks an entry it wrote at every tick). */
static void test_cross_process_pci(void) { cross_process(true); }

/* ---- refused snapshots -------------------------------------------------- */

/* The spin guest's VM from a description, started. */
static vmm_vm_t *spin_vm(void) {
  char cfg[8192], spin[4096];
  const char *g = test_guest_path("spin");
  if (!EXPECT_TRUE(g && realpath(g, spin)))
    return NULL;
  snprintf(cfg, sizeof(cfg),
           "{\"backend\": \"%s\", \"memory\": [{\"gpa\": 0, \"size\": "
           "\"4M\"}], \"vcpus\": {\"count\": 1}, \"payload\": {\"type\": "
           "\"elf\", \"path\": \"%s\"}, \"devices\": [{\"type\": \"rtc\"}]}",
           test_backend, spin);
  vmm_config_t *c = NULL;
  vmm_vm_t *vm = NULL;
  if (EXPECT_OK(vmm_config_parse(cfg, strlen(cfg), &c)) &&
      EXPECT_OK(vmm_vm_create_from_config(c, &vm)) &&
      !EXPECT_OK(vmm_vm_start(vm))) {
    vmm_vm_destroy(vm);
    vm = NULL;
  }
  vmm_config_free(c);
  return vm;
}

/* A small snapshot of the spin guest (a VM from a description). */
static bool spin_snapshot(const char *dir) {
  vmm_vm_t *vm = spin_vm();
  bool ok = vm && EXPECT_OK(vmm_vm_snapshot(vm, dir));
  vmm_vm_destroy(vm);
  return ok;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  EXPECT_TRUEF(system(cmd) == 0, "%s", cmd);
}

static void expect_refused(const char *dir, uint32_t flags, int want,
                           const char *needle) {
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  o.flags = flags | VMM_RESTORE_F_NO_START;
  vmm_vm_t *vm = (vmm_vm_t *)&o; /* must come back NULL */
  int rc = vmm_vm_restore(dir, &o, &vm);
  const char *msg = vmm_last_error();
  EXPECT_TRUEF(rc == want && strstr(msg, needle) && vm == NULL,
               "%s: rc %s, message \"%s\" (want %s, \"%s\")", dir,
               vmm_err_name(rc), msg, vmm_err_name(want), needle);
}

static void test_refused(void) {
  if (!make_tmpdir())
    return;
  char good[256];
  path_in(good, sizeof(good), "good");
  if (!spin_snapshot(good))
    goto out;
  /* The intact one restores (and verifies). */
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  o.flags = VMM_RESTORE_F_VERIFY;
  vmm_vm_t *vm = NULL;
  if (EXPECT_OK(vmm_vm_restore(good, &o, &vm)))
    vmm_vm_destroy(vm);

  /* Truncated memory file. */
  sh("cp -r '%s' '%s/trunc' && truncate -s 1M '%s/trunc/mem-0.bin'", good,
     tmpdir, tmpdir);
  char d[256];
  path_in(d, sizeof(d), "trunc");
  expect_refused(d, 0, VMM_EINVAL, "truncated");
  /* Truncated state file. */
  sh("cp -r '%s' '%s/trunc2' && truncate -s 100 '%s/trunc2/state.bin'", good,
     tmpdir, tmpdir);
  path_in(d, sizeof(d), "trunc2");
  expect_refused(d, 0, VMM_EINVAL, "truncated");
  /* One byte of the state changed: its checksum. */
  sh("cp -r '%s' '%s/bad' && printf '\\377' | dd of='%s/bad/state.bin' "
     "bs=1 seek=200 conv=notrunc status=none", good, tmpdir, tmpdir);
  path_in(d, sizeof(d), "bad");
  expect_refused(d, 0, VMM_EINVAL, "checksum");
  /* One byte of memory changed: found when asked to verify. */
  sh("cp -r '%s' '%s/badmem' && printf 'X' | dd of='%s/badmem/mem-0.bin' "
     "bs=1 seek=1048576 conv=notrunc status=none", good, tmpdir, tmpdir);
  path_in(d, sizeof(d), "badmem");
  expect_refused(d, VMM_RESTORE_F_VERIFY, VMM_EINVAL, "checksum");
  /* Another format version; another state version. */
  sh("cp -r '%s' '%s/ver' && sed -i 's/\"format_version\":\\t*1/"
     "\"format_version\":\\t99/' '%s/ver/manifest.json'", good, tmpdir,
     tmpdir);
  path_in(d, sizeof(d), "ver");
  expect_refused(d, 0, VMM_EVERSION, "format 99");
  sh("cp -r '%s' '%s/sver' && sed -i 's/\"state_version\":\\t*1/"
     "\"state_version\":\\t2/' '%s/sver/manifest.json'", good, tmpdir,
     tmpdir);
  path_in(d, sizeof(d), "sver");
  expect_refused(d, 0, VMM_EVERSION, "state version 2");
  /* A state blob of another version behind a matching manifest. */
  sh("cp -r '%s' '%s/blobver' && printf '\\002' | dd "
     "of='%s/blobver/state.bin' bs=1 seek=8 conv=notrunc status=none", good,
     tmpdir, tmpdir);
  path_in(d, sizeof(d), "blobver");
  expect_refused(d, 0, VMM_EINVAL, "checksum"); /* the manifest's CRC */
  /* A missing file; a damaged manifest; no snapshot at all. */
  sh("cp -r '%s' '%s/missing' && rm '%s/missing/mem-0.bin'", good, tmpdir,
     tmpdir);
  path_in(d, sizeof(d), "missing");
  expect_refused(d, 0, VMM_ENOENT, "mem-0.bin");
  sh("cp -r '%s' '%s/man' && truncate -s 50 '%s/man/manifest.json'", good,
     tmpdir, tmpdir);
  path_in(d, sizeof(d), "man");
  expect_refused(d, 0, VMM_EINVAL, "manifest");
  path_in(d, sizeof(d), "nothing");
  expect_refused(d, 0, VMM_ENOENT, "manifest.json");
  /* A directory that is not a snapshot is not overwritten. */
  path_in(d, sizeof(d), "plain");
  mkdir(d, 0755);
  vmm_vm_t *v2 = NULL;
  vmm_config_t *c = NULL;
  const char *cfg = "{\"memory\": [{\"gpa\": 0, \"size\": \"1M\"}], "
                    "\"vcpus\": {\"count\": 1}}";
  if (EXPECT_OK(vmm_config_parse(cfg, strlen(cfg), &c)) &&
      EXPECT_OK(vmm_vm_create_from_config(c, &v2)))
    EXPECT_RC(vmm_vm_snapshot(v2, d), VMM_EEXIST);
  vmm_config_free(c);
  vmm_vm_destroy(v2);
out:
  remove_tmpdir();
}

/* ---- killed in the middle ----------------------------------------------- */

static void test_killed_midway(void) {
  if (!make_tmpdir())
    return;
  char snap[256], manifest[300];
  path_in(snap, sizeof(snap), "snap");
  snprintf(manifest, sizeof(manifest), "%s/manifest.json", snap);
  if (!spin_snapshot(snap))
    goto out;
  size_t len0 = 0;
  char *before = test_read_file(manifest, &len0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    /* A second snapshot over the first, stopped halfway through guest
     * memory by the library's test knob, then killed. */
    alarm(CHILD_TIMEOUT_S);
    setenv("LIBVMM_SNAPSHOT_TEST_STOP", "1", 1);
    vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
    vmm_vm_t *vm = NULL;
    int rc = vmm_vm_restore(snap, &o, &vm);
    if (rc == 0)
      rc = vmm_vm_snapshot(vm, snap);
    _exit(rc == 0 ? 3 : 1); /* should never get here */
  }
  int st = 0;
  if (EXPECT_TRUE(pid > 0) &&
      EXPECT_TRUE(waitpid(pid, &st, WUNTRACED) == pid) &&
      EXPECT_TRUEF(WIFSTOPPED(st), "the child did not stop midway "
                   "(status 0x%x)", st)) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  } else if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  /* The half-written one is beside it; the old one is as it was. */
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '^\\.snap\\.tmp-'",
           tmpdir);
  EXPECT_TRUEF(system(cmd) == 0, "no half-written snapshot left beside "
               "(was the child killed midway?)");
  size_t len1 = 0;
  char *after = test_read_file(manifest, &len1);
  EXPECT_TRUE(before && after && len0 == len1 &&
              memcmp(before, after, len0) == 0);
  free(before);
  free(after);
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  o.flags = VMM_RESTORE_F_VERIFY;
  vmm_vm_t *vm = NULL;
  if (EXPECT_OK(vmm_vm_restore(snap, &o, &vm)))
    vmm_vm_destroy(vm);
out:
  remove_tmpdir();
}

/* ---- a snapshot directory on a full disk --------------------------------- */

/* A snapshot that runs out of space fails with VMM_ENOSPC, leaves no
 * half-written directory and the previous snapshot as it was, and the VM
 * runs on; with space again the next snapshot succeeds. Needs root for
 * its own small tmpfs (skipped as a note otherwise). */
static void test_full_disk(void) {
  if (!make_tmpdir())
    return;
  vmm_vm_t *vm = NULL;
  bool mounted = false;
  if (mount("tmpfs", tmpdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m") != 0) {
    note("skipped: cannot mount a tmpfs (%s); needs root", strerror(errno));
    goto out;
  }
  mounted = true;
  char snap[256], manifest[300], filler[256];
  path_in(snap, sizeof(snap), "snap");
  path_in(filler, sizeof(filler), "filler");
  snprintf(manifest, sizeof(manifest), "%s/manifest.json", snap);
  if (!(vm = spin_vm()) || !EXPECT_OK(vmm_vm_snapshot(vm, snap)))
    goto out;
  size_t len0 = 0;
  char *before = test_read_file(manifest, &len0);
  /* Fill what is left. */
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  static const uint8_t chunk[4096];
  while (fd >= 0 && write(fd, chunk, sizeof(chunk)) > 0)
    ;
  if (fd >= 0)
    close(fd);
  int rc = vmm_vm_snapshot(vm, snap);
  const char *msg = vmm_last_error();
  EXPECT_TRUEF(rc == VMM_ENOSPC && strstr(msg, "vmm_vm_snapshot"),
               "snapshot on a full disk: rc %s, \"%s\"", vmm_err_name(rc),
               msg);
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '^\\.snap\\.tmp-'",
           tmpdir);
  EXPECT_TRUEF(system(cmd) != 0, "a half-written snapshot was left behind");
  size_t len1 = 0;
  char *after = test_read_file(manifest, &len1);
  EXPECT_TRUE(before && after && len0 == len1 &&
              memcmp(before, after, len0) == 0);
  free(before);
  free(after);
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  o.flags = VMM_RESTORE_F_VERIFY | VMM_RESTORE_F_NO_START;
  vmm_vm_t *r = NULL;
  if (EXPECT_OK(vmm_vm_restore(snap, &o, &r)))
    vmm_vm_destroy(r);
  /* Space again: the VM was not harmed by the failed attempt. */
  EXPECT_OK(unlink(filler));
  EXPECT_OK(vmm_vm_snapshot(vm, snap));
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
out:
  vmm_vm_destroy(vm);
  if (mounted) /* its files go with it */
    EXPECT_OK(umount(tmpdir));
  remove_tmpdir();
}

/* ---- into a VM the caller built ------------------------------------------ */

static void test_restore_into(void) {
  struct test_vm a, b;
  memset(&b, 0, sizeof(b));
  if (!make_tmpdir())
    return;
  char snap[256];
  path_in(snap, sizeof(snap), "snap");
  /* The spin guest, run on this thread with test_vm's port handlers. */
  if (!CREATE(&a, "spin") || !EXPECT_OK(test_vm_set_param(&a, 0, 1)) ||
      !RUN_UCALL(&a, UCALL_SYNC))
    goto out;
  /* A kick after a while ends the run in the counting loop. */
  EXPECT_OK(vmm_vcpu_kick(a.vcpu));
  RUN_EXPECT(&a, VMM_EXIT_KICKED);
  uint64_t c0 = read64(a.vm, GUEST_STATUS_GPA);
  if (!EXPECT_OK(vmm_vm_snapshot(a.vm, snap)))
    goto out;
  if (!CREATE(&b, "spin"))
    goto out;
  if (!EXPECT_OK(vmm_vm_restore_into(b.vm, snap, VMM_RESTORE_F_VERIFY)))
    goto out;
  EXPECT_EQ(read64(b.vm, GUEST_STATUS_GPA), c0);
  vmm_regs_t ra, rb;
  if (EXPECT_OK(vmm_vcpu_get_regs(a.vcpu, &ra)) &&
      EXPECT_OK(vmm_vcpu_get_regs(b.vcpu, &rb)))
    EXPECT_EQ(ra.rip, rb.rip);
  /* It counts on from there. */
  if (EXPECT_OK(vmm_vm_start(b.vm))) {
    bool moved = false;
    for (int i = 0; i < 5000 && !moved; i++) {
      moved = read64(b.vm, GUEST_STATUS_GPA) > c0 + 1000;
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    EXPECT_TRUE(moved);
  }
  /* A VM of another shape is refused. */
  vmm_vm_t *other = NULL;
  vmm_vm_config_t vc = VMM_VM_CONFIG_INIT;
  vc.backend = test_backend;
  if (EXPECT_OK(vmm_vm_create(&vc, &other)))
    EXPECT_RC(vmm_vm_restore_into(other, snap, 0), VMM_EINVAL);
  vmm_vm_destroy(other);
out:
  test_vm_destroy(&a);
  test_vm_destroy(&b);
  remove_tmpdir();
}

static const struct test_def tests[] = {
    {"cross_process", test_cross_process},
    {"cross_process_pci", test_cross_process_pci},
    {"refused", test_refused},
    {"killed_midway", test_killed_midway},
    {"restore_into", test_restore_into},
    {"full_disk", test_full_disk},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {{"snapshot", tests, 0}};
  return test_main(argc, argv, "snapshot_test",
                   "--guest snapshot PATH --guest spin PATH ", suites, 1, 120);
}
