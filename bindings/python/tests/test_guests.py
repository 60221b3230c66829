"""The real test guests (tests/guests) through the Python API."""
import struct
import threading

import pytest

import libvmm
from conftest import (UCALL_DONE, UCALL_PORT, UCALL_SYNC, guest_path,
                      io_read_value, kvm, read_ucall)

pytestmark = kvm

# layout.h
PIO_HANDLED_PORT, PIO_REP_PORT, PIO_EXIT_PORT, PIO_ERROR_PORT = \
    0x500, 0x510, 0x600, 0x520
MMIO_HANDLED_GPA = 0xD0000000
HC_ADD, HC_ECHO_EXIT, HC_UNANSWERED, HC_FAIL = 1, 2, 3, 4
HC_ECHO_RET = 0xFEEDFACE12345678
ENOSYS64 = (1 << 64) - 38


def test_hello_prints_and_halts():
    out = []
    with libvmm.VM() as vm:
        ram = vm.map_memory(0, 4 << 20)
        vcpu = vm.create_vcpu()
        vm.on_pio(0xE9, 1, lambda v, port, size, w, value:
                  out.append(chr(value)))
        info = vm.load_elf(guest_path("hello.elf"))
        assert info.elf_class == 64 and info.entry == 0x100000
        vcpu.setup_long_mode(info.entry)
        e = vcpu.run()
        assert isinstance(e, libvmm.HltExit)
        assert "".join(out) == "Hello from the guest\n"
        # Guest memory is a memoryview over the same pages the guest used.
        mem = ram.memory
        assert isinstance(mem, memoryview) and len(mem) == 4 << 20
        elf = guest_path("hello.elf").read_bytes()
        assert bytes(mem[0x100000:0x100010]) == vm.read(0x100000, 16)
        assert mem[0x100000:0x100004] != b"\x7fELF"  # code, not the file
        mem[0x200000:0x200004] = b"abcd"
        assert vm.read(0x200000, 4) == b"abcd"
        assert len(elf) > 0
        assert vm.state == "created" and vm.backend == "kvm"
    assert vm.closed
    # The view outlives the VM: Python owns the pages.
    assert bytes(mem[0x200000:0x200004]) == b"abcd"
    with pytest.raises(libvmm.VmmError):
        vm.read(0, 1)


def test_errors_carry_code_and_message():
    with libvmm.VM() as vm:
        vm.map_memory(0, 0x10000)
        with pytest.raises(libvmm.VmmError) as ei:
            vm.map_memory(0x8000, 0x1000)
        assert ei.value.code == libvmm.VMM_EOVERLAP
        assert "overlaps" in ei.value.message
        with pytest.raises(libvmm.VmmError) as ei:
            vm.read(0x100000, 1)
        assert ei.value.code == libvmm.VMM_EFAULT
        vm.create_vcpu(0)
        with pytest.raises(libvmm.VmmError) as ei:
            vm.create_vcpu(0)
        assert ei.value.code == libvmm.VMM_EEXIST


def test_hypercall_round_trip(guest_vm):
    g = guest_vm("hypercall")
    calls = []

    def add(vcpu, nr, args):
        assert vcpu is g.vcpu
        calls.append((nr, args))
        return 0x100 + sum(args)

    def fail(vcpu, nr, args):
        raise KeyError("hypercall %d refused" % nr)

    g.vm.on_hypercall(HC_ADD, add)
    g.vm.on_hypercall(HC_FAIL, fail)
    for ring in (0, 3):
        e = g.run_until_ucall()
        assert isinstance(e, libvmm.HypercallExit) and e.nr == HC_ECHO_EXIT
        assert e.args == (10, 20, 30, 40, 50 + ring)
        e.respond(HC_ECHO_RET)
        e = g.run_until_ucall()
        assert isinstance(e, libvmm.HypercallExit) and e.nr == HC_UNANSWERED
        uc = g.run_until_ucall(UCALL_SYNC)  # the guest checked -ENOSYS
        assert uc.args[0] == ring
    assert calls == [(HC_ADD, (1, 2, 3, 4, 5)), (HC_ADD, (1, 2, 3, 4, 8))]
    g.vm.remove_hypercall(HC_ADD)
    e = g.run_until_ucall()
    assert isinstance(e, libvmm.HypercallExit) and e.nr == HC_ADD
    e.respond(HC_ECHO_RET)
    assert g.run_until_ucall(UCALL_SYNC).args[0] == 4
    # The failing function: its exception reaches the caller of run().
    with pytest.raises(KeyError, match="refused"):
        g.vcpu.run()
    # The exit record of an earlier run can no longer be answered.
    with pytest.raises(RuntimeError):
        e.respond(0)


