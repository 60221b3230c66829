#!/bin/sh
# scripts/fuzz.sh [SECONDS] — runs each libFuzzer target of tests/fuzz for a
# bounded time (default 30 s each) from its checked-in seed corpus, and
# says what it found. Needs a build with the targets (clang and
# libclang-rt-*-dev installed, a build without b_sanitize):
#
#   meson setup build && ninja -C build && scripts/fuzz.sh 60
#
# BUILD (default: build) is the build directory; OUT (default:
# $BUILD/fuzz-out) receives, per target, the log, the inputs libFuzzer
# added (corpus-NAME/, the checked-in seeds are not touched) and any
# crashing input (crash-*, leak-*, timeout-*). ONLY (default: all) is a
# space-separated list of target names to run. Exit status 1 when a target
# found something (whatever else), 2 when a target is missing or was
# interrupted.
set -u
secs=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
out=${OUT:-$build/fuzz-out}
mkdir -p "$out"
status=0
# name:corpus directory under tests/fuzz
for t in config:corpus gdb_packet:corpus-gdb virtq:corpus-virtq \
         kernel_detect:corpus-kernel boot_load:corpus-boot \
         control:corpus-control migrate_recv:corpus-migrate \
         virtio_blk:corpus-virtio-blk \
         virtio_net:corpus-virtio-net virtio_console:corpus-virtio-console \
         virtio_rng:corpus-virtio-rng virtio_mmio:corpus-virtio-mmio \
         virtio_pci:corpus-virtio-pci; do
  name=${t%%:*}
  case " ${ONLY:-$name} " in *" $name "*) ;; *) continue ;; esac
  seeds=$here/tests/fuzz/${t#*:}
  bin=$build/tests/fuzz/${name}_fuzz
  if [ ! -x "$bin" ]; then
    echo "$name: $bin not built (clang with libFuzzer missing?)"
    [ $status -eq 1 ] || status=2
    continue
  fi
  work=$out/corpus-$name
  mkdir -p "$work"
  log=$out/$name.log
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/$name-" \
    "$work" "$seeds" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "$name: ${secs}s, ${runs:-?} runs, ${speed:-?} exec/s, ${cov:-cov: ?}: nothing found"
  elif [ $rc -eq 72 ] && grep -q 'libFuzzer: run interrupted' "$log"; then
    # libFuzzer's exit status when a signal (SIGINT/SIGTERM) stopped it.
    echo "$name: interrupted by a signal after ${runs:-?} runs: not a finding"
    [ $status -eq 1 ] || status=2
  else
    status=1
    found=$(find "$out" -maxdepth 1 -name "$name-*" | tr '\n' ' ')
    echo "$name: FOUND something (exit $rc): ${found:-see $log}"
    grep -m1 -E '^(==[0-9]+==ERROR|.*invariant broken|.*runtime error)' "$log"
  fi
done
exit $status
