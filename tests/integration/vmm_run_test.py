#!/usr/bin/env python3
"""tests/integration/vmm_run_test.py — examples/vmm-run run as a program.

Suite "cli" (no /dev/kvm needed): --help, bad usage, rejected descriptions
(status and the one-line message with the JSON path), --set, no backend
(EACCES as an unprivileged user, ENOENT with /dev hidden).
Suite "kvm" (exit 77 without /dev/kvm): the example configs with their
statuses, every exit status of the launch guest, --timings, --describe,
--set, signals, and on a pseudo-terminal: raw mode while the VM runs,
Ctrl-A x / h / Ctrl-A Ctrl-A, Ctrl-C reaching the guest, and the terminal's
modes restored after every way out.

usage: vmm_run_test.py --suite cli|kvm --vmm-run PATH --configs DIR
                       [--guest NAME PATH]... [TEST...]
"""
import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import traceback

RUN_TIMEOUT = 60
SKIP = 77

EXIT_USAGE, EXIT_SETUP, EXIT_RESET, EXIT_TRIPLE_FAULT = 2, 4, 6, 8
EXIT_INTERNAL, EXIT_ERROR, EXIT_CONFIG, EXIT_NO_BACKEND = 10, 12, 14, 16
EXIT_QUIT = 18

# The example configs (examples/configs) that run without anything fetched,
# and the status each one ends with.
EXAMPLES = {
    "hello.json": 0,           # launch guest (PVH): prints, ACPI power-off
    "bzimage.json": (21 << 1) | 1,  # launch guest as a bzImage: exit=21
    "multiboot-smp.json": (2 << 1) | 1,  # mbsmp on 2 vCPUs: 2 CPUs ran
    "acpi-tables.json": 0,     # mbtables: checks the tables, powers off
}

args = None
tests = []


class Failed(Exception):
    pass


class Skipped(Exception):
    pass


def test(suite):
    def register(fn):
        tests.append((suite, fn))
        return fn
    return register


def check(cond, what, *details):
    if not cond:
        raise Failed(what + "".join("\n  " + str(d) for d in details))


def guest(name):
    path = dict(args.guest).get(name)
    if not path:
        raise Skipped("--guest %s not given" % name)
    return os.path.abspath(path)


class Run:
    def __init__(self, status, out, err):
        self.status, self.out, self.err = status, out, err

    def __str__(self):
        return "status %d\n  stdout: %s\n  stderr: %s" % (
            self.status, self.out[-2000:], self.err[-2000:])


def vmm_run(*argv, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, pre=()):
    p = subprocess.run(list(pre) + [args.vmm_run] + list(argv), stdin=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return Run(p.returncode if p.returncode >= 0 else 128 - p.returncode,
               p.stdout.decode(errors="replace"),
               p.stderr.decode(errors="replace"))


def expect_status(r, want):
    check(r.status == want, "exit status %d, want %d" % (r.status, want),
          r)


def one_line(r):
    lines = [l for l in r.err.splitlines() if l]
    check(len(lines) == 1, "one line on stderr, got %d" % len(lines), r)
    return lines[0]


class Scratch:
    """A directory for generated descriptions and console files; with
    `sockets`, on a file system where unix sockets can be bound (not /tmp
    over 9p in the nested machine: /dev/shm when there is one)."""

    def __init__(self, sockets=False):
        self.base = "/dev/shm" if sockets and os.path.isdir("/dev/shm") \
            else None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="vmm-run-test.", dir=self.base)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, cfg):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        return p


def launch_cfg(cmdline, kernel="launch-pvh", console="stdio", vcpus=1):
    """The launch guest (tests/guests/launch_guest.c) with what vmm-boot
    gives it: UART, debug-exit, i8042, boot-time port, fw_cfg."""
    return {
        "irqchip": True,
        "memory": "64M",
        "vcpus": vcpus,
        "payload": {"type": "kernel", "path": guest(kernel),
                    "cmdline": cmdline},
        "devices": [
            {"type": "uart", "id": "com1", "chardev": console},
            {"type": "debug-exit"},
            {"type": "i8042"},
            {"type": "boot-timer"},
            {"type": "fw-cfg"},
        ],
    }


