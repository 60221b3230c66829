/* tests/fuzz/virtio_rng_fuzz.c — the libFuzzer entry point for virtio-rng on virtio-mmio: the request queue
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-rng. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_rng"
#define FUZZ_DEVICE DEV_RNG
#define FUZZ_TRANSPORT VMM_VIRTIO_MMIO
#include "virtio_fuzz.h"
