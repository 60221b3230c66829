/* tests/integration/fleet_test.c — several VMs in one process: one guest
 * triple-faults, one spins forever, the others compute and read a
 * virtio-rng; the fault and the hang stay inside their own VMs. Once with
 * a loop thread per VM, once with all devices on one libuv loop run by
 * the test thread (the faulting and the hung VM share it too).
 *
 *   fleet_test --backend kvm --guest triple_fault PATH --guest spin PATH
 *              --guest fleet PATH [--test ...]
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <libvmm/uv.h>

#include "compute.h"
#include "vt_harness.h"

const char *vt_guest = "fleet";

#define HEALTHY 4
#define STEPS 2000000ull
#define RNG_BYTES 64
#define TRIPLE_MARK 0x5452495045000000ull /* as in triple_fault.c */

/* Waits for `vm` to stop; with `loop`, serves the loop meanwhile (this
 * thread is its only runner). */
static int wait_vm(vmm_vm_t *vm, int timeout_ms, vmm_vm_stop_info_t *info,
                   uv_loop_t *loop) {
  if (!loop)
    return vmm_vm_wait(vm, timeout_ms, info);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    uv_run(loop, UV_RUN_NOWAIT);
    int rc = vmm_vm_wait(vm, 1, info);
    if (rc != VMM_ETIMEDOUT)
      return rc;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= timeout_ms)
      return rc;
  }
}

static void fleet_isolation(bool shared) {
  struct test_vm crash, hang;
  struct vt_vm healthy[HEALTHY];
  uv_loop_t loop;
  uv_loop_t *lp = shared ? &loop : NULL;
  memset(&crash, 0, sizeof(crash));
  memset(&hang, 0, sizeof(hang));
  memset(healthy, 0, sizeof(healthy));
  if (shared && !EXPECT_EQ(uv_loop_init(&loop), 0))
    return;

  bool ok = CREATE(&crash, "triple_fault") &&
            EXPECT_OK(test_vm_set_param(&crash, 0, 0)) &&
            CREATE(&hang, "spin") &&
            EXPECT_OK(test_vm_set_param(&hang, 0, 1)); /* ring 3: native */
  if (ok && shared)
    ok = EXPECT_OK(vmm_vm_use_loop(crash.vm, &loop)) &&
         EXPECT_OK(vmm_vm_use_loop(hang.vm, &loop));
  for (unsigned i = 0; ok && i < HEALTHY; i++) {
    struct vt_vm *h = &healthy[i];
    vmm_device_t *rng = NULL;
    ok = VT_CREATE(h, 0) &&
         (!shared || EXPECT_OK(vmm_vm_use_loop(h->t.vm, &loop))) &&
         EXPECT_OK(vmm_virtio_rng_create(h->t.vm, NULL, &rng)) &&
         set_param(h, 0, COMPUTE_SEED + i) && set_param(h, 1, STEPS) &&
         set_param(h, 2, vmm_virtio_mmio_base(rng)) &&
         set_param(h, 3, RNG_BYTES);
  }
  /* All start together: the fault happens while the others run. */
  ok = ok && EXPECT_OK(vmm_vm_start(crash.vm)) &&
       EXPECT_OK(vmm_vm_start(hang.vm));
  for (unsigned i = 0; ok && i < HEALTHY; i++)
    ok = EXPECT_OK(vmm_vm_start(healthy[i].t.vm));

  if (ok) {
    /* The healthy VMs finish with the right results. */
    for (unsigned i = 0; i < HEALTHY; i++) {
      struct vt_vm *h = &healthy[i];
      vmm_vm_stop_info_t info = {.size = sizeof(info)};
      EXPECT_OK(wait_vm(h->t.vm, WAIT_MS, &info, lp));
      EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
      EXPECT_EQ(info.status, 0);
      pthread_mutex_lock(&h->mu);
      EXPECT_TRUEF(!h->aborted, "VM %u: guest aborted: %s", i, h->abort_text);
      EXPECT_TRUEF(h->done, "VM %u: no DONE; %s", i, info.message);
      if (EXPECT_EQ(h->n_syncs, 1)) {
        EXPECT_EQ(h->syncs[0].args[0], compute_run(COMPUTE_SEED + i, STEPS));
        EXPECT_EQ(h->syncs[0].args[1], RNG_BYTES);
        EXPECT_TRUE(h->syncs[0].args[2] != 0); /* 64 random bytes not all 0 */
      }
      pthread_mutex_unlock(&h->mu);
    }

    /* The faulting VM stopped by itself and says why. */
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    if (EXPECT_OK(wait_vm(crash.vm, WAIT_MS, &info, lp))) {
      EXPECT_EQ(info.reason, VMM_STOP_SHUTDOWN);
      EXPECT_EQ(info.vcpu, 0);
      EXPECT_TRUEF(strstr(info.message, "triple fault") != NULL, "message: %s",
                   info.message);
      EXPECT_EQ(test_vm_read64(&crash, GUEST_STATUS_GPA), TRIPLE_MARK | 0);
    }

    /* The hung VM is still spinning after all that; the API stops it. */
    EXPECT_EQ(vmm_vm_state(hang.vm), VMM_VM_RUNNING);
    EXPECT_RC(wait_vm(hang.vm, 100, NULL, lp), VMM_ETIMEDOUT);
    /* Moving at all is what counts: on a loaded host the vCPU thread may
     * wait for a CPU for a while, so give it up to 5 s. */
    uint64_t c0 = test_vm_read64(&hang, GUEST_STATUS_GPA), c1 = c0;
    for (int i = 0; i < 500 && c1 == c0; i++) {
      usleep(10000);
      c1 = test_vm_read64(&hang, GUEST_STATUS_GPA);
    }
    EXPECT_TRUEF(c1 > c0, "the spinning guest's counter stood at 0x%llx",
                 (unsigned long long)c1);
    EXPECT_OK(vmm_vm_stop(hang.vm, 42));
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    if (EXPECT_OK(wait_vm(hang.vm, WAIT_MS, &info, lp))) {
      EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
      EXPECT_EQ(info.status, 42);
      EXPECT_EQ(vmm_vm_state(hang.vm), VMM_VM_STOPPED);
    }
  }

  /* With the shared loop, destroy on its thread (this one) and let the
   * VMs' handles close before the loop does. */
  for (unsigned i = 0; i < HEALTHY; i++)
    if (healthy[i].t.vm || healthy[i].t.error[0])
      vt_destroy(&healthy[i]);
  test_vm_destroy(&crash);
  test_vm_destroy(&hang);
  if (shared) {
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
}

static void test_isolation_per_vm_loops(void) { fleet_isolation(false); }
static void test_isolation_shared_loop(void) { fleet_isolation(true); }

int main(int argc, char **argv) {
  static const struct test_def tests[] = {
      {"isolation_per_vm_loops", test_isolation_per_vm_loops},
      {"isolation_shared_loop", test_isolation_shared_loop},
  };
  static const struct test_suite suite = {"fleet", tests, 2};
  return test_main(argc, argv, "fleet_test",
                   "--guest triple_fault PATH --guest spin PATH "
                   "--guest fleet PATH ",
                   &suite, 1, 120);
}
