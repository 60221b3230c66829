/* src/control.c — the control socket's server: the unix socket, its
 * clients, line framing and bounded output, on the VM's libuv loop. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include <libvmm/control.h>

#include "control_internal.h"
#include "error.h"
#include "loop.h"
#include "loop_internal.h"
#include "vm_internal.h"

/*
 * Clients are plain non-blocking sockets watched by uv_poll handles, not
 * libuv streams: responses go out with send(MSG_NOSIGNAL), so a client
 * that hung up cannot raise SIGPIPE on an embedder's loop thread, and the
 * output queue is ours to bound.
 *
 * Everything here runs on the loop thread, except vmm_vm_control_listen()
 * creating the socket file (no loop handle involved). A client or server
 * being closed is unlinked at once; its memory goes in the handle's close
 * callback, which touches nothing else (on an embedder's loop it may run
 * after the VM is gone).
 */

/* Bytes read per read() and at most per poll callback: one busy client
 * cannot hold the loop (level-triggered polls come back for the rest). */
#define READ_CHUNK 16384
#define READS_PER_CALLBACK 4
#define ACCEPTS_PER_CALLBACK 16

struct client {
  uv_poll_t poll;
  int fd;
  struct vmm__control *srv;          /* NULL once dropped */
  struct client *prev, *next;  /* the server's list */
  char *in;                    /* the line being received */
  size_t in_len, in_cap;
  bool discarding;             /* skipping an oversized line up to '\n' */
  bool eof;                    /* the client shut down its sending side */
  char *out;                   /* responses not sent yet: out[head..len) */
  size_t out_head, out_len, out_cap;
  int events;                  /* the poll's current UV_* events */
};

struct vmm__control {
  uv_poll_t poll;
  int fd;
  vmm_vm_t *vm;
  char *path;
  struct client *clients;
  struct vmm__control_counters counters;
};

/* ---- clients ---------------------------------------------------------- */

static void client_closed(uv_handle_t *h) {
  struct client *c = h->data;
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

/* Unlinks and closes a client (loop thread); safe to call twice. */
static void client_drop(struct client *c) {
  struct vmm__control *srv = c->srv;
  if (!srv)
    return;
  c->srv = NULL;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
  srv->counters.clients--;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, client_closed);
}

static void client_poll_cb(uv_poll_t *h, int status, int events);

/* Watches for what the client can do next: read requests (until EOF)
 * and, with output pending, write. */
static void client_update_poll(struct client *c) {
  if (!c->srv)
    return;
  int events = (c->eof ? 0 : UV_READABLE) | (c->out_len ? UV_WRITABLE : 0);
  if (events == 0) {
    /* Half-closed and everything sent: done. */
    client_drop(c);
    return;
  }
  if (events != c->events) {
    c->events = events;
    if (uv_poll_start(&c->poll, events, client_poll_cb) < 0)
      client_drop(c);
  }
}

/* Sends what the socket takes now; false when the client was dropped. */
static bool client_flush(struct client *c) {
  while (c->out_len > c->out_head) {
    ssize_t n = send(c->fd, c->out + c->out_head, c->out_len - c->out_head,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      client_drop(c); /* EPIPE, ECONNRESET: it left */
      return false;
    }
    c->out_head += (size_t)n;
  }
  if (c->out_head == c->out_len)
    c->out_head = c->out_len = 0;
  return true;
}

/* Queues one response line (adds the newline) and sends what it can. A
 * client whose unread responses would exceed VMM__CONTROL_OUT_MAX is
 * dropped: it is not reading, and it must not pin memory or the loop. */
static void client_send(struct client *c, char *line) {
  if (!c->srv) {
    free(line);
    return;
  }
  if (!line) {
    client_drop(c); /* out of memory for the response */
    return;
  }
  size_t len = strlen(line);
  size_t pending = c->out_len - c->out_head;
  if (pending + len + 1 > VMM__CONTROL_OUT_MAX) {
    free(line);
    c->srv->counters.dropped_slow++;
    client_drop(c);
    return;
  }
  if (c->out_head && c->out_len + len + 1 > c->out_cap) {
    memmove(c->out, c->out + c->out_head, pending);
    c->out_head = 0;
    c->out_len = pending;
  }
  if (c->out_len + len + 1 > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len + 1)
      cap *= 2;
    char *n = realloc(c->out, cap);
    if (!n) {
      free(line);
      client_drop(c);
      return;
    }
    c->out = n;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, line, len);
  c->out[c->out_len + len] = '\n';
  c->out_len += len + 1;
  free(line);
  client_flush(c);
}

/* One complete line: blank lines are ignored, anything else answered. */
static void client_line(struct client *c, const char *line, size_t len) {
  while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                 line[len - 1] == '\t'))
    len--;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i == len)
    return;
  struct vmm__control *srv = c->srv;
  client_send(c, vmm__control_request(srv->vm, &srv->counters, line, len));
}

