#!/usr/bin/env bash
# tests/linux/run-linux.sh — the Linux acceptance test: boots the stock
# Debian kernel (tests/linux/fetch-kernel.sh), both its bzImage and the PVH
# vmlinux inside it, with examples/vmm-boot: 2 vCPUs, the busybox
# initramfs of make-initramfs.sh, the ext4 disk of make-disk.sh, the UART
# and the virtio console each to a file. The guest's /init (init.sh) checks
# the disk, virtio-rng, both consoles and the CPU count and powers off; the
# test wants exit status 0 and the marker lines in both console files.
#
# usage: tests/linux/run-linux.sh --launcher PATH [options]
#   --launcher PATH        examples/vmm-boot as built
#   --work DIR             where the initramfs, disk and logs go
#                          (default: a new directory under ${TMPDIR:-/tmp})
#   --formats LIST         bzimage,pvh (default: both)
#   --cpus N               vCPUs (default 2)
#   --cpu-template NAME    passed to vmm-boot (default: vmm-boot's own)
#   --budget SECONDS       time each boot may take (default 600)
#   --platform-limits      this KVM may not be able to boot the kernel at
#                          all (this machine's paravirtual KVM): a boot the
#                          backend stopped (emulation failure, internal
#                          error) or one that ran out of its budget makes
#                          the test SKIP (77) with where it stopped, rather
#                          than FAIL. It never passes without a real boot.
# exit status: 0 all boots passed, 1 a failure, 77 skipped (see above).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

launcher= work= formats=bzimage,pvh cpus=2 template= budget=600 limits=0
while [ $# -gt 0 ]; do
  case "$1" in
    --launcher) launcher=$2; shift 2;;
    --work) work=$2; shift 2;;
    --formats) formats=$2; shift 2;;
    --cpus) cpus=$2; shift 2;;
    --cpu-template) template=$2; shift 2;;
    --budget) budget=$2; shift 2;;
    --platform-limits) limits=1; shift;;
    *) echo "run-linux: unknown option $1" >&2; exit 2;;
  esac
done
say() { echo "run-linux: $*"; }
[ -n "$launcher" ] && [ -x "$launcher" ] || { say "no launcher (--launcher examples/vmm-boot)"; exit 2; }
if [ ! -e /dev/kvm ]; then
  say "SKIP: no /dev/kvm"
  exit 77
fi
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-linux.XXXXXX")
mkdir -p "$work"
work=$(cd "$work" && pwd)

kdir=$("$here/fetch-kernel.sh" | tail -n 1) || { say "FAIL: could not fetch the stock kernel"; exit 1; }
token=tok$(date +%s)x$RANDOM
"$here/make-initramfs.sh" "$kdir" "$work/initrd.cpio.gz" || { say "FAIL: make-initramfs.sh"; exit 1; }
"$here/make-disk.sh" "$work/disk.img" "$token" || { say "FAIL: make-disk.sh"; exit 1; }

# init.sh's failure numbers; the debug-exit port makes number N exit 2N+1.
check_name() {
  case "$1" in
    1) echo "a module did not load (insmod)";;
    2) echo "no virtio-blk disk (/dev/vda)";;
    3) echo "mounting the ext4 disk failed";;
    4) echo "the file the host wrote is wrong (token or sha256)";;
    5) echo "virtio-rng is not the current hwrng";;
    6) echo "virtio-rng bytes missing or all equal";;
    7) echo "virtio-console (/dev/hvc0) missing or not writable";;
    8) echo "the guest sees the wrong number of CPUs";;
    9) echo "writing the boot-time port failed";;
    10) echo "poweroff -f returned";;
    11) echo "the command line lacks what init needs";;
    *) echo "unknown check $1";;
  esac
}

