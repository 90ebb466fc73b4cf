#!/usr/bin/env bash
# test_demo.sh: `scripts/demo.sh start` brings the stack up on free ports in
# a temporary DEMO_DIR (never the developer's .demo or ports), the site fills
# (bounded wait; what is awaited adapts to the services that exist: with
# coin-publish, every symbol+timeframe in manifest.json with candles and its
# history.json + prediction.json; without it, ingest's runtime_metrics.json; with
# coin-monitor, /status lists every series), the page is served by nginx,
# then `demo.sh stop` ends every recorded PID.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"
: "${COIN_SHARED_DATA_DIR:?COIN_SHARED_DATA_DIR not set}"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$COIN_SOURCE_DIR/tests/lib/demo_test.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-demo-XXXXXX")"
demo="$COIN_SOURCE_DIR/scripts/demo.sh"
export DEMO_DIR="$tmp/demo"
chmod 755 "$tmp" # nginx's workers (nobody, when run as root) read the site

cleanup() {
  # Whatever happened, stop what the demo recorded (by PID) and remove it.
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

demo_free_ports
export DEMO_SKIP_BUILD=1 DEMO_BIN_DIR="$COIN_BIN_DIR" DEMO_DATA_DIR="$COIN_SHARED_DATA_DIR"
export DEMO_EXCHANGE=replay DEMO_SYMBOLS=BTCUSDT,ETHUSDT
# No first champion here (a short fill has too little 1h history to train
# on): tests/web/test_first_prediction.sh takes the newcomer's whole path.
export DEMO_BOOTSTRAP=0
# Small first fill so the test is quick: full history only for 1d/1w/1M.
export INGEST_FULL_FILL_TIMEFRAMES=1d,1w,1M INGEST_LOOKBACK_DAYS=3

start_s=$SECONDS
"$demo" start >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out" >&2; fail "demo.sh start failed"; }
grep -q "coin-replay-exchange" "$tmp/start.out" || fail "start did not say it uses the replay"
grep -q "make demo-stop" "$tmp/start.out" || fail "start did not say how to stop"
[ -s "$DEMO_DIR/pids" ] || fail "no PIDs recorded"
cp "$DEMO_DIR/pids" "$tmp/pids"
services=$(awk '{print $1}' "$tmp/pids" | tr '\n' ' ')
echo "started: $services"

# Starting twice is refused (and leaves the first one alone).
if "$demo" start >"$tmp/again.out" 2>&1; then fail "second start did not refuse"; fi
grep -q "already running" "$tmp/again.out" || fail "second start: $(cat "$tmp/again.out")"

site="$DEMO_DIR/site"
has() { grep -qw "$1" <<<"$services"; }

# Bounded wait for the site (or, without coin-publish, for ingest's metrics).
deadline=$((SECONDS + 240))
ready=""
while [ $SECONDS -lt $deadline ]; do
  if has publish; then
    if [ -f "$site/manifest.json" ] && "$PY" - "$site" <<'EOF'
import json, os, sys
root = sys.argv[1]
m = json.load(open(os.path.join(root, "manifest.json")))
want = {(s, t) for s in ("BTCUSDT", "ETHUSDT") for t in ("1m", "1h", "1d", "1w", "1M")}
# A series counts once it shows candles (publish lists every configured
# series at once, as insufficient_data until the first fill arrives).
got = {(s["symbol"], s["timeframe"]) for s in m.get("series", [])
       if s.get("last_candle_open_ms") is not None}
ok = want <= got and all(
    os.path.isfile(os.path.join(root, "v1/binance", s, t, f))
    for s, t in want for f in ("history.json", "prediction.json"))
sys.exit(0 if ok else 1)
EOF
    then ready="site"; break; fi
  elif [ -f "$site/runtime_metrics.json" ]; then
    ready="runtime_metrics"; break
  fi
  for p in $(awk '{print $2}' "$tmp/pids"); do
    name=$(awk -v p="$p" '$2==p {print $1}' "$tmp/pids")
    [ "$name" = train ] && continue # a one-shot job ends by itself
    st=$(ps -o stat= -p "$p" 2>/dev/null || true)
    [ -n "$st" ] && [[ "$st" != Z* ]] || fail "$name ($p) died while filling"
  done
  sleep 1
done
[ -n "$ready" ] || fail "the site did not fill within 240 s"
echo "ready ($ready) after $((SECONDS - start_s)) s"

# The page and the files through nginx.
code=$(curl -s -o "$tmp/index.html" -w '%{http_code}' "http://127.0.0.1:$DEMO_WEB_PORT/")
[ "$code" = 200 ] && grep -q '<script src="app.js">' "$tmp/index.html" || fail "index.html not served ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DEMO_WEB_PORT/app.js")
[ "$code" = 200 ] || fail "app.js not served ($code)"
if has publish; then
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DEMO_WEB_PORT/v1/binance/BTCUSDT/1h/history.json")
  [ "$code" = 200 ] || fail "history.json not served ($code)"
