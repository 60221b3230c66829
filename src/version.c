/* src/version.c — the version of the library as loaded at run time. */
#include <libvmm/version.h>

unsigned int vmm_version(void) { return VMM_VERSION_HEX; }

const char *vmm_version_string(void) { return VMM_VERSION_STRING; }
