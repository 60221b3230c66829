/* tests/guests/lib/layout.h — guest-physical layout, ports and numbers that
 * the test guests and the host-side tests agree on. */
#ifndef GUESTS_LAYOUT_H
#define GUESTS_LAYOUT_H

#include <stdint.h>

/*
 * Memory of a test VM (see tests/integration/test_vm.c):
 *   0x000000 .. 0x400000  RAM, 4 MiB
 *     0x001000            vmm_vcpu_setup_long_mode() area (40 KiB)
 *     0x080000            initial stack top (grows down)
 *     0x090000            guest parameters written by the host
 *     0x100000            guest image (ELF, linked there)
 * Everything lies inside the 4 GiB identity map, so virtual == physical.
 */
#define GUEST_RAM_GPA 0x0ull
#define GUEST_RAM_SIZE 0x400000ull
#define GUEST_SETUP_GPA 0x1000ull
#define GUEST_STACK_TOP 0x80000ull
#define GUEST_LOAD_GPA 0x100000ull

/* Parameters: the host writes them before the first run (a guest has no
 * command line). */
#define GUEST_PARAM_GPA 0x90000ull
#define GUEST_PARAM_COUNT 8
/* A word the guest updates while running, so another host thread can see
 * that it is under way (kick tests) or what it did last (triple fault). */
#define GUEST_STATUS_GPA 0x90100ull

/* Port 0xE9: the Bochs/QEMU debug port, one byte per OUT. */
#define GUEST_PRINT_PORT 0xe9

/* ---- pio guest ---- */
#define PIO_HANDLED_PORT 0x500 /* handler owns 0x500 .. 0x507 */
#define PIO_HANDLED_LEN 8
#define PIO_REP_PORT 0x510 /* handler owns one port; string I/O lands here */
#define PIO_EXIT_PORT 0x600 /* no handler: VMM_EXIT_IO */
#define PIO_ERROR_PORT 0x520 /* handler returns an error */

/* ---- mmio guest ---- */
#define MMIO_HANDLED_GPA 0xd0000000ull /* handler owns one page */
#define MMIO_HANDLED_LEN 0x1000ull
#define MMIO_EXIT_GPA 0xd0100000ull /* nothing there: VMM_EXIT_MMIO */
#define MMIO_STRADDLE_GPA 0xd0200000ull /* handler owns only 4 bytes */
#define MMIO_STRADDLE_LEN 4ull

/* ---- memory guest ---- */
#define ROM_GPA 0x600000ull /* read-only region */
#define ROM_SIZE 0x10000ull
#define USERMEM_GPA 0x700000ull /* caller-provided region */
#define USERMEM_SIZE 0x10000ull

/* ---- dirty guest ---- */
#define DIRTY_GPA 0x800000ull
#define DIRTY_PAGES 256u

/* ---- hypercall guest ---- */
#define HC_ADD 1        /* registered: returns the sum of its args + 0x100 */
#define HC_ECHO_EXIT 2  /* unregistered: the host answers HC_ECHO_RET */
#define HC_UNANSWERED 3 /* unregistered: the host leaves ret alone */
#define HC_FAIL 4       /* registered: the function returns an error */
#define HC_ECHO_RET 0xfeedface12345678ull

/* ---- cpuid guest ---- */
#define CPUID_TEST_LEAF 0x40000000u

/* The value a PIO/MMIO test handler supplies for a read of `size` bytes at
 * `addr`: guest and host compute it alike, so the guest can check it. */
static inline uint64_t io_read_value(uint64_t addr, uint32_t size) {
  uint64_t v = (addr + size) * 0x9e3779b97f4a7c15ull;
  v ^= v >> 29;
  return size >= 8 ? v : v & ((1ull << (size * 8)) - 1);
}

#endif
