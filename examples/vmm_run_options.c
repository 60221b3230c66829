/* examples/vmm_run_options.c — vmm-run's command line and its manual
 * (--help). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_run.h"

static void print_help(FILE *f) {
  fprintf(f,
"NAME\n"
"    vmm-run - run a virtual machine described in JSON, on libvmm\n"
"\n"
"SYNOPSIS\n"
"    vmm-run [--timings] [--set KEY=VALUE]... [--control PATH]\n"
"            [--gdb ADDR] [--no-sandbox | --sandbox-kill] VM.json\n"
"    vmm-run --describe [--set KEY=VALUE]... VM.json\n"
"    vmm-run --check [--set KEY=VALUE]... VM.json\n"
"    vmm-run --restore DIR [--timings] [--control PATH] [--gdb ADDR]\n"
"            [--no-sandbox | --sandbox-kill] [--describe]\n"
"    vmm-run --help | --version\n"
"\n"
"DESCRIPTION\n"
"    vmm-run reads the VM description VM.json (the schema is in\n"
"    docs/config.md: backend, memory, vCPUs and CPU template, payload,\n"
"    devices and their back-ends, control socket), builds the VM with\n"
"    vmm_vm_create_from_config(), runs it and exits with the guest's\n"
"    status. Relative paths in the description are taken relative to the\n"
"    directory of VM.json.\n"
"\n"
"    When a device's back-end is \"stdio\" and stdin is a terminal, the\n"
"    terminal is put into raw mode while the VM runs (every key goes to\n"
"    the guest, Ctrl-C included) and restored on every way out. Keys\n"
"    after Ctrl-A, as in QEMU:\n"
"%s"
"    Otherwise (stdin a pipe or a file, or no stdio console) the\n"
"    terminal is left alone and Ctrl-C (SIGINT) stops the VM.\n"
"\n"
"    Every way the VM stops prints one line on stderr saying what\n"
"    happened; every failure before it runs prints one line saying why.\n"
"\n"
"OPTIONS\n"
"    --timings\n"
"        Print boot times on stderr when the VM stops: parsing, creating\n"
"        the VM and loading its payload, the first guest instruction, the\n"
"        first guest output and the guest's write to the boot-time port\n"
"        0x%x (init).\n"
"    --set KEY=VALUE\n"
"        Change one field of the description before it is read, e.g.\n"
"        --set payload.cmdline='console=ttyS0 quiet', --set vcpus=2,\n"
"        --set devices[1].path=other.img. KEY is a path of object members\n"
"        and array indices; missing objects are created, array elements\n"
"        must exist. VALUE is taken as JSON when it parses as JSON (a\n"
"        number, true, an object...), else as a string: quote it to force\n"
"        a string (--set 'payload.cmdline=\"42\"'). Repeatable; applied in\n"
"        order. Relative paths in values are taken relative to the\n"
"        directory of VM.json, like those in the file.\n"
"    --control PATH\n"
"        Serve the control socket (docs/control-api.md) at PATH, relative\n"
"        to the current directory: --set control.path=PATH made absolute.\n"
"    --gdb tcp:HOST:PORT|unix:PATH\n"
"        Serve gdb there (vmm_gdbstub_start(), docs/gdb.md): the vCPUs wait\n"
"        at their first instruction until gdb connects and continues. A\n"
"        relative PATH is taken from the current directory.\n"
"    --restore DIR\n"
"        Run the snapshot in DIR (vmm_vm_snapshot(), e.g. through the\n"
"        control socket's \"snapshot\"; docs/snapshot.md) instead of a\n"
"        description: the VM is rebuilt from the description the snapshot\n"
"        holds, and the guest continues where it was saved. Its sandbox\n"
"        setting is the saved description's unless given here; a stdio\n"
"        console is not put into raw mode.\n"
"    --no-sandbox\n"
"        Run the vCPU and loop threads without the seccomp sandbox\n"
"        (docs/sandbox.md). By default they run under it: once the VM is\n"
"        set up they may use only the system calls their work needs, and\n"
"        any other (opening files, sockets, exec...) fails with EPERM.\n"
"        Overrides the description's \"sandbox\". Where libvmm was built\n"
"        without libseccomp the default is dropped (--describe then shows\n"
"        \"sandbox\": \"off\"); asking for it is then an error.\n"
"    --sandbox-kill\n"
"        The sandbox, but a refused system call kills vmm-run (SIGSYS)\n"
"        instead of failing with EPERM.\n"
"    --describe\n"
"        Build the VM, print its description (vmm_vm_describe_json(): the\n"
"        description with every default filled in) on stdout and exit\n"
"        without running it.\n"
"    --check\n"
"        Only parse and validate the description (no VM, no /dev/kvm\n"
"        needed); exit 0 when it is valid.\n"
"    --help\n"
"        This manual.\n"
"    --version\n"
"        The libvmm version.\n"
"\n"
"EXIT STATUS\n"
"    0        the guest powered off through ACPI (S5)\n"
"    odd      (v << 1) | 1: the guest wrote v to the debug-exit port 0xf4\n"
"             (QEMU's isa-debug-exit convention; the low 8 bits reach the\n"
"             shell)\n"
"    %-8d bad usage: unknown option, missing or malformed value, a --set\n"
"             that does not fit the description\n"
"    %-8d the VM could not be built or started (a disk that cannot be\n"
"             opened, a payload the loader refuses...)\n"
"    %-8d the guest asked for a reset (i8042 0xFE; Linux's reboot)\n"
"    %-8d triple fault; vCPU, RIP and CPU mode are printed\n"
"    %-8d the backend could not go on (e.g. an instruction its emulator\n"
"             cannot run); vCPU, RIP, mode and instruction bytes printed\n"
"    %-8d another library error stopped the VM, or the guest halted\n"
"             (HLT) on a VM without an interrupt controller\n"
"    %-8d the description was rejected: malformed JSON, wrong types,\n"
"             unknown fields, values out of range, missing files (the\n"
"             message gives the JSON path: devices[2].path: no such file)\n"
"    %-8d no usable backend: /dev/kvm missing (ENOENT: KVM not loaded\n"
"             or not enabled) or not accessible (EACCES: not in the kvm\n"
"             group)\n"
"    %-8d the user quit with Ctrl-A x\n"
"    128+N    signal N (SIGINT 130, SIGTERM 143, SIGHUP 129) stopped the\n"
"             VM; it is stopped and destroyed before exiting\n"
"    N        the control socket's \"stop\" with \"status\": N (default 0)\n"
"\n"
"EXAMPLES\n"
"    vmm-run build/examples/configs/hello.json\n"
"        The launch test guest: prints a line on the UART and powers\n"
"        off (status 0). meson copies examples/configs/ into the build\n"
"        directory, where their relative paths reach the built test\n"
"        guests; examples/configs/README.md lists them.\n"
"    vmm-run --set payload.cmdline='echo exit=3' \\\n"
"            build/examples/configs/hello.json\n"
"        The same guest reads a line from the terminal, prints it and\n"
"        exits with status 7.\n"
"    vmm-run --timings build/examples/configs/linux.json\n"
"        The Linux guest (examples/configs/README.md: how to fetch the\n"
"        kernel and build the initramfs), with boot times.\n"
"    vmm-run --describe vm.json | jq .devices\n"
"        The devices the description makes, defaults filled in.\n"
"\n"
"FILES\n"
"    /dev/kvm              the KVM backend's device\n"
"    docs/config.md        the schema of VM.json\n"
"    docs/launcher.md      vmm-run and vmm-boot\n"
"    examples/configs/     example descriptions\n",
          term_escape_help, VMM_BOOT_TIMER_PORT, EXIT_USAGE, EXIT_SETUP,
          EXIT_RESET, EXIT_TRIPLE_FAULT, EXIT_INTERNAL, EXIT_ERROR,
          EXIT_CONFIG, EXIT_NO_BACKEND, EXIT_QUIT);
}


/* --control PATH as an absolute path: the description's relative paths
 * are read from its own directory, the user typed this one here. */
