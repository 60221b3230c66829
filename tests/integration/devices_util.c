/* tests/integration/devices_util.c — the device tests' shared set-up. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include "../guests/devices.h"
#include "check.h"
#include "test_vm.h"

#include "devices_util.h"

/* ---- set-up ------------------------------------------------------------- */

/* test_vm_create() for the devices guest, with VM flags. */
int dev_vm_create(struct test_vm *t, uint32_t flags) {
  return test_vm_create_flags(t, "devices", flags);
}

/* Mode, exit port (0: a DONE ucall), exit value and size, count. */
bool set_params(struct test_vm *t, uint64_t mode, uint64_t exit_port,
                       uint64_t value, uint64_t size, uint64_t count) {
  return EXPECT_OK(test_vm_set_param(t, DEV_PARAM_MODE, mode)) &&
         EXPECT_OK(test_vm_set_param(t, DEV_PARAM_EXIT_PORT, exit_port)) &&
         EXPECT_OK(test_vm_set_param(t, DEV_PARAM_EXIT_VALUE, value)) &&
         EXPECT_OK(test_vm_set_param(t, DEV_PARAM_EXIT_SIZE, size)) &&
         EXPECT_OK(test_vm_set_param(t, DEV_PARAM_COUNT, count));
}

/* A UART at COM1 over `chr`. */
bool add_uart(struct test_vm *t, vmm_chardev_t *chr,
                     vmm_device_t **out) {
  vmm_uart_config_t cfg = VMM_UART_CONFIG_INIT;
  cfg.chardev = chr;
  return EXPECT_OK(vmm_uart_create(t->vm, &cfg, out));
}

/* Everything a buffer back-end holds (up to `max` - 1 bytes), as a string. */
size_t drain(vmm_chardev_t *chr, char *buf, size_t max) {
  size_t len = 0;
  for (;;) {
    int n = vmm_chardev_buffer_read(chr, buf + len, max - 1 - len);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = 0;
  return len;
}

void pattern(uint8_t *buf, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t)(' ' + (i * 7 + seed) % 95);
}

uint64_t echo_sum(const uint8_t *buf, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum = sum * 31 + buf[i];
  return sum;
}

/* ---- VMs on libvmm's threads: ucalls through vmm_vm_on_exit() ----------- */


int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct ucall_log *log = opaque;
  if (e->reason != VMM_EXIT_IO || e->u.io.port != UCALL_PORT ||
      e->u.io.size != 4 || !e->u.io.is_write)
    return 1; /* the default treatment */
  vmm_vm_t *vm = vmm_vcpu_vm(vcpu);
  uint32_t gpa;
  struct ucall uc;
  memcpy(&gpa, e->u.io.data, 4);
  if (vmm_mem_read(vm, gpa, &uc, sizeof(uc)) < 0 || uc.magic != UCALL_MAGIC)
    return VMM_EINVAL;
  uc.text[UCALL_TEXT_MAX - 1] = 0;
  pthread_mutex_lock(&log->mu);
  switch (uc.cmd) {
  case UCALL_PRINT:
    printf("    guest: %s\n", uc.text);
    break;
  case UCALL_SYNC:
    log->syncs++;
    log->last_sync = uc;
    break;
  case UCALL_DONE:
    log->done = true;
    vmm_vm_stop(vm, 0);
    break;
  case UCALL_ABORT:
    log->aborted = true;
    memcpy(log->abort_text, uc.text, sizeof(uc.text));
    vmm_vm_stop(vm, -1);
    break;
  }
  pthread_mutex_unlock(&log->mu);
  return 0;
}

bool start(struct test_vm *t, struct ucall_log *log) {
  memset(log, 0, sizeof(*log));
  pthread_mutex_init(&log->mu, NULL);
  return EXPECT_OK(vmm_vm_on_exit(t->vm, on_exit_ucall, log)) &&
         EXPECT_OK(vmm_vm_start(t->vm));
}

/* Waits for the VM to stop by itself; false (and a stopped VM) if it
 * did not, or if the guest aborted. */
bool wait_stopped(struct test_vm *t, struct ucall_log *log,
                         vmm_vm_stop_info_t *info) {
  memset(info, 0, sizeof(*info));
  info->size = sizeof(*info);
  int rc = vmm_vm_wait(t->vm, WAIT_MS, info);
  if (rc == VMM_ETIMEDOUT) {
    vmm_vm_stop(t->vm, -1);
    vmm_vm_wait(t->vm, -1, info);
  }
  bool ok = EXPECT_OK(rc);
  pthread_mutex_lock(&log->mu);
  ok &= EXPECT_TRUEF(!log->aborted, "guest aborted: %s", log->abort_text);
  pthread_mutex_unlock(&log->mu);
  return ok;
}

/* Waits until the guest has made `n` SYNCs (it is ready for input). */
bool wait_syncs(struct ucall_log *log, unsigned n) {
  for (int i = 0; i < WAIT_MS / 2; i++) {
    pthread_mutex_lock(&log->mu);
    bool ok = log->syncs >= n, over = log->aborted || log->done;
    pthread_mutex_unlock(&log->mu);
    if (ok || over)
      return EXPECT_TRUEF(ok, "the guest ended before SYNC %u", n);
    usleep(2000);
  }
  return EXPECT_TRUEF(false, "no SYNC %u from the guest", n);
}


