"""libvmm — Python bindings for the embeddable virtualization library.

    import libvmm
    with libvmm.VM() as vm:
        vm.map_memory(0, 4 << 20)
        vcpu = vm.create_vcpu()
        vm.on_pio(0xE9, 1, lambda vcpu, port, size, is_write, value:
                  print(chr(value), end=""))
        vcpu.setup_long_mode(vm.load_elf("hello.elf").entry)
        print(vcpu.run())          # HltExit(reason=1)
"""
from ._native import ffi as _ffi, lib as _lib


def _check_version(runtime, compiled_major):
    """The extension was compiled against headers of major version
    `compiled_major`; a library of another major version has another ABI."""
    if runtime >> 16 != compiled_major:
        raise ImportError(
            "libvmm: the loaded library is version %d.%d.%d but these "
            "bindings were built for major version %d; rebuild them "
            "against this library" % (runtime >> 16, runtime >> 8 & 0xFF,
                                      runtime & 0xFF, compiled_major))


_check_version(_lib.vmm_version(), _lib.VMM_VERSION_MAJOR)

from ._errors import VmmError, ERRORS  # noqa: E402
from ._errors import *  # noqa: E402,F401,F403 — the VMM_E* constants
from ._exits import (Exit, HltExit, ShutdownExit, KickedExit, IoExit,  # noqa: E402
                     MmioExit, HypercallExit, DebugExit, InternalErrorExit)
from ._core import (VM, VCpu, MemoryRegion, Device, Chardev, Config,  # noqa: E402
                    ElfInfo, StopInfo, Regs)

__version__ = "%d.%d.%d" % (_lib.VMM_VERSION_MAJOR, _lib.VMM_VERSION_MINOR,
                            _lib.VMM_VERSION_PATCH)
#: Version of the loaded library ("0.1.0").
library_version = _ffi.string(_lib.vmm_version_string()).decode()

HYPERCALL_PORT_DEFAULT = _lib.VMM_HYPERCALL_PORT_DEFAULT


def backends():
    """Names of the compiled-in backends."""
    return [_ffi.string(_lib.vmm_backend_name(i)).decode()
            for i in range(_lib.vmm_backend_count())]


def backend_usable(name="kvm"):
    """True when the backend can create VMs here (e.g. /dev/kvm is
    present and accessible)."""
    return _lib.vmm_backend_probe(name.encode()) == 0


__all__ = ["VM", "VCpu", "MemoryRegion", "Device", "Chardev", "Config",
           "ElfInfo", "StopInfo", "Regs", "VmmError", "ERRORS", "Exit",
           "HltExit", "ShutdownExit", "KickedExit", "IoExit", "MmioExit",
           "HypercallExit", "DebugExit", "InternalErrorExit", "backends",
           "backend_usable", "library_version"] + sorted(ERRORS)