def test_pio_handlers_and_exits(guest_vm):
    g = guest_vm("pio")
    log = []
    rep_reads = [0]

    def handler(vcpu, port, size, is_write, value):
        if is_write:
            log.append((port, size, value))
            return None
        v = io_read_value(port, size)
        if port == PIO_REP_PORT:
            v = (v + rep_reads[0]) & 0xFF
            rep_reads[0] += 1
        return v

    class Boom(Exception):
        pass

    def boom(vcpu, port, size, is_write, value):
        raise Boom("port 0x%x" % port)

    g.vm.on_pio(PIO_HANDLED_PORT, 8, handler)
    g.vm.on_pio(PIO_REP_PORT, 1, handler)
    g.vm.on_pio(PIO_ERROR_PORT, 1, boom)
    for ring in (0, 3):
        log.clear()
        e = g.run_until_ucall()
        assert isinstance(e, libvmm.IoExit)
        assert (e.port, e.size, e.is_write, e.value) == \
            (PIO_EXIT_PORT, 2, True, 0xBEEF)
        e = g.run_until_ucall()
        assert (e.port, e.size, e.is_write) == (PIO_EXIT_PORT + 4, 4, False)
        e.respond(io_read_value(PIO_EXIT_PORT + 4, 4))
        assert g.run_until_ucall(UCALL_SYNC).args[0] == ring
        assert log == [(0x500, 1, 0x11), (0x502, 2, 0x2222),
                       (0x504, 4, 0x44444444 + ring), (0x507, 4, 0x77777777)]
    log.clear()
    assert g.run_until_ucall(UCALL_SYNC).args[0] == 4
    assert log == [(PIO_REP_PORT, 1, c) for c in b"abcde"]
    assert rep_reads[0] == 4
    g.vm.remove_pio(PIO_HANDLED_PORT)
    e = g.run_until_ucall()
    assert isinstance(e, libvmm.IoExit) and (e.port, e.value) == (0x500, 0x55)
    assert g.run_until_ucall(UCALL_SYNC).args[0] == 5
    with pytest.raises(Boom, match="0x520"):
        g.vcpu.run()


def test_mmio_handler(guest_vm):
    g = guest_vm("mmio")
    seen = []

    def handler(vcpu, gpa, size, is_write, value):
        seen.append((gpa, size, is_write))
        return None if is_write else io_read_value(gpa, size)

    g.vm.on_mmio(MMIO_HANDLED_GPA, 0x1000, handler)
    g.vm.on_mmio(0xD0200000, 4, handler)
    # Answer every unhandled MMIO read the way the C test does, until the
    # first SYNC.
    while True:
        e = g.run_until_ucall()
        if isinstance(e, libvmm.MmioExit):
            if not e.is_write:
                e.respond(io_read_value(e.gpa, e.size))
            continue
        break
    assert e.cmd == UCALL_SYNC
    assert {s for (_, s, _) in seen} == {1, 2, 4, 8}


def test_handler_exception_stops_a_started_vm(guest_vm):
    """On libvmm's own threads: the VM stops with reason "error" and
    wait() raises the handler's exception."""
    g = guest_vm("pio")

    def boom(vcpu, port, size, is_write, value):
        raise ValueError("no I/O today")

    g.vm.on_pio(PIO_HANDLED_PORT, 8, boom)
    g.vm.start()
    with pytest.raises(ValueError, match="no I/O today"):
        g.vm.wait(timeout=30)
    assert g.vm.state == "stopped"


def test_kick_from_another_thread(guest_vm):
    """Ring 3 spins natively; only the kick's signal gets the vCPU out,
    while the GIL is released during run()."""
    g = guest_vm("spin", params=(1,))
    assert g.run_until_ucall(UCALL_SYNC).args[0] == 1
    t = threading.Timer(0.2, g.vcpu.kick)
    t.start()
    e = g.vcpu.run()
    t.join()
    assert isinstance(e, libvmm.KickedExit)
    assert struct.unpack("<Q", g.vm.read(0x90100, 8))[0] > 0


