/* src/boot/boot_internal.h — what the kernel loaders and the platform
 * tables share: the fixed guest memory layout below 1 MiB, the e820 map,
 * and the description of the machine the tables are written from. */
#ifndef VMM__BOOT_INTERNAL_H
#define VMM__BOOT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

/*
 * Guest-physical layout vmm_boot() uses (RAM must cover 0..1 MiB and the
 * kernel). Everything below 1 MiB that is not RAM for the guest is marked
 * reserved in e820.
 *   0x00000-0x00fff  real-mode IVT / BDA (left zero, reserved)
 *   0x07000-0x07fff  boot_params / hvm_start_info / multiboot info
 *   0x08000-0x08fff  e820 / memory-map / module tables of PVH and multiboot
 *   0x09000-0x0ffff  free for loaders (boot GDT, strings)
 *   0x10000-0x19fff  long-mode set-up area (vmm_vcpu_setup_long_mode)
 *   0x20000-0x2ffff  command line
 *   0x30000-0x7ffff  free low memory (RAM in e820)
 *   0x9fc00-0x9ffff  EBDA: MP floating pointer and MP table
 *   0xa0000-0xdffff  VGA hole / option ROMs (reserved)
 *   0xe0000-0xfffff  BIOS area: ACPI RSDP and tables (reserved)
 */
#define VMM__BOOT_PARAMS 0x7000ull
#define VMM__BOOT_TABLES 0x8000ull
#define VMM__BOOT_SCRATCH 0x9000ull
#define VMM__BOOT_SETUP 0x10000ull
#define VMM__BOOT_CMDLINE 0x20000ull
#define VMM__BOOT_CMDLINE_MAX 0x10000ull
#define VMM__BOOT_LOW_FREE 0x30000ull
#define VMM__BOOT_EBDA 0x9fc00ull
#define VMM__BOOT_LOWMEM_END 0x9fc00ull /* e820 RAM ends here */
#define VMM__BOOT_BIOS 0xe0000ull
#define VMM__BOOT_BIOS_END 0x100000ull
#define VMM__BOOT_HIGH 0x100000ull /* 1 MiB */

/* Memory map entry types (e820, also used for PVH and multiboot). */
#define VMM__E820_RAM 1u
#define VMM__E820_RESERVED 2u
#define VMM__E820_ACPI 3u
#define VMM__E820_MAX 128

typedef struct vmm__e820 {
  uint64_t addr, size;
  uint32_t type;
} vmm__e820_t;

/*
 * The guest's memory map from the VM's RAM regions (ROM regions become
 * reserved), with the low-memory layout above applied: RAM below
 * VMM__BOOT_LOWMEM_END, reserved up to 1 MiB. Sorted, non-overlapping.
 * Returns the number of entries or a negative code.
 */
int vmm__boot_e820(vmm_vm_t *vm, vmm__e820_t *map, size_t capacity);

/* The highest address of RAM below `limit` (exclusive) that can hold
 * `len` bytes aligned to `align`, not below `floor`; 0 if none. */
uint64_t vmm__boot_place_high(vmm_vm_t *vm, uint64_t len, uint64_t align,
                              uint64_t floor, uint64_t limit);

/* ---- the machine, as platform tables describe it ---------------------- */

#define VMM__PLATFORM_MAX_PCI 32
#define VMM__PLATFORM_MAX_MMIO 32

typedef struct vmm__platform {
  uint32_t ncpus;               /* vCPUs created so far (ids 0..n-1) */
  uint32_t apic_ids[VMM_MAX_VCPUS];
  bool irqchip;                 /* VMM_VM_F_IRQCHIP: IOAPIC at 0xfec00000 */
  bool pci;                     /* a PCI host bridge on bus 0 */
  /* PCI functions on bus 0 with an interrupt pin: INTx routing. */
  uint32_t npci;
  struct {
    uint8_t devfn, pin; /* pin 1 = INTA */
    uint32_t gsi;
  } pci_irq[VMM__PLATFORM_MAX_PCI];
  /* virtio-mmio devices (for the command line and DSDT). */
  uint32_t nmmio;
  struct {
    uint64_t base, size;
    uint32_t gsi;
  } mmio[VMM__PLATFORM_MAX_MMIO];
  /* Emulated devices the FADT mentions (8042 reset register, RTC). */
  bool i8042, rtc;
  /* The virtio-mmio devices are on the kernel command line: the DSDT
   * leaves them out (a kernel would otherwise find each twice). */
  bool mmio_cmdline;
} vmm__platform_t;

