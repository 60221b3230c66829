#!/usr/bin/env python3
"""A VM from a JSON description (docs/config.md) run on libvmm's threads.

    python3 from_json.py [vm.json]

Without an argument it runs vm.json next to this file: the launch test
guest (tests/guests/launch_guest.c, built as build/tests/guests/
launch-pvh.elf) printing on a UART whose output lands in a buffer, then
writing 21 to the debug-exit port.
"""
import pathlib
import sys

import libvmm

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1
                    else pathlib.Path(__file__).with_name("vm.json"))
with libvmm.VM.from_config(path) as vm:
    print("the VM as libvmm describes it:", vm.describe_json())
    vm.start()
    info = vm.wait(timeout=60)
    print("stopped: %s, status %d" % (info.reason_name, info.status))
    com1 = vm.find_device("com1").chardev
    print("UART output:", com1.read().decode(errors="replace"))
