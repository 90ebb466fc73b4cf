#!/usr/bin/env bash
# test_first_prediction.sh: a newcomer's `make demo`, from nothing to the
# first prediction. `scripts/demo.sh start` with the demo's own defaults
# (replay exchange, BTCUSDT+ETHUSDT, every timeframe, the default first fill)
# on free ports in a temporary DEMO_DIR, and nothing else set: start must
# wait for the backfill, train, bring the first champion in through the
# gate's bootstrap path, print the gate's verdict and the time to the first
# 1h prediction (asserted < 180 s after the start, build excluded), and the
# champion's metadata must record the bootstrap evidence. Then Debian's
# headless chromium opens #BTCUSDT/1h and must show the predicted close and
# the champion (first_prediction_check.js). `demo.sh stop` ends every
# recorded PID; fails, never skips, when something is missing.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"
: "${COIN_SHARED_DATA_DIR:?COIN_SHARED_DATA_DIR not set}"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$COIN_SOURCE_DIR/tests/lib/demo_test.sh"
npm_dir="$COIN_BUILD_DIR/npm-web"
demo="$COIN_SOURCE_DIR/scripts/demo.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-first-XXXXXX")"
chmod 755 "$tmp" # nginx's workers (nobody, when run as root) read the site
export DEMO_DIR="$tmp/demo"
cleanup() {
  if [ -f "$DEMO_DIR/pids" ]; then "$demo" stop >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [ -f "$tmp/start.out" ] && { echo "--- start output" >&2; tail -n 30 "$tmp/start.out" >&2; }
  for f in "$DEMO_DIR"/logs/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  exit 1
}

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (scripts/install-deps.sh installs it)"
command -v node >/dev/null || fail "node missing (scripts/install-deps.sh installs it)"
for b in coin-ingest coin-publish coin-monitor coin-train coin-replay-exchange coinctl; do
  [ -x "$COIN_BIN_DIR/$b" ] || fail "$COIN_BIN_DIR/$b missing (build first)"
done
web_npm_ensure "$npm_dir" "$tmp/npm.log" || fail "playwright-core is missing"

demo_free_ports
# Only what a test must change: ports, paths, no build, the recorded candles.
export DEMO_SKIP_BUILD=1 DEMO_BIN_DIR="$COIN_BIN_DIR" DEMO_DATA_DIR="$COIN_SHARED_DATA_DIR"
export DEMO_EXCHANGE=replay

start_s=$SECONDS
"$demo" start >"$tmp/start.out" 2>&1 || fail "demo.sh start failed"
wall=$((SECONDS - start_s))
grep -q "coin-train promote: .* PROMOTED (bootstrap" "$tmp/start.out" ||
  fail "start did not print the gate's bootstrap verdict"
grep -q "\[pass\] bootstrap_walk_forward_mae_vs_persistence" "$tmp/start.out" ||
  fail "start did not print the gate's checks"
grep -q "site      http://127.0.0.1:$DEMO_WEB_PORT/" "$tmp/start.out" || fail "start did not print the site URL"
first=$(sed -n 's/^  first 1h prediction on the site \([0-9]*\) s after the start.*/\1/p' "$tmp/start.out")
[ -n "$first" ] || fail "start did not print the time to the first 1h prediction"
echo "# demo start returned after $wall s; first 1h prediction after $first s"
[ "$first" -lt 180 ] || fail "first 1h prediction after $first s (target < 180 s)"

# The champion records what it was promoted on.
NATS_USER=coin-train NATS_PASSWORD_FILE="$DEMO_DIR/nats-conf/nats-train.password" \
  NATS_URL="nats://127.0.0.1:$DEMO_NATS_PORT" "$COIN_BIN_DIR/coin-train" show champion >"$tmp/champion.txt" 2>"$tmp/show.err" ||
  fail "coin-train show champion failed: $(tail -n 1 "$tmp/show.err")"
grep -q "promotion.bootstrap" "$tmp/champion.txt" || fail "champion metadata lacks promotion.bootstrap"
grep -q "promotion.evidence_walk_forward" "$tmp/champion.txt" || fail "champion metadata lacks promotion.evidence_walk_forward"

NODE_PATH="$npm_dir/node_modules" timeout 90 node "$COIN_SOURCE_DIR/tests/web/first_prediction_check.js" \
  "$DEMO_WEB_PORT" "$DEMO_DIR/site" || fail "first_prediction_check.js failed"

# Every step ran as its NATS user (coinctl wait-backfill, train, promote as
# coin-train; the services as theirs): nats-server refused none of them.
if grep -q "Violation" "$DEMO_DIR/logs/nats.log"; then
  grep "Violation" "$DEMO_DIR/logs/nats.log" | head -3 >&2
  fail "nats-server refused something to the demo (deploy/nats/nats-permissions.conf)"
fi

# A second start on the same DEMO_DIR keeps the champion (no retraining).
"$demo" stop >"$tmp/stop.out" 2>&1 || fail "demo.sh stop failed"
"$demo" start >"$tmp/start2.out" 2>&1 || { cp "$tmp/start2.out" "$tmp/start.out"; fail "second demo.sh start failed"; }
grep -q "a champion is registered already" "$tmp/start2.out" || fail "second start did not keep the champion"
"$demo" stop >"$tmp/stop.out" 2>&1 || fail "demo.sh stop failed"
[ ! -f "$DEMO_DIR/pids" ] || fail "pids file left behind"
echo "PASS"
