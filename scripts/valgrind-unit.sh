#!/usr/bin/env bash
# Runs every unit test under valgrind (memcheck): any invalid access or
# definite leak fails the run. Usage: scripts/valgrind-unit.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
cd "$build"
names=$(ctest -L unit -LE case -N | sed -n 's/^ *Test *#[0-9]*: unit_\(.*\)$/\1/p')
[ -n "$names" ] || { echo "valgrind-unit: no unit tests found in $build" >&2; exit 1; }
pass=0
fail=0
# Tests that bound a wait (e.g. "answered within 1 s") stretch it by this.
export COIN_TEST_TIME_FACTOR=20
for n in $names; do
  log="Testing/valgrind-$n.log"
  if valgrind -q --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite "./tests/test_$n" >"$log" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "valgrind-unit: test_$n failed under valgrind:" >&2
    tail -30 "$log" >&2
  fi
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
