/* examples/vmm_run.c — vmm-run: runs a VM described in JSON
 * (vmm_config_parse_file() → vmm_vm_create_from_config()) with its
 * console on the terminal and exits with the guest's status. Options and
 * statuses: vmm_run_options.c (--help), docs/launcher.md. */
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

#include "vmm_run.h"

const char *launcher_prog = "vmm-run";

/* Static: the signal thread may outlive main's frame. */
static struct stop_watch watch;

/* Ctrl-A x, on the terminal thread. */
static void on_quit(void *opaque) {
  struct stop_watch *w = opaque;
  atomic_store(&w->quit, true);
  vmm_vm_stop(w->vm, 0);
}

static void print_timings(vmm_vm_t *vm, uint64_t t_main, uint64_t t_parsed,
                          uint64_t t_built, uint64_t t_stop) {
  vmm_vm_timings_t t = {.size = sizeof(t)};
  if (vmm_vm_get_timings(vm, &t) < 0)
    return;
  print_ms("process start -> description parsed", t_parsed - t_main);
  print_ms("process start -> VM created", t.created_ns - t_main);
  print_ms("VM created -> devices built, payload loaded",
           t_built - t.created_ns);
  print_ms("VM created -> started", t.start_ns);
  print_ms("VM created -> first guest instruction", t.first_entry_ns);
  print_ms("VM created -> first guest output", t.first_output_ns);
  print_ms("VM created -> init (boot-time port)", t.boot_done_ns);
  print_ms("total (process start -> VM stopped)", t_stop - t_main);
}

/* The backend's own message says which case it is: no /dev/kvm (ENOENT:
 * KVM not loaded), no permission (EACCES), an unusable KVM. */
static int check_backend(void) {
  int rc = vmm_backend_probe("auto");
  if (rc == 0)
    return 0;
  /* The message says "no usable backend: kvm: ..." itself. */
  fprintf(stderr, "vmm-run: %s (%s)\n",
          vmm_last_error()[0] ? vmm_last_error() : vmm_strerror(rc),
          vmm_err_name(rc));
  return EXIT_NO_BACKEND;
}

/* The description's control socket (docs/control-api.md), unless
 * vmm_vm_create_from_config() opened it already. */
static int listen_control(vmm_vm_t *vm, const vmm_config_t *cfg) {
  const char *path = vmm_config_control_path(cfg);
  if (!path)
    return 0;
  int rc = vmm_vm_control_listen(vm, path);
  return rc == VMM_EBUSY ? 0 : rc;
}

/* Raw mode just before the guest's first output can come. */
static int start(vmm_vm_t *vm, struct term *term) {
  if (term && term_start(term, on_quit, &watch) < 0)
    return VMM_EIO; /* term_start() said why */
  int rc = vmm_vm_start(vm);
  if (rc < 0)
    fail_call("starting the VM", rc);
  return rc;
}

/* The seccomp sandbox (docs/sandbox.md) for the VM's threads, set after
 * everything that opens files and sockets (devices, control socket, gdb
 * stub) and before they start. On by default: where libvmm cannot
 * sandbox, that default is dropped (silently: stderr is for the one line
 * saying how the VM stopped; --describe shows "sandbox": "off"); asked
 * for explicitly, it is an error. */
static int apply_sandbox(vmm_vm_t *vm, int flags, bool by_default) {
  if (flags < 0) {
    flags = VMM_SANDBOX_ON;
    by_default = true;
  }
  if (flags && by_default && vmm_sandbox_available() < 0)
    return 0;
  int rc = vmm_vm_set_sandbox(vm, (uint32_t)flags);
  if (rc < 0)
    fail_call("the sandbox", rc);
  return rc;
}

static int describe(vmm_vm_t *vm) {
  char *json = NULL;
  int rc = vmm_vm_describe_json(vm, &json);
  if (rc < 0) {
    fail_call("describing the VM", rc);
    return EXIT_ERROR;
  }
  printf("%s\n", json);
  free(json);
  return 0;
}

/* Runs a built (or restored) VM until it stops: the stop watch, the
 * start, the wait, the report. Returns the exit status. */
static int run_vm(vmm_vm_t *vm, struct term *term,
                  const struct run_options *opts, uint64_t t_main,
                  uint64_t t_parsed, uint64_t t_built) {
  int rc, status;
  watch.vm = vm;
  /* The vCPUs the description made (ids from 0 up), so that a stop from
   * outside can say where each one was. */
  static vmm_vcpu_t *vcpus[VMM_MAX_VCPUS];
  while (watch.n_vcpus < VMM_MAX_VCPUS &&
         (vcpus[watch.n_vcpus] = vmm_vm_get_vcpu(vm, watch.n_vcpus)) != NULL)
    watch.n_vcpus++;
  watch.vcpus = vcpus;
  if ((rc = stop_watch_exits(&watch)) < 0)
    fail_call("setting the exit hook", rc);
  else
    rc = start(vm, term);
  if (rc < 0) {
    term_close(term);
    vmm_vm_destroy(vm);
    return EXIT_SETUP;
  }
  stop_watch_signals(&watch);

  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  rc = vmm_vm_wait(vm, -1, &info);
  uint64_t t_stop = now_ns();
  /* The terminal back first, so that the report reads normally. */
  term_close(term);
  if (rc < 0) {
    fail_call("waiting for the VM", rc);
    status = EXIT_ERROR;
  } else {
    status = stop_watch_conclude(&watch, &info);
  }
  if (opts->timings)
    print_timings(vm, t_main, t_parsed, t_built, t_stop);
  vmm_vm_destroy(vm);
  return status;
}

