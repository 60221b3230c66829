/* src/io.c — registering PIO/MMIO handlers and hypercall functions. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vm_internal.h"

static struct vmm__bus *bus_of(vmm_vm_t *vm, vmm_io_space_t space) {
  switch (space) {
  case VMM_IO_PIO:
    return &vm->pio;
  case VMM_IO_MMIO:
    return &vm->mmio;
  }
  return NULL;
}

int vmm_io_register(vmm_vm_t *vm, vmm_io_space_t space, uint64_t addr,
                    uint64_t len, vmm_io_fn fn, void *opaque) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_io_register: not a live VM handle");
  struct vmm__bus *bus = bus_of(vm, space);
  if (!bus)
    return vmm__error(VMM_EINVAL, "vmm_io_register: unknown space %d",
                      (int)space);
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vmm__bus_add(bus, addr, len, fn, opaque);
  pthread_rwlock_unlock(&vm->lock);
  return rc < 0 ? vmm__error_prefix(rc, "vmm_io_register") : 0;
}

int vmm_io_unregister(vmm_vm_t *vm, vmm_io_space_t space, uint64_t addr) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_io_unregister: not a live VM handle");
  struct vmm__bus *bus = bus_of(vm, space);
  if (!bus)
    return vmm__error(VMM_EINVAL, "vmm_io_unregister: unknown space %d",
                      (int)space);
  if (space == VMM_IO_PIO && addr == vm->hypercall_port)
    return vmm__error(VMM_EPERM, "vmm_io_unregister: port 0x%llx is the "
                      "hypercall port", (unsigned long long)addr);
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vmm__bus_remove(bus, addr);
  pthread_rwlock_unlock(&vm->lock);
  return rc < 0 ? vmm__error_prefix(rc, "vmm_io_unregister") : 0;
}

/* Index of the first entry with nr >= `nr`. */
static size_t hc_lower_bound(const vmm_vm_t *vm, uint64_t nr) {
  size_t lo = 0, hi = vm->n_hypercalls;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (vm->hypercalls[mid].nr < nr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int vmm_hypercall_register(vmm_vm_t *vm, uint64_t nr, vmm_hypercall_fn fn,
                           void *opaque) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_hypercall_register: not a live VM");
  if (!fn)
    return vmm__error(VMM_EINVAL, "vmm_hypercall_register: fn is NULL");
  if (nr >= VMM_HYPERCALL_MAX)
    return vmm__error(VMM_ERANGE, "vmm_hypercall_register: number %llu is "
                      "not below %u", (unsigned long long)nr,
                      VMM_HYPERCALL_MAX);
  int rc = 0;
  pthread_rwlock_wrlock(&vm->lock);
  size_t i = hc_lower_bound(vm, nr);
  if (i < vm->n_hypercalls && vm->hypercalls[i].nr == nr) {
    rc = vmm__error(VMM_EEXIST, "vmm_hypercall_register: number %llu is "
                    "taken", (unsigned long long)nr);
  } else {
    if (vm->n_hypercalls == vm->cap_hypercalls) {
      size_t cap = vm->cap_hypercalls ? vm->cap_hypercalls * 2 : 8;
      struct vmm__hypercall *n =
          realloc(vm->hypercalls, cap * sizeof(*vm->hypercalls));
      if (!n) {
        rc = vmm__error(VMM_ENOMEM, "out of memory for hypercalls");
        goto out;
      }
      vm->hypercalls = n;
      vm->cap_hypercalls = cap;
    }
    memmove(&vm->hypercalls[i + 1], &vm->hypercalls[i],
            (vm->n_hypercalls - i) * sizeof(*vm->hypercalls));
    vm->hypercalls[i] = (struct vmm__hypercall){nr, fn, opaque};
    vm->n_hypercalls++;
  }
out:
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

int vmm_hypercall_unregister(vmm_vm_t *vm, uint64_t nr) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_hypercall_unregister: not a live VM");
  int rc = 0;
  pthread_rwlock_wrlock(&vm->lock);
  size_t i = hc_lower_bound(vm, nr);
  if (i < vm->n_hypercalls && vm->hypercalls[i].nr == nr) {
    memmove(&vm->hypercalls[i], &vm->hypercalls[i + 1],
            (vm->n_hypercalls - i - 1) * sizeof(*vm->hypercalls));
    vm->n_hypercalls--;
  } else {
    rc = vmm__error(VMM_ENOENT, "vmm_hypercall_unregister: number %llu has "
                    "no function", (unsigned long long)nr);
  }
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}

/*
 * The guest wrote EAX to the hypercall port. Reads the arguments, calls the
 * registered function and writes its result to RAX; with no function,
 * turns `exit` into VMM_EXIT_HYPERCALL for the caller of vmm_vcpu_run().
 */
int vmm__hypercall_dispatch(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                            bool *handled) {
  vmm_vm_t *vm = vcpu->vm;
  vmm_regs_t regs;
  int rc = vm->ops->get_regs(vcpu->bvcpu, &regs);
  if (rc < 0)
    return rc;
  uint64_t nr = (uint32_t)regs.rax;
  uint64_t args[5] = {regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi};
  /* Outside 64-bit mode only the low 32 bits are the guest's: the upper
   * halves keep whatever an earlier mode left there. Reading the mode costs
   * an exit-sized call, so skip it when no upper half is set anyway. */
  if ((args[0] | args[1] | args[2] | args[3] | args[4]) >> 32) {
    vmm_sregs_t sregs;
    rc = vm->ops->get_sregs(vcpu->bvcpu, &sregs);
    if (rc < 0)
      return rc;
    if (!((sregs.efer & VMM_X86_EFER_LMA) && sregs.cs.l))
      for (int i = 0; i < 5; i++)
        args[i] = (uint32_t)args[i];
  }
  vmm_hypercall_fn fn = NULL;
  void *opaque = NULL;
  pthread_rwlock_rdlock(&vm->lock);
  size_t i = hc_lower_bound(vm, nr);
  if (i < vm->n_hypercalls && vm->hypercalls[i].nr == nr) {
    fn = vm->hypercalls[i].fn;
    opaque = vm->hypercalls[i].opaque;
  }
  pthread_rwlock_unlock(&vm->lock);

  if (!fn) {
    memset(&exit->u, 0, sizeof(exit->u));
    exit->reason = VMM_EXIT_HYPERCALL;
    exit->u.hypercall.nr = nr;
    memcpy(exit->u.hypercall.args, args, sizeof(args));
    exit->u.hypercall.ret = (uint64_t)(int64_t)VMM_ENOSYS;
    vcpu->pending_hypercall = true;
    *handled = false;
    return 0;
  }
  uint64_t ret = 0;
  rc = fn(vcpu, nr, args, &ret, opaque);
  if (rc < 0)
    return rc;
  regs.rax = ret;
  *handled = true;
  return vm->ops->set_regs(vcpu->bvcpu, &regs);
}
