/* src/run.c — running a VM on libvmm's threads: start, pause, resume, stop, wait. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "gdbstub/gdbstub_internal.h"
#include "irq_internal.h"
#include "loop_internal.h"
#include "run_internal.h"
#include "sandbox_internal.h"
#include "vm_internal.h"

struct vmm__run {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  _Atomic int state;         /* vmm_vm_state_t */
  bool stop_requested;
  vmm_vm_stop_info_t info;   /* valid once stop_requested */
  bool pause_requested;
  bool debug_hold;           /* the gdb stub holds the vCPUs (gdbstub.c) */
  uint32_t debug_only;       /* ... except this one (single step) */
  unsigned threads;          /* vCPU threads started */
  unsigned parked;           /* of them, waiting in pause */
  unsigned exited;           /* of them, finished */
  bool joined;
  pthread_t *tids;
  vmm_vm_state_fn state_fn;
  void *state_opaque;
  vmm_vm_exit_fn exit_fn;
  void *exit_opaque;
};

int vmm__run_init(vmm_vm_t *vm) {
  struct vmm__run *r = calloc(1, sizeof(*r));
  if (!r)
    return vmm__error(VMM_ENOMEM, "out of memory for the VM's run state");
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cond, NULL);
  atomic_init(&r->state, VMM_VM_CREATED);
  vm->run = r;
  return 0;
}

void vmm__run_fini(vmm_vm_t *vm) {
  struct vmm__run *r = vm->run;
  if (!r)
    return;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cond);
  free(r->tids);
  free(r);
  vm->run = NULL;
}

/* Changes the state under r->mu and tells the callback after unlocking. */
static void set_state_locked(vmm_vm_t *vm, vmm_vm_state_t s,
                             vmm_vm_state_t *old) {
  *old = (vmm_vm_state_t)atomic_exchange(&vm->run->state, (int)s);
  pthread_cond_broadcast(&vm->run->cond);
}

static void notify(vmm_vm_t *vm, vmm_vm_state_t old, vmm_vm_state_t s) {
  struct vmm__run *r = vm->run;
  if (old != s && r->state_fn)
    r->state_fn(vm, old, s, r->state_opaque);
}

vmm_vm_state_t vmm_vm_state(const vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return VMM_VM_STOPPED;
  return (vmm_vm_state_t)atomic_load(&vm->run->state);
}

int vmm_vm_on_state_change(vmm_vm_t *vm, vmm_vm_state_fn fn, void *opaque) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_on_state_change: not a live VM");
  pthread_mutex_lock(&vm->run->mu);
  vm->run->state_fn = fn;
  vm->run->state_opaque = opaque;
  pthread_mutex_unlock(&vm->run->mu);
  return 0;
}

int vmm_vm_on_exit(vmm_vm_t *vm, vmm_vm_exit_fn fn, void *opaque) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_on_exit: not a live VM");
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vm_on_exit: set it before start");
  vm->run->exit_fn = fn;
  vm->run->exit_opaque = opaque;
  return 0;
}

/* Kicks every vCPU out of the guest (to see a pause or stop request). */
static void kick_all(vmm_vm_t *vm) {
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    if (vm->vcpus[i])
      vmm_vcpu_kick(vm->vcpus[i]);
}

void vmm__vm_request_stop(vmm_vm_t *vm, uint32_t reason, int status,
                          const char *message) {
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  if (!r->stop_requested) {
    r->stop_requested = true;
    r->info.reason = reason;
    r->info.status = status;
    r->info.vcpu = UINT32_MAX;
    snprintf(r->info.message, sizeof(r->info.message), "%s",
             message ? message : "");
  }
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mu);
  kick_all(vm);
}

