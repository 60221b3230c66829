/* tests/fuzz/virtio_net_fuzz.c — the libFuzzer entry point for virtio-net on virtio-mmio: the transmit path (header + frame
 * to the socket back-end), the receive path (frames from the back-end into
 * the driver's buffers) and configuration space
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-net. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_net"
#define FUZZ_DEVICE DEV_NET
#define FUZZ_TRANSPORT VMM_VIRTIO_MMIO
#include "virtio_fuzz.h"
