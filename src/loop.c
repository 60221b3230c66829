/* src/loop.c — the VM's libuv loop: its thread, cross-thread calls, fd polls, work. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <libvmm/uv.h>

#include "error.h"
#include "loop.h"
#include "irq_internal.h"
#include "loop_internal.h"
#include "sandbox_internal.h"
#include "vm_internal.h"

struct call {
  void (*fn)(void *opaque);
  void *opaque;
  struct call *next;
};

struct vmm__loop {
  vmm_vm_t *vm;
  uv_loop_t *uv;   /* the loop in use: libvmm's (malloc'ed) or the embedder's */
  bool owned;
  bool thread_started;
  pthread_t thread;    /* the thread that runs the loop */
  bool thread_known;   /* `thread` is valid (owned: started; else: set) */
  uv_async_t wake;     /* calls and stop requests */
  pthread_mutex_t mu;
  struct call *head, *tail;
  bool stopping;
  unsigned inflight;   /* thread-pool items not yet done */
};

struct vmm__poll {
  uv_poll_t handle;
  void (*cb)(void *opaque);
  void *opaque;
};

struct work {
  uv_work_t req;
  struct vmm__loop *loop;
  void (*work)(void *opaque);
  void (*done)(void *opaque);
  void *opaque;
};

/* Runs the queued calls; on the loop thread. */
static void on_wake(uv_async_t *async) {
  struct vmm__loop *l = async->data;
  pthread_mutex_lock(&l->mu);
  struct call *c = l->head;
  l->head = l->tail = NULL;
  bool stopping = l->stopping;
  pthread_mutex_unlock(&l->mu);
  while (c) {
    struct call *next = c->next;
    c->fn(c->opaque);
    free(c);
    c = next;
  }
  if (stopping && l->owned)
    uv_stop(l->uv);
}

static int loop_create(vmm_vm_t *vm, uv_loop_t *embedder) {
  struct vmm__loop *l = calloc(1, sizeof(*l));
  if (!l)
    return vmm__error(VMM_ENOMEM, "out of memory for the event loop");
  pthread_mutex_init(&l->mu, NULL);
  l->vm = vm;
  if (embedder) {
    l->uv = embedder;
    /* vmm_vm_use_loop() is documented to be called on the loop's thread. */
    l->thread = pthread_self();
    l->thread_known = true;
  } else {
    /* Separate from `l`: the loop outlives it by one run at destruction,
     * when the close callback of the wake handle frees `l`. */
    l->uv = malloc(sizeof(*l->uv));
    int rc = l->uv ? uv_loop_init(l->uv) : UV_ENOMEM;
    if (rc < 0) {
      free(l->uv);
      pthread_mutex_destroy(&l->mu);
      free(l);
      return vmm__error(VMM_ENOMEM, "uv_loop_init: %s", uv_strerror(rc));
    }
    l->owned = true;
  }
  int rc = uv_async_init(l->uv, &l->wake, on_wake);
  if (rc < 0) {
    if (l->owned) {
      uv_loop_close(l->uv);
      free(l->uv);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
    return vmm__error(VMM_EIO, "uv_async_init: %s", uv_strerror(rc));
  }
  l->wake.data = l;
  vm->loop = l;
  return 0;
}

/* The VM's loop, created on first use. Callers hold no VM lock. */
static int loop_get(vmm_vm_t *vm, struct vmm__loop **out) {
  if (!vm->loop) {
    int rc = loop_create(vm, NULL);
    if (rc < 0)
      return rc;
  }
  *out = vm->loop;
  return 0;
}

int vmm_vm_use_loop(vmm_vm_t *vm, struct uv_loop_s *loop) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_use_loop: not a live VM handle");
  if (!loop)
    return vmm__error(VMM_EINVAL, "vmm_vm_use_loop: loop is NULL");
  if (vm->loop || vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vm_use_loop: the VM already has a "
                      "loop or was started (call this before creating "
                      "devices)");
  return loop_create(vm, loop);
}