/* --restore DIR: the snapshot's VM (vmm_vm_restore(), docs/snapshot.md)
 * with the command line's control socket, gdb stub and sandbox; the
 * description's stdio console is not put into raw mode. */
static int restore(const struct run_options *o, uint64_t t_main) {
  int status = check_backend();
  if (status)
    return status;
  uint64_t t_parsed = now_ns();
  vmm_restore_opts_t ro = VMM_RESTORE_OPTS_INIT;
  ro.flags = VMM_RESTORE_F_NO_START;
  vmm_vm_t *vm = NULL;
  int rc = vmm_vm_restore(o->restore, &ro, &vm);
  uint64_t t_built = now_ns();
  if (rc < 0) {
    fail_call("restoring the snapshot", rc);
    return EXIT_SETUP;
  }
  if (o->control && (rc = vmm_vm_control_listen(vm, o->control)) < 0)
    fail_call("the control socket", rc);
  else if (o->gdb && (rc = vmm_gdbstub_start(vm, o->gdb)) < 0)
    fail_call("starting the gdb stub", rc);
  /* Without an option the description's setting came with the VM. */
  else if (o->sandbox >= 0)
    rc = apply_sandbox(vm, o->sandbox, false);
  if (rc < 0) {
    vmm_vm_destroy(vm);
    return EXIT_SETUP;
  }
  if (o->describe) {
    status = describe(vm);
    vmm_vm_destroy(vm);
    return status;
  }
  return run_vm(vm, NULL, o, t_main, t_parsed, t_built);
}

int main(int argc, char **argv) {
  uint64_t t_main = now_ns();
  stop_watch_init(&watch);
  struct run_options o;
  int status = run_parse_options(argc, argv, &o);
  if (status)
    return status == 1 ? 0 : status;

  /* Every thread created from here on inherits the mask; the signal
   * thread takes these signals once the VM runs (until then they wait). */
  stop_watch_block_signals();
  if (o.restore)
    return restore(&o, t_main);

  vmm_config_t *cfg;
  int saved_cwd;
  if ((status = run_load_config(&o, &cfg, &saved_cwd)) != 0)
    return status;
  uint64_t t_parsed = now_ns();
  if (o.check) {
    run_restore_cwd(saved_cwd);
    vmm_config_free(cfg);
    fprintf(stderr, "vmm-run: %s: valid\n", o.config);
    return 0;
  }
  if ((status = check_backend()) != 0) {
    run_restore_cwd(saved_cwd);
    vmm_config_free(cfg);
    return status;
  }

  /* Raw mode only when the guest's console is this terminal. */
  struct term *term = NULL;
  if (!o.describe && vmm_config_stdio_device(cfg) && term_open(&term) < 0) {
    run_restore_cwd(saved_cwd);
    vmm_config_free(cfg);
    return EXIT_SETUP;
  }
  /* The command line first, then the description, then on. */
  bool sandbox_default = o.sandbox < 0 && vmm_config_sandbox(cfg) < 0;
  int sandbox = o.sandbox >= 0 ? o.sandbox : vmm_config_sandbox(cfg);
  vmm_vm_t *vm = NULL;
  int rc = vmm_vm_create_from_config(cfg, &vm);
  uint64_t t_built = now_ns();
  if (rc < 0) {
    fail_call("creating the VM", rc);
  } else if (!o.describe && (rc = listen_control(vm, cfg)) < 0) {
    fail_call("the control socket", rc);
    vmm_vm_destroy(vm);
  }
  /* After the control socket: its path may be relative too. */
  run_restore_cwd(saved_cwd);
  vmm_config_free(cfg);
  if (rc < 0) {
    term_close(term);
    return EXIT_SETUP;
  }
  /* After the working directory is the user's again: a relative unix
   * socket path is theirs. */
  if (o.gdb && !o.describe) {
    if ((rc = vmm_gdbstub_start(vm, o.gdb)) < 0) {
      fail_call("starting the gdb stub", rc);
      term_close(term);
      vmm_vm_destroy(vm);
      return EXIT_SETUP;
    }
    fprintf(stderr, "vmm-run: waiting for gdb on %s\n", o.gdb);
  }
  if ((rc = apply_sandbox(vm, sandbox, sandbox_default)) < 0) {
    term_close(term);
    vmm_vm_destroy(vm);
    return EXIT_SETUP;
  }
  if (o.describe) {
    status = describe(vm);
    vmm_vm_destroy(vm);
    return status;
  }

  return run_vm(vm, term, &o, t_main, t_parsed, t_built);
}
