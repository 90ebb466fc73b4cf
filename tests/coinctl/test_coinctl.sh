#!/usr/bin/env bash
# test_coinctl.sh: coinctl against a real nats-server -js (free ports, temp
# store, stopped by PID): tap (core, --raw, JetStream --all, --count and
# --timeout), watermarks (table and --json), status against a fixture
# /status, backfill request/progress/failure, one-line errors, --help for
# every command. Messages are published by natsc.py (raw NATS protocol) with
# payloads packed by codec_tool, so the code under test is not its own
# witness. nats-server runs the role table deploy/nats/nats-permissions.conf
# (docs/bus.md "Permissions"): coinctl and natsc log in as coin-admin (the
# operator), wait-backfill as coin-train (the deployments' first step) and
# the fake coin-ingest as coin-ingest; nothing may be refused.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"

CTL="$COIN_BIN_DIR/coinctl"
CODEC="$COIN_BUILD_DIR/tests/codec_tool"
# Debian's python3 directly: a version-manager shim costs ~0.2 s per call.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
NATSC="$PY $COIN_SOURCE_DIR/tests/coinctl/natsc.py"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-coinctl-XXXXXX")"
pids=()
passed=0
failed=0

cleanup() {
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  # KEEP_TMP=1 keeps the files for debugging.
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }
check() { # check NAME CMD...: passes when CMD exits 0
  local name="$1"; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}

# one_line FILE: exactly one line that starts with "coinctl"
one_line() {
  [ "$(wc -l <"$1")" -eq 1 ] && grep -q '^coinctl' "$1"
}

# wait_exit PID SECONDS: waits for a background job of this shell (not in a
# subshell: only the parent can reap it); sets rc to its exit code (124 when
# it had to be killed).
wait_exit() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rc=124
      return
    fi
    sleep 0.05
  done
  rc=0
  wait "$pid" || rc=$?
}

jq_py() { # jq_py FILE EXPR: evaluates a Python expression over the lines
  $PY - "$@" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(eval(sys.argv[2], {"lines": lines, "json": json}))
EOF
}

# ---- nats-server with the role table -------------------------------------------
NATS_PORT=$(free_port)
MON_PORT=$(free_port)
conf="$tmp/nats-conf"
"$COIN_SOURCE_DIR/scripts/nats-passwords.sh" "$conf"
cp "$COIN_SOURCE_DIR/deploy/nats/nats-permissions.conf" "$conf/"
/usr/sbin/nats-server -c "$conf/nats-permissions.conf" -js -a 127.0.0.1 \
  -p "$NATS_PORT" -m "$MON_PORT" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$MON_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$MON_PORT/healthz" >/dev/null ||
  { cat "$tmp/nats.log" >&2; echo "FAIL: nats-server did not start" >&2; exit 1; }
export NATS_URL="nats://127.0.0.1:$NATS_PORT"
export NATS_USER=coin-admin NATS_PASSWORD_FILE="$conf/nats-admin.password"
# as_role ROLE CMD...: CMD logged in as coin-ROLE
as_role() {
  local role="$1"; shift
  NATS_USER="coin-$role" NATS_PASSWORD_FILE="$conf/nats-$role.password" "$@"
}
start_s=$SECONDS
rc=0; NATS_USER= NATS_PASSWORD_FILE= "$CTL" watermarks 2>"$tmp/e" || rc=$?
check "no user: refused by the server, exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ] && grep -qi 'refused\|authoriz' '$tmp/e'"

# ---- --help everywhere, usage errors --------------------------------------------
for cmd in "" tap watermarks wait-backfill status backfill model; do
  out="$tmp/help.out"
  # shellcheck disable=SC2086
  if "$CTL" $cmd --help >"$out" 2>"$tmp/help.err" && [ ! -s "$tmp/help.err" ] &&
     grep -q "^usage: coinctl ${cmd}" "$out"; then
    ok "help ${cmd:-global}"
  else
    bad "help ${cmd:-global}"
  fi
done
check "help before command" bash -c "'$CTL' --help tap | grep -q '^usage: coinctl tap'"

