/* bench/bench_vm.h — a libvmm VM running one of the test guests (built
 * from tests/guests/lib) on libvmm's own threads, with its checkpoints
 * (ucall SYNCs) handed to a callback on the vCPU thread. Used by the
 * benchmarks that need devices: virtio_blk and notify. */
#ifndef VMM_BENCH_VM_H
#define VMM_BENCH_VM_H

#include <stdbool.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

#include "ucall.h"

struct bench_vm;
/* A SYNC from the guest; runs on the vCPU thread while the guest waits.
 * Return 0, or a negative value to stop the VM as failed. */
typedef int (*bench_sync_fn)(struct bench_vm *b, const struct ucall *uc);

struct bench_vm {
  const char *prog;
  vmm_vm_t *vm;
  vmm_vcpu_t *vcpu;
  bench_sync_fn on_sync;
  void *opaque;
  bool done, aborted, failed;
  char abort_text[UCALL_TEXT_MAX];
};

/*
 * A VM (VM flags `flags`) with `ram_bytes` of RAM at 0, one vCPU in 64-bit
 * long mode at the entry of the guest ELF at `guest_path`. Prints what
 * failed (prefixed with b->prog) and returns a negative code on error.
 */
int bench_vm_create(struct bench_vm *b, const char *prog,
                    const char *guest_path, uint64_t ram_bytes,
                    uint32_t flags);
/* Guest parameter `i` (GUEST_PARAM_GPA), before the run. */
int bench_vm_param(struct bench_vm *b, unsigned i, uint64_t value);
/* Starts the VM and waits (at most timeout_s) until it stops; 0 when the
 * guest said DONE and no callback failed. */
int bench_vm_run(struct bench_vm *b, int timeout_s);
void bench_vm_destroy(struct bench_vm *b);

#endif