static const char *absolute(const char *path) {
  static char buf[4096];
  if (path[0] == '/')
    return path;
  if (!getcwd(buf, sizeof(buf)))
    return NULL;
  size_t n = strlen(buf);
  if (n + 1 + strlen(path) + 1 > sizeof(buf))
    return NULL;
  buf[n] = '/';
  strcpy(buf + n + 1, path);
  return buf;
}

int run_parse_options(int argc, char **argv, struct run_options *o) {
  memset(o, 0, sizeof(*o));
  o->sandbox = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* --opt=VALUE as well as --opt VALUE. */
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (name_len == strlen(name) && strncmp(a, name, name_len) == 0)
#define VALUE()                                                               \
  (eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL))
    if (IS("--help") || IS("-h")) {
      print_help(stdout);
      return 1;
    } else if (IS("--version")) {
      printf("vmm-run (libvmm %s)\n", vmm_version_string());
      return 1;
    } else if (IS("--timings") && !eq) {
      o->timings = true;
    } else if (IS("--describe") && !eq) {
      o->describe = true;
    } else if (IS("--check") && !eq) {
      o->check = true;
    } else if (IS("--set")) {
      const char *v = VALUE();
      if (!v)
        return usage_error("--set needs KEY=VALUE");
      if (!strchr(v, '=') || v[0] == '=')
        return usage_error("--set %s: not KEY=VALUE", v);
      if (o->n_sets == MAX_SETS)
        return usage_error("more than %d --set", MAX_SETS);
      o->sets[o->n_sets++] = v;
    } else if (IS("--control")) {
      const char *v = VALUE();
      if (!v || !*v)
        return usage_error("--control needs a path");
      if (!(o->control = absolute(v)))
        return usage_error("--control %s: path too long", v);
    } else if (IS("--no-sandbox") && !eq) {
      o->sandbox = 0;
    } else if (IS("--sandbox-kill") && !eq) {
      o->sandbox = VMM_SANDBOX_ON | VMM_SANDBOX_KILL;
    } else if (IS("--restore")) {
      const char *v = VALUE();
      if (!v || !*v)
        return usage_error("--restore needs a snapshot directory");
      o->restore = v;
    } else if (IS("--gdb")) {
      const char *v = VALUE();
      if (!v || (strncmp(v, "tcp:", 4) && strncmp(v, "unix:", 5)))
        return usage_error("--gdb needs tcp:HOST:PORT or unix:PATH");
      o->gdb = v;
    } else if (a[0] == '-' && a[1]) {
      return usage_error("unknown option %s", a);
    } else if (o->config) {
      return usage_error("one VM description only (got %s and %s)",
                         o->config, a);
    } else {
      o->config = a;
    }
#undef IS
#undef VALUE
  }
  if (o->restore && (o->config || o->n_sets || o->check))
    return usage_error("--restore runs a snapshot: no description, --set "
                       "or --check with it");
  if (!o->config && !o->restore)
    return usage_error("no VM description given");
  if (o->describe && o->check)
    return usage_error("--describe and --check exclude each other");
  return 0;
}
