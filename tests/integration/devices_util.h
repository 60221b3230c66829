/* tests/integration/devices_util.h — set-up shared by the device tests:
 * a VM with the devices guest, UARTs over back-ends, started VMs whose
 * ucalls arrive through vmm_vm_on_exit(). */
#ifndef DEVICES_UTIL_H
#define DEVICES_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../guests/devices.h"
#include "check.h"
#include "test_vm.h"

#define WAIT_MS 30000 /* for a started VM to stop by itself */

struct ucall_log {
  pthread_mutex_t mu;
  unsigned syncs;
  struct ucall last_sync;
  bool done, aborted;
  char abort_text[UCALL_TEXT_MAX];
};

#define DEV_CREATE(t, flags)                                                   \
  check_true(dev_vm_create((t), (flags)) == 0, __LINE__, "dev_vm_create",      \
             "%s", (t)->error)

#define EXPECT_STOP(info, want_reason, want_status)                            \
  do {                                                                         \
    EXPECT_TRUEF((info).reason == (want_reason),                               \
                 "stop reason %u (%s), want "                                  \
                 "%u",                                                         \
                 (info).reason, (info).message, (unsigned)(want_reason));      \
    EXPECT_EQ((uint32_t)(info).status, (uint32_t)(want_status));               \
  } while (0)

int dev_vm_create(struct test_vm *t, uint32_t flags);
bool set_params(struct test_vm *t, uint64_t mode, uint64_t exit_port,
                uint64_t value, uint64_t size, uint64_t count);
bool add_uart(struct test_vm *t, vmm_chardev_t *chr, vmm_device_t **out);
size_t drain(vmm_chardev_t *chr, char *buf, size_t max);
void pattern(uint8_t *buf, size_t n, unsigned seed);
uint64_t echo_sum(const uint8_t *buf, size_t n);
int on_exit_ucall(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque);
bool start(struct test_vm *t, struct ucall_log *log);
bool wait_stopped(struct test_vm *t, struct ucall_log *log,
                  vmm_vm_stop_info_t *info);
bool wait_syncs(struct ucall_log *log, unsigned n);

/* Tests of the character back-ends (devices_backend_test.c). */
void test_uart_file(void);
void test_uart_socket(void);
void test_uart_stdio(void);

#endif
