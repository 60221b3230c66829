/* src/error.h — setting the per-thread detailed error message. */
#ifndef VMM__ERROR_H
#define VMM__ERROR_H

#include <libvmm/common.h>

/* Records a printf-style message for vmm_last_error() and returns `code`,
 * so that failures read `return vmm__error(VMM_EINVAL, "...", ...);`. */
int vmm__error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "what: " (keeps the code). */
int vmm__error_prefix(int code, const char *what);

#endif
