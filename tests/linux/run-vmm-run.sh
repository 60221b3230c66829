#!/usr/bin/env bash
# tests/linux/run-vmm-run.sh — the example description
# examples/configs/linux.json run by examples/vmm-run: the stock kernel
# (fetch-kernel.sh), the test initramfs and disk made next to a copy of
# the description, as examples/configs/README.md tells a user to; init
# checks virtio-blk, virtio-rng, virtio-console and the CPUs, writes the
# boot-time port and powers off.
#
# usage: tests/linux/run-vmm-run.sh --vmm-run PATH --config linux.json
#                                   [--work DIR] [--budget SECONDS]
# exit status: 0 when vmm-run exited 0 and the virtio-console got init's
# marker; 77 without /dev/kvm; 1 otherwise (with vmm-run's output).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vmm_run= config= work= budget=900
while [ $# -gt 0 ]; do
  case "$1" in
    --vmm-run) vmm_run=$2; shift 2;;
    --config) config=$2; shift 2;;
    --work) work=$2; shift 2;;
    --budget) budget=$2; shift 2;;
    *) echo "usage: $0 --vmm-run PATH --config linux.json [--work DIR] [--budget S]" >&2; exit 2;;
  esac
done
say() { echo "run-vmm-run: $*"; }
[ -x "$vmm_run" ] && [ -f "$config" ] || { say "need --vmm-run and --config"; exit 2; }
[ -e /dev/kvm ] || { say "SKIP: no /dev/kvm"; exit 77; }
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-vmm-run.XXXXXX")
rm -rf "$work/linux"; mkdir -p "$work/linux"
work=$(cd "$work" && pwd)

kdir=$("$here/fetch-kernel.sh" | tail -n 1) || { say "FAIL: could not fetch the stock kernel"; exit 1; }
cp "$config" "$work/linux.json"
cp "$kdir/vmlinuz" "$work/linux/vmlinuz"
"$here/make-initramfs.sh" "$kdir" "$work/linux/initrd.cpio.gz" || { say "FAIL: make-initramfs.sh"; exit 1; }
# The token the description's command line names (libvmm.token=hello).
"$here/make-disk.sh" "$work/linux/disk.img" hello || { say "FAIL: make-disk.sh"; exit 1; }

# --sandbox-kill: the seccomp sandbox (docs/sandbox.md) with any refused
# system call killing vmm-run, so that a boot needing a call outside the
# allow-list fails here instead of degrading quietly.
say "$vmm_run --timings --sandbox-kill $work/linux.json"
timeout -k 10 "$budget" "$vmm_run" --timings --sandbox-kill "$work/linux.json" \
  < /dev/null > "$work/vmm-run.log" 2>&1
status=$?
grep -E '^vmm-run: ' "$work/vmm-run.log"
if [ $status -eq 0 ] && grep -q 'LIBVMM-LINUX-OK hvc0 hello' "$work/linux/hvc.log" 2>/dev/null; then
  say "PASS: powered off after init's checks; virtio-console marker in linux/hvc.log"
  exit 0
fi
tail -n 30 "$work/vmm-run.log"
say "FAIL: vmm-run exited $status$( [ $status -eq 124 ] && echo " (the ${budget} s budget ran out)")"
exit 1
