"""Exits of VCpu.run() as dataclasses.

Each exit copies what the C vmm_exit_t said, so it stays readable after
the next run. Answering a read (IoExit, MmioExit) or a hypercall
(HypercallExit.respond) writes into the vCPU's exit record, which is only
possible until the vCPU runs again.
"""
from dataclasses import dataclass, field

from ._native import ffi

EXIT_NONE = 0
EXIT_HLT = 1
EXIT_SHUTDOWN = 2
EXIT_IO = 3
EXIT_MMIO = 4
EXIT_HYPERCALL = 5
EXIT_DEBUG = 6
EXIT_INTERNAL_ERROR = 7
EXIT_KICKED = 8


@dataclass
class Exit:
    reason: int
    _vcpu: object = field(default=None, repr=False, compare=False)
    _gen: int = field(default=0, repr=False, compare=False)
    # The record to answer into when it is not the vCPU's own (on_exit).
    _rec: object = field(default=None, init=False, repr=False,
                         compare=False)

    def _record(self):
        v = self._vcpu
        if v is None or v._gen != self._gen:
            raise RuntimeError("this exit can no longer be answered: the "
                               "vCPU has run since")
        return v._exit if self._rec is None else self._rec


@dataclass
class HltExit(Exit):
    pass


@dataclass
class ShutdownExit(Exit):
    pass


@dataclass
class KickedExit(Exit):
    pass


def _fill(ptr, nbytes, value):
    if isinstance(value, int):
        data = (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")
    else:
        data = bytes(value)
        if len(data) != nbytes:
            raise ValueError("expected %d bytes, got %d" % (nbytes, len(data)))
    ffi.memmove(ptr, data, nbytes)


@dataclass
class IoExit(Exit):
    """Port I/O nobody handled. `data` is what the guest wrote (writes)."""
    port: int = 0
    size: int = 0
    is_write: bool = False
    count: int = 1
    data: bytes = b""

    @property
    def value(self):
        """The first element written, as an integer."""
        return int.from_bytes(self.data[:self.size], "little")

    def respond(self, value):
        """For a read: the value the guest reads (an int for one element,
        or size * count bytes), stored before the next run()."""
        rec = self._record()
        _fill(rec.u.io.data, self.size * self.count,
              value if not isinstance(value, int) or self.count == 1
              else value.to_bytes(self.size, "little") * self.count)


@dataclass
class MmioExit(Exit):
    gpa: int = 0
    size: int = 0
    is_write: bool = False
    data: bytes = b""

    @property
    def value(self):
        return int.from_bytes(self.data, "little")

    def respond(self, value):
        _fill(self._record().u.mmio.data, self.size, value)


@dataclass
class HypercallExit(Exit):
    """A hypercall with no registered function; respond() sets the guest's
    RAX (left alone, the guest sees -ENOSYS)."""
    nr: int = 0
    args: tuple = ()

    def respond(self, ret):
        self._record().u.hypercall.ret = int(ret) & 0xFFFFFFFFFFFFFFFF


@dataclass
class DebugExit(Exit):
    exception: int = 0
    rip: int = 0
    dr6: int = 0
    dr7: int = 0


@dataclass
class InternalErrorExit(Exit):
    kind: int = 0
    backend_code: int = 0
    rip: int = 0
    insn: bytes = b""
    cpu_mode: int = 0
    code_bits: int = 0
    cpl: int = 0


def make_exit(vcpu, e=None):
    """The dataclass for vcpu's exit record (or for `e`, a vmm_exit_t *
    that stays valid while the exit may be answered: on_exit)."""
    x = _make(vcpu, vcpu._exit if e is None else e)
    if e is not None:
        x._rec = e
    return x


def _make(vcpu, e):
    r = e.reason
    g = vcpu._gen
    if r == EXIT_IO:
        io = e.u.io
        n = io.size * io.count
        return IoExit(r, vcpu, g, io.port, io.size, bool(io.is_write),
                      io.count,
                      bytes(ffi.buffer(io.data, n)) if io.is_write else b"")
    if r == EXIT_MMIO:
        m = e.u.mmio
        return MmioExit(r, vcpu, g, m.gpa, m.size, bool(m.is_write),
                        bytes(ffi.buffer(m.data, m.size)) if m.is_write else b"")
    if r == EXIT_HYPERCALL:
        h = e.u.hypercall
        return HypercallExit(r, vcpu, g, h.nr, tuple(h.args))
    if r == EXIT_HLT:
        return HltExit(r, vcpu, g)
    if r == EXIT_SHUTDOWN:
        return ShutdownExit(r, vcpu, g)
    if r == EXIT_KICKED:
        return KickedExit(r, vcpu, g)
    if r == EXIT_DEBUG:
        d = e.u.debug
        return DebugExit(r, vcpu, g, d.exception, d.rip, d.dr6, d.dr7)
    if r == EXIT_INTERNAL_ERROR:
        i = e.u.internal
        return InternalErrorExit(r, vcpu, g, i.kind, i.backend_code, i.rip,
                                 bytes(i.insn[0:i.insn_len]), i.cpu_mode,
                                 i.code_bits, i.cpl)
    return Exit(r, vcpu, g)
