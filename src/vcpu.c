/* src/vcpu.c — vCPU objects: the run loop, exit dispatch, kicks, state. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gdbstub/gdbstub_internal.h"
#include "vm_internal.h"

/* ---- kicks ---------------------------------------------------------- */

/*
 * A kick sets `kick_pending` and the backend's immediate-exit flag, then
 * signals the thread inside vmm_vcpu_run(). The flag covers the window
 * before the guest is entered, the signal the time inside it. The handler
 * does nothing: its only job is to make the blocking run call return
 * EINTR. SA_RESTART keeps it from disturbing other system calls the
 * embedder's thread might be in. SA_ONSTACK runs it on the thread's
 * alternate signal stack where there is one: runtimes with small stacks
 * (Go's goroutines, when the Go binding's vCPU thread is in Go code as
 * the signal lands) require it of every handler installed beside them.
 */
static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_install_rc;

static void kick_handler(int sig) { (void)sig; }

static void kick_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = kick_handler;
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  kick_install_rc = sigaction(vmm_kick_signal(), &sa, NULL) ? VMM_EIO : 0;
}

int vmm_kick_signal(void) { return SIGRTMIN + 4; }

/* The kick signal must be deliverable on the thread that runs a vCPU. */
static void kick_unblock_on_this_thread(void) {
  static _Thread_local int done;
  if (done)
    return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, vmm_kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  done = 1;
}

int vmm_vcpu_kick(vmm_vcpu_t *vcpu) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "vmm_vcpu_kick: not a live vCPU handle");
  atomic_store(&vcpu->kick_pending, 1);
  vcpu->vm->ops->vcpu_kick_set(vcpu->bvcpu, 1);
  if (atomic_load(&vcpu->running) == 2)
    pthread_kill(vcpu->thread, vmm_kick_signal());
  return 0;
}

/* ---- creation ------------------------------------------------------- */

int vmm_vcpu_create(vmm_vm_t *vm, uint32_t id, vmm_vcpu_t **out) {
  if (out)
    *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vcpu_create: not a live VM handle");
  if (!out)
    return vmm__error(VMM_EINVAL, "vmm_vcpu_create: out is NULL");
  if (id >= vm->max_vcpus)
    return vmm__error(VMM_ERANGE, "vmm_vcpu_create: id %u is not below "
                      "max_vcpus %u", id, vm->max_vcpus);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vcpu_create: the VM was started; "
                      "vCPUs are created before vmm_vm_start()");
  pthread_once(&kick_once, kick_install);
  if (kick_install_rc)
    return vmm__error(kick_install_rc, "cannot install the kick signal");

  vmm_vcpu_t *vcpu = calloc(1, sizeof(*vcpu));
  if (!vcpu)
    return vmm__error(VMM_ENOMEM, "out of memory for a vCPU");
  vcpu->vm = vm;
  vcpu->id = id;
  vcpu->backend_run = vm->ops->vcpu_run;
  vcpu->hypercall_port = vm->hypercall_port;
  pthread_rwlock_wrlock(&vm->lock);
  int rc;
  if (vm->vcpus[id]) {
    rc = vmm__error(VMM_EEXIST, "vmm_vcpu_create: vCPU %u exists", id);
  } else {
    rc = vm->ops->vcpu_create(vm->bvm, id, &vcpu->bvcpu);
    vcpu->assist_flags = VMM_ASSIST_DEFAULT;
    /* The VM's CPU template, if one was set (vmm_vm_set_cpu_template). */
    if (rc == 0 && vm->cpu_template[0]) {
      rc = vmm__cpu_template_apply(vcpu, vm->cpu_template);
      if (rc < 0)
        vm->ops->vcpu_destroy(vcpu->bvcpu);
    }
    if (rc == 0) {
      rc = vmm__handle_add(vcpu, VMM__H_VCPU);
      if (rc < 0)
        vm->ops->vcpu_destroy(vcpu->bvcpu);
      else
        vm->vcpus[id] = vcpu;
    }
  }
  pthread_rwlock_unlock(&vm->lock);
  if (rc < 0) {
    free(vcpu);
    return rc;
  }
  *out = vcpu;
  return 0;
}

