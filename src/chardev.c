/* src/chardev.c — character back-ends: stdio, file, unix socket, buffer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "loop.h"
#include "vm_internal.h"

/*
 * Locking. Two mutexes per back-end, never held together:
 *  - out_lock guards the output side (the ring of a buffer, the client fd
 *    of a socket). Devices may call vmm__chardev_write() with their own
 *    lock held; nothing here calls into a device while holding out_lock.
 *  - in_lock guards the input side and is held while the device's input
 *    function runs (so vmm__chardev_detach() can wait for a call in
 *    flight). A device must therefore not call vmm__chardev_input_ready()
 *    while holding the lock its input function takes: a buffer back-end
 *    delivers at once, on the calling thread.
 * Poll handles (fd back-ends) are only touched on the loop thread, or
 * before the VM starts.
 */

enum chr_kind { CHR_STDIO, CHR_FILE, CHR_SOCKET, CHR_BUFFER };

/* Bytes read from an fd that the device has not taken yet. */
#define FD_INPUT_CHUNK 4096
/* Input a program may queue in a buffer back-end before it must wait for
 * the guest to read: bounds the memory a runaway writer can pin. */
#define BUFFER_INPUT_MAX (16u << 20)
/* Output ring of a buffer back-end. */
#define BUFFER_CAPACITY_MAX (1ull << 30)

struct vmm_chardev {
  vmm_vm_t *vm;
  vmm_chardev_t *next; /* the VM's list */
  enum chr_kind kind;

  /* ---- input side (in_lock) ---- */
  pthread_mutex_t in_lock;
  vmm__chardev_input_fn input_fn;
  void *input_opaque;
  uint8_t *in_buf; /* queue: in_buf[in_head .. in_head + in_len) */
  size_t in_head, in_len, in_cap;
  atomic_bool resume_queued; /* an fd back-end's resume call is pending */

  /* ---- output side (out_lock) ---- */
  pthread_mutex_t out_lock;
  int out_fd;    /* stdio 1, file, socket client (-1: none) */
  uint8_t *ring; /* buffer: guest output not read yet */
  size_t ring_cap, ring_head, ring_len;
  atomic_uint_least64_t dropped;

  /* ---- fd input (loop thread, or before start) ---- */
  int in_fd;                 /* stdio 0, socket client (-1: none) */
  struct vmm__poll *in_poll; /* NULL while paused, at EOF or with no fd */
  bool in_eof;               /* stdin ended: never poll again */
  int listen_fd;             /* socket */
  struct vmm__poll *listen_poll;
  char *path; /* socket path, unlinked on destroy */
  char *file_path; /* file back-end: what it was opened as (describe) */
};

static const char *kind_name(enum chr_kind kind) {
  switch (kind) {
  case CHR_STDIO:
    return "stdio";
  case CHR_FILE:
    return "file";
  case CHR_SOCKET:
    return "socket";
  case CHR_BUFFER:
    return "buffer";
  }
  return "?";
}

/* -errno where the error table has it, VMM_EIO otherwise. */
static int errno_code(int e) {
  if (e <= 0)
    return VMM_EIO;
  return strcmp(vmm_err_name(-e), "VMM_EUNKNOWN") == 0 ? VMM_EIO : -e;
}

/* ---- construction and teardown --------------------------------------- */

/* The checks every constructor starts with: a handle is only any use
 * through `out`. */
