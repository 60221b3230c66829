/* src/config/config_internal.h — the validated VM description that the
 * JSON parser fills (parse.c), the builder reads (create.c) and the
 * describer fills from a live VM (describe.c) before it is written out as
 * JSON (emit.c). */
#ifndef VMM__CONFIG_INTERNAL_H
#define VMM__CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

/* Limits (docs/config.md). */
#define VMM__CFG_MAX_REGIONS 64
#define VMM__CFG_MAX_DEVICES 64
#define VMM__CFG_MAX_FEATURES 64
#define VMM__CFG_ADDR_LIMIT (1ull << 48)  /* guest-physical addresses */
#define VMM__CFG_MEM_TOTAL_MAX VMM_MEM_MAX_TOTAL /* 1 TiB of regions */
#define VMM__CFG_BUFFER_MAX (1ull << 30)   /* buffer back-end capacity */
#define VMM__CFG_STRING_MAX 4096           /* paths, command lines */
#define VMM__CFG_ID_MAX 63
#define VMM__CFG_FW_FILES_MAX 16           /* fw-cfg files per device */
#define VMM__CFG_FW_FILE_SIZE_MAX (64u << 20)

enum vmm__cfg_chr_kind {
  VMM__CHR_NONE = 0,
  VMM__CHR_STDIO,
  VMM__CHR_FILE,
  VMM__CHR_SOCKET,
  VMM__CHR_BUFFER
};

struct vmm__cfg_chardev {
  int kind; /* vmm__cfg_chr_kind */
  char *path;        /* file, socket */
  uint64_t capacity; /* buffer */
};

struct vmm__cfg_region {
  uint64_t gpa, size;
  bool readonly, dirty_log;
};

enum vmm__cfg_payload_kind {
  VMM__PAYLOAD_NONE = 0,
  VMM__PAYLOAD_FLAT,   /* raw image at a gpa, registers set up by mode */
  VMM__PAYLOAD_ELF,    /* vmm_load_elf, registers set up by mode */
  VMM__PAYLOAD_KERNEL  /* vmm_boot: bzImage, PVH, multiboot, ELF */
};

enum vmm__cfg_mode {
  VMM__MODE_AUTO = 0, /* ELF: by class (64 long, 32 protected) */
  VMM__MODE_REAL,
  VMM__MODE_PROTECTED,
  VMM__MODE_LONG
};

struct vmm__cfg_payload {
  int kind; /* vmm__cfg_payload_kind */
  char *path;
  /* flat / elf */
  uint64_t gpa;       /* flat: where the image goes */
  uint64_t entry;     /* flat: first instruction (default: gpa) */
  int mode;           /* vmm__cfg_mode */
  uint64_t stack;     /* initial stack pointer */
  uint64_t setup_gpa; /* long mode: GDT/TSS/page tables (40 KiB) */
  uint16_t cs;        /* real mode: code segment */
  /* kernel */
  uint32_t format; /* VMM_KERNEL_*; 0 = detect */
  char *initrd;
  char *cmdline;
  bool acpi, mptable, virtio_mmio_cmdline;
};

enum vmm__cfg_dev_kind {
  VMM__DEV_UART = 0,
  VMM__DEV_DEBUG_EXIT,
  VMM__DEV_I8042,
  VMM__DEV_RTC,
  VMM__DEV_FW_CFG,
  VMM__DEV_BOOT_TIMER,
  VMM__DEV_VIRTIO_RNG,
  VMM__DEV_VIRTIO_CONSOLE,
  VMM__DEV_VIRTIO_BLK,
  VMM__DEV_VIRTIO_NET,
  VMM__DEV_KINDS
};

