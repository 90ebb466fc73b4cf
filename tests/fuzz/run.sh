#!/usr/bin/env bash
# run.sh: coverage-guided fuzzing of every target (bench-like; not in make
# test). Builds the libFuzzer binaries with clang into build-fuzz/fuzz/ and
# runs each target for SECONDS_PER_TARGET (default 120), one after another,
# on tests/fuzz/corpus/<target>/ (read) plus a scratch dir (written), then
# minimizes the union with -set_cover_merge=1 (-merge=1 with a smaller
# greedy set cover) into build-fuzz/fuzz/merged/<target>/.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# FUZZ_UPDATE_CORPUS=1 replaces tests/fuzz/corpus/<target>/ by the merged
# set (its 200 smallest files when larger; never more than 1 MB). A crashing input is left in
# build-fuzz/fuzz/artifacts/<target>/: copy it to
# tests/fuzz/regressions/<target>/ once fixed, so the replay test keeps it.
# Prints per target: executions, exec/s, corpus files before/after the
# merge, crashes. Environment: BUILD_DIR (build-fuzz), CC (clang), JOBS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-120}
shift || true
BUILD=${BUILD_DIR:-$ROOT/build-fuzz}
CC=${CC:-clang}
JOBS=${JOBS:-2}
ALL="codec candle_file kline site registry monitor_state gaps watermark"
TARGETS=${*:-$ALL}

max_len() {
  case $1 in
  watermark) echo 32 ;;
  monitor_state | registry) echo 4096 ;;
  candle_file | kline) echo 16384 ;;
  *) echo 8192 ;;
  esac
}

case $SECS in '' | *[!0-9]*)
  echo "run.sh: SECONDS_PER_TARGET must be a number" >&2
  exit 2 ;;
esac

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCOIN_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
bins=()
for t in $TARGETS; do bins+=("fuzz_$t"); done
cmake --build "$BUILD" -j "$JOBS" -t "${bins[@]}" >/dev/null

printf '%-14s %12s %9s %8s %8s %8s %s\n' target execs exec/s corpus0 \
  corpus1 crashes seconds
status=0
for t in $TARGETS; do
  bin=$BUILD/fuzz/fuzz_$t
  seeds=$ROOT/tests/fuzz/corpus/$t
  regs=$ROOT/tests/fuzz/regressions/$t
  work=$BUILD/fuzz/work/$t
  merged=$BUILD/fuzz/merged/$t
  art=$BUILD/fuzz/artifacts/$t
  log=$BUILD/fuzz/$t.log
  mkdir -p "$work" "$art" "$regs"
  rm -rf "$merged"
  mkdir -p "$merged"
  before=$(find "$seeds" -type f | wc -l)
  set +e
  "$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$seeds" "$regs" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  "$bin" -set_cover_merge=1 -max_len="$(max_len "$t")" "$merged" "$seeds" "$work" \
    >"$BUILD/fuzz/$t.merge.log" 2>&1 || true
  after=$(find "$merged" -type f | wc -l)
  crashes=$(find "$art" -type f | wc -l)
  printf '%-14s %12s %9s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${eps:-?}" \
    "$before" "$after" "$crashes" "$SECS"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "  $t: libFuzzer exit $rc; see $log and $art/" >&2
    status=1
  fi
  if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ]; then
    if [ "$after" -gt 200 ]; then
      echo "  $t: merged corpus has $after files: keeping the 200 smallest" >&2
      find "$merged" -type f -printf '%s %p\n' | sort -n | tail -n +201 |
        cut -d' ' -f2- | xargs -r rm -f
    fi
    bytes=$(du -sb "$merged" | cut -f1)
    if [ "$bytes" -le 1048576 ]; then
      find "$seeds" -type f -delete
      cp "$merged"/* "$seeds"/
    else
      echo "  $t: merged corpus is $bytes bytes: kept the old one" >&2
    fi
  fi
done
exit $status