static int check_new(vmm_vm_t *vm, vmm_chardev_t **out, const char *fn) {
  if (!out)
    return vmm__error(VMM_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  return 0;
}

static int chr_new(vmm_vm_t *vm, enum chr_kind kind, vmm_chardev_t **out,
                   const char *fn) {
  *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  vmm_chardev_t *chr = calloc(1, sizeof(*chr));
  if (!chr)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  chr->vm = vm;
  chr->kind = kind;
  chr->out_fd = -1;
  chr->in_fd = -1;
  chr->listen_fd = -1;
  pthread_mutex_init(&chr->in_lock, NULL);
  pthread_mutex_init(&chr->out_lock, NULL);
  atomic_init(&chr->resume_queued, false);
  atomic_init(&chr->dropped, 0);
  *out = chr;
  return 0;
}

/* Frees a back-end that may be half built; closes what it opened. */
static void chr_free(vmm_chardev_t *chr) {
  if (!chr)
    return;
  if (chr->in_poll)
    vmm__loop_poll_close(chr->in_poll);
  if (chr->listen_poll)
    vmm__loop_poll_close(chr->listen_poll);
  if (chr->kind == CHR_SOCKET) {
    if (chr->in_fd >= 0)
      close(chr->in_fd); /* the client: in_fd and out_fd are the same fd */
    if (chr->listen_fd >= 0)
      close(chr->listen_fd);
    if (chr->path)
      unlink(chr->path);
  } else if (chr->kind == CHR_FILE && chr->out_fd >= 0) {
    close(chr->out_fd);
  }
  free(chr->path);
  free(chr->file_path);
  free(chr->in_buf);
  free(chr->ring);
  pthread_mutex_destroy(&chr->in_lock);
  pthread_mutex_destroy(&chr->out_lock);
  free(chr);
}

/* Makes a built back-end a live handle on the VM's list. */
static int chr_publish(vmm_chardev_t *chr, vmm_chardev_t **out,
                       const char *fn) {
  int rc = vmm__handle_add(chr, VMM__H_CHARDEV);
  if (rc < 0) {
    chr_free(chr);
    *out = NULL;
    return vmm__error(rc, "%s: out of memory for the handle", fn);
  }
  vmm_vm_t *vm = chr->vm;
  pthread_rwlock_wrlock(&vm->lock);
  chr->next = vm->chardevs;
  vm->chardevs = chr;
  pthread_rwlock_unlock(&vm->lock);
  *out = chr;
  return 0;
}

void vmm__chardevs_destroy(vmm_vm_t *vm) {
  pthread_rwlock_wrlock(&vm->lock);
  vmm_chardev_t *chr = vm->chardevs;
  vm->chardevs = NULL;
  pthread_rwlock_unlock(&vm->lock);
  while (chr) {
    vmm_chardev_t *next = chr->next;
    vmm__handle_remove(chr);
    chr_free(chr);
    chr = next;
  }
}

/* ---- input ------------------------------------------------------------ */

/* Offers the queued input to the device. in_lock held. */
static void deliver_locked(vmm_chardev_t *chr) {
  while (chr->in_len && chr->input_fn) {
    size_t took = chr->input_fn(chr->input_opaque, chr->in_buf + chr->in_head,
                                chr->in_len);
    if (took > chr->in_len)
      took = chr->in_len; /* a device bug must not run us off the buffer */
    chr->in_head += took;
    chr->in_len -= took;
    if (took == 0)
      break;
  }
  if (chr->in_len == 0)
    chr->in_head = 0;
}

static void fd_readable(void *opaque);
static void socket_drop_client_locked(vmm_chardev_t *chr);

/* Loop thread (or before start): poll the input fd if the device can take
 * more and nothing is queued. in_lock held. */
static void fd_poll_locked(vmm_chardev_t *chr) {
  if (chr->in_poll || chr->in_fd < 0 || chr->in_eof || chr->in_len ||
      !chr->input_fn)
    return;
  if (vmm__loop_poll(chr->vm, chr->in_fd, fd_readable, chr, &chr->in_poll) <
      0) {
    chr->in_poll = NULL;
    /* epoll refuses regular files and /dev/null: a stdin like that gives
     * no input (and is not retried); a socket client is dropped. */
    if (chr->kind == CHR_STDIO)
      chr->in_eof = true;
    else
      socket_drop_client_locked(chr);
  }
}

/* Loop thread: stop polling the input fd (the device is full, or the fd
 * is gone). Closing a poll from its own callback is allowed. */
static void fd_unpoll_locked(vmm_chardev_t *chr) {
  if (chr->in_poll) {
    vmm__loop_poll_close(chr->in_poll);
    chr->in_poll = NULL;
  }
}

/* Loop thread: the socket's client hung up or failed. */
static void socket_drop_client_locked(vmm_chardev_t *chr) {
  fd_unpoll_locked(chr);
  pthread_mutex_lock(&chr->out_lock);
  chr->out_fd = -1;
  pthread_mutex_unlock(&chr->out_lock);
  if (chr->in_fd >= 0)
    close(chr->in_fd);
  chr->in_fd = -1;
  chr->in_len = 0; /* what it sent and the guest did not read goes too */
  chr->in_head = 0;
}

/* Loop thread: the input fd (stdin or the socket's client) is readable. */
static void fd_readable(void *opaque) {
  vmm_chardev_t *chr = opaque;
  pthread_mutex_lock(&chr->in_lock);
  if (chr->in_len == 0 && chr->in_fd >= 0) {
    ssize_t n = read(chr->in_fd, chr->in_buf, chr->in_cap);
    if (n > 0) {
      chr->in_head = 0;
      chr->in_len = (size_t)n;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR &&
                          errno != EWOULDBLOCK)) {
      if (chr->kind == CHR_SOCKET) {
        socket_drop_client_locked(chr);
      } else {
        chr->in_eof = true; /* stdin ended (or broke): stop polling it */
        fd_unpoll_locked(chr);
      }
    }
  }
  deliver_locked(chr);
  if (chr->in_len) /* the device is full: wait for its input_ready */
    fd_unpoll_locked(chr);
  pthread_mutex_unlock(&chr->in_lock);
}

