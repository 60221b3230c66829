/* libvmm/virtio.h — virtio 1.x devices over the MMIO (and later PCI) transport. */
#ifndef LIBVMM_VIRTIO_H
#define LIBVMM_VIRTIO_H

#include <libvmm/common.h>
#include <libvmm/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits (docs/security.md): a queue holds at most
 * VMM_VIRTIO_QUEUE_SIZE_MAX entries (the split ring's limit; a power of
 * two), a device has at most VMM_VIRTIO_MAX_QUEUES queues (virtio-blk's
 * num_queues). A driver that asks for more fails the device. */
#define VMM_VIRTIO_QUEUE_SIZE_MAX 32768
#define VMM_VIRTIO_MAX_QUEUES 8

typedef enum vmm_virtio_transport {
  VMM_VIRTIO_MMIO = 0, /* virtio-mmio, register layout version 2 */
  VMM_VIRTIO_PCI = 1   /* virtio-pci (modern) behind a PCI host bridge */
} vmm_virtio_transport_t;

/* Where and how a virtio device attaches; start from
 * VMM_VIRTIO_CONFIG_INIT. */
typedef struct vmm_virtio_config {
  size_t size;
  uint32_t transport;  /* vmm_virtio_transport_t */
  uint32_t irq;        /* MMIO: the GSI to use; 0 = the next free one */
  uint64_t mmio_base;  /* MMIO: 0 = the next free 4 KiB slot at 0xd0000000 */
  uint16_t queue_size; /* 0 = 256; a power of two, at most VMM_VIRTIO_QUEUE_SIZE_MAX */
  uint16_t reserved16;
  uint32_t pci_slot;   /* PCI: device number on bus 0 (1-31); 0 = next free */
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

/* ---- virtio-blk ------------------------------------------------------ */

#define VMM_BLK_F_READONLY (1u << 0) /* writes fail with VIRTIO_BLK_S_IOERR */

/* A block device over a raw image file; start from
 * VMM_VIRTIO_BLK_CONFIG_INIT. The file's size must be a multiple of 512. */
typedef struct vmm_virtio_blk_config {
  size_t size;
  const char *path;    /* the image */
  uint32_t flags;      /* VMM_BLK_F_* */
  uint16_t num_queues; /* request queues; 0 = 1 */
  uint16_t reserved16;
  char serial[20];     /* the GET_ID answer; "" = derived from the path */
} vmm_virtio_blk_config_t;
#define VMM_VIRTIO_BLK_CONFIG_INIT {sizeof(vmm_virtio_blk_config_t), NULL, 0, 0, 0, {0}}

/* Requests run on the loop's thread pool, never on a vCPU thread. */
VMM_EXPORT int vmm_virtio_blk_create(vmm_vm_t *vm,
                                     const vmm_virtio_config_t *config,
                                     const vmm_virtio_blk_config_t *blk,
                                     vmm_device_t **out);

/* ---- virtio-net ------------------------------------------------------ */

typedef enum vmm_net_backend {
  VMM_NET_TAP = 0,   /* a Linux tap interface (needs CAP_NET_ADMIN) */
  VMM_NET_SOCKET = 1 /* Ethernet frames as messages on a unix socket */
} vmm_net_backend_t;

/*
 * Start from VMM_VIRTIO_NET_CONFIG_INIT.
 *  TAP:    `name` is the interface, created if it does not exist, else
 *          attached to.
 *  SOCKET: `fd` is a connected SOCK_SEQPACKET or SOCK_DGRAM unix socket
 *          (e.g. one end of socketpair(); libvmm takes ownership), or,
 *          with fd < 0, `name` is the path of such a socket to connect to.
 *          One message carries one frame; two VMs in one process connect
 *          through the two ends of a socketpair.
 */
typedef struct vmm_virtio_net_config {
  size_t size;
  uint32_t backend;   /* vmm_net_backend_t */
  int32_t fd;
  const char *name;
  uint8_t mac[6];     /* all zero: a random locally administered address */
  uint16_t reserved16;
  uint32_t reserved32;
} vmm_virtio_net_config_t;
#define VMM_VIRTIO_NET_CONFIG_INIT {sizeof(vmm_virtio_net_config_t), VMM_NET_SOCKET, -1, NULL, {0}, 0, 0}

VMM_EXPORT int vmm_virtio_net_create(vmm_vm_t *vm,
                                     const vmm_virtio_config_t *config,
                                     const vmm_virtio_net_config_t *net,
                                     vmm_device_t **out);
/* The MAC address the device reports to the guest. */
VMM_EXPORT int vmm_virtio_net_mac(const vmm_device_t *dev, uint8_t mac[6]);

/* ---- virtio-pci ------------------------------------------------------ */

/* The PCI address (bus 0) of a device on the PCI transport: device number
 * in bits 3-7, function in 0-2 (devfn); negative for other transports. */
VMM_EXPORT int vmm_virtio_pci_devfn(const vmm_device_t *dev);

#ifdef __cplusplus
}
#endif
#endif
