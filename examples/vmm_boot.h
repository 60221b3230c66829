/* examples/vmm_boot.h — what the files of the mini-launcher vmm-boot share. */
#ifndef VMM_BOOT_EXAMPLE_H
#define VMM_BOOT_EXAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libvmm/libvmm.h>

/* Exit statuses of vmm-boot besides the guest's own (docs/launcher.md).
 * The guest's statuses are 0 (clean ACPI power-off) and the odd values of
 * the debug-exit port, (value << 1) | 1, so the launcher's are even. */
#define EXIT_USAGE 2        /* bad options */
#define EXIT_SETUP 4        /* the VM could not be built or booted */
#define EXIT_RESET 6        /* the guest asked for a reset (i8042, reboot) */
#define EXIT_TRIPLE_FAULT 8 /* triple fault / shutdown */
#define EXIT_INTERNAL 10    /* the backend could not go on (emulation...) */
#define EXIT_ERROR 12       /* another library error stopped the VM */
/* and 128 + signal number when SIGINT / SIGTERM / SIGHUP stopped it. */

#define MAX_DISKS 16
#define MAX_NETS 8

/* Where a character device goes: --console / --virtio-console. */
struct out_spec {
  enum { OUT_NONE, OUT_STDIO, OUT_FILE } kind;
  const char *path;
};

struct options {
  const char *kernel, *initrd, *cmdline, *cpu_template;
  uint64_t mem_mib;
  uint32_t cpus;
  struct {
    const char *path;
    bool readonly;
  } disks[MAX_DISKS];
  unsigned n_disks;
  struct {
    bool tap;
    const char *name;
  } nets[MAX_NETS];
  unsigned n_nets;
  struct out_spec console, virtio_console;
  bool timings, verbose;
};

/* Parses argv; 0, or EXIT_USAGE after printing why (1 for --help). */
int parse_options(int argc, char **argv, struct options *o);
void print_usage(FILE *f);

/* ---- the UART relay (vmm_boot_console.c) ------------------------------
 * With --timings the UART writes into a buffer back-end that a relay
 * thread copies to the console's destination, so that the launcher sees
 * the first byte and the "Linux version" banner when they come. */
struct relay;
int relay_create(vmm_vm_t *vm, const struct out_spec *dst,
                 vmm_chardev_t **chr, struct relay **out);
/* Copies what is left and ends the thread. */
void relay_finish(struct relay *r);
/* CLOCK_MONOTONIC ns of the first byte and of the banner line; 0 if not
 * seen. */
uint64_t relay_first_byte_ns(const struct relay *r);
uint64_t relay_banner_ns(const struct relay *r);
void relay_destroy(struct relay *r);

uint64_t now_ns(void);

#endif
