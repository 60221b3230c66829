/* tests/fuzz/migrate_recv_fuzz.c — the libFuzzer entry point for the
 * receiving side of live migration (src/migrate/recv.c and proto.c,
 * vmm_vm_migrate_recv()). The input is the byte stream from a "source":
 * it is written into a socketpair whose writing end is then shut, and
 * received with VMM_MIGRATE_NO_START. Invariants: a failure leaves no VM
 * and says why; a success (only possible with a valid state blob) gives a
 * VM that can be destroyed. Needs /dev/kvm to build VMs from the
 * descriptions: without it the target exits 77 (a skipped test). Run
 * under every build by fuzz_driver.c over tests/fuzz/corpus-migrate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libvmm/libvmm.h>

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
  if (size > MAX_INPUT)
    size = MAX_INPUT;
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
  return 0;
}