/* Loop thread: the device has room again (or was just attached). */
static void fd_resume(void *opaque) {
  vmm_chardev_t *chr = opaque;
  atomic_store(&chr->resume_queued, false);
  pthread_mutex_lock(&chr->in_lock);
  deliver_locked(chr);
  fd_poll_locked(chr);
  pthread_mutex_unlock(&chr->in_lock);
}

/* Runs fd_resume on the loop thread; here when this is the loop thread or
 * the VM has no loop yet (before start: vmm__loop_poll() creates it). */
static void fd_schedule_resume(vmm_chardev_t *chr) {
  if (vmm__loop_on_thread(chr->vm) || !chr->vm->loop) {
    fd_resume(chr);
    return;
  }
  if (atomic_exchange(&chr->resume_queued, true))
    return; /* one is pending already */
  if (vmm__loop_call(chr->vm, fd_resume, chr) < 0)
    atomic_store(&chr->resume_queued, false);
}

int vmm__chardev_attach(vmm_chardev_t *chr, vmm__chardev_input_fn fn,
                        void *opaque) {
  if (!vmm__handle_valid(chr, VMM__H_CHARDEV))
    return vmm__error(VMM_EBADF, "not a live character back-end");
  if (!fn)
    return vmm__error(VMM_EINVAL, "chardev attach: input function is NULL");
  pthread_mutex_lock(&chr->in_lock);
  if (chr->input_fn) {
    pthread_mutex_unlock(&chr->in_lock);
    return vmm__error(VMM_EBUSY, "the %s back-end already serves a device",
                      kind_name(chr->kind));
  }
  chr->input_fn = fn;
  chr->input_opaque = opaque;
  if (chr->kind == CHR_BUFFER)
    deliver_locked(chr); /* input written before the device existed */
  pthread_mutex_unlock(&chr->in_lock);
  if (chr->kind == CHR_STDIO || chr->kind == CHR_SOCKET)
    fd_schedule_resume(chr); /* start polling on the loop */
  return 0;
}

void vmm__chardev_detach(vmm_chardev_t *chr) {
  if (!chr)
    return;
  /* Taking in_lock waits for an input call in flight. */
  pthread_mutex_lock(&chr->in_lock);
  chr->input_fn = NULL;
  chr->input_opaque = NULL;
  pthread_mutex_unlock(&chr->in_lock);
}

vmm_vm_t *vmm__chardev_vm(const vmm_chardev_t *chr) {
  return vmm__handle_valid(chr, VMM__H_CHARDEV) ? chr->vm : NULL;
}

const char *vmm__chardev_describe(const vmm_chardev_t *chr, const char **path,
                                  size_t *capacity) {
  *path = chr->kind == CHR_SOCKET ? chr->path
          : chr->kind == CHR_FILE ? chr->file_path
                                  : NULL;
  *capacity = chr->kind == CHR_BUFFER ? chr->ring_cap : 0;
  return kind_name(chr->kind);
}

uint64_t vmm__chardev_dropped(const vmm_chardev_t *chr) {
  return chr ? atomic_load(&chr->dropped) : 0;
}

