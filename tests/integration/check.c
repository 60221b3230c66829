/* tests/integration/check.c — the assertions of check.h. */
#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* CUnit copies the condition text of a failure, so a stack buffer is fine;
 * the failure is printed at once too, next to the guest's output. */
static bool report(bool ok, unsigned line, const char *text) {
  if (!ok)
    printf("\n    FAILED (line %u): %s\n", line, text);
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, text, "conformance",
                          "", CU_FALSE);
  return ok;
}

void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("\n    note: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

bool check_cond(bool ok, unsigned line, const char *what) {
  return report(ok, line, what);
}

bool check_true(bool ok, unsigned line, const char *what, const char *fmt,
                ...) {
  char msg[768];
  if (ok)
    return report(ok, line, what);
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(msg, sizeof(msg), "%s: ", what);
  vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
  va_end(ap);
  return report(ok, line, msg);
}

bool check_eq(uint64_t a, uint64_t b, const char *what, unsigned line) {
  char msg[512];
  if (a == b)
    return report(true, line, what);
  snprintf(msg, sizeof(msg), "%s (0x%" PRIx64 " != 0x%" PRIx64 ")", what, a, b);
  return report(false, line, msg);
}

bool check_rc(int rc, int want, const char *what, unsigned line) {
  char msg[768];
  bool ok = want == INT32_MIN ? rc < 0 : rc == want;
  if (ok)
    return report(true, line, what);
  if (want == INT32_MIN)
    snprintf(msg, sizeof(msg), "%s: expected a failure, got %d", what, rc);
  else
    snprintf(msg, sizeof(msg), "%s: expected %s, got %s (%s)", what,
             want ? vmm_err_name(want) : "0", rc ? vmm_err_name(rc) : "0",
             rc ? vmm_last_error() : "");
  return report(false, line, msg);
}

bool check_str(const char *a, const char *b, const char *what, unsigned line) {
  char msg[768];
  if (strcmp(a, b) == 0)
    return report(true, line, what);
  snprintf(msg, sizeof(msg), "%s: \"%s\" != \"%s\"", what, a, b);
  return report(false, line, msg);
}

bool check_create(struct test_vm *t, const char *guest, unsigned line) {
  char msg[768];
  int rc = test_vm_create(t, guest);
  if (rc == 0)
    return report(true, line, "test_vm_create");
  snprintf(msg, sizeof(msg), "test_vm_create(%s): %s", guest ? guest : "-",
           t->error);
  return report(false, line, msg);
}

/* Says what an unexpected stop was, with the guest's RIP when readable. */
static void describe(struct test_vm *t, int r, char *buf, size_t size) {
  if (r < 0) {
    snprintf(buf, size, "%s", t->error);
    return;
  }
  if (r == TEST_RUN_UCALL) {
    if (t->uc.cmd == UCALL_ABORT)
      snprintf(buf, size, "guest aborted: %s", t->uc.text);
    else
      snprintf(buf, size, "ucall %s (args 0x%" PRIx64 " 0x%" PRIx64 ")",
               test_ucall_name(t->uc.cmd), t->uc.args[0], t->uc.args[1]);
    return;
  }
  vmm_regs_t regs;
  uint64_t rip = vmm_vcpu_get_regs(t->vcpu, &regs) == 0 ? regs.rip : 0;
  const vmm_exit_t *e = &t->exit;
  switch (r) {
  case VMM_EXIT_IO:
    snprintf(buf, size, "exit IO port 0x%x size %u %s, rip 0x%" PRIx64,
             e->u.io.port, e->u.io.size, e->u.io.is_write ? "write" : "read",
             rip);
    break;
  case VMM_EXIT_MMIO:
    snprintf(buf, size, "exit MMIO gpa 0x%" PRIx64 " size %u %s, rip 0x%" PRIx64,
             e->u.mmio.gpa, e->u.mmio.size,
             e->u.mmio.is_write ? "write" : "read", rip);
    break;
  case VMM_EXIT_HYPERCALL:
    snprintf(buf, size, "exit HYPERCALL nr %" PRIu64 ", rip 0x%" PRIx64,
             e->u.hypercall.nr, rip);
    break;
  case VMM_EXIT_INTERNAL_ERROR:
    snprintf(buf, size, "exit INTERNAL_ERROR kind %u code %u at rip 0x%" PRIx64,
             e->u.internal.kind, e->u.internal.backend_code,
             e->u.internal.rip);
    break;
  default:
    snprintf(buf, size, "exit %s, rip 0x%" PRIx64, test_exit_name(r), rip);
  }
}

bool check_run(struct test_vm *t, int want, unsigned line) {
  char msg[768], got[600];
  int r = test_vm_run(t);
  if (r == want)
    return report(true, line, "run");
  describe(t, r, got, sizeof(got));
  snprintf(msg, sizeof(msg), "expected %s, got %s", test_exit_name(want), got);
  return report(false, line, msg);
}

bool check_ucall(struct test_vm *t, uint32_t cmd, unsigned line) {
  char msg[768], got[600];
  int r = test_vm_run(t);
  if (r == TEST_RUN_UCALL && t->uc.cmd == cmd)
    return report(true, line, "ucall");
  describe(t, r, got, sizeof(got));
  snprintf(msg, sizeof(msg), "expected ucall %s, got %s", test_ucall_name(cmd),
           got);
  return report(false, line, msg);
}
