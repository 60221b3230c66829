#!/usr/bin/env bash
# tests/linux/nested.sh — run a command on a conventional KVM: kvm-amd
# inside a nested machine. QEMU's software CPU (TCG) with an SVM-capable
# CPU model boots the stock Debian kernel (tests/linux/fetch-kernel.sh);
# its initramfs (tests/linux/nested-init.sh) loads kvm-amd from the same
# kernel package, mounts this machine's root over virtio-9p and runs
# COMMAND there in the current directory, with the current environment.
#
# usage: tests/linux/nested.sh [--mem MiB] [--timeout SECONDS] -- COMMAND [ARG...]
# exit status: COMMAND's; 124 when the timeout (default 1800 s) ran out;
# 125 when the nested machine could not be set up or the command's status
# never came back.
#
# One nested CPU: with several, the nested machine was seen to hang with
# soft lockups while a guest ran under its KVM. A guest inside may still
# have several vCPUs. /tmp inside is the host's /tmp over 9p (unix sockets
# cannot be bound there; /dev/shm is a tmpfs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mem=4096 tmo=1800
while [ $# -gt 0 ]; do
  case "$1" in
    --mem) mem=$2; shift 2;;
    --timeout) tmo=$2; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--mem MiB] [--timeout S] -- COMMAND [ARG...]" >&2; exit 125; }
die() { echo "nested: $*" >&2; exit 125; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (busybox-static)"
command -v cpio >/dev/null || die "cpio is missing"

kdir=$("$here/fetch-kernel.sh" | tail -n 1) || die "could not fetch the stock kernel"
release=$(cat "$kdir/version")

# The initramfs, rebuilt when this script, its init or the kernel changes.
key=$(cat "$0" "$here/nested-init.sh" "$here/lib.sh" "$kdir/version" | sha256sum | cut -c1-16)
rd=$kdir/nested-$key.cpio.gz
if [ ! -f "$rd" ]; then
  order=$(linux_module_order "$kdir" kvm-amd virtio_pci 9pnet_virtio 9p) ||
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
# inside) with the script to run and, afterwards, its exit status.
job=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-nested.XXXXXX") || die "mktemp failed"
job=$(cd "$job" && pwd -P)
trap 'rm -rf "$job"' EXIT
{
  echo "# written by tests/linux/nested.sh"
  declare -px | grep -vE '^declare -[a-zA-Z-]* (OLDPWD|PWD|SHLVL|_|BASH_[A-Z_]*)='
  printf 'cd %q || exit 125\n' "$(pwd -P)"
  printf '('
  printf ' %q' "$@"
  printf ' )\n'
  printf 'echo $? > %q\n' "$job/status"
} > "$job/run"

timeout "$tmo" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -smp 1 -m "$mem" \
  -nographic -nodefaults -no-reboot -serial stdio \
  -kernel "$kdir/vmlinuz" -initrd "$rd" \
  -append "console=ttyS0 quiet panic=-1 libvmm.nestedjob=$job" \
  -virtfs "local,path=/,mount_tag=host,security_model=passthrough,multidevs=remap,id=host" \
  </dev/null
q=$?
if [ "$q" = 124 ]; then
  echo "nested: the nested machine ran out of its $tmo s" >&2
  exit 124
fi
[ -s "$job/status" ] || die "the command's exit status did not come back (QEMU exited with $q)"
exit "$(cat "$job/status")"
