/* src/boot/bzimage.h — the bzImage setup header and boot_params offsets
 * (Linux Documentation/arch/x86/boot.rst and zero-page.rst), and the
 * parsed header the loader and its tests share. */
#ifndef VMM__BZIMAGE_H
#define VMM__BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Supported boot protocol versions: 2.12 (Linux 3.8, the first with
 * xloadflags and so with XLF_KERNEL_64 announcing the 64-bit entry) up
 * to 2.15 (Linux 5.5 and later; still current). Newer versions are
 * refused until someone checks what they changed.
 */
#define BZ_PROTOCOL_MIN 0x020c
#define BZ_PROTOCOL_MAX 0x020f

/* Setup header fields: offsets in the image file and in boot_params. */
#define BZ_SETUP_SECTS 0x1f1     /* u8 */
#define BZ_SYSSIZE 0x1f4         /* u32, 16-byte units */
#define BZ_VID_MODE 0x1fa        /* u16 */
#define BZ_BOOT_FLAG 0x1fe       /* u16 0xaa55 */
#define BZ_HDR_MAGIC 0x202       /* "HdrS" */
#define BZ_VERSION 0x206         /* u16 */
#define BZ_TYPE_OF_LOADER 0x210  /* u8 */
#define BZ_LOADFLAGS 0x211       /* u8 */
#define BZ_CODE32_START 0x214    /* u32 */
#define BZ_RAMDISK_IMAGE 0x218   /* u32 */
#define BZ_RAMDISK_SIZE 0x21c    /* u32 */
#define BZ_CMD_LINE_PTR 0x228    /* u32 */
#define BZ_INITRD_ADDR_MAX 0x22c /* u32 */
#define BZ_KERNEL_ALIGNMENT 0x230 /* u32 */
#define BZ_RELOCATABLE 0x234     /* u8 */
#define BZ_XLOADFLAGS 0x236      /* u16 */
#define BZ_CMDLINE_SIZE 0x238    /* u32 */
#define BZ_PREF_ADDRESS 0x258    /* u64 */
#define BZ_INIT_SIZE 0x260       /* u32 */
/* The header must reach past init_size (all of 2.12's fields end at
 * 0x268) and may not run into boot_params' edd_mbr_sig_buffer. */
#define BZ_HDR_MIN_END 0x268
#define BZ_HDR_MAX_END 0x290

#define BZ_LOADED_HIGH 0x01
#define BZ_XLF_KERNEL_64 0x0001
#define BZ_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

/* boot_params fields outside the setup header. */
#define BZ_PARAMS_SIZE 4096
#define BP_ACPI_RSDP_ADDR 0x070    /* u64 */
#define BP_EXT_RAMDISK_IMAGE 0x0c0 /* u32: bits 63:32 */
#define BP_EXT_RAMDISK_SIZE 0x0c4  /* u32 */
#define BP_ALT_MEM_K 0x1e0         /* u32 */
#define BP_E820_ENTRIES 0x1e8      /* u8 */
#define BP_E820_TABLE 0x2d0        /* 128 x {u64 addr, u64 size, u32 type} */

/* Selectors the 64-bit entry documents, and where libvmm keeps TR. */
#define BZ_BOOT_CS 0x10
#define BZ_BOOT_DS 0x18
#define BZ_BOOT_TSS 0x20

struct vmm__bzimage {
  uint16_t version;
  uint32_t hdr_end;    /* 0x202 + byte 0x201 */
  uint32_t setup_size; /* (setup_sects + 1) * 512 */
  size_t kernel_size;  /* syssize * 16: the protected-mode kernel */
  uint8_t loadflags;
  uint16_t xloadflags;
  bool relocatable;
  uint32_t kernel_alignment;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t initrd_addr_max;
  uint32_t cmdline_size;
};

/* Checks the setup header of a bzImage and fills `bz`; VMM_ENOEXEC with
 * the reason for anything libvmm cannot boot. */
int vmm__bzimage_parse(const uint8_t *img, size_t len,
                       struct vmm__bzimage *bz);

#endif
