/* src/loader_flat.c — raw image loading (vmm_load_flat*) and file reading. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "loader.h"
#include "vm_internal.h"

#define ULL(x) ((unsigned long long)(x))

int vmm__loader_check_range(const struct vmm__memmap *map, uint64_t gpa,
                            uint64_t len, const char *what) {
  if (len == 0)
    return 0;
  if (len - 1 > UINT64_MAX - gpa)
    return vmm__error(VMM_EFAULT, "%s: 0x%llx + 0x%llx wraps around", what,
                      ULL(gpa), ULL(len));
  /* Walk from region to region; each step moves past one region, so this
   * ends after at most map->count lookups. */
  uint64_t at = gpa, last = gpa + (len - 1);
  for (;;) {
    const struct vmm__memslot *s = vmm__memmap_find(map, at);
    if (!s)
      return vmm__error(VMM_EFAULT,
                        "%s: guest-physical address 0x%llx is not guest "
                        "memory", what, ULL(at));
    uint64_t region_last = s->gpa + (s->size - 1);
    if (region_last >= last)
      return 0;
    at = region_last + 1;
  }
}

int vmm__flat_load(const void *image, size_t len, struct vmm__memmap *map,
                   uint64_t gpa) {
  if (!image)
    return vmm__error(VMM_EINVAL, "image is NULL");
  if (!map)
    return vmm__error(VMM_EINVAL, "region map is NULL");
  /* An empty image is almost certainly a mistake (a wrong path, a failed
   * build step); loading "nothing" successfully would hide it. */
  if (len == 0)
    return vmm__error(VMM_EINVAL, "image is empty (0 bytes)");
  /* Checked here for a message that names the image; memmap_access
   * checks again before copying, all or nothing. */
  int rc = vmm__loader_check_range(map, gpa, len, "image");
  if (rc)
    return rc;
  /* Write access only reads `buf`; the cast is for the shared signature. */
  return vmm__memmap_access(map, gpa, (void *)image, len, true);
}

/* Codes equal negative errno where the table has one; others become EIO
 * (the message keeps strerror's text either way). */
static int from_errno(int err) {
  switch (err) {
  case ENOTDIR: /* a path component is a file: the path does not exist */
    return VMM_ENOENT;
#define VMM__ERRNO_CASE(name, value, text) case -(value):
    VMM_ERRNO_MAP(VMM__ERRNO_CASE)
#undef VMM__ERRNO_CASE
    if (err < 4000) /* not one of libvmm's own codes */
      return -err;
    return VMM_EIO;
  default:
    return VMM_EIO;
  }
}

int vmm__file_open(const char *path, int *fd, size_t *size) {
  if (!path)
    return vmm__error(VMM_EINVAL, "path is NULL");
  /* O_NONBLOCK: opening a FIFO must not wait for a writer before the
   * S_ISREG check below can refuse it; regular-file reads ignore it. */
  int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f < 0) {
    int err = errno;
    return vmm__error(from_errno(err), "%s: %s", path, strerror(err));
  }
  struct stat st;
  if (fstat(f, &st) < 0) {
    int err = errno;
    close(f);
    return vmm__error(from_errno(err), "%s: %s", path, strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    close(f);
    return vmm__error(VMM_EINVAL, "%s: is a directory, not an image file",
                      path);
  }
  /* Devices, FIFOs and sockets have no size to check against guest
   * memory up front, and some never end (/dev/zero). */
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return vmm__error(VMM_EINVAL, "%s: not a regular file", path);
  }
  if (st.st_size < 0 || (off_t)(size_t)st.st_size != st.st_size) {
    close(f);
    return vmm__error(VMM_E2BIG, "%s: size %lld does not fit in memory",
                      path, (long long)st.st_size);
  }
  *fd = f;
  *size = (size_t)st.st_size;
  return 0;
}

int vmm__file_read(int fd, const char *path, size_t size, void **data) {
  /* malloc(0) may return NULL; keep one byte so NULL means failure. */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf)
    return vmm__error(VMM_ENOMEM, "%s: cannot allocate %zu bytes to read it",
                      path, size);
  size_t got = 0;
  while (got < size) {
    /* read() returns less than asked for large sizes (about 2 GiB at most
     * on Linux) and on signals; loop until done. */
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0) {
      int err = errno;
      if (err == EINTR)
        continue;
      free(buf);
      return vmm__error(from_errno(err), "%s: read failed at offset %zu: %s",
                        path, got, strerror(err));
    }
    if (n == 0) {
      free(buf);
      return vmm__error(VMM_EIO,
                        "%s: file shrank from %zu to %zu bytes while being "
                        "read", path, size, got);
    }
    got += (size_t)n;
  }
  *data = buf;
  return 0;
}

int vmm_load_flat(vmm_vm_t *vm, const void *image, size_t len, uint64_t gpa) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_load_flat: %p is not a live VM",
                      (void *)vm);
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vmm__flat_load(image, len, &vm->mem, gpa);
  pthread_rwlock_unlock(&vm->lock);
  return rc ? vmm__error_prefix(rc, "vmm_load_flat") : 0;
}

int vmm_load_flat_file(vmm_vm_t *vm, const char *path, uint64_t gpa,
                       uint64_t *size) {
  static const char fn[] = "vmm_load_flat_file";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: %p is not a live VM", fn, (void *)vm);
  if (!path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL", fn);
  int fd;
  size_t len;
  int rc = vmm__file_open(path, &fd, &len);
  if (rc)
    return vmm__error_prefix(rc, fn);
  if (len == 0) {
    close(fd);
    return vmm__error(VMM_EINVAL, "%s: %s: file is empty", fn, path);
  }
  /* Refuse an image that cannot fit before reading all of it into host
   * memory (a disk image passed by mistake can be gigabytes). The map may
   * change before the write lock below; vmm__flat_load checks again. */
  pthread_rwlock_rdlock(&vm->lock);
  rc = vmm__loader_check_range(&vm->mem, gpa, len, "image");
  pthread_rwlock_unlock(&vm->lock);
  if (rc) {
    close(fd);
    vmm__error_prefix(rc, path);
    return vmm__error_prefix(rc, fn);
  }
  void *data;
  rc = vmm__file_read(fd, path, len, &data);
  close(fd);
  if (rc) /* the message already starts with the path */
    return vmm__error_prefix(rc, fn);
  pthread_rwlock_wrlock(&vm->lock);
  rc = vmm__flat_load(data, len, &vm->mem, gpa);
  pthread_rwlock_unlock(&vm->lock);
  free(data);
  if (rc) {
    vmm__error_prefix(rc, path);
    return vmm__error_prefix(rc, fn);
  }
  if (size)
    *size = len;
  return 0;
}
