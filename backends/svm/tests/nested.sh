#!/usr/bin/env bash
# backends/svm/tests/nested.sh — the "svm" backend's tests, run from the
# host: builds the module (kmod/build.sh) and the module test, then, in
# ONE nested machine (tests/linux/nested.sh --no-kvm, where SVM
# is free for our module), loads it and runs the module tests, the unload
# test and the conformance suite on --backend svm (in_nested.sh).
# usage: backends/svm/tests/nested.sh BUILDDIR [conformance args, e.g. --test guests/hello]
#        LVS_ALL=1 backends/svm/tests/nested.sh BUILDDIR   (every --backend test)
# exit 77 when the headers or QEMU are not available.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=$(cd "${1:?usage: nested.sh BUILDDIR}" && pwd); shift
# The project's own nested machine (tests/linux/nested.sh, which CI has on
# a clean clone); NESTED_KVM may name another with the same options
# (--no-kvm, --timeout), e.g. ../shared/tools/nested-kvm.sh.
nested=${NESTED_KVM:-$root/tests/linux/nested.sh}
[ -x "$nested" ] || { echo "SKIP: $nested not found"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
out=${LVS_OUT:-/tmp/libvmm-svm-test.$$}
ko=$("$here/../kmod/build.sh" "$out/kmod") || exit $?
cc -O2 -Wall -Wextra -Werror -I"$here/../kmod" -o "$out/kmod_test" "$here/kmod_test.c" -lpthread || exit 1
# The conformance suite as meson registers it for kvm, on svm instead
# (its guest paths are relative to the build directory).
mapfile -t conf < <(meson introspect --tests "$build" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == "conformance-kvm":
        print("\n".join("svm" if a == "kvm" else a for a in t["cmd"]))')
[ ${#conf[@]} -gt 0 ] || { echo "nested.sh: no conformance-kvm test in $build"; exit 1; }
# LVS_ALL=1: every test meson registers for kvm with a --backend option,
# on svm instead, one after another (run_list.sh), not just conformance.
if [ "${LVS_ALL:-0}" = 1 ]; then
  mkdir -p "$out"
  meson introspect --tests "$build" | python3 -c '
import json, shlex, sys
for t in json.load(sys.stdin):
    if t["name"].endswith("-kvm") and "--backend" in t["cmd"]:
        cmd = ["svm" if a == "kvm" else a for a in t["cmd"]]
        print(t["name"][:-4] + "-svm\t" + " ".join(shlex.quote(a) for a in cmd))' > "$out/list"
  conf=("$here/run_list.sh" "$out/list")
fi
cd "$build" && "$nested" --no-kvm --timeout "${LVS_TIMEOUT:-900}" -- \
  "$here/in_nested.sh" "$ko" "$out/kmod_test" "${conf[@]}" "$@"
rc=$?
rm -rf "$out"
exit $rc
