/* examples/vmm_ctl.c — vmm-ctl, the client of a VM's control socket
 * (vmm_vm_control_listen(), protocol in docs/control-api.md). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define TIMEOUT_MS 30000
#define RESPONSE_MAX (4u << 20)

static const char usage[] =
    "usage: vmm-ctl SOCKET COMMAND [ARG]\n"
    "       vmm-ctl SOCKET --raw 'JSON-REQUEST'\n"
    "\n"
    "Sends one request to the control socket of a libvmm VM and prints the\n"
    "answer. Commands:\n"
    "  describe        the VM's JSON description\n"
    "  pause           stop running the vCPUs (the VM keeps its state)\n"
    "  resume          run them again\n"
    "  stop [STATUS]   stop the VM with exit status STATUS (default 0)\n"
    "  stats           exits per vCPU and reason, device counters, uptime\n"
    "  snapshot DIR    save the VM into directory DIR (docs/snapshot.md)\n"
    "--raw sends the request line as given and prints the whole response.\n"
    "Exit status: 0 when the VM answered ok, 1 otherwise (the reason on\n"
    "stderr), 2 for bad usage.\n";

/* Prints "vmm-ctl: <reason>" as one line on stderr; returns 1. */
static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...) {
  va_list ap;
  fputs("vmm-ctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static long long ms_left(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for `events` on fd until the deadline; 0, or -1 with errno. */
static int wait_fd(int fd, short events, const struct timespec *deadline) {
  for (;;) {
    long long left = ms_left(deadline);
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

/* Sends one request line and returns the response line (malloc'ed, no
 * newline), or NULL after printing why on stderr. */
static char *exchange(const char *path, const char *request) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path)) {
    die("%s: socket path longer than %zu bytes", path,
        sizeof(addr.sun_path) - 1);
    return NULL;
  }
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    die("cannot connect to %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += TIMEOUT_MS / 1000;

  size_t len = strlen(request), cap = 65536, got = 0;
  char *resp = malloc(cap);
  char *nl = NULL;
  if (!resp) {
    die("out of memory");
    goto fail;
  }
  /* The request, then its newline. */
  for (int part = 0; part < 2; part++) {
    const char *data = part ? "\n" : request;
    size_t n_data = part ? 1 : len;
    for (size_t off = 0; off < n_data;) {
      if (wait_fd(fd, POLLOUT, &deadline) < 0) {
        die("sending to %s: %s", path, strerror(errno));
        goto fail;
      }
      ssize_t n = send(fd, data + off, n_data - off, MSG_NOSIGNAL);
      if (n < 0 && errno != EINTR && errno != EAGAIN) {
        die("sending to %s: %s", path, strerror(errno));
        goto fail;
      }
      if (n > 0)
        off += (size_t)n;
    }
  }
  /* One response line. */
  while (!nl) {
    if (got + 1 >= cap) {
      char *bigger = cap < RESPONSE_MAX ? realloc(resp, cap * 2) : NULL;
      if (!bigger) {
        die("%s: response longer than %u bytes", path, RESPONSE_MAX);
        goto fail;
      }
      resp = bigger;
      cap *= 2;
    }
    if (wait_fd(fd, POLLIN, &deadline) < 0) {
      die("waiting for %s: %s", path, strerror(errno));
      goto fail;
    }
    ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      die("reading from %s: %s", path, strerror(errno));
      goto fail;
    }
    if (n == 0) {
      die("%s closed the connection without an answer", path);
      goto fail;
    }
    nl = memchr(resp + got, '\n', (size_t)n);
    got += (size_t)n;
  }
  *nl = '\0';
  close(fd);
  return resp;
fail:
  free(resp);
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs(usage, stdout);
    return 0;
  }
  if (argc < 3 || argc > 4) {
    fputs(usage, stderr);
    return 2;
  }
  const char *path = argv[1], *cmd = argv[2];
  bool raw = strcmp(cmd, "--raw") == 0;
  char *request = NULL;
  if (raw) {
    if (argc != 4) {
      fputs(usage, stderr);
      return 2;
    }
    if (strchr(argv[3], '\n'))
      return die("--raw: the request must be one line");
    request = strdup(argv[3]);
  } else {
    static const char *const known[] = {"describe", "pause", "resume",
                                        "stop", "stats", "snapshot"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
      ok |= strcmp(cmd, known[i]) == 0;
    bool snapshot = strcmp(cmd, "snapshot") == 0;
    if (!ok || (argc == 4 && strcmp(cmd, "stop") != 0 && !snapshot) ||
        (snapshot && argc != 4)) {
      fprintf(stderr, "vmm-ctl: unknown command or argument: %s%s%s\n", cmd,
              argc == 4 ? " " : "", argc == 4 ? argv[3] : "");
      fputs(usage, stderr);
      return 2;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddNumberToObject(req, "id", 1);
    cJSON_AddStringToObject(req, "cmd", cmd);
    if (snapshot) {
      cJSON_AddStringToObject(req, "dir", argv[3]);
    } else if (argc == 4) {
      char *end;
      errno = 0;
      long st = strtol(argv[3], &end, 0);
      if (errno || *end || end == argv[3] || st < INT_MIN || st > INT_MAX) {
        cJSON_Delete(req);
        fprintf(stderr, "vmm-ctl: stop: STATUS '%s' is not an integer\n",
                argv[3]);
        return 2;
      }
      cJSON_AddNumberToObject(req, "status", (double)st);
    }
    request = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
  }
  if (!request)
    return die("out of memory");
  char *resp = exchange(path, request);
  free(request);
  if (!resp)
    return 1;

  cJSON *r = cJSON_Parse(resp);
  const cJSON *ok = r ? cJSON_GetObjectItemCaseSensitive(r, "ok") : NULL;
  if (!cJSON_IsBool(ok)) {
    die("%s sent something that is not a response: %.200s", path, resp);
    cJSON_Delete(r);
    free(resp);
    return 1;
  }
  int status = cJSON_IsTrue(ok) ? 0 : 1;
  if (raw) {
    puts(resp);
  } else if (status == 0) {
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
    char *text = result ? cJSON_Print(result) : NULL;
    puts(text ? text : "null");
    free(text);
  }
  if (status) {
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");
    fprintf(stderr, "vmm-ctl: %s\n",
            cJSON_IsString(err) ? err->valuestring : "request failed");
  }
  cJSON_Delete(r);
  free(resp);
  return status;
}
