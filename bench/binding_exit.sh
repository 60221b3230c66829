#!/usr/bin/env bash
# bench/binding_exit.sh — what a port-I/O exit costs when its handler is
# written in C, in Python (bindings/python) or in Go (bindings/go): the same
# guest (bench/guests/pio_loop.c: N ring-3 `out` instructions, then HLT) is
# run by bench/binding_exit (C handler), bench/binding_exit.py (Python) and
# bench/binding_exit_go (Go, when `go` and the Go binding are there), one
# round of each in turn, R times; the medians per exit and their ratios to C
# are printed, the last line in a form scripts can read:
#
#   binding_exit c_ns=.. python_ns=.. python_ratio=.. go_ns=.. go_ratio=..
#                c_cpu_ns=.. python_cpu_ns=.. python_cpu_ratio=.. [go_cpu_ns=..]
#
# *_ns is the wall time of the run call per exit; *_cpu_ns the vCPU
# thread's CPU time per exit, which does not count time spent waiting for a
# CPU and so varies far less on a loaded machine (go_cpu_ns= appears when
# bench/binding_exit_go prints it).
#
# usage: bench/binding_exit.sh [BUILD_DIR] [-n EXITS] [-r ROUNDS]
#   BUILD_DIR  a compiled meson build (default: build); it is installed into
#              a staging prefix and the bindings are built against that copy,
#              as scripts/test-bindings.sh does
# Exit status 77 (skip) when /dev/kvm is unusable.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
n=20000 rounds=7
while [ $# -gt 0 ]; do
  case $1 in
    -n|--exits) n=$2; shift 2 ;;
    -r|--rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [BUILD_DIR] [-n EXITS] [-r ROUNDS]" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
guest=$build/bench/pio_loop.elf
cprog=$build/bench/binding_exit
for f in "$guest" "$cprog"; do
  [ -e "$f" ] || { echo "binding_exit: $f is missing (meson compile -C $build)" >&2; exit 1; }
done

# A skip before any set-up work.
set +e; "$cprog" "$guest" -n 1 -r 1 >/dev/null; rc=$?; set -e
if [ "$rc" -eq 77 ]; then "$cprog" "$guest" -n 1 -r 1; exit 77; fi
[ "$rc" -eq 0 ] || { echo "binding_exit: the C program failed" >&2; exit 1; }

stage=$(mktemp -d /tmp/libvmm-binding-exit.XXXXXX)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage/root" --no-rebuild --quiet
pc=$(find "$stage/root" -name libvmm.pc -path '*/pkgconfig/*' | head -n1)
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$stage/root
LD_LIBRARY_PATH=$(dirname "$pcdir")
export LD_LIBRARY_PATH

# Python: Debian's interpreter, a venv over the system packages (cffi).
/usr/bin/python3 -m venv --system-site-packages "$stage/venv"
cp -r "$root/bindings/python" "$stage/python-src"
rm -rf "$stage/python-src/build"
"$stage/venv/bin/python" -m pip install --no-build-isolation --no-index \
  --disable-pip-version-check --no-cache-dir --quiet "$stage/python-src"
pyprog=("$stage/venv/bin/python" "$root/bench/binding_exit.py")

# Go, when there is a toolchain and the Go half of the benchmark.
goprog=()
if command -v go >/dev/null && [ -f "$root/bench/binding_exit_go/main.go" ]; then
  # A fresh, writable Go cache (it would not notice changed C headers).
  if (cd "$root/bench/binding_exit_go" && GOFLAGS=-mod=mod GOPROXY=off \
        GOCACHE="$stage/go-cache" GOPATH="$stage/go-path" \
        go build -o "$stage/binding_exit_go" .); then
    goprog=("$stage/binding_exit_go" -guest)
  else
    echo "binding_exit: building bench/binding_exit_go failed; no Go figures" >&2
  fi
fi

# One round of each in turn, so that a change in the machine's load hits
# all of them alike; each program times only its vmm_vcpu_run() call.
value() { sed -n "s/^$1=//p" <<<"$2"; }
c=() py=() go=() c_cpu=() py_cpu=() go_cpu=()
for ((r = 0; r < rounds; r++)); do
  out=$("$cprog" "$guest" -n "$n" -r 1)
  c+=("$(value c_ns "$out")") c_cpu+=("$(value c_cpu_ns "$out")")
  out=$("${pyprog[@]}" "$guest" -n "$n" -r 1)
  py+=("$(value python_ns "$out")") py_cpu+=("$(value python_cpu_ns "$out")")
  if [ ${#goprog[@]} -gt 0 ]; then
    out=$("${goprog[@]}" "$guest" -n "$n" -rounds 1)
    go+=("$(value go_ns "$out")")
    g=$(value go_cpu_ns "$out")
    [ -n "$g" ] && go_cpu+=("$g")
  fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
c_ns=$(median "${c[@]}")
py_ns=$(median "${py[@]}")
c_cpu_ns=$(median "${c_cpu[@]}")
py_cpu_ns=$(median "${py_cpu[@]}")
echo "binding_exit: $n port-I/O exits per round, $rounds rounds of each (C, Python${goprog:+, Go} in turn), median ns per exit:"
echo "  wall time of the run call (includes waiting for a CPU on a loaded machine):"
printf '    C       %10.1f              (rounds: %s)\n' "$c_ns" "${c[*]}"
printf '    Python  %10.1f  ratio %s (rounds: %s)\n' "$py_ns" "$(ratio "$py_ns" "$c_ns")" "${py[*]}"
line="binding_exit c_ns=$c_ns python_ns=$py_ns python_ratio=$(ratio "$py_ns" "$c_ns")"
if [ ${#go[@]} -gt 0 ]; then
  go_ns=$(median "${go[@]}")
  printf '    Go      %10.1f  ratio %s (rounds: %s)\n' "$go_ns" "$(ratio "$go_ns" "$c_ns")" "${go[*]}"
  line+=" go_ns=$go_ns go_ratio=$(ratio "$go_ns" "$c_ns")"
else
  line+=" go_ns=- go_ratio=-"
fi
echo "  CPU time of the vCPU thread (guest + KVM + handler; steadier under load):"
printf '    C       %10.1f              (rounds: %s)\n' "$c_cpu_ns" "${c_cpu[*]}"
printf '    Python  %10.1f  ratio %s (rounds: %s)\n' "$py_cpu_ns" "$(ratio "$py_cpu_ns" "$c_cpu_ns")" "${py_cpu[*]}"
line+=" c_cpu_ns=$c_cpu_ns python_cpu_ns=$py_cpu_ns python_cpu_ratio=$(ratio "$py_cpu_ns" "$c_cpu_ns")"
if [ ${#go_cpu[@]} -gt 0 ] && [ ${#go_cpu[@]} -eq ${#go[@]} ]; then
  go_cpu_ns=$(median "${go_cpu[@]}")
  printf '    Go      %10.1f  ratio %s (rounds: %s)\n' "$go_cpu_ns" "$(ratio "$go_cpu_ns" "$c_cpu_ns")" "${go_cpu[*]}"
  line+=" go_cpu_ns=$go_cpu_ns go_cpu_ratio=$(ratio "$go_cpu_ns" "$c_cpu_ns")"
fi
echo "$line"
