/* tests/fuzz/virtio_mmio_fuzz.c — the libFuzzer entry point for the virtio-mmio transport registers (src/virtio/mmio.c) and the
 * common device code (src/virtio/device.c) under each of the four devices
 * (byte 3 picks)
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-mmio. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_mmio"
#define FUZZ_DEVICE DEV_ANY
#define FUZZ_TRANSPORT VMM_VIRTIO_MMIO
#include "virtio_fuzz.h"
