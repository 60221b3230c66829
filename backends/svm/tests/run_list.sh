#!/usr/bin/env bash
# backends/svm/tests/run_list.sh — runs each line of FILE (a test command
# on --backend svm) in the nested machine, with a time limit, and prints
# one PASS/FAIL/SKIP line per test and a summary (exit 1 if any failed).
# usage: run_list.sh FILE   (lines: NAME<TAB>COMMAND...)
set -u
pass=0 fail=0 skip=0
while IFS=$'\t' read -r name cmd; do
  [ -n "$name" ] || continue
  log=/dev/shm/lvs-$name.log
  timeout 600 bash -c "$cmd" > "$log" 2>&1 < /dev/null
  rc=$?
  case $rc in
    0) echo "PASS $name"; pass=$((pass + 1));;
    77) echo "SKIP $name: $(grep -m1 SKIP "$log")"; skip=$((skip + 1));;
    *) echo "FAIL $name (exit $rc)"; grep -E "FAILED|Test: .*\.\.\.$|error" "$log" | head -30; fail=$((fail + 1));;
  esac
done < "$1"
echo "run_list: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
