/* bench/bench_vm.c — a VM running a test-library guest for the device
 * benchmarks (bench_vm.h). */
#include <stdio.h>
#include <string.h>

#include "bench_vm.h"
#include "layout.h"

static int fail(struct bench_vm *b, const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s (%s)\n", b->prog, what, vmm_strerror(rc),
          vmm_last_error());
  return rc;
}

static int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct bench_vm *b = opaque;
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
  switch (uc.cmd) {
  case UCALL_PRINT:
    printf("  guest: %s\n", uc.text);
    break;
  case UCALL_SYNC:
    if (b->on_sync && b->on_sync(b, &uc) < 0) {
      b->failed = true;
      vmm_vm_stop(vm, -1);
    }
    break;
  case UCALL_DONE:
    b->done = true;
    vmm_vm_stop(vm, 0);
    break;
  case UCALL_ABORT:
    b->aborted = true;
    memcpy(b->abort_text, uc.text, sizeof(uc.text));
    vmm_vm_stop(vm, -1);
    break;
  default:
    return VMM_EINVAL;
  }
  return 0;
}

int bench_vm_create(struct bench_vm *b, const char *prog,
                    const char *guest_path, uint64_t ram_bytes,
                    uint32_t flags) {
  memset(b, 0, sizeof(*b));
  b->prog = prog;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = "kvm";
  cfg.flags = flags;
  int rc = vmm_vm_create(&cfg, &b->vm);
  if (rc < 0)
    return fail(b, "vmm_vm_create", rc);
  rc = vmm_mem_map(b->vm, GUEST_RAM_GPA, ram_bytes, NULL, 0, NULL);
  if (rc < 0)
    return fail(b, "vmm_mem_map", rc);
  rc = vmm_vcpu_create(b->vm, 0, &b->vcpu);
  if (rc < 0)
    return fail(b, "vmm_vcpu_create", rc);
  vmm_elf_info_t elf;
  memset(&elf, 0, sizeof(elf));
  elf.size = sizeof(elf);
  rc = vmm_load_elf_file(b->vm, guest_path, &elf);
  if (rc < 0)
    return fail(b, guest_path, rc);
  rc = vmm_vcpu_setup_long_mode(b->vcpu, elf.entry, GUEST_STACK_TOP,
                                GUEST_SETUP_GPA);
  if (rc < 0)
    return fail(b, "vmm_vcpu_setup_long_mode", rc);
  rc = vmm_vm_on_exit(b->vm, on_exit_ucall, b);
  if (rc < 0)
    return fail(b, "vmm_vm_on_exit", rc);
  return 0;
}

int bench_vm_param(struct bench_vm *b, unsigned i, uint64_t value) {
  int rc = vmm_mem_write(b->vm, GUEST_PARAM_GPA + 8ull * i, &value, 8);
  return rc < 0 ? fail(b, "vmm_mem_write (parameter)", rc) : 0;
}

int bench_vm_run(struct bench_vm *b, int timeout_s) {
  int rc = vmm_vm_start(b->vm);
  if (rc < 0)
    return fail(b, "vmm_vm_start", rc);
  vmm_vm_stop_info_t info;
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  rc = vmm_vm_wait(b->vm, timeout_s * 1000, &info);
  if (rc == VMM_ETIMEDOUT) {
    fprintf(stderr, "%s: the guest did not finish in %d s\n", b->prog,
            timeout_s);
    vmm_vm_stop(b->vm, -1);
    vmm_vm_wait(b->vm, -1, &info);
    return rc;
  }
  if (rc < 0)
    return fail(b, "vmm_vm_wait", rc);
  if (b->aborted) {
    fprintf(stderr, "%s: guest aborted: %s\n", b->prog, b->abort_text);
    return VMM_EIO;
  }
  if (b->failed)
    return VMM_EIO;
  if (!b->done) {
    fprintf(stderr, "%s: the VM stopped (reason %u) before the guest was "
            "done: %s\n", b->prog, info.reason, info.message);
    return VMM_EIO;
  }
  return 0;
}

void bench_vm_destroy(struct bench_vm *b) {
  vmm_vm_destroy(b->vm);
  b->vm = NULL;
}
