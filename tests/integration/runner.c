/* tests/integration/runner.c — see runner.h. */
#include "runner.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "test_vm.h"

static const char *prog_name = "test";
static unsigned test_timeout_s = 60;

/* A test that runs past its limit is stuck (a lost kick, a guest in a
 * loop): say which one and stop rather than wait for meson's timeout.
 * Only async-signal-safe calls here. */
static void on_timeout(int sig) {
  (void)sig;
  static const char msg[] = ": a test exceeded its time limit; stopping\n";
  CU_pTest t = CU_get_current_test();
  ssize_t r = write(2, "\n", 1);
  r = write(2, prog_name, strlen(prog_name));
  r = write(2, msg, sizeof(msg) - 1);
  if (t && t->pName) {
    r = write(2, "  test: ", 8);
    r = write(2, t->pName, strlen(t->pName));
    r = write(2, "\n", 1);
  }
  (void)r;
  _exit(1);
}

static void test_setup(void) { alarm(test_timeout_s); }
static void test_teardown(void) { alarm(0); }

static size_t suite_len(const struct test_suite *s) {
  if (s->n)
    return s->n;
  size_t n = 0;
  while (s->tests[n].name)
    n++;
  return n;
}

static void usage(FILE *f, const char *guests) {
  fprintf(f, "usage: %s --backend NAME %s[--test SUITE/TEST]... [--list] "
             "[--help]\n", prog_name, guests ? guests : "");
}

static bool selected(const char *const *only, size_t n_only,
                     const char *suite, const char *test) {
  if (n_only == 0)
    return true;
  char full[256];
  snprintf(full, sizeof(full), "%s/%s", suite, test);
  for (size_t k = 0; k < n_only; k++)
    if (!strcmp(only[k], full) || !strcmp(only[k], suite) ||
        !strcmp(only[k], test))
      return true;
  return false;
}

int test_main(int argc, char **argv, const char *prog, const char *guests,
              const struct test_suite *suites, size_t n_suites,
              unsigned timeout_s) {
  prog_name = prog;
  test_timeout_s = timeout_s;
  const char *only[64];
  size_t n_only = 0;
  bool list = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      test_backend = argv[++i];
    } else if (!strcmp(argv[i], "--guest") && i + 2 < argc) {
      test_guest_add(argv[i + 1], argv[i + 2]);
      i += 2;
    } else if (!strcmp(argv[i], "--test") && i + 1 < argc && n_only < 64) {
      only[n_only++] = argv[++i];
    } else if (!strcmp(argv[i], "--list")) {
      list = true;
    } else if (!strcmp(argv[i], "--help")) {
      usage(stdout, guests);
      return 0;
    } else {
      usage(stderr, guests);
      return 2;
    }
  }
  if (list) {
    for (size_t s = 0; s < n_suites; s++)
      for (size_t i = 0; i < suite_len(&suites[s]); i++)
        printf("%s/%s\n", suites[s].name, suites[s].tests[i].name);
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
  /* Socket back-ends whose peer went away must not kill the test. */
  signal(SIGPIPE, SIG_IGN);

  if (CU_initialize_registry() != CUE_SUCCESS)
    return 1;
  for (size_t s = 0; s < n_suites; s++) {
    CU_pSuite suite = CU_add_suite_with_setup_and_teardown(
        suites[s].name, NULL, NULL, test_setup, test_teardown);
    if (!suite)
      return 1;
    for (size_t i = 0; i < suite_len(&suites[s]); i++) {
      const struct test_def *t = &suites[s].tests[i];
      if (selected(only, n_only, suites[s].name, t->name) &&
          !CU_add_test(suite, t->name, t->fn))
        return 1;
    }
  }
  printf("%s: backend %s, libvmm %s\n", prog, test_backend,
         vmm_version_string());
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_tests_failed();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (run == 0) {
    fprintf(stderr, "%s: no test matched\n", prog);
    return 1;
  }
  return failed ? 1 : 0;
}