int vmm__loop_call(vmm_vm_t *vm, void (*fn)(void *opaque), void *opaque) {
  struct vmm__loop *l = vm->loop;
  if (!l)
    return vmm__error(VMM_ESTATE, "the VM has no event loop yet");
  struct call *c = malloc(sizeof(*c));
  if (!c)
    return vmm__error(VMM_ENOMEM, "out of memory for a loop call");
  c->fn = fn;
  c->opaque = opaque;
  c->next = NULL;
  pthread_mutex_lock(&l->mu);
  if (l->tail)
    l->tail->next = c;
  else
    l->head = c;
  l->tail = c;
  pthread_mutex_unlock(&l->mu);
  uv_async_send(&l->wake);
  return 0;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct vmm__poll *p = h->data;
  (void)events;
  /* An error status (e.g. the fd was closed under us) still calls back:
   * the device's own read then sees the problem and fails cleanly. */
  (void)status;
  p->cb(p->opaque);
}

int vmm__loop_poll(vmm_vm_t *vm, int fd, void (*cb)(void *opaque),
                   void *opaque, struct vmm__poll **out) {
  struct vmm__loop *l;
  int rc = loop_get(vm, &l);
  if (rc < 0)
    return rc;
  struct vmm__poll *p = calloc(1, sizeof(*p));
  if (!p)
    return vmm__error(VMM_ENOMEM, "out of memory for a poll");
  p->cb = cb;
  p->opaque = opaque;
  rc = uv_poll_init(l->uv, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return vmm__error(VMM_EIO, "uv_poll_init(fd %d): %s", fd,
                      uv_strerror(rc));
  }
  p->handle.data = p;
  rc = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (rc < 0) {
    uv_close((uv_handle_t *)&p->handle, (uv_close_cb)free);
    return vmm__error(VMM_EIO, "uv_poll_start(fd %d): %s", fd,
                      uv_strerror(rc));
  }
  *out = p;
  return 0;
}

static void poll_closed(uv_handle_t *h) { free(h->data); }

void vmm__loop_poll_close(struct vmm__poll *p) {
  if (!p)
    return;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, poll_closed);
}

static void work_run(uv_work_t *req) {
  struct work *w = req->data;
  w->work(w->opaque);
}

static void work_done(uv_work_t *req, int status) {
  struct work *w = req->data;
  (void)status; /* cancellation is never requested */
  w->loop->inflight--;
  if (w->done)
    w->done(w->opaque);
  free(w);
}

int vmm__loop_work(vmm_vm_t *vm, void (*work)(void *opaque),
                   void (*done)(void *opaque), void *opaque) {
  struct vmm__loop *l;
  int rc = loop_get(vm, &l);
  if (rc < 0)
    return rc;
  struct work *w = calloc(1, sizeof(*w));
  if (!w)
    return vmm__error(VMM_ENOMEM, "out of memory for loop work");
  w->loop = l;
  w->work = work;
  w->done = done;
  w->opaque = opaque;
  w->req.data = w;
  rc = uv_queue_work(l->uv, &w->req, work_run, work_done);
  if (rc < 0) {
    free(w);
    return vmm__error(VMM_EIO, "uv_queue_work: %s", uv_strerror(rc));
  }
  l->inflight++;
  return 0;
}

struct uv_loop_s *vmm__loop_uv(vmm_vm_t *vm) {
  struct vmm__loop *l;
  return loop_get(vm, &l) < 0 ? NULL : l->uv;
}

struct waited_call {
  void (*fn)(void *opaque);
  void *opaque;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool done;
};

static void waited_call_run(void *arg) {
  struct waited_call *w = arg;
  w->fn(w->opaque);
  pthread_mutex_lock(&w->mu);
  w->done = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
}

int vmm__loop_call_wait(vmm_vm_t *vm, void (*fn)(void *opaque), void *opaque) {
  struct vmm__loop *l;
  int rc = loop_get(vm, &l);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&l->mu);
  /* Another thread runs the loop: libvmm's loop thread, or the embedder's
   * (whose thread is known from vmm_vm_use_loop()). */
  bool remote = (l->owned ? l->thread_started : l->thread_known) &&
                !pthread_equal(l->thread, pthread_self());
  if (!remote) {
    /* Holding `mu` keeps vmm__loop_start() from starting the thread
     * while `fn` touches the loop from here. */
    fn(opaque);
    pthread_mutex_unlock(&l->mu);
    return 0;
  }
  pthread_mutex_unlock(&l->mu);
  struct waited_call w = {.fn = fn, .opaque = opaque, .done = false};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cond, NULL);
  rc = vmm__loop_call(vm, waited_call_run, &w);
  if (rc == 0) {
    pthread_mutex_lock(&w.mu);
    while (!w.done)
      pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
  }
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cond);
  return rc;
}

