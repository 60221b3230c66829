/* examples/launcher.h — what the mini-launchers vmm-boot and vmm-run share:
 * exit statuses, the report of how the VM stopped (launcher_stop.c), the
 * UART relay (launcher_console.c) and the terminal console
 * (launcher_term.c). */
#ifndef VMM_LAUNCHER_H
#define VMM_LAUNCHER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libvmm/libvmm.h>

/* Exit statuses besides the guest's own (docs/launcher.md). The guest's
 * statuses are 0 (clean ACPI power-off) and the odd values of the
 * debug-exit port, (value << 1) | 1, so the launchers' are even. */
#define EXIT_USAGE 2        /* bad options */
#define EXIT_SETUP 4        /* the VM could not be built or booted */
#define EXIT_RESET 6        /* the guest asked for a reset (i8042, reboot) */
#define EXIT_TRIPLE_FAULT 8 /* triple fault / shutdown */
#define EXIT_INTERNAL 10    /* the backend could not go on (emulation...) */
#define EXIT_ERROR 12       /* another library error stopped the VM */
#define EXIT_CONFIG 14      /* vmm-run: the VM description was rejected */
#define EXIT_NO_BACKEND 16  /* vmm-run: no usable /dev/kvm (missing, no
                               access) */
#define EXIT_QUIT 18        /* vmm-run: the user quit with Ctrl-A x */
/* and 128 + signal number when SIGINT / SIGTERM / SIGHUP stopped it. */

/* "vmm-boot" or "vmm-run": the prefix of every message. */
extern const char *launcher_prog;

uint64_t now_ns(void);
/* "<prog>: <what>: <the library's last message> (VMM_E...)". */
void fail_call(const char *what, int rc);
/* "<prog>: <message>", where to find the options; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- how the VM stopped (launcher_stop.c) ----------------------------- */

/* What the guest did when it stopped the VM badly, seen on its vCPU
 * thread by the exit hook (the stop info has only the message). */
struct fault {
  bool valid;
  uint32_t vcpu, reason, kind;
  uint64_t rip;
  uint8_t insn_len, insn[15];
  char mode[64];
  bool reset_state; /* the backend had reset the vCPU (KVM on AMD) */
};

struct stop_watch {
  vmm_vm_t *vm;
  /* The vCPUs, for where each one was at a stop (may be NULL). */
  vmm_vcpu_t **vcpus;
  uint32_t n_vcpus;
  pthread_mutex_t mu;
  struct fault fault;
  atomic_int signo;  /* the signal that stopped the VM */
  atomic_bool quit;  /* the user asked to quit (Ctrl-A x) */
};

void stop_watch_init(struct stop_watch *w);
/* Installs the exit hook that records triple faults and internal errors. */
int stop_watch_exits(struct stop_watch *w);
/* Blocks SIGINT, SIGTERM and SIGHUP in this thread and every thread
 * created after it (call first in main); ignores SIGPIPE. */
void stop_watch_block_signals(void);
/* Once the VM runs: a thread takes those signals and stops the VM with
 * 128 + signal. */
void stop_watch_signals(struct stop_watch *w);
/* The exit status for how the VM stopped, with a line for people. */
int stop_watch_conclude(struct stop_watch *w, const vmm_vm_stop_info_t *info);
/* "<prog>: timings: <what> <ms> ms" or "...: not seen" when ns is 0. */
void print_ms(const char *what, uint64_t ns);

/* ---- the UART relay (launcher_console.c) ------------------------------
 * With --timings, vmm-boot's UART writes into a buffer back-end that a
 * relay thread copies to the console's destination, so that the launcher
 * sees the first byte and the "Linux version" banner when they come. */

/* Where a character device goes: --console / --virtio-console. */
struct out_spec {
  enum { OUT_NONE, OUT_STDIO, OUT_FILE } kind;
  const char *path;
};

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

/* ---- the terminal console (launcher_term.c) ----------------------------
 * When stdin is a terminal: raw mode while the VM runs (restored on every
 * way out: return from main, exit(), fatal signals) and QEMU's Ctrl-A
 * escapes. libvmm's stdio back-end reads fd 0, so fd 0 becomes a pipe fed
 * by a thread that reads the terminal and takes the escapes out. */
struct term;
/* 0 with *out NULL when stdin is not a terminal (nothing to do). Before
 * the VM's stdio back-end starts reading (vmm_vm_start()). */
int term_open(struct term **out);
/* Raw mode and the input thread; `quit` runs on that thread for Ctrl-A x. */
int term_start(struct term *t, void (*quit)(void *opaque), void *opaque);
/* Ends the thread and restores the terminal's modes; NULL is accepted. */
void term_close(struct term *t);
/* The escape keys, for --help. */
extern const char term_escape_help[];

#endif
