/* examples/hello.c — the smallest libvmm program: run a guest that prints
 * a greeting on port 0xE9 and halts.
 *
 *   hello [GUEST.elf]     (default: the hello guest built with libvmm)
 */
#include <stdio.h>

#include <libvmm/libvmm.h>

#ifndef HELLO_GUEST
#define HELLO_GUEST "hello.elf"
#endif

/* Port 0xE9: the guest writes one character per OUT. */
static int print_port(vmm_vcpu_t *vcpu, uint64_t port, uint8_t *data,
                      uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)port, (void)opaque;
  if (is_write)
    fwrite(data, 1, size, stdout);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : HELLO_GUEST;
  vmm_vm_config_t config = VMM_VM_CONFIG_INIT; /* backend "auto" */
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *vcpu = NULL;
  vmm_elf_info_t elf = {.size = sizeof(elf)};
  vmm_exit_t exit;
  int rc;

  /* 4 MiB of RAM at 0; the ELF is linked at 1 MiB; long mode's page
   * tables go at 4 KiB and the stack grows down from 512 KiB. */
  if ((rc = vmm_vm_create(&config, &vm)) < 0 ||
      (rc = vmm_mem_map(vm, 0, 4 << 20, NULL, 0, NULL)) < 0 ||
      (rc = vmm_vcpu_create(vm, 0, &vcpu)) < 0 ||
      (rc = vmm_io_register(vm, VMM_IO_PIO, 0xe9, 1, print_port, NULL)) < 0 ||
      (rc = vmm_load_elf_file(vm, path, &elf)) < 0 ||
      (rc = vmm_vcpu_setup_long_mode(vcpu, elf.entry, 0x80000, 0x1000)) < 0 ||
      (rc = vmm_vcpu_run(vcpu, &exit)) < 0) {
    fprintf(stderr, "hello: %s: %s\n", vmm_strerror(rc), vmm_last_error());
    vmm_vm_destroy(vm);
    return 1;
  }
  fflush(stdout);
  vmm_vm_destroy(vm);
  if (exit.reason != VMM_EXIT_HLT) {
    fprintf(stderr, "hello: the guest stopped with exit %u, not HLT\n",
            exit.reason);
    return 1;
  }
  return 0;
}