rc=0; "$CTL" frobnicate 2>"$tmp/e" || rc=$?
check "unknown command: exit 2, one line" bash -c "[ $rc -eq 2 ] && $(declare -f one_line); one_line '$tmp/e'"
rc=0; "$CTL" tap --count 0 2>"$tmp/e" || rc=$?
check "bad --count: exit 2, one line naming the flag" bash -c "[ $rc -eq 2 ] && grep -q -- '--count \"0\"' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rc=0; "$CTL" backfill --symbol BTCUSDT --timeframe 2h --from 2024-01-01 2>"$tmp/e" || rc=$?
check "bad timeframe: exit 2, names the rule" bash -c "[ $rc -eq 2 ] && grep -q '1m 1h 1d 1w 1M' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rc=0; "$CTL" backfill --symbol BTCUSDT --timeframe 1h --from 2024-02-30 2>"$tmp/e" || rc=$?
check "bad date: exit 2" bash -c "[ $rc -eq 2 ] && grep -q 'not a time' '$tmp/e'"
rc=0; NATS_URL=nope "$CTL" tap 2>"$tmp/e" || rc=$?
check "bad NATS_URL: exit 2, names the variable" bash -c "[ $rc -eq 2 ] && grep -q '^coinctl: invalid configuration: NATS_URL=' '$tmp/e'"
dead=$(free_port)
rc=0; "$CTL" --nats "nats://127.0.0.1:$dead" watermarks 2>"$tmp/e" || rc=$?
check "no server: exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ] && grep -q '127.0.0.1:$dead' '$tmp/e'"

# ---- tap: core messages, decoded --------------------------------------------------
"$CODEC" pack status >"$tmp/status.bin"
"$CODEC" pack batch >"$tmp/batch.bin"
"$CODEC" json coin.status.binance.ETHUSDT.1d <"$tmp/status.bin" >"$tmp/status.json"
"$CODEC" json coin.candles.binance.BTCUSDT.1h <"$tmp/batch.bin" >"$tmp/batch.json"
printf '{"hello":"world"}' >"$tmp/plain.json"
printf 'not protobuf at all' >"$tmp/garbage.bin"

"$CTL" tap --count 4 --timeout 20 >"$tmp/tap.out" 2>"$tmp/tap.err" &
tap_pid=$!; pids+=($tap_pid)
$NATSC "$MON_PORT" subs 'coin.>'
$NATSC "$NATS_PORT" pub coin.status.binance.ETHUSDT.1d "$tmp/status.bin"
$NATSC "$NATS_PORT" pub coin.candles.binance.BTCUSDT.1h "$tmp/batch.bin" \
  -H "Nats-Msg-Id:binance.BTCUSDT.1h.1-2" -H "X-Twice:a" -H "X-Twice:b"
$NATSC "$NATS_PORT" pub coin.misc.hello "$tmp/plain.json"
$NATSC "$NATS_PORT" pub coin.alerts.binance.BTCUSDT.1h "$tmp/garbage.bin"
wait_exit $tap_pid 20
check "tap --count 4 exits 0" [ "$rc" = 0 ]
check "tap printed 4 lines" [ "$(wc -l <"$tmp/tap.out")" -eq 4 ]
expect_status="$(cat "$tmp/status.json")"
expect_batch="$(cat "$tmp/batch.json")"
check "tap: status decoded like codec_tool" [ "$(jq_py "$tmp/tap.out" "json.dumps(lines[0]['payload'], separators=(',',':')) == json.dumps(json.loads(open('$tmp/status.json').read()), separators=(',',':'))")" = True ]
check "tap: core message has sequence null" [ "$(jq_py "$tmp/tap.out" "lines[0]['sequence'] is None and lines[0]['subject'] == 'coin.status.binance.ETHUSDT.1d'")" = True ]
check "tap: batch decoded, type CandleBatch" [ "$(jq_py "$tmp/tap.out" "lines[1]['payload'] == json.loads(open('$tmp/batch.json').read()) and lines[1]['payload']['type'] == 'CandleBatch'")" = True ]
check "tap: headers (repeated key = array)" [ "$(jq_py "$tmp/tap.out" "lines[1]['headers'] == {'Nats-Msg-Id':'binance.BTCUSDT.1h.1-2','X-Twice':['a','b']}")" = True ]
check "tap: unknown subject, JSON payload kept as JSON" [ "$(jq_py "$tmp/tap.out" "lines[2]['payload'] == {'hello':'world'}")" = True ]
check "tap: undecodable payload shows decode_error + bytes" [ "$(jq_py "$tmp/tap.out" "lines[3]['payload'] is None and 'Alert' in lines[3]['decode_error'] and lines[3]['bytes'] == 19")" = True ]
[ -n "$expect_status$expect_batch" ]

