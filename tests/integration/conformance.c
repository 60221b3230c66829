/* tests/integration/conformance.c — the backend conformance suite: real
 * guests and the public API, run against the backend named by --backend.
 *
 *   conformance --backend kvm --guest hello PATH [--guest NAME PATH...]
 *               [--test SUITE/TEST ...] [--list]
 *
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every test passed, 1 otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "check.h"
#include "suites.h"
#include "test_vm.h"

#define EXIT_SKIP 77
/* A test that takes longer than this is stuck (a lost kick, a guest in a
 * loop): say which one and stop, rather than wait for meson's timeout. */
#define TEST_TIMEOUT_S 60

static const struct {
  const char *name;
  const struct test_def *tests;
} suites[] = {
    {"guests", guest_tests}, {"state", state_tests},
    {"memory", memory_tests}, {"io", io_tests},
    {"misuse", misuse_tests}, {"run", run_tests},
};

static void on_timeout(int sig) {
  (void)sig;
  static const char msg[] = "\nconformance: a test exceeded its time limit; "
                            "stopping\n";
  CU_pTest t = CU_get_current_test();
  ssize_t r = write(2, msg, sizeof(msg) - 1);
  if (t && t->pName) {
    r = write(2, "  test: ", 8);
    r = write(2, t->pName, strlen(t->pName));
    r = write(2, "\n", 1);
  }
  (void)r;
  _exit(1);
}

static void test_setup(void) { alarm(TEST_TIMEOUT_S); }
static void test_teardown(void) { alarm(0); }

static void usage(FILE *f) {
  fprintf(f, "usage: conformance --backend NAME [--guest NAME PATH]... "
             "[--test SUITE/TEST]... [--list]\n");
}

int main(int argc, char **argv) {
  const char *only[64];
  size_t n_only = 0;
  int list = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      test_backend = argv[++i];
    } else if (!strcmp(argv[i], "--guest") && i + 2 < argc) {
      test_guest_add(argv[i + 1], argv[i + 2]);
      i += 2;
    } else if (!strcmp(argv[i], "--test") && i + 1 < argc && n_only < 64) {
      only[n_only++] = argv[++i];
    } else if (!strcmp(argv[i], "--list")) {
      list = 1;
    } else if (!strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (list) {
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++)
      for (const struct test_def *t = suites[s].tests; t->name; t++)
        printf("%s/%s\n", suites[s].name, t->name);
    return 0;
  }

  int rc = vmm_backend_probe(test_backend);
  if (rc < 0) {
    printf("SKIP: backend %s cannot run here: %s (%s)\n", test_backend,
           vmm_last_error()[0] ? vmm_last_error() : vmm_strerror(rc),
           vmm_err_name(rc));
    return EXIT_SKIP;
  }
  /* Guest output and notes interleave with CUnit's lines: no buffering. */
  setvbuf(stdout, NULL, _IONBF, 0);
  signal(SIGALRM, on_timeout);

  if (CU_initialize_registry() != CUE_SUCCESS)
    return 1;
  for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
    CU_pSuite suite = CU_add_suite_with_setup_and_teardown(
        suites[s].name, NULL, NULL, test_setup, test_teardown);
    if (!suite)
      return 1;
    for (const struct test_def *t = suites[s].tests; t->name; t++) {
      int wanted = n_only == 0;
      char full[256];
      snprintf(full, sizeof(full), "%s/%s", suites[s].name, t->name);
      for (size_t k = 0; k < n_only; k++)
        if (!strcmp(only[k], full) || !strcmp(only[k], suites[s].name))
          wanted = 1;
      if (wanted && !CU_add_test(suite, t->name, t->fn))
        return 1;
    }
  }
  printf("conformance: backend %s, libvmm %s\n", test_backend,
         vmm_version_string());
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_tests_failed();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (run == 0) {
    fprintf(stderr, "conformance: no test matched\n");
    return 1;
  }
  return failed ? 1 : 0;
}
