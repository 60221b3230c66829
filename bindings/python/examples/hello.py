#!/usr/bin/env python3
"""The hello guest (tests/guests/hello.c): it prints on port 0xE9 and halts.

    python3 hello.py [build/tests/guests/hello.elf]
"""
import sys

import libvmm

path = sys.argv[1] if len(sys.argv) > 1 else "build/tests/guests/hello.elf"


def print_port(vcpu, port, size, is_write, value):
    if is_write:
        sys.stdout.write(chr(value))


with libvmm.VM() as vm:
    vm.map_memory(0, 4 << 20)            # 4 MiB of RAM at 0
    vcpu = vm.create_vcpu()
    vm.on_pio(0xE9, 1, print_port)
    elf = vm.load_elf(path)              # linked at 1 MiB
    vcpu.setup_long_mode(elf.entry, stack=0x80000, setup_gpa=0x1000)
    exit = vcpu.run()
    sys.stdout.flush()
    if not isinstance(exit, libvmm.HltExit):
        sys.exit("the guest stopped with %r, not HLT" % (exit,))
