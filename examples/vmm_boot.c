/* examples/vmm_boot.c — vmm-boot, a mini-launcher on the public libvmm
 * API: builds a PC-like VM (RAM, N vCPUs, UART, virtio-pci devices, i8042,
 * RTC, debug-exit and boot-time ports), boots a kernel of any format
 * vmm_boot() knows, runs it on libvmm's threads and exits with the
 * guest's status. Options and statuses: vmm_boot_options.c,
 * docs/launcher.md. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

#include "vmm_boot.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)
/* RAM below 4 GiB ends here at most: [3 GiB, 4 GiB) holds the virtio-mmio
 * slots (0xd0000000), the PCI BAR window (0xe0000000), the IOAPIC and the
 * local APICs. */
#define LOW_RAM_END (3 * GIB)
#define HIGH_RAM_START (4 * GIB)

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

struct launcher {
  struct options o;
  vmm_vm_t *vm;
  vmm_vcpu_t **vcpus;
  struct relay *relay;
  uint64_t t_main;
  pthread_mutex_t mu;
  struct fault fault;
  atomic_int signo;
};

static void fail_call(const char *what, int rc) {
  fprintf(stderr, "vmm-boot: %s: %s (%s)\n", what,
          vmm_last_error()[0] ? vmm_last_error() : vmm_strerror(rc),
          vmm_err_name(rc));
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
  struct launcher *L = opaque;
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
  pthread_mutex_lock(&L->mu);
  if (!L->fault.valid)
    L->fault = f;
  pthread_mutex_unlock(&L->mu);
  return 1;
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

static void print_fault(struct launcher *L) {
  const struct fault *f = &L->fault;
  if (f->reset_state) {
    fprintf(stderr, "vmm-boot: vCPU %u: the backend reset the vCPU before "
            "reporting the shutdown (KVM on AMD does): its registers do not "
            "show where the fault was\n", f->vcpu);
  } else {
    fprintf(stderr, "vmm-boot: vCPU %u: rip 0x%llx, %s", f->vcpu,
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
  if (L->o.cpus > 1) {
    for (uint32_t i = 0; i < L->o.cpus; i++) {
      uint32_t st;
      if (vmm_vcpu_get_mp_state(L->vcpus[i], &st) == 0)
        fprintf(stderr, "vmm-boot: vCPU %u: %s\n", i, vmm_mp_state_name(st));
    }
  }
}

/* Where every vCPU was when the VM stopped from outside (a signal, e.g.
 * a time limit): how far a boot got. */
static void print_where(struct launcher *L) {
  for (uint32_t i = 0; i < L->o.cpus; i++) {
    vmm_regs_t regs;
    vmm_sregs_t sregs;
    uint32_t st = VMM_MP_OTHER;
    char mode[64];
    if (vmm_vcpu_get_regs(L->vcpus[i], &regs) < 0 ||
        vmm_vcpu_get_sregs(L->vcpus[i], &sregs) < 0)
      continue;
    describe_mode(&sregs, mode, sizeof(mode));
    vmm_vcpu_get_mp_state(L->vcpus[i], &st);
    fprintf(stderr, "vmm-boot: at the stop: vCPU %u rip 0x%llx (%s), %s\n",
            i, (unsigned long long)regs.rip, mode, vmm_mp_state_name(st));
  }
}

/* ---- building the machine -------------------------------------------- */

static int make_chardev(struct launcher *L, const struct out_spec *s,
                        vmm_chardev_t **chr) {
  *chr = NULL;
  if (s->kind == OUT_STDIO)
    return vmm_chardev_stdio(L->vm, chr);
  if (s->kind == OUT_FILE)
    return vmm_chardev_file(L->vm, s->path, chr);
  return 0;
}

static int build(struct launcher *L) {
  const struct options *o = &L->o;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.flags = VMM_VM_F_IRQCHIP;
  cfg.max_vcpus = o->cpus;
  int rc;
#define TRY(call, what)                                                       \
  do {                                                                        \
    if ((rc = (call)) < 0) {                                                  \
      fail_call(what, rc);                                                    \
      return rc;                                                              \
    }                                                                         \
  } while (0)
  TRY(vmm_vm_create(&cfg, &L->vm), "creating the VM");

  uint64_t mem = o->mem_mib * MIB;
  uint64_t low = mem > LOW_RAM_END ? LOW_RAM_END : mem;
  TRY(vmm_mem_map(L->vm, 0, low, NULL, 0, NULL), "mapping guest RAM");
  if (mem > low)
    TRY(vmm_mem_map(L->vm, HIGH_RAM_START, mem - low, NULL, 0, NULL),
        "mapping guest RAM above 4 GiB");

  L->vcpus = calloc(o->cpus, sizeof(*L->vcpus));
  if (!L->vcpus) {
    fprintf(stderr, "vmm-boot: out of memory\n");
    return VMM_ENOMEM;
  }
  for (uint32_t i = 0; i < o->cpus; i++)
    TRY(vmm_vcpu_create(L->vm, i, &L->vcpus[i]), "creating a vCPU");
  /* Before any vCPU runs; it also covers the vCPUs created above. */
  if (o->cpu_template)
    TRY(vmm_vm_set_cpu_template(L->vm, o->cpu_template), "--cpu-template");

  /* The UART at COM1 (through the relay with --timings). */
  vmm_chardev_t *chr = NULL;
  vmm_uart_config_t uart = VMM_UART_CONFIG_INIT;
  if (o->timings && o->console.kind != OUT_NONE) {
    TRY(relay_create(L->vm, &o->console, &chr, &L->relay), "--console");
  } else {
    TRY(make_chardev(L, &o->console, &chr), "--console");
  }
  uart.chardev = chr;
  TRY(vmm_uart_create(L->vm, &uart, NULL), "creating the UART");
  TRY(vmm_i8042_create(L->vm, NULL), "creating the i8042");
  TRY(vmm_rtc_create(L->vm, NULL), "creating the RTC");
  TRY(vmm_debug_exit_create(L->vm, 0, NULL), "creating the debug-exit port");
  TRY(vmm_boot_timer_create(L->vm, 0, NULL, NULL, NULL),
      "creating the boot-time port");
  /* QEMU's fw_cfg: CPU count, RAM size and command line for firmware
   * and test kernels written for QEMU. */
  vmm_fw_cfg_config_t fw = VMM_FW_CFG_CONFIG_INIT;
  fw.cmdline = o->cmdline;
  TRY(vmm_fw_cfg_create(L->vm, &fw, NULL), "creating fw_cfg");

  vmm_virtio_config_t pci = VMM_VIRTIO_CONFIG_INIT;
  pci.transport = VMM_VIRTIO_PCI;
  vmm_device_t *dev;
  TRY(vmm_virtio_rng_create(L->vm, &pci, &dev), "creating virtio-rng");
  if (o->virtio_console.kind != OUT_NONE) {
    TRY(make_chardev(L, &o->virtio_console, &chr), "--virtio-console");
    TRY(vmm_virtio_console_create(L->vm, &pci, chr, &dev),
        "creating virtio-console");
  }
  for (unsigned i = 0; i < o->n_disks; i++) {
    vmm_virtio_blk_config_t blk = VMM_VIRTIO_BLK_CONFIG_INIT;
    blk.path = o->disks[i].path;
    blk.flags = o->disks[i].readonly ? VMM_BLK_F_READONLY : 0;
    TRY(vmm_virtio_blk_create(L->vm, &pci, &blk, &dev), "--disk");
    if (o->verbose)
      fprintf(stderr, "vmm-boot: virtio-blk %s%s at PCI 00:%02x.%x\n",
              blk.path, o->disks[i].readonly ? " (read-only)" : "",
              vmm_virtio_pci_devfn(dev) >> 3, vmm_virtio_pci_devfn(dev) & 7);
  }
  for (unsigned i = 0; i < o->n_nets; i++) {
    vmm_virtio_net_config_t net = VMM_VIRTIO_NET_CONFIG_INIT;
    net.backend = o->nets[i].tap ? VMM_NET_TAP : VMM_NET_SOCKET;
    net.name = o->nets[i].name;
    TRY(vmm_virtio_net_create(L->vm, &pci, &net, &dev), "--net");
  }
  TRY(vmm_vm_on_exit(L->vm, on_exit_hook, L), "setting the exit hook");

  vmm_boot_config_t boot = VMM_BOOT_CONFIG_INIT;
  boot.kernel_path = o->kernel;
  boot.initrd_path = o->initrd;
  boot.cmdline = o->cmdline;
  vmm_boot_info_t info = {.size = sizeof(info)};
  TRY(vmm_boot(L->vm, &boot, &info), "booting the kernel");
  if (o->verbose) {
    fprintf(stderr, "vmm-boot: %s kernel at [0x%llx, 0x%llx), entry 0x%llx, "
            "%u vCPU(s), %llu MiB RAM\n", vmm_kernel_format_name(
            (int)info.format), (unsigned long long)info.kernel_start,
            (unsigned long long)info.kernel_end,
            (unsigned long long)info.entry, info.cpus,
            (unsigned long long)o->mem_mib);
    if (info.initrd_start)
      fprintf(stderr, "vmm-boot: initrd at [0x%llx, 0x%llx)\n",
              (unsigned long long)info.initrd_start,
              (unsigned long long)info.initrd_end);
    fprintf(stderr, "vmm-boot: boot structures at 0x%llx, command line at "
            "0x%llx, ACPI RSDP 0x%llx, MP table 0x%llx, %u e820 entries\n",
            (unsigned long long)info.params,
            (unsigned long long)info.cmdline,
            (unsigned long long)info.acpi_rsdp,
            (unsigned long long)info.mptable, info.e820_entries);
  }
  return 0;
#undef TRY
}

/* ---- running ---------------------------------------------------------- */

static void *signal_main(void *arg) {
  struct launcher *L = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  int sig;
  while (sigwait(&set, &sig) == 0) {
    int none = 0;
    atomic_compare_exchange_strong(&L->signo, &none, sig);
    vmm_vm_stop(L->vm, 128 + sig);
  }
  return NULL;
}

static void print_ms(const char *what, uint64_t ns) {
  if (ns)
    fprintf(stderr, "vmm-boot: timings: %s %.1f ms\n", what, ns / 1e6);
  else
    fprintf(stderr, "vmm-boot: timings: %s: not seen\n", what);
}

static void print_timings(struct launcher *L, uint64_t t_stop) {
  vmm_vm_timings_t t = {.size = sizeof(t)};
  if (vmm_vm_get_timings(L->vm, &t) < 0)
    return;
  uint64_t first = relay_first_byte_ns(L->relay);
  uint64_t banner = relay_banner_ns(L->relay);
  print_ms("process start -> VM created", t.created_ns - L->t_main);
  print_ms("VM created -> started", t.start_ns);
  print_ms("VM created -> first guest output", t.first_output_ns);
  if (L->relay) {
    print_ms("VM created -> first UART byte",
             first ? first - t.created_ns : 0);
    print_ms("VM created -> \"Linux version\"",
             banner ? banner - t.created_ns : 0);
  }
  print_ms("VM created -> init (boot-time port)", t.boot_done_ns);
  print_ms("total (process start -> VM stopped)", t_stop - L->t_main);
}

/* The exit status for how the VM stopped, with a message for people. */
static int conclude(struct launcher *L, const vmm_vm_stop_info_t *info) {
  switch (info->reason) {
  case VMM_STOP_GUEST_EXIT:
    if (info->status == 0)
      fprintf(stderr, "vmm-boot: the guest powered off\n");
    else
      fprintf(stderr, "vmm-boot: the guest exited with status %d (%s)\n",
              info->status, info->message);
    return info->status;
  case VMM_STOP_REQUESTED: {
    int sig = atomic_load(&L->signo);
    fprintf(stderr, "vmm-boot: stopped by signal %d (%s)\n", sig,
            sig ? strsignal(sig) : "?");
    print_where(L);
    return sig ? 128 + sig : EXIT_ERROR;
  }
  case VMM_STOP_RESET:
    fprintf(stderr, "vmm-boot: the guest asked for a reset (%s); exiting "
                    "with %d\n", info->message, EXIT_RESET);
    return EXIT_RESET;
  case VMM_STOP_SHUTDOWN:
    fprintf(stderr, "vmm-boot: triple fault: %s; exiting with %d\n",
            info->message, EXIT_TRIPLE_FAULT);
    if (L->fault.valid)
      print_fault(L);
    return EXIT_TRIPLE_FAULT;
  case VMM_STOP_ERROR:
    if (L->fault.valid && L->fault.reason == VMM_EXIT_INTERNAL_ERROR) {
      fprintf(stderr, "vmm-boot: backend internal error (%s): %s; exiting "
                      "with %d\n", internal_kind(L->fault.kind),
              info->message, EXIT_INTERNAL);
      print_fault(L);
      return EXIT_INTERNAL;
    }
    fprintf(stderr, "vmm-boot: the VM stopped on an error: %s (%s)\n",
            info->message, vmm_err_name(info->error));
    return EXIT_ERROR;
  default:
    fprintf(stderr, "vmm-boot: the VM stopped (reason %u): %s\n",
            info->reason, info->message);
    return EXIT_ERROR;
  }
}

int main(int argc, char **argv) {
  static struct launcher L; /* the signal thread may outlive main's frame */
  L.t_main = now_ns();
  pthread_mutex_init(&L.mu, NULL);
  int rc = parse_options(argc, argv, &L.o);
  if (rc)
    return rc == 1 ? 0 : rc;

  /* Every thread created from here on inherits the mask; signal_main
   * takes these signals once the VM runs (until then they wait). */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  /* A console reader that went away must not kill the VM's process. */
  signal(SIGPIPE, SIG_IGN);

  if (build(&L) < 0) {
    relay_destroy(L.relay);
    vmm_vm_destroy(L.vm);
    return EXIT_SETUP;
  }
  if ((rc = vmm_vm_start(L.vm)) < 0) {
    fail_call("starting the VM", rc);
    relay_destroy(L.relay);
    vmm_vm_destroy(L.vm);
    return EXIT_SETUP;
  }
  pthread_t sig_thread;
  if (pthread_create(&sig_thread, NULL, signal_main, &L) == 0)
    pthread_detach(sig_thread);
  else
    fprintf(stderr, "vmm-boot: warning: no signal thread; SIGINT/SIGTERM "
                    "stay blocked\n");

  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  rc = vmm_vm_wait(L.vm, -1, &info);
  uint64_t t_stop = now_ns();
  relay_finish(L.relay);
  int status;
  if (rc < 0) {
    fail_call("waiting for the VM", rc);
    status = EXIT_ERROR;
  } else {
    status = conclude(&L, &info);
  }
  if (L.o.timings)
    print_timings(&L, t_stop);
  relay_destroy(L.relay);
  vmm_vm_destroy(L.vm);
  free(L.vcpus);
  return status;
}
