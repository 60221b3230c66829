#!/usr/bin/env bash
# tests/linux/make-disk.sh — the ext4 disk image the Linux boot test's
# guest mounts: /check/data (TOKEN on its first line, then random bytes in
# hex) and /check/data.sha256. Made with mkfs.ext4 -d, no mount, no root.
#
# usage: tests/linux/make-disk.sh OUTPUT.img TOKEN
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OUTPUT.img TOKEN" >&2; exit 2; }
out=$1 token=$2
command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || { echo "make-disk: mkfs.ext4 is missing (e2fsprogs)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/check"
{ echo "$token"; head -c 6000 /dev/urandom | od -An -v -tx1; } > "$work/check/data"
(cd "$work/check" && sha256sum data > data.sha256)
rm -f "$out"
mkfs.ext4 -q -F -L libvmm-test -d "$work" "$out" 16M >&2
echo "make-disk: $out (16 MiB ext4, /check/data with token $token)" >&2
