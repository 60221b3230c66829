"""VM, VCpu, MemoryRegion and the handler trampolines."""
import json
import mmap
import os
import threading
import weakref
from dataclasses import dataclass

from ._native import ffi, lib
from ._errors import VmmError, check, _s
from ._exits import make_exit

IO_PIO = 0
IO_MMIO = 1

STATES = {0: "created", 1: "running", 2: "paused", 3: "stopped"}
STOP_REASONS = {0: "none", 1: "requested", 2: "guest_exit", 3: "reset",
                4: "halt", 5: "shutdown", 6: "debug", 7: "error"}

# Handles of VMs whose destruction failed (a vCPU still inside run() on
# another thread): the library may still call into them, so the Python
# objects they point at must never be freed.
_leaked = []


def _closed(what="VM"):
    return VmmError(lib.VMM_EINVAL, "the %s is closed" % what)


# ---- handler trampolines -----------------------------------------------------
# The library calls these C entry points (cffi "extern Python") with the
# `opaque` pointer given at registration: a cffi handle of a _Handler.
# They catch everything: an exception is kept on the VM and the library
# gets VMM_EIO, which ends vmm_vcpu_run() (or stops a started VM with
# VMM_STOP_ERROR); VCpu.run() / VM.wait() then raise it in the caller.

class _Handler:
    """What a registration's cffi handle points at. The VM is held weakly:
    the VM owns its handlers (through the handles it keeps), so a strong
    reference back would make a cycle through the handle objects that the
    cycle collector cannot see, and a VM the program dropped without
    close() would never be destroyed."""
    __slots__ = ("_vm", "fn")

    def __init__(self, vm, fn):
        self._vm = weakref.ref(vm)
        self.fn = fn

    @property
    def vm(self):
        vm = self._vm()
        if vm is None:
            # Only while a dropped VM is being destroyed: end the run.
            raise RuntimeError("libvmm: the VM object is gone")
        return vm


def _failed(h, exc):
    vm = h._vm()
    if vm is not None:
        vm._callback_failed(exc)


def _onerror(exc_type, exc_value, tb):
    # Reached only if the trampoline itself failed before its own try
    # (e.g. a KeyboardInterrupt at the wrong moment). Never propagate.
    return lib.VMM_EIO


