/* tests/guests/boot/boot_guest.h — what the bzImage and PVH test kernels
 * and tests/integration/boot_test.c agree on. */
#ifndef BOOT_GUEST_H
#define BOOT_GUEST_H

#include <stdint.h>

/* The bzImage kernel: linked (and not relocatable) at pref_address, its
 * 64-bit entry 0x200 further; the initrd must end below INITRD_MAX. */
#define BOOT_BZ_LOAD 0x1000000u
#define BOOT_BZ_INITRD_MAX 0x2ffffffu
#define BOOT_BZ_CMDLINE_SIZE 255u
/* The PVH kernel: an ELF32 linked at 2 MiB. */
#define BOOT_PVH_LOAD 0x200000u

/* Selectors the Linux 64-bit boot protocol documents. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

/* FNV-1a, 64-bit: host and guest hash the command line and initrd alike
 * (no division, so 32-bit guests need no libgcc). */
static inline uint64_t boot_hash(const void *p, uint64_t n) {
  const uint8_t *b = (const uint8_t *)p;
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

#endif
