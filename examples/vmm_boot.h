/* examples/vmm_boot.h — what the files of the mini-launcher vmm-boot share. */
#ifndef VMM_BOOT_EXAMPLE_H
#define VMM_BOOT_EXAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libvmm/libvmm.h>

#include "launcher.h"

#define MAX_DISKS 16
#define MAX_NETS 8

struct options {
  const char *kernel, *initrd, *cmdline, *cpu_template;
  const char *gdb; /* --gdb ADDR, or NULL */
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
  /* VMM_SANDBOX_* for vmm_vm_set_sandbox(); on unless --no-sandbox. */
  uint32_t sandbox;
};

/* Parses argv; 0, or EXIT_USAGE after printing why (1 for --help). */
int parse_options(int argc, char **argv, struct options *o);
void print_usage(FILE *f);

#endif
