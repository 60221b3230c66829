#!/usr/bin/env python3
"""A hypercall round trip with the hypercall test guest
(tests/guests/hypercall.c): hypercall 1 is answered by a Python function
inside run(), hypercall 2 comes back as a HypercallExit that the program
answers, hypercall 3 is left unanswered (the guest sees -ENOSYS), and
hypercall 4's function raises, which ends the run with that exception.

    python3 hypercall.py [build/tests/guests/hypercall.elf]
"""
import struct
import sys

import libvmm

path = sys.argv[1] if len(sys.argv) > 1 else "build/tests/guests/hypercall.elf"
UCALL_PORT = 0x1000


def add(vcpu, nr, args):
    print("hypercall %d%r from vCPU %d" % (nr, args, vcpu.id))
    return 0x100 + sum(args)


def refuse(vcpu, nr, args):
    raise PermissionError("hypercall %d is not allowed" % nr)


with libvmm.VM() as vm:
    vm.map_memory(0, 4 << 20)
    vcpu = vm.create_vcpu()
    vcpu.setup_long_mode(vm.load_elf(path).entry)
    vm.on_hypercall(1, add)
    vm.on_hypercall(4, refuse)
    try:
        while True:
            e = vcpu.run()
            if isinstance(e, libvmm.HypercallExit):
                print("unregistered hypercall %d%r" % (e.nr, e.args))
                if e.nr == 2 or e.nr == 1:
                    e.respond(0xFEEDFACE12345678)
            elif isinstance(e, libvmm.IoExit) and e.port == UCALL_PORT:
                # the test guests' checkpoints (tests/guests/lib/ucall.h)
                cmd, arg0 = struct.unpack("<4xIQ", vm.read(e.value, 16))
                print("guest checkpoint %d (%d)" % (cmd, arg0))
                if cmd == 3:
                    sys.exit("the guest's check failed")
                if arg0 == 3:
                    vm.remove_hypercall(1)   # now 1 exits too
            else:
                sys.exit("unexpected exit %r" % (e,))
    except PermissionError as err:
        print("run() raised:", err)