/* Appends `len` bytes to the line being received; false on no memory. */
static bool client_append(struct client *c, const char *data, size_t len) {
  if (c->in_len + len > c->in_cap) {
    size_t cap = c->in_cap ? c->in_cap : 1024;
    while (cap < c->in_len + len)
      cap *= 2;
    char *n = realloc(c->in, cap);
    if (!n)
      return false;
    c->in = n;
    c->in_cap = cap;
  }
  memcpy(c->in + c->in_len, data, len);
  c->in_len += len;
  return true;
}

/* Splits received bytes into lines. A line longer than the limit gets one
 * error response; the rest of it, up to its newline, is skipped. */
static void client_input(struct client *c, const char *data, size_t len) {
  while (len && c->srv) {
    const char *nl = memchr(data, '\n', len);
    size_t part = nl ? (size_t)(nl - data) : len;
    if (c->discarding) {
      if (nl)
        c->discarding = false;
    } else if (c->in_len + part > VMM__CONTROL_LINE_MAX) {
      c->in_len = 0;
      c->srv->counters.oversized++;
      c->srv->counters.requests++;
      c->srv->counters.errors++;
      client_send(c, vmm__control_error_line(
                         "request line longer than 65536 bytes; skipped up "
                         "to its newline"));
      c->discarding = nl == NULL;
      if (c->in_cap > 4 * READ_CHUNK) {
        /* Do not keep the big buffer for a client that sent one. */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
      }
    } else if (nl && c->in_len == 0) {
      client_line(c, data, part); /* the common case: no copy */
    } else {
      if (!client_append(c, data, part)) {
        client_drop(c);
        return;
      }
      if (nl) {
        client_line(c, c->in, c->in_len);
        c->in_len = 0;
      }
    }
    if (!nl)
      break;
    data += part + 1;
    len -= part + 1;
  }
}

static void client_read(struct client *c) {
  char buf[READ_CHUNK];
  for (int i = 0; i < READS_PER_CALLBACK && c->srv && !c->eof; i++) {
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        client_drop(c);
      return;
    }
    if (n == 0) {
      /* A line without its newline is a request cut short: dropped. Data
       * still to send goes out before the connection closes. */
      c->eof = true;
      c->in_len = 0;
      return;
    }
    client_input(c, buf, (size_t)n);
  }
}

static void client_poll_cb(uv_poll_t *h, int status, int events) {
  struct client *c = h->data;
  if (!c->srv)
    return;
  if (status < 0) {
    client_drop(c);
    return;
  }
  if ((events & UV_WRITABLE) && !client_flush(c))
    return;
  if (events & (UV_READABLE | UV_DISCONNECT))
    client_read(c);
  client_update_poll(c);
}

/* ---- the listening socket ------------------------------------------- */

/* Refuses a connection over the limit with a reason it can read. */
static void refuse(int fd) {
  static const char msg[] =
      "{\"id\":null,\"ok\":false,\"error\":\"too many control clients\"}\n";
  ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;
  close(fd);
}

static void server_poll_cb(uv_poll_t *h, int status, int events) {
  struct vmm__control *srv = h->data;
  (void)events;
  if (status < 0 || !srv->vm)
    return;
  for (int i = 0; i < ACCEPTS_PER_CALLBACK; i++) {
    int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN, or a client that left already */
    if (srv->counters.clients >= VMM__CONTROL_CLIENTS_MAX) {
      srv->counters.refused++;
      refuse(fd);
      continue;
    }
    struct client *c = calloc(1, sizeof(*c));
    uv_loop_t *uv = vmm__loop_uv(srv->vm);
    if (!c || !uv || uv_poll_init(uv, &c->poll, fd) < 0) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->poll.data = c;
    c->srv = srv;
    c->next = srv->clients;
    if (srv->clients)
      srv->clients->prev = c;
    srv->clients = c;
    srv->counters.clients++;
    srv->counters.accepted++;
    client_update_poll(c);
  }
}

static void server_closed(uv_handle_t *h) {
  struct vmm__control *srv = h->data;
  close(srv->fd);
  free(srv->path);
  free(srv);
}

/* Loop thread (or no thread runs the loop): closes everything but the
 * socket file, which the API call that closes unlinks on its own thread
 * (the loop thread may be sandboxed: no unlink there, docs/sandbox.md). */
static void server_close(struct vmm__control *srv) {
  while (srv->clients)
    client_drop(srv->clients);
  srv->vm = NULL;
  uv_poll_stop(&srv->poll);
  uv_close((uv_handle_t *)&srv->poll, server_closed);
}

static int close_server_of(vmm_vm_t *vm);

struct attach {
  vmm_vm_t *vm;
  struct vmm__control *srv;
  int rc;
  bool unlink_path; /* the server was closed: its file is the caller's */
};

