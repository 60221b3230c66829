/* src/snapshot/restore.c — vmm_vm_restore() and vmm_vm_restore_into():
 * the manifest checked, the VM rebuilt from its description, memory
 * mapped copy-on-write from the files, the state loaded. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/config_internal.h"
#include "error.h"
#include "snapshot/snapshot_internal.h"
#include "snapshot/state.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

/* "a/b" into out; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b) {
  int n = snprintf(out, cap, "%s/%s", a, b);
  return n >= 0 && (size_t)n < cap;
}

struct snap_file {
  char name[64];
  uint64_t size, gpa;
  uint32_t crc, flags;
};

struct manifest {
  cJSON *json;
  const cJSON *vm; /* the description */
  struct snap_file state;
  struct snap_file *mem;
  size_t n_mem;
};

static void manifest_free(struct manifest *m) {
  cJSON_Delete(m->json);
  free(m->mem);
  memset(m, 0, sizeof(*m));
}

static int open_in(const char *dir, const char *name, char *path,
                   size_t cap) {
  if (!join(path, cap, dir, name))
    return vmm__error(VMM_EINVAL, "path \"%s/%s\" is too long", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return vmm__error(e == ENOENT ? VMM_ENOENT : e == EACCES ? VMM_EACCES
                      : VMM_EIO, "\"%s\": %s", path, strerror(e));
  }
  return fd;
}

/* Reads a whole small file (at most `max` bytes). */
static int slurp(const char *dir, const char *name, size_t max, void **out,
                 size_t *len) {
  char path[PATH_MAX];
  int fd = open_in(dir, name, path, sizeof(path));
  if (fd < 0)
    return fd;
  struct stat st;
  int rc = 0;
  uint8_t *buf = NULL;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    rc = vmm__error(VMM_EINVAL, "\"%s\" is not a regular file", path);
  } else if ((uint64_t)st.st_size > max) {
    rc = vmm__error(VMM_EINVAL, "\"%s\" has %lld bytes (at most %zu)", path,
                    (long long)st.st_size, max);
  } else if (!(buf = malloc((size_t)st.st_size + 1))) {
    rc = vmm__error(VMM_ENOMEM, "out of memory");
  } else {
    size_t n = 0, want = (size_t)st.st_size;
    while (n < want) {
      ssize_t r = read(fd, buf + n, want - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        rc = vmm__error(VMM_EIO, "reading \"%s\": %s", path,
                        r < 0 ? strerror(errno) : "file shrank");
        break;
      }
      n += (size_t)r;
    }
    buf[want] = 0;
    *len = want;
  }
  close(fd);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

/* A "0x..." string field as a number. */
static bool hex_field(const cJSON *o, const char *name, uint64_t *v) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsString(f) || strncmp(f->valuestring, "0x", 2) != 0 ||
      !f->valuestring[2])
    return false;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(f->valuestring + 2, &end, 16);
  if (*end || errno)
    return false;
  *v = x;
  return true;
}

static int file_entry(const cJSON *f, size_t i, struct snap_file *out,
                      bool memory) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
  uint64_t crc = 0;
  if (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof(out->name) ||
      strchr(name->valuestring, '/') || name->valuestring[0] == '.' ||
      !hex_field(f, "size", &out->size) || !hex_field(f, "crc32c", &crc) ||
      crc > UINT32_MAX)
    return vmm__error(VMM_EINVAL, "manifest: files[%zu] needs a plain "
                      "\"name\", a hex \"size\" and a hex \"crc32c\"", i);
  snprintf(out->name, sizeof(out->name), "%s", name->valuestring);
  out->crc = (uint32_t)crc;
  if (!memory)
    return 0;
  const cJSON *flags = cJSON_GetObjectItemCaseSensitive(f, "flags");
  if (!hex_field(f, "gpa", &out->gpa) || !cJSON_IsNumber(flags) ||
      flags->valuedouble < 0 || flags->valuedouble > UINT32_MAX)
    return vmm__error(VMM_EINVAL, "manifest: memory file files[%zu] needs a "
                      "hex \"gpa\" and numeric \"flags\"", i);
  out->flags = (uint32_t)flags->valuedouble;
  return 0;
}

