/* tests/unit/unit.h — CUnit runner and value-printing checks for unit tests. */
#ifndef UNIT_H
#define UNIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include <libvmm/common.h>

/*
 * CU_ASSERT_EQUAL only reports the expression; these also print both
 * values (and for error codes the names and vmm_last_error()), which is
 * what one needs to read a failure from a CI log.
 */
static inline void unit_fail(const char *file, unsigned line, const char *expr,
                             const char *detail) {
  fprintf(stderr, "\n  %s:%u: %s: %s\n", file, line, expr, detail);
}

static inline void unit_check_u64(uint64_t actual, uint64_t expected,
                                  const char *expr, const char *file,
                                  unsigned line, const char *func) {
  bool ok = actual == expected;
  if (!ok) {
    char d[128];
    snprintf(d, sizeof(d), "got 0x%llx, want 0x%llx",
             (unsigned long long)actual, (unsigned long long)expected);
    unit_fail(file, line, expr, d);
  }
  CU_assertImplementation(ok, line, expr, file, func, CU_FALSE);
}

static inline void unit_check_rc(int actual, int expected, const char *expr,
                                 const char *file, unsigned line,
                                 const char *func) {
  bool ok = actual == expected;
  if (!ok) {
    char d[768];
    snprintf(d, sizeof(d), "got %d %s, want %d %s (last error: \"%s\")",
             actual, vmm_err_name(actual), expected, vmm_err_name(expected),
             vmm_last_error());
    unit_fail(file, line, expr, d);
  }
  CU_assertImplementation(ok, line, expr, file, func, CU_FALSE);
}

static inline void unit_check_contains(const char *haystack,
                                       const char *needle, const char *expr,
                                       const char *file, unsigned line,
                                       const char *func) {
  bool ok = haystack && strstr(haystack, needle);
  if (!ok) {
    char d[768];
    snprintf(d, sizeof(d), "\"%s\" does not contain \"%s\"",
             haystack ? haystack : "(null)", needle);
    unit_fail(file, line, expr, d);
  }
  CU_assertImplementation(ok, line, expr, file, func, CU_FALSE);
}

/* CHECK_U64(a, b): a == b as 64-bit unsigned values. */
#define CHECK_U64(actual, expected)                                           \
  unit_check_u64((uint64_t)(actual), (uint64_t)(expected),                    \
                 #actual " == " #expected, __FILE__, __LINE__, __func__)
/* CHECK_RC(call, VMM_E...): an error code, printed by name. */
#define CHECK_RC(actual, expected)                                            \
  unit_check_rc((actual), (expected), #actual " == " #expected, __FILE__,     \
                __LINE__, __func__)
/* CHECK_MSG("substring"): vmm_last_error() contains it. */
#define CHECK_MSG(needle)                                                     \
  unit_check_contains(vmm_last_error(), (needle),                             \
                      "vmm_last_error() contains " #needle, __FILE__,         \
                      __LINE__, __func__)
#define CHECK_CONTAINS(haystack, needle)                                      \
  unit_check_contains((haystack), (needle), #haystack " contains " #needle,   \
                      __FILE__, __LINE__, __func__)

struct unit_test {
  const char *name;
  CU_TestFunc fn;
};
#define UNIT_TEST(fn) {#fn, fn}
#define UNIT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Adds a suite with its tests; false (after printing why) on failure.
 * `setup`/`teardown` (may be NULL) run around every test, so a suite can
 * give each test a fresh fixture.
 */
static inline bool unit_add_suite(const char *name, CU_SetUpFunc setup,
                                  CU_TearDownFunc teardown,
                                  const struct unit_test *tests, size_t n) {
  CU_pSuite suite =
      CU_add_suite_with_setup_and_teardown(name, NULL, NULL, setup, teardown);
  if (!suite) {
    fprintf(stderr, "CU_add_suite(%s): %s\n", name, CU_get_error_msg());
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (!CU_add_test(suite, tests[i].name, tests[i].fn)) {
      fprintf(stderr, "CU_add_test(%s): %s\n", tests[i].name,
              CU_get_error_msg());
      return false;
    }
  }
  return true;
}

/*
 * Runs the registered suites and maps the outcome to a meson exit code:
 * 0 pass, 1 a failed assertion or suite set-up, 99 (hard error) when the
 * registry itself broke.
 */
static inline int unit_run(void) {
  CU_basic_set_mode(CU_BRM_VERBOSE);
  if (CU_basic_run_tests() != CUE_SUCCESS) {
    fprintf(stderr, "CU_basic_run_tests: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 99;
  }
  unsigned failed = CU_get_number_of_failures() +
                    CU_get_number_of_suites_failed();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (run == 0) {
    fprintf(stderr, "no test ran\n");
    return 99;
  }
  return failed ? 1 : 0;
}

#endif