void vmm__vcpu_free(vmm_vcpu_t *vcpu) {
  vmm__handle_remove(vcpu);
  vcpu->vm->vcpus[vcpu->id] = NULL;
  vcpu->vm->ops->vcpu_destroy(vcpu->bvcpu);
  free(vcpu);
}

uint32_t vmm_vcpu_id(const vmm_vcpu_t *vcpu) {
  return vmm__handle_valid(vcpu, VMM__H_VCPU) ? vcpu->id : UINT32_MAX;
}

vmm_vm_t *vmm_vcpu_vm(const vmm_vcpu_t *vcpu) {
  return vmm__handle_valid(vcpu, VMM__H_VCPU) ? vcpu->vm : NULL;
}

vmm_vcpu_t *vmm_vm_get_vcpu(vmm_vm_t *vm, uint32_t id) {
  if (!vmm__handle_valid(vm, VMM__H_VM) || id >= vm->max_vcpus)
    return NULL;
  /* The slot is written under the VM lock by vmm_vcpu_create(). */
  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_t *vcpu = vm->vcpus[id];
  pthread_rwlock_unlock(&vm->lock);
  return vcpu;
}

/* ---- the run loop --------------------------------------------------- */

/*
 * Sends one access to the handler owning `addr`; *handled false if none.
 * The common case (same device as last time, no registration change since)
 * is served from the vCPU's cache without taking the VM lock.
 */
VMM__HOT static int dispatch(vmm_vcpu_t *vcpu, struct vmm__bus *bus,
                    struct vmm__io_cache *cache, uint64_t addr,
                    uint8_t *data, uint32_t size, uint32_t count,
                    int is_write, bool *handled) {
  vmm_vm_t *vm = vcpu->vm;
  uint64_t gen = atomic_load_explicit(&bus->generation, memory_order_acquire);
  vmm_io_fn fn = NULL;
  void *opaque = NULL;
  uint64_t *hits = NULL;
  if (cache->generation == gen && addr - cache->range.base < cache->range.len) {
    fn = cache->range.fn;
    opaque = cache->range.opaque;
    hits = cache->range.hits;
  } else {
    pthread_rwlock_rdlock(&vm->lock);
    gen = atomic_load_explicit(&bus->generation, memory_order_relaxed);
    const struct vmm__bus_range *r = vmm__bus_find(bus, addr);
    if (r) {
      fn = r->fn;
      opaque = r->opaque;
      hits = r->hits;
      cache->range = *r;
      cache->generation = gen;
    }
    pthread_rwlock_unlock(&vm->lock);
  }
  *handled = fn != NULL;
  if (!fn)
    return 0;
  /* Per-device access counts (the control socket's "stats"). Several
   * vCPUs may hit one device: an atomic add, no lock. */
  if (hits)
    __atomic_fetch_add(hits, count, __ATOMIC_RELAXED);
  /* REP string I/O: one call per element, like the hardware does it. */
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *d = data + (size_t)i * size;
    if (!is_write)
      memset(d, 0, size);
    int rc = fn(vcpu, addr, d, size, is_write, opaque);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Completes what the caller was asked to answer in the previous exit. */
static int complete_previous(vmm_vcpu_t *vcpu, const vmm_exit_t *exit) {
  if (!vcpu->pending_hypercall)
    return 0;
  vcpu->pending_hypercall = false;
  vmm_regs_t regs;
  int rc = vcpu->vm->ops->get_regs(vcpu->bvcpu, &regs);
  if (rc < 0)
    return rc;
  regs.rax = exit->reason == VMM_EXIT_HYPERCALL
                 ? exit->u.hypercall.ret
                 : (uint64_t)(int64_t)VMM_ENOSYS;
  return vcpu->vm->ops->set_regs(vcpu->bvcpu, &regs);
}

/* Only this vCPU's thread writes its exit counters, so a relaxed load and
 * store (no locked instruction) is enough; readers load them atomically. */
static inline void bump(uint64_t *counter) {
  __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1,
                   __ATOMIC_RELAXED);
}