def file_console(path):
    return {"type": "file", "path": path}


def wait_booted(uart):
    """Until the launch guest's first line is in the UART file."""
    deadline = time.time() + RUN_TIMEOUT
    while "booted via" not in read(uart) and time.time() < deadline:
        time.sleep(0.01)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---- suite cli: no VM runs -------------------------------------------------

@test("cli")
def help_is_a_manual():
    r = vmm_run("--help")
    expect_status(r, 0)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                    "EXIT STATUS", "EXAMPLES", "FILES"):
        check(("\n" + section + "\n") in ("\n" + r.out), "section " + section,
              r)
    for word in ("--timings", "--describe", "--set", "--control",
                 "Ctrl-A x", "128+N", str(EXIT_CONFIG), str(EXIT_QUIT)):
        check(word in r.out, "--help mentions " + word, r)
    check(r.err == "", "nothing on stderr", r)


@test("cli")
def bad_usage():
    with Scratch() as s:
        cfg = s.write("vm.json", "{}")
        for argv in ([], ["--bogus", cfg], [cfg, cfg], ["--set"],
                     ["--set", "novalue", cfg], ["--set", "=1", cfg],
                     ["--control", "", cfg], ["--timings=1", cfg],
                     ["--describe", "--check", cfg]):
            r = vmm_run(*argv)
            expect_status(r, EXIT_USAGE)
            check(r.err.startswith("vmm-run: "), "message prefix", r)
            check("--help" in r.err, "points to --help", r)


# Descriptions the config layer rejects: the status, one line, the file
# name and the JSON path of the offending field.
BAD_CONFIGS = [
    ("malformed", '{"memory": "64M",', "line"),
    ("unknown field", '{"memory": "64M", "memroy": 1}', "memroy"),
    ("wrong type", '{"memory": "64M", "vcpus": "two"}', "vcpus"),
    ("missing kernel", json.dumps({
        "memory": "64M",
        "payload": {"type": "kernel", "path": "no/such/kernel"}}),
     "payload.path"),
    ("missing disk", json.dumps({
        "memory": "64M",
        "devices": [{"type": "virtio-blk", "path": "no-such.img"}]}),
     "devices[0].path"),
    ("duplicate ids", json.dumps({
        "memory": "64M",
        "devices": [{"type": "rtc", "id": "a"}, {"type": "i8042", "id": "a"}]}),
     "devices[1]"),
]


@test("cli")
def rejected_descriptions():
    with Scratch() as s:
        for name, text, where in BAD_CONFIGS:
            cfg = s.write("bad.json", text)
            for extra in ([], ["--check"], ["--set", "comment=x"]):
                r = vmm_run(*extra, cfg)
                expect_status(r, EXIT_CONFIG)
                line = one_line(r)
                check(line.startswith("vmm-run: %s: " % cfg),
                      "%s: the line names the file" % name, line)
                check(where in line, "%s: the line says where (%s)" %
                      (name, where), line)
        r = vmm_run(s.path("none.json"))
        expect_status(r, EXIT_CONFIG)
        check("No such file" in one_line(r), "missing description", r)


@test("cli")
def check_and_set():
    with Scratch() as s:
        cfg = s.write("vm.json", {"memory": "64M", "vcpus": 1})
        r = vmm_run("--check", cfg)
        expect_status(r, 0)
        # --set reaches the parser: a bad value is the config's error,
        # with the path it was set at.
        r = vmm_run("--check", "--set", "vcpus=9999", cfg)
        expect_status(r, EXIT_CONFIG)
        check("vcpus" in one_line(r), "the path of the --set value", r)
        r = vmm_run("--check", "--set", "payload.path=nothere", "--set",
                    "payload.type=kernel", cfg)
        expect_status(r, EXIT_CONFIG)
        check("payload.path" in one_line(r), "created object", r)
        # Relative paths in --set values are the config directory's.
        open(s.path("k.bin"), "wb").close()
        r = vmm_run("--check", "--set", 'payload={"type":"kernel",'
                    '"path":"k.bin"}', cfg)
        expect_status(r, 0)
        # Keys that do not fit are bad usage.
        for bad in ("devices[0].id=x", "vcpus.count.x=1", "a..b=1",
                    "memory[x]=1"):
            r = vmm_run("--check", "--set", bad, cfg)
            expect_status(r, EXIT_USAGE)
            check(r.err.startswith("vmm-run: --set "), bad, r)


