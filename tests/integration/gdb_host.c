/* tests/integration/gdb_host.c — runs the gdb test guest on libvmm's
 * threads with the gdb stub listening, for gdb_test.py:
 *   gdb_host GUEST.elf ADDR [PARAM0]
 * (ADDR: tcp:127.0.0.1:PORT or unix:PATH; PARAM0: guest parameter 0)
 * ("none": no stub, for comparison). Prints "listening" once the stub listens, then the guest's console and
 * how the VM stopped. Exits 77 when the backend cannot run here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_vm.h"

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: gdb_host GUEST.elf ADDR [PARAM0]\n");
    return 2;
  }
  if (test_guest_add("gdb", argv[1]) < 0)
    return 2;
  struct test_vm t;
  int rc = test_vm_create(&t, "gdb");
  if (rc < 0) {
    fprintf(stderr, "gdb_host: %s\n", t.error);
    return rc == VMM_ENODEV || rc == VMM_ENOTSUP ? 77 : 1;
  }
  if (argc == 4 && test_vm_set_param(&t, 0, strtoull(argv[3], NULL, 0)) < 0)
    return 1;
  rc = strcmp(argv[2], "none") ? vmm_gdbstub_start(t.vm, argv[2]) : 0;
  if (rc < 0) {
    fprintf(stderr, "gdb_host: vmm_gdbstub_start: %s\n", vmm_last_error());
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  rc = vmm_vm_start(t.vm);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (rc == 0)
    rc = vmm_vm_wait(t.vm, 120000, &info);
  if (rc < 0) {
    fprintf(stderr, "gdb_host: %s\n", vmm_last_error());
    return 1;
  }
  printf("console: %.*s", (int)t.console_len, t.console);
  printf("stopped: reason=%u status=%d %s\n", info.reason, info.status,
         info.message);
  vmm_gdbstub_stop(t.vm);
  test_vm_destroy(&t);
  return 0;
}
