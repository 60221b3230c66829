#!/usr/bin/env bash
# backends/svm/tests/bench_nested.sh — the PIO-exit round trip of the
# "svm" backend against "kvm" (kvm-amd), measured in the SAME nested
# machine (../shared/tools/nested-kvm.sh --no-kvm): bench/exit_latency
# --backend svm with libvmm-svm.ko loaded, then the module unloaded,
# kvm-amd loaded and bench/exit_latency (libvmm on kvm and raw KVM_RUN).
# usage: backends/svm/tests/bench_nested.sh BUILDDIR [exit_latency args]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=$(cd "${1:?usage: bench_nested.sh BUILDDIR}" && pwd); shift
nested=${NESTED_KVM:-$root/../shared/tools/nested-kvm.sh}
[ -x "$nested" ] || nested=/work/shared/tools/nested-kvm.sh
out=/tmp/libvmm-svm-bench.$$
ko=$("$here/../kmod/build.sh" "$out/kmod") || exit $?
cat > "$out/inner.sh" <<INNER
set -u
grep -qw nestednokvm /proc/cmdline || { echo "not in nested-kvm.sh --no-kvm" >&2; exit 2; }
ins() { if command -v insmod >/dev/null; then insmod "\$1"; else busybox insmod "\$1"; fi; }
rmm() { if command -v rmmod >/dev/null; then rmmod "\$1"; else busybox rmmod "\$1"; fi; }
ins "$ko" || exit 1
echo "== svm"
"$build/bench/exit_latency" --backend svm $*
rmm libvmm_svm || exit 1
for m in irqbypass kvm ccp kvm-amd; do
  f=\$(find "\${NESTED_KVM_CACHE:-/tmp/nested-kvm}/k/lib/modules" -name "\$m.ko" | head -n 1)
  ins "\$f" || echo "insmod \$m failed"
done
echo "== kvm"
"$build/bench/exit_latency" --backend kvm $*
INNER
"$nested" --no-kvm --timeout 900 -- bash "$out/inner.sh"
rc=$?
rm -rf "$out"
exit $rc
