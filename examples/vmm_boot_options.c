/* examples/vmm_boot_options.c — vmm-boot's command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_boot.h"

void print_usage(FILE *f) {
  fprintf(f,
"usage: vmm-boot --kernel FILE [options]\n"
"Boots a kernel (bzImage, PVH vmlinux, multiboot or plain ELF, detected\n"
"from the file) in a VM on libvmm.\n"
"\n"
"  --kernel FILE          the kernel image\n"
"  --initrd FILE          initrd (Linux) or first module (multiboot)\n"
"  --cmdline STR          the kernel command line (default: empty)\n"
"  --mem MiB              guest RAM (default 512); above 3072 MiB the RAM\n"
"                         is split around the PCI/MMIO hole [3 GiB, 4 GiB)\n"
"  --cpus N               vCPUs (default 1, at most %u)\n"
"  --disk FILE[,ro]       a virtio-blk disk (raw image) on virtio-pci;\n"
"                         repeatable\n"
"  --net tap:NAME|socket:PATH\n"
"                         a virtio-net device on virtio-pci; repeatable\n"
"  --cpu-template SPEC    \"host\" or \"baseline\", then \",-feat,+feat\"\n"
"  --console stdio|file:PATH|none\n"
"                         the 16550 UART at COM1 (default stdio)\n"
"  --virtio-console stdio|file:PATH|none\n"
"                         a virtio-console on virtio-pci (/dev/hvc0 in\n"
"                         Linux; default none)\n"
"  --gdb tcp:HOST:PORT|unix:PATH\n"
"                         serve gdb there; the vCPUs wait at the kernel's\n"
"                         entry until gdb continues (docs/gdb.md)\n"
"  --timings              print boot times on stderr when the VM stops\n"
"  --no-sandbox           run the vCPU and loop threads without the seccomp\n"
"                         sandbox (on by default where libvmm has one;\n"
"                         docs/sandbox.md)\n"
"  --sandbox-kill         the sandbox, a refused system call killing the\n"
"                         process instead of failing with EPERM\n"
"  --verbose              say what was built and where the kernel went\n"
"  --help                 this text\n"
"\n"
"Always present: virtio-rng (virtio-pci), i8042 (reset), CMOS RTC, the\n"
"debug-exit port 0xf4, the boot-time port 0x%x (write %u there), QEMU's\n"
"fw_cfg at 0x510, and the ACPI tables and power-off device vmm_boot()\n"
"writes.\n"
"\n"
"Exit status: the guest's (0 after an ACPI power-off, (v << 1) | 1 after\n"
"it wrote v to port 0xf4); %d bad usage, %d the VM could not be set up,\n"
"%d guest reset, %d triple fault, %d backend internal error, %d other\n"
"error, 128 + N after signal N (SIGINT, SIGTERM, SIGHUP).\n",
          VMM_MAX_VCPUS, VMM_BOOT_TIMER_PORT, VMM_BOOT_TIMER_MAGIC,
          EXIT_USAGE, EXIT_SETUP, EXIT_RESET, EXIT_TRIPLE_FAULT,
          EXIT_INTERNAL, EXIT_ERROR);
  fprintf(f, "\nCPU templates:");
  for (unsigned i = 0; vmm_cpu_template_name(i); i++)
    fprintf(f, " %s", vmm_cpu_template_name(i));
  fprintf(f, "\nCPU features (for -feat/+feat):");
  for (unsigned i = 0, col = 80; vmm_cpu_feature_name(i); i++) {
    const char *n = vmm_cpu_feature_name(i);
    if (col + strlen(n) + 1 > 76) {
      fprintf(f, "\n ");
      col = 1;
    }
    col += (unsigned)fprintf(f, " %s", n);
  }
  fprintf(f, "\n");
}


/* A decimal number in [min, max]. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

static int parse_out(const char *opt, const char *v, struct out_spec *o) {
  if (!strcmp(v, "stdio")) {
    o->kind = OUT_STDIO;
  } else if (!strcmp(v, "none")) {
    o->kind = OUT_NONE;
  } else if (!strncmp(v, "file:", 5) && v[5]) {
    o->kind = OUT_FILE;
    o->path = v + 5;
  } else {
    fprintf(stderr, "vmm-boot: %s: '%s' is not stdio, file:PATH or none\n",
            opt, v);
    return EXIT_USAGE;
  }
  return 0;
}

int parse_options(int argc, char **argv, struct options *o) {
  memset(o, 0, sizeof(*o));
  o->mem_mib = 512;
  o->cpus = 1;
  o->sandbox = VMM_SANDBOX_ON;
  o->console.kind = OUT_STDIO;
  o->virtio_console.kind = OUT_NONE;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      print_usage(stdout);
      return 1;
    }
    if (!strcmp(a, "--timings")) {
      o->timings = true;
      continue;
    }
    if (!strcmp(a, "--verbose")) {
      o->verbose = true;
      continue;
    }
    if (!strcmp(a, "--no-sandbox")) {
      o->sandbox = 0;
      continue;
    }
    if (!strcmp(a, "--sandbox-kill")) {
      o->sandbox = VMM_SANDBOX_ON | VMM_SANDBOX_KILL;
      continue;
    }
    /* Everything else takes a value: --opt VALUE or --opt=VALUE. */
    const char *v = NULL;
    char name[32];
    const char *eq = strchr(a, '=');
    if (!strncmp(a, "--", 2) && eq && (size_t)(eq - a) < sizeof(name)) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = 0;
      v = eq + 1;
    } else if (!strncmp(a, "--", 2) && strlen(a) < sizeof(name)) {
      strcpy(name, a);
      if (i + 1 < argc)
        v = argv[++i];
    } else {
      return usage_error("unknown argument '%s'", a);
    }
    uint64_t n;
    if (!strcmp(name, "--kernel") || !strcmp(name, "--initrd") ||
        !strcmp(name, "--cmdline") || !strcmp(name, "--cpu-template") ||
        !strcmp(name, "--mem") || !strcmp(name, "--cpus") ||
        !strcmp(name, "--disk") || !strcmp(name, "--net") ||
        !strcmp(name, "--console") || !strcmp(name, "--virtio-console") ||
        !strcmp(name, "--gdb")) {
      if (!v)
        return usage_error("%s needs a value", name);
    } else {
      return usage_error("unknown option '%s'", name);
    }
    if (!strcmp(name, "--gdb")) {
      if (strncmp(v, "tcp:", 4) && strncmp(v, "unix:", 5))
        return usage_error("--gdb: '%s' is not tcp:HOST:PORT or unix:PATH",
                           v);
      o->gdb = v;
    } else if (!strcmp(name, "--kernel")) {
      o->kernel = v;
    } else if (!strcmp(name, "--initrd")) {
      o->initrd = v;
    } else if (!strcmp(name, "--cmdline")) {
      o->cmdline = v;
    } else if (!strcmp(name, "--cpu-template")) {
      if (!*v)
        return usage_error("--cpu-template needs a value");
      if (vmm_cpu_template_check(v) < 0)
        return usage_error("--cpu-template: %s", vmm_last_error());
      o->cpu_template = v;
    } else if (!strcmp(name, "--mem")) {
      /* 2 MiB: the boot layout below 1 MiB plus a small kernel; 1 TiB is
       * far more than this launcher's users need. */
      if (!parse_u64(v, 2, 1u << 20, &n))
        return usage_error("--mem: '%s' is not a size in MiB from 2 to "
                           "1048576", v);
      o->mem_mib = n;
    } else if (!strcmp(name, "--cpus")) {
      if (!parse_u64(v, 1, VMM_MAX_VCPUS, &n))
        return usage_error("--cpus: '%s' is not a number from 1 to 256",
                           v);
      o->cpus = (uint32_t)n;
    } else if (!strcmp(name, "--disk")) {
      if (o->n_disks == MAX_DISKS)
        return usage_error("too many --disk options (at most 16)");
      /* argv's strings are the program's to change: the ",ro" goes. */
      char *path = (char *)v;
      size_t len = strlen(path);
      bool ro = len > 3 && !strcmp(path + len - 3, ",ro");
      if (ro)
        path[len - 3] = 0;
      if (!*path || strchr(path, ','))
        return usage_error("--disk: '%s%s' is not FILE or FILE,ro", path,
                           ro ? ",ro" : "");
      o->disks[o->n_disks].path = path;
      o->disks[o->n_disks++].readonly = ro;
    } else if (!strcmp(name, "--net")) {
      if (o->n_nets == MAX_NETS)
        return usage_error("too many --net options (at most 8)");
      if (!strncmp(v, "tap:", 4) && v[4]) {
        o->nets[o->n_nets].tap = true;
        o->nets[o->n_nets++].name = v + 4;
      } else if (!strncmp(v, "socket:", 7) && v[7]) {
        o->nets[o->n_nets].tap = false;
        o->nets[o->n_nets++].name = v + 7;
      } else {
        return usage_error("--net: '%s' is not tap:NAME or socket:PATH",
                           v);
      }
    } else if (!strcmp(name, "--console")) {
      if (parse_out(name, v, &o->console))
        return EXIT_USAGE;
    } else if (!strcmp(name, "--virtio-console")) {
      if (parse_out(name, v, &o->virtio_console))
        return EXIT_USAGE;
    }
  }
  if (!o->kernel)
    return usage_error("no kernel: --kernel FILE is required");
  if (o->console.kind == OUT_STDIO && o->virtio_console.kind == OUT_STDIO)
    return usage_error("--console and --virtio-console cannot both be "
                       "stdio (one device per back-end)");
  if (o->console.kind == OUT_FILE && o->virtio_console.kind == OUT_FILE &&
      !strcmp(o->console.path, o->virtio_console.path))
    return usage_error("--console and --virtio-console name the same "
                       "file %s", o->console.path);
  return 0;
}
