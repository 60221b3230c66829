/* tests/fuzz/kernel_detect_fuzz.c — the libFuzzer entry point for
 * vmm_kernel_detect() (src/boot/boot.c): the header checks for bzImage,
 * PVH (ELF note), multiboot and ELF that run on a file the caller hands
 * in, before anything is loaded. Whatever the bytes, the answer is one of
 * the VMM_KERNEL_* values or a negative code with a message, and nothing
 * is read past `size` (an unterminated heap copy: ASan). The loaders
 * themselves need a VM (vmm_vm_t with guest memory) and are fuzzed by
 * tests/unit/test_boot_mutate.c instead. Run under every build by
 * fuzz_driver.c over tests/fuzz/corpus-kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  int f = vmm_kernel_detect(copy, size);
  free(copy);
  if (f < 0 ? vmm_last_error()[0] == 0
            : f < VMM_KERNEL_UNKNOWN || f > VMM_KERNEL_ELF) {
    fprintf(stderr, "kernel_detect_fuzz: bad answer %d\n", f);
    abort();
  }
  return 0;
}
