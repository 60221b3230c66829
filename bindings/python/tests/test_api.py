"""What works without /dev/kvm: version, errors, config validation."""
import pytest

import libvmm
from libvmm import _check_version


def test_version_matches_library():
    assert libvmm.__version__ == libvmm.library_version
    assert "kvm" in libvmm.backends()


def test_other_major_version_is_refused():
    _check_version(0x000100, 0)
    with pytest.raises(ImportError, match="major version 0"):
        _check_version(0x010000, 0)
    with pytest.raises(ImportError, match="major version 2"):
        _check_version(0x010203, 2)


def test_error_table_comes_from_the_library():
    assert libvmm.VMM_EINVAL == -22
    assert libvmm.VMM_EOVERLAP == -4001
    assert libvmm.ERRORS["VMM_EVERSION"] == -4004
    assert "VMM_EUNKNOWN" not in libvmm.ERRORS


def test_config_error_carries_code_and_path():
    with pytest.raises(libvmm.VmmError) as ei:
        libvmm.Config({"memory": "4M", "vcpus": 1, "bogus": 1})
    e = ei.value
    assert e.code == libvmm.VMM_EINVAL
    assert e.name == "VMM_EINVAL"
    assert "bogus" in e.message
    with pytest.raises(libvmm.VmmError) as ei:
        libvmm.Config('{"memory": "4M",')
    assert "line" in ei.value.message
    with pytest.raises(libvmm.VmmError) as ei:
        libvmm.Config.from_file("/nonexistent/vm.json")
    assert ei.value.code == libvmm.VMM_ENOENT


def test_config_vcpus():
    assert libvmm.Config({"memory": "4M", "vcpus": 3}).vcpus == 3
