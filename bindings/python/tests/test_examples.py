"""The examples run as a user runs them, against the test guests."""
import json
import pathlib
import subprocess
import sys

from conftest import guest_path, kvm

pytestmark = kvm
EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run(script, *args):
    p = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_hello_example():
    assert run("hello.py", str(guest_path("hello.elf"))) == \
        "Hello from the guest\n"


def test_hypercall_example():
    out = run("hypercall.py", str(guest_path("hypercall.elf")))
    assert "hypercall 1(1, 2, 3, 4, 5) from vCPU 0" in out
    assert "unregistered hypercall 1(7, 0, 0, 0, 0)" in out
    assert out.rstrip().endswith("run() raised: hypercall 4 is not allowed")


def test_from_json_example(tmp_path):
    cfg = json.loads((EXAMPLES / "vm.json").read_text())
    cfg["payload"]["path"] = str(guest_path("launch-pvh.elf"))
    (tmp_path / "vm.json").write_text(json.dumps(cfg))
    out = run("from_json.py", str(tmp_path / "vm.json"))
    assert "stopped: guest_exit, status 43" in out
    assert "command line 'exit=21'" in out
