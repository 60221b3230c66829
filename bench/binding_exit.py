#!/usr/bin/env python3
"""The Python third of the binding exit benchmark (bench/binding_exit.sh):
the pio_loop guest (bench/guests/pio_loop.c) makes N port-I/O exits, each
served by a Python handler registered with the libvmm package (cffi
"extern Python" trampoline, GIL taken on the vCPU thread); prints the
median ns per exit over R rounds, in wall time (python_ns=) and in the
vCPU thread's CPU time (python_cpu_ns=).

    binding_exit.py GUEST.elf [-n EXITS] [--rounds R]
"""
import argparse
import statistics
import struct
import sys
import time

import libvmm

PORT = 0x500          # any port without a device
PARAM_GPA = 0x90000   # tests/guests/lib/layout.h: GUEST_PARAM_GPA


def one_round(guest, n):
    seen = [0]
    bad = []

    def handler(vcpu, port, size, is_write, value):
        # The guest writes its loop counter: check that every exit arrives.
        if not is_write or value != seen[0] & 0xFF:
            bad.append((is_write, value))
        seen[0] += 1

    with libvmm.VM() as vm:
        vm.map_memory(0, 4 << 20)
        vcpu = vm.create_vcpu()
        vm.on_pio(PORT, 1, handler)
        elf = vm.load_elf(guest)
        vm.write(PARAM_GPA, struct.pack("<QQ", n, PORT))
        vcpu.setup_long_mode(elf.entry, 0x80000, 0x1000)
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        e = vcpu.run()
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
    if not isinstance(e, libvmm.HltExit) or bad or seen[0] != n:
        sys.exit("binding_exit.py: the guest stopped with %r after %d of %d "
                 "exits%s" % (e, seen[0], n, " (a write was wrong)" if bad
                              else ""))
    return (t1 - t0) / n, (c1 - c0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("guest")
    ap.add_argument("-n", "--exits", type=int, default=20000)
    ap.add_argument("-r", "--rounds", type=int, default=5)
    a = ap.parse_args()
    if not libvmm.backend_usable("kvm"):
        print("binding_exit.py: SKIP: /dev/kvm is unusable")
        sys.exit(77)
    runs = [one_round(a.guest, a.exits) for _ in range(a.rounds)]
    per = sorted(w for w, _ in runs)
    print("binding_exit.py: %d exits x %d rounds, ns per exit min %.0f "
          "median %.0f max %.0f" % (a.exits, a.rounds, per[0],
                                    statistics.median(per), per[-1]))
    print("python_ns=%.1f" % statistics.median(per))
    print("python_cpu_ns=%.1f" % statistics.median(c for _, c in runs))


if __name__ == "__main__":
    main()
