/* examples/launcher_term.c — the terminal console: raw mode while the VM
 * runs, QEMU's Ctrl-A escapes, and the terminal's modes put back on every
 * way out (return from main, exit(), a fatal signal).
 *
 * libvmm's stdio back-end reads fd 0 itself. To see the escapes first, fd
 * 0 becomes the read end of a pipe and a thread copies the terminal into
 * it, taking the escapes out. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "launcher.h"

#define ESCAPE 0x01     /* Ctrl-A, as in QEMU */
#define POLL_MS 100     /* how soon the thread sees term_close() */

const char term_escape_help[] =
    "  Ctrl-A x        quit: stop the VM and exit\n"
    "  Ctrl-A h        print these keys\n"
    "  Ctrl-A Ctrl-A   send Ctrl-A to the guest\n";

struct term {
  int tty_fd;  /* the terminal: a copy of the original fd 0 */
  int feed_fd; /* write end of the pipe that is fd 0 now */
  pthread_t thread;
  bool started;
  atomic_bool finish;
  bool escape; /* the last byte was Ctrl-A */
  void (*quit)(void *opaque);
  void *opaque;
};

/* The modes to put back, and the terminal while it is in raw mode (-1
 * otherwise). Globals: the fatal-signal handler and atexit() read them. */
static struct termios saved_modes;
static volatile sig_atomic_t raw_fd = -1;

/* Async-signal-safe: tcsetattr() is. */
static void restore_modes(void) {
  int fd = raw_fd;
  if (fd >= 0) {
    tcsetattr(fd, TCSANOW, &saved_modes);
    raw_fd = -1;
  }
}

/* A crash must not leave the shell in raw mode: put the modes back, then
 * let the signal do what it would have done. */
static void on_fatal_signal(int sig) {
  restore_modes();
  signal(sig, SIG_DFL);
  raise(sig); /* delivered when the handler returns */
}

static void install_restorers(void) {
  static bool done;
  if (done)
    return;
  done = true;
  atexit(restore_modes);
  static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                              SIGQUIT, SIGTRAP};
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
    sigaction(fatal[i], &sa, NULL);
}

int term_open(struct term **out) {
  *out = NULL;
  if (!isatty(STDIN_FILENO))
    return 0;
  struct term *t = calloc(1, sizeof(*t));
  if (!t)
    return VMM_ENOMEM;
  int p[2] = {-1, -1};
  t->tty_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  if (t->tty_fd < 0 || tcgetattr(t->tty_fd, &saved_modes) < 0 ||
      pipe2(p, O_CLOEXEC) < 0 || dup2(p[0], STDIN_FILENO) < 0) {
    int e = errno;
    fprintf(stderr, "%s: setting up the terminal: %s\n", launcher_prog,
            strerror(e));
    if (t->tty_fd >= 0)
      close(t->tty_fd);
    if (p[0] >= 0)
      close(p[0]), close(p[1]);
    free(t);
    return VMM_EIO;
  }
  close(p[0]);
  /* A guest that does not read its input must not block the thread, or
   * Ctrl-A x would go unseen: input it has no room for is dropped. */
  t->feed_fd = p[1];
  fcntl(t->feed_fd, F_SETFL, fcntl(t->feed_fd, F_GETFL) | O_NONBLOCK);
  *out = t;
  return 0;
}

static void write_str(int fd, const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

/* Takes the escapes out of `in`; what is left for the guest goes to
 * `out` (as long as `in`). */
static size_t filter(struct term *t, const char *in, size_t n, char *out) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (!t->escape) {
      if (c == ESCAPE)
        t->escape = true;
      else
        out[m++] = c;
      continue;
    }
    t->escape = false;
    switch (c) {
    case 'x':
    case 'X':
      t->quit(t->opaque);
      break;
    case 'h':
    case 'H':
    case '?':
      write_str(STDERR_FILENO, "\n");
      write_str(STDERR_FILENO, term_escape_help);
      break;
    case ESCAPE:
      out[m++] = ESCAPE;
      break;
    default:
      break; /* unknown escapes are dropped, as QEMU does */
    }
  }
  return m;
}

static void *term_main(void *arg) {
  struct term *t = arg;
  char in[256], out[256];
  while (!atomic_load(&t->finish)) {
    struct pollfd p = {.fd = t->tty_fd, .events = POLLIN};
    int n = poll(&p, 1, POLL_MS);
    if (n < 0 && errno != EINTR)
      break;
    if (n <= 0)
      continue;
    ssize_t got = read(t->tty_fd, in, sizeof(in));
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0)
      break; /* the terminal hung up (SIGHUP stops the VM) */
    size_t m = filter(t, in, (size_t)got, out);
    if (m > 0 && write(t->feed_fd, out, m) < 0 && errno != EAGAIN)
      break;
  }
  return NULL;
}

int term_start(struct term *t, void (*quit)(void *opaque), void *opaque) {
  t->quit = quit;
  t->opaque = opaque;
  /* Raw input as QEMU's stdio back-end sets it: every key goes to the
   * guest (Ctrl-C included: ISIG off), no echo, no line editing, 8 bits.
   * Output processing stays on, so a guest printing a bare "\n" still
   * starts the next line at column 0. */
  struct termios raw = saved_modes;
  raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
                             IGNCR | ICRNL | IXON);
  raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  install_restorers();
  raw_fd = t->tty_fd;
  if (tcsetattr(t->tty_fd, TCSANOW, &raw) < 0) {
    raw_fd = -1;
    fprintf(stderr, "%s: raw mode: %s\n", launcher_prog, strerror(errno));
    return VMM_EIO;
  }
  if (pthread_create(&t->thread, NULL, term_main, t) != 0) {
    restore_modes();
    fprintf(stderr, "%s: no terminal input thread\n", launcher_prog);
    return VMM_EAGAIN;
  }
  t->started = true;
  return 0;
}

void term_close(struct term *t) {
  if (!t)
    return;
  atomic_store(&t->finish, true);
  if (t->started)
    pthread_join(t->thread, NULL);
  restore_modes();
  close(t->tty_fd);
  close(t->feed_fd);
  free(t);
}
