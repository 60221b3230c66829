#!/usr/bin/env bash
# scripts/setup.sh — install what building and testing libvmm needs (Debian 12).
#
# Idempotent and non-interactive: when every package is already installed it
# does nothing (and needs no root); otherwise it runs apt-get update and
# apt-get install as root, through sudo when not root.
set -euo pipefail

packages=(
  meson ninja-build pkg-config   # build system; pkg-config finds the deps
  gcc g++ libc6-dev linux-libc-dev   # compiler (g++: C++ header check), <linux/kvm.h>
  binutils                       # ld, nm, readelf (ABI tests)
  python3                        # meson, the ABI test scripts
  libuv1-dev libcjson-dev        # event loop, JSON configuration
  libseccomp-dev                 # the optional sandbox of vCPU and loop threads (src/sandbox.c)
  strace                         # finding the sandbox's system calls (docs/sandbox.md)
  libcunit1-dev                  # unit tests
  # the linux suite (tests/linux): the stock kernel, its initramfs and disk,
  # the nested machine and the QEMU side of bench/linux_boot
  qemu-system-x86 busybox-static cpio e2fsprogs xz-utils kmod
  acpica-tools                   # iasl: the ACPI table test disassembles what libvmm writes
  clang libclang-rt-14-dev       # the libFuzzer target tests/fuzz/config_fuzz (its runtime)
  golang-go                      # the Go binding (bindings/go) and its tests
  # bindings/python (scripts/test-bindings.sh): cffi API mode, pytest, an
  # offline pip install into a venv that sees the system packages
  python3-cffi python3-pytest python3-dev python3-venv python3-pip
  python3-setuptools python3-wheel
  gdb                            # the gdb stub test (tests/integration/gdb_test.py)
  valgrind                       # meson test --setup valgrind (tests/meson.build)
  make                           # building libvmm's SVM module against the kernel headers (backends/svm/kmod/build.sh)
)

# --list: print the package names (CI installs them itself).
if [ "${1:-}" = --list ]; then
  echo "${packages[*]}"
  exit 0
fi

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "setup.sh: this script installs Debian packages with apt-get; on another" >&2
  echo "system install the equivalents of: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages are already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "setup.sh: missing packages: ${missing[*]}" >&2
  echo "setup.sh: run this script as root (sudo is not installed)" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"
echo "setup.sh: done"
