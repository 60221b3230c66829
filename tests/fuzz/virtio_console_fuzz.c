/* tests/fuzz/virtio_console_fuzz.c — the libFuzzer entry point for virtio-console on virtio-mmio: transmit to and receive from
 * a buffer back-end, configuration space
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-console. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_console"
#define FUZZ_DEVICE DEV_CONSOLE
#define FUZZ_TRANSPORT VMM_VIRTIO_MMIO
#include "virtio_fuzz.h"
