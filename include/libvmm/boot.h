/* libvmm/boot.h — booting operating-system kernels: the Linux x86 boot
 * protocol (bzImage, PVH ELF), multiboot v1, and the platform tables
 * (ACPI, MP table, e820) a kernel reads to find its machine. */
#ifndef LIBVMM_BOOT_H
#define LIBVMM_BOOT_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel image formats, as vmm_kernel_detect() tells them apart. */
typedef enum vmm_kernel_format {
  VMM_KERNEL_UNKNOWN = 0,
  VMM_KERNEL_BZIMAGE = 1,   /* Linux bzImage (setup header "HdrS") */
  VMM_KERNEL_PVH = 2,       /* ELF with a XEN_ELFNOTE_PHYS32_ENTRY note */
  VMM_KERNEL_MULTIBOOT = 3, /* ELF (or a.out-kludge image) with a multiboot v1 header */
  VMM_KERNEL_ELF = 4        /* any other static x86 ELF (vmm_load_elf) */
} vmm_kernel_format_t;

/*
 * The format of the kernel image in `image`: a VMM_KERNEL_* value (> 0),
 * VMM_KERNEL_UNKNOWN when nothing matched, or a negative code (VMM_EINVAL
 * for a NULL image). An ELF carrying both a PVH note and a multiboot
 * header is reported as VMM_KERNEL_PVH.
 */
VMM_EXPORT int vmm_kernel_detect(const void *image, size_t len);
/* "bzimage", "pvh", "multiboot", "elf" or "unknown". */
VMM_EXPORT const char *vmm_kernel_format_name(int format);

/* vmm_boot_config_t.flags */
#define VMM_BOOT_F_NO_ACPI (1u << 0)     /* write no ACPI tables */
#define VMM_BOOT_F_NO_MPTABLE (1u << 1)  /* write no MP table */
/* Append "virtio_mmio.device=SIZE@BASE:IRQ" to the command line for each
 * virtio-mmio device of the VM (kernels with
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). */
#define VMM_BOOT_F_VIRTIO_MMIO_CMDLINE (1u << 2)

/*
 * What to boot. `size` = sizeof(vmm_boot_config_t); start from
 * VMM_BOOT_CONFIG_INIT. The kernel comes from memory (`kernel`,
 * `kernel_len`) or, when `kernel` is NULL, from the file `kernel_path`;
 * the same for the initrd (for multiboot: the first module), which is
 * optional.
 */
typedef struct vmm_boot_config {
  size_t size;
  uint32_t format; /* VMM_KERNEL_*; 0 (UNKNOWN) = detect */
  uint32_t flags;  /* VMM_BOOT_F_* */
  const void *kernel;
  size_t kernel_len;
  const char *kernel_path;
  const void *initrd;
  size_t initrd_len;
  const char *initrd_path;
  const char *cmdline; /* NULL = empty */
} vmm_boot_config_t;

#define VMM_BOOT_CONFIG_INIT                                                  \
  {sizeof(vmm_boot_config_t), 0, 0, NULL, 0, NULL, NULL, 0, NULL, NULL}

/* Where vmm_boot() put things (guest-physical addresses; 0 = not used). */
typedef struct vmm_boot_info {
  size_t size;     /* sizeof(vmm_boot_info_t), set by the caller */
  uint32_t format; /* VMM_KERNEL_* actually booted */
  uint32_t cpus;   /* vCPUs described to the guest */
  uint64_t entry;  /* where vCPU 0 starts */
  uint64_t kernel_start, kernel_end;
  uint64_t initrd_start, initrd_end;
  uint64_t params;  /* boot_params, hvm_start_info or multiboot info */
  uint64_t cmdline; /* the command line as the guest reads it */
  uint64_t acpi_rsdp;
  uint64_t mptable;
  uint32_t e820_entries;
  uint32_t reserved;
} vmm_boot_info_t;

/*
 * Boots a kernel: validates and loads the image, places the initrd (or
 * module) and the command line, writes the boot structures of the format
 * (boot_params with an e820 map made from the VM's RAM regions,
 * hvm_start_info, or a multiboot info block) and the platform tables
 * (ACPI RSDP/XSDT/MADT/FADT/DSDT and an MP table describing the vCPUs
 * created so far, the IOAPIC and PCI interrupt routing), and sets the
 * registers of vCPU 0 for the format's entry. Other vCPUs are left to be
 * started by the guest (INIT/SIPI through the in-kernel local APIC, which
 * needs VMM_VM_F_IRQCHIP).
 *
 * Call after creating the VM's RAM regions, vCPUs and devices, before
 * vmm_vm_start(). Errors: VMM_ENOEXEC for a malformed, truncated or
 * unsupported image (too old or too new a boot protocol), VMM_ENOSPC when
 * the kernel, initrd or command line does not fit in guest RAM, VMM_EINVAL
 * for bad arguments; the reason is in vmm_last_error(). `info` may be NULL.
 */
VMM_EXPORT int vmm_boot(vmm_vm_t *vm, const vmm_boot_config_t *config,
                        vmm_boot_info_t *info);

#ifdef __cplusplus
}
#endif
#endif
