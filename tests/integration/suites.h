/* tests/integration/suites.h — the test tables of the conformance suite. */
#ifndef TEST_SUITES_H
#define TEST_SUITES_H

#include "runner.h"

/* Real guests (guests_test.c). */
extern const struct test_def guest_tests[];
/* vCPU state round trips (state_test.c). */
extern const struct test_def state_tests[];
/* Memory regions and guest-memory access (memory_test.c). */
extern const struct test_def memory_tests[];
/* Handler registration and bad input (api_test.c). */
extern const struct test_def io_tests[];
extern const struct test_def misuse_tests[];
/* Running VMs on libvmm's threads, interrupts (run_test.c). */
extern const struct test_def run_tests[];

#endif
