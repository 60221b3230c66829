/* tests/integration/ctl_client.c — a test client of the control socket
 * (docs/control-api.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "ctl_client.h"

bool ctl_make_dir(char *dir, size_t dir_len, char *path, size_t path_len) {
  static const char *const bases[] = {"/dev/shm", "/tmp"};
  /* Also keeps gcc's -fsanitize builds from seeing a NULL `dir`. */
  if (!dir || !path || dir_len < 32 || path_len < 48)
    return EXPECT_TRUEF(false, "ctl_make_dir: buffers too small");
  for (size_t i = 0; i < 2; i++) {
    snprintf(dir, dir_len, "%s/vmm-ctl-XXXXXX", bases[i]);
    if (mkdtemp(dir)) {
      snprintf(path, path_len, "%s/ctl.sock", dir);
      return true;
    }
  }
  dir[0] = '\0';
  return EXPECT_TRUEF(false, "mkdtemp: %s", strerror(errno));
}

cJSON *ctl_request(const char *path, const char *req) {
  struct conn k;
  if (!conn_open(&k, path))
    return NULL;
  cJSON *r = conn_call(&k, req);
  conn_close(&k);
  return r;
}

bool conn_open(struct conn *k, const char *path) {
  memset(k, 0, sizeof(*k));
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
  k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (k->fd < 0 || connect(k->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    EXPECT_TRUEF(0, "connect %s: %s", path, strerror(errno));
    if (k->fd >= 0)
      close(k->fd);
    k->fd = -1;
    return false;
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  k->cap = 1 << 16;
  k->buf = malloc(k->cap);
  return k->buf != NULL;
}

void conn_close(struct conn *k) {
  if (k->fd >= 0)
    close(k->fd);
  k->fd = -1;
  free(k->buf);
  k->buf = NULL;
}

bool conn_send(struct conn *k, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

/* The next response line (malloc'ed, no newline), NULL at EOF/timeout. */
char *conn_line(struct conn *k) {
  for (;;) {
    char *nl = k->buf ? memchr(k->buf, '\n', k->len) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - k->buf);
      char *line = malloc(n + 1);
      memcpy(line, k->buf, n);
      line[n] = '\0';
      memmove(k->buf, nl + 1, k->len - n - 1);
      k->len -= n + 1;
      return line;
    }
    if (k->len == k->cap) {
      k->cap *= 2;
      k->buf = realloc(k->buf, k->cap);
    }
    ssize_t n = recv(k->fd, k->buf + k->len, k->cap - k->len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return NULL;
    k->len += (size_t)n;
  }
}

/* Sends `req` plus a newline and parses the response (NULL: none). */
cJSON *conn_call(struct conn *k, const char *req) {
  size_t len = strlen(req);
  char *line = malloc(len + 1);
  memcpy(line, req, len);
  line[len] = '\n';
  bool sent = conn_send(k, line, len + 1);
  free(line);
  if (!EXPECT_TRUEF(sent, "sending %s: %s", req, strerror(errno)))
    return NULL;
  char *resp = conn_line(k);
  if (!EXPECT_TRUEF(resp != NULL, "no response to %s", req))
    return NULL;
  cJSON *j = cJSON_Parse(resp);
  EXPECT_TRUEF(j != NULL, "response is not JSON: %.200s", resp);
  free(resp);
  return j;
}

bool resp_ok(const cJSON *r) {
  return r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
}

const char *resp_error(const cJSON *r) {
  const cJSON *e = r ? cJSON_GetObjectItemCaseSensitive(r, "error") : NULL;
  return cJSON_IsString(e) ? e->valuestring : "";
}

const cJSON *resp_result(const cJSON *r) {
  return r ? cJSON_GetObjectItemCaseSensitive(r, "result") : NULL;
}

/* result.<a>.<b>... as a string / number (NULL / -1 when absent). */
const cJSON *path_get(const cJSON *j, const char *a, const char *b) {
  j = j ? cJSON_GetObjectItemCaseSensitive(j, a) : NULL;
  if (b)
    j = j ? cJSON_GetObjectItemCaseSensitive(j, b) : NULL;
  return j;
}

const char *result_state(const cJSON *r) {
  const cJSON *s = path_get(resp_result(r), "state", NULL);
  return cJSON_IsString(s) ? s->valuestring : "";
}

