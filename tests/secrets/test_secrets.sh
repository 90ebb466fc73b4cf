#!/usr/bin/env bash
# test_secrets.sh: no secret leaves a service. Every binary in the build runs
# with every secret set to a distinctive value (NATS user:password in a URL
# list, InfluxDB token, webhook URL with a token query, webhook HMAC secret,
# Slack hook URL, Alertmanager URL with user-info):
# - against servers that are not there (the start-up failure path),
# - with --config-doc and --help,
# - coin-monitor against a real nats-server running the role table
#   deploy/nats/nats-permissions.conf, logged in as coin-monitor by the
#   user:password in its NATS_URL, its sinks pointing at closed ports
#   (delivery errors get logged), while /metrics, /status, /healthz, /readyz
#   and status.json are read; the server refuses it nothing;
# then greps everything they printed or served for each secret: none may
# appear. Also: an example placeholder secret is refused with one line naming
# the variable and never the value.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-secrets-XXXXXX")"
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
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# distinctive secrets: none of them can occur by chance
S_NATS_PW=natsPW7f3a9q
S_NATS_PW2=natsPW2b8c1z
S_INFLUX=influxTOKq93kd
S_HOOK=hookTOK5n2m8x
S_HMAC=hmacSECv7w2p4
S_SLACK=slackTOK3j9d6r
S_AM=amPWd4k8s1
SECRETS="$S_NATS_PW $S_NATS_PW2 $S_INFLUX $S_HOOK $S_HMAC $S_SLACK $S_AM"

# no_secret NAME FILE...: none of the secrets occurs in the files
no_secret() {
  local name="$1" s hit=""
  shift
  for s in $SECRETS; do
    if grep -l -- "$s" "$@" >/dev/null 2>&1; then hit="$hit $s($(grep -l -- "$s" "$@" | xargs -n1 basename | tr '\n' ' '))"; fi
  done
  if [ -z "$hit" ]; then ok "$name: no secret"; else bad "$name: leaked:$hit"; fi
}

dead1=$(free_port)
dead2=$(free_port)
dead3=$(free_port)
secret_env() { # secret_env NATS_PORT: the environment of every run
  echo "NATS_URL=nats://coin-monitor:$S_NATS_PW@127.0.0.1:$1,nats://bob:$S_NATS_PW2@127.0.0.1:$dead1"
  echo "INFLUX_URL=http://127.0.0.1:$dead2"
  echo "INFLUX_TOKEN=$S_INFLUX"
  echo "MONITOR_WEBHOOK_URLS=http://127.0.0.1:$dead3/hook?token=$S_HOOK&team=ops"
  echo "MONITOR_WEBHOOK_SECRET=$S_HMAC"
  echo "MONITOR_SLACK_URLS=http://127.0.0.1:$dead3/services/T0001/B0002/$S_SLACK"
  echo "MONITOR_ALERTMANAGER_URLS=http://am:$S_AM@127.0.0.1:$dead3"
  echo "MONITOR_ALERTMANAGER_RESEND_SECONDS=5"
  echo "MONITOR_EVAL_SECONDS=1"
  echo "SYMBOLS=BTCUSDT,ETHUSDT"
  echo "STATIC_DATA_DIR=$tmp/site"
  echo "LOG_LEVEL=debug"
}
mkdir -p "$tmp/site"

