/* examples/vmm_run.h — what the files of vmm-run (run a VM described in
 * JSON) share. */
#ifndef VMM_RUN_EXAMPLE_H
#define VMM_RUN_EXAMPLE_H

#include <stdbool.h>
#include <stdio.h>

#include <libvmm/libvmm.h>

#include "launcher.h"

#define MAX_SETS 64

struct run_options {
  const char *config;  /* the JSON file */
  const char *sets[MAX_SETS]; /* "key=value" overrides, in order */
  unsigned n_sets;
  const char *control; /* --control PATH (absolute by then), or NULL */
  const char *gdb;     /* --gdb ADDR, or NULL */
  const char *restore; /* --restore DIR (a snapshot), or NULL */
  bool timings, describe, check;
  /* --no-sandbox (0), --sandbox-kill (VMM_SANDBOX_ON | KILL); -1: the
   * description's "sandbox", else on (VMM_SANDBOX_ON). */
  int sandbox;
};

/* Parses argv; 0, or EXIT_USAGE after printing why (1 after --help or
 * --version: exit 0). */
int run_parse_options(int argc, char **argv, struct run_options *o);

/* Reads the description with the overrides applied (vmm_run_config.c).
 * 0, or the exit status after printing one line saying why. With
 * overrides the process moves to the description's directory (relative
 * paths in it are taken from there until the VM is created):
 * `*saved_cwd` is then where to go back to with run_restore_cwd(), else
 * -1. */
int run_load_config(const struct run_options *o, vmm_config_t **out,
                    int *saved_cwd);
/* Goes back (-1: nothing to do). */
void run_restore_cwd(int saved_cwd);

#endif
