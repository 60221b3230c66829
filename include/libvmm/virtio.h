/* libvmm/virtio.h — virtio 1.x devices over the MMIO (and later PCI) transport. */
#ifndef LIBVMM_VIRTIO_H
#define LIBVMM_VIRTIO_H

#include <libvmm/common.h>
#include <libvmm/device.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vmm_virtio_transport {
  VMM_VIRTIO_MMIO = 0, /* virtio-mmio, register layout version 2 */
  VMM_VIRTIO_PCI = 1   /* virtio-pci (modern); not available yet */
} vmm_virtio_transport_t;

/* Where and how a virtio device attaches; start from
 * VMM_VIRTIO_CONFIG_INIT. */
typedef struct vmm_virtio_config {
  size_t size;
  uint32_t transport;  /* vmm_virtio_transport_t */
  uint32_t irq;        /* MMIO: the GSI to use; 0 = the next free one */
  uint64_t mmio_base;  /* MMIO: 0 = the next free 4 KiB slot at 0xd0000000 */
  uint16_t queue_size; /* 0 = 256; a power of two, at most 32768 */
  uint16_t reserved16;
  uint32_t reserved32;
} vmm_virtio_config_t;
#define VMM_VIRTIO_CONFIG_INIT {sizeof(vmm_virtio_config_t), VMM_VIRTIO_MMIO, 0, 0, 0, 0, 0}

/* Where the device ended up (for the guest's command line or tables). */
VMM_EXPORT uint64_t vmm_virtio_mmio_base(const vmm_device_t *dev);
VMM_EXPORT uint32_t vmm_virtio_irq(const vmm_device_t *dev);

/* Entropy from the host's getrandom(). */
VMM_EXPORT int vmm_virtio_rng_create(vmm_vm_t *vm,
                                     const vmm_virtio_config_t *config,
                                     vmm_device_t **out);
/* A console port over a character back-end. */
VMM_EXPORT int vmm_virtio_console_create(vmm_vm_t *vm,
                                         const vmm_virtio_config_t *config,
                                         vmm_chardev_t *chardev,
                                         vmm_device_t **out);

#ifdef __cplusplus
}
#endif
#endif
