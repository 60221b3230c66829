/* examples/vmm_boot.c — vmm-boot, a mini-launcher on the public libvmm
 * API: builds a PC-like VM (RAM, N vCPUs, UART, virtio-pci devices, i8042,
 * RTC, debug-exit and boot-time ports), boots a kernel of any format
 * vmm_boot() knows, runs it on libvmm's threads and exits with the
 * guest's status. Options and statuses: vmm_boot_options.c,
 * docs/launcher.md. */
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

struct launcher {
  struct options o;
  vmm_vm_t *vm;
  vmm_vcpu_t **vcpus;
  struct relay *relay;
  uint64_t t_main;
  struct stop_watch watch;
};

const char *launcher_prog = "vmm-boot";

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
  L->watch.vm = L->vm;
  L->watch.vcpus = L->vcpus;
  L->watch.n_vcpus = o->cpus;
  TRY(stop_watch_exits(&L->watch), "setting the exit hook");

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

static void print_timings(struct launcher *L, uint64_t t_stop) {
  vmm_vm_timings_t t = {.size = sizeof(t)};
  if (vmm_vm_get_timings(L->vm, &t) < 0)
    return;
  uint64_t first = relay_first_byte_ns(L->relay);
  uint64_t banner = relay_banner_ns(L->relay);
  print_ms("process start -> VM created", t.created_ns - L->t_main);
  print_ms("VM created -> started", t.start_ns);
  print_ms("VM created -> first guest entry", t.first_entry_ns);
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

int main(int argc, char **argv) {
  static struct launcher L; /* the signal thread may outlive main's frame */
  L.t_main = now_ns();
  stop_watch_init(&L.watch);
  int rc = parse_options(argc, argv, &L.o);
  if (rc)
    return rc == 1 ? 0 : rc;

  /* Every thread created from here on inherits the mask; the signal
   * thread takes these signals once the VM runs (until then they wait). */
  stop_watch_block_signals();

  if (build(&L) < 0) {
    relay_destroy(L.relay);
    vmm_vm_destroy(L.vm);
    return EXIT_SETUP;
  }
  if (L.o.gdb) {
    if ((rc = vmm_gdbstub_start(L.vm, L.o.gdb)) < 0) {
      fail_call("starting the gdb stub", rc);
      relay_destroy(L.relay);
      vmm_vm_destroy(L.vm);
      return EXIT_SETUP;
    }
    fprintf(stderr, "vmm-boot: waiting for gdb on %s\n", L.o.gdb);
  }
  /* The sandbox once everything is open (docs/sandbox.md); the default
   * is dropped where libvmm has none, --sandbox-kill then fails. */
  bool want = L.o.sandbox && (L.o.sandbox & VMM_SANDBOX_KILL ||
                              vmm_sandbox_available() == 0);
  if (want && (rc = vmm_vm_set_sandbox(L.vm, L.o.sandbox)) < 0) {
    fail_call("the sandbox", rc);
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
  stop_watch_signals(&L.watch);

  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  rc = vmm_vm_wait(L.vm, -1, &info);
  uint64_t t_stop = now_ns();
  relay_finish(L.relay);
  int status;
  if (rc < 0) {
    fail_call("waiting for the VM", rc);
    status = EXIT_ERROR;
  } else {
    status = stop_watch_conclude(&L.watch, &info);
  }
  if (L.o.timings)
    print_timings(&L, t_stop);
  relay_destroy(L.relay);
  vmm_vm_destroy(L.vm);
  free(L.vcpus);
  return status;
}
