"""Exceptions carrying libvmm's VMM_E* codes."""
from ._native import ffi, lib


def _s(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else ""


class VmmError(Exception):
    """A libvmm call failed.

    `code` is the negative VMM_E* value, `name` its symbolic name
    ("VMM_EINVAL"), `strerror` the short text and `message` the detailed
    vmm_last_error() text of the failing call.
    """

    def __init__(self, code, message="", call=None):
        self.code = int(code)
        self.name = _s(lib.vmm_err_name(self.code))
        self.strerror = _s(lib.vmm_strerror(self.code))
        self.message = message
        self.call = call
        text = "%s: %s" % (self.name, message or self.strerror)
        if call and not (message or "").startswith(call):
            text = "%s: %s" % (call, text)
        super().__init__(text)


def check(rc, call=None):
    """Raises VmmError for a negative return code, with the thread's
    vmm_last_error() read right away (it is per thread and the next failure
    overwrites it)."""
    if rc < 0:
        raise VmmError(rc, _s(lib.vmm_last_error()), call)
    return rc


def _error_table():
    # The codes come from the library itself (vmm_err_name), so Python
    # constants cannot drift from the VMM_ERRNO_MAP table of common.h.
    codes = {}
    for code in list(range(-1, -200, -1)) + list(range(-4001, -4020, -1)):
        name = _s(lib.vmm_err_name(code))
        if name.startswith("VMM_E") and name != "VMM_EUNKNOWN" \
                and name not in codes:
            codes[name] = code
    return codes


ERRORS = _error_table()
globals().update(ERRORS)
