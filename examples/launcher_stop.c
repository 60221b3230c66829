/* examples/launcher_stop.c — how a launcher's VM stopped: the exit hook
 * that records triple faults and internal errors, the signal thread, and
 * the exit status with one line for people (docs/launcher.md). */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "launcher.h"

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fail_call(const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s (%s)\n", launcher_prog, what,
          vmm_last_error()[0] ? vmm_last_error() : vmm_strerror(rc),
          vmm_err_name(rc));
}

int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", launcher_prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(%s --help lists the options)\n", launcher_prog);
  va_end(ap);
  return EXIT_USAGE;
}

void stop_watch_init(struct stop_watch *w) {
  memset(w, 0, sizeof(*w));
  pthread_mutex_init(&w->mu, NULL);
}

/* ---- what went wrong, from the exit hook ----------------------------- */

static void describe_mode(const vmm_sregs_t *s, char *buf, size_t len) {
  const char *m;
  if (!(s->cr0 & 1))
    m = "real mode";
  else if (s->efer & (1u << 10)) /* EFER.LMA */
    m = s->cs.l ? "64-bit mode" : "compatibility mode";
  else
    m = s->cs.db ? "32-bit protected mode" : "16-bit protected mode";
  snprintf(buf, len, "%s, CPL %u%s", m, (unsigned)(s->cs.selector & 3),
           (s->cr0 & (1ull << 31)) ? ", paging" : ", no paging");
}

/* Runs on the vCPU thread for exits nobody consumed; records internal
 * errors and triple faults, then lets libvmm's default treatment stop
 * the VM. */
static int on_exit_hook(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct stop_watch *w = opaque;
  if (e->reason != VMM_EXIT_INTERNAL_ERROR && e->reason != VMM_EXIT_SHUTDOWN)
    return 1;
  struct fault f = {.valid = true, .vcpu = vmm_vcpu_id(vcpu),
                    .reason = e->reason};
  vmm_regs_t regs;
  vmm_sregs_t sregs;
  if (e->reason == VMM_EXIT_INTERNAL_ERROR) {
    f.kind = e->u.internal.kind;
    f.rip = e->u.internal.rip;
    f.insn_len = e->u.internal.insn_len > 15 ? 15 : e->u.internal.insn_len;
    memcpy(f.insn, e->u.internal.insn, f.insn_len);
  } else if (vmm_vcpu_get_regs(vcpu, &regs) == 0) {
    f.rip = regs.rip;
  }
  if (vmm_vcpu_get_sregs(vcpu, &sregs) == 0) {
    describe_mode(&sregs, f.mode, sizeof(f.mode));
    /* Some backends reset the vCPU on a shutdown before reporting it: the
     * registers then show the reset vector, not the fault. */
    f.reset_state = e->reason == VMM_EXIT_SHUTDOWN && f.rip == 0xfff0 &&
                    sregs.cs.selector == 0xf000 && !(sregs.cr0 & 1);
  } else
    snprintf(f.mode, sizeof(f.mode), "mode unknown");
  pthread_mutex_lock(&w->mu);
  if (!w->fault.valid)
    w->fault = f;
  pthread_mutex_unlock(&w->mu);
  return 1;
}

int stop_watch_exits(struct stop_watch *w) {
  return vmm_vm_on_exit(w->vm, on_exit_hook, w);
}

static const char *internal_kind(uint32_t kind) {
  switch (kind) {
  case VMM_INTERNAL_EMULATION:
    return "instruction emulation failed";
  case VMM_INTERNAL_ENTRY_FAILED:
    return "VM entry failed";
  case VMM_INTERNAL_UNHANDLED_EXIT:
    return "exit the library does not handle";
  case VMM_INTERNAL_DELIVERY:
    return "event delivery failed";
  default:
    return "internal error";
  }
}

static void print_fault(struct stop_watch *w) {
  const struct fault *f = &w->fault;
  const char *p = launcher_prog;
  if (f->reset_state) {
    fprintf(stderr, "%s: vCPU %u: the backend reset the vCPU before "
            "reporting the shutdown (KVM on AMD does): its registers do not "
            "show where the fault was\n", p, f->vcpu);
  } else {
    fprintf(stderr, "%s: vCPU %u: rip 0x%llx, %s", p, f->vcpu,
            (unsigned long long)f->rip, f->mode);
    if (f->insn_len) {
      fprintf(stderr, ", instruction bytes");
      for (unsigned i = 0; i < f->insn_len; i++)
        fprintf(stderr, " %02x", f->insn[i]);
    } else if (f->reason == VMM_EXIT_INTERNAL_ERROR) {
      fprintf(stderr, ", instruction bytes not reported by the backend");
    }
    fprintf(stderr, "\n");
  }
  /* Where the other processors were: shows an SMP boot stuck half way. */
  if (w->n_vcpus > 1) {
    for (uint32_t i = 0; i < w->n_vcpus; i++) {
      uint32_t st;
      if (vmm_vcpu_get_mp_state(w->vcpus[i], &st) == 0)
        fprintf(stderr, "%s: vCPU %u: %s\n", p, i, vmm_mp_state_name(st));
    }
  }
}

/* Where every vCPU was when the VM stopped from outside (a signal, e.g.
 * a time limit): how far a boot got. */
