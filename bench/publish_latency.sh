#!/usr/bin/env bash
# publish_latency.sh: builds bench/publish_bench.c against a build tree and
# runs it (see bench/README.md, "coin-publish").
#   bench/publish_latency.sh [BUILD_DIR] [-- --symbols 50 --batches 1000]
# It links like tests/test_publish (libcoin, the test harness and whatever
# libraries those need), reusing that target's link line (bench/lib.sh), so
# it follows the build's dependencies without a copy of them here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_run_like_test publish_bench test_publish coin-publish "" "$@"