/* Counts one return of the backend's run call by its reason. */
VMM__HOT static void count_exit(vmm_vcpu_t *vcpu, int rc,
                                const vmm_exit_t *exit) {
  vmm_vcpu_stats_t *s = &vcpu->stats;
  if (rc == VMM_EINTR) {
    bump(&s->exits_interrupted);
    return;
  }
  if (rc < 0)
    return;
  bump(&s->exits);
  switch (exit->reason) {
  case VMM_EXIT_IO:
    bump(&s->exits_io);
    break;
  case VMM_EXIT_MMIO:
    bump(&s->exits_mmio);
    break;
  case VMM_EXIT_HLT:
    bump(&s->exits_hlt);
    break;
  case VMM_EXIT_SHUTDOWN:
    bump(&s->exits_shutdown);
    break;
  case VMM_EXIT_DEBUG:
    bump(&s->exits_debug);
    break;
  case VMM_EXIT_INTERNAL_ERROR:
    bump(&s->exits_internal_error);
    break;
  default:
    bump(&s->exits_other);
    break;
  }
}

VMM__HOT static int run_loop(vmm_vcpu_t *vcpu, vmm_exit_t *exit) {
  vmm_vm_t *vm = vcpu->vm;
  const struct vmm__backend_ops *ops = vm->ops;
  int rc = complete_previous(vcpu, exit);
  if (rc < 0)
    return rc;
  for (;;) {
    /* A plain load first: the locked exchange is only paid for a kick. */
    if (atomic_load_explicit(&vcpu->kick_pending, memory_order_acquire) &&
        atomic_exchange(&vcpu->kick_pending, 0)) {
      ops->vcpu_kick_set(vcpu->bvcpu, 0);
      memset(exit, 0, sizeof(*exit));
      exit->reason = VMM_EXIT_KICKED;
      return 0;
    }
    rc = vcpu->backend_run(vcpu->bvcpu, exit);
    count_exit(vcpu, rc, exit);
    if (rc == VMM_EINTR) {
      /* Clear the flag first: a kick landing after this is still seen,
       * through kick_pending, on the next turn of the loop. */
      ops->vcpu_kick_set(vcpu->bvcpu, 0);
      continue;
    }
    if (rc < 0)
      return rc;
    bool handled = false;
    switch (exit->reason) {
    case VMM_EXIT_IO:
      if (exit->u.io.port == vcpu->hypercall_port && exit->u.io.is_write &&
          exit->u.io.size == 4 && exit->u.io.count == 1)
        rc = vmm__hypercall_dispatch(vcpu, exit, &handled);
      else
        rc = dispatch(vcpu, &vm->pio, &vcpu->pio_cache, exit->u.io.port,
                      exit->u.io.data,
                      exit->u.io.size, exit->u.io.count, exit->u.io.is_write,
                      &handled);
      break;
    case VMM_EXIT_MMIO:
      rc = dispatch(vcpu, &vm->mmio, &vcpu->mmio_cache, exit->u.mmio.gpa,
                    exit->u.mmio.data,
                    exit->u.mmio.size, 1, (int)exit->u.mmio.is_write,
                    &handled);
      break;
    case VMM_EXIT_INTERNAL_ERROR:
      /* An instruction the backend could not emulate: the assist may do
       * what the CPU would have (src/x86/assist.c). */
      if (exit->u.internal.kind == VMM_INTERNAL_EMULATION) {
        /* An INT3 the gdb stub planted is its breakpoint (the exit
         * becomes VMM_EXIT_DEBUG), not a guest #BP for the assist. */
        if (vmm__gdbstub_int3(vcpu, exit))
          break;
        rc = vmm__assist_emulation_failure(vcpu, exit, &handled);
      }
      break;
    default:
      break;
    }
    if (rc < 0)
      return rc;
    if (!handled)
      return 0;
  }
}

