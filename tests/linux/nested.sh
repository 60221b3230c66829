#!/usr/bin/env bash
# tests/linux/nested.sh — run a command on a conventional KVM: kvm-amd
# inside a nested machine. QEMU's software CPU (TCG) with an SVM-capable
# CPU model boots the stock Debian kernel (tests/linux/fetch-kernel.sh);
# its initramfs (tests/linux/nested-init.sh) loads kvm-amd from the same
# kernel package, mounts this machine's root over virtio-9p and runs
# COMMAND there in the current directory, with the current environment.
#
# usage: tests/linux/nested.sh [--mem MiB] [--timeout SECONDS] [--no-kvm] -- COMMAND [ARG...]
# --no-kvm leaves kvm-amd out of the nested machine, so that another SVM
# hypervisor (libvmm's own module, backends/svm) has its CPU; the word
# `nestednokvm` on the nested kernel's command line says so to scripts
# that refuse to load a hypervisor module anywhere else.
# exit status: COMMAND's; 124 when the timeout (default 1800 s) ran out;
# 125 when the nested machine could not be set up, the command's status
# never came back, or the nested machine froze on every attempt.
# env: LIBVMM_NESTED_STALL  seconds without a heartbeat from the nested
#                           machine that count as frozen (default 240)
#      LIBVMM_NESTED_TRIES  nested machines to try when one freezes (2)
#
# One nested CPU: with several, the nested machine was seen to hang with
# soft lockups while a guest ran under its KVM. A guest inside may still
# have several vCPUs. /tmp inside is the host's /tmp over 9p (unix sockets
# cannot be bound there; /dev/shm is a tmpfs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mem=4096 tmo=1800 kvm=kvm-amd nokvm=
while [ $# -gt 0 ]; do
  case "$1" in
    --mem) mem=$2; shift 2;;
    --timeout) tmo=$2; shift 2;;
    --no-kvm) kvm= nokvm=" nestednokvm"; shift;;
    --) shift; break;;
    *) break;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--mem MiB] [--timeout S] [--no-kvm] -- COMMAND [ARG...]" >&2; exit 125; }
die() { echo "nested: $*" >&2; exit 125; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (busybox-static)"
command -v cpio >/dev/null || die "cpio is missing"

kdir=$("$here/fetch-kernel.sh" | tail -n 1) || die "could not fetch the stock kernel"
release=$(cat "$kdir/version")

# The initramfs, rebuilt when this script, its init or the kernel changes.
key=$( (cat "$0" "$here/nested-init.sh" "$here/lib.sh" "$kdir/version"; echo "$kvm") | sha256sum | cut -c1-16)
rd=$kdir/nested-$key.cpio.gz
if [ ! -f "$rd" ]; then
  # shellcheck disable=SC2086 # $kvm is one module name or none
  order=$(linux_module_order "$kdir" $kvm virtio_pci 9pnet_virtio 9p) ||
    die "resolving the nested machine's modules failed"
  work=$(mktemp -d)
  r=$work/root
  mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/etc"
  cp /bin/busybox "$r/bin/busybox"
  install -m 755 "$here/nested-init.sh" "$r/init"
  for m in $order; do
    mkdir -p "$r/lib/modules/$release/$(dirname "$m")"
    cp "$kdir/root/lib/modules/$release/$m" "$r/lib/modules/$release/$m"
  done
  echo "$order" > "$r/etc/modules.order"
  (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6) > "$rd.tmp" &&
    mv "$rd.tmp" "$rd"
  rm -rf "$work"
  [ -f "$rd" ] || die "could not build the nested machine's initramfs"
fi

# The job: a directory on the host's filesystem (seen at the same path
# inside) with the script to run and, afterwards, its exit status. While
# the command runs, a loop inside writes the nested machine's clock to
# $job/heartbeat every few seconds: the host sees the file's modification
# time move for as long as the nested machine runs its processes.
job=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-nested.XXXXXX") || die "mktemp failed"
job=$(cd "$job" && pwd -P)
# QEMU's monitor socket: on the host's /tmp, clear of sun_path's length
# limit that a deep build directory could break.
mon=$(mktemp -u /tmp/libvmm-nested-mon.XXXXXX)
qpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  rm -rf "$job" "$mon"
}
trap cleanup EXIT
{
  echo "# written by tests/linux/nested.sh"
  declare -px | grep -vE '^declare -[a-zA-Z-]* (OLDPWD|PWD|SHLVL|_|BASH_[A-Z_]*)='
  printf 'cd %q || exit 125\n' "$(pwd -P)"
  printf '( while :; do date +%%s > %q; sleep 5; done ) &\n' "$job/heartbeat"
  printf 'hb=$!\n'
  printf '('
  printf ' %q' "$@"
  printf ' )\n'
  printf 'rc=$?\nkill $hb 2>/dev/null\n'
  printf 'echo $rc > %q\n' "$job/status"
} > "$job/run"

