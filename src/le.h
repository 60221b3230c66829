/* src/le.h — little-endian loads and stores on byte buffers. Image
 * formats, boot structures and platform tables are little-endian and are
 * parsed from (or built in) unaligned byte arrays, so go byte by byte. */
#ifndef VMM__LE_H
#define VMM__LE_H

#include <stdint.h>

static inline uint16_t vmm__rd16(const uint8_t *p) {
  return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t vmm__rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t vmm__rd64(const uint8_t *p) {
  return vmm__rd32(p) | (uint64_t)vmm__rd32(p + 4) << 32;
}
static inline void vmm__wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void vmm__wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void vmm__wr64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

#endif