def have_kvm():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


@test("cli")
def no_backend():
    """EACCES as an unprivileged user, ENOENT with /dev hidden: status 16
    and one line that says which."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise Skipped("needs root and setpriv")
    if not os.path.exists("/dev/kvm"):
        raise Skipped("no /dev/kvm to take away")
    with Scratch() as s:
        os.chmod(s.dir, 0o755)
        cfg = s.write("vm.json", {"memory": "64M"})
        os.chmod(cfg, 0o644)
        st = os.stat("/dev/kvm")
        if st.st_mode & 0o006:
            raise Skipped("/dev/kvm is open to everyone")
        r = vmm_run(cfg, pre=["setpriv", "--reuid=65534", "--regid=65534",
                              "--clear-groups", "--"])
        expect_status(r, EXIT_NO_BACKEND)
        line = one_line(r)
        check("/dev/kvm" in line and "permission" in line and
              "VMM_EACCES" in line, "EACCES explained", line)
        hide = ["unshare", "--mount", "--propagation", "private", "--", "sh",
                "-c", 'mount -t tmpfs none /dev && exec "$0" "$@"']
        if subprocess.run(hide[:-2] + ["-c", "mount -t tmpfs none /dev"],
                          stderr=subprocess.DEVNULL).returncode != 0:
            raise Skipped("cannot hide /dev here (unshare/mount refused)")
        r = vmm_run(cfg, pre=hide)
        expect_status(r, EXIT_NO_BACKEND)
        line = one_line(r)
        check("/dev/kvm does not exist" in line and "VMM_ENODEV" in line,
              "ENOENT explained", line)


# ---- suite kvm: VMs run -------------------------------------------------

@test("kvm")
def example_configs():
    for name, want in EXAMPLES.items():
        cfg = os.path.join(args.configs, name)
        r = vmm_run(cfg)
        expect_status(r, want)
        check(r.err.count("\n") == 1, name + ": one line saying how it "
              "stopped", r)
        check("booted via" in r.out or "mb" in r.out, name + ": guest "
              "output on stdout", r)


LAUNCH_STATUSES = [
    ("exit=0", 1, "exited with status 1"),
    ("exit=42", (42 << 1) | 1, "exited with status 85"),
    ("poweroff", 0, "powered off"),
    ("reset", EXIT_RESET, "reset"),
    ("triple", EXIT_TRIPLE_FAULT, "triple fault"),
]


@test("kvm")
def guest_statuses():
    with Scratch() as s:
        for kernel in ("launch-pvh", "launch-mb", "launch-bz"):
            for cmdline, want, says in LAUNCH_STATUSES:
                uart = s.path("uart.log")
                if os.path.exists(uart):
                    os.unlink(uart)
                cfg = s.write("vm.json", launch_cfg(
                    cmdline, kernel, console=file_console(uart)))
                r = vmm_run(cfg)
                expect_status(r, want)
                check(says in r.err, "%s %s: says %r" % (kernel, cmdline,
                                                          says), r)
                check("booted via" in read(uart), "UART file", read(uart))
                if cmdline == "triple":
                    check("vCPU 0" in r.err, "the fault's vCPU", r)


@test("kvm")
def halted_guest():
    """A 64-bit ELF guest that ends with HLT on a VM without an interrupt
    controller: status 12 and a line that says it halted."""
    with Scratch() as s:
        cfg = s.write("vm.json", {
            "irqchip": False, "memory": "4M",
            "payload": {"type": "elf", "path": guest("hello"),
                        "mode": "long"}})
        r = vmm_run(cfg)
        expect_status(r, EXIT_ERROR)
        check("the guest halted" in one_line(r), "says so", r)


@test("kvm")
def timings():
    with Scratch() as s:
        cfg = s.write("vm.json", launch_cfg("boottime exit=1"))
        r = vmm_run("--timings", cfg)
        expect_status(r, 3)
        for what in ("description parsed", "VM created ->",
                     "devices built, payload loaded",
                     "first guest instruction", "first guest output",
                     "init (boot-time port)", "total"):
            lines = [l for l in r.err.splitlines() if what in l]
            check(lines and lines[0].endswith(" ms") and
                  "not seen" not in lines[0], "timing: " + what, r)


@test("kvm")
def describe_and_set():
    with Scratch() as s:
        cfg = s.write("vm.json", launch_cfg("exit=1"))
        r = vmm_run("--describe", cfg)
        expect_status(r, 0)
        d = json.loads(r.out)
        types = [dev.get("type") for dev in d.get("devices", [])]
        check("uart" in types and "debug-exit" in types, "devices", r.out)
        check(d.get("payload", {}).get("cmdline") == "exit=1", "payload",
              r.out)
        # --set changes what runs; --describe shows it.
        r = vmm_run("--set", "payload.cmdline=exit=5", cfg)
        expect_status(r, 11)
        r = vmm_run("--describe", "--set", "vcpus=2", cfg)
        expect_status(r, 0)
        check(json.dumps(json.loads(r.out)).count('"vcpus"') >= 1, "vcpus",
              r.out)


@test("kvm")
def bad_disk_is_setup_failure():
    """A file that exists but cannot be a disk: refused when the VM is
    built, status 4, one line naming the device."""
    with Scratch() as s:
        with open(s.path("odd.img"), "wb") as f:
            f.write(b"x" * 1000)  # not a multiple of 512
        cfg = launch_cfg("exit=1")
        cfg["devices"].append({"type": "virtio-blk", "id": "disk0",
                               "path": s.path("odd.img")})
        r = vmm_run(s.write("vm.json", cfg))
        expect_status(r, EXIT_SETUP)
        line = one_line(r)
        check(line.startswith("vmm-run: creating the VM: "), "prefix", line)


@test("kvm")
def signals_without_terminal():
    with Scratch() as s:
        uart = s.path("uart.log")
        cfg = s.write("vm.json", launch_cfg("hang",
                                            console=file_console(uart)))
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if os.path.exists(uart):
                os.unlink(uart)
            p = subprocess.Popen([args.vmm_run, cfg],
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            wait_booted(uart)
            p.send_signal(sig)
            out, err = p.communicate(timeout=RUN_TIMEOUT)
            r = Run(p.returncode, out.decode(), err.decode())
            expect_status(r, 128 + sig)
            check("stopped by signal" in r.err, "says so", r)
            # Where the vCPU was, with its registers (vmm_vm_get_vcpu()).
            check("at the stop: vCPU 0 rip 0x" in r.err and "rflags" in r.err,
                  "where vCPU 0 was", r)


def control(path, request):
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(RUN_TIMEOUT)
        c.connect(path)
        c.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


@test("kvm")
def control_socket():
    """--control PATH (relative to the current directory, the description
    elsewhere): describe through it, stop with a status that becomes
    vmm-run's; the socket file is gone afterwards."""
    with Scratch(sockets=True) as s:
        os.mkdir(s.path("cfg"))
        uart = s.path("uart.log")
        cfg = s.write("cfg/vm.json", launch_cfg("hang",
                                                console=file_console(uart)))
        sock = s.path("ctl.sock")
        p = subprocess.Popen([args.vmm_run, "--control", "ctl.sock", cfg],
                             cwd=s.dir, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_booted(uart)
            check(os.path.exists(sock), "socket at the --control path")
            check(os.stat(sock).st_mode & 0o777 == 0o600, "mode 0600")
            r = control(sock, {"id": 1, "cmd": "describe"})
            check(r.get("ok") and r["result"]["payload"]["cmdline"] == "hang",
                  "describe", r)
            r = control(sock, {"id": 2, "cmd": "stop", "status": 9})
            check(r.get("ok"), "stop", r)
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        r = Run(p.returncode, out.decode(), err.decode())
        expect_status(r, 9)
        check("stopped on request with status 9" in r.err, "says so", r)
        check(not os.path.exists(sock), "socket removed", r)


@test("kvm")
def snapshot_restore():
    """The control socket's "snapshot" (refused under the default sandbox,
    written without it), then --restore DIR runs the saved VM: it answers
    on its own --control socket and stops with the status given there;
    --describe with --restore shows the saved VM."""
    with Scratch(sockets=True) as s:
        snap = s.path("snap")
        for n, flags in enumerate(([], ["--no-sandbox"])):
            # A socket path per run: the first run's file must not pass
            # for the second's before that one listens.
            sock = s.path("ctl%d.sock" % n)
            uart = s.path("uart%d.log" % n)
            cfg = s.write("vm.json",
                          launch_cfg("hang", console=file_console(uart)))
            p = subprocess.Popen([args.vmm_run, "--control", sock] + flags +
                                 [cfg], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                wait_booted(uart)
                deadline = time.time() + RUN_TIMEOUT
                while not os.path.exists(sock) and time.time() < deadline:
                    time.sleep(0.01)
                r = control(sock, {"id": 1, "cmd": "snapshot", "dir": snap})
                if flags:
                    check(r.get("ok"), "snapshot without the sandbox", r)
                else:
                    check(not r.get("ok") and "sandbox" in r.get("error", "")
                          or r.get("ok"), "refused under the sandbox", r)
                control(sock, {"id": 2, "cmd": "stop", "status": 0})
                p.communicate(timeout=RUN_TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        check(os.path.exists(os.path.join(snap, "manifest.json")),
              "snapshot written")
        r = vmm_run("--describe", "--restore", snap)
        expect_status(r, 0)
        check('"payload"' in r.out and "hang" in r.out, "saved description",
              r)
        sock2 = s.path("ctl2.sock")
        p = subprocess.Popen([args.vmm_run, "--restore", snap, "--control",
                              sock2], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + RUN_TIMEOUT
            while not os.path.exists(sock2) and time.time() < deadline:
                time.sleep(0.01)
            r = control(sock2, {"id": 3, "cmd": "stats"})
            check(r.get("ok") and r["result"]["state"] == "running",
                  "the restored VM runs", r)
            control(sock2, {"id": 4, "cmd": "stop", "status": 7})
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        r = Run(p.returncode, out.decode(), err.decode())
        expect_status(r, 7)


def filtered_threads(pid):
    """Threads of process `pid` under a seccomp filter (Seccomp: 2), not
    counting KVM's kernel workers (kvm-nx-lpage-recovery), which take on
    the filter of the vCPU thread that made them."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                lines = [l.split() for l in f]
        except OSError:
            continue
        if not any(l[:1] == ["Name:"] and l[1:2] and
                   l[1].startswith("kvm-") for l in lines):
            n += ["Seccomp:", "2"] in lines
    return n


@test("kvm")
def sandbox_modes():
    """The sandbox (docs/sandbox.md) is on by default: the vCPU and loop
    threads are filtered and the control socket still answers through the
    filtered loop; --sandbox-kill and the description's "sandbox" choose
    the mode, --no-sandbox turns it off; an unknown mode is rejected."""
    with Scratch(sockets=True) as s:
        r = vmm_run("--describe", "--sandbox-kill",
                    s.write("vm.json", launch_cfg("hang")))
        if r.status != 0 and "not available" in r.err:
            raise Skipped("libvmm has no sandbox here: " + r.err.strip())
        expect_status(r, 0)
        uart = s.path("uart.log")
        cases = [([], None, "on", 2), (["--sandbox-kill"], None, "kill", 2),
                 (["--no-sandbox"], None, "off", 0), ([], "off", "off", 0),
                 ([], "kill", "kill", 2), (["--no-sandbox"], "on", "off", 0)]
        for flags, in_cfg, want, threads in cases:
            cfg = launch_cfg("hang", console=file_console(uart))
            if in_cfg:
                cfg["sandbox"] = in_cfg
            path = s.write("vm.json", cfg)
            sock = s.path("ctl.sock")
            if os.path.exists(uart):
                os.unlink(uart)
            p = subprocess.Popen([args.vmm_run, "--control", sock] + flags +
                                 [path], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                wait_booted(uart)
                what = "%s with \"sandbox\": %s" % (flags, in_cfg)
                r = control(sock, {"id": 1, "cmd": "describe"})
                check(r.get("ok") and r["result"].get("sandbox") == want,
                      what + ": describe says " + str(want), r)
                n = filtered_threads(p.pid)
                check(n >= threads and (threads or n == 0),
                      what + ": %d filtered threads" % n)
                r = control(sock, {"id": 2, "cmd": "stop", "status": 5})
                check(r.get("ok"), "stop", r)
                out, err = p.communicate(timeout=RUN_TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            expect_status(Run(p.returncode, out.decode(), err.decode()), 5)
        cfg = launch_cfg("hang")
        cfg["sandbox"] = "maybe"
        r = vmm_run(s.write("vm.json", cfg))
        expect_status(r, EXIT_CONFIG)
        check("sandbox" in one_line(r), "names the field", r)


# ---- on a pseudo-terminal ----------------------------------------------

class Pty:
    """vmm-run with a pseudo-terminal as stdin, stdout and stderr; the
    test keeps the terminal side open to read its modes."""

    def __init__(self, argv):
        self.master, self.slave = os.openpty()
        # A known cooked starting point, as a shell leaves it.
        m = termios.tcgetattr(self.slave)
        m[0] |= termios.ICRNL | termios.IXON
        m[3] |= termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN
        termios.tcsetattr(self.slave, termios.TCSANOW, m)
        self.before = termios.tcgetattr(self.slave)
        self.p = subprocess.Popen([args.vmm_run] + argv, stdin=self.slave,
                                  stdout=self.slave, stderr=self.slave,
                                  start_new_session=True)
        self.buf = b""

    def modes(self):
        return termios.tcgetattr(self.slave)

    def pump(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if r:
            try:
                self.buf += os.read(self.master, 65536)
            except OSError:
                pass

    def expect(self, text, timeout=RUN_TIMEOUT):
        deadline = time.time() + timeout
        while text.encode() not in self.buf:
            check(time.time() < deadline, "%r on the terminal" % text,
                  self.buf.decode(errors="replace")[-2000:])
            self.pump(0.05)

    def send(self, data):
        os.write(self.master, data)

    def wait(self):
        deadline = time.time() + RUN_TIMEOUT
        while self.p.poll() is None:
            if time.time() > deadline:
                self.p.kill()
                raise Failed("vmm-run did not exit")
            self.pump(0.05)
        self.pump(0.1)
        return self.p.returncode

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        os.close(self.master)
        os.close(self.slave)

    def text(self):
        return self.buf.decode(errors="replace")


def expect_raw(t):
    m = t.modes()
    check(not m[3] & (termios.ICANON | termios.ECHO | termios.ISIG),
          "raw mode while the VM runs (no ICANON, ECHO, ISIG)", m)
    check(not m[0] & termios.ICRNL, "raw mode: no ICRNL", m)


def expect_restored(t, status, want):
    check(status == want, "status %d, want %d" % (status, want), t.text())
    check(t.modes() == t.before, "the terminal's modes restored",
          t.modes(), t.before)


@test("kvm")
def terminal_echo_and_escapes():
    """Input reaches the guest; Ctrl-A Ctrl-A is a literal Ctrl-A; Ctrl-A h
    prints the keys; Ctrl-C goes to the guest; Ctrl-A x quits (18)."""
    with Scratch() as s:
        cfg = s.write("vm.json", launch_cfg("echo hang"))
        t = Pty([cfg])
        try:
            t.expect("booted via")
            expect_raw(t)
            t.send(b"ab\x01\x01c\x03d\n")
            t.expect("read 'ab\x01c\x03d'")
            check(t.p.poll() is None, "Ctrl-C went to the guest",
                  t.text())
            t.send(b"\x01h")
            t.expect("Ctrl-A x")
            t.send(b"\x01x")
            expect_restored(t, t.wait(), EXIT_QUIT)
            check("quit (Ctrl-A x)" in t.text(), "says so", t.text())
        finally:
            t.close()


@test("kvm")
def terminal_restored_on_every_exit():
    """Guest exit, power-off, triple fault, reset, SIGTERM, SIGINT and a
    failed creation all leave the terminal as they found it."""
    with Scratch() as s:
        cases = [("exit=3", None, 7), ("poweroff", None, 0),
                 ("triple", None, EXIT_TRIPLE_FAULT),
                 ("reset", None, EXIT_RESET),
                 ("hang", signal.SIGTERM, 128 + signal.SIGTERM),
                 ("hang", signal.SIGINT, 128 + signal.SIGINT)]
        for cmdline, sig, want in cases:
            cfg = s.write("vm.json", launch_cfg(cmdline))
            t = Pty([cfg])
            try:
                t.expect("booted via")
                if sig:
                    expect_raw(t)
                    t.p.send_signal(sig)
                expect_restored(t, t.wait(), want)
            finally:
                t.close()
        # Building the VM fails after the terminal was taken over.
        with open(s.path("odd.img"), "wb") as f:
            f.write(b"x" * 1000)
        cfg = launch_cfg("exit=1")
        cfg["devices"].append({"type": "virtio-blk",
                               "path": s.path("odd.img")})
        t = Pty([s.write("vm.json", cfg)])
        try:
            expect_restored(t, t.wait(), EXIT_SETUP)
        finally:
            t.close()


@test("kvm")
def terminal_left_alone_without_stdio_console():
    """With the console in a file, the terminal keeps its modes and Ctrl-C
    (SIGINT from the terminal) stops the VM."""
    with Scratch() as s:
        uart = s.path("uart.log")
        cfg = s.write("vm.json", launch_cfg("hang",
                                            console=file_console(uart)))
        t = Pty([cfg])
        try:
            wait_booted(uart)
            check(t.modes() == t.before, "modes untouched", t.modes())
            t.p.send_signal(signal.SIGINT)
            expect_restored(t, t.wait(), 130)
        finally:
            t.close()


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=("cli", "kvm"), required=True)
    ap.add_argument("--vmm-run", required=True)
    ap.add_argument("--configs", default="")
    ap.add_argument("--guest", nargs=2, action="append", default=[])
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    args.vmm_run = os.path.abspath(args.vmm_run)
    if args.suite == "kvm" and not have_kvm():
        print("SKIP: /dev/kvm cannot be opened")
        return SKIP
    failed = 0
    ran = 0
    for suite, fn in tests:
        if suite != args.suite or (args.only and fn.__name__ not in args.only):
            continue
        t0 = time.time()
        try:
            fn()
            ran += 1
            print("ok   %s (%.1f s)" % (fn.__name__, time.time() - t0))
        except Skipped as e:
            print("skip %s: %s" % (fn.__name__, e))
        except Exception as e:  # a failed check, or the test itself broke
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e))
            if not isinstance(e, Failed):
                traceback.print_exc()
        sys.stdout.flush()
    print("%d passed, %d failed" % (ran, failed))
    return 1 if failed else (0 if ran else SKIP)


if __name__ == "__main__":
    sys.exit(main())