/* The same from a vCPU thread, with the vCPU and error recorded. */
static void stop_from_vcpu(vmm_vcpu_t *vcpu, uint32_t reason, int error,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stop_from_vcpu(vmm_vcpu_t *vcpu, uint32_t reason, int error,
                           const char *fmt, ...) {
  struct vmm__run *r = vcpu->vm->run;
  char msg[sizeof(r->info.message)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&r->mu);
  bool first = !r->stop_requested;
  pthread_mutex_unlock(&r->mu);
  vmm__vm_request_stop(vcpu->vm, reason, 0, msg);
  if (first) {
    pthread_mutex_lock(&r->mu);
    r->info.vcpu = vcpu->id;
    r->info.error = error;
    pthread_mutex_unlock(&r->mu);
  }
}

/* Waits while paused; false when the thread should end. */
static bool may_run(struct vmm__run *r, uint32_t id) {
  pthread_mutex_lock(&r->mu);
  while ((r->pause_requested || (r->debug_hold && r->debug_only != id)) &&
         !r->stop_requested) {
    r->parked++;
    pthread_cond_broadcast(&r->cond);
    pthread_cond_wait(&r->cond, &r->mu);
    r->parked--;
  }
  bool go = !r->stop_requested;
  pthread_mutex_unlock(&r->mu);
  return go;
}

/* The treatment of an exit nobody consumed; false ends the thread. */
static bool default_exit(vmm_vcpu_t *vcpu, vmm_exit_t *e) {
  switch (e->reason) {
  case VMM_EXIT_KICKED:
    return true;
  case VMM_EXIT_IO:
    /* An empty bus: reads float high, writes go nowhere. */
    if (!e->u.io.is_write)
      memset(e->u.io.data, 0xff, (size_t)e->u.io.size * e->u.io.count);
    return true;
  case VMM_EXIT_MMIO:
    if (!e->u.mmio.is_write)
      memset(e->u.mmio.data, 0xff, e->u.mmio.size);
    return true;
  case VMM_EXIT_HYPERCALL:
    e->u.hypercall.ret = (uint64_t)(int64_t)VMM_ENOSYS;
    return true;
  case VMM_EXIT_HLT:
    stop_from_vcpu(vcpu, VMM_STOP_HALT, 0, "vCPU %u halted (no interrupt "
                   "controller to wake it)", vcpu->id);
    return false;
  case VMM_EXIT_SHUTDOWN:
    stop_from_vcpu(vcpu, VMM_STOP_SHUTDOWN, 0, "vCPU %u: triple fault or "
                   "shutdown", vcpu->id);
    return false;
  case VMM_EXIT_DEBUG:
    stop_from_vcpu(vcpu, VMM_STOP_DEBUG, 0, "vCPU %u: debug exit at rip "
                   "0x%llx", vcpu->id, (unsigned long long)e->u.debug.rip);
    return false;
  default:
    stop_from_vcpu(vcpu, VMM_STOP_ERROR, VMM_EBACKEND, "vCPU %u: %s",
                   vcpu->id, vmm_last_error());
    return false;
  }
}

static void *vcpu_main(void *arg) {
  vmm_vcpu_t *vcpu = arg;
  vmm_vm_t *vm = vcpu->vm;
  struct vmm__run *r = vm->run;
  /* Only the kick signal: the embedder's signals go to its own threads. */
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, vmm_kick_signal());
  pthread_sigmask(SIG_SETMASK, &set, NULL);

  uint32_t sandbox = atomic_load(&vm->sandbox);
  if (sandbox) {
    int rc = vmm__sandbox_enter(sandbox);
    if (rc < 0)
      stop_from_vcpu(vcpu, VMM_STOP_ERROR, rc, "vCPU %u: the sandbox: %s",
                     vcpu->id, vmm_last_error());
  }

  vmm_exit_t exit;
  memset(&exit, 0, sizeof(exit));
  while (may_run(r, vcpu->id)) {
    int rc = vmm_vcpu_run(vcpu, &exit);
    if (rc < 0) {
      stop_from_vcpu(vcpu, VMM_STOP_ERROR, rc, "vCPU %u: %s", vcpu->id,
                     vmm_last_error());
      break;
    }
    /* A debug exit the gdb stub caused is its stop event, not the VM's. */
    if (exit.reason == VMM_EXIT_DEBUG && vmm__gdbstub_debug_exit(vcpu, &exit))
      continue;
    if (exit.reason != VMM_EXIT_KICKED && r->exit_fn) {
      rc = r->exit_fn(vcpu, &exit, r->exit_opaque);
      if (rc < 0) {
        stop_from_vcpu(vcpu, VMM_STOP_ERROR, rc, "vCPU %u: exit handler "
                       "failed: %s (%s)", vcpu->id, vmm_err_name(rc),
                       vmm_last_error());
        break;
      }
      if (rc == 0)
        continue;
    }
    if (!default_exit(vcpu, &exit))
      break;
  }

  vmm_vm_state_t old = VMM_VM_STOPPED;
  bool last;
  pthread_mutex_lock(&r->mu);
  r->exited++;
  last = r->exited == r->threads;
  if (last) {
    vmm__vm_mark(vm, &vm->stopped_ns);
    set_state_locked(vm, VMM_VM_STOPPED, &old);
  }
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mu);
  if (last) {
    notify(vm, old, VMM_VM_STOPPED);
    vmm__gdbstub_vm_stopped(vm);
  }
  return NULL;
}

