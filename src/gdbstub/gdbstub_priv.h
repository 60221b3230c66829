/* src/gdbstub/gdbstub_priv.h — the gdb stub's state, shared by its
 * server (gdbstub.c), commands (commands.c) and breakpoints (break.c). */
#ifndef VMM__GDBSTUB_PRIV_H
#define VMM__GDBSTUB_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

#include "gdbstub_internal.h"
#include "packet.h"

#define VMM__GDB_MAX_BPS 64

enum { VMM__GDB_EV_STEP, VMM__GDB_EV_SWBREAK, VMM__GDB_EV_HWBREAK,
       VMM__GDB_EV_WATCH };

struct vmm__gdb_bp {
  bool used;
  int type;      /* gdb's Z type: 0 software, 1 hardware, 2..4 watchpoints */
  uint64_t addr;
  uint64_t kind; /* gdb's kind: breakpoint size or watched length */
  int slot;      /* debug register 0..3, or -1: an INT3 patch */
  uint8_t saved; /* the byte under an INT3 patch */
};

struct vmm__gdbstub {
  vmm_vm_t *vm;
  _Atomic bool active; /* listening; the hooks act */
  _Atomic bool quit;   /* vmm_gdbstub_stop() asks the server to end */
  pthread_t thread;
  int lfd, cfd, wake[2];
  char path[108];

  /* Under mu: written by vCPU threads (stop events) and the server. */
  pthread_mutex_t mu;
  bool attached;
  bool ev_pending;
  uint32_t ev_vcpu;
  int ev_sig, ev_kind, ev_watch_type;
  uint64_t ev_addr;
  /* The table is changed by the server with the mutex held and only
   * while every vCPU is parked; the INT3 hook reads it under mu. */
  struct vmm__gdb_bp bps[VMM__GDB_MAX_BPS];

  /* Server thread only. */
  bool running;          /* gdb waits for a stop reply */
  bool exited;           /* the VM ended (W sent) */
  bool no_ack, swbreak, hwbreak;
  int arch;              /* VMM__GDB_ARCH_*, chosen at attach */
  uint32_t cur;          /* vCPU of g/m/p (Hg) */
  uint32_t cont;         /* vCPU of s (Hc), UINT32_MAX: any */
  uint32_t step_vcpu;    /* stepping vCPU, UINT32_MAX: none */
  bool step_tf;          /* its RFLAGS.TF before the step */
  char last_stop[96];
  struct vmm__gdb_rx rx;
  uint8_t out[2 * VMM__GDB_PKT_MAX + 8];
  size_t out_len;
  char resp[VMM__GDB_PKT_MAX];
};

int vmm__gdb_send(struct vmm__gdbstub *gs, const void *body, size_t len);
int vmm__gdb_send_str(struct vmm__gdbstub *gs, const char *s);
/* Resumes the VM: all vCPUs, or only `step` single-stepping. */
int vmm__gdb_resume(struct vmm__gdbstub *gs, uint32_t step);
void vmm__gdb_detach(struct vmm__gdbstub *gs);
uint32_t vmm__gdb_first_vcpu(struct vmm__gdbstub *gs);
/* Handles one packet body; < 0 closes the connection. */
int vmm__gdb_command(struct vmm__gdbstub *gs, const char *p, size_t len);

/* Breakpoints (break.c). insert/remove return 0, a negative VMM_E*
 * code, or 1 when the type is not supported (empty reply). */
int vmm__gdb_bp_insert(struct vmm__gdbstub *gs, int type, uint64_t addr,
                       uint64_t kind);
int vmm__gdb_bp_remove(struct vmm__gdbstub *gs, int type, uint64_t addr,
                       uint64_t kind);
void vmm__gdb_bps_clear(struct vmm__gdbstub *gs);
struct vmm__gdb_bp *vmm__gdb_bp_of_slot(struct vmm__gdbstub *gs, int slot);
/* DR0..DR7 for the breakpoints in debug registers; false when none. */
bool vmm__gdb_debugregs(struct vmm__gdbstub *gs, uint64_t dr[8]);
/* Guest-virtual memory through the paging of `vcpu`. */
int vmm__gdb_mem(vmm_vcpu_t *vcpu, uint64_t gva, void *buf, size_t len,
                 bool write);

#endif
