/* src/boot/multiboot.h — the multiboot v1 loader split into a pure part
 * (find the header, plan every byte to write) and the part that writes the
 * plan into guest memory, so that the unit tests need no hypervisor. */
#ifndef VMM__BOOT_MULTIBOOT_H
#define VMM__BOOT_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot_internal.h"
#include "memmap.h"

#define VMM__MB_MAGIC 0x1badb002u       /* in the kernel's header */
#define VMM__MB_BOOT_MAGIC 0x2badb002u  /* in EAX at entry */
#define VMM__MB_SEARCH 8192u            /* the header lies in these bytes */

/* Header flags (bits 0-15 are requirements, 16-31 optional). */
#define VMM__MB_F_PAGE_ALIGN (1u << 0)
#define VMM__MB_F_MEMORY_INFO (1u << 1)
#define VMM__MB_F_VIDEO_MODE (1u << 2)
#define VMM__MB_F_AOUT_KLUDGE (1u << 16)

/* Info flags. */
#define VMM__MBI_MEMORY (1u << 0)
#define VMM__MBI_CMDLINE (1u << 2)
#define VMM__MBI_MODS (1u << 3)
#define VMM__MBI_MMAP (1u << 6)
#define VMM__MBI_LOADER_NAME (1u << 9)

/* Where the info block's parts go (boot_internal.h layout). */
#define VMM__MB_INFO_GPA VMM__BOOT_PARAMS        /* the info structure */
#define VMM__MB_INFO_SIZE 116u
#define VMM__MB_MMAP_GPA VMM__BOOT_TABLES        /* memory map */
#define VMM__MB_MODS_GPA (VMM__BOOT_TABLES + 0xc00) /* after 128 entries */
#define VMM__MB_NAME_GPA VMM__BOOT_SCRATCH       /* "libvmm" */
#define VMM__MB_MODSTR_GPA (VMM__BOOT_SCRATCH + 0x10) /* module 0's string */
#define VMM__MB_STACK VMM__BOOT_PARAMS           /* ESP: grows below it */
/* The kernel may not load below this: the loader's own areas. */
#define VMM__MB_KERNEL_MIN VMM__BOOT_LOW_FREE

typedef struct vmm__mb_header {
  uint32_t offset; /* in the image */
  uint32_t flags;
  /* Flag bit 16 (the "a.out kludge"): where to load, without ELF. */
  uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
} vmm__mb_header_t;

/*
 * Finds the multiboot header: the magic at a 4-byte aligned offset in the
 * first 8192 bytes with magic + flags + checksum == 0. Returns 1 and fills
 * `h` when found (with the address fields when flag 16 is set), 0 when
 * there is no magic at all, or VMM_ENOEXEC (message set) when a magic is
 * there but no valid header (bad checksum, header cut off).
 */
int vmm__multiboot_find(const uint8_t *image, size_t len,
                        vmm__mb_header_t *h);
/* vmm_kernel_detect()'s test: a valid header is present. */
bool vmm__multiboot_detect(const void *image, size_t len);

/* One write into guest memory; `src` NULL writes zeros. */
typedef struct vmm__mb_chunk {
  uint64_t gpa, len;
  const uint8_t *src;
  const char *what; /* for messages */
} vmm__mb_chunk_t;

typedef struct vmm__mb_plan {
  uint32_t entry;
  uint64_t kernel_start, kernel_end;
  uint64_t module_start, module_end; /* 0, 0: no module */
  uint64_t cmdline_gpa;
  vmm__mb_chunk_t *chunks;
  size_t nchunks;
  uint8_t *low; /* info, mmap, module table, strings (owned) */
} vmm__mb_plan_t;

/*
 * Validates the image against the multiboot rules and the memory map and
 * decides every byte to write: kernel segments (ELF32/ELF64 by p_paddr,
 * bss zeroed) or the a.out-kludge range, the module (the initrd, page
 * aligned after the kernel), the command line and the info block. Writes
 * nothing. VMM_ENOEXEC (bad image), VMM_ENOSPC (does not fit),
 * VMM_ENOMEM; the reason in vmm_last_error(). Free with _plan_free().
 */
int vmm__multiboot_plan(const vmm__boot_req_t *req, const vmm__e820_t *map,
                        size_t nmap, vmm__mb_plan_t *plan);
void vmm__multiboot_plan_free(vmm__mb_plan_t *plan);
/* Checks every chunk lies in `mem`, then writes them (caller locks). */
int vmm__multiboot_write(struct vmm__memmap *mem, const vmm__mb_plan_t *plan);

#endif