struct vmm__cfg_device {
  int kind; /* vmm__cfg_dev_kind */
  char id[VMM__CFG_ID_MAX + 1];
  uint16_t port; /* uart, debug-exit, boot-timer, fw-cfg */
  uint32_t irq;  /* uart */
  struct vmm__cfg_chardev chr; /* uart, virtio-console */
  /* virtio */
  uint32_t transport; /* vmm_virtio_transport_t */
  uint32_t virtio_irq;
  uint64_t mmio_base;
  uint16_t queue_size;
  uint32_t pci_slot;
  /* virtio-blk */
  char *path;
  bool readonly;
  uint16_t num_queues;
  char serial[21];
  /* virtio-net: backend VMM_NET_*, path = socket path or tap name */
  uint32_t net_backend;
  uint8_t mac[6];
  bool has_mac;
  /* fw-cfg */
  char *cmdline; /* NULL: the payload's command line */
  char *file_names[VMM__CFG_FW_FILES_MAX]; /* "opt/..." */
  char *file_paths[VMM__CFG_FW_FILES_MAX];
  size_t n_files;
};

struct vmm_config {
  char *backend; /* NULL = "auto" */
  bool irqchip;
  uint16_t hypercall_port; /* 0 = default */
  struct vmm__cfg_region regions[VMM__CFG_MAX_REGIONS];
  size_t n_regions;
  uint32_t vcpus;
  char *cpu_template;                     /* NULL: none ("host") */
  char *features[VMM__CFG_MAX_FEATURES]; /* "+x2apic", "-xsave" */
  size_t n_features;
  uint32_t assist; /* VMM_ASSIST_* of every vCPU */
  struct vmm__cfg_payload payload;
  struct vmm__cfg_device devices[VMM__CFG_MAX_DEVICES];
  size_t n_devices;
  char *control_path;
  /* "sandbox": given or not; VMM_SANDBOX_* (0: "off"). */
  bool has_sandbox;
  uint32_t sandbox;
};

/* The emulation-failure assist's flags by name ("int3", "ud", "soft_int",
 * "hidden_ud", "emulate"): bit i of VMM_ASSIST_* is names[i]. */
extern const char *const vmm__cfg_assist_names[];

/* Config type names of devices ("uart", "virtio-blk"), and the reverse
 * (-1 when unknown). */
const char *vmm__cfg_dev_kind_name(int kind);
int vmm__cfg_dev_kind_from_name(const char *name);
/* A new, empty description with the defaults (NULL: out of memory). */
vmm_config_t *vmm__config_new(void);
/* Deep copy (NULL: out of memory). */
vmm_config_t *vmm__config_dup(const vmm_config_t *cfg);
/* The CPU template spec the description asks for ("baseline,-xsave"),
 * malloc'd; NULL when none (or out of memory, with *oom set). */
char *vmm__config_cpu_spec(const vmm_config_t *cfg, bool *oom);

/* parse.c: JSON text → description. `base_dir` (may be NULL) is where
 * relative paths are taken from. Errors name the JSON path. */
int vmm__config_from_json(const char *json, size_t len, const char *base_dir,
                          vmm_config_t **out);
/* validate.c: cross-field checks on a parsed description (overlaps,
 * duplicate ids, ports, files), then gives devices without an id one. */
int vmm__config_validate(vmm_config_t *cfg);
/* Gives devices without an id "<type><n>" (validate.c). */
void vmm__config_assign_ids(vmm_config_t *cfg);
/* emit.c: description → JSON text (malloc'd). */
int vmm__config_to_json(const vmm_config_t *cfg, char **out);
/* describe.c: live VM → description. */
int vmm__config_from_vm(vmm_vm_t *vm, vmm_config_t **out);

/* The VM of a description without its payload and control socket: the
 * memory regions, vCPUs, CPU template, devices and sandbox setting (a
 * snapshot's restore fills memory and state itself). */
int vmm__vm_create_from_config_bare(const vmm_config_t *cfg, vmm_vm_t **out);

/* What a VM made from a description keeps of it for describe (what the VM
 * itself cannot tell: the payload and the control socket). */
struct vmm__config_state {
  vmm_config_t *cfg;
};
void vmm__config_state_free(struct vmm__config_state *st);
/* vmm_boot() succeeded with a kernel (and initrd) from files: remembered
 * as the VM's payload for describe, unless the VM has one from its
 * description already. 0 or VMM_ENOMEM. */
int vmm__config_note_boot(vmm_vm_t *vm, const vmm_boot_config_t *boot);

#endif
