/* tests/integration/conformance.c — the backend conformance suite: real
 * guests and the public API, run against the backend named by --backend.
 *
 *   conformance --backend kvm --guest hello PATH [--guest NAME PATH...]
 *               [--test SUITE/TEST ...] [--list]
 *
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every test passed, 1 otherwise.
 */
#include "runner.h"
#include "suites.h"
#include "test_vm.h"

/* Ring-0 guests run slowly on some KVMs; a minute is still "stuck". */
#define TEST_TIMEOUT_S 60

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {
      {"guests", guest_tests, 0}, {"state", state_tests, 0},
      {"memory", memory_tests, 0}, {"io", io_tests, 0},
      {"misuse", misuse_tests, 0}, {"run", run_tests, 0},
  };
  return test_main(argc, argv, "conformance", "[--guest NAME PATH]... ",
                   suites, sizeof(suites) / sizeof(suites[0]),
                   TEST_TIMEOUT_S);
}
