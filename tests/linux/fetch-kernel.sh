#!/usr/bin/env bash
# tests/linux/fetch-kernel.sh — fetch the stock Debian kernel the Linux boot
# tests use: the linux-image-<version>-amd64 package that linux-image-amd64
# currently depends on, downloaded with `apt-get download` and unpacked
# with dpkg-deb into a cache directory (never into the source tree).
#
# usage: tests/linux/fetch-kernel.sh [CACHE_DIR]
#   CACHE_DIR defaults to $LIBVMM_LINUX_CACHE, else ~/.cache/libvmm-linux.
# Prints the kernel directory on its last line; in it:
#   vmlinuz   the bzImage as Debian ships it
#   vmlinux   the uncompressed ELF taken out of the bzImage's payload (its
#             PVH entry note is checked with readelf -n)
#   root/     the unpacked package (root/lib/modules/VERSION, with a
#             modules.dep made by depmod)
#   version   the kernel release (uname -r inside the guest)
# A kernel already unpacked in the cache is reused; when apt cannot be
# reached the newest cached kernel is used, and said so.
# exit status: 0, or 1 with the reason on stderr.
set -euo pipefail

cache=${1:-${LIBVMM_LINUX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libvmm-linux}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
say() { echo "fetch-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb xz readelf depmod od dd; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing (scripts/setup.sh installs what the Linux tests need)"
done

# The package linux-image-amd64 points at today, e.g. linux-image-6.1.0-56-amd64.
image_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(image_package || true)
if [ -z "$pkg" ]; then
  say "linux-image-amd64 is not in apt's lists; running apt-get update"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -q >&2 || true
  elif command -v sudo >/dev/null; then
    sudo apt-get update -q >&2 || true
  fi
  pkg=$(image_package || true)
fi
if [ -z "$pkg" ]; then
  newest=$(ls -1d "$cache"/linux-image-*/.complete 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$newest" ] || die "cannot tell which linux-image package linux-image-amd64 depends on (apt-get update failed?) and the cache $cache is empty"
  say "apt has no linux-image-amd64; using the cached $(basename "$(dirname "$newest")")"
  dirname "$newest"
  exit 0
fi

dir=$cache/$pkg
if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir/download"
say "downloading $pkg"
( cd "$dir/download" && apt-get download "$pkg" >&2 ) || die "apt-get download $pkg failed"
deb=$(ls "$dir"/download/*.deb)
dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x $deb failed"
rm -rf "$dir/download"

release=${pkg#linux-image-}
[ -f "$dir/root/boot/vmlinuz-$release" ] || die "$pkg has no /boot/vmlinuz-$release"
[ -d "$dir/root/lib/modules/$release" ] || die "$pkg has no /lib/modules/$release"
cp "$dir/root/boot/vmlinuz-$release" "$dir/vmlinuz"
echo "$release" > "$dir/version"
# The package leaves modules.dep to its postinst; make it here.
depmod -b "$dir/root" "$release" || die "depmod for $release failed"

# The uncompressed kernel: the bzImage's setup header says where the
# compressed payload is (payload_offset at 0x248 from the start of the
# protected-mode code, payload_length at 0x24c; setup_sects at 0x1f1).
u8()  { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
img=$dir/vmlinuz
[ "$(od -An -c -j 0x202 -N4 "$img" | tr -d ' ')" = HdrS ] || die "$img: no bzImage setup header (HdrS)"
setup_sects=$(u8 "$img" $((0x1f1)))
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset=$(u32 "$img" $((0x248)))
payload_length=$(u32 "$img" $((0x24c)))
start=$(( (setup_sects + 1) * 512 + payload_offset ))
magic=$(od -An -tx1 -j "$start" -N6 "$img" | tr -d ' ')
# Debian builds with CONFIG_KERNEL_XZ; the kernel build appends the
# uncompressed size (4 bytes) after the xz stream, hence --single-stream.
case "$magic" in
  fd377a585a00) ;;
  *) die "$img: the payload at $start starts with $magic, not an xz stream (Debian's CONFIG_KERNEL_XZ); other compressions are not handled" ;;
esac
dd if="$img" iflag=skip_bytes,count_bytes skip="$start" count="$payload_length" bs=1M status=none |
  xz -dc --single-stream > "$dir/vmlinux.tmp" || die "xz could not decompress the payload of $img"
[ "$(od -An -c -N4 "$dir/vmlinux.tmp" | tr -d ' ')" = 177ELF ] || die "the payload of $img is not an ELF file"
# XEN_ELFNOTE_PHYS32_ENTRY (type 0x12) in a "Xen" note: the PVH entry.
notes=$(readelf -n "$dir/vmlinux.tmp")
grep -Eq 'Xen[[:space:]]+0x[0-9a-f]+[[:space:]]+Unknown note type: \(0x00000012\)' <<<"$notes" ||
  die "$dir/vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note (no PVH entry)"
mv "$dir/vmlinux.tmp" "$dir/vmlinux"

touch "$dir/.complete"
say "$pkg ready: vmlinuz, vmlinux (PVH), modules of $release"
echo "$dir"
