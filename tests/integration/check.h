/* tests/integration/check.h — CUnit assertions that say what they saw:
 * error names and vmm_last_error() for libvmm calls, values in hex, the
 * guest's own message when it aborted. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "test_vm.h"

bool check_cond(bool ok, unsigned line, const char *what);
bool check_true(bool ok, unsigned line, const char *what, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
bool check_eq(uint64_t a, uint64_t b, const char *what, unsigned line);
bool check_rc(int rc, int want, const char *what, unsigned line);
bool check_str(const char *a, const char *b, const char *what, unsigned line);
bool check_create(struct test_vm *t, const char *guest, unsigned line);
bool check_run(struct test_vm *t, int want, unsigned line);
bool check_ucall(struct test_vm *t, uint32_t cmd, unsigned line);

/* a == b, both shown in hex when not. */
#define EXPECT_EQ(a, b) check_eq((uint64_t)(a), (uint64_t)(b), #a " == " #b, __LINE__)
/* A libvmm call returns `want` (0 or a VMM_E* code). */
#define EXPECT_RC(call, want) check_rc((call), (want), #call, __LINE__)
#define EXPECT_OK(call) check_rc((call), 0, #call, __LINE__)
/* A call fails, with whatever code. */
#define EXPECT_FAIL(call) check_rc((call), INT32_MIN, #call, __LINE__)
#define EXPECT_STR(a, b) check_str((a), (b), #a " == " #b, __LINE__)
#define EXPECT_TRUE(cond) check_cond(!!(cond), __LINE__, #cond)
#define EXPECT_TRUEF(cond, ...) check_true(!!(cond), __LINE__, #cond, __VA_ARGS__)
/* test_vm_create(t, guest) succeeds. */
#define CREATE(t, guest) check_create((t), (guest), __LINE__)
/* The next test_vm_run() ends in exit `want` (VMM_EXIT_*) or a ucall. */
#define RUN_EXPECT(t, want) check_run((t), (want), __LINE__)
#define RUN_UCALL(t, cmd) check_ucall((t), (cmd), __LINE__)

/* Prints a note under the current test (a skipped part, a finding). */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