int vmm_vm_start(vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_start: not a live VM handle");
  struct vmm__run *r = vm->run;
  unsigned n = 0;
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    n += vm->vcpus[i] != NULL;
  if (n == 0)
    return vmm__error(VMM_EINVAL, "vmm_vm_start: the VM has no vCPU");
  pthread_mutex_lock(&r->mu);
  if (atomic_load(&r->state) != VMM_VM_CREATED) {
    pthread_mutex_unlock(&r->mu);
    return vmm__error(VMM_ESTATE, "vmm_vm_start: the VM was started "
                      "before");
  }
  /* Claim the state now so that a concurrent start or vCPU creation
   * fails; threads see RUNNING once they exist. */
  vmm_vm_state_t old;
  set_state_locked(vm, VMM_VM_RUNNING, &old);
  pthread_mutex_unlock(&r->mu);

  vmm__vm_mark(vm, &vm->start_ns);
  int rc = vmm__loop_start(vm);
  r->tids = calloc(n, sizeof(*r->tids));
  if (rc == 0 && !r->tids)
    rc = vmm__error(VMM_ENOMEM, "out of memory for vCPU threads");
  for (uint32_t i = 0; rc == 0 && i < vm->max_vcpus; i++) {
    if (!vm->vcpus[i])
      continue;
    pthread_mutex_lock(&r->mu);
    int e = pthread_create(&r->tids[r->threads], NULL, vcpu_main,
                           vm->vcpus[i]);
    if (e == 0)
      r->threads++;
    pthread_mutex_unlock(&r->mu);
    if (e)
      rc = vmm__error(VMM_EAGAIN, "vmm_vm_start: cannot create the thread "
                      "of vCPU %u: %s", i, strerror(e));
  }
  if (rc < 0) {
    /* Wind down what started; the VM ends up STOPPED with the error. */
    vmm__vm_request_stop(vm, VMM_STOP_ERROR, 0, vmm_last_error());
    pthread_mutex_lock(&r->mu);
    r->info.error = rc;
    if (r->threads == 0)
      set_state_locked(vm, VMM_VM_STOPPED, &old);
    pthread_mutex_unlock(&r->mu);
    return rc;
  }
  notify(vm, VMM_VM_CREATED, VMM_VM_RUNNING);
  return 0;
}

int vmm_vm_pause(vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_pause: not a live VM handle");
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  if (atomic_load(&r->state) != VMM_VM_RUNNING || r->stop_requested) {
    pthread_mutex_unlock(&r->mu);
    return vmm__error(VMM_ESTATE, "vmm_vm_pause: the VM is not running");
  }
  r->pause_requested = true;
  pthread_mutex_unlock(&r->mu);
  kick_all(vm);
  pthread_mutex_lock(&r->mu);
  while (r->parked + r->exited < r->threads)
    pthread_cond_wait(&r->cond, &r->mu);
  vmm_vm_state_t old = VMM_VM_PAUSED;
  bool paused = !r->stop_requested;
  if (paused)
    set_state_locked(vm, VMM_VM_PAUSED, &old);
  pthread_mutex_unlock(&r->mu);
  if (!paused)
    return vmm__error(VMM_ESTATE, "vmm_vm_pause: the VM stopped meanwhile");
  notify(vm, old, VMM_VM_PAUSED);
  return 0;
}

int vmm_vm_resume(vmm_vm_t *vm) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_resume: not a live VM handle");
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  if (atomic_load(&r->state) != VMM_VM_PAUSED) {
    pthread_mutex_unlock(&r->mu);
    return vmm__error(VMM_ESTATE, "vmm_vm_resume: the VM is not paused");
  }
  r->pause_requested = false;
  vmm_vm_state_t old;
  set_state_locked(vm, VMM_VM_RUNNING, &old);
  pthread_mutex_unlock(&r->mu);
  notify(vm, old, VMM_VM_RUNNING);
  return 0;
}

