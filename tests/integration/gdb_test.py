#!/usr/bin/env python3
"""tests/integration/gdb_test.py — the gdb stub with the real gdb.

Runs gdb_host (tests/guests/gdb.c on libvmm's threads, vmm_gdbstub_start)
and drives it with `gdb -batch`: break on a function, read its argument
and a global, change the global, single-step, a hardware breakpoint, a
watchpoint, continue to the end. The guest prints what the global became,
so a memory write that did not land shows in its console. Each scenario
runs against a fresh host, over a unix socket (in /dev/shm: the nested
machine's /tmp cannot hold sockets) and over TCP.
Exit 77 when /dev/kvm or gdb is missing."""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what, out=""):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        if out:
            print("---- output ----\n" + out + "\n----------------")
        FAILS.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def loopback_works():
    try:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cl = socket.create_connection(srv.getsockname(), timeout=2)
        cl.close()
        srv.close()
        return True
    except OSError:
        return False


def run(args, addr, gdb_target, commands, timeout=120):
    """Starts the host on addr, runs gdb with commands; returns (gdb
    output, host output)."""
    host = subprocess.Popen([args.host, args.guest, addr],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    line = host.stdout.readline()
    if "listening" not in line:
        host.kill()
        rest = host.communicate()[0]
        return "", line + rest
    cmd = ["gdb", "-nx", "-batch", "-ex", "set confirm off",
           "-ex", "set pagination off", "-ex", "file " + args.guest,
           "-ex", "target remote " + gdb_target]
    for c in commands:
        cmd += ["-ex", c]
    try:
        g = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        gout = g.stdout
    except subprocess.TimeoutExpired as e:
        gout = (e.stdout or b"").decode(errors="replace") + "\n[gdb timed out]"
    try:
        hout = host.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        host.kill()
        hout = host.communicate()[0] + "\n[host killed]"
    return gout, line + hout


def scenario_break(args, addr, target, label):
    gout, hout = run(args, addr, target, [
        "break gdb_step",
        "continue",
        "print n",
        "print gdb_counter",
        "continue",
        "print n",
        "print gdb_counter",
        "set var gdb_counter = 100",
        "info threads",
        "stepi",
        "print $pc != gdb_step",
        "delete",
        "continue",
    ])
    out = gout + hout
    check("Breakpoint 1, gdb_step (n=n@entry=1)" in gout, label + ": breaks on "
          "gdb_step with its argument", out)
    check("$2 = 0" in gout and "$4 = 1" in gout, label + ": reads the global",
          out)
    check("$3 = 2" in gout, label + ": second hit with n=2", out)
    check("$5 = 1" in gout, label + ": stepi moved the pc", out)
    check("vCPU 0" in gout, label + ": info threads names the vCPU", out)
    check("exited normally" in gout, label + ": gdb sees the guest end", out)
    check("counter=114 sum=862" in hout, label + ": the guest saw gdb's "
          "write", out)


def scenario_hw(args, addr, target, label):
    gout, hout = run(args, addr, target, [
        "hbreak gdb_step",
        "continue",
        "print n",
        "delete",
        "break gdb_step",
        "continue",
        "continue",
        "finish",
        "delete",
        "continue",
    ])
    out = gout + hout
    check("Hardware assisted breakpoint 1 at" in gout and
          "Breakpoint 1, gdb_step (n=n@entry=1)" in gout and "$1 = 1" in gout,
          label + ": hardware breakpoint", out)
    check("Breakpoint 2, gdb_step (n=n@entry=2)" in gout,
          label + ": a breakpoint set after one was deleted", out)
    check("Value returned is $2 = 12" in gout,
          label + ": finish returns gdb_step's value", out)
    check("exited normally" in gout, label + ": runs to the end", out)
    check("counter=15 sum=70" in hout, label + ": guest unchanged", out)


def scenario_watch(args, addr, target, label):
    """Data watchpoints (debug registers with R/W bits). Not every KVM
    honours them for emulated ring-0 code: --expect-watch makes a miss a
    failure, otherwise it is reported."""
    gout, hout = run(args, addr, target, [
        "watch gdb_sum",
        "continue",
        "print gdb_sum",
        "delete",
        "continue",
    ])
    out = gout + hout
    hit = "Hardware watchpoint 1: gdb_sum" in gout and "New value = 2" in gout
    if args.expect_watch:
        check(hit, label + ": watchpoint on a write", out)
    else:
        print(("ok   " if hit else "info ") + label + ": watchpoint on a "
              "write " + ("triggered" if hit else "did not trigger on this "
                          "KVM (not required here)"))
    check("exited normally" in gout, label + ": runs to the end after a "
          "watchpoint", out)


def scenario_int3(args, addr, target, label):
    """Five breakpoints: four go into the debug registers (on functions
    the guest never calls), the fifth, on gdb_step, becomes an INT3
    patch. Only ring-0 INT3s exit on this machine's KVM (docs/gdb.md)."""
    gout, hout = run(args, addr, target, [
        "break guest_abort", "break guest_exception", "break guest_done",
        "break memcmp", "break gdb_step",
        "continue",
        "print n",
        "x/1xb gdb_step",
        "continue",
        "print n",
        "delete",
        "continue",
    ])
    out = gout + hout
    check("Breakpoint 5, gdb_step (n=n@entry=1)" in gout and
          "Breakpoint 5, gdb_step (n=n@entry=2)" in gout,
          label + ": a fifth breakpoint (INT3 patch) hits twice", out)
    check("<gdb_step>:\t0x" in gout and "<gdb_step>:\t0xcc" not in gout,
          label + ": stopped, memory shows the original byte", out)
    check("exited normally" in gout and "counter=15 sum=70" in hout,
          label + ": patch removed, the guest computes as without gdb", out)


def scenario_vmm_boot(args, sockdir):
    """examples/vmm-boot --gdb with the 32-bit PVH test kernel and two
    vCPUs (the second never started by the guest): gdb gets the i386
    register layout, both threads and the guest's exit status."""
    path = os.path.join(sockdir, "boot.sock")
    boot = subprocess.Popen([args.vmm_boot, "--kernel", args.pvh,
                             "--cpus", "2", "--console", "none",
                             "--gdb", "unix:" + path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    line = boot.stdout.readline()
    if "waiting for gdb" not in line:
        boot.kill()
        check(False, "vmm-boot --gdb listens", line + boot.communicate()[0])
        return
    cmd = ["gdb", "-nx", "-batch", "-ex", "file " + args.pvh,
           "-ex", "target remote " + path, "-ex", "print $eip == _start",
           "-ex", "break boot_main", "-ex", "continue", "-ex", "info threads",
           "-ex", "stepi", "-ex", "print $eip == boot_main",
           "-ex", "delete", "-ex", "continue"]
    try:
        gout = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=120).stdout
    except subprocess.TimeoutExpired:
        gout = "[gdb timed out]"
    try:
        bout = boot.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        boot.kill()
        bout = boot.communicate()[0]
    out = gout + line + bout
    check("$1 = 1" in gout, "vmm-boot: 32-bit guest held at its entry", out)
    check("Breakpoint 1, boot_main" in gout, "vmm-boot: breakpoint", out)
    check("$2 = 0" in gout, "vmm-boot: stepi", out)
    check("Thread 2 (vCPU 1)" in gout, "vmm-boot: two vCPUs, two threads",
          out)
    check("exited with code 01" in gout and boot.returncode == 1,
          "vmm-boot: gdb sees the guest's exit status", out)


def scenario_vmm_run(args, sockdir):
    """examples/vmm-run --gdb with examples/configs/hello.json."""
    path = os.path.join(sockdir, "run.sock")
    vr = subprocess.Popen([args.vmm_run, "--gdb", "unix:" + path,
                           args.hello_json], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    line = vr.stdout.readline()
    if "waiting for gdb" not in line:
        vr.kill()
        check(False, "vmm-run --gdb listens", line + vr.communicate()[0])
        return
    cmd = ["gdb", "-nx", "-batch", "-ex", "file " + args.pvh,
           "-ex", "target remote " + path, "-ex", "break boot_main",
           "-ex", "continue", "-ex", "delete", "-ex", "continue"]
    try:
        gout = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=120).stdout
    except subprocess.TimeoutExpired:
        gout = "[gdb timed out]"
    try:
        vout = vr.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        vr.kill()
        vout = vr.communicate()[0]
    out = gout + line + vout
    check("Breakpoint 1, boot_main" in gout, "vmm-run: breakpoint", out)
    check("exited normally" in gout and "powered off" in vout and
          vr.returncode == 0, "vmm-run: runs to the power-off", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--vmm-boot", help="examples/vmm-boot, for --gdb")
    ap.add_argument("--pvh", help="the 32-bit PVH test kernel")
    ap.add_argument("--vmm-run", help="examples/vmm-run, for --gdb")
    ap.add_argument("--hello-json", help="examples/configs/hello.json")
    ap.add_argument("--expect-watch", action="store_true",
                    help="fail when a data watchpoint does not trigger")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable")
        return 77
    if not shutil.which("gdb"):
        print("SKIP: gdb is not installed")
        return 77
    sockdir = tempfile.mkdtemp(prefix="gdbstub-",
                               dir="/dev/shm" if os.path.isdir("/dev/shm")
                               else None)
    try:
        path = os.path.join(sockdir, "gdb.sock")
        scenario_break(args, "unix:" + path, path, "unix")
        if loopback_works():
            port = free_port()
            scenario_hw(args, "tcp:127.0.0.1:%d" % port,
                        "127.0.0.1:%d" % port, "tcp")
        else:  # the nested machine has no loopback interface up
            print("info no TCP loopback here: the second scenario over a "
                  "unix socket")
            path1 = os.path.join(sockdir, "gdb1.sock")
            scenario_hw(args, "unix:" + path1, path1, "unix2")
        path2 = os.path.join(sockdir, "gdb2.sock")
        scenario_watch(args, "unix:" + path2, path2, "watch")
        path3 = os.path.join(sockdir, "gdb3.sock")
        scenario_int3(args, "unix:" + path3, path3, "int3")
        if args.vmm_boot and args.pvh:
            scenario_vmm_boot(args, sockdir)
        if args.vmm_run and args.hello_json and args.pvh:
            scenario_vmm_run(args, sockdir)
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
    if FAILS:
        print("%d failed" % len(FAILS))
        return 1
    print("gdbstub: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
