/* tests/guests/multiboot/mb.h — what the multiboot test kernels share:
 * the multiboot info layout, the UART, QEMU's fw_cfg ports, the debug-exit
 * port, a checksum and command-line parsing. 32-bit, paging off. */
#ifndef MB_GUEST_H
#define MB_GUEST_H

#include "guest.h"
#include "mb_layout.h"

/* The multiboot info block (specification 0.6.96, section 3.3). */
struct mb_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
  uint32_t mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
  uint32_t drives_length, drives_addr, config_table, boot_loader_name;
} __attribute__((packed));

struct mb_mod {
  uint32_t start, end, string, reserved;
} __attribute__((packed));

struct mb_mmap {
  uint32_t size; /* of the rest of the entry */
  uint64_t addr, len;
  uint32_t type;
} __attribute__((packed));

/* Linker symbols (mb.ld). */
extern char __load_start[], _edata[], _end[];

/* COM1, polled. */
void mb_putc(char c);
void mb_puts(const char *s);
void mb_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The debug-exit port: the VM stops with status (v << 1) | 1. */
NORETURN void mb_exit(uint32_t v);

/* fw_cfg legacy interface. */
void fw_cfg_select(uint16_t key);
void fw_cfg_read(void *buf, uint32_t len);
uint32_t fw_cfg_read32(uint16_t key);

uint32_t fnv1a(const void *p, uint32_t len);

/* "key=value" in the command line: the value's start, or NULL. */
const char *cmdline_value(const char *cmdline, const char *key);
/* The number at `s` (0x... hex or decimal); `dflt` when s is NULL. */
uint64_t parse_num(const char *s, uint64_t dflt);
int mb_strcmp(const char *a, const char *b);

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }

#endif
