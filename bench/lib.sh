# lib.sh: helpers the bench scripts source (bash, set -euo pipefail).

# bench_run_like_test NAME TEST SERVICE CFLAGS [BUILD_DIR] [-- ARGS...]:
# builds SERVICE and tests/TEST in BUILD_DIR (default: the repository's
# ./build), compiles bench/NAME.c (with the extra CFLAGS, a word list) and
# links it as BUILD_DIR/bench/NAME with TEST's link line (libcoin, the test
# harness and whatever libraries those need), so it follows the build's
# dependencies without a copy of them here; then runs it with ARGS and
# COIN_BIN_DIR set, in place of the calling script.
bench_run_like_test() {
  local name=$1 test=$2 service=$3 cflags=$4 here src build link
  shift 4
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  src=$(cd "$here/.." && pwd)
  build=$(cd "${1:-$src/build}" && pwd)
  [ $# -gt 0 ] && shift
  [ "${1:-}" = "--" ] && shift
  cmake --build "$build" --target "$service" "$test" >/dev/null
  mkdir -p "$build/bench"
  # shellcheck disable=SC2086
  cc -std=gnu17 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I"$src/lib/include" \
    -I"$src/tests" -I"$src/tests/harness" $cflags \
    -c "$here/$name.c" -o "$build/bench/$name.o"
  link=$(cat "$build/tests/CMakeFiles/$test.dir/link.txt")
  link=${link/CMakeFiles\/$test.dir\/integration\/$test.c.o/$build/bench/$name.o}
  link=${link/-o $test/-o $build/bench/$name}
  (cd "$build/tests" && eval "$link")
  export COIN_BIN_DIR=$build/bin
  exec "$build/bench/$name" "$@"
}