static int manifest_load(const char *dir, struct manifest *m) {
  memset(m, 0, sizeof(*m));
  char *text = NULL;
  size_t len = 0;
  int rc = slurp(dir, VMM__SNAP_MANIFEST, VMM__SNAP_MANIFEST_MAX,
                 (void **)&text, &len);
  if (rc < 0)
    return rc;
  m->json = cJSON_ParseWithLength(text, len);
  free(text);
  if (!cJSON_IsObject(m->json))
    return vmm__error(VMM_EINVAL, "manifest: not a JSON object (damaged or "
                      "truncated)");
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m->json, "format");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(m->json,
                                                      "format_version");
  const cJSON *sver = cJSON_GetObjectItemCaseSensitive(m->json,
                                                       "state_version");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, VMM__SNAP_FORMAT))
    return vmm__error(VMM_EINVAL, "manifest: \"format\" is not \"%s\"",
                      VMM__SNAP_FORMAT);
  if (!cJSON_IsNumber(ver) || !cJSON_IsNumber(sver))
    return vmm__error(VMM_EINVAL, "manifest: no format_version or "
                      "state_version");
  if (ver->valuedouble != VMM__SNAP_VERSION ||
      sver->valuedouble != VMM__STATE_VERSION)
    return vmm__error(VMM_EVERSION, "manifest: snapshot format %g with "
                      "state version %g; this libvmm (%s) reads format %d "
                      "with state version %u", ver->valuedouble,
                      sver->valuedouble, vmm_version_string(),
                      VMM__SNAP_VERSION, VMM__STATE_VERSION);
  m->vm = cJSON_GetObjectItemCaseSensitive(m->json, "vm");
  if (!cJSON_IsObject(m->vm))
    return vmm__error(VMM_EINVAL, "manifest: no \"vm\" description");
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(m->json, "files");
  int n = cJSON_GetArraySize(files);
  if (!cJSON_IsArray(files) || n < 1 || n > 1025)
    return vmm__error(VMM_EINVAL, "manifest: \"files\" is not a list of 1 "
                      "to 1025 files");
  m->mem = calloc((size_t)n, sizeof(*m->mem));
  if (!m->mem)
    return vmm__error(VMM_ENOMEM, "out of memory");
  bool have_state = false;
  size_t i = 0;
  for (const cJSON *f = files->child; f; f = f->next, i++) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(f, "kind");
    if (!cJSON_IsString(kind))
      return vmm__error(VMM_EINVAL, "manifest: files[%zu] has no kind", i);
    if (strcmp(kind->valuestring, "state") == 0 && !have_state) {
      if ((rc = file_entry(f, i, &m->state, false)) < 0)
        return rc;
      have_state = true;
    } else if (strcmp(kind->valuestring, "memory") == 0) {
      if ((rc = file_entry(f, i, &m->mem[m->n_mem], true)) < 0)
        return rc;
      m->n_mem++;
    } else {
      return vmm__error(VMM_EINVAL, "manifest: files[%zu] is of kind "
                        "\"%s\"", i, kind->valuestring);
    }
  }
  if (!have_state)
    return vmm__error(VMM_EINVAL, "manifest: no state file");
  return 0;
}

/* Checks a memory file's CRC-32C by reading it (VMM_RESTORE_F_VERIFY).
 * read(), not a mapping: a fault on a hole of a file on a full tmpfs
 * raises SIGBUS, a read of it just returns zeros. */
static int verify_file(int fd, const char *path, const struct snap_file *f) {
  enum { CHUNK = 1 << 20 };
  uint8_t *buf = malloc(CHUNK);
  if (!buf)
    return vmm__error(VMM_ENOMEM, "verifying \"%s\": out of memory", path);
  uint32_t crc = 0;
  int rc = 0;
  for (uint64_t off = 0; off < f->size && rc == 0;) {
    size_t want = f->size - off < CHUNK ? (size_t)(f->size - off) : CHUNK;
    ssize_t n = pread(fd, buf, want, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = vmm__error(VMM_EIO, "reading \"%s\": %s", path,
                      n < 0 ? strerror(errno) : "file shrank");
      break;
    }
    crc = vmm__crc32c(crc, buf, (size_t)n);
    off += (uint64_t)n;
  }
  free(buf);
  if (rc == 0 && crc != f->crc)
    rc = vmm__error(VMM_EINVAL, "\"%s\": checksum mismatch (CRC-32C "
                    "0x%08x, manifest says 0x%08x): the file is corrupted",
                    path, crc, f->crc);
  return rc;
}

/* Reads [off, off + len) of the file into guest memory at `dst`. */
static int read_range(int fd, const char *path, uint8_t *dst, uint64_t off,
                      uint64_t len) {
  for (uint64_t done = 0; done < len;) {
    ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return vmm__error(VMM_EIO, "reading \"%s\": %s", path,
                        n < 0 ? strerror(errno) : "file shrank");
    done += (uint64_t)n;
  }
  return 0;
}

