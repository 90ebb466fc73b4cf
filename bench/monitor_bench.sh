#!/usr/bin/env bash
# monitor_bench.sh: builds bench/monitor_bench.c against a build tree and runs
# it (see bench/README.md, "coin-monitor").
#   bench/monitor_bench.sh [BUILD_DIR] [-- STEADY_PASSES BURSTS]
# It links like tests/test_monitor (libcoin, the test harness and whatever
# those need), reusing that target's link line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
build=$(cd "$build" && pwd)
cmake --build "$build" --target coin-monitor test_monitor >/dev/null
mkdir -p "$build/bench"
cc -std=gnu17 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I"$src/lib/include" \
  -I"$src/tests" -I"$src/tests/harness" $(pkg-config --cflags jansson) \
  -c "$here/monitor_bench.c" -o "$build/bench/monitor_bench.o"
link=$(cat "$build/tests/CMakeFiles/test_monitor.dir/link.txt")
link=${link/CMakeFiles\/test_monitor.dir\/integration\/test_monitor.c.o/$build/bench/monitor_bench.o}
link=${link/-o test_monitor/-o $build/bench/monitor_bench}
(cd "$build/tests" && eval "$link")
export COIN_BIN_DIR=$build/bin
exec "$build/bench/monitor_bench" "$@"
