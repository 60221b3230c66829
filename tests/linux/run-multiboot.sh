#!/usr/bin/env bash
# tests/linux/run-multiboot.sh — the multiboot test kernels of
# tests/guests/multiboot booted through examples/vmm-boot, the launcher
# the Linux test uses: mbsmp on 1 and on 3 vCPUs (the application
# processors started by INIT/SIPI must all check in), mbinfo on 1 and on 3
# vCPUs with a module (--initrd) whose length and FNV-1a checksum it checks.
#
# usage: tests/linux/run-multiboot.sh --launcher PATH --mbinfo PATH --mbsmp PATH
# exit status: 0 all passed, 1 a failure, 77 no /dev/kvm.
set -uo pipefail
launcher= mbinfo= mbsmp=
while [ $# -gt 0 ]; do
  case "$1" in
    --launcher) launcher=$2; shift 2;;
    --mbinfo) mbinfo=$2; shift 2;;
    --mbsmp) mbsmp=$2; shift 2;;
    *) echo "run-multiboot: unknown option $1" >&2; exit 2;;
  esac
done
[ -x "$launcher" ] && [ -f "$mbinfo" ] && [ -f "$mbsmp" ] ||
  { echo "usage: $0 --launcher PATH --mbinfo PATH --mbsmp PATH" >&2; exit 2; }
[ -e /dev/kvm ] || { echo "run-multiboot: SKIP: no /dev/kvm"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-mb.XXXXXX")
trap 'rm -rf "$work"' EXIT
head -c 3000 /dev/urandom > "$work/module"
# The kernel's checksum: 32-bit FNV-1a.
modsum=$(python3 -c '
import sys
h = 0x811c9dc5
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x01000193) & 0xffffffff
print(hex(h))' "$work/module")

failed=0
# one NAME WANT_STATUS WANT_LINE VMM-BOOT-ARGS...
one() {
  local name=$1 want=$2 line=$3; shift 3
  local rc out
  out=$(timeout -k 5 120 "$launcher" --console stdio --mem 64 "$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$line" <<<"$out"; then
    echo "run-multiboot: PASS $name (exit $rc, '$line')"
  else
    echo "run-multiboot: FAIL $name: exit $rc (want $want), want a line with '$line'; output:"
    sed 's/^/  | /' <<<"$out"
    failed=$((failed + 1))
  fi
}
# Statuses: the debug-exit port makes a guest's value v exit (v << 1) | 1.
# mbsmp exits with the number of CPUs that ran; mbinfo with 0x10 (MB_PASS).
one "mbsmp, 1 vCPU" 3 "cpus=1 started=0 mask=0x0 ok" --kernel "$mbsmp" --cpus 1
one "mbsmp, 3 vCPUs" 7 "cpus=3 started=2 mask=0x6 ok" --kernel "$mbsmp" --cpus 3
for n in 1 3; do
  one "mbinfo, $n vCPU(s), a module" 33 "mbinfo: ok" --kernel "$mbinfo" --cpus "$n" \
    --initrd "$work/module" \
    --cmdline "cpus=$n ram=0x4000000 mods=1 modlen=3000 modsum=$modsum"
done
[ $failed = 0 ] || { echo "run-multiboot: $failed failed"; exit 1; }
echo "run-multiboot: PASS: mbsmp and mbinfo through vmm-boot on 1 and 3 vCPUs"
