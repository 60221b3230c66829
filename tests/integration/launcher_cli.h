/* tests/integration/launcher_cli.h — the vmm-boot program's tests
 * (launcher_cli_test.c), run by launcher_test.c as the suite "cli". */
#ifndef TEST_LAUNCHER_CLI_H
#define TEST_LAUNCHER_CLI_H

#include "runner.h"

/* {NULL, NULL}-terminated. Need --guest vmm-boot, launch-pvh, launch-mb and
 * launch-bz (mbinfo and mbsmp optional). */
extern const struct test_def launcher_cli_tests[];

#endif
