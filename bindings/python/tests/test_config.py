"""The JSON entry point: a VM from a description, run on libvmm's threads."""
import json

import pytest

import libvmm
from conftest import guest_path, kvm

pytestmark = kvm


def describe(cmdline, chardev):
    return {
        "memory": "64M",
        "vcpus": 1,
        "payload": {"type": "kernel", "path": str(guest_path("launch-pvh.elf")),
                    "cmdline": cmdline},
        "devices": [{"type": "uart", "id": "com1", "chardev": chardev},
                    {"type": "debug-exit"}, {"type": "i8042"}],
    }


def test_vm_from_json_exits_with_status():
    with libvmm.VM.from_config(describe("exit=21", {"type": "buffer"})) as vm:
        assert vm.state == "created"
        # The description's vCPU, reachable (vmm_vm_get_vcpu()).
        assert [v.id for v in vm.vcpus] == [0]
        assert vm.vcpus[0].regs.rip != 0
        vm.start()
        info = vm.wait(timeout=60)
        assert info.reason_name == "guest_exit"
        assert info.status == (21 << 1) | 1
        out = vm.find_device("com1").chardev.read()
        assert len(out) > 0


def test_vm_from_json_file_round_trips(tmp_path):
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(describe("exit=3", "none")))
    with libvmm.VM.from_config(path) as vm:
        d = vm.describe()
        assert d["payload"]["cmdline"] == "exit=3"
        assert [x["type"] for x in d["devices"]][:3] == \
            ["uart", "debug-exit", "i8042"]
        # describe → parse accepts its own output
        assert libvmm.Config(vm.describe_json()).vcpus == 1
        vm.start()
        assert vm.wait(timeout=60).status == 7


def test_bad_device_in_json():
    d = describe("", "none")
    d["devices"].append({"type": "virtio-blk", "path": "/nonexistent.img"})
    with pytest.raises(libvmm.VmmError) as ei:
        libvmm.VM.from_config(d)
    assert "devices[3]" in ei.value.message
