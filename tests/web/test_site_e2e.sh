#!/usr/bin/env bash
# test_site_e2e.sh: the whole stack, a real Chromium, and a dead writer.
# `scripts/demo.sh start` (replay exchange, BTCUSDT, 1m+1h+1d, 1m thresholds
# soft 5 s / hard 15 s) on free ports in a temporary DEMO_DIR; once the 1m
# series is fresh in the files, tests/web/e2e_check.js opens the page at
# #BTCUSDT/1m in Debian's headless chromium (playwright-core), sees it fresh,
# SIGKILLs coin-publish by the PID the demo recorded, reads the soft/hard
# instants from the history.json left on disk, and checks that the badge
# turns soft_stale and then hard_stale each within 5 s after the announced
# instant (never before), that no prediction numbers are shown at hard, and
# that `coinctl site --dir` says the same (NOW soft_stale + exit 0 after the
# soft instant, NOW hard_stale + exit 3 after the hard one). Then `demo.sh
# stop` ends every recorded PID; the temp dir is removed. Bounded (< 4 min);
# fails, never skips, when something is missing.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"
: "${COIN_SHARED_DATA_DIR:?COIN_SHARED_DATA_DIR not set}"

BUDGET_S=230 # the whole test, start to stop
start_s=$SECONDS
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$COIN_SOURCE_DIR/tests/lib/demo_test.sh"
npm_dir="$COIN_BUILD_DIR/npm-web"
demo="$COIN_SOURCE_DIR/scripts/demo.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-site-e2e-XXXXXX")"
chmod 755 "$tmp" # nginx's workers (nobody, when run as root) read the site
export DEMO_DIR="$tmp/demo"
site="$DEMO_DIR/site"

cleanup() {
  # Whatever happened: stop what the demo recorded (by PID), remove the dir.
  if [ -f "$DEMO_DIR/pids" ]; then "$demo" stop >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$DEMO_DIR"/logs/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  exit 1
}
left() { echo $((BUDGET_S - (SECONDS - start_s))); }

# ---- what the test needs: fail (never skip) when missing -------------------
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (scripts/install-deps.sh installs it)"
command -v node >/dev/null || fail "node missing (scripts/install-deps.sh installs it)"
command -v nginx >/dev/null || fail "nginx missing (scripts/install-deps.sh installs it)"
for b in coin-ingest coin-publish coin-monitor coin-replay-exchange coinctl; do
  [ -x "$COIN_BIN_DIR/$b" ] || fail "$COIN_BIN_DIR/$b missing (build first)"
done
[ -d "$COIN_SHARED_DATA_DIR" ] || fail "candle data $COIN_SHARED_DATA_DIR missing"
[ -f "$COIN_SHARED_DATA_DIR/BTCUSDT-1m.csv" ] || fail "$COIN_SHARED_DATA_DIR/BTCUSDT-1m.csv missing"
web_npm_ensure "$npm_dir" "$tmp/npm.log" || fail "playwright-core is missing"

# ---- the stack, on free ports, with short 1m thresholds ----------------------
demo_free_ports
export DEMO_SKIP_BUILD=1 DEMO_BIN_DIR="$COIN_BIN_DIR" DEMO_DATA_DIR="$COIN_SHARED_DATA_DIR"
export DEMO_EXCHANGE=replay DEMO_SYMBOLS=BTCUSDT DEMO_TIMEFRAMES=1m,1h,1d
# A small first fill (full history only for 1d) so the 1m series fills fast.
export INGEST_FULL_FILL_TIMEFRAMES=1d INGEST_LOOKBACK_DAYS=2
export FRESHNESS_SOFT_AFTER_SECONDS_1m=5 FRESHNESS_HARD_AFTER_SECONDS_1m=15
# Serve the champion on 1m too (it is trained on 1h/1d), so that there are
# prediction numbers to disappear at hard_stale when a model is ready in time.
export PUBLISH_SERVE_UNEVALUATED=true