# ---- tap --raw --------------------------------------------------------------------
"$CTL" tap 'coin.status.>' --raw --count 1 --timeout 20 >"$tmp/raw.out" 2>"$tmp/raw.err" &
tap_pid=$!; pids+=($tap_pid)
$NATSC "$MON_PORT" subs 'coin.status.>'
$NATSC "$NATS_PORT" pub coin.status.binance.ETHUSDT.1d "$tmp/status.bin"
wait_exit $tap_pid 20
check "tap --raw exits 0" [ "$rc" = 0 ]
check "tap --raw: base64 of the exact bytes, no payload" [ "$(jq_py "$tmp/raw.out" "lines[0]['payload_base64'] == __import__('base64').b64encode(open('$tmp/status.bin','rb').read()).decode() and 'payload' not in lines[0]")" = True ]

# ---- tap --all through JetStream ---------------------------------------------------
$NATSC "$NATS_PORT" stream COIN_CANDLES 'coin.candles.>'
$NATSC "$NATS_PORT" jspub coin.candles.binance.BTCUSDT.1h "$tmp/batch.bin" -H "Nats-Msg-Id:m1"
$NATSC "$NATS_PORT" jspub coin.candles.binance.BTCUSDT.1h "$tmp/batch.bin" -H "Nats-Msg-Id:m2"
rc=0; "$CTL" tap 'coin.candles.>' --all --count 2 --timeout 20 >"$tmp/js.out" 2>"$tmp/js.err" || rc=$?
check "tap --all exits 0" [ "$rc" = 0 ]
check "tap --all: stream sequences 1,2 with timestamps" [ "$(jq_py "$tmp/js.out" "[l['sequence'] for l in lines] == [1,2] and all(l['timestamp'].endswith('Z') for l in lines) and lines[1]['headers']['Nats-Msg-Id'] == 'm2'")" = True ]
rc=0; "$CTL" tap 'coin.nostream.>' --all --count 1 --timeout 5 >/dev/null 2>"$tmp/e" || rc=$?
check "tap --all on a subject without stream: exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ]"

# ---- tap timeouts ---------------------------------------------------------------
rc=0; "$CTL" tap coin.quiet --count 1 --timeout 0.5 >"$tmp/q.out" 2>"$tmp/e" || rc=$?
check "tap --count with timeout first: exit 1, one line" bash -c "[ $rc -eq 1 ] && grep -q 'timeout after 0.5 s with 0 of 1' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rc=0; "$CTL" tap coin.quiet --timeout 0.3 >"$tmp/q.out" 2>"$tmp/e" || rc=$?
check "tap --timeout alone: exit 0, no output" bash -c "[ $rc -eq 0 ] && [ ! -s '$tmp/q.out' ] && [ ! -s '$tmp/e' ]"