int vmm_vm_stop(vmm_vm_t *vm, int status) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_stop: not a live VM handle");
  if (vmm_vm_state(vm) == VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vm_stop: the VM was not started");
  vmm__vm_request_stop(vm, VMM_STOP_REQUESTED, status, "vmm_vm_stop()");
  return 0;
}

static void fill_info(struct vmm__run *r, vmm_vm_stop_info_t *info) {
  if (!info)
    return;
  size_t n = info->size < sizeof(*info) ? info->size : sizeof(*info);
  vmm_vm_stop_info_t copy = r->info;
  copy.size = n;
  if (!r->stop_requested) {
    copy.reason = VMM_STOP_NONE;
    copy.vcpu = UINT32_MAX;
  }
  memcpy(info, &copy, n);
}

int vmm_vm_wait(vmm_vm_t *vm, int timeout_ms, vmm_vm_stop_info_t *info) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_wait: not a live VM handle");
  if (info && info->size < offsetof(vmm_vm_stop_info_t, message))
    return vmm__error(VMM_EINVAL, "vmm_vm_wait: info->size %zu is too small",
                      info->size);
  struct vmm__run *r = vm->run;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  if (timeout_ms >= 0) {
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&r->mu);
  if (atomic_load(&r->state) == VMM_VM_CREATED) {
    /* A device may have stopped a VM that is run by hand. */
    bool stopped = r->stop_requested;
    if (stopped)
      fill_info(r, info);
    pthread_mutex_unlock(&r->mu);
    return stopped ? 0 : vmm__error(VMM_ESTATE, "vmm_vm_wait: the VM was "
                                    "not started");
  }
  while (r->exited < r->threads || atomic_load(&r->state) != VMM_VM_STOPPED) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&r->cond, &r->mu);
    } else if (pthread_cond_timedwait(&r->cond, &r->mu, &deadline) ==
               ETIMEDOUT) {
      pthread_mutex_unlock(&r->mu);
      return vmm__error(VMM_ETIMEDOUT, "vmm_vm_wait: still running after "
                        "%d ms", timeout_ms);
    }
  }
  bool join = !r->joined;
  r->joined = true;
  fill_info(r, info);
  pthread_mutex_unlock(&r->mu);
  if (join) {
    for (unsigned i = 0; i < r->threads; i++)
      pthread_join(r->tids[i], NULL);
  }
  return 0;
}

/* ---- holding the vCPUs for the gdb stub ---------------------------- */

void vmm__run_debug_hold(vmm_vm_t *vm, bool hold, uint32_t only) {
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  r->debug_hold = hold;
  r->debug_only = only;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mu);
  if (hold)
    for (uint32_t i = 0; i < vm->max_vcpus; i++)
      if (vm->vcpus[i] && i != only)
        vmm_vcpu_kick(vm->vcpus[i]);
}

bool vmm__run_debug_wait(vmm_vm_t *vm, int timeout_ms) {
  struct vmm__run *r = vm->run;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&r->mu);
  bool ok = true;
  while (r->parked + r->exited < r->threads && !r->stop_requested) {
    if (pthread_cond_timedwait(&r->cond, &r->mu, &deadline) == ETIMEDOUT) {
      ok = r->parked + r->exited >= r->threads;
      break;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

bool vmm__run_all_exited(vmm_vm_t *vm) {
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  bool done = atomic_load(&r->state) == VMM_VM_STOPPED;
  pthread_mutex_unlock(&r->mu);
  return done;
}

void vmm__run_stop_info(vmm_vm_t *vm, vmm_vm_stop_info_t *info) {
  struct vmm__run *r = vm->run;
  pthread_mutex_lock(&r->mu);
  *info = r->info;
  pthread_mutex_unlock(&r->mu);
}

int vmm__run_shutdown(vmm_vm_t *vm) {
  struct vmm__run *r = vm->run;
  if (atomic_load(&r->state) == VMM_VM_CREATED)
    return 0;
  vmm__vm_request_stop(vm, VMM_STOP_REQUESTED, 0, "vmm_vm_destroy()");
  return vmm_vm_wait(vm, -1, NULL);
}