fi
if has monitor; then
  n=$(curl -s "http://127.0.0.1:$DEMO_MONITOR_PORT/status" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(len(d["series"] if isinstance(d,dict) else d))')
  [ "$n" = 10 ] || fail "monitor /status lists $n series, want 10"
fi
# coinctl against the demo's NATS, as the admin user (deploy/nats): watermarks
# for every series.
admin=(env NATS_USER=coin-admin NATS_PASSWORD_FILE="$DEMO_DIR/nats-conf/nats-admin.password")
"${admin[@]}" "$COIN_BIN_DIR/coinctl" --nats "nats://127.0.0.1:$DEMO_NATS_PORT" watermarks --json >"$tmp/wm.json" ||
  fail "coinctl watermarks failed"
# NATS users and permissions: the server runs the role table of deploy/nats;
# without credentials nothing connects, and coin-publish may not publish
# candles (the server refuses it, in its words).
cmp -s "$COIN_SOURCE_DIR/deploy/nats/nats-permissions.conf" "$DEMO_DIR/nats-conf/nats-permissions.conf" ||
  fail "the demo's nats-server does not run deploy/nats/nats-permissions.conf"
if "$COIN_BIN_DIR/coinctl" --nats "nats://127.0.0.1:$DEMO_NATS_PORT" watermarks --json >/dev/null 2>"$tmp/anon.err"; then
  fail "an anonymous coinctl connected to the demo's NATS"
fi
for role in ingest publish monitor; do
  ! has "$role" || grep -q "\"NATS_USER\":\"coin-$role\"" "$DEMO_DIR/logs/$role.log" ||
    fail "coin-$role does not log in as coin-$role"
done
! has publish || grep -q '"NATS_PASSWORD":"\*\*\*"' "$DEMO_DIR/logs/publish.log" || fail "publish.log does not redact NATS_PASSWORD"
for role in ingest publish monitor; do
  if grep -qF "$(cat "$DEMO_DIR/nats-conf/nats-$role.password")" "$DEMO_DIR"/logs/*.log; then
    fail "the coin-$role password appears in a log"
  fi
done
if grep -q "Violation" "$DEMO_DIR/logs/nats.log"; then
  grep "Violation" "$DEMO_DIR/logs/nats.log" | head -3 >&2
  fail "the demo's services were refused something by nats-server"
fi
n=$("$PY" -c 'import json,sys; print(sum(1 for s in json.load(open(sys.argv[1])) if s["ingest_watermark_ms"]))' "$tmp/wm.json")
[ "$n" = 10 ] || fail "coinctl watermarks shows $n ingest watermarks, want 10"

"$demo" stop >"$tmp/stop.out" 2>&1 || { cat "$tmp/stop.out" >&2; fail "demo.sh stop failed"; }
[ ! -f "$DEMO_DIR/pids" ] || fail "pids file left behind"
while read -r name pid; do
  # (a zombie waiting for its reaper counts as stopped)
  if ps -e -o pid=,pgid=,stat= | awk -v p="$pid" '($1 == p || $2 == p) && $3 !~ /^Z/ { f = 1 } END { exit !f }'; then
    fail "$name ($pid) or its process group still running after stop"
  fi
done <"$tmp/pids"
# Nothing listens any more on the demo's ports.
for v in DEMO_NATS_PORT DEMO_INFLUX_PORT DEMO_REPLAY_PORT DEMO_WEB_PORT DEMO_INGEST_PORT \
         DEMO_PUBLISH_PORT DEMO_MONITOR_PORT; do
  if "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "${!v}" 2>/dev/null; then
    fail "port ${!v} ($v) still accepts connections"
  fi
done
echo "demo test passed in $((SECONDS - start_s)) s ($(wc -l <"$tmp/pids") processes started and stopped)"
