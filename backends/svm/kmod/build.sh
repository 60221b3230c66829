#!/usr/bin/env bash
# backends/svm/kmod/build.sh — builds libvmm-svm.ko out of tree against the
# Debian headers of the kernel that ../shared/tools/nested-kvm.sh boots
# (linux-image-amd64's current dependency), installing them when missing.
# usage: backends/svm/kmod/build.sh [OUTDIR]   (default /tmp/libvmm-svm-kmod)
# Prints the path of the module. Exit 77 when the headers cannot be had.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/libvmm-svm-kmod}
ver=${LVS_KVER:-}
if [ -z "$ver" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$pkg" ] || { apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'); }
  [ -n "$pkg" ] || { echo "build.sh: cannot tell which kernel nested-kvm.sh boots" >&2; exit 77; }
  ver=${pkg#linux-image-}
fi
kdir=/usr/src/linux-headers-$ver
if [ ! -d "$kdir" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "linux-headers-$ver" >/dev/null 2>&1 \
    || { echo "build.sh: cannot install linux-headers-$ver" >&2; exit 77; }
fi
if ! command -v make >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null 2>&1 \
    || { echo "build.sh: make is missing and cannot be installed" >&2; exit 77; }
fi
rm -rf "$out"; mkdir -p "$out"
cp "$here"/*.c "$here"/*.h "$here"/*.S "$here"/Kbuild "$out"/
make -s -C "$kdir" M="$out" modules >&2
echo "$out/libvmm-svm.ko"
