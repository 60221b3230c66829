/* tests/integration/test_vm.h — host side of the test guests: a VM with
 * RAM, one vCPU and a guest loaded and ready (KVM selftests'
 * vm_create_with_one_vcpu), and a run call that decodes ucalls. Uses only
 * the public libvmm API, so the same tests run on every backend. */
#ifndef TEST_VM_H
#define TEST_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

#include "layout.h"
#include "ucall.h"

/* The backend under test (--backend) and the built guests (--guest). */
extern const char *test_backend;
/* Path of guest `name` ("hello", "realmode"...), NULL when not given. */
const char *test_guest_path(const char *name);
int test_guest_add(const char *name, const char *path);

#define TEST_CONSOLE_MAX 4096

struct test_vm {
  vmm_vm_t *vm;
  vmm_vcpu_t *vcpu;
  vmm_mem_region_t *ram;
  vmm_elf_info_t elf;
  vmm_exit_t exit;    /* the last exit; kept for IO/MMIO read completion */
  struct ucall uc;    /* the last ucall (uc.cmd UCALL_NONE if none) */
  char console[TEST_CONSOLE_MAX]; /* what the guest wrote to port 0xE9 */
  size_t console_len;
  char error[512];    /* what went wrong in a test_vm_* call */
};

/* What test_vm_run() returns besides exit reasons and negative codes. */
#define TEST_RUN_UCALL 1000

/*
 * A VM on test_backend with GUEST_RAM_SIZE bytes of RAM at 0, vCPU 0 and
 * a handler collecting port 0xE9 output in `console`. With `guest` (a
 * name for test_guest_path()) the ELF is loaded and the vCPU put in
 * 64-bit long mode at its entry (setup area GUEST_SETUP_GPA, stack
 * GUEST_STACK_TOP); NULL leaves memory empty and the vCPU as created.
 * 0 or a negative code, with t->error saying what failed.
 */
int test_vm_create(struct test_vm *t, const char *guest);
/* The same with VM flags (VMM_VM_F_*). */
int test_vm_create_flags(struct test_vm *t, const char *guest,
                         uint32_t flags);
/* The port 0xE9 handler test_vm_create() registers (opaque: the test_vm);
 * thread-safe, for VMs whose vCPUs run on libvmm's threads. */
int test_console_out(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                     uint32_t size, int is_write, void *opaque);
/* Destroys what test_vm_create() made; safe on a zeroed or destroyed t. */
void test_vm_destroy(struct test_vm *t);

/* Writes guest parameter `i` (GUEST_PARAM_GPA) before the run. */
int test_vm_set_param(struct test_vm *t, unsigned int i, uint64_t value);

/*
 * Runs the vCPU until something the test must look at: returns
 * TEST_RUN_UCALL with t->uc filled for SYNC, DONE and ABORT (PRINT is shown
 * on stdout and the guest resumed), a vmm_exit_reason_t for other exits
 * (t->exit), or the negative code of vmm_vcpu_run().
 */
int test_vm_run(struct test_vm *t);

/* Reads a 64-bit word of guest memory (0 and t->error on failure). */
uint64_t test_vm_read64(struct test_vm *t, uint64_t gpa);

/* Reads a whole file (malloc'ed; *len gets its size); NULL on failure. */
void *test_read_file(const char *path, size_t *len);

const char *test_exit_name(int reason);
const char *test_ucall_name(uint32_t cmd);

#endif
