#!/usr/bin/env bash
# scripts/test-bindings.sh — runs the language bindings' test suites against
# an *installed* libvmm, the way a user of the bindings builds them.
#
# usage: scripts/test-bindings.sh [BUILD_DIR] [SUITE...]
#   BUILD_DIR  a configured and compiled meson build directory (default: build)
#   SUITE      python, go (default: every suite defined below)
#
# The build directory is installed with `meson install --destdir` into a
# staging root under /tmp; the bindings then find that copy the ordinary
# way: pkg-config (PKG_CONFIG_PATH, with PKG_CONFIG_SYSROOT_DIR pointing at
# the staging root, as for any DESTDIR/sysroot install) at build time and
# LD_LIBRARY_PATH at run time. Nothing is downloaded. The suites run the test
# guests of BUILD_DIR/tests/guests (LIBVMM_GUEST_DIR) and skip where
# /dev/kvm is absent.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(python go)

stage=$(mktemp -d /tmp/libvmm-bindings.XXXXXX)
trap 'rm -rf "$stage"' EXIT

# ---- the installed library -------------------------------------------------
meson install -C "$build" --destdir "$stage/root" --no-rebuild --quiet
pc=$(find "$stage/root" -name libvmm.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || { echo "test-bindings: meson install put no libvmm.pc under $stage/root" >&2; exit 1; }
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_SYSROOT_DIR=$stage/root
libdir=$(dirname "$pcdir")
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LIBVMM_GUEST_DIR=$build/tests/guests
echo "test-bindings: libvmm $(pkg-config --modversion libvmm) installed in $stage/root ($(pkg-config --cflags --libs libvmm))"

# ---- Python (bindings/python) ----------------------------------------------
# Debian's interpreter (not whatever `python3` is first on PATH) with a venv
# that sees the system site-packages, so Debian's python3-cffi and
# python3-pytest are used; pip builds the package offline.
test_python() {
  local py=/usr/bin/python3 venv=$stage/venv
  "$py" -c 'import cffi, pytest' || {
    echo "test-bindings: python: $py lacks cffi or pytest (scripts/setup.sh installs them)" >&2
    return 1
  }
  "$py" -m venv --system-site-packages "$venv"
  # A copy of the source, so the in-tree build leaves the checkout clean.
  cp -r "$root/bindings/python" "$stage/python-src"
  rm -rf "$stage/python-src/build" "$stage/python-src"/*.egg-info \
         "$stage/python-src/src"/*.egg-info
  "$venv/bin/python" -m pip install --no-build-isolation --no-index \
    --disable-pip-version-check --quiet "$stage/python-src"
  # From a neutral directory: `import libvmm` must find the installed copy.
  (cd "$stage" && "$venv/bin/python" -m pytest -p no:cacheprovider -q \
     "$root/bindings/python/tests")
}

# ---- Go (bindings/go) --------------------------------------------------------
# (the Go suite's function goes here: test_go)

failed=0
for s in "${suites[@]}"; do
  if ! declare -F "test_$s" >/dev/null; then
    echo "test-bindings: no suite '$s' yet; skipped"
    continue
  fi
  echo "=== test-bindings: $s"
  if "test_$s"; then
    echo "=== test-bindings: $s: PASS"
  else
    echo "=== test-bindings: $s: FAIL"
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ]
