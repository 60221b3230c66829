/* tests/integration/vt_harness.c — the virtio test programs' shared harness. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "test_vm.h"

#include <CUnit/Basic.h>

#include "vt_harness.h"

/* ---- VMs on libvmm's threads, ucalls through vmm_vm_on_exit() --------- */


int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct vt_vm *v = opaque;
  if (e->reason != VMM_EXIT_IO || e->u.io.port != UCALL_PORT ||
      e->u.io.size != 4 || !e->u.io.is_write)
    return 1;
  vmm_vm_t *vm = vmm_vcpu_vm(vcpu);
  uint32_t gpa;
  struct ucall uc;
  memcpy(&gpa, e->u.io.data, 4);
  if (vmm_mem_read(vm, gpa, &uc, sizeof(uc)) < 0 || uc.magic != UCALL_MAGIC)
    return VMM_EINVAL;
  uc.text[UCALL_TEXT_MAX - 1] = 0;
  pthread_mutex_lock(&v->mu);
  switch (uc.cmd) {
  case UCALL_PRINT:
    printf("    guest: %s\n", uc.text);
    break;
  case UCALL_SYNC:
    if (v->n_syncs < MAX_SYNCS)
      v->syncs[v->n_syncs] = uc;
    v->n_syncs++;
    break;
  case UCALL_DONE:
    v->done = true;
    vmm_vm_stop(vm, 0);
    break;
  case UCALL_ABORT:
    v->aborted = true;
    memcpy(v->abort_text, uc.text, sizeof(uc.text));
    vmm_vm_stop(vm, -1);
    break;
  }
  pthread_mutex_unlock(&v->mu);
  if (uc.cmd == UCALL_SYNC && v->on_sync)
    v->on_sync(v, &uc);
  return 0;
}

/* A VM with the virtio guest loaded, in long mode, with VM flags. */
int vt_create(struct vt_vm *v, uint32_t flags) {
  struct test_vm *t = &v->t;
  memset(v, 0, sizeof(*v));
  pthread_mutex_init(&v->mu, NULL);
  int rc = test_vm_create_flags(t, vt_guest, flags);
  if (rc < 0)
    return rc;
  rc = vmm_vm_on_exit(t->vm, on_exit_ucall, v);
  if (rc < 0)
    snprintf(t->error, sizeof(t->error), "vmm_vm_on_exit: %s (%s)",
             vmm_err_name(rc), vmm_last_error());
  return rc;
}

void vt_destroy(struct vt_vm *v) {
  test_vm_destroy(&v->t);
  pthread_mutex_destroy(&v->mu);
}

bool set_param(struct vt_vm *v, unsigned i, uint64_t value) {
  return EXPECT_OK(test_vm_set_param(&v->t, i, value));
}

/* Waits for the VM to stop; true when the guest said DONE. */
bool vt_wait(struct vt_vm *v) {
  vmm_vm_stop_info_t info;
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  int rc = vmm_vm_wait(v->t.vm, WAIT_MS, &info);
  if (rc == VMM_ETIMEDOUT) {
    vmm_vm_stop(v->t.vm, -1);
    vmm_vm_wait(v->t.vm, -1, &info);
    /* Where the guest was, and its first queue as guest memory says. */
    uint64_t step = test_vm_read64(&v->t, GUEST_STATUS_GPA);
    uint64_t qmem = test_vm_read64(&v->t, GUEST_STATUS_GPA + 8);
    uint64_t avail = qmem ? test_vm_read64(&v->t, qmem + 4096) : 0;
    uint64_t used = qmem ? test_vm_read64(&v->t, qmem + 8192) : 0;
    note("timed out at guest step 0x%llx; first queue: avail flags/idx "
         "0x%llx, used flags/idx 0x%llx", (unsigned long long)step,
         (unsigned long long)(avail & 0xffffffff),
         (unsigned long long)(used & 0xffffffff));
  }
  bool ok = EXPECT_OK(rc);
  pthread_mutex_lock(&v->mu);
  ok &= EXPECT_TRUEF(!v->aborted, "guest aborted: %s", v->abort_text);
  ok &= EXPECT_TRUEF(v->done, "guest not done; stop reason %u: %s",
                     info.reason, info.message);
  pthread_mutex_unlock(&v->mu);
  return ok;
}

/* ---- the runner -------------------------------------------------------- */

#define TEST_TIMEOUT_S 120

int vt_main(int argc, char **argv, const char *prog, const char *suite_name,
            const struct test_def *tests, size_t n_tests) {
  char guests[128];
  snprintf(guests, sizeof(guests), "--guest %s PATH ", vt_guest);
  const struct test_suite suite = {suite_name, tests, n_tests};
  return test_main(argc, argv, prog, guests, &suite, 1, TEST_TIMEOUT_S);
}
