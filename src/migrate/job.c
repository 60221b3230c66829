/* src/migrate/job.c — a migration run on a thread of its own for the
 * control socket's "migrate" command: connects to the destination's unix
 * socket, migrates, and on success stops the VM here (it runs there now).
 * The loop thread that took the request keeps serving devices meanwhile;
 * vmm_vm_destroy() cuts a job short (its stream is shut down, the VM
 * resumed) and waits for its thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "migrate/job.h"
#include "vm_internal.h"

struct vmm__mig_job {
  vmm_vm_t *vm;
  pthread_t thread;
  int fd;          /* -1 once the thread closed it */
  bool done;
  int rc;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  char error[512];
  vmm_migrate_stats_t st;
};

/* vm->migration once the VM is being destroyed: no new job. */
static struct vmm__mig_job closed_marker;
/* Guards every VM's `migration` pointer and its job's fields. */
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;

static void *job_thread(void *arg) {
  struct vmm__mig_job *j = arg;
  vmm_migrate_stats_t st = {.size = sizeof(st)};
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.stats = &st;
  int rc = vmm_vm_migrate_send(j->vm, j->fd, &o);
  char error[512] = "";
  if (rc < 0)
    snprintf(error, sizeof(error), "%s", vmm_last_error());
  /* The outcome first: whoever sees the VM stop may ask for it. */
  pthread_mutex_lock(&jobs_lock);
  j->rc = rc;
  j->st = st;
  memcpy(j->error, error, sizeof(error));
  close(j->fd);
  j->fd = -1;
  j->done = true;
  pthread_mutex_unlock(&jobs_lock);
  if (rc == 0)
    vmm_vm_stop(j->vm, 0); /* the VM lives on at the destination */
  return NULL;
}

int vmm__migrate_job_start(vmm_vm_t *vm, const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
    return vmm__error(VMM_EINVAL, "migrate: \"path\" must be a unix socket "
                      "path of 1..%zu bytes", sizeof(sa.sun_path) - 1);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  /* The request runs on the loop thread: in the sandbox it may neither
   * open a socket nor start a thread (and with VMM_SANDBOX_KILL trying
   * would end the process). */
  if (atomic_load(&vm->sandbox))
    return vmm__error(VMM_ENOTSUP, "migrate: not available while the VM's "
                      "threads are sandboxed (they may not open sockets or "
                      "start threads); run without the sandbox, or have the "
                      "program call vmm_vm_migrate_send()");
  pthread_mutex_lock(&jobs_lock);
  struct vmm__mig_job *old = vm->migration;
  int rc = 0;
  if (old == &closed_marker)
    rc = vmm__error(VMM_ESTATE, "migrate: the VM is being destroyed");
  else if (old && !old->done)
    rc = vmm__error(VMM_EBUSY, "migrate: a migration to %s is under way",
                    old->path);
  pthread_mutex_unlock(&jobs_lock);
  if (rc < 0)
    return rc;
  vmm_vm_state_t state = vmm_vm_state(vm);
  if (state != VMM_VM_RUNNING && state != VMM_VM_PAUSED)
    return vmm__error(VMM_ESTATE, "migrate: the VM is not running or "
                      "paused");

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return vmm__error(VMM_EIO, "migrate: socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    rc = vmm__error(errno == ENOENT ? VMM_ENOENT : VMM_EIO,
                    "migrate: cannot connect to %s: %s", path,
                    strerror(errno));
    close(fd);
    return rc;
  }
  struct vmm__mig_job *j = calloc(1, sizeof(*j));
  if (!j) {
    close(fd);
    return vmm__error(VMM_ENOMEM, "out of memory");
  }
  j->vm = vm;
  j->fd = fd;
  snprintf(j->path, sizeof(j->path), "%s", path);

  pthread_mutex_lock(&jobs_lock);
  old = vm->migration;
  if (old == &closed_marker || (old && !old->done)) {
    rc = vmm__error(VMM_EBUSY, "migrate: the VM changed meanwhile");
  } else if ((rc = pthread_create(&j->thread, NULL, job_thread, j)) != 0) {
    rc = vmm__error(VMM_ENOMEM, "migrate: no thread: %s", strerror(rc));
  } else {
    vm->migration = j;
    rc = 0;
  }
  pthread_mutex_unlock(&jobs_lock);
  if (rc < 0) {
    close(fd);
    free(j);
    return rc;
  }
  if (old) { /* a finished job: its thread has ended or is about to */
    pthread_join(old->thread, NULL);
    free(old);
  }
  return 0;
}

int vmm__migrate_job_info(vmm_vm_t *vm, struct vmm__mig_job_info *info) {
  memset(info, 0, sizeof(*info));
  pthread_mutex_lock(&jobs_lock);
  struct vmm__mig_job *j = vm->migration;
  bool have = j && j != &closed_marker;
  if (have) {
    info->state = !j->done ? "running" : j->rc == 0 ? "succeeded" : "failed";
    snprintf(info->path, sizeof(info->path), "%s", j->path);
    snprintf(info->error, sizeof(info->error), "%s", j->error);
    info->st = j->st;
  }
  pthread_mutex_unlock(&jobs_lock);
  return have ? 1 : 0;
}

void vmm__migrate_job_destroy(vmm_vm_t *vm) {
  pthread_mutex_lock(&jobs_lock);
  struct vmm__mig_job *j = vm->migration;
  if (j == &closed_marker) /* a second call (the first destroy failed) */
    j = NULL;
  vm->migration = &closed_marker;
  if (j && j->fd >= 0)
    shutdown(j->fd, SHUT_RDWR); /* the job's next read or write fails */
  pthread_mutex_unlock(&jobs_lock);
  if (j) {
    pthread_join(j->thread, NULL);
    free(j);
  }
}
