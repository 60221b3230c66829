/* tests/fuzz/migrate_recv_fuzz.c — the libFuzzer entry point for the
 * receiving side of live migration (src/migrate/recv.c and proto.c,
 * vmm_vm_migrate_recv()). The input is the byte stream from a "source":
 * it is written into a socketpair whose writing end is then shut, and
 * received with VMM_MIGRATE_NO_START. Invariants: a failure leaves no VM
 * and says why; a success (only possible with a valid state blob) gives a
 * VM that can be destroyed. Byte 0, bit 0: recompute every record's
 * checksum before feeding the rest (so that mutations reach the checks
 * behind the checksum; a 64-bit hash is beyond libFuzzer's guessing);
 * clear: the bytes as they are. Needs /dev/kvm to build VMs from the
 * descriptions: without it the target exits 77 (a skipped test). Run
 * under every build by fuzz_driver.c over tests/fuzz/corpus-migrate. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

#include "../integration/migrate_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What fits into a socketpair's buffer without a writer thread. */
#define MAX_INPUT (128u << 10)

static void invariant(int ok, const char *what) {
  if (ok)
    return;
  fprintf(stderr, "migrate_recv_fuzz: invariant broken: %s (%s)\n", what,
          vmm_last_error());
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int probed;
  if (!probed) {
    if (vmm_backend_probe("kvm") < 0) {
      fprintf(stderr, "migrate_recv_fuzz: no KVM (%s): skipped\n",
              vmm_last_error());
      exit(77);
    }
    probed = 1;
  }
  if (size == 0)
    return 0;
  bool fix = data[0] & 1;
  data++;
  size--;
  if (size > MAX_INPUT)
    size = MAX_INPUT;
  /* The description builds a real VM: one that names files, sockets or
   * tap devices would have the fuzzer create and truncate files on this
   * machine. Such inputs are skipped (the recv side's checks before and
   * after the description do not depend on them). */
  static const char *const unsafe[] = {"path", "chardev", "tap", "files"};
  for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
    if (memmem(data, size, unsafe[i], strlen(unsafe[i])))
      return 0;
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  /* Walk the records as their headers say and put the right checksum
   * after each one that fits. */
  for (size_t off = 0; fix && size - off >= MIGW_HDR + 8;) {
    uint64_t len = migw_get64(copy + off + 8);
    if (len > size - off - MIGW_HDR - 8)
      break;
    migw_put64(copy + off + MIGW_HDR + len,
               migw_hash(copy + off, MIGW_HDR + (size_t)len));
    off += MIGW_HDR + (size_t)len + 8;
  }
  data = copy;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return 0;
  int buf = 2 * MAX_INPUT;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  size_t off = 0;
  while (off < size) {
    ssize_t n = send(sv[0], data + off, size - off, MSG_DONTWAIT);
    if (n <= 0)
      break; /* the rest does not fit: a shorter stream */
    off += (size_t)n;
  }
  shutdown(sv[0], SHUT_WR);
  vmm_migrate_opts_t o = VMM_MIGRATE_OPTS_INIT;
  o.flags = VMM_MIGRATE_NO_START;
  o.timeout_ms = 2000;
  vmm_vm_t *vm = NULL;
  int rc = vmm_vm_migrate_recv(sv[1], &o, &vm);
  if (rc < 0) {
    invariant(vm == NULL, "a VM left behind after a failure");
    invariant(vmm_last_error()[0] != '\0', "a failure without a message");
  } else {
    invariant(vm != NULL, "success without a VM");
    invariant(vmm_vm_destroy(vm) == 0, "the VM cannot be destroyed");
  }
  close(sv[0]);
  close(sv[1]);
  free(copy);
  return 0;
}