"$demo" start >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out" >&2; fail "demo.sh start failed"; }
[ -s "$DEMO_DIR/pids" ] || fail "demo.sh start recorded no PIDs"
cp "$DEMO_DIR/pids" "$tmp/pids"
echo "# started: $(awk '{printf "%s(%s) ", $1, $2}' "$tmp/pids")"
publish_pid=$(awk '$1 == "publish" {print $2}' "$tmp/pids")
[ -n "$publish_pid" ] || fail "coin-publish was not started (see $tmp/start.out)"
grep -q '^monitor ' "$tmp/pids" || fail "coin-monitor was not started"
[ "$(cat "/proc/$publish_pid/comm" 2>/dev/null)" = coin-publish ] ||
  fail "PID $publish_pid recorded for publish is not coin-publish"

# ---- bounded wait: the 1m series fresh in the files ---------------------------
fresh_1m() {
  "$PY" - "$site" <<'EOF'
import json, os, sys, time
root = sys.argv[1]
try:
    m = json.load(open(os.path.join(root, "manifest.json")))
    h = json.load(open(os.path.join(root, "v1/binance/BTCUSDT/1m/history.json")))
    json.load(open(os.path.join(root, "v1/binance/BTCUSDT/1m/prediction.json")))
except (OSError, ValueError):
    sys.exit(1)
e = [s for s in m.get("series", []) if s.get("symbol") == "BTCUSDT" and s.get("timeframe") == "1m"]
now = time.time() * 1000
ok = (e and e[0].get("last_candle_open_ms") is not None and h.get("status") == "fresh"
      and isinstance(h.get("soft_stale_at_ms"), int) and now < h["soft_stale_at_ms"]
      and len(h.get("candles", [])) > 0)
sys.exit(0 if ok else 1)
EOF
}
deadline=$((SECONDS + 120))
until fresh_1m; do
  [ $SECONDS -lt $deadline ] || fail "BTCUSDT/1m not fresh in $site within 120 s"
  while read -r name pid; do
    [ "$name" = train ] && continue # a one-shot job ends by itself
    st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [ -n "$st" ] && [[ "$st" != Z* ]] || fail "$name ($pid) died while filling"
  done <"$tmp/pids"
  sleep 0.5
done
echo "# BTCUSDT/1m fresh in the files after $((SECONDS - start_s)) s"

# ---- the browser part (kills coin-publish itself, at an idle moment) ----------
budget=$(($(left) - 20))
[ "$budget" -gt 100 ] || fail "only $budget s left for the browser check"
NODE_PATH="$npm_dir/node_modules" timeout "$budget" node "$COIN_SOURCE_DIR/tests/web/e2e_check.js" \
  "$DEMO_WEB_PORT" "$site" "$publish_pid" "$COIN_BIN_DIR/coinctl" || {
  rc=$?
  [ "$rc" = 124 ] && echo "e2e_check.js timed out after $budget s" >&2
  fail "e2e_check.js failed (exit $rc)"
}

# coin-publish really is gone (a zombie waiting for its reaper counts as gone).
st=$(ps -o stat= -p "$publish_pid" 2>/dev/null || true)
[ -z "$st" ] || [[ "$st" == Z* ]] || fail "coin-publish ($publish_pid) still running after SIGKILL"

# ---- stop everything that was started, by PID ----------------------------------
"$demo" stop >"$tmp/stop.out" 2>&1 || { cat "$tmp/stop.out" >&2; fail "demo.sh stop failed"; }
[ ! -f "$DEMO_DIR/pids" ] || fail "pids file left behind"
while read -r name pid; do
  if ps -e -o pid=,pgid=,stat= | awk -v p="$pid" '($1 == p || $2 == p) && $3 !~ /^Z/ { f = 1 } END { exit !f }'; then
    fail "$name ($pid) or its process group still running after stop"
  fi
done <"$tmp/pids"
total=$((SECONDS - start_s))
[ "$total" -lt 240 ] || fail "the test took $total s (bound: 240 s)"
echo "site e2e test passed in $total s"
