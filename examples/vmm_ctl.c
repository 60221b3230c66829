/* examples/vmm_ctl.c — vmm-ctl, the client of a VM's control socket
 * (vmm_vm_control_listen(), protocol in docs/control-api.md). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
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
    "--raw sends the request line as given and prints the whole response.\n"
    "Exit status: 0 when the VM answered ok, 1 otherwise (the reason on\n"
    "stderr), 2 for bad usage.\n";

static int die(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "vmm-ctl: ");
  fprintf(stderr, fmt, a, b);
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
      return die("%s%s", "--raw: the request must be one line", "");
    request = strdup(argv[3]);
  } else {
    static const char *const known[] = {"describe", "pause", "resume",
                                        "stop", "stats"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
      ok |= strcmp(cmd, known[i]) == 0;
    if (!ok || (argc == 4 && strcmp(cmd, "stop") != 0)) {
      fprintf(stderr, "vmm-ctl: unknown command or argument: %s%s%s\n", cmd,
              argc == 4 ? " " : "", argc == 4 ? argv[3] : "");
      fputs(usage, stderr);
      return 2;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddNumberToObject(req, "id", 1);
    cJSON_AddStringToObject(req, "cmd", cmd);
    if (argc == 4) {
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
    return die("%s%s", "out of memory", "");

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path))
    return die("%s: socket path longer than %s bytes", path, "107");
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return die("cannot connect to %s: %s", path, strerror(errno));

  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += TIMEOUT_MS / 1000;

  /* The request and its newline. */
  size_t len = strlen(request);
  char *line = malloc(len + 2);
  if (!line)
    return die("%s%s", "out of memory", "");
  memcpy(line, request, len);
  line[len++] = '\n';
  free(request);
  for (size_t off = 0; off < len;) {
    if (wait_fd(fd, POLLOUT, &deadline) < 0)
      return die("sending to %s: %s", path, strerror(errno));
    ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR && errno != EAGAIN)
      return die("sending to %s: %s", path, strerror(errno));
    if (n > 0)
      off += (size_t)n;
  }
  free(line);

  /* One response line. */
  size_t cap = 65536, got = 0;
  char *resp = malloc(cap);
  char *nl = NULL;
  while (resp && !nl) {
    if (got + 1 >= cap) {
      if (cap >= RESPONSE_MAX)
        return die("%s: response longer than %s bytes", path, "4 MiB");
      cap *= 2;
      char *n = realloc(resp, cap);
      if (!n)
        break;
      resp = n;
    }
    if (wait_fd(fd, POLLIN, &deadline) < 0)
      return die("waiting for %s: %s", path, strerror(errno));
    ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return die("reading from %s: %s", path, strerror(errno));
    if (n == 0)
      return die("%s closed the connection without an answer%s", path, "");
    nl = memchr(resp + got, '\n', (size_t)n);
    got += (size_t)n;
  }
  if (!resp || !nl)
    return die("%s%s", "out of memory", "");
  *nl = '\0';
  close(fd);

  cJSON *r = cJSON_Parse(resp);
  const cJSON *ok = r ? cJSON_GetObjectItemCaseSensitive(r, "ok") : NULL;
  if (!cJSON_IsBool(ok))
    return die("%s sent something that is not a response: %.200s", path,
               resp);
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
