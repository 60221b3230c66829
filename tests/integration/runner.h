/* tests/integration/runner.h — the main() every integration test program
 * shares: options, SKIP where the backend cannot run, a time limit per
 * test that names the stuck test, CUnit registration and the exit code. */
#ifndef TEST_RUNNER_H
#define TEST_RUNNER_H

#include <stddef.h>

#define EXIT_SKIP 77

struct test_def {
  const char *name;
  void (*fn)(void);
};

/* A named group of tests: `n` entries, or up to a {NULL, NULL} entry when
 * `n` is 0. */
struct test_suite {
  const char *name;
  const struct test_def *tests;
  size_t n;
};

/*
 *   PROG --backend NAME [--guest NAME PATH]... [--test SUITE/TEST|SUITE|TEST]...
 *        [--list] [--help]
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every selected test passed, 1 otherwise (also when a test
 * exceeds `timeout_s`: the test is named), 2 for bad usage. `guests`
 * describes the --guest arguments in the usage line.
 */
int test_main(int argc, char **argv, const char *prog, const char *guests,
              const struct test_suite *suites, size_t n_suites,
              unsigned timeout_s);

#endif
