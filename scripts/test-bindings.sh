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

# A sanitizer build cannot be loaded into an ordinary interpreter or Go
# program (the ASan runtime must come first): say so instead of failing.
sanitize=$(meson introspect --buildoptions "$build" | /usr/bin/python3 -c \
  'import json, sys; print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))')
if [ "$sanitize" != none ]; then
  echo "test-bindings: SKIP: $build is built with -Db_sanitize=$sanitize; use a build without sanitizers"
  exit 77
fi

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
    --disable-pip-version-check --no-cache-dir --quiet "$stage/python-src"
  # From a neutral directory: `import libvmm` must find the installed copy.
  (cd "$stage" && "$venv/bin/python" -m pytest -p no:cacheprovider -q \
     "$root/bindings/python/tests")
}

# ---- Go (bindings/go) --------------------------------------------------------
# Debian's go (golang-go), offline: the module needs only the standard
# library (GOPROXY=off, GOFLAGS=-mod=mod); the build cache and GOPATH live in
# BUILD_DIR/go (writable in CI). The cache starts empty on every run: Go's
# build cache does not notice changed C headers or pkg-config output
# (golang/go#24355), and a stale cgo build of older headers would test the
# wrong thing; a fresh build takes seconds (the -race one ~30 s). cgo finds
# the staged libvmm through pkg-config like any user's build. Steps: go vet,
# go test on the test guests (also with -race), the examples built and run,
# bench/binding_exit_go built into BUILD_DIR/bench (for bench/binding_exit.sh)
# and run briefly, and the compile-time version check shown to refuse a
# libvmm of another major version. A subshell keeps the Go environment to
# this suite.
test_go() (
  set -euo pipefail
  command -v go >/dev/null || {
    echo "test-bindings: go: no go command (scripts/setup.sh installs golang-go)" >&2
    return 1
  }
  export GOCACHE=$build/go/cache GOPATH=$build/go/path GOPROXY=off \
    GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=1
  local src=$root/bindings/go bin=$stage/go-bin
  rm -rf "$GOCACHE"
  echo "test-bindings: go: $(go version)"
  cd "$src"
  go vet ./...
  go test -count=1 -v ./...
  # Again under the race detector: handlers also run on libvmm's threads.
  go test -count=1 -race .
  go build -o "$bin/" ./examples/...
  (cd "$root/bench/binding_exit_go" && go vet . &&
     go build -o "$build/bench/binding_exit_go" .)

  if [ -e /dev/kvm ]; then
    local out
    out=$("$bin/hello" "$LIBVMM_GUEST_DIR/hello.elf")
    [ "$out" = "Hello from the guest" ] || { echo "go hello printed: $out" >&2; return 1; }
    "$bin/hypercall" "$LIBVMM_GUEST_DIR/hypercall.elf" | tail -n 3
    "$bin/hypercall" "$LIBVMM_GUEST_DIR/hypercall.elf" | grep -qx "guest done"
    # The example description, its guest path pointed at this build.
    sed "s|\"path\": \"[^\"]*\"|\"path\": \"$LIBVMM_GUEST_DIR/hello.elf\"|" \
      "$src/examples/fromjson/hello.json" > "$stage/hello.json"
    out=$("$bin/fromjson" "$stage/hello.json")
    [ "$out" = "Hello from the guest" ] || { echo "go fromjson printed: $out" >&2; return 1; }
    "$build/bench/binding_exit_go" -guest "$build/bench/pio_loop.elf" -n 200 -rounds 1 |
      grep '^go_ns='
  else
    echo "test-bindings: go: no /dev/kvm: the examples and the benchmark are not run"
  fi

  # A libvmm of another major version: the same headers but VMM_VERSION_MAJOR
  # 99, found through its own libvmm.pc. The build must stop at the #error.
  local fake=$stage/go-fake-major inc
  inc=$(pkg-config --variable=includedir libvmm)
  mkdir -p "$fake/pkgconfig"
  cp -r "$inc" "$fake/include"   # pkg-config added the sysroot
  sed -i 's/^#define VMM_VERSION_MAJOR .*/#define VMM_VERSION_MAJOR 99/' \
    "$fake/include/libvmm/version.h"
  printf 'Name: libvmm\nDescription: fake\nVersion: 99.0.0\nCflags: -I%s\nLibs: -lvmm\n' \
    "$fake/include" > "$fake/pkgconfig/libvmm.pc"
  if out=$(env -u PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH="$fake/pkgconfig" \
             GOCACHE="$fake/cache" go build . 2>&1); then
    echo "test-bindings: go: built against a libvmm of major version 99" >&2
    return 1
  fi
  grep -q 'VMM_VERSION_MAJOR is not 0' <<<"$out" || { echo "$out" >&2; return 1; }
  echo "test-bindings: go: a libvmm of major version 99 is refused at compile time"
)

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
