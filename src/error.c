/* src/error.c — the error table and the per-thread detailed message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static _Thread_local char last_message[512];

const char *vmm_strerror(int code) {
  switch (code) {
  case 0:
    return "success";
#define VMM__ERR_STR(name, value, text)                                       \
  case value:                                                                 \
    return text;
    VMM_ERRNO_MAP(VMM__ERR_STR)
#undef VMM__ERR_STR
  }
  return "unknown error";
}

const char *vmm_err_name(int code) {
  switch (code) {
  case 0:
    return "VMM_OK";
#define VMM__ERR_NAME(name, value, text)                                      \
  case value:                                                                 \
    return "VMM_" #name;
    VMM_ERRNO_MAP(VMM__ERR_NAME)
#undef VMM__ERR_NAME
  }
  return "VMM_EUNKNOWN";
}

const char *vmm_last_error(void) { return last_message; }

int vmm__error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof(last_message), fmt, ap);
  va_end(ap);
  return code;
}

int vmm__error_prefix(int code, const char *what) {
  char tmp[sizeof(last_message)];
  memcpy(tmp, last_message, sizeof(tmp));
  /* Truncation is acceptable: the start of the message says the most. */
  int n = snprintf(last_message, sizeof(last_message), "%s: ", what);
  if (n > 0 && (size_t)n < sizeof(last_message))
    snprintf(last_message + n, sizeof(last_message) - (size_t)n, "%.*s",
             (int)(sizeof(last_message) - (size_t)n - 1), tmp);
  return code;
}