/* Fills `p` from the VM's vCPUs and devices. */
int vmm__platform_describe(vmm_vm_t *vm, vmm__platform_t *p);
/* The IOAPIC's id in both tables: the first APIC id no vCPU has. */
uint32_t vmm__platform_ioapic_id(const vmm__platform_t *p);

/*
 * vmm_boot()'s platform step: describes the machine and, as `flags`
 * (VMM_BOOT_F_*) ask, writes the ACPI tables (creating the ACPI PM device
 * they point at, once per VM), the MP table, and appends
 * "virtio_mmio.device=4K@BASE:GSI" per virtio-mmio device to *cmdline
 * (malloc'd; replaced by a longer copy). *rsdp and *mptable receive the
 * tables' addresses (0: not written).
 */
int vmm__platform_setup(vmm_vm_t *vm, uint32_t flags, char **cmdline,
                        uint64_t *rsdp, uint64_t *mptable);

/* Writes ACPI tables in the lower half of the BIOS area (0xe0000-0xeffff);
 * *rsdp receives the RSDP address. */
int vmm__acpi_write(vmm_vm_t *vm, const vmm__platform_t *p, uint64_t *rsdp);
/* Writes an MP floating pointer in the EBDA and the configuration table
 * after it (at 0xf0000 when it does not fit in the EBDA's 1 KiB); *addr
 * receives the floating pointer's address. */
int vmm__mptable_write(vmm_vm_t *vm, const vmm__platform_t *p,
                       uint64_t *addr);

/* ---- the formats ------------------------------------------------------ */

/* A kernel in memory plus what the caller asked; filled by vmm_boot()
 * (files already read, format detected, command line finished). */
typedef struct vmm__boot_req {
  const uint8_t *kernel;
  size_t kernel_len;
  const uint8_t *initrd; /* NULL: none */
  size_t initrd_len;
  const char *cmdline; /* never NULL */
  uint32_t flags;
  /* Set by the platform tables before the format runs (0: no ACPI): a
   * format that can pass it on does (boot_params.acpi_rsdp_addr,
   * hvm_start_info.rsdp_paddr). */
  uint64_t acpi_rsdp;
} vmm__boot_req_t;

/* Each loads its format, writes its boot structures and sets vCPU 0's
 * registers; fills info->entry, kernel/initrd ranges, params, cmdline. */
int vmm__boot_bzimage(vmm_vm_t *vm, const vmm__boot_req_t *req,
                      vmm_boot_info_t *info);
int vmm__boot_pvh(vmm_vm_t *vm, const vmm__boot_req_t *req,
                  vmm_boot_info_t *info);
int vmm__boot_multiboot(vmm_vm_t *vm, const vmm__boot_req_t *req,
                        vmm_boot_info_t *info);

/* The memory half of vmm__boot_bzimage / vmm__boot_pvh: everything but
 * vCPU 0's registers, so that unit tests can drive it on a VM without a
 * backend. Fills info->entry, params, cmdline, kernel/initrd ranges and
 * e820_entries. */
int vmm__bzimage_prepare(vmm_vm_t *vm, const vmm__boot_req_t *req,
                         vmm_boot_info_t *info);
int vmm__pvh_prepare(vmm_vm_t *vm, const vmm__boot_req_t *req,
                     vmm_boot_info_t *info);

/* The PVH entry point of an ELF image (XEN_ELFNOTE_PHYS32_ENTRY, a note
 * named "Xen" of type 18, in a PT_NOTE segment or else an SHT_NOTE
 * section): 1 with *entry set, 0 when the image has none, a negative code
 * (with a message) when the image or its notes are malformed. */
int vmm__pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry);

/* Writes the NUL-terminated command line at VMM__BOOT_CMDLINE; VMM_ENOSPC
 * when it is longer than `max` bytes (without the NUL) or than the
 * layout's area. `what` names the limit in the message. */
int vmm__boot_write_cmdline(vmm_vm_t *vm, const char *cmdline, uint64_t max,
                            const char *what);

#endif
