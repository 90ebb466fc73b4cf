#!/usr/bin/env bash
# monitor_bench.sh: builds bench/monitor_bench.c against a build tree and runs
# it (see bench/README.md, "coin-monitor").
#   bench/monitor_bench.sh [BUILD_DIR] [-- STEADY_PASSES BURSTS]
# It links like tests/test_monitor (libcoin, the test harness and whatever
# those need), reusing that target's link line (bench/lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_run_like_test monitor_bench test_monitor coin-monitor \
  "$(pkg-config --cflags jansson)" "$@"
