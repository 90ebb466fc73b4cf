#!/usr/bin/env bash
# publish_latency.sh: builds bench/publish_bench.c against a build tree and
# runs it (see bench/README.md, "coin-publish").
#   bench/publish_latency.sh [BUILD_DIR] [-- --symbols 50 --batches 1000]
# It links like tests/test_publish (libcoin, the test harness and whatever
# libraries those need), reusing that target's link line, so it follows the
# build's dependencies without a copy of them here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
build=$(cd "$build" && pwd)
cmake --build "$build" --target coin-publish test_publish >/dev/null
mkdir -p "$build/bench"
cc -std=gnu17 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I"$src/lib/include" \
  -I"$src/tests" -I"$src/tests/harness" -c "$here/publish_bench.c" \
  -o "$build/bench/publish_bench.o"
link=$(cat "$build/tests/CMakeFiles/test_publish.dir/link.txt")
link=${link/CMakeFiles\/test_publish.dir\/integration\/test_publish.c.o/$build/bench/publish_bench.o}
link=${link/-o test_publish/-o $build/bench/publish_bench}
(cd "$build/tests" && eval "$link")
export COIN_BIN_DIR=$build/bin
exec "$build/bench/publish_bench" "$@"
