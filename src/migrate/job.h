/* src/migrate/job.h — a background migration per VM, for the control
 * socket's "migrate" command (job.c). */
#ifndef VMM__MIGRATE_JOB_H
#define VMM__MIGRATE_JOB_H

#include <libvmm/libvmm.h>

/* Connects to the unix socket at `path` and migrates the VM there on a
 * thread; returns once the thread runs. VMM_EBUSY while one runs. */
int vmm__migrate_job_start(vmm_vm_t *vm, const char *path);

struct vmm__mig_job_info {
  const char *state; /* "running", "succeeded", "failed" */
  char path[108];
  char error[512];
  vmm_migrate_stats_t st;
};
/* 1 and `info` filled when the VM has (had) a job, else 0. */
int vmm__migrate_job_info(vmm_vm_t *vm, struct vmm__mig_job_info *info);
/* First thing vmm_vm_destroy() does: cuts a running job short and waits
 * for its thread; no job can start afterwards (also when the destroy then
 * fails with VMM_EBUSY). Safe to call again. */
void vmm__migrate_job_destroy(vmm_vm_t *vm);

#endif
