/* libvmm/common.h — export macro, opaque handle types and the error table. */
#ifndef LIBVMM_COMMON_H
#define LIBVMM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LIBVMM_BUILDING) && defined(__GNUC__)
#define VMM_EXPORT __attribute__((visibility("default")))
#else
#define VMM_EXPORT
#endif

/* Opaque handles: their layout is private so it can change without an
 * ABI break. */
typedef struct vmm_vm vmm_vm_t;
typedef struct vmm_vcpu vmm_vcpu_t;
typedef struct vmm_mem_region vmm_mem_region_t;

/*
 * Error codes. Every call returns 0 or one of these (negative). Where an
 * errno value fits, the code equals the negative Linux errno, so that
 * `-errno` from a system call can be passed straight through.
 */
#define VMM_ERRNO_MAP(XX)                                                     \
  XX(EPERM, -1, "operation not permitted")                                    \
  XX(ENOENT, -2, "no such file or directory")                                 \
  XX(EINTR, -4, "interrupted")                                                \
  XX(EIO, -5, "input/output error")                                           \
  XX(E2BIG, -7, "argument too large")                                         \
  XX(ENOEXEC, -8, "invalid executable image")                                 \
  XX(EBADF, -9, "invalid or destroyed handle")                                \
  XX(EAGAIN, -11, "resource temporarily unavailable")                         \
  XX(ENOMEM, -12, "out of memory")                                            \
  XX(EACCES, -13, "permission denied")                                        \
  XX(EFAULT, -14, "address outside guest memory")                             \
  XX(EBUSY, -16, "resource busy")                                             \
  XX(EEXIST, -17, "already exists")                                           \
  XX(ENODEV, -19, "no such device or backend")                                \
  XX(EINVAL, -22, "invalid argument")                                         \
  XX(ENOSPC, -28, "no space left")                                            \
  XX(ERANGE, -34, "value out of range")                                       \
  XX(ENOSYS, -38, "no such function")                                         \
  XX(ENOTSUP, -95, "operation not supported")                                 \
  XX(ETIMEDOUT, -110, "timed out")                                            \
  XX(EOVERLAP, -4001, "address range overlaps an existing one")               \
  XX(EBACKEND, -4002, "backend failure")                                      \
  XX(ESTATE, -4003, "object is in the wrong state for this call")             \
  XX(EVERSION, -4004, "version mismatch")

typedef enum vmm_errno {
#define VMM__ERR_ENUM(name, value, text) VMM_##name = (value),
  VMM_ERRNO_MAP(VMM__ERR_ENUM)
#undef VMM__ERR_ENUM
  VMM_OK = 0
} vmm_errno_t;

/* Short description of an error code ("invalid argument"). Never NULL. */
VMM_EXPORT const char *vmm_strerror(int code);
/* Symbolic name of an error code ("VMM_EINVAL"). Never NULL. */
VMM_EXPORT const char *vmm_err_name(int code);
/*
 * The detailed message of the most recent failure on the calling thread,
 * e.g. "vmm_mem_map: region [0x1000, 0x3000) overlaps [0x2000, 0x4000)".
 * Successful calls leave it unchanged, so read it right after a call
 * returned an error; "" when nothing has failed on this thread yet. The
 * string belongs to the thread and is overwritten by its next failure.
 */
VMM_EXPORT const char *vmm_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