@ffi.def_extern(onerror=_onerror)
def _libvmm_io_cb(vcpu, addr, data, size, is_write, opaque):
    h = ffi.from_handle(opaque)
    try:
        vm = h.vm
        v = vm._vcpus_by_ptr.get(int(ffi.cast("uintptr_t", vcpu))) or \
            vm._wrap_vcpu(vcpu)
        if is_write:
            h.fn(v, addr, size, True,
                 int.from_bytes(ffi.buffer(data, size), "little"))
        else:
            r = h.fn(v, addr, size, False, 0)
            if r is not None:
                if isinstance(r, int):
                    r = (r & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                else:
                    r = bytes(r)
                    if len(r) != size:
                        raise ValueError("handler for 0x%x returned %d bytes "
                                         "for a %d-byte read"
                                         % (addr, len(r), size))
                ffi.memmove(data, r, size)
        return 0
    except BaseException as e:  # noqa: B036 — everything goes to run()
        _failed(h, e)
        return lib.VMM_EIO


@ffi.def_extern(onerror=_onerror)
def _libvmm_hypercall_cb(vcpu, nr, args, ret, opaque):
    h = ffi.from_handle(opaque)
    try:
        vm = h.vm
        v = vm._vcpus_by_ptr.get(int(ffi.cast("uintptr_t", vcpu))) or \
            vm._wrap_vcpu(vcpu)
        r = h.fn(v, nr, (args[0], args[1], args[2], args[3], args[4]))
        ret[0] = (int(r) if r is not None else 0) & 0xFFFFFFFFFFFFFFFF
        return 0
    except BaseException as e:  # noqa: B036
        _failed(h, e)
        return lib.VMM_EIO


@ffi.def_extern(onerror=_onerror)
def _libvmm_exit_cb(vcpu, exit, opaque):
    h = ffi.from_handle(opaque)
    try:
        vm = h.vm
        v = vm._vcpus_by_ptr.get(int(ffi.cast("uintptr_t", vcpu))) or \
            vm._wrap_vcpu(vcpu)
        x = make_exit(v, exit)
        try:
            r = h.fn(v, x)
        finally:
            x._vcpu = None      # the record is only valid during the call
        return 1 if r is None or r is NotImplemented else (0 if r else 1)
    except BaseException as e:  # noqa: B036
        _failed(h, e)
        return lib.VMM_EIO


# ---- small value types ---------------------------------------------------------

@dataclass
class ElfInfo:
    entry: int
    lowest: int
    highest: int
    elf_class: int
    segments: int


@dataclass
class StopInfo:
    reason: int
    status: int
    vcpu: int
    error: int
    message: str

    @property
    def reason_name(self):
        return STOP_REASONS.get(self.reason, str(self.reason))


@dataclass
class Regs:
    rax: int = 0
    rbx: int = 0
    rcx: int = 0
    rdx: int = 0
    rsi: int = 0
    rdi: int = 0
    rsp: int = 0
    rbp: int = 0
    r8: int = 0
    r9: int = 0
    r10: int = 0
    r11: int = 0
    r12: int = 0
    r13: int = 0
    r14: int = 0
    r15: int = 0
    rip: int = 0
    rflags: int = 2


_REG_NAMES = [f for f in Regs.__dataclass_fields__]


# ---- memory ------------------------------------------------------------------

class MemoryRegion:
    """Guest RAM backed by a Python-owned anonymous mmap.

    `memory` is a writable memoryview of it; because Python owns the pages,
    the view stays valid even after the region is unmapped or the VM is
    closed (the guest just no longer sees it).
    """

    def __init__(self, vm, gpa, size, flags):
        self.vm = vm
        self.gpa = gpa
        self.size = size
        self.flags = flags
        self._mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._buf = ffi.from_buffer(self._mm)
        out = ffi.new("vmm_mem_region_t **")
        check(lib.vmm_mem_map(vm._ptr(), gpa, size, self._buf, flags, out),
              "vmm_mem_map")
        self._p = out[0]

    @property
    def memory(self):
        return memoryview(self._mm)

    def unmap(self):
        if self._p is not None:
            if self.vm._p is not None:
                check(lib.vmm_mem_unmap(self._p), "vmm_mem_unmap")
            self._p = None
            self.vm._regions.remove(self)

    def dirty_pages(self):
        """Pages written since the last clear_dirty() (needs dirty_log=True),
        as a list of page indices."""
        if self._p is None:
            raise _closed("region")
        pages = (self.size + 4095) // 4096
        words = (pages + 63) // 64
        bm = ffi.new("uint64_t[]", words)
        check(lib.vmm_mem_dirty_log_get(self._p, bm, words * 8),
              "vmm_mem_dirty_log_get")
        return [i for i in range(pages) if bm[i // 64] >> (i % 64) & 1]

    def clear_dirty(self):
        if self._p is None:
            raise _closed("region")
        check(lib.vmm_mem_dirty_log_clear(self._p), "vmm_mem_dirty_log_clear")

    def __repr__(self):
        return "MemoryRegion(gpa=0x%x, size=0x%x, flags=%d)" % (
            self.gpa, self.size, self.flags)


# ---- vCPUs ---------------------------------------------------------------------

class VCpu:
    def __init__(self, vm, ptr):
        self.vm = vm
        self._p = ptr
        self.id = lib.vmm_vcpu_id(ptr)
        self._exit = ffi.new("vmm_exit_t *")
        self._gen = 0

    def _ptr(self):
        if self.vm._p is None:
            raise _closed("VM")
        return self._p

    def run(self):
        """Runs the guest on this thread until an exit no handler consumed;
        returns it as an Exit dataclass. The GIL is released meanwhile, so
        other Python threads (and handlers) keep running. An exception
        raised by a handler during the run is raised here."""
        rc = lib.vmm_vcpu_run(self._ptr(), self._exit)
        self._gen += 1
        self.vm._raise_pending()
        check(rc, "vmm_vcpu_run")
        return make_exit(self)

    def kick(self):
        check(lib.vmm_vcpu_kick(self._ptr()), "vmm_vcpu_kick")

    @property
    def regs(self):
        r = ffi.new("vmm_regs_t *")
        check(lib.vmm_vcpu_get_regs(self._ptr(), r), "vmm_vcpu_get_regs")
        return Regs(*(getattr(r, n) for n in _REG_NAMES))

    @regs.setter
    def regs(self, value):
        r = ffi.new("vmm_regs_t *")
        for n in _REG_NAMES:
            setattr(r, n, getattr(value, n))
        check(lib.vmm_vcpu_set_regs(self._ptr(), r), "vmm_vcpu_set_regs")

    def setup_long_mode(self, entry, stack=0x80000, setup_gpa=0x1000):
        check(lib.vmm_vcpu_setup_long_mode(self._ptr(), entry, stack,
                                           setup_gpa),
              "vmm_vcpu_setup_long_mode")

    def setup_protected_mode(self, entry, stack):
        check(lib.vmm_vcpu_setup_protected_mode(self._ptr(), entry, stack),
              "vmm_vcpu_setup_protected_mode")

    def setup_real_mode(self, cs, ip, sp):
        check(lib.vmm_vcpu_setup_real_mode(self._ptr(), cs, ip, sp),
              "vmm_vcpu_setup_real_mode")

    def __repr__(self):
        return "VCpu(id=%d)" % self.id


# ---- devices -------------------------------------------------------------------

class Chardev:
    """A character back-end (stdio, file, socket or in-memory buffer)."""

    def __init__(self, vm, ptr, kind):
        self.vm = vm
        self._p = ptr
        self.kind = kind

    def read(self, n=65536):
        """Buffer back-ends: what the guest wrote (up to n bytes)."""
        self.vm._ptr()
        buf = ffi.new("char[]", n)
        got = check(lib.vmm_chardev_buffer_read(self._p, buf, n),
                    "vmm_chardev_buffer_read")
        return ffi.unpack(buf, got)

    def write(self, data):
        """Buffer back-ends: input for the guest."""
        self.vm._ptr()
        data = bytes(data)
        check(lib.vmm_chardev_buffer_write(self._p, data, len(data)),
              "vmm_chardev_buffer_write")


class Device:
    def __init__(self, vm, ptr):
        self.vm = vm
        self._p = ptr

    @property
    def type(self):
        self.vm._ptr()
        return _s(lib.vmm_device_type(self._p))

    @property
    def id(self):
        self.vm._ptr()
        p = lib.vmm_device_id(self._p)
        return _s(p) if p != ffi.NULL else None

    @id.setter
    def id(self, value):
        self.vm._ptr()
        check(lib.vmm_device_set_id(self._p, value.encode()),
              "vmm_device_set_id")

    @property
    def error(self):
        self.vm._ptr()
        p = lib.vmm_device_error(self._p)
        return _s(p) if p != ffi.NULL else None

    @property
    def mmio_base(self):
        self.vm._ptr()
        return lib.vmm_virtio_mmio_base(self._p)

    @property
    def irq(self):
        self.vm._ptr()
        return lib.vmm_virtio_irq(self._p)

    @property
    def mac(self):
        self.vm._ptr()
        m = ffi.new("uint8_t[6]")
        check(lib.vmm_virtio_net_mac(self._p, m), "vmm_virtio_net_mac")
        return ":".join("%02x" % b for b in m)

    @property
    def chardev(self):
        self.vm._ptr()
        p = lib.vmm_device_chardev(self._p)
        return Chardev(self.vm, p, "?") if p != ffi.NULL else None

    def __repr__(self):
        return "Device(type=%r, id=%r)" % (self.type, self.id)


def _virtio_config(transport, irq, mmio_base, queue_size, pci_slot):
    c = ffi.new("vmm_virtio_config_t *")
    c.size = ffi.sizeof("vmm_virtio_config_t")
    c.transport = {"mmio": lib.VMM_VIRTIO_MMIO,
                   "pci": lib.VMM_VIRTIO_PCI}[transport]
    c.irq = irq
    c.mmio_base = mmio_base
    c.queue_size = queue_size
    c.pci_slot = pci_slot
    return c


# ---- configuration -------------------------------------------------------------

class Config:
    """A parsed and validated JSON VM description (docs/config.md).

    Config(text) parses JSON text (str or bytes; a dict is serialised
    first); Config.from_file(path) reads a file, with relative paths in it
    taken relative to the file. Errors raise VmmError whose message starts
    with the JSON path of the offending field."""

    def __init__(self, text=None, *, _ptr=None):
        if _ptr is None:
            if isinstance(text, dict):
                text = json.dumps(text)
            data = text.encode() if isinstance(text, str) else bytes(text)
            out = ffi.new("vmm_config_t **")
            check(lib.vmm_config_parse(data, len(data), out),
                  "vmm_config_parse")
            _ptr = out[0]
        self._p = ffi.gc(_ptr, lib.vmm_config_free)

    @classmethod
    def from_file(cls, path):
        out = ffi.new("vmm_config_t **")
        check(lib.vmm_config_parse_file(os.fsencode(path), out),
              "vmm_config_parse_file")
        return cls(_ptr=out[0])

    @property
    def vcpus(self):
        return lib.vmm_config_vcpus(self._p)


# ---- the VM --------------------------------------------------------------------

class VM:
    """A virtual machine. Use it as a context manager (or call close()):
    leaving the block destroys the VM with its vCPUs, regions, handlers and
    devices (a started VM is stopped and waited for first)."""

    def __init__(self, backend="auto", *, max_vcpus=0, irqchip=False,
                 hypercall_port=0, _ptr=None):
        self._p = None
        self._lock = threading.Lock()
        self._pending = None
        self._keep = []          # cffi handles the library may call with
        self._vcpus = []
        self._vcpus_by_ptr = {}
        self._regions = []
        self._devices = []
        self._io_handlers = {}
        self._hypercalls = {}
        if _ptr is None:
            c = ffi.new("vmm_vm_config_t *")
            c.size = ffi.sizeof("vmm_vm_config_t")
            b = ffi.new("char[]", backend.encode()) if backend else ffi.NULL
            c.backend = b
            c.max_vcpus = max_vcpus
            c.flags = lib.VMM_VM_F_IRQCHIP if irqchip else 0
            c.hypercall_port = hypercall_port
            out = ffi.new("vmm_vm_t **")
            check(lib.vmm_vm_create(c, out), "vmm_vm_create")
            _ptr = out[0]
        self._p = _ptr

    @classmethod
    def from_config(cls, config):
        """Builds the VM a JSON description asks for (memory, vCPUs,
        devices, payload loaded, vCPU 0 set up). `config` is a Config, a
        dict, JSON text, or a path (os.PathLike) to a JSON file. The VM is
        left created: start() it."""
        if isinstance(config, os.PathLike):
            config = Config.from_file(config)
        elif not isinstance(config, Config):
            config = Config(config)
        out = ffi.new("vmm_vm_t **")
        check(lib.vmm_vm_create_from_config(config._p, out),
              "vmm_vm_create_from_config")
        vm = cls(_ptr=out[0])
        # The vCPUs the description made (ids from 0), as VCpu objects.
        i = 0
        while True:
            p = lib.vmm_vm_get_vcpu(out[0], i)
            if p == ffi.NULL:
                break
            vm._vcpus.append(vm._wrap_vcpu(p))
            i += 1
        return vm

    # -- lifetime
    def _ptr(self):
        if self._p is None:
            raise _closed()
        return self._p

    def close(self):
        if self._p is None:
            return
        rc = lib.vmm_vm_destroy(self._p)
        if rc < 0:
            # The library still has this VM (a vCPU is running elsewhere):
            # keep everything it may call into alive.
            _leaked.append(self)
            check(rc, "vmm_vm_destroy")
        self._p = None
        self._keep.clear()
        self._vcpus_by_ptr.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self):
        return self._p is None

    # -- exceptions raised inside handlers
    def _callback_failed(self, exc):
        with self._lock:
            if self._pending is None:
                self._pending = exc

    def _raise_pending(self):
        if self._pending is not None:
            with self._lock:
                exc, self._pending = self._pending, None
            if exc is not None:
                raise exc

    # -- info
    @property
    def backend(self):
        return _s(lib.vmm_vm_backend(self._ptr()))

    @property
    def caps(self):
        c = ffi.new("uint64_t *")
        check(lib.vmm_vm_caps(self._ptr(), c), "vmm_vm_caps")
        return c[0]

    @property
    def state(self):
        return STATES.get(lib.vmm_vm_state(self._ptr()), "?")

    # -- memory
    def map_memory(self, gpa, size, *, readonly=False, dirty_log=False):
        flags = (lib.VMM_MEM_READONLY if readonly else 0) | \
                (lib.VMM_MEM_DIRTY_LOG if dirty_log else 0)
        r = MemoryRegion(self, gpa, size, flags)
        self._regions.append(r)
        return r

    @property
    def regions(self):
        return list(self._regions)

    def read(self, gpa, length):
        buf = ffi.new("char[]", length)
        check(lib.vmm_mem_read(self._ptr(), gpa, buf, length), "vmm_mem_read")
        return ffi.unpack(buf, length)

    def write(self, gpa, data):
        data = bytes(data)
        check(lib.vmm_mem_write(self._ptr(), gpa, data, len(data)),
              "vmm_mem_write")

    # -- loading
    def load_elf(self, image):
        """Loads a static ELF; `image` is a path or the file's bytes."""
        info = ffi.new("vmm_elf_info_t *")
        info.size = ffi.sizeof("vmm_elf_info_t")
        if isinstance(image, (str, os.PathLike)):
            check(lib.vmm_load_elf_file(self._ptr(), os.fsencode(image), info),
                  "vmm_load_elf_file")
        else:
            data = bytes(image)
            check(lib.vmm_load_elf(self._ptr(), data, len(data), info),
                  "vmm_load_elf")
        return ElfInfo(info.entry, info.lowest, info.highest, info.elf_class,
                       info.segments)

    def load_flat(self, data, gpa):
        data = bytes(data)
        check(lib.vmm_load_flat(self._ptr(), data, len(data), gpa),
              "vmm_load_flat")

    # -- vCPUs
    def create_vcpu(self, id=None):
        if id is None:
            id = len(self._vcpus)
        out = ffi.new("vmm_vcpu_t **")
        check(lib.vmm_vcpu_create(self._ptr(), id, out), "vmm_vcpu_create")
        v = VCpu(self, out[0])
        self._vcpus.append(v)
        self._vcpus_by_ptr[int(ffi.cast("uintptr_t", out[0]))] = v
        return v

    @property
    def vcpus(self):
        return list(self._vcpus)

    def _wrap_vcpu(self, ptr):
        # A vCPU the library made (a VM from a description).
        v = VCpu(self, ptr)
        self._vcpus_by_ptr[int(ffi.cast("uintptr_t", ptr))] = v
        return v

    # -- handlers
    def _register_io(self, space, addr, length, fn):
        h = _Handler(self, fn)
        hd = ffi.new_handle(h)
        check(lib.vmm_io_register(self._ptr(), space, addr, length,
                                  lib._libvmm_io_cb, hd), "vmm_io_register")
        self._io_handlers[(space, addr)] = hd

    def _unregister_io(self, space, addr):
        check(lib.vmm_io_unregister(self._ptr(), space, addr),
              "vmm_io_unregister")
        # The library no longer calls it, but a call may be under way on
        # another vCPU thread: keep the handle until the VM goes.
        self._keep.append(self._io_handlers.pop((space, addr), None))

    def on_pio(self, port, length, fn):
        """fn(vcpu, port, size, is_write, value) handles port I/O to
        [port, port + length): for a write `value` is what the guest wrote
        (an int), for a read fn returns the value (an int or `size` bytes;
        None reads 0). Runs on the vCPU's thread, inside run()."""
        self._register_io(IO_PIO, port, length, fn)

    def on_mmio(self, gpa, length, fn):
        """As on_pio() for guest-physical addresses not backed by RAM."""
        self._register_io(IO_MMIO, gpa, length, fn)

    def remove_pio(self, port):
        self._unregister_io(IO_PIO, port)

    def remove_mmio(self, gpa):
        self._unregister_io(IO_MMIO, gpa)

    def on_hypercall(self, nr, fn):
        """fn(vcpu, nr, args) → int: the guest's RAX. args is a 5-tuple."""
        h = _Handler(self, fn)
        hd = ffi.new_handle(h)
        check(lib.vmm_hypercall_register(self._ptr(), nr,
                                         lib._libvmm_hypercall_cb, hd),
              "vmm_hypercall_register")
        self._hypercalls[nr] = hd

    def remove_hypercall(self, nr):
        check(lib.vmm_hypercall_unregister(self._ptr(), nr),
              "vmm_hypercall_unregister")
        self._keep.append(self._hypercalls.pop(nr, None))

    def on_exit(self, fn):
        """For a started VM: fn(vcpu, exit) sees each exit no handler
        consumed, on the vCPU's thread, before the default treatment
        (vm.h). Return True when it dealt with the exit (answer reads with
        exit.respond() inside fn), False/None for the default treatment;
        an exception stops the VM and is raised by wait(). fn None
        removes it."""
        if fn is None:
            check(lib.vmm_vm_on_exit(self._ptr(), ffi.NULL, ffi.NULL),
                  "vmm_vm_on_exit")
            self._keep.append(getattr(self, "_exit_handle", None))
            self._exit_handle = None
            return
        hd = ffi.new_handle(_Handler(self, fn))
        check(lib.vmm_vm_on_exit(self._ptr(), lib._libvmm_exit_cb, hd),
              "vmm_vm_on_exit")
        self._keep.append(getattr(self, "_exit_handle", None))
        self._exit_handle = hd

    # -- running on libvmm's threads
    def start(self):
        check(lib.vmm_vm_start(self._ptr()), "vmm_vm_start")

    def pause(self):
        check(lib.vmm_vm_pause(self._ptr()), "vmm_vm_pause")

    def resume(self):
        check(lib.vmm_vm_resume(self._ptr()), "vmm_vm_resume")

    def stop(self, status=0):
        check(lib.vmm_vm_stop(self._ptr(), status), "vmm_vm_stop")

    def wait(self, timeout=None):
        """Waits for a started VM to stop (timeout in seconds, None:
        forever) and returns a StopInfo. If a Python handler raised, the
        VM stopped with reason "error" and that exception is raised here."""
        info = ffi.new("vmm_vm_stop_info_t *")
        info.size = ffi.sizeof("vmm_vm_stop_info_t")
        ms = -1 if timeout is None else int(timeout * 1000)
        rc = lib.vmm_vm_wait(self._ptr(), ms, info)
        self._raise_pending()
        check(rc, "vmm_vm_wait")
        return StopInfo(info.reason, info.status, info.vcpu, info.error,
                        _s(info.message))

    # -- devices
    def _device(self, rc, out, call):
        check(rc, call)
        d = Device(self, out[0])
        self._devices.append(d)
        return d

    def chardev_buffer(self, capacity=65536):
        out = ffi.new("vmm_chardev_t **")
        check(lib.vmm_chardev_buffer(self._ptr(), capacity, out),
              "vmm_chardev_buffer")
        return Chardev(self, out[0], "buffer")

    def chardev_file(self, path):
        out = ffi.new("vmm_chardev_t **")
        check(lib.vmm_chardev_file(self._ptr(), os.fsencode(path), out),
              "vmm_chardev_file")
        return Chardev(self, out[0], "file")

    def chardev_socket(self, path):
        out = ffi.new("vmm_chardev_t **")
        check(lib.vmm_chardev_socket(self._ptr(), os.fsencode(path), out),
              "vmm_chardev_socket")
        return Chardev(self, out[0], "socket")

    def chardev_stdio(self):
        out = ffi.new("vmm_chardev_t **")
        check(lib.vmm_chardev_stdio(self._ptr(), out), "vmm_chardev_stdio")
        return Chardev(self, out[0], "stdio")

    def add_uart(self, port=0x3f8, irq=4, chardev=None):
        c = ffi.new("vmm_uart_config_t *")
        c.size = ffi.sizeof("vmm_uart_config_t")
        c.port, c.irq = port, irq
        c.chardev = chardev._p if chardev is not None else ffi.NULL
        out = ffi.new("vmm_device_t **")
        return self._device(lib.vmm_uart_create(self._ptr(), c, out), out,
                            "vmm_uart_create")

    def add_debug_exit(self, port=0xf4):
        out = ffi.new("vmm_device_t **")
        return self._device(lib.vmm_debug_exit_create(self._ptr(), port, out),
                            out, "vmm_debug_exit_create")

    def add_virtio_rng(self, *, transport="mmio", irq=0, mmio_base=0,
                       queue_size=0, pci_slot=0):
        c = _virtio_config(transport, irq, mmio_base, queue_size, pci_slot)
        out = ffi.new("vmm_device_t **")
        return self._device(lib.vmm_virtio_rng_create(self._ptr(), c, out),
                            out, "vmm_virtio_rng_create")

    def add_virtio_console(self, chardev, *, transport="mmio", irq=0,
                           mmio_base=0, queue_size=0, pci_slot=0):
        c = _virtio_config(transport, irq, mmio_base, queue_size, pci_slot)
        out = ffi.new("vmm_device_t **")
        return self._device(
            lib.vmm_virtio_console_create(self._ptr(), c, chardev._p, out),
            out, "vmm_virtio_console_create")

    def add_virtio_blk(self, path, *, readonly=False, num_queues=0,
                       serial="", transport="mmio", irq=0, mmio_base=0,
                       queue_size=0, pci_slot=0):
        c = _virtio_config(transport, irq, mmio_base, queue_size, pci_slot)
        b = ffi.new("vmm_virtio_blk_config_t *")
        b.size = ffi.sizeof("vmm_virtio_blk_config_t")
        p = ffi.new("char[]", os.fsencode(path))
        b.path = p
        b.flags = lib.VMM_BLK_F_READONLY if readonly else 0
        b.num_queues = num_queues
        s = serial.encode()[:20]
        ffi.memmove(b.serial, s, len(s))
        out = ffi.new("vmm_device_t **")
        return self._device(
            lib.vmm_virtio_blk_create(self._ptr(), c, b, out), out,
            "vmm_virtio_blk_create")

    def add_virtio_net(self, *, fd=-1, socket_path=None, tap=None, mac=None,
                       transport="mmio", irq=0, mmio_base=0, queue_size=0,
                       pci_slot=0):
        """fd: a connected SOCK_SEQPACKET/SOCK_DGRAM unix socket (libvmm
        takes ownership), or socket_path to connect to, or tap: an
        interface name."""
        c = _virtio_config(transport, irq, mmio_base, queue_size, pci_slot)
        n = ffi.new("vmm_virtio_net_config_t *")
        n.size = ffi.sizeof("vmm_virtio_net_config_t")
        keep = ffi.NULL
        if tap is not None:
            n.backend = lib.VMM_NET_TAP
            keep = ffi.new("char[]", tap.encode())
            n.fd = -1
        else:
            n.backend = lib.VMM_NET_SOCKET
            n.fd = fd
            if socket_path is not None:
                keep = ffi.new("char[]", os.fsencode(socket_path))
        n.name = keep
        if mac is not None:
            m = bytes(int(x, 16) for x in mac.split(":")) \
                if isinstance(mac, str) else bytes(mac)
            ffi.memmove(n.mac, m, 6)
        out = ffi.new("vmm_device_t **")
        return self._device(
            lib.vmm_virtio_net_create(self._ptr(), c, n, out), out,
            "vmm_virtio_net_create")

    def find_device(self, id):
        out = ffi.new("vmm_device_t **")
        check(lib.vmm_vm_find_device(self._ptr(), id.encode(), out),
              "vmm_vm_find_device")
        return Device(self, out[0])

    # -- interrupts
    def irq_set(self, gsi, level):
        check(lib.vmm_irq_set(self._ptr(), gsi, int(level)), "vmm_irq_set")

    def irq_pulse(self, gsi):
        check(lib.vmm_irq_pulse(self._ptr(), gsi), "vmm_irq_pulse")

    # -- description
    def describe_json(self):
        """The VM as JSON in the schema Config reads (str)."""
        out = ffi.new("char **")
        check(lib.vmm_vm_describe_json(self._ptr(), out),
              "vmm_vm_describe_json")
        try:
            return ffi.string(out[0]).decode()
        finally:
            lib.free(out[0])

    def describe(self):
        return json.loads(self.describe_json())

    def control_listen(self, path):
        check(lib.vmm_vm_control_listen(self._ptr(), os.fsencode(path)),
              "vmm_vm_control_listen")