# ---- every binary: start-up failure, --config-doc, --help --------------------
bins=()
for b in "$COIN_BIN_DIR"/*; do [ -x "$b" ] && [ -f "$b" ] && bins+=("$b"); done
[ "${#bins[@]}" -ge 4 ] || { echo "FAIL: binaries missing in $COIN_BIN_DIR" >&2; exit 1; }
mapfile -t envs < <(secret_env "$(free_port)")
for b in "${bins[@]}"; do
  n=$(basename "$b")
  env "${envs[@]}" timeout 60 "$b" >"$tmp/$n.start.out" 2>&1 </dev/null || true
  env "${envs[@]}" timeout 20 "$b" --config-doc >"$tmp/$n.doc.out" 2>&1 </dev/null || true
  env "${envs[@]}" timeout 20 "$b" --help >"$tmp/$n.help.out" 2>&1 </dev/null || true
  no_secret "$n: start-up failure, --config-doc, --help" "$tmp/$n".*.out
done
# the failure path really ran and named the servers (redacted)
if grep -q "127.0.0.1:$dead1" "$tmp/coin-monitor.start.out"; then ok "coin-monitor's error names the NATS servers"; else bad "coin-monitor's start-up error does not name the servers: $(tail -2 "$tmp/coin-monitor.start.out")"; fi

# ---- placeholder secrets are refused ----------------------------------------------
for v in MONITOR_WEBHOOK_SECRET INFLUX_TOKEN; do
  out="$tmp/placeholder-$v.out"
  env "${envs[@]}" "$v=change-me-to-a-long-random-string" timeout 20 "$COIN_BIN_DIR/coin-monitor" >"$out" 2>&1 </dev/null && rc=0 || rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$v: the example placeholder value is not a secret" "$out" &&
     ! grep -q "change-me-to-a-long-random-string" "$out"; then
    ok "$v placeholder refused (exit $rc), value not echoed"
  else
    bad "$v placeholder: exit $rc: $(head -3 "$out")"
  fi
done
# the compose example file holds a placeholder: a monitor reading it refuses
out="$tmp/placeholder-file.out"
fenvs=()
for e in "${envs[@]}"; do case "$e" in MONITOR_WEBHOOK_SECRET=*) ;; *) fenvs+=("$e") ;; esac; done
env "${fenvs[@]}" MONITOR_WEBHOOK_SECRET_FILE="$COIN_SOURCE_DIR/deploy/compose/secrets/webhook_secret.example" \
  timeout 20 "$COIN_BIN_DIR/coin-monitor" >"$out" 2>&1 </dev/null && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q "MONITOR_WEBHOOK_SECRET: the example placeholder" "$out"; then
  ok "compose's webhook_secret.example is refused"
else
  bad "compose's example secret file accepted: exit $rc: $(head -3 "$out")"
fi

# ---- coin-monitor running against a real nats-server with the role table ----------
NATS_PORT=$(free_port)
NMON=$(free_port)
# coin-monitor's password is the distinctive one (nats-passwords.sh keeps an
# existing password file and generates the others)
conf="$tmp/nats-conf"
mkdir -p "$conf"
printf '%s\n' "$S_NATS_PW" >"$conf/nats-monitor.password"
"$COIN_SOURCE_DIR/scripts/nats-passwords.sh" "$conf"
cp "$COIN_SOURCE_DIR/deploy/nats/nats-permissions.conf" "$conf/"
/usr/sbin/nats-server -c "$conf/nats-permissions.conf" -js -a 127.0.0.1 \
  -p "$NATS_PORT" -m "$NMON" -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$NMON/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
mapfile -t envs < <(secret_env "$NATS_PORT")
HTTP=$(free_port)
env "${envs[@]}" MONITOR_HTTP_ADDR="127.0.0.1:$HTTP" "$COIN_BIN_DIR/coin-monitor" >"$tmp/run.out" 2>&1 &
mpid=$!
pids+=($mpid)
up=0
for _ in $(seq 1 200); do
  if curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$mpid" 2>/dev/null || break
  sleep 0.05
done
if [ "$up" -eq 1 ]; then ok "coin-monitor runs with the secrets (NATS auth accepted)"; else bad "coin-monitor did not start: $(tail -3 "$tmp/run.out")"; fi
# let sinks fail a few times (the site is empty: a fill; force an alert by a
# corrupt manifest, which alerts at once)
printf '{not json' >"$tmp/site/manifest.json"
sleep 8
for p in /metrics /status /healthz /readyz /status/binance/BTCUSDT/1m; do
  curl -s "http://127.0.0.1:$HTTP$p" >"$tmp/served$(echo "$p" | tr '/' '_').out" || true
done
cp "$tmp/site/status.json" "$tmp/served_status_file.out" 2>/dev/null || true
kill "$mpid" 2>/dev/null || true
wait "$mpid" 2>/dev/null || true
if grep -q "127.0.0.1:$dead3" "$tmp/run.out"; then ok "sink delivery errors were logged (with the host)"; else bad "no sink delivery error logged: the test did not exercise it"; fi
if grep -q "sink_failures_total" "$tmp/served_metrics.out"; then ok "/metrics served"; else bad "/metrics not served"; fi
if grep -q '"nats":true' "$tmp/served_readyz.out"; then ok "coin-monitor ready on NATS as coin-monitor"; else bad "coin-monitor not ready on NATS: $(head -c 300 "$tmp/served_readyz.out")"; fi
if grep -q 'Violation' "$tmp/nats.log"; then
  bad "nats-server refused coin-monitor: $(grep 'Violation' "$tmp/nats.log" | head -3)"
else
  ok "nats-server refused coin-monitor nothing"
fi
no_secret "running coin-monitor: logs, /metrics, /status, /readyz, status.json" "$tmp/run.out" "$tmp"/served*.out

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
