/* src/snapshot/snapshot.c — vmm_vm_snapshot(): state, memory files and
 * manifest written into a temporary directory, synced, renamed into
 * place. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "loop.h"
#include "snapshot/snapshot_internal.h"
#include "snapshot/state.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

/* "a/b" into out; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b) {
  int n = snprintf(out, cap, "%s/%s", a, b);
  return n >= 0 && (size_t)n < cap;
}

/* Memory is checksummed and written in chunks; all-zero chunks become
 * holes (guests leave most of their RAM untouched). */
#define CHUNK (256u << 10)

static int sys_fail(const char *what, const char *path) {
  int e = errno;
  return vmm__error(e == ENOSPC ? VMM_ENOSPC : e == EACCES ? VMM_EACCES
                    : e == ENOENT ? VMM_ENOENT : VMM_EIO,
                    "%s \"%s\": %s", what, path, strerror(e));
}

static int write_all(int fd, const void *buf, size_t len, const char *path) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return sys_fail("write", path);
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Creates `dir/name`, writes `len` bytes, syncs. */
static int write_file(const char *dir, const char *name, const void *buf,
                      size_t len) {
  char path[PATH_MAX];
  if (!join(path, sizeof(path), dir, name))
    return vmm__error(VMM_EINVAL, "path \"%s/%s\" is too long", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return sys_fail("create", path);
  int rc = write_all(fd, buf, len, path);
  if (rc == 0 && fsync(fd) < 0)
    rc = sys_fail("fsync", path);
  close(fd);
  return rc;
}

static bool all_zero(const uint8_t *p, size_t n) {
  const uint64_t *w = (const uint64_t *)(const void *)p;
  for (size_t i = 0; i < n / 8; i++)
    if (w[i])
      return false;
  return true;
}

/* One region into `dir/name`; *crc gets the CRC-32C of its bytes. The
 * caller holds the VM lock for reading (the region stays mapped). */
static int write_region(const char *dir, const char *name,
                        const struct vmm__memslot *s, uint32_t *crc,
                        bool test_stop) {
  char path[PATH_MAX];
  if (!join(path, sizeof(path), dir, name))
    return vmm__error(VMM_EINVAL, "path \"%s/%s\" is too long", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return sys_fail("create", path);
  int rc = 0;
  uint32_t c = 0;
  for (uint64_t off = 0; off < s->size && rc == 0; off += CHUNK) {
    size_t n = s->size - off < CHUNK ? (size_t)(s->size - off) : CHUNK;
    const uint8_t *p = s->hva + off;
    c = vmm__crc32c(c, p, n);
    if (all_zero(p, n)) {
      if (lseek(fd, (off_t)n, SEEK_CUR) < 0)
        rc = sys_fail("seek", path);
    } else {
      rc = write_all(fd, p, n, path);
    }
    if (test_stop && off >= s->size / 2) {
      test_stop = false;
      raise(SIGSTOP); /* the test kills us here */
    }
  }
  /* Trailing holes: the file still has the region's size. */
  if (rc == 0 && ftruncate(fd, (off_t)s->size) < 0)
    rc = sys_fail("truncate", path);
  if (rc == 0 && fsync(fd) < 0)
    rc = sys_fail("fsync", path);
  close(fd);
  *crc = c;
  return rc;
}

static void add_hex(cJSON *o, const char *name, uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
  cJSON_AddStringToObject(o, name, buf);
}

static cJSON *file_entry(const char *name, const char *kind, uint64_t size,
                         uint32_t crc) {
  cJSON *f = cJSON_CreateObject();
  if (!f)
    return NULL;
  cJSON_AddStringToObject(f, "name", name);
  cJSON_AddStringToObject(f, "kind", kind);
  add_hex(f, "size", size);
  add_hex(f, "crc32c", crc);
  return f;
}

/* Removes a snapshot directory libvmm wrote (only its own files). */
static void remove_snapshot_dir(const char *dir) {
  char path[PATH_MAX];
  if (join(path, sizeof(path), dir, VMM__SNAP_MANIFEST))
    unlink(path);
  if (join(path, sizeof(path), dir, VMM__SNAP_STATE))
    unlink(path);
  for (size_t i = 0;; i++) {
    char name[32];
    snprintf(name, sizeof(name), VMM__SNAP_MEM_FMT, i);
    if (!join(path, sizeof(path), dir, name) ||
        (unlink(path) < 0 && errno == ENOENT))
      break; /* they are numbered from 0 without gaps */
  }
  rmdir(dir);
}

static void fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* The parent directory and base name of `dir` (without trailing '/'). */
static int split_dir(const char *dir, char *parent, char *base) {
  char tmp[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof(tmp) - 32)
    return vmm__error(VMM_EINVAL, "vmm_vm_snapshot: directory name of %zu "
                      "bytes", n);
  memcpy(tmp, dir, n + 1);
  while (n > 1 && tmp[n - 1] == '/')
    tmp[--n] = 0;
  char *slash = strrchr(tmp, '/');
  if (!slash) {
    strcpy(parent, ".");
    strcpy(base, tmp);
  } else if (slash == tmp) {
    strcpy(parent, "/");
    strcpy(base, tmp + 1);
  } else {
    *slash = 0;
    strcpy(parent, tmp);
    strcpy(base, slash + 1);
  }
  if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
    return vmm__error(VMM_EINVAL, "vmm_vm_snapshot: \"%s\" does not name a "
                      "directory to create", dir);
  return 0;
}

/* Writes everything into `tmp` (exists, empty). */
static int write_snapshot(vmm_vm_t *vm, const char *tmp) {
  void *blob = NULL;
  size_t len = 0;
  char *desc = NULL;
  cJSON *m = NULL;
  int rc = vmm__vm_state_save(vm, &blob, &len);
  if (rc < 0)
    return rc;
  if ((rc = vmm_vm_describe_json(vm, &desc)) < 0)
    goto out;
  m = cJSON_CreateObject();
  cJSON *files = m ? cJSON_AddArrayToObject(m, "files") : NULL;
  cJSON *vmdesc = cJSON_Parse(desc);
  if (!files || !vmdesc) {
    cJSON_Delete(vmdesc);
    rc = vmm__error(VMM_ENOMEM, "out of memory for the manifest");
    goto out;
  }
  cJSON_AddStringToObject(m, "format", VMM__SNAP_FORMAT);
  cJSON_AddNumberToObject(m, "format_version", VMM__SNAP_VERSION);
  cJSON_AddNumberToObject(m, "state_version", VMM__STATE_VERSION);
  cJSON_AddStringToObject(m, "libvmm_version", vmm_version_string());
  cJSON_AddStringToObject(m, "backend", vm->ops->name);
  cJSON_AddStringToObject(m, "cpu_template", vm->cpu_template);
  cJSON_AddNumberToObject(m, "created_unix", (double)time(NULL));
  cJSON_AddItemToObject(m, "vm", vmdesc);

  if ((rc = write_file(tmp, VMM__SNAP_STATE, blob, len)) < 0)
    goto out;
  cJSON_AddItemToArray(files, file_entry(VMM__SNAP_STATE, "state", len,
                                         vmm__crc32c(0, blob, len)));
  const char *knob = getenv(VMM__SNAP_ENV_TEST_STOP);
  bool test_stop = knob && knob[0] == '1';
  pthread_rwlock_rdlock(&vm->lock);
  for (size_t i = 0; i < vm->mem.count && rc == 0; i++) {
    const struct vmm__memslot *s = vm->mem.slots[i];
    char name[32];
    uint32_t crc = 0;
    snprintf(name, sizeof(name), VMM__SNAP_MEM_FMT, i);
    rc = write_region(tmp, name, s, &crc, test_stop && i == 0);
    cJSON *f = file_entry(name, "memory", s->size, crc);
    if (f) {
      add_hex(f, "gpa", s->gpa);
      cJSON_AddNumberToObject(f, "flags", s->flags);
    }
    cJSON_AddItemToArray(files, f);
  }
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0)
    goto out;
  char *text = cJSON_Print(m);
  if (!text) {
    rc = vmm__error(VMM_ENOMEM, "out of memory for the manifest");
    goto out;
  }
  rc = write_file(tmp, VMM__SNAP_MANIFEST, text, strlen(text));
  cJSON_free(text);
  if (rc == 0)
    fsync_dir(tmp);
out:
  cJSON_Delete(m);
  free(desc);
  free(blob);
  return rc;
}

int vmm_vm_snapshot(vmm_vm_t *vm, const char *dir) {
  static const char fn[] = "vmm_vm_snapshot";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!dir)
    return vmm__error(VMM_EINVAL, "%s: dir is NULL", fn);
  /* The control socket runs on the loop thread, which the sandbox keeps
   * from creating files (and kills the process for trying in KILL mode). */
  if (atomic_load(&vm->sandbox) && vmm__loop_on_thread(vm))
    return vmm__error(VMM_EPERM, "%s: the VM's loop thread is sandboxed and "
                      "cannot write files; snapshot from the program's own "
                      "thread (or run the VM without the sandbox)", fn);
  char parent[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX];
  int rc = split_dir(dir, parent, base);
  if (rc < 0)
    return rc;
  /* An existing directory is replaced only when it is a snapshot. */
  struct stat st;
  bool exists = stat(dir, &st) == 0;
  if (exists) {
    if (!S_ISDIR(st.st_mode) ||
        !join(path, sizeof(path), dir, VMM__SNAP_MANIFEST) ||
        access(path, F_OK) != 0)
      return vmm__error(VMM_EEXIST, "%s: \"%s\" exists and is not a "
                        "snapshot directory", fn, dir);
  }
  int n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld-XXXXXX", parent, base,
                   (long)getpid());
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return vmm__error(VMM_EINVAL, "%s: \"%s\" is too long", fn, dir);
  if (!mkdtemp(tmp))
    return vmm__error_prefix(sys_fail("mkdtemp", tmp), fn);

  vmm_vm_state_t s = vmm_vm_state(vm);
  bool paused_here = false;
  if (s == VMM_VM_RUNNING) {
    if ((rc = vmm_vm_pause(vm)) < 0)
      goto fail;
    paused_here = true;
  }
  rc = write_snapshot(vm, tmp);
  if (paused_here) {
    int r2 = vmm_vm_resume(vm);
    if (rc == 0)
      rc = r2;
  }
  if (rc < 0)
    goto fail;
  /* Into place in one step: a rename, or an exchange with the snapshot
   * there, whose files are then removed. */
  if (exists) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) < 0) {
      rc = sys_fail("exchange with", dir);
      goto fail;
    }
    fsync_dir(parent);
    remove_snapshot_dir(tmp);
  } else {
    if (rename(tmp, dir) < 0) {
      rc = sys_fail("rename into", dir);
      goto fail;
    }
    fsync_dir(parent);
  }
  return 0;
fail:
  remove_snapshot_dir(tmp);
  return vmm__error_prefix(rc, fn);
}
