/* tests/integration/vt_harness.h — what the virtio test programs share: a
 * VM running one guest on libvmm's threads, its ucalls collected through
 * vmm_vm_on_exit(), waiting for it to finish. */
#ifndef VT_HARNESS_H
#define VT_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "runner.h"
#include "test_vm.h"

#define WAIT_MS 30000 /* for a started VM to stop by itself */
#define MAX_SYNCS 8

/* The guest's name for --guest NAME PATH; each test program defines it. */
extern const char *vt_guest;

struct vt_vm {
  struct test_vm t;
  pthread_mutex_t mu;
  unsigned n_syncs;
  struct ucall syncs[MAX_SYNCS];
  bool done, aborted;
  char abort_text[UCALL_TEXT_MAX];
  /* Called (on the vCPU thread) for each SYNC; may be NULL. */
  void (*on_sync)(struct vt_vm *v, const struct ucall *uc);
  void *opaque;
};

#define VT_CREATE(v, flags)                                                   \
  check_true(vt_create((v), (flags)) == 0, __LINE__, "vt_create", "%s",       \
             (v)->t.error)


int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque);
int vt_create(struct vt_vm *v, uint32_t flags);
void vt_destroy(struct vt_vm *v);
bool set_param(struct vt_vm *v, unsigned i, uint64_t value);
bool vt_wait(struct vt_vm *v);


/*
 * The whole main() of a virtio test program (test_main() of runner.h with
 * one suite and the program's guest). `prog` names the program in
 * messages, `suite_name` the CUnit suite.
 */
int vt_main(int argc, char **argv, const char *prog, const char *suite_name,
            const struct test_def *tests, size_t n_tests);

#endif
