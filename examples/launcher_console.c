/* examples/launcher_console.c — the UART relay: with vmm-boot --timings,
 * the UART's output goes through the launcher, a buffer back-end that a
 * thread copies to stdout or the console file, noting when the first byte
 * and the kernel's "Linux version" banner arrived. Input from stdin goes
 * the other way. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"

#define RELAY_BUFFER (4u << 20) /* guest output not copied yet */
#define RELAY_POLL_NS 1000000L  /* 1 ms: the timings' resolution */

static const char banner[] = "Linux version";

struct relay {
  vmm_chardev_t *chr;
  int out_fd; /* -1: output discarded */
  bool own_fd;
  pthread_t thread, input;
  bool has_input;
  atomic_bool finish;
  _Atomic uint64_t first_byte_ns, banner_ns;
  size_t matched; /* bytes of the banner seen at the end of the output */
};

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0)
      return; /* a closed stdout: the guest goes on regardless */
    p += w;
    n -= (size_t)w;
  }
}

/* Copies what the guest wrote; true if there was something. */
static bool pump(struct relay *r) {
  char buf[65536];
  int n = vmm_chardev_buffer_read(r->chr, buf, sizeof(buf));
  if (n <= 0)
    return false;
  uint64_t t = now_ns();
  uint64_t zero = 0;
  atomic_compare_exchange_strong(&r->first_byte_ns, &zero, t);
  if (!atomic_load(&r->banner_ns)) {
    /* The banner may straddle two reads: keep how much of it matched. */
    for (int i = 0; i < n; i++) {
      if (buf[i] == banner[r->matched])
        r->matched++;
      else
        r->matched = buf[i] == banner[0];
      if (r->matched == sizeof(banner) - 1) {
        atomic_store(&r->banner_ns, t);
        break;
      }
    }
  }
  if (r->out_fd >= 0)
    write_all(r->out_fd, buf, (size_t)n);
  return true;
}

static void *relay_main(void *arg) {
  struct relay *r = arg;
  while (!atomic_load(&r->finish)) {
    if (!pump(r)) {
      struct timespec ts = {0, RELAY_POLL_NS};
      nanosleep(&ts, NULL);
    }
  }
  while (pump(r))
    ;
  return NULL;
}

/* stdin → the UART until stdin ends or the relay finishes; it polls so
 * that relay_finish() can end it before the VM (and the back-end) go. */
static void *input_main(void *arg) {
  struct relay *r = arg;
  char buf[256];
  while (!atomic_load(&r->finish)) {
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&p, 1, 100);
    if (n < 0 && errno != EINTR)
      return NULL;
    if (n <= 0)
      continue;
    ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
    if (got <= 0)
      return NULL;
    if (vmm_chardev_buffer_write(r->chr, buf, (size_t)got) < 0)
      return NULL;
  }
  return NULL;
}

int relay_create(vmm_vm_t *vm, const struct out_spec *dst,
                 vmm_chardev_t **chr, struct relay **out) {
  struct relay *r = calloc(1, sizeof(*r));
  if (!r)
    return VMM_ENOMEM;
  r->out_fd = -1;
  if (dst->kind == OUT_STDIO) {
    r->out_fd = STDOUT_FILENO;
  } else if (dst->kind == OUT_FILE) {
    r->out_fd = open(dst->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                     0644);
    if (r->out_fd < 0) {
      fprintf(stderr, "%s: --console: %s: %s\n", launcher_prog, dst->path,
              strerror(errno));
      free(r);
      return VMM_ENOENT;
    }
    r->own_fd = true;
  }
  int rc = vmm_chardev_buffer(vm, RELAY_BUFFER, &r->chr);
  if (rc < 0 || pthread_create(&r->thread, NULL, relay_main, r) != 0) {
    if (r->own_fd)
      close(r->out_fd);
    free(r);
    return rc < 0 ? rc : VMM_EAGAIN;
  }
  if (dst->kind == OUT_STDIO)
    r->has_input =
        pthread_create(&r->input, NULL, input_main, r) == 0;
  *chr = r->chr;
  *out = r;
  return 0;
}

void relay_finish(struct relay *r) {
  if (!r || atomic_exchange(&r->finish, true))
    return;
  pthread_join(r->thread, NULL);
  if (r->has_input)
    pthread_join(r->input, NULL);
}

uint64_t relay_first_byte_ns(const struct relay *r) {
  return r ? atomic_load(&r->first_byte_ns) : 0;
}

uint64_t relay_banner_ns(const struct relay *r) {
  return r ? atomic_load(&r->banner_ns) : 0;
}

void relay_destroy(struct relay *r) {
  if (!r)
    return;
  relay_finish(r);
  if (r->own_fd)
    close(r->out_fd);
  free(r);
}