def test_virtio_rng_on_libvmm_threads(guest_vm):
    """The fleet guest reads 64 bytes from a virtio-rng over MMIO, then
    computes; ucalls come to a Python handler on the vCPU thread."""
    g = guest_vm("fleet")
    rng = g.vm.add_virtio_rng()
    assert rng.type == "virtio-rng" and rng.mmio_base >= 0xD0000000
    rng.id = "rng0"
    for i, p in enumerate((7, 1000, rng.mmio_base, 64)):
        g.vm.write(0x90000 + 8 * i, struct.pack("<Q", p))
    ucalls = []

    def ucall(vcpu, port, size, is_write, value):
        uc = read_ucall(g.vm, value)
        ucalls.append(uc)
        if uc.cmd == UCALL_DONE:
            g.vm.stop(0)

    g.vm.on_pio(UCALL_PORT, 1, ucall)
    g.vm.start()
    info = g.vm.wait(timeout=60)
    assert info.reason_name in ("requested", "halt"), info
    cmds = [u.cmd for u in ucalls]
    assert cmds[-2:] == [UCALL_SYNC, UCALL_DONE], ucalls
    sync = ucalls[-2]
    assert sync.args[1] == 64 and sync.args[2] != 0
    desc = g.vm.describe()
    assert [d["type"] for d in desc["devices"]] == ["virtio-rng"]
    assert desc["devices"][0]["id"] == "rng0"
    assert g.vm.find_device("rng0").type == "virtio-rng"


def test_on_exit_sees_unhandled_exits_of_a_started_vm(guest_vm):
    g = guest_vm("hello")
    out, seen = [], []

    def on_exit(vcpu, e):
        seen.append(type(e).__name__)
        assert vcpu is g.vcpu
        if isinstance(e, libvmm.IoExit) and e.port == 0xE9:
            out.append(chr(e.value))
            return True
        return False        # HLT: the default, the VM stops

    g.vm.on_exit(on_exit)
    g.vm.start()
    info = g.vm.wait(timeout=30)
    assert info.reason_name == "halt"
    assert "".join(out) == "Hello from the guest\n"
    assert seen[-1] == "HltExit"


def test_bad_handler_results_raise_in_run(guest_vm):
    # The pio guest's first read is 1 byte at 0x501.
    for answer, exc, text in ((b"xyz", ValueError, "3 bytes for a 1-byte"),
                              (object(), TypeError, "")):
        g = guest_vm("pio")
        g.vm.on_pio(PIO_HANDLED_PORT, 8,
                    lambda v, port, size, w, value, a=answer:
                    None if w else a)
        with pytest.raises(exc, match=text):
            g.vcpu.run()


def test_many_failing_started_vms_leave_the_interpreter_alone(guest_vm):
    for i in range(10):
        with libvmm.VM() as vm:
            vm.map_memory(0, 4 << 20)
            vcpu = vm.create_vcpu()
            vcpu.setup_long_mode(vm.load_elf(guest_path("hello.elf")).entry)
            vm.on_pio(0xE9, 1, lambda *a: 1 / 0)
            vm.start()
            with pytest.raises(ZeroDivisionError):
                vm.wait(timeout=30)


def test_a_dropped_vm_is_destroyed():
    """Handlers hold their VM weakly, so a VM the program forgets (no
    close()) goes away with its last reference, handlers and all."""
    import gc
    import weakref
    vm = libvmm.VM()
    vm.map_memory(0, 1 << 20)
    vm.on_pio(0xE9, 1, lambda *a: None)
    vm.on_hypercall(1, lambda *a: 0)
    ref = weakref.ref(vm)
    del vm
    gc.collect()
    assert ref() is None


def test_devices_are_created_and_described(tmp_path):
    import socket
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with libvmm.VM(irqchip=True) as vm:
        vm.map_memory(0, 4 << 20)
        vm.create_vcpu()
        con = vm.add_virtio_console(vm.chardev_buffer(4096))
        blk = vm.add_virtio_blk(img, readonly=True, serial="py-disk")
        net = vm.add_virtio_net(fd=a.detach(), mac="52:54:00:12:34:56")
        rng = vm.add_virtio_rng(transport="pci")
        uart = vm.add_uart(chardev=vm.chardev_buffer())
        vm.add_debug_exit()
        assert [d.type for d in (con, blk, net, rng, uart)] == \
            ["virtio-console", "virtio-blk", "virtio-net", "virtio-rng",
             "uart16550"]
        assert len({con.mmio_base, blk.mmio_base, net.mmio_base}) == 3
        assert net.mac == "52:54:00:12:34:56"
        blk.id = "disk0"
        d = vm.describe()
        types = [x["type"] for x in d["devices"]]
        assert types[:4] == ["virtio-console", "virtio-blk", "virtio-net",
                             "virtio-rng"]
        disk = d["devices"][1]
        assert disk["id"] == "disk0" and disk["readonly"] is True
        assert d["devices"][3]["transport"] == "pci"
        with pytest.raises(libvmm.VmmError) as ei:
            vm.add_virtio_blk(tmp_path / "missing.img")
        assert ei.value.code == libvmm.VMM_ENOENT
    b.close()
