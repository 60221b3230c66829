/* tests/fuzz/virtio_blk_fuzz.c — the libFuzzer entry point for virtio-blk on virtio-mmio: its request parser (header, data
 * segments, status byte; read, write, flush, get-id, discard) and
 * configuration space
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-blk. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_blk"
#define FUZZ_DEVICE DEV_BLK
#define FUZZ_TRANSPORT VMM_VIRTIO_MMIO
#include "virtio_fuzz.h"
