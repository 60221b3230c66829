#!/usr/bin/env bash
# tests/linux/make-initramfs.sh — the Linux boot test's initramfs: Debian's
# busybox-static, tests/linux/init.sh as /init, and the virtio modules (with
# their dependencies, from modules.dep) of the kernel fetch-kernel.sh gave.
#
# usage: tests/linux/make-initramfs.sh KERNEL_DIR OUTPUT.cpio.gz
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 KERNEL_DIR OUTPUT.cpio.gz" >&2; exit 2; }
kdir=$1 out=$2
die() { echo "make-initramfs: $*" >&2; exit 1; }
[ -f "$kdir/.complete" ] || die "$kdir is not a kernel fetched by fetch-kernel.sh"
busybox=/bin/busybox
[ -x "$busybox" ] && file_is_static=$(readelf -d "$busybox" 2>/dev/null | grep -c NEEDED || true)
[ -x "$busybox" ] && [ "${file_is_static:-1}" = 0 ] ||
  die "$busybox is not a static busybox (install busybox-static)"
command -v cpio >/dev/null || die "cpio is missing"

release=$(cat "$kdir/version")
mdir=$kdir/root/lib/modules/$release
# crc32c first: ext4 and jbd2 ask for crypto-crc32c (modules.softdep).
modules="crc32c_generic virtio_pci virtio_mmio virtio_blk virtio_console virtio-rng rng-core ext4"
order=$(linux_module_order "$kdir" $modules) || die "resolving modules failed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/mnt" "$r/etc" "$r/lib/modules/$release"
cp "$busybox" "$r/bin/busybox"
install -m 755 "$here/init.sh" "$r/init"
for m in $order; do
  mkdir -p "$r/lib/modules/$release/$(dirname "$m")"
  cp "$mdir/$m" "$r/lib/modules/$release/$m"
done
echo "$order" > "$r/etc/modules.order"
# The console node, for the kernel to open before devtmpfs is mounted.
mknod -m 600 "$r/dev/console" c 5 1 2>/dev/null || true
mkdir -p "$(dirname "$out")"
(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6) > "$out.tmp"
mv "$out.tmp" "$out"
echo "make-initramfs: $out ($(wc -c < "$out") bytes; modules: $(echo $order | tr ' ' '\n' | sed 's,.*/,,; s,\.ko$,,' | tr '\n' ' '))" >&2
