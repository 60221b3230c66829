/* tests/integration/ctl_client.h — a test client of the control socket
 * (docs/control-api.md): connections, request/response lines, and a few
 * accessors for the parsed responses. Failures are CUnit failures. */
#ifndef TEST_CTL_CLIENT_H
#define TEST_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* A private directory for a socket (`dir`) and the socket path in it
 * (`path`): under /dev/shm, where /tmp may not take sockets (9p in the
 * nested machine), else /tmp. */
bool ctl_make_dir(char *dir, size_t dir_len, char *path, size_t path_len);

struct conn {
  int fd;
  char *buf; /* received bytes not yet returned as lines */
  size_t len, cap;
};

/* Connects (10 s send/receive time-outs). */
bool conn_open(struct conn *k, const char *path);
void conn_close(struct conn *k);
bool conn_send(struct conn *k, const void *data, size_t len);
/* The next response line (malloc'ed, no newline), NULL at EOF/timeout. */
char *conn_line(struct conn *k);
/* Sends `req` plus a newline and parses the response (NULL: none). */
cJSON *conn_call(struct conn *k, const char *req);
/* One request on a connection of its own. */
cJSON *ctl_request(const char *path, const char *req);

bool resp_ok(const cJSON *r);
const char *resp_error(const cJSON *r);
const cJSON *resp_result(const cJSON *r);
/* j.<a>[.<b>], NULL when absent. */
const cJSON *path_get(const cJSON *j, const char *a, const char *b);
/* result.state, "" when absent. */
const char *result_state(const cJSON *r);

#endif