void vmm__chardev_input_ready(vmm_chardev_t *chr) {
  if (!chr)
    return;
  switch (chr->kind) {
  case CHR_BUFFER:
    pthread_mutex_lock(&chr->in_lock);
    deliver_locked(chr);
    pthread_mutex_unlock(&chr->in_lock);
    break;
  case CHR_STDIO:
  case CHR_SOCKET:
    fd_schedule_resume(chr);
    break;
  case CHR_FILE:
    break; /* output only */
  }
}

/* ---- output ----------------------------------------------------------- */

static void count_dropped(vmm_chardev_t *chr, size_t n) {
  if (n)
    atomic_fetch_add(&chr->dropped, (uint_least64_t)n);
}

/* Writes to a blocking fd that is ready now; what does not go is dropped.
 * poll() first, so a full pipe or a stopped terminal costs a drop, not a
 * stalled vCPU (a pipe that polls writable has room for a page). */
static size_t write_ready(int fd, const uint8_t *data, size_t len) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
    return 0;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n > 0) {
      done += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  return done;
}

void vmm__chardev_write(vmm_chardev_t *chr, const uint8_t *data, size_t len) {
  if (!chr || !data || !len)
    return;
  vmm__vm_mark(chr->vm, &chr->vm->first_output_ns); /* boot timing */
  size_t written = 0;
  pthread_mutex_lock(&chr->out_lock);
  switch (chr->kind) {
  case CHR_STDIO:
    written = write_ready(chr->out_fd, data, len);
    break;
  case CHR_FILE:
    while (written < len) {
      ssize_t n = write(chr->out_fd, data + written, len - written);
      if (n > 0)
        written += (size_t)n;
      else if (!(n < 0 && errno == EINTR))
        break;
    }
    break;
  case CHR_SOCKET:
    if (chr->out_fd >= 0) {
      ssize_t n;
      do {
        n = send(chr->out_fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n > 0)
        written = (size_t)n;
      /* A client that went away is noticed by the loop (EOF on read). */
    }
    break;
  case CHR_BUFFER: {
    size_t room = chr->ring_cap - chr->ring_len;
    size_t n = len < room ? len : room;
    size_t tail = (chr->ring_head + chr->ring_len) % chr->ring_cap;
    size_t first = chr->ring_cap - tail < n ? chr->ring_cap - tail : n;
    memcpy(chr->ring + tail, data, first);
    memcpy(chr->ring, data + first, n - first);
    chr->ring_len += n;
    written = n;
    break;
  }
  }
  pthread_mutex_unlock(&chr->out_lock);
  count_dropped(chr, len - written);
}

/* ---- stdio ------------------------------------------------------------ */

int vmm_chardev_stdio(vmm_vm_t *vm, vmm_chardev_t **out) {
  static const char fn[] = "vmm_chardev_stdio";
  vmm_chardev_t *chr;
  int rc = check_new(vm, out, fn);
  if (rc < 0)
    return rc;
  rc = chr_new(vm, CHR_STDIO, &chr, fn);
  if (rc < 0)
    return rc;
  chr->in_buf = malloc(FD_INPUT_CHUNK);
  if (!chr->in_buf) {
    chr_free(chr);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  chr->in_cap = FD_INPUT_CHUNK;
  /* stdin is read only after poll() said so, so it stays blocking (the
   * process shares its file description with the shell). Polling starts
   * when a device attaches. */
  chr->in_fd = STDIN_FILENO;
  chr->out_fd = STDOUT_FILENO;
  return chr_publish(chr, out, fn);
}

/* ---- file ------------------------------------------------------------- */

int vmm_chardev_file(vmm_vm_t *vm, const char *path, vmm_chardev_t **out) {
  static const char fn[] = "vmm_chardev_file";
  int rc = check_new(vm, out, fn);
  if (rc < 0)
    return rc;
  if (!path || !*path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL or empty", fn);
  vmm_chardev_t *chr;
  rc = chr_new(vm, CHR_FILE, &chr, fn);
  if (rc < 0)
    return rc;
  chr->file_path = strdup(path);
  if (!chr->file_path) {
    chr_free(chr);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  chr->out_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (chr->out_fd < 0) {
    int e = errno;
    chr_free(chr);
    return vmm__error(errno_code(e), "%s: %s: %s", fn, path, strerror(e));
  }
  return chr_publish(chr, out, fn);
}

/* ---- unix socket ------------------------------------------------------ */

/* True when the connected socket's peer has hung up. */
static bool peer_gone(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
  if (poll(&p, 1, 0) != 1)
    return false;
  return (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0;
}

/* Loop thread: a client is connecting. */
static void socket_accept(void *opaque) {
  vmm_chardev_t *chr = opaque;
  int fd = accept4(chr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return; /* EAGAIN, or a client that left already */
  pthread_mutex_lock(&chr->in_lock);
  if (chr->in_fd >= 0 && peer_gone(chr->in_fd))
    socket_drop_client_locked(chr);
  if (chr->in_fd >= 0) {
    /* One client at a time: the newcomer is told by a closed connection. */
    pthread_mutex_unlock(&chr->in_lock);
    static const char busy[] = "libvmm: this console has a client already\n";
    ssize_t r = send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)r;
    close(fd);
    return;
  }
  chr->in_fd = fd;
  pthread_mutex_lock(&chr->out_lock);
  chr->out_fd = fd;
  pthread_mutex_unlock(&chr->out_lock);
  fd_poll_locked(chr); /* may drop the client again if it cannot */
  if (chr->in_fd >= 0 && !chr->in_poll && !chr->input_fn &&
      vmm__loop_poll(chr->vm, fd, fd_readable, chr, &chr->in_poll) < 0) {
    /* No device to read for: the poll would only have noticed a hang-up
     * (its data waits in in_buf until a device attaches). */
    chr->in_poll = NULL;
  }
  pthread_mutex_unlock(&chr->in_lock);
}

int vmm_chardev_socket(vmm_vm_t *vm, const char *path, vmm_chardev_t **out) {
  static const char fn[] = "vmm_chardev_socket";
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  int rc = check_new(vm, out, fn);
  if (rc < 0)
    return rc;
  if (!path || !*path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL or empty", fn);
  if (strlen(path) >= sizeof(addr.sun_path))
    return vmm__error(VMM_ERANGE, "%s: path '%s' is longer than %zu bytes",
                      fn, path, sizeof(addr.sun_path) - 1);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: back-ends are created before "
                      "vmm_vm_start()", fn);
  memcpy(addr.sun_path, path, strlen(path) + 1);

  vmm_chardev_t *chr;
  rc = chr_new(vm, CHR_SOCKET, &chr, fn);
  if (rc < 0)
    return rc;
  chr->in_buf = malloc(FD_INPUT_CHUNK);
  chr->path = strdup(path);
  if (!chr->in_buf || !chr->path) {
    chr_free(chr);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  chr->in_cap = FD_INPUT_CHUNK;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    free(chr->path);
    chr->path = NULL; /* nothing bound: do not unlink someone else's */
    chr_free(chr);
    return vmm__error(errno_code(e), "%s: socket: %s", fn, strerror(e));
  }
  chr->listen_fd = fd;
  /* The socket file gets the inode's mode (less the umask) at bind(), so
   * there is no moment when others may connect; chmod() again after. */
  (void)fchmod(fd, 0600);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    int e = errno;
    free(chr->path);
    chr->path = NULL;
    chr_free(chr);
    if (e == EADDRINUSE)
      return vmm__error(VMM_EEXIST, "%s: %s exists already", fn, path);
    return vmm__error(errno_code(e), "%s: bind %s: %s", fn, path, strerror(e));
  }
  if (chmod(path, 0600) < 0 || listen(fd, 1) < 0) {
    int e = errno;
    chr_free(chr); /* unlinks the path we bound */
    return vmm__error(errno_code(e), "%s: %s: %s", fn, path, strerror(e));
  }
  rc = vmm__loop_poll(vm, fd, socket_accept, chr, &chr->listen_poll);
  if (rc < 0) {
    chr->listen_poll = NULL;
    chr_free(chr);
    return vmm__error_prefix(rc, fn);
  }
  return chr_publish(chr, out, fn);
}

/* ---- buffer ----------------------------------------------------------- */

int vmm_chardev_buffer(vmm_vm_t *vm, size_t capacity, vmm_chardev_t **out) {
  static const char fn[] = "vmm_chardev_buffer";
  int rc = check_new(vm, out, fn);
  if (rc < 0)
    return rc;
  if (capacity == 0 || capacity > BUFFER_CAPACITY_MAX)
    return vmm__error(VMM_EINVAL, "%s: capacity %zu is not in 1 .. %llu", fn,
                      capacity, BUFFER_CAPACITY_MAX);
  vmm_chardev_t *chr;
  rc = chr_new(vm, CHR_BUFFER, &chr, fn);
  if (rc < 0)
    return rc;
  chr->ring = malloc(capacity);
  if (!chr->ring) {
    chr_free(chr);
    return vmm__error(VMM_ENOMEM, "%s: out of memory for %zu bytes", fn,
                      capacity);
  }
  chr->ring_cap = capacity;
  return chr_publish(chr, out, fn);
}

static int buffer_check(vmm_chardev_t *chr, const void *buf, size_t len,
                        const char *fn) {
  if (!vmm__handle_valid(chr, VMM__H_CHARDEV))
    return vmm__error(VMM_EBADF, "%s: not a live character back-end", fn);
  if (chr->kind != CHR_BUFFER)
    return vmm__error(VMM_EINVAL, "%s: a %s back-end is not a buffer", fn,
                      kind_name(chr->kind));
  if (!buf && len)
    return vmm__error(VMM_EINVAL, "%s: buf is NULL", fn);
  return 0;
}

int vmm_chardev_buffer_read(vmm_chardev_t *chr, void *buf, size_t len) {
  int rc = buffer_check(chr, buf, len, "vmm_chardev_buffer_read");
  if (rc < 0)
    return rc;
  if (len > INT_MAX)
    len = INT_MAX;
  pthread_mutex_lock(&chr->out_lock);
  size_t n = len < chr->ring_len ? len : chr->ring_len;
  if (n == 0) {
    /* Nothing to copy: buf may be NULL when len is 0. */
    pthread_mutex_unlock(&chr->out_lock);
    return 0;
  }
  size_t first = chr->ring_cap - chr->ring_head < n
                     ? chr->ring_cap - chr->ring_head : n;
  memcpy(buf, chr->ring + chr->ring_head, first);
  memcpy((uint8_t *)buf + first, chr->ring, n - first);
  chr->ring_head = (chr->ring_head + n) % chr->ring_cap;
  chr->ring_len -= n;
  if (chr->ring_len == 0)
    chr->ring_head = 0;
  pthread_mutex_unlock(&chr->out_lock);
  return (int)n;
}

int vmm_chardev_buffer_write(vmm_chardev_t *chr, const void *buf,
                             size_t len) {
  static const char fn[] = "vmm_chardev_buffer_write";
  int rc = buffer_check(chr, buf, len, fn);
  if (rc < 0 || len == 0)
    return rc;
  pthread_mutex_lock(&chr->in_lock);
  if (len > BUFFER_INPUT_MAX - chr->in_len) {
    size_t queued = chr->in_len;
    pthread_mutex_unlock(&chr->in_lock);
    return vmm__error(VMM_ENOSPC, "%s: %zu bytes queued for the guest "
                      "already; %zu more exceed the %u-byte limit", fn,
                      queued, len, BUFFER_INPUT_MAX);
  }
  /* Room at the end of the queue: compact it, then grow if needed. */
  if (chr->in_head && chr->in_head + chr->in_len + len > chr->in_cap) {
    memmove(chr->in_buf, chr->in_buf + chr->in_head, chr->in_len);
    chr->in_head = 0;
  }
  if (chr->in_len + len > chr->in_cap) {
    size_t cap = chr->in_cap ? chr->in_cap : 256;
    while (cap < chr->in_len + len)
      cap *= 2;
    uint8_t *n = realloc(chr->in_buf, cap);
    if (!n) {
      pthread_mutex_unlock(&chr->in_lock);
      return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
    }
    chr->in_buf = n;
    chr->in_cap = cap;
  }
  memcpy(chr->in_buf + chr->in_head + chr->in_len, buf, len);
  chr->in_len += len;
  deliver_locked(chr);
  pthread_mutex_unlock(&chr->in_lock);
  return 0;
}
