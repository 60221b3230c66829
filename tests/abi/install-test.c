/* tests/abi/install-test.c — an embedder's first program, built against an
 * installed libvmm through pkg-config only. */
#include <libvmm/libvmm.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  const char *ver = vmm_version_string();
  unsigned int n = vmm_backend_count();

  /* The header this program was compiled with and the library it loaded
   * must be the same version. */
  if (vmm_version() != VMM_VERSION_HEX || strcmp(ver, VMM_VERSION_STRING)) {
    fprintf(stderr, "version mismatch: header %s (0x%06x), library %s "
            "(0x%06x)\n", VMM_VERSION_STRING, (unsigned)VMM_VERSION_HEX, ver,
            vmm_version());
    return 1;
  }
  for (unsigned int i = 0; i < n; i++) {
    if (!vmm_backend_name(i)) {
      fprintf(stderr, "backend %u of %u has no name\n", i, n);
      return 1;
    }
  }
  if (vmm_backend_name(n) != NULL) {
    fprintf(stderr, "vmm_backend_name(%u) is not NULL past the end\n", n);
    return 1;
  }
  if (strcmp(vmm_err_name(VMM_EINVAL), "VMM_EINVAL")) {
    fprintf(stderr, "vmm_err_name(VMM_EINVAL) = %s\n", vmm_err_name(VMM_EINVAL));
    return 1;
  }
  printf("libvmm %s, %u backend(s)\n", ver, n);
  return 0;
}