/* More data extents than this in one memory file are read into memory
 * instead of mapped: each mapping is a VMA, and a process has a limit. */
#define MAX_MAPPED_EXTENTS 4096

/*
 * Puts a memory file into a region's own memory: zeroed anonymous memory
 * at the same address (the backend's slot keeps pointing there) with the
 * file's data extents mapped copy-on-write over it. Holes are never
 * mapped from the file: a fault on a hole of a file on a full tmpfs raises
 * SIGBUS, in the guest's KVM_RUN or in a device model, so holes stay
 * anonymous zero pages. A file system without SEEK_DATA gets one mapping
 * of the whole file.
 */
static int map_memory(int fd, const char *path, struct vmm__memslot *s) {
  long page = sysconf(_SC_PAGESIZE);
  uint64_t pg = page > 0 ? (uint64_t)page : 4096;
  if (mmap(s->hva, s->size, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
           0) == MAP_FAILED)
    return vmm__error(VMM_ENOMEM, "mmap over the region for \"%s\": %s",
                      path, strerror(errno));
  /* Count the extents first: many small ones are read, not mapped. */
  size_t extents = 0;
  for (off_t d = 0; (uint64_t)d < s->size; extents++) {
    d = lseek(fd, d, SEEK_DATA);
    if (d < 0)
      break;
    off_t h = lseek(fd, d, SEEK_HOLE);
    if (h < 0) {
      d = -1;
      break;
    }
    d = h;
  }
  bool seek_ok = lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
  if (!seek_ok) {
    if (mmap(s->hva, s->size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0) == MAP_FAILED)
      return vmm__error(VMM_ENOMEM, "mmap \"%s\": %s", path,
                        strerror(errno));
    return 0;
  }
  bool map = extents <= MAX_MAPPED_EXTENTS;
  for (off_t d = 0; (uint64_t)d < s->size;) {
    d = lseek(fd, d, SEEK_DATA);
    if (d < 0)
      break; /* ENXIO: no data after d */
    off_t h = lseek(fd, d, SEEK_HOLE);
    if (h < 0 || (uint64_t)h > s->size)
      h = (off_t)s->size;
    uint64_t start = (uint64_t)d & ~(pg - 1);
    uint64_t end = ((uint64_t)h + pg - 1) & ~(pg - 1);
    if (end > s->size)
      end = s->size;
    if (map) {
      if (mmap(s->hva + start, end - start, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd,
               (off_t)start) == MAP_FAILED)
        return vmm__error(VMM_ENOMEM, "mmap \"%s\": %s", path,
                          strerror(errno));
    } else {
      int rc = read_range(fd, path, (uint8_t *)s->hva + start, start,
                          end - start);
      if (rc < 0)
        return rc;
    }
    d = h;
  }
  return 0;
}

/* Puts the memory files into the VM's regions, which must be exactly the
 * ones the manifest lists. */