pass=0 fail=0 limit=0 summary=()
boot() { # boot FORMAT IMAGE
  local fmt=$1 image=$2 out=$work/$1
  rm -rf "$out"; mkdir -p "$out"
  # Where the platform may stop the boot, earlyprintk shows how far it got
  # before the console is up, and nokaslr keeps the kernel's addresses the
  # same from run to run (RIPs can be compared). noxsave: this machine's
  # KVM shows the host's XSAVE whatever the CPU template says and cannot
  # run XSAVE/XRSTOR in ring 0 (docs/platforms.md), so Linux must not use
  # it; the same for SMAP (STAC/CLAC would each need the assist).
  # clearcpuid: that KVM also shows the host's SSE3+/AVX/BMI bits, whose
  # instructions its ring-0 emulator cannot run either; hidden from Linux,
  # the kernel keeps to code paths it can run (docs/platforms.md).
  local extra=
  [ $limits = 1 ] && extra=" nokaslr noxsave nosmap earlyprintk=serial,ttyS0,115200 clearcpuid=pni,ssse3,sse4_1,sse4_2,popcnt,aes,pclmulqdq,avx,avx2,fma,f16c,sha_ni,bmi1,bmi2,adx,smap,avx512f"
  local args=(--kernel "$image" --initrd "$work/initrd.cpio.gz"
    --cmdline "console=ttyS0 panic=-1$extra libvmm.cpus=$cpus libvmm.token=$token libvmm.boottime=245:123"
    --mem 512 --cpus "$cpus" --disk "$work/disk.img"
    --console "file:$out/uart.log" --virtio-console "file:$out/hvc.log" --timings)
  [ -n "$template" ] && args+=(--cpu-template "$template")
  say "$fmt: $launcher ${args[*]}"
  local start=$SECONDS rc
  timeout -k 10 "$budget" "$launcher" "${args[@]}" > "$out/launcher.log" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  sed 's/^/  vmm-boot: /' "$out/launcher.log"
  local why=
  if [ $rc = 0 ]; then
    grep -q "LIBVMM-LINUX-OK uart $token" "$out/uart.log" 2>/dev/null || why="exit 0 but no UART marker line"
    [ -n "$why" ] || grep -q "LIBVMM-LINUX-OK hvc0 $token" "$out/hvc.log" 2>/dev/null ||
      why="exit 0 but no virtio-console marker line in $out/hvc.log"
    if [ -z "$why" ]; then
      say "$fmt: PASS in ${took} s ($(grep -m1 'Linux version' "$out/uart.log" | cut -c1-60)...)"
      pass=$((pass + 1)); summary+=("$fmt: PASS (${took} s)")
      return
    fi
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    why="did not finish within its budget of $budget s"
  elif [ $((rc % 2)) = 1 ] && grep -q LIBVMM-FAIL "$out/uart.log" 2>/dev/null; then
    why="init's check $((rc / 2)) failed: $(check_name $((rc / 2)))"
  elif [ $rc = 10 ]; then
    why="the backend stopped the guest (vmm-boot exit 10)"
  else
    why="vmm-boot exited with $rc"
  fi
  # Where the backend stopped the guest: the instruction at RIP, decoded.
  local bytes insn
  bytes=$(sed -n 's/.*instruction bytes \([0-9a-f ]*\).*/\1/p' "$out/launcher.log" | head -n 1)
  if [ -n "$bytes" ] && command -v objdump >/dev/null; then
    printf "$(printf '\\x%s' $bytes)" > "$out/insn.bin"
    insn=$(objdump -D -b binary -m i386:x86-64 "$out/insn.bin" 2>/dev/null |
      awk -F'\t' '/^ +0:/ { print $3; exit }')
    [ -n "$insn" ] && why="$why; at $(grep -o 'rip 0x[0-9a-f]*' "$out/launcher.log" | head -n 1): $insn ($bytes)"
  fi
  # How far the boot got: the last lines the guest printed.
  echo "  --- last lines of the UART ($out/uart.log; $(wc -l < "$out/uart.log" 2>/dev/null || echo 0) lines):"
  tail -n 15 "$out/uart.log" 2>/dev/null | sed 's/^/  | /'
  local last
  last=$(tr -d '\r' < "$out/uart.log" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-100)
  why="$why; last console line: ${last:-(none)}"
  local stopped_by_platform=0
  # vmm-boot exits with 10 when the backend could not go on (an
  # instruction its emulator cannot run: docs/launcher.md).
  if [ $rc = 124 ] || [ $rc = 137 ] || [ $rc = 10 ]; then
    stopped_by_platform=1
  fi
  if [ $limits = 1 ] && [ $stopped_by_platform = 1 ]; then
    say "$fmt: STOPPED by this KVM after ${took} s: $why"
    limit=$((limit + 1)); summary+=("$fmt: stopped by the platform: $why")
  else
    say "$fmt: FAIL after ${took} s: $why"
    fail=$((fail + 1)); summary+=("$fmt: FAIL: $why")
  fi
}

for fmt in ${formats//,/ }; do
  case "$fmt" in
    bzimage) boot bzimage "$kdir/vmlinuz";;
    pvh) boot pvh "$kdir/vmlinux";;
    *) say "unknown format $fmt"; exit 2;;
  esac
done

for s in "${summary[@]}"; do say "$s"; done
if [ $fail -gt 0 ]; then
  say "FAIL: $fail of $((pass + fail + limit)) boots failed (logs in $work)"
  exit 1
fi
if [ $limit -gt 0 ]; then
  say "SKIP: $limit of $((pass + limit)) boots were stopped by this KVM (see above); $pass passed"
  exit 77
fi
say "PASS: $pass boots (kernel $(cat "$kdir/version"), $cpus vCPUs)"
