#!/usr/bin/env bash
# backends/svm/tests/in_nested.sh — runs inside
# ../shared/tools/nested-kvm.sh --no-kvm (never on the host itself): loads
# the module, runs the module tests, the unload-with-a-VM-open test and
# whatever further command is given (e.g. the conformance suite), then
# unloads it.
# usage: in_nested.sh MODULE.ko KMOD_TEST [COMMAND ARGS...]
set -u
ko=$1 kt=$2; shift 2
grep -qw nestednokvm /proc/cmdline || { echo "in_nested.sh: not inside nested-kvm.sh --no-kvm; refusing to load a hypervisor module here" >&2; exit 2; }
ins() { if command -v insmod >/dev/null; then insmod "$1"; else busybox insmod "$1"; fi; }
rmm() { if command -v rmmod >/dev/null; then rmmod "$1"; else busybox rmmod "$1"; fi; }
rc=0
ins "$ko" || { echo "in_nested.sh: insmod failed"; dmesg | tail -20; exit 1; }
echo "== module tests"
"$kt" || rc=1
echo "== unload with a VM open"
"$kt" --hold > /dev/shm/lvs-hold.out 2>&1 &
holder=$!
# The nested CPU is emulated and shared: give the holder up to 60 s to
# have its VM open, and say so when it never does (not an unload result).
for _ in $(seq 600); do grep -q holding /dev/shm/lvs-hold.out 2>/dev/null && break; sleep 0.1; done
if ! grep -q holding /dev/shm/lvs-hold.out 2>/dev/null; then
  echo "FAIL: the holder did not open a VM within 60 s:"; cat /dev/shm/lvs-hold.out; rc=1
elif rmm libvmm_svm 2>/dev/null; then echo "FAIL: rmmod succeeded with a VM open"; rc=1; ins "$ko"
else echo "ok: rmmod refused while a VM is open"; fi
kill "$holder"; wait "$holder" 2>/dev/null
if [ $# -gt 0 ]; then
  echo "== $*"
  "$@" || rc=1
fi
if rmm libvmm_svm; then echo "ok: rmmod after the VMs were closed"; else echo "FAIL: rmmod"; rc=1; fi
dmesg | grep -iE "libvmm|BUG|WARNING|Oops|general protection" | tail -20
exit $rc