bool vmm__loop_on_thread(vmm_vm_t *vm) {
  struct vmm__loop *l = vm->loop;
  return l && l->thread_known && pthread_equal(l->thread, pthread_self());
}

/* ---- life cycle (run.c and vm.c) ------------------------------------ */

static void pool_warm(void *opaque) { (void)opaque; }

static void *loop_main(void *arg) {
  struct vmm__loop *l = arg;
  /* Signals belong to the embedder's threads, not to libvmm's. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  uint32_t sandbox = atomic_load(&l->vm->sandbox);
  if (sandbox) {
    /* libuv's thread pool is the process's, not this VM's: have it started
     * (by the first work item) before the filter, which would refuse the
     * thread creation and is inherited by threads made under it. */
    if (vmm__loop_work(l->vm, pool_warm, NULL, NULL) < 0 ||
        vmm__sandbox_enter(sandbox) < 0)
      vmm__vm_request_stop(l->vm, VMM_STOP_ERROR, VMM_EIO,
                           vmm_last_error());
  }
  uv_run(l->uv, UV_RUN_DEFAULT);
  return NULL;
}

int vmm__loop_start(vmm_vm_t *vm) {
  /* Everything that puts work on the loop (device polls, back-end fds)
   * is set up before the start and creates the loop then; a VM that has
   * none gets no loop and no loop thread: with many small VMs in one
   * process that is a thread, two descriptors and the loop's fd-indexed
   * watcher array saved per VM (docs/fleet.md). */
  struct vmm__loop *l = vm->loop;
  if (!l || !l->owned)
    return 0;
  int rc = 0;
  /* Publish the thread id before the loop can run anything that asks.
   * Checked under the lock: a control socket opened on a started VM
   * (vmm_vm_control_listen) may start the thread too. */
  pthread_mutex_lock(&l->mu);
  if (l->thread_started) {
    pthread_mutex_unlock(&l->mu);
    return 0;
  }
  rc = pthread_create(&l->thread, NULL, loop_main, l);
  if (rc == 0)
    l->thread_started = l->thread_known = true;
  pthread_mutex_unlock(&l->mu);
  if (rc)
    return vmm__error(VMM_EAGAIN, "cannot start the loop thread: %s",
                      strerror(rc));
  return 0;
}

/* Runs the loop on this thread until no work is in flight: done callbacks
 * reference device state that is about to go. */
static void drain(struct vmm__loop *l) {
  while (l->inflight)
    uv_run(l->uv, UV_RUN_ONCE);
}

int vmm__loop_stop(vmm_vm_t *vm) {
  struct vmm__loop *l = vm->loop;
  if (!l)
    return 0;
  if (l->owned && l->thread_started) {
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->wake);
    pthread_join(l->thread, NULL);
    l->thread_started = false;
    l->thread_known = false;
    l->stopping = false;
  }
  if (l->owned) {
    /* Calls queued after the loop stopped still run, here. */
    on_wake(&l->wake);
    drain(l);
  } else if (l->inflight) {
    return vmm__error(VMM_EBUSY, "device work is still in flight on the "
                      "embedder's loop: destroy the VM from a later loop "
                      "iteration");
  }
  return 0;
}

static void wake_closed(uv_handle_t *h) {
  struct vmm__loop *l = h->data;
  pthread_mutex_destroy(&l->mu);
  free(l);
}

void vmm__loop_destroy(vmm_vm_t *vm) {
  struct vmm__loop *l = vm->loop;
  if (!l)
    return;
  vm->loop = NULL;
  bool owned = l->owned;
  uv_loop_t *uv = l->uv;
  uv_close((uv_handle_t *)&l->wake, wake_closed);
  if (owned) {
    /* Let every close callback (devices' polls, the wake handle) run;
     * `l` is freed by the last one, so keep nothing from it. */
    uv_run(uv, UV_RUN_DEFAULT);
    uv_loop_close(uv);
    free(uv);
  }
}