static int load_memory(vmm_vm_t *vm, const char *dir,
                       const struct manifest *m, uint32_t flags) {
  int rc = 0;
  pthread_rwlock_rdlock(&vm->lock);
  if (vm->mem.count != m->n_mem)
    rc = vmm__error(VMM_EINVAL, "the snapshot has %zu memory regions, the "
                    "VM %zu", m->n_mem, vm->mem.count);
  for (size_t i = 0; i < m->n_mem && rc == 0; i++) {
    const struct snap_file *f = &m->mem[i];
    struct vmm__memslot *s = vmm__memmap_find(&vm->mem, f->gpa);
    if (!s || s->gpa != f->gpa || s->size != f->size ||
        s->flags != f->flags) {
      rc = vmm__error(VMM_EINVAL, "memory file %s is for [0x%llx, +0x%llx) "
                      "flags 0x%x; the VM has no such region", f->name,
                      (unsigned long long)f->gpa, (unsigned long long)f->size,
                      f->flags);
      break;
    }
    char path[PATH_MAX];
    int fd = open_in(dir, f->name, path, sizeof(path));
    if (fd < 0) {
      rc = fd;
      break;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != f->size) {
      rc = vmm__error(VMM_EINVAL, "\"%s\" has %lld bytes, the manifest says "
                      "%llu (truncated?)", path, (long long)st.st_size,
                      (unsigned long long)f->size);
    } else if ((flags & VMM_RESTORE_F_VERIFY) &&
               (rc = verify_file(fd, path, f)) < 0) {
      /* rc set */
    } else if (((vmm_mem_region_t *)s->owner)->owned) {
      rc = map_memory(fd, path, s);
    } else {
      /* The caller's memory: read into it. */
      rc = read_range(fd, path, (uint8_t *)s->hva, 0, s->size);
    }
    close(fd);
  }
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

static int load_state(vmm_vm_t *vm, const char *dir,
                      const struct manifest *m) {
  void *blob = NULL;
  size_t len = 0;
  int rc = slurp(dir, m->state.name, 1u << 30, &blob, &len);
  if (rc < 0)
    return rc;
  if (len != m->state.size)
    rc = vmm__error(VMM_EINVAL, "%s has %zu bytes, the manifest says %llu "
                    "(truncated?)", m->state.name, len,
                    (unsigned long long)m->state.size);
  else if (vmm__crc32c(0, blob, len) != m->state.crc)
    rc = vmm__error(VMM_EINVAL, "%s: checksum mismatch with the manifest: "
                    "the file is corrupted", m->state.name);
  else
    rc = vmm__vm_state_load(vm, blob, len);
  free(blob);
  return rc;
}

static int restore_into(vmm_vm_t *vm, const char *dir,
                        const struct manifest *m, uint32_t flags) {
  const cJSON *backend = cJSON_GetObjectItemCaseSensitive(m->json, "backend");
  if (cJSON_IsString(backend) && strcmp(backend->valuestring, vm->ops->name))
    return vmm__error(VMM_EINVAL, "saved on backend %s, this VM runs on %s",
                      backend->valuestring, vm->ops->name);
  int rc = load_memory(vm, dir, m, flags);
  if (rc == 0)
    rc = load_state(vm, dir, m);
  return rc;
}

int vmm_vm_restore_into(vmm_vm_t *vm, const char *dir, uint32_t flags) {
  static const char fn[] = "vmm_vm_restore_into";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!dir)
    return vmm__error(VMM_EINVAL, "%s: dir is NULL", fn);
  if (flags & ~VMM_RESTORE_F_VERIFY)
    return vmm__error(VMM_EINVAL, "%s: unknown flags 0x%x", fn, flags);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: the VM was started", fn);
  struct manifest m;
  int rc = manifest_load(dir, &m);
  if (rc == 0)
    rc = restore_into(vm, dir, &m, flags);
  manifest_free(&m);
  return rc < 0 ? vmm__error_prefix(rc, fn) : 0;
}

int vmm_vm_restore(const char *dir, const vmm_restore_opts_t *opts,
                   vmm_vm_t **out) {
  static const char fn[] = "vmm_vm_restore";
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!dir)
    return vmm__error(VMM_EINVAL, "%s: dir is NULL", fn);
  vmm_restore_opts_t o = VMM_RESTORE_OPTS_INIT;
  if (opts) {
    if (opts->size < sizeof(o))
      return vmm__error(VMM_EINVAL, "%s: vmm_restore_opts_t.size %zu is too "
                        "small", fn, opts->size);
    o.flags = opts->flags;
    o.reserved = opts->reserved;
  }
  if (o.flags & ~(VMM_RESTORE_F_NO_START | VMM_RESTORE_F_VERIFY) ||
      o.reserved)
    return vmm__error(VMM_EINVAL, "%s: unknown flags 0x%x", fn, o.flags);
  struct manifest m;
  vmm_config_t *cfg = NULL;
  vmm_vm_t *vm = NULL;
  int rc = manifest_load(dir, &m);
  if (rc == 0) {
    char *desc = cJSON_PrintUnformatted(m.vm);
    rc = desc ? vmm_config_parse(desc, strlen(desc), &cfg)
              : vmm__error(VMM_ENOMEM, "out of memory");
    if (rc < 0)
      rc = vmm__error_prefix(rc, "the snapshot's VM description");
    cJSON_free(desc);
  }
  if (rc == 0)
    rc = vmm__vm_create_from_config_bare(cfg, &vm);
  vmm_config_free(cfg);
  if (rc == 0)
    rc = restore_into(vm, dir, &m, o.flags);
  if (rc == 0 && !(o.flags & VMM_RESTORE_F_NO_START))
    rc = vmm_vm_start(vm);
  manifest_free(&m);
  if (rc < 0) {
    char msg[768];
    snprintf(msg, sizeof(msg), "%s", vmm_last_error());
    vmm_vm_destroy(vm);
    return vmm__error(rc, "%s: %s", fn, msg);
  }
  *out = vm;
  return 0;
}
