/* tests/fuzz/virtio_pci_fuzz.c — the libFuzzer entry point for the PCI configuration space (src/hw/pci.c: mechanism #1, BARs,
 * command register, capability list) and the virtio-pci transport
 * (src/virtio/pci.c: common configuration, notify, ISR, device
 * configuration and MSI-X table in BAR 0) under each of the four devices
 * (byte 3 picks)
 * through the harness in virtio_fuzz.h (input layout there). Run under
 * every build by fuzz_driver.c over tests/fuzz/corpus-virtio-pci. */
#include <libvmm/virtio.h>

#define FUZZ_NAME "virtio_pci"
#define FUZZ_DEVICE DEV_ANY
#define FUZZ_TRANSPORT VMM_VIRTIO_PCI
#include "virtio_fuzz.h"
