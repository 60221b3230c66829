#!/usr/bin/env bash
# bench/linux_boot.sh — boot time of the stock Debian kernel through libvmm
# (examples/vmm-boot) and through QEMU's microvm machine, in the same run,
# on a conventional KVM: the nested machine of tests/linux/nested.sh.
# Same bzImage, same busybox initramfs (tests/linux, init in bench mode:
# it prints its marker and powers off), same command line, same memory and
# vCPUs, the host's CPU model on both sides (--cpu-template host: what the
# backend supports, with the KVM leaves; QEMU -cpu host).
# Measured from the VMM process's start to the first console line holding
# "Linux version" (banner) and to init's marker line (init); the median
# over --runs runs, libvmm and QEMU alternating.
#
# usage: bench/linux_boot.sh --launcher BUILD/examples/vmm-boot [--runs N]
#          [--cpus N] [--mem MiB] [--cpu-template NAME] [--keep DIR] [--here]
#          [--append ARGS]
#   --append ARGS   more kernel arguments, the same on both sides (e.g.
#            "initcall_debug printk.time=1 ignore_loglevel" with --keep to
#            compare where each boot spends its time; changes the figures)
#   --here   run on this machine's /dev/kvm instead of in the nested machine
#   --keep DIR   keep the console logs (ms from process start) in DIR
# Last line:
#   linux_boot init_ratio=<libvmm/qemu> banner_ratio=<libvmm/qemu> libvmm_init_ms=<..> qemu_init_ms=<..>
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
linux=$here/../tests/linux

launcher= runs=1 cpus=1 mem=512 template=host in_place=0 budget=600 keep= append=
orig_args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --launcher) launcher=$(realpath "$2"); shift 2;;
    --runs) runs=$2; shift 2;;
    --cpus) cpus=$2; shift 2;;
    --mem) mem=$2; shift 2;;
    --cpu-template) template=$2; shift 2;;
    --here) in_place=1; shift;;
    --keep) keep=$(realpath "$2"); shift 2;;
    --append) append=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) echo "linux_boot: unknown option $1" >&2; exit 2;;
  esac
done
[ -n "$launcher" ] && [ -x "$launcher" ] || { echo "linux_boot: --launcher BUILD/examples/vmm-boot is needed" >&2; exit 2; }
if [ $in_place = 0 ]; then
  exec "$linux/nested.sh" --timeout $((runs * 2 * budget + 300)) -- "$0" "${orig_args[@]}" --here
fi
[ -e /dev/kvm ] || { echo "linux_boot: no /dev/kvm" >&2; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "linux_boot: qemu-system-x86_64 is missing" >&2; exit 1; }

kdir=$("$linux/fetch-kernel.sh" | tail -n 1) || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/linux-boot.XXXXXX")
trap '[ -n "$keep" ] && mkdir -p "$keep" && cp "$work"/*.log "$work"/*.err "$keep"/ 2>/dev/null; rm -rf "$work"' EXIT
"$linux/make-initramfs.sh" "$kdir" "$work/initrd.cpio.gz" 2>/dev/null || exit 1
# loglevel=6 keeps the banner (KERN_NOTICE) and drops the info lines, so
# that the UART's per-byte cost weighs less than the boot itself.
cmdline="console=ttyS0 loglevel=6 panic=-1 libvmm.mode=bench${append:+ $append}"

now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

# timed NAME COMMAND... — runs COMMAND with the guest's UART on its stdout;
# prints "banner_ms init_ms" (-1 where the line never came).
timed() {
  local name=$1; shift
  local start banner=-1 init=-1 line t
  start=$(now_us)
  while IFS= read -r line; do
    t=$(( ($(now_us) - start) / 1000 ))
    printf '%8d ms  %s\n' "$t" "$line" >> "$work/$name.log"
    if [ $banner = -1 ] && [[ $line == *"Linux version"* ]]; then banner=$t; fi
    if [ $init = -1 ] && [[ $line == *"LIBVMM-INIT: init started"* ]]; then init=$t; fi
  done < <(timeout -k 5 "$budget" "$@" < /dev/null 2>> "$work/$name.err")
  echo "$banner $init"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

lb=() li=() qb=() qi=()
for ((i = 1; i <= runs; i++)); do
  read -r b n < <(timed libvmm "$launcher" --kernel "$kdir/vmlinuz" --initrd "$work/initrd.cpio.gz" \
    --cmdline "$cmdline" --mem "$mem" --cpus "$cpus" ${template:+--cpu-template "$template"} --console stdio)
  echo "run $i: libvmm banner_ms=$b init_ms=$n"
  lb+=("$b"); li+=("$n")
  read -r b n < <(timed qemu qemu-system-x86_64 -M microvm,x-option-roms=off,pit=on,pic=on,rtc=on \
    -enable-kvm -cpu host -m "$mem" -smp "$cpus" -nographic -nodefaults -no-reboot -serial stdio \
    -kernel "$kdir/vmlinuz" -initrd "$work/initrd.cpio.gz" -append "$cmdline")
  echo "run $i: qemu   banner_ms=$b init_ms=$n"
  qb+=("$b"); qi+=("$n")
done
for side in libvmm qemu; do
  if grep -q -- -1 <<<"${lb[*]} ${li[*]} ${qb[*]} ${qi[*]}"; then
    echo "--- $side console (ms from process start):"; tail -n 20 "$work/$side.log" 2>/dev/null
    echo "--- $side stderr:"; tail -n 20 "$work/$side.err" 2>/dev/null
  fi
done
LB=$(median "${lb[@]}") LI=$(median "${li[@]}") QB=$(median "${qb[@]}") QI=$(median "${qi[@]}")
if [ "$LB" -lt 0 ] || [ "$LI" -lt 0 ] || [ "$QB" -le 0 ] || [ "$QI" -le 0 ]; then
  echo "linux_boot: a boot did not reach its banner or init (see above)" >&2
  echo "linux_boot init_ratio=n/a banner_ratio=n/a libvmm_init_ms=$LI qemu_init_ms=$QI"
  exit 1
fi
echo "libvmm: banner ${LB} ms, init ${LI} ms; qemu microvm: banner ${QB} ms, init ${QI} ms (median of $runs, $cpus vCPU, $mem MiB, $(cat "$kdir/version"))"
awk -v lb="$LB" -v li="$LI" -v qb="$QB" -v qi="$QI" 'BEGIN {
  printf "linux_boot init_ratio=%.2f banner_ratio=%.2f libvmm_init_ms=%d qemu_init_ms=%d\n", li / qi, lb / qb, li, qi }'