# ---- watermarks -------------------------------------------------------------------
rc=0; "$CTL" watermarks 2>"$tmp/e" || rc=$?
check "watermarks without bucket: exit 1, one line" bash -c "[ $rc -eq 1 ] && grep -q 'coin_watermarks does not exist' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
$NATSC "$NATS_PORT" kv coin_watermarks
now_ms=$(($(date +%s) * 1000))
h=3600000
last_h=$(( (now_ms / h - 1) * h ))          # last closed 1h candle
ing=$((last_h - 2 * h))                     # ingest 2 candles behind the clock
pub=$((ing - 3 * h))                        # publish 3 candles behind ingest
$NATSC "$NATS_PORT" kvput coin_watermarks ingest.binance.BTCUSDT.1h "$ing"
$NATSC "$NATS_PORT" kvput coin_watermarks publish.binance.BTCUSDT.1h "$pub"
$NATSC "$NATS_PORT" kvput coin_watermarks ingest.binance.ETHUSDT.1d 1700006400000
$NATSC "$NATS_PORT" kvput coin_watermarks ingest.binance.XRPUSDT.1h garbage
$NATSC "$NATS_PORT" kvput coin_watermarks ingest.other.BTCUSDT.1h "$ing"
$NATSC "$NATS_PORT" kvput coin_watermarks unrelated.key 1
rc=0; "$CTL" watermarks --json >"$tmp/wm.json" 2>"$tmp/e" || rc=$?
check "watermarks --json exits 0" [ "$rc" = 0 ]
check "watermarks --json: 3 binance series, sorted" [ "$(jq_py "$tmp/wm.json" "[(s['symbol'], s['timeframe']) for s in lines[0]] == [('BTCUSDT','1h'),('ETHUSDT','1d'),('XRPUSDT','1h')]")" = True ]
check "watermarks --json: lag 3, behind 2" [ "$(jq_py "$tmp/wm.json" "(lines[0][0]['lag_candles'], lines[0][0]['ingest_behind_candles'], lines[0][0]['ingest_watermark_ms'], lines[0][0]['publish_watermark_ms']) == (3, 2, $ing, $pub)")" = True ]
check "watermarks --json: missing publish is null" [ "$(jq_py "$tmp/wm.json" "lines[0][1]['publish_watermark_ms'] is None and lines[0][1]['lag_candles'] is None and lines[0][1]['ingest_watermark'] == '2023-11-15T00:00:00.000Z'")" = True ]
check "watermarks --json: invalid value reported" [ "$(jq_py "$tmp/wm.json" "lines[0][2]['ingest_error'] == 'invalid:garbage' and lines[0][2]['ingest_watermark_ms'] is None")" = True ]
"$CTL" watermarks >"$tmp/wm.txt" 2>"$tmp/e"
check "watermarks table: header + 3 rows" bash -c "head -1 '$tmp/wm.txt' | grep -q '^SERIES  *INGEST  *PUBLISH  *LAG  *BEHIND' && [ \$(wc -l <'$tmp/wm.txt') -eq 4 ]"
check "watermarks table: BTCUSDT row lag 3 behind 2" bash -c "grep -E '^binance/BTCUSDT/1h .* 3 +2\$' '$tmp/wm.txt' >/dev/null"
check "watermarks --exchange other" bash -c "'$CTL' watermarks --exchange other --json | grep -q '\"exchange\":\"other\"'"
check "watermarks --symbol/--timeframe filter" [ "$("$CTL" watermarks --json --symbol ETHUSDT --timeframe 1d | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ]

# ---- wait-backfill ------------------------------------------------------------------
# BTCUSDT/1h is 2 candles behind (not done with --max-behind 1), ETHUSDT/1d
# far behind, XRPUSDT/1h undecodable: a timeout naming what is missing.
rc=0; as_role train "$CTL" wait-backfill --symbols BTCUSDT,XRPUSDT --timeframes 1h --timeout 1 >"$tmp/wb.out" 2>"$tmp/e" || rc=$?
check "wait-backfill: timeout exit 1" [ "$rc" = 1 ]
check "wait-backfill: names the missing series" bash -c "grep -q 'timeout after 1 s: 0/2 series backfilled; still missing: BTCUSDT/1h XRPUSDT/1h' '$tmp/e'"
rc=0; as_role train "$CTL" wait-backfill --symbols BTCUSDT --timeframes 1h --max-behind 2 --timeout 5 >"$tmp/wb.out" 2>"$tmp/e" || rc=$?
check "wait-backfill: 2 behind is done with --max-behind 2" bash -c "[ $rc = 0 ] && grep -q '^all 1 series backfilled' '$tmp/wb.out'"
# the watermark reaches the clock while it waits
( sleep 1; $NATSC "$NATS_PORT" kvput coin_watermarks ingest.binance.BTCUSDT.1h "$last_h" ) &
pids+=($!)
rc=0; as_role train "$CTL" wait-backfill --symbols BTCUSDT --timeframes 1h --timeout 20 >"$tmp/wb.out" 2>"$tmp/e" || rc=$?
check "wait-backfill: returns once the watermark arrives" bash -c "[ $rc = 0 ] && grep -q '^all 1 series backfilled' '$tmp/wb.out' && grep -q '0/1 series' '$tmp/e' && grep -q '1/1 series' '$tmp/e'"
$NATSC "$NATS_PORT" kvput coin_watermarks ingest.binance.BTCUSDT.1h "$ing"
rc=0; SYMBOLS= "$CTL" wait-backfill --timeout 1 2>"$tmp/e" || rc=$?
check "wait-backfill: no symbols is a usage error" bash -c "[ $rc = 2 ] && grep -q 'no symbols' '$tmp/e'"

# ---- status (fixture monitor) -----------------------------------------------------
mkdir -p "$tmp/mon-ok" "$tmp/mon-bad" "$tmp/mon-junk"
# The shape coin-monitor serves (services/monitor/endpoints.c): "status",
# "watermarks":{"ingest_ms","ingest",...}, "last_alert" with "at".
cat >"$tmp/mon-ok/status" <<'EOF'
{"schema_version":1,"generated_at":"2026-01-01T00:00:00.000Z","overall":{"status":"soft_stale"},"series":[
 {"exchange":"binance","symbol":"BTCUSDT","timeframe":"1h","status":"fresh","escalated":false,
  "since_ms":1767225600000,"since":"2026-01-01T00:00:00.000Z",
  "degraded":true,"degraded_reasons":["no_model"],
  "watermarks":{"ingest_ms":1767222000000,"ingest":"2025-12-31T23:00:00.000Z",
                "publish_ms":1767222000000,"publish":"2025-12-31T23:00:00.000Z"},
  "last_alert":null},
 {"exchange":"binance","symbol":"ETHUSDT","timeframe":"1d","status":"soft_stale","escalated":false,
  "since_ms":1767225600000,"since":"2026-01-01T00:00:00.000Z",
  "degraded":false,"degraded_reasons":[],
  "watermarks":{"ingest_ms":1767139200000,"ingest":"2025-12-31T00:00:00.000Z","publish_ms":null,"publish":null},
  "last_alert":{"alertname":"CoinSoftStale","severity":"warning","status":"firing","at_ms":1767225600000,
                "at":"2026-01-01T00:00:00.000Z"}}]}
EOF
sed 's/"soft_stale"/"hard_stale_escalated"/' "$tmp/mon-ok/status" >"$tmp/mon-bad/status"
echo 'this is not json' >"$tmp/mon-junk/status"
for d in ok bad junk; do
  port=$(free_port)
  $PY -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/mon-$d" \
    >"$tmp/http-$d.log" 2>&1 &
  pids+=($!)
  eval "port_$d=$port"
done
for d in ok bad junk; do
  p="port_$d"
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:${!p}/status" >/dev/null 2>&1 && break
    sleep 0.05
  done
done
rc=0; "$CTL" status --url "http://127.0.0.1:$port_ok" >"$tmp/st.txt" 2>"$tmp/e" || rc=$?
check "status: all served -> exit 0" [ "$rc" = 0 ]
check "status table: header and two rows" bash -c "head -1 '$tmp/st.txt' | grep -q '^SERIES  *STATE  *SINCE  *DEGRADED  *INGEST  *PUBLISH  *LAST ALERT' && [ \$(wc -l <'$tmp/st.txt') -eq 3 ]"
check "status table: degraded reasons and last alert" bash -c "grep -q 'yes (no_model)' '$tmp/st.txt' && grep -q 'CoinSoftStale/warning/firing 2026-01-01T00:00:00.000Z' '$tmp/st.txt'"
check "status table: watermarks, missing publish as -" bash -c "grep -E '^binance/ETHUSDT/1d +soft_stale +2026-01-01T00:00:00.000Z +no +2025-12-31T00:00:00.000Z +- ' '$tmp/st.txt' >/dev/null"
check "status table: no colour when not a TTY" bash -c "! grep -q \$'\\033' '$tmp/st.txt'"
rc=0; MONITOR_HTTP_ADDR="127.0.0.1:$port_bad" "$CTL" status >"$tmp/st.txt" 2>"$tmp/e" || rc=$?
check "status: hard_stale -> exit 3 (MONITOR_HTTP_ADDR)" [ "$rc" = 3 ]
rc=0; "$CTL" status --json --url "http://127.0.0.1:$port_bad/status" >"$tmp/st.json" 2>"$tmp/e" || rc=$?
check "status --json: passthrough, exit 3" bash -c "[ $rc -eq 3 ] && cmp -s '$tmp/st.json' '$tmp/mon-bad/status'"
rc=0; "$CTL" status --url "http://127.0.0.1:$port_junk" >/dev/null 2>"$tmp/e" || rc=$?
check "status: not JSON -> exit 1, one line" bash -c "[ $rc -eq 1 ] && grep -q 'not JSON at line 1' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rc=0; "$CTL" status --url "http://127.0.0.1:$dead" >/dev/null 2>"$tmp/e" || rc=$?
check "status: monitor down -> exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ]"

# ---- backfill ---------------------------------------------------------------------
# A fake coin-ingest (logged in as coin-ingest): tap the request (decoded by
# coinctl tap), then answer on the Coin-Reply-To subject with progress lines.
respond() { # respond FINAL_STATE: serves one request
  as_role ingest "$CTL" tap coin.control.backfill --count 1 --timeout 20 >"$tmp/req.out" 2>"$tmp/req.err" &
  req_pid=$!; pids+=($req_pid)
  $NATSC "$MON_PORT" subs coin.control.backfill
}
answer() { # answer FINAL_STATE [ERROR]
  wait_exit $req_pid 20
  [ "$rc" = 0 ] || { bad "fake ingest saw no request"; return; }
  reply=$(jq_py "$tmp/req.out" "lines[0]['headers']['Coin-Reply-To']")
  rid=$(jq_py "$tmp/req.out" "lines[0]['payload']['request_id']")
  printf '{"request_id":"%s","done":0,"total":10,"state":"accepted"}' "$rid" >"$tmp/r1"
  printf '{"request_id":"other","done":9,"total":9,"state":"done"}' >"$tmp/r2"
  printf '{"request_id":"%s","done":5,"total":10,"state":"running"}' "$rid" >"$tmp/r3"
  if [ "$1" = done ]; then
    printf '{"request_id":"%s","done":10,"total":10,"state":"done"}' "$rid" >"$tmp/r4"
  else
    printf '{"request_id":"%s","done":5,"total":10,"state":"failed","error":"%s"}' "$rid" "$2" >"$tmp/r4"
  fi
  for r in r1 r2 r3 r4; do as_role ingest $NATSC "$NATS_PORT" pub "$reply" "$tmp/$r"; done
}

respond
"$CTL" backfill --symbol BTCUSDT --timeframe 1h --from 2024-01-01T05:30 \
  --to 2024-01-01T14:00Z --reply-timeout 20 >"$tmp/bf.out" 2>"$tmp/bf.err" &
bf_pid=$!; pids+=($bf_pid)
answer done
wait_exit $bf_pid 20
check "backfill done: exit 0" [ "$rc" = 0 ]
check "backfill: request decoded with floored range" [ "$(jq_py "$tmp/req.out" "(lambda p: (p['type'], p['symbol'], p['timeframe'], p['exchange'], p['from_ms'], p['to_ms']))(lines[0]['payload'])")" = "('BackfillRequest', 'BTCUSDT', '1h', 'binance', 1704085200000, 1704117600000)" ]
check "backfill: reply subject carries the request id" [ "$(jq_py "$tmp/req.out" "lines[0]['headers']['Coin-Reply-To'] == 'coin.control.backfill.reply.' + lines[0]['payload']['request_id'] == 'coin.control.backfill.reply.' + lines[0]['headers']['Coin-Request-Id']")" = True ]
check "backfill --json (not a TTY): own progress lines, other ids ignored" [ "$(jq_py "$tmp/bf.out" "[l['state'] for l in lines]")" = "['accepted', 'running', 'done']" ]

respond
rc=0
"$CTL" backfill --symbol BTCUSDT --timeframe 1d --from 2024-01-01 --to 2024-01-10 \
  --reply-timeout 20 >"$tmp/bf.out" 2>"$tmp/bf.err" &
bf_pid=$!; pids+=($bf_pid)
answer failed "exchange answered 400 Invalid symbol."
wait_exit $bf_pid 20
check "backfill failed: exit 1, one line with the reason" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/bf.err') -eq 1 ] && grep -q 'failed after 5 of 10 candles: exchange answered 400 Invalid symbol.' '$tmp/bf.err'"

rc=0; "$CTL" backfill --symbol BTCUSDT --timeframe 1h --from 2024-01-01 --reply-timeout 0.5 \
  >/dev/null 2>"$tmp/e" || rc=$?
check "backfill without coin-ingest: exit 1, one line" bash -c "[ $rc -eq 1 ] && grep -q 'no reply on coin.control.backfill.reply.' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rid=$("$CTL" backfill --symbol BTCUSDT --timeframe 1h --from 2024-01-01 --no-wait 2>"$tmp/e")
check "backfill --no-wait prints the request id" bash -c "echo '$rid' | grep -Eq '^coinctl-[A-Za-z0-9_:-]+\$'"

# ---- model (registry in KV coin_models) ----------------------------------------------
rc=0; "$CTL" model ls 2>"$tmp/e" || rc=$?
check "model ls without registry: exit 1, one line" bash -c "[ $rc -eq 1 ] && grep -q 'no model registry' '$tmp/e' && [ \$(wc -l <'$tmp/e') -eq 1 ]"
rc=0; "$CTL" model frob 2>"$tmp/e" || rc=$?
check "model: unknown subcommand is a usage error" bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$tmp/e') -eq 1 ]"
# The codec sample's version has a '.', which the registry refuses for
# aliases (a version is one subject token): same length, '-' instead.
"$CODEC" pack model | $PY -c 'import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().replace(b"xgboost.7", b"xgboost-7"))' >"$tmp/model.bin"
$NATSC "$NATS_PORT" kv coin_models
$NATSC "$NATS_PORT" kvputfile coin_models model.m-20231114-xgboost-7 "$tmp/model.bin"
$NATSC "$NATS_PORT" kvput coin_models alias.champion m-20231114-xgboost-7
rc=0; "$CTL" model ls --json >"$tmp/models.json" 2>"$tmp/e" || rc=$?
check "model ls --json: exit 0" [ "$rc" = 0 ]
check "model ls --json: the model, its alias and metrics" [ "$(jq_py "$tmp/models.json" "(lines[0][0]['version'], lines[0][0]['kind'], lines[0][0]['aliases'], len(lines[0]), lines[0][0]['metrics']['baseline_mae'])")" = "('m-20231114-xgboost-7', 'xgboost', ['champion'], 1, 0.3)" ]
"$CTL" model ls >"$tmp/models.txt" 2>"$tmp/e" || true
check "model ls table: champion row with MAE vs persistence" bash -c "grep -Eq '^m-20231114-xgboost-7 +champion +champion +xgboost .* 0.333333 +0.3\$' '$tmp/models.txt'"
rc=0; "$CTL" model show champion >"$tmp/show.txt" 2>"$tmp/e" || rc=$?
check "model show champion" bash -c "[ $rc -eq 0 ] && grep -Eq '^version +m-20231114-xgboost.7\$' '$tmp/show.txt'"
rc=0; "$CTL" model show nosuch-version 2>"$tmp/e" || rc=$?
check "model show of a missing version: exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ]"

# ---- site: files judged by their own validity (no service needed) --------------
site="$tmp/site"
mkdir -p "$site/v1/binance/BTCUSDT/1h"
$PY - "$site" <<'EOF'
import json, sys
site = sys.argv[1]
gen, soft, hard = 1767225600000, 1767229320000, 1767229500000  # soft 01:02, hard 01:05
def doc(**kw):
    d = {"schema_version": 2, "generated_at_ms": gen, "exchange": "binance",
         "symbol": "BTCUSDT", "timeframe": "1h", "status": "fresh",
         "soft_stale_at_ms": soft, "hard_stale_at_ms": hard}
    d.update(kw)
    return json.dumps(d)
open(site + "/v1/binance/BTCUSDT/1h/history.json", "w").write(doc(candles=[]))
open(site + "/v1/binance/BTCUSDT/1h/prediction.json", "w").write(doc(prediction_status="no_model"))
open(site + "/manifest.json", "w").write(json.dumps({
    "schema_version": 2, "generated_at_ms": gen,
    "overall": {"status": "fresh", "soft_stale_at_ms": soft, "hard_stale_at_ms": hard},
    "series": [{"exchange": "binance", "symbol": "BTCUSDT", "timeframe": "1h",
                "files": [{"path": "v1/binance/BTCUSDT/1h/history.json"},
                          {"path": "v1/binance/BTCUSDT/1h/prediction.json"}]}]}))
EOF
rc=0; "$CTL" site --dir "$site" --now 2026-01-01T01:00:00Z >"$tmp/site.txt" 2>"$tmp/e" || rc=$?
check "site before the soft instant: exit 0, fresh now" bash -c "[ $rc -eq 0 ] && grep -Eq '^BTCUSDT/1h +v1/binance/BTCUSDT/1h/history.json +fresh +fresh ' '$tmp/site.txt'"
rc=0; "$CTL" site --dir "$site" --now 2026-01-01T01:03:00Z >"$tmp/site.txt" 2>"$tmp/e" || rc=$?
check "site after soft: soft_stale now, exit 0" bash -c "[ $rc -eq 0 ] && grep -Eq 'history.json +fresh +soft_stale ' '$tmp/site.txt'"
rc=0; "$CTL" site --dir "$site" --now 2026-01-01T01:05:01Z >"$tmp/site.txt" 2>"$tmp/e" || rc=$?
check "site after hard: hard_stale now, exit 3" bash -c "[ $rc -eq 3 ] && grep -Eq 'prediction.json +fresh +hard_stale ' '$tmp/site.txt' && grep -Eq '^\(site\) +manifest.json +fresh +hard_stale ' '$tmp/site.txt'"
echo '{"schema_version":2,' >"$site/v1/binance/BTCUSDT/1h/prediction.json"
rc=0; "$CTL" site --dir "$site" --now 2026-01-01T01:00:00Z >"$tmp/site.txt" 2>"$tmp/e" || rc=$?
check "site: a truncated file is corrupt, exit 3" bash -c "[ $rc -eq 3 ] && grep -Eq 'prediction.json +- +corrupt .*not JSON' '$tmp/site.txt'"
rc=0; "$CTL" site --dir "$tmp/nosite" 2>"$tmp/e" || rc=$?
check "site: no manifest: exit 1, one line" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/e') -eq 1 ] && grep -q manifest.json '$tmp/e'"

# ---- the role table refused nothing ---------------------------------------------
if grep -q 'Violation' "$tmp/nats.log"; then
  bad "nats-server refused something: $(grep 'Violation' "$tmp/nats.log" | head -3)"
else
  ok "nats-server refused nothing (every client logged in as its role)"
fi

echo "coinctl tests took $((SECONDS - start_s)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