static void print_where(struct stop_watch *w) {
  for (uint32_t i = 0; i < w->n_vcpus; i++) {
    vmm_regs_t regs;
    vmm_sregs_t sregs;
    uint32_t st = VMM_MP_OTHER;
    char mode[64];
    if (vmm_vcpu_get_regs(w->vcpus[i], &regs) < 0 ||
        vmm_vcpu_get_sregs(w->vcpus[i], &sregs) < 0)
      continue;
    describe_mode(&sregs, mode, sizeof(mode));
    vmm_vcpu_get_mp_state(w->vcpus[i], &st);
    fprintf(stderr, "%s: at the stop: vCPU %u rip 0x%llx (%s), %s\n",
            launcher_prog, i, (unsigned long long)regs.rip, mode,
            vmm_mp_state_name(st));
    /* The registers too: with the kernel's symbols (nokaslr) they show
     * which lock or wait a stuck processor is on. */
    fprintf(stderr, "%s:   rax %llx rbx %llx rcx %llx rdx %llx rsi %llx "
            "rdi %llx rbp %llx rsp %llx\n"
            "%s:   r8 %llx r9 %llx r10 %llx r11 %llx r12 %llx r13 %llx "
            "r14 %llx r15 %llx rflags %llx\n",
            launcher_prog, (unsigned long long)regs.rax,
            (unsigned long long)regs.rbx, (unsigned long long)regs.rcx,
            (unsigned long long)regs.rdx, (unsigned long long)regs.rsi,
            (unsigned long long)regs.rdi, (unsigned long long)regs.rbp,
            (unsigned long long)regs.rsp, launcher_prog,
            (unsigned long long)regs.r8, (unsigned long long)regs.r9,
            (unsigned long long)regs.r10, (unsigned long long)regs.r11,
            (unsigned long long)regs.r12, (unsigned long long)regs.r13,
            (unsigned long long)regs.r14, (unsigned long long)regs.r15,
            (unsigned long long)regs.rflags);
  }
}

/* ---- signals ---------------------------------------------------------- */

static void fill_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

void stop_watch_block_signals(void) {
  sigset_t set;
  fill_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  /* A console reader that went away must not kill the VM's process. */
  signal(SIGPIPE, SIG_IGN);
}

static void *signal_main(void *arg) {
  struct stop_watch *w = arg;
  sigset_t set;
  fill_signals(&set);
  int sig;
  while (sigwait(&set, &sig) == 0) {
    int none = 0;
    atomic_compare_exchange_strong(&w->signo, &none, sig);
    vmm_vm_stop(w->vm, 128 + sig);
  }
  return NULL;
}

void stop_watch_signals(struct stop_watch *w) {
  pthread_t t;
  if (pthread_create(&t, NULL, signal_main, w) == 0)
    pthread_detach(t);
  else
    fprintf(stderr, "%s: warning: no signal thread; SIGINT/SIGTERM stay "
                    "blocked\n", launcher_prog);
}

/* ---- the outcome ------------------------------------------------------ */

void print_ms(const char *what, uint64_t ns) {
  if (ns)
    fprintf(stderr, "%s: timings: %s %.1f ms\n", launcher_prog, what,
            ns / 1e6);
  else
    fprintf(stderr, "%s: timings: %s: not seen\n", launcher_prog, what);
}

int stop_watch_conclude(struct stop_watch *w, const vmm_vm_stop_info_t *info) {
  const char *p = launcher_prog;
  switch (info->reason) {
  case VMM_STOP_GUEST_EXIT:
    if (info->status == 0)
      fprintf(stderr, "%s: the guest powered off\n", p);
    else
      fprintf(stderr, "%s: the guest exited with status %d (%s)\n", p,
              info->status, info->message);
    return info->status;
  case VMM_STOP_REQUESTED: {
    if (atomic_load(&w->quit)) {
      fprintf(stderr, "%s: quit (Ctrl-A x); exiting with %d\n", p,
              EXIT_QUIT);
      return EXIT_QUIT;
    }
    int sig = atomic_load(&w->signo);
    if (!sig) {
      /* vmm_vm_stop() from elsewhere: the control socket's "stop". */
      fprintf(stderr, "%s: stopped on request with status %d\n", p,
              info->status);
      return info->status;
    }
    fprintf(stderr, "%s: stopped by signal %d (%s)\n", p, sig,
            strsignal(sig));
    print_where(w);
    return 128 + sig;
  }
  case VMM_STOP_RESET:
    fprintf(stderr, "%s: the guest asked for a reset (%s); exiting with %d\n",
            p, info->message, EXIT_RESET);
    return EXIT_RESET;
  case VMM_STOP_SHUTDOWN:
    fprintf(stderr, "%s: triple fault: %s; exiting with %d\n", p,
            info->message, EXIT_TRIPLE_FAULT);
    if (w->fault.valid)
      print_fault(w);
    return EXIT_TRIPLE_FAULT;
  case VMM_STOP_ERROR:
    if (w->fault.valid && w->fault.reason == VMM_EXIT_INTERNAL_ERROR) {
      fprintf(stderr, "%s: backend internal error (%s): %s; exiting with "
                      "%d\n", p, internal_kind(w->fault.kind), info->message,
              EXIT_INTERNAL);
      print_fault(w);
      return EXIT_INTERNAL;
    }
    fprintf(stderr, "%s: the VM stopped on an error: %s (%s)\n", p,
            info->message, vmm_err_name(info->error));
    return EXIT_ERROR;
  case VMM_STOP_HALT:
    /* A guest built to end with HLT on a VM without an interrupt
     * controller: nothing can wake it, so libvmm stops the VM. */
    fprintf(stderr, "%s: the guest halted: %s; exiting with %d\n", p,
            info->message, EXIT_ERROR);
    return EXIT_ERROR;
  default:
    fprintf(stderr, "%s: the VM stopped (reason %u): %s\n", p, info->reason,
            info->message);
    return EXIT_ERROR;
  }
}
