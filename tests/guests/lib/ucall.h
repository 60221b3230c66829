/* tests/guests/lib/ucall.h — the guest → host test channel ("ucall"),
 * shared by guest code and the host-side test helpers. */
#ifndef GUESTS_UCALL_H
#define GUESTS_UCALL_H

#include <stdint.h>

/*
 * ABI (KVM-selftests style, one port on every backend):
 *
 *   the guest fills a struct ucall in its own memory (usually on its
 *   stack), then does a 32-bit OUT of the struct's guest-physical address
 *   to UCALL_PORT (`out %eax, %dx`).
 *
 * The host sees an unhandled port write (VMM_EXIT_IO, port UCALL_PORT,
 * size 4, count 1), reads sizeof(struct ucall) bytes at that address with
 * vmm_mem_read() and checks `magic`. Guests identity-map their memory, so
 * the struct's address is its guest-physical address; it must lie below
 * 4 GiB. OUT from ring 3 works because the ring-3 helper runs user code
 * with IOPL 3.
 *
 * Port 0x1000 is the one KVM selftests use: above the legacy ISA range,
 * away from 0xE9 (debug print) and 0xEC (libvmm's hypercall port).
 */
#define UCALL_PORT 0x1000
#define UCALL_MAGIC 0x4c4c4355u /* "UCLL" */

enum ucall_cmd {
  UCALL_NONE = 0,  /* host side: the exit was not a ucall */
  UCALL_SYNC = 1,  /* checkpoint; args carry values for the host to check */
  UCALL_DONE = 2,  /* the guest finished successfully */
  UCALL_ABORT = 3, /* a guest assertion failed; text says where and why */
  UCALL_PRINT = 4  /* text is a message to show; the guest continues */
};

#define UCALL_MAX_ARGS 6
#define UCALL_TEXT_MAX 256

/* Laid out identically by 32- and 64-bit guests and by the host: every
 * field sits at its natural alignment without padding. */
struct ucall {
  uint32_t magic;
  uint32_t cmd; /* enum ucall_cmd */
  uint64_t args[UCALL_MAX_ARGS];
  char text[UCALL_TEXT_MAX]; /* NUL-terminated (ABORT, PRINT) */
};

_Static_assert(sizeof(struct ucall) == 8 + 8 * UCALL_MAX_ARGS + UCALL_TEXT_MAX,
               "struct ucall must have the same layout everywhere");

#endif
