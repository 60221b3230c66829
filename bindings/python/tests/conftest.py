"""Shared fixtures: where the test guests are, a VM set up the way the C
integration tests set one up (tests/guests/README.md), and the ucall
channel of the test guests (tests/guests/lib/ucall.h)."""
import os
import pathlib
import struct
from dataclasses import dataclass

import pytest

import libvmm

# tests/guests/lib/layout.h and ucall.h
RAM_SIZE = 0x400000
SETUP_GPA = 0x1000
STACK_TOP = 0x80000
PARAM_GPA = 0x90000
UCALL_PORT = 0x1000
UCALL_MAGIC = 0x4C4C4355
UCALL_SYNC, UCALL_DONE, UCALL_ABORT, UCALL_PRINT = 1, 2, 3, 4
UCALL_FMT = "<II6Q256s"
UCALL_SIZE = struct.calcsize(UCALL_FMT)


def io_read_value(addr, size):
    """The value the guests expect for a read (layout.h)."""
    v = ((addr + size) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    v ^= v >> 29
    return v if size >= 8 else v & ((1 << (size * 8)) - 1)


def _guest_dir():
    d = os.environ.get("LIBVMM_GUEST_DIR")
    if d:
        return pathlib.Path(d)
    # Run from a source checkout with the README's build directory.
    return pathlib.Path(__file__).resolve().parents[3] / "build" / "tests" / "guests"


GUEST_DIR = _guest_dir()


def guest_path(name):
    p = GUEST_DIR / name
    if not p.exists():
        pytest.fail("test guest %s not found (set LIBVMM_GUEST_DIR to the "
                    "build directory's tests/guests)" % p)
    return p


kvm = pytest.mark.skipif(
    not os.path.exists("/dev/kvm") or not libvmm.backend_usable("kvm"),
    reason="/dev/kvm is absent or not accessible")


@dataclass
class Ucall:
    cmd: int
    args: tuple
    text: str


def read_ucall(vm, gpa):
    magic, cmd, *rest = struct.unpack(UCALL_FMT, vm.read(gpa, UCALL_SIZE))
    if magic != UCALL_MAGIC:
        return None
    args, text = tuple(rest[:6]), rest[6].split(b"\0", 1)[0].decode()
    return Ucall(cmd, args, text)


class GuestVM:
    """A VM running one test guest on the calling thread."""

    def __init__(self, guest, params=(), **vm_args):
        self.vm = libvmm.VM(**vm_args)
        self.ram = self.vm.map_memory(0, RAM_SIZE)
        self.vcpu = self.vm.create_vcpu()
        info = self.vm.load_elf(guest_path(guest + ".elf"))
        for i, p in enumerate(params):
            self.vm.write(PARAM_GPA + 8 * i, struct.pack("<Q", p))
        self.vcpu.setup_long_mode(info.entry, STACK_TOP, SETUP_GPA)

    def run_until_ucall(self, want=None):
        """Runs until a ucall (skipping PRINTs); answers nothing else."""
        while True:
            e = self.vcpu.run()
            if isinstance(e, libvmm.IoExit) and e.port == UCALL_PORT \
                    and e.is_write:
                uc = read_ucall(self.vm, e.value)
                assert uc is not None, "bad ucall magic"
                if uc.cmd == UCALL_PRINT:
                    continue
                assert uc.cmd != UCALL_ABORT, "guest abort: " + uc.text
                if want is not None:
                    assert uc.cmd == want, uc
                return uc
            return e

    def close(self):
        self.vm.close()


@pytest.fixture
def guest_vm():
    made = []

    def make(guest, params=(), **kw):
        g = GuestVM(guest, params, **kw)
        made.append(g)
        return g
    yield make
    for g in made:
        g.close()
