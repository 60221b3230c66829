/* libvmm/device.h — device objects, character back-ends, emulated devices. */
#ifndef LIBVMM_DEVICE_H
#define LIBVMM_DEVICE_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Devices are created on a VM before vmm_vm_start() (VMM_ESTATE after)
 * and live until the VM is destroyed. A device whose guest driver did
 * something invalid stops serving it and says why in vmm_device_error();
 * a virtio device serves again once the driver has reset it (as the virtio
 * spec's DEVICE_NEEDS_RESET status asks).
 */
typedef struct vmm_device vmm_device_t;

/* Devices per VM, the PCI host bridge included (docs/security.md); one
 * more fails with VMM_ENOSPC. */
#define VMM_MAX_DEVICES 256

/* "uart16550", "virtio-rng", ... */
VMM_EXPORT const char *vmm_device_type(const vmm_device_t *dev);
/* The reason the device last stopped serving the guest (kept after a
 * reset put it back into service), or NULL if that never happened. */
VMM_EXPORT const char *vmm_device_error(const vmm_device_t *dev);

/*
 * Character back-ends carry a serial line or console between a device and
 * the outside: the process's stdio, a file (output only), a unix socket
 * (libvmm listens at `path`, one client at a time), or an in-memory buffer
 * that the program reads and writes through the API (tests, embedders).
 * A back-end serves one device.
 */
typedef struct vmm_chardev vmm_chardev_t;

VMM_EXPORT int vmm_chardev_stdio(vmm_vm_t *vm, vmm_chardev_t **out);
VMM_EXPORT int vmm_chardev_file(vmm_vm_t *vm, const char *path,
                                vmm_chardev_t **out);
VMM_EXPORT int vmm_chardev_socket(vmm_vm_t *vm, const char *path,
                                  vmm_chardev_t **out);
/* Guest output beyond `capacity` unread bytes is dropped (and counted). */
VMM_EXPORT int vmm_chardev_buffer(vmm_vm_t *vm, size_t capacity,
                                  vmm_chardev_t **out);
/* Buffer back-ends: takes up to `len` bytes the guest wrote; returns how
 * many (0 when none), or a negative code. */
VMM_EXPORT int vmm_chardev_buffer_read(vmm_chardev_t *chr, void *buf,
                                       size_t len);
/* Buffer back-ends: hands bytes to the guest as input. */
VMM_EXPORT int vmm_chardev_buffer_write(vmm_chardev_t *chr, const void *buf,
                                        size_t len);

/* 16550A UART. Defaults: COM1, port 0x3f8, IRQ 4. */
typedef struct vmm_uart_config {
  size_t size;
  uint16_t port;
  uint16_t reserved;
  uint32_t irq;          /* GSI; needs VMM_VM_F_IRQCHIP to interrupt */
  vmm_chardev_t *chardev; /* NULL: output discarded, no input */
} vmm_uart_config_t;
#define VMM_UART_CONFIG_INIT {sizeof(vmm_uart_config_t), 0x3f8, 0, 4, NULL}
VMM_EXPORT int vmm_uart_create(vmm_vm_t *vm, const vmm_uart_config_t *config,
                               vmm_device_t **out);

/*
 * An exit port compatible with QEMU's isa-debug-exit: a write of `value`
 * to `port` (default 0xf4, 1..4 bytes) stops the VM with status
 * (value << 1) | 1 and reason VMM_STOP_GUEST_EXIT.
 */
VMM_EXPORT int vmm_debug_exit_create(vmm_vm_t *vm, uint16_t port,
                                     vmm_device_t **out);
/* The i8042 controller's reset line: writing 0xFE to port 0x64 stops the
 * VM with VMM_STOP_RESET. Status reads say "no data, ready". */
VMM_EXPORT int vmm_i8042_create(vmm_vm_t *vm, vmm_device_t **out);
/* CMOS real-time clock at ports 0x70/0x71, reading the host's time (UTC),
 * with the 128 bytes of CMOS memory. */
VMM_EXPORT int vmm_rtc_create(vmm_vm_t *vm, vmm_device_t **out);

/*
 * Boot-time port: the guest writes VMM_BOOT_TIMER_MAGIC (one byte) to
 * `port` (0: VMM_BOOT_TIMER_PORT) when it has booted, e.g. from a busybox
 * /init: `printf '\173' | dd of=/dev/port bs=1 seek=245 count=1`. The
 * first such write is timestamped (vmm_vm_get_timings(), boot_done_ns)
 * and `fn` (may be NULL) is called once with that time, on the vCPU
 * thread. Other values and later writes are ignored; reads see 0.
 */
#define VMM_BOOT_TIMER_PORT 0xf5
#define VMM_BOOT_TIMER_MAGIC 123
typedef void (*vmm_boot_timer_fn)(vmm_vm_t *vm, uint64_t boot_done_ns,
                                  void *opaque);
VMM_EXPORT int vmm_boot_timer_create(vmm_vm_t *vm, uint16_t port,
                                     vmm_boot_timer_fn fn, void *opaque,
                                     vmm_device_t **out);

/*
 * QEMU's firmware configuration device (fw_cfg), legacy I/O interface:
 * a 16-bit selector written at `port` (default 0x510) and the selected
 * item read byte by byte at port + 1, so firmware and test kernels written
 * for QEMU find their configuration unchanged. Items: the signature
 * "QEMU" (0x00), the feature word (0x01: traditional interface only, no
 * DMA), the RAM size (0x03, bytes of RAM regions), the number of vCPUs
 * (0x05, counted when the guest selects the item), the command line
 * (0x14 size with the NUL, 0x15 data), the kernel and initrd (0x08/0x11,
 * 0x0b/0x12) when given, and a file directory (0x19) of the files added
 * with vmm_fw_cfg_add_file() at selectors 0x20 and up. Unknown items and
 * reads past an item's end read 0; data writes are ignored. The data
 * given here is copied.
 */
typedef struct vmm_fw_cfg_config {
  size_t size;          /* sizeof(vmm_fw_cfg_config_t) */
  uint16_t port;        /* selector port; 0: 0x510 */
  uint16_t reserved16;
  uint32_t reserved32;
  const char *cmdline;  /* NULL: items 0x14/0x15 are empty */
  const void *kernel;   /* NULL: no kernel items */
  size_t kernel_len;
  const void *initrd;   /* NULL: no initrd items */
  size_t initrd_len;
} vmm_fw_cfg_config_t;
#define VMM_FW_CFG_CONFIG_INIT                                                \
  {sizeof(vmm_fw_cfg_config_t), 0x510, 0, 0, NULL, NULL, 0, NULL, 0}
/* `config` NULL means VMM_FW_CFG_CONFIG_INIT. */
VMM_EXPORT int vmm_fw_cfg_create(vmm_vm_t *vm,
                                 const vmm_fw_cfg_config_t *config,
                                 vmm_device_t **out);
/* Adds a file item (the data is copied) before vmm_vm_start(): `name` is
 * 1..55 bytes ("opt/..." for users, as QEMU asks), unique (VMM_EEXIST),
 * `len` below 4 GiB. */
VMM_EXPORT int vmm_fw_cfg_add_file(vmm_device_t *dev, const char *name,
                                   const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