/* On the loop: publishes the server and starts accepting. */
static void attach_on_loop(void *opaque) {
  struct attach *a = opaque;
  if (a->vm->control) {
    a->rc = vmm__error(VMM_EBUSY, "the VM has a control socket already "
                       "(%s)", a->vm->control->path);
    return;
  }
  uv_loop_t *uv = vmm__loop_uv(a->vm);
  if (!uv) {
    a->rc = VMM_ENOMEM;
    return;
  }
  int rc = uv_poll_init(uv, &a->srv->poll, a->srv->fd);
  if (rc < 0) {
    a->rc = vmm__error(VMM_EIO, "uv_poll_init: %s", uv_strerror(rc));
    return;
  }
  a->srv->poll.data = a->srv;
  rc = uv_poll_start(&a->srv->poll, UV_READABLE, server_poll_cb);
  if (rc < 0) {
    /* The handle is initialised: it must be closed, and the close
     * callback frees the server; the caller must not. */
    a->rc = vmm__error(VMM_EIO, "uv_poll_start: %s", uv_strerror(rc));
    a->unlink_path = true;
    server_close(a->srv);
    a->srv = NULL;
    return;
  }
  a->vm->control = a->srv;
  a->rc = 0;
}

int vmm_vm_control_listen(vmm_vm_t *vm, const char *path) {
  static const char fn[] = "vmm_vm_control_listen";
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!path || !*path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL or empty", fn);
  if (strlen(path) >= sizeof(addr.sun_path))
    return vmm__error(VMM_ERANGE, "%s: path '%s' is longer than %zu bytes",
                      fn, path, sizeof(addr.sun_path) - 1);
  if (vm->control)
    return vmm__error(VMM_EBUSY, "%s: the VM has a control socket already "
                      "(%s)", fn, vm->control->path);
  memcpy(addr.sun_path, path, strlen(path) + 1);

  struct vmm__control *srv = calloc(1, sizeof(*srv));
  if (!srv || !(srv->path = strdup(path))) {
    free(srv);
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  }
  srv->vm = vm;
  srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (srv->fd < 0) {
    int e = errno;
    free(srv->path);
    free(srv);
    return vmm__error(VMM_EIO, "%s: socket: %s", fn, strerror(e));
  }
  /* bind() creates the file with the socket inode's mode less the umask:
   * 0600 from the start, so there is no moment when others could
   * connect (no chmod afterwards, no process-wide umask change). */
  if (fchmod(srv->fd, 0600) < 0 ||
      bind(srv->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    int e = errno;
    close(srv->fd);
    free(srv->path);
    free(srv);
    if (e == EADDRINUSE)
      return vmm__error(VMM_EEXIST, "%s: %s exists already", fn, path);
    if (e == EACCES || e == EPERM)
      return vmm__error(VMM_EACCES, "%s: bind %s: %s", fn, path,
                        strerror(e));
    if (e == ENOENT || e == ENOTDIR)
      return vmm__error(VMM_ENOENT, "%s: bind %s: %s", fn, path,
                        strerror(e));
    return vmm__error(VMM_EIO, "%s: bind %s: %s", fn, path, strerror(e));
  }
  if (listen(srv->fd, VMM__CONTROL_CLIENTS_MAX) < 0) {
    int e = errno;
    unlink(path);
    close(srv->fd);
    free(srv->path);
    free(srv);
    return vmm__error(VMM_EIO, "%s: listen %s: %s", fn, path, strerror(e));
  }
  struct attach a = {.vm = vm, .srv = srv, .rc = 0};
  int rc = vmm__loop_call_wait(vm, attach_on_loop, &a);
  if (rc == 0)
    rc = a.rc;
  if (a.unlink_path)
    unlink(path);
  /* A VM with nothing on its loop gets no loop thread at vmm_vm_start();
   * one that is started already needs it now to serve the socket. */
  if (rc == 0 && vmm_vm_state(vm) != VMM_VM_CREATED) {
    rc = vmm__loop_start(vm);
    if (rc < 0) {
      close_server_of(vm);
      return vmm__error_prefix(rc, fn);
    }
  }
  if (rc < 0) {
    if (a.srv) {
      /* Never attached to the loop: undo here. A failing attach that
       * had initialised the handle closed the server itself. */
      if (!a.srv->poll.data) {
        unlink(path);
        close(srv->fd);
        free(srv->path);
        free(srv);
      }
    }
    return vmm__error_prefix(rc, fn);
  }
  return 0;
}

struct closing {
  vmm_vm_t *vm;
  char *path; /* the socket file to unlink (malloc'ed), NULL: none */
};

static void close_on_loop(void *opaque) {
  struct closing *c = opaque;
  struct vmm__control *srv = c->vm->control;
  if (!srv)
    return;
  c->vm->control = NULL;
  c->path = srv->path; /* server_closed() frees what is left */
  srv->path = NULL;
  server_close(srv);
}

/* Closes the VM's server on its loop, then unlinks the socket file here,
 * so that the path can be bound again at once. */
static int close_server_of(vmm_vm_t *vm) {
  struct closing c = {vm, NULL};
  int rc = vmm__loop_call_wait(vm, close_on_loop, &c);
  if (c.path)
    unlink(c.path);
  free(c.path);
  return rc;
}

int vmm_vm_control_close(vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_control_close: not a live VM "
                      "handle");
  if (!vm->control)
    return 0;
  return close_server_of(vm);
}

void vmm__control_destroy(vmm_vm_t *vm) {
  if (vm->control)
    close_server_of(vm);
}