int vmm_vcpu_run(vmm_vcpu_t *vcpu, vmm_exit_t *exit) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "vmm_vcpu_run: not a live vCPU handle");
  if (!exit)
    return vmm__error(VMM_EINVAL, "vmm_vcpu_run: exit is NULL");
  kick_unblock_on_this_thread();
  /* running: 0 idle, 1 claimed, 2 claimed and `thread` published. Kickers
   * signal only at 2; before that the immediate-exit flag stops the entry. */
  int expected = 0;
  if (!atomic_compare_exchange_strong(&vcpu->running, &expected, 1))
    return vmm__error(VMM_EBUSY, "vmm_vcpu_run: vCPU %u is already running "
                      "on another thread", vcpu->id);
  vcpu->thread = pthread_self();
  atomic_store(&vcpu->running, 2);
  /* Boot timing: the guest's first instruction follows the first entry. */
  vmm__vm_mark(vcpu->vm, &vcpu->vm->first_entry_ns);
  int rc = run_loop(vcpu, exit);
  atomic_store(&vcpu->running, 0);
  return rc;
}

/* ---- state ---------------------------------------------------------- */

/* Checks the handle and that no thread is inside the guest, since state
 * calls on a running vCPU would race with the backend. */
#define VCPU_STATE_CALL(name, call)                                           \
  do {                                                                        \
    if (!vmm__handle_valid(vcpu, VMM__H_VCPU))                                \
      return vmm__error(VMM_EBADF, name ": not a live vCPU handle");         \
    if (atomic_load(&vcpu->running) &&                                        \
        !pthread_equal(vcpu->thread, pthread_self()))                         \
      return vmm__error(VMM_EBUSY, name ": vCPU %u is running", vcpu->id);   \
    return call;                                                              \
  } while (0)