# What QEMU's monitor says about the nested machine's CPU: where a frozen
# nested machine is (its kernel, or a guest of its KVM).
monitor() {
  python3 - "$mon" "$@" <<'PY' 2>/dev/null
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
def drain():
    out = b""
    try:
        while True:
            time.sleep(0.5)
            d = s.recv(65536)
            if not d:
                break
            out += d
            if out.endswith(b"(qemu) "):
                break
    except socket.timeout:
        pass
    return out
drain()
for cmd in sys.argv[2:]:
    s.sendall(cmd.encode() + b"\n")
    sys.stdout.write(drain().decode(errors="replace").replace("(qemu) ", ""))
PY
}

# One boot of the nested machine running the job. Returns the job's exit
# status, 124 when the overall timeout (counted from this script's start,
# across attempts: $SECONDS) ran out, 126 when the nested machine froze:
# its heartbeat stopped for $stall s while QEMU kept running (seen about
# once in twenty Linux boots under its kvm-amd: docs/linux.md, "The
# intermittent stall on the nested KVM"), 125 when the status never came.
attempt() {
  # nohz=off highres=off: the nested kernel's tick is the local APIC timer
  # in periodic mode, which QEMU re-arms itself, instead of one-shot timers
  # the kernel re-arms from its interrupt — a guess against the freezes in
  # which a guest vCPU spinning with interrupts on kept the nested CPU for
  # minutes (docs/linux.md, "The intermittent stall on the nested KVM").
  rm -f "$job/status" "$job/heartbeat" "$mon"
  qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -smp 1 -m "$mem" \
    -nographic -nodefaults -no-reboot -serial stdio \
    -monitor "unix:$mon,server=on,wait=off" \
    -kernel "$kdir/vmlinuz" -initrd "$rd" \
    -append "console=ttyS0 quiet panic=-1 nohz=off highres=off libvmm.nestedjob=$job$nokvm" \
    -virtfs "local,path=/,mount_tag=host,security_model=passthrough,multidevs=remap,id=host" \
    </dev/null &
  qpid=$!
  local now age
  while kill -0 "$qpid" 2>/dev/null; do
    sleep 5
    if [ "$SECONDS" -ge "$tmo" ]; then
      echo "nested: the nested machine ran out of its $tmo s" >&2
      kill "$qpid"; wait "$qpid"; qpid=
      return 124
    fi
    [ -f "$job/heartbeat" ] || continue
    now=$(date +%s)
    age=$((now - $(stat -c %Y "$job/heartbeat")))
    if [ "$age" -ge "$stall" ]; then
      echo "nested: the nested machine froze: no heartbeat for $age s (QEMU still running)" >&2
      echo "nested: its CPU, from QEMU's monitor:" >&2
      monitor "info registers" | grep -E '^(RIP|RSP|CS |EFL|CR0|CR3|EFER)|HLT' | sed 's/^/nested:   /' >&2
      kill "$qpid"; wait "$qpid"; qpid=
      return 126
    fi
  done
  wait "$qpid"
  local q=$?
  qpid=
  [ -s "$job/status" ] || { echo "nested: the command's exit status did not come back (QEMU exited with $q)" >&2; return 125; }
  return "$(cat "$job/status")"
}

# A frozen nested machine is the platform's failure, not the command's: it
# is reported and the command runs once more in a new nested machine.
# Anything else — including a guest that stalls while the nested machine
# still runs — is the command's result and is not retried.
stall=${LIBVMM_NESTED_STALL:-240}
SECONDS=0
tries=${LIBVMM_NESTED_TRIES:-2}
for try in $(seq 1 "$tries"); do
  attempt
  rc=$?
  [ "$rc" = 126 ] || exit "$rc"
  [ "$try" -lt "$tries" ] && echo "nested: running the command again in a new nested machine (attempt $((try + 1)) of $tries)" >&2
done
echo "nested: the nested machine froze on each of $tries attempts" >&2
exit 125
