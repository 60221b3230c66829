/* bench/binding_exit_go/cside.h — see cside.c. */
#ifndef BINDING_EXIT_GO_CSIDE_H
#define BINDING_EXIT_GO_CSIDE_H

#include <stdint.h>
#include <time.h>

#include <libvmm/libvmm.h>

/* The vCPU thread's CPU time, as bench/binding_exit.c measures it. */
uint64_t thread_cpu_ns(void);
/* Registers the C handler (it checks the guest's counter) on `port`. */
int c_register(void *vm, uint16_t port);
/* Exits the C handler saw since c_register(). */
uint64_t c_count_seen(void);
/* Mean ns of a bare call of the exported Go function goNop(): mode 0 in
 * a tight loop, 1 after 30 us of busy C code, 2 after 30 us asleep. */
double cgo_call_ns(uint64_t n, int mode);

#endif