#define CHECK_PTR(p, name)                                                    \
  do {                                                                        \
    if (!(p))                                                                 \
      return vmm__error(VMM_EINVAL, name ": " #p " is NULL");                \
  } while (0)

int vmm_vcpu_get_regs(vmm_vcpu_t *vcpu, vmm_regs_t *regs) {
  CHECK_PTR(regs, "vmm_vcpu_get_regs");
  VCPU_STATE_CALL("vmm_vcpu_get_regs",
                  vcpu->vm->ops->get_regs(vcpu->bvcpu, regs));
}
int vmm_vcpu_set_regs(vmm_vcpu_t *vcpu, const vmm_regs_t *regs) {
  CHECK_PTR(regs, "vmm_vcpu_set_regs");
  VCPU_STATE_CALL("vmm_vcpu_set_regs",
                  vcpu->vm->ops->set_regs(vcpu->bvcpu, regs));
}
int vmm_vcpu_get_sregs(vmm_vcpu_t *vcpu, vmm_sregs_t *sregs) {
  CHECK_PTR(sregs, "vmm_vcpu_get_sregs");
  VCPU_STATE_CALL("vmm_vcpu_get_sregs",
                  vcpu->vm->ops->get_sregs(vcpu->bvcpu, sregs));
}
int vmm_vcpu_set_sregs(vmm_vcpu_t *vcpu, const vmm_sregs_t *sregs) {
  CHECK_PTR(sregs, "vmm_vcpu_set_sregs");
  VCPU_STATE_CALL("vmm_vcpu_set_sregs",
                  vcpu->vm->ops->set_sregs(vcpu->bvcpu, sregs));
}
int vmm_vcpu_get_fpu(vmm_vcpu_t *vcpu, vmm_fpu_t *fpu) {
  CHECK_PTR(fpu, "vmm_vcpu_get_fpu");
  VCPU_STATE_CALL("vmm_vcpu_get_fpu",
                  vcpu->vm->ops->get_fpu(vcpu->bvcpu, fpu));
}
int vmm_vcpu_set_fpu(vmm_vcpu_t *vcpu, const vmm_fpu_t *fpu) {
  CHECK_PTR(fpu, "vmm_vcpu_set_fpu");
  VCPU_STATE_CALL("vmm_vcpu_set_fpu",
                  vcpu->vm->ops->set_fpu(vcpu->bvcpu, fpu));
}

#define MAX_MSRS 1024
int vmm_vcpu_get_msrs(vmm_vcpu_t *vcpu, vmm_msr_entry_t *entries,
                      size_t count) {
  CHECK_PTR(entries, "vmm_vcpu_get_msrs");
  if (count == 0 || count > MAX_MSRS)
    return vmm__error(VMM_ERANGE, "vmm_vcpu_get_msrs: count %zu not in "
                      "1..%d", count, MAX_MSRS);
  VCPU_STATE_CALL("vmm_vcpu_get_msrs",
                  vcpu->vm->ops->get_msrs(vcpu->bvcpu, entries, count));
}
int vmm_vcpu_set_msrs(vmm_vcpu_t *vcpu, const vmm_msr_entry_t *entries,
                      size_t count) {
  CHECK_PTR(entries, "vmm_vcpu_set_msrs");
  if (count == 0 || count > MAX_MSRS)
    return vmm__error(VMM_ERANGE, "vmm_vcpu_set_msrs: count %zu not in "
                      "1..%d", count, MAX_MSRS);
  VCPU_STATE_CALL("vmm_vcpu_set_msrs",
                  vcpu->vm->ops->set_msrs(vcpu->bvcpu, entries, count));
}

#define MAX_CPUID 256
int vmm_vcpu_get_cpuid(vmm_vcpu_t *vcpu, vmm_cpuid_entry_t *entries,
                       size_t capacity, size_t *count) {
  CHECK_PTR(count, "vmm_vcpu_get_cpuid");
  if (!entries && capacity)
    return vmm__error(VMM_EINVAL, "vmm_vcpu_get_cpuid: entries is NULL");
  VCPU_STATE_CALL("vmm_vcpu_get_cpuid",
                  vcpu->vm->ops->get_cpuid(vcpu->bvcpu, entries, capacity,
                                           count));
}
int vmm_vcpu_set_cpuid(vmm_vcpu_t *vcpu, const vmm_cpuid_entry_t *entries,
                       size_t count) {
  CHECK_PTR(entries, "vmm_vcpu_set_cpuid");
  if (count == 0 || count > MAX_CPUID)
    return vmm__error(VMM_ERANGE, "vmm_vcpu_set_cpuid: count %zu not in "
                      "1..%d", count, MAX_CPUID);
  VCPU_STATE_CALL("vmm_vcpu_set_cpuid",
                  vcpu->vm->ops->set_cpuid(vcpu->bvcpu, entries, count));
}
int vmm_vcpu_set_debug(vmm_vcpu_t *vcpu, uint32_t flags) {
  if (flags & ~(VMM_DEBUG_SINGLESTEP | VMM_DEBUG_SW_BREAKPOINTS))
    return vmm__error(VMM_EINVAL, "vmm_vcpu_set_debug: unknown flags 0x%x",
                      flags);
  VCPU_STATE_CALL("vmm_vcpu_set_debug",
                  vcpu->vm->ops->set_debug(vcpu->bvcpu, flags, NULL));
}

int vmm_vm_get_supported_cpuid(vmm_vm_t *vm, vmm_cpuid_entry_t *entries,
                               size_t capacity, size_t *count) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_get_supported_cpuid: not a live VM");
  CHECK_PTR(count, "vmm_vm_get_supported_cpuid");
  if (!entries && capacity)
    return vmm__error(VMM_EINVAL, "vmm_vm_get_supported_cpuid: entries is "
                      "NULL");
  return vm->ops->supported_cpuid(vm->bvm, entries, capacity, count);
}

/* ---- multiprocessor state --------------------------------------------- */

int vmm_vcpu_get_mp_state(vmm_vcpu_t *vcpu, uint32_t *state) {
  CHECK_PTR(state, "vmm_vcpu_get_mp_state");
  if (vmm__handle_valid(vcpu, VMM__H_VCPU) && !vcpu->vm->ops->get_mp_state)
    return vmm__error(VMM_ENOTSUP, "vmm_vcpu_get_mp_state: backend %s "
                      "does not report it", vcpu->vm->ops->name);
  VCPU_STATE_CALL("vmm_vcpu_get_mp_state",
                  vcpu->vm->ops->get_mp_state(vcpu->bvcpu, state));
}

const char *vmm_mp_state_name(uint32_t state) {
  static const char *const names[] = {"runnable", "uninitialized",
                                      "init-received", "halted",
                                      "sipi-received", "other"};
  return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}
