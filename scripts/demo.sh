#!/usr/bin/env bash
# demo.sh start|stop|status|clean: the whole coin-predict stack on 127.0.0.1.
# start: installs packages, builds, starts nats-server (JetStream), influxd,
# the exchange (live Binance when https://api.binance.com answers within 3 s,
# else coin-replay-exchange over recorded candles), coin-ingest, coin-publish,
# coin-monitor (each only when it is a real service), nginx serving the site,
# and, when coin-train exists, the first champion: it waits until every series
# is backfilled, trains, promotes through the gate's bootstrap path, and waits
# for the first 1h prediction on the site (bootstrap_model). Data under $DEMO_DIR (.demo/),
# PIDs in $DEMO_DIR/pids; stop ends exactly those PIDs. Every port and path
# can be overridden (DEMO_* variables below), so tests run beside a
# developer's demo.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
DEMO_DIR="${DEMO_DIR:-$repo/.demo}"
DEMO_BUILD_DIR="${DEMO_BUILD_DIR:-$repo/build}"
DEMO_BIN_DIR="${DEMO_BIN_DIR:-$DEMO_BUILD_DIR/bin}"
DEMO_DATA_DIR="${DEMO_DATA_DIR:-$repo/../shared/data/candles}"
DEMO_SKIP_BUILD="${DEMO_SKIP_BUILD:-0}"
DEMO_EXCHANGE="${DEMO_EXCHANGE:-auto}" # auto | live | replay
DEMO_SYMBOLS="${DEMO_SYMBOLS:-BTCUSDT,ETHUSDT}" # the recorded 1m candles exist for these two
DEMO_TIMEFRAMES="${DEMO_TIMEFRAMES:-1m,1h,1d,1w,1M}"
DEMO_NATS_PORT="${DEMO_NATS_PORT:-4222}"
DEMO_NATS_MON_PORT="${DEMO_NATS_MON_PORT:-8222}"
DEMO_INFLUX_PORT="${DEMO_INFLUX_PORT:-8086}"
DEMO_INFLUX_RPC_PORT="${DEMO_INFLUX_RPC_PORT:-8088}"
DEMO_REPLAY_PORT="${DEMO_REPLAY_PORT:-8099}"
DEMO_WEB_PORT="${DEMO_WEB_PORT:-8080}"
DEMO_INGEST_PORT="${DEMO_INGEST_PORT:-9101}"
DEMO_PUBLISH_PORT="${DEMO_PUBLISH_PORT:-9102}"
DEMO_MONITOR_PORT="${DEMO_MONITOR_PORT:-9103}"
DEMO_READY_SECONDS="${DEMO_READY_SECONDS:-30}"
DEMO_BOOTSTRAP="${DEMO_BOOTSTRAP:-1}" # 0: no first champion (no training)
DEMO_TRAIN_TIMEFRAMES="${DEMO_TRAIN_TIMEFRAMES:-1h,1d}"
DEMO_BACKFILL_TIMEOUT="${DEMO_BACKFILL_TIMEOUT:-600}"
DEMO_PREDICTION_TIMEOUT="${DEMO_PREDICTION_TIMEOUT:-120}"

pids_file="$DEMO_DIR/pids"
logs="$DEMO_DIR/logs"
site="$DEMO_DIR/site"

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

# A process counts as gone once it is a zombie: its parent (init or a
# subreaper) reaps it whenever it gets to it.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$st" != Z* ]]
}
# The process or anything left in its process group (not zombies).
alive_group() {
  alive "$1" && return 0
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

# record NAME PID: one line per started process, in start order.
record() { echo "$1 $2" >>"$pids_file"; }
# NATS credentials of a role (users coin-<role> of deploy/nats): as_role ROLE
# CMD... runs CMD logged in as that user.
nats_conf="$DEMO_DIR/nats-conf"
as_role() {
  local role="$1"; shift
  env NATS_USER="coin-$role" NATS_PASSWORD_FILE="$nats_conf/nats-$role.password" "$@"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# wait_http NAME PID URL [STATUS]: polls URL until it answers (STATUS, default
# any 2xx) or the process dies or DEMO_READY_SECONDS pass.
wait_http() {
  local name="$1" pid="$2" url="$3" want="${4:-2..}" deadline code
  deadline=$((SECONDS + DEMO_READY_SECONDS))
  while [ $SECONDS -lt $deadline ]; do
    alive "$pid" || { tail -n 5 "$logs/$name.log" >&2 || true; die "$name exited at start (log: $logs/$name.log)"; }
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null || true)
    if [[ "$code" =~ ^$want$ ]]; then return 0; fi
    sleep 0.2
  done
  tail -n 5 "$logs/$name.log" >&2 || true
  die "$name did not answer $url within ${DEMO_READY_SECONDS} s (log: $logs/$name.log)"
}

# is_service BIN: true when BIN is a real service, not the "not built yet"
# placeholder (which exits at once with that text).
is_service() {
  local bin="$1" out
  [ -x "$bin" ] || return 1
  out=$(timeout 5 "$bin" --help 2>&1 || true)
  ! grep -q "not built yet" <<<"$out"
}

# start NAME CMD...: starts CMD in the background with its log, records it.
# setsid: each process leads its own process group (its PID is the group's
# id), so stop also reaches what it spawned (nginx workers, the training
# steps) and a Ctrl-C in the terminal does not hit the demo.
start() {
  local name="$1"; shift
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
  local pid=$!
  record "$name" "$pid"
  echo "$pid"
}

# start_service NAME PORT PATH: coin-NAME as NATS user coin-NAME (its
# password file in $nats_conf), waited for on PORT's /healthz; says where
# PATH is served and appends NAME to the caller's started list.
start_service() {
  local name="$1" port="$2" path="$3" pid
  pid=$(start "$name" env NATS_USER="coin-$name" NATS_PASSWORD_FILE="$nats_conf/nats-$name.password" "$DEMO_BIN_DIR/coin-$name")
  wait_http "$name" "$pid" "http://127.0.0.1:$port/healthz"
  started+=("$name")
  say "$(printf '%-12s' "coin-$name") http://127.0.0.1:$port$path"
}

# start_service_if_built NAME PORT PATH WHY: start_service when coin-NAME is
# built, else a warning that it is skipped (WHY: what that means).
start_service_if_built() {
  if is_service "$DEMO_BIN_DIR/coin-$1"; then
    start_service "$1" "$2" "$3"
  else
    say "WARNING: coin-$1 is not built yet: skipped$4"
  fi
}

running_pids() {
  [ -f "$pids_file" ] || return 0
  while read -r name pid; do
    if alive "$pid"; then echo "$name $pid"; fi
  done <"$pids_file"
}

cmd_stop() {
  if [ ! -f "$pids_file" ]; then
    say "nothing to stop ($pids_file does not exist)"
    return 0
  fi
  # Reverse start order: readers before the servers they read from.
  local lines
  mapfile -t lines < <(tac "$pids_file")
  for line in "${lines[@]}"; do
    read -r name pid <<<"$line"
    # The group we started (setsid: group id = PID), else the PID alone.
    if alive_group "$pid"; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    local deadline=$((SECONDS + 10))
    while alive_group "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive_group "$pid"; then
      say "$name ($pid) did not stop in 10 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    # Reap it when it is our child (it is not after a separate `start`).
    wait "$pid" 2>/dev/null || true
    say "stopped $name ($pid)"
  done
  rm -f "$pids_file"
  say "stopped; data kept in $DEMO_DIR (scripts/demo.sh clean removes it)"
}

cmd_status() {
  if [ -z "$(running_pids)" ]; then
    say "not running"
    return 1
  fi
  running_pids | while read -r name pid; do say "$name running (pid $pid)"; done
}

write_nginx_conf() {
  mkdir -p "$DEMO_DIR/nginx/tmp"
  cat >"$DEMO_DIR/nginx/nginx.conf" <<EOF
# Generated by scripts/demo.sh: serves the site ($site) with the page from
# web/ as fallback, on 127.0.0.1:$DEMO_WEB_PORT. Not for production: see
# deploy/ for that.
daemon off;
worker_processes 1;
pid $DEMO_DIR/nginx/nginx.pid;
error_log $logs/nginx-error.log warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log $logs/nginx-access.log;
  client_body_temp_path $DEMO_DIR/nginx/tmp/body;
  proxy_temp_path $DEMO_DIR/nginx/tmp/proxy;
  fastcgi_temp_path $DEMO_DIR/nginx/tmp/fastcgi;
  uwsgi_temp_path $DEMO_DIR/nginx/tmp/uwsgi;
  scgi_temp_path $DEMO_DIR/nginx/tmp/scgi;
  gzip on;
  gzip_types application/json text/css application/javascript;
  server {
    listen 127.0.0.1:$DEMO_WEB_PORT;
    root $site;
    location / {
      try_files \$uri \$uri/index.html @web;
    }
    location ~ \.json\$ {
      add_header Cache-Control "no-cache" always;
      try_files \$uri =404;
    }
    location @web {
      root $repo/web;
      try_files \$uri \$uri/index.html =404;
    }
  }
}
EOF
}

# first_prediction: true when the site holds a 1h prediction with values
# (prediction_status "served", predicted_close a number); prints its file.
first_prediction() {
  python3 - "$site" <<'EOF2'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "v1", "*", "*", "1h", "prediction.json"))):
    try:
        d = json.load(open(f))
    except (OSError, ValueError):
        continue
    if d.get("prediction_status") == "served" and isinstance(d.get("predicted_close"), (int, float)):
        print(f)
        sys.exit(0)
sys.exit(1)
EOF2
}

# bootstrap_model: the first champion, in the foreground. Waits until every
# series' first fill is done (coinctl wait-backfill reads the ingest
# watermarks in KV coin_watermarks), trains a challenger on 1h and 1d (a week
# of 1m candles is mostly noise), and brings it in with `coin-train promote
# --bootstrap`: with no champion and no realized predictions yet, the
# walk-forward evidence stands in for shadow evidence (docs/models.md). Then
# waits for the first 1h prediction with values in the site files and says
# how long it took from the start. A registry that already has a champion
# (a second `make demo` on the same DEMO_DIR) is left alone.
bootstrap_model() {
  local train="as_role train $DEMO_BIN_DIR/coin-train" ctl="as_role train $DEMO_BIN_DIR/coinctl"
  if $train show champion >/dev/null 2>&1; then
    say "a champion is registered already ($DEMO_DIR): no bootstrap training"
    verdict="champion kept"
  else
    say "waiting for the first fill of every series (coinctl wait-backfill, at most ${DEMO_BACKFILL_TIMEOUT} s)"
    $ctl wait-backfill --timeout "$DEMO_BACKFILL_TIMEOUT" 2>>"$logs/train.log" ||
      { tail -n 3 "$logs/train.log" >&2; die "the first fill did not finish in ${DEMO_BACKFILL_TIMEOUT} s (log: $logs/ingest.log)"; }
    say "backfill done after $((SECONDS - demo_start_s)) s; training (log: $logs/train.log)"
    if ! $train train --policy always --timeframes "$DEMO_TRAIN_TIMEFRAMES" >>"$logs/train.log" 2>&1; then
      # Too little history (a short INGEST_LOOKBACK_DAYS) is the usual cause:
      # the stack keeps running and serving candles, without a model.
      tail -n 3 "$logs/train.log" | sed 's/^/  /' >&2
      say "WARNING: coin-train train failed (log: $logs/train.log): no model, the page says"
      say "\"no champion model is registered yet\"; the candles are still published."
      verdict="none (training failed, see $logs/train.log)"
      return 0
    fi
    say "trained after $((SECONDS - demo_start_s)) s; the promotion gate (coin-train promote --bootstrap):"
    local rc=0
    $train promote --bootstrap >"$logs/promote.log" 2>>"$logs/train.log" || rc=$?
    sed 's/^/  /' "$logs/promote.log"
    if [ "$rc" = 4 ]; then
      verdict="REFUSED by the gate (see above)"
      say "the gate refused the model: it is significantly worse than persistence on the"
      say "walk-forward evidence, so it is not served. The page says \"no champion model is"
      say "registered yet\"; the candles are still published. Train again later, when more"
      say "history is in:  $train train && $train promote --bootstrap"
      return 0
    fi
    [ "$rc" = 0 ] || die "coin-train promote failed (exit $rc, log: $logs/promote.log)"
    verdict=$(sed -n 's/^coin-train promote: \([^ ]*\) -> [^:]*: /\1: /p' "$logs/promote.log" | head -n 1)
  fi
  say "waiting for the first 1h prediction in the site files (at most ${DEMO_PREDICTION_TIMEOUT} s)"
  local deadline=$((SECONDS + DEMO_PREDICTION_TIMEOUT)) f=""
  while [ $SECONDS -lt "$deadline" ]; do
    if f=$(first_prediction); then break; fi
    f=""
    sleep 0.5
  done
  [ -n "$f" ] || die "no 1h prediction with values in $site within ${DEMO_PREDICTION_TIMEOUT} s (log: $logs/publish.log)"
  first_s=$((SECONDS - demo_start_s))
  say "first 1h prediction with values after ${first_s} s: ${f#"$site"/}"
}

cmd_start() {
  mkdir -p "$DEMO_DIR" "$logs" "$site"
  if [ -n "$(running_pids)" ]; then
    die "already running (pids in $pids_file); make demo-stop first"
  fi
  rm -f "$pids_file"
  [ -d "$DEMO_DATA_DIR" ] || die "candle data directory $DEMO_DATA_DIR does not exist (set DEMO_DATA_DIR)"

  if [ "$DEMO_SKIP_BUILD" != 1 ]; then
    say "checking packages (scripts/install-deps.sh)"
    "$repo/scripts/install-deps.sh"
    say "building into $DEMO_BUILD_DIR"
    cmake -S "$repo" -B "$DEMO_BUILD_DIR" >/dev/null
    cmake --build "$DEMO_BUILD_DIR" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
  fi
  demo_start_s=$SECONDS # the clock of "first prediction after N s": after the build
  for b in coin-ingest coin-replay-exchange coinctl; do
    [ -x "$DEMO_BIN_DIR/$b" ] || die "$DEMO_BIN_DIR/$b missing (build first)"
  done

  # Refuse early and clearly when a port is taken.
  for v in DEMO_NATS_PORT DEMO_NATS_MON_PORT DEMO_INFLUX_PORT DEMO_INFLUX_RPC_PORT \
           DEMO_REPLAY_PORT DEMO_WEB_PORT DEMO_INGEST_PORT DEMO_PUBLISH_PORT DEMO_MONITOR_PORT; do
    port_free "${!v}" || die "port ${!v} on 127.0.0.1 is in use (set $v to another port)"
  done

  # ---- exchange: live when reachable, else the replay ----
  local exchange_url mode="$DEMO_EXCHANGE"
  if [ "$mode" = auto ]; then
    if curl -s -m 3 -o /dev/null -w '%{http_code}' https://api.binance.com/api/v3/ping 2>/dev/null | grep -q '^200$'; then
      mode=live
    else
      mode=replay
      say "the live Binance API (https://api.binance.com) is unreachable from here:"
      say "using coin-replay-exchange over the recorded candles in $DEMO_DATA_DIR instead"
    fi
  fi

  # ---- nats-server with JetStream ----
  local pid
  mkdir -p "$DEMO_DIR/nats"
  # NATS users and permissions (docs/bus.md "Permissions"): the role table
  # of deploy/nats next to random passwords generated once per DEMO_DIR.
  "$repo/scripts/nats-passwords.sh" "$nats_conf"
  cp "$repo/deploy/nats/nats-permissions.conf" "$nats_conf/nats-permissions.conf"
  pid=$(start nats /usr/sbin/nats-server -c "$nats_conf/nats-permissions.conf" \
    -a 127.0.0.1 -p "$DEMO_NATS_PORT" \
    -m "$DEMO_NATS_MON_PORT" -js -sd "$DEMO_DIR/nats" -n coin-demo)
  wait_http nats "$pid" "http://127.0.0.1:$DEMO_NATS_MON_PORT/healthz"
  say "nats-server  nats://127.0.0.1:$DEMO_NATS_PORT (JetStream, monitoring :$DEMO_NATS_MON_PORT)"

  # ---- influxd ----
  mkdir -p "$DEMO_DIR/influx"
  "$repo/scripts/influx-conf.sh" "$DEMO_DIR/influx/influxdb.conf" \
    "$DEMO_DIR/influx" "$DEMO_INFLUX_PORT" "$DEMO_INFLUX_RPC_PORT"
  pid=$(start influxd influxd run -config "$DEMO_DIR/influx/influxdb.conf")
  wait_http influxd "$pid" "http://127.0.0.1:$DEMO_INFLUX_PORT/ping" 204
  say "influxd      http://127.0.0.1:$DEMO_INFLUX_PORT (database coin)"

  if [ "$mode" = replay ]; then
    pid=$(start replay "$DEMO_BIN_DIR/coin-replay-exchange" \
      --listen "127.0.0.1:$DEMO_REPLAY_PORT" --data "$DEMO_DATA_DIR" \
      --symbols "$DEMO_SYMBOLS")
    wait_http replay "$pid" "http://127.0.0.1:$DEMO_REPLAY_PORT/api/v3/ping"
    exchange_url="http://127.0.0.1:$DEMO_REPLAY_PORT"
    say "exchange     $exchange_url (coin-replay-exchange, recorded Binance candles shifted to now)"
  else
    exchange_url="https://api.binance.com"
    say "exchange     $exchange_url (live)"
  fi

  # ---- the services: shared configuration ----
  export NATS_URL="nats://127.0.0.1:$DEMO_NATS_PORT"
  export INFLUX_URL="http://127.0.0.1:$DEMO_INFLUX_PORT"
  export INFLUX_DB="${INFLUX_DB:-coin}"
  export EXCHANGE=binance
  export EXCHANGE_BASE_URL="$exchange_url"
  export SYMBOLS="$DEMO_SYMBOLS"
  export PRIMARY_TIMEFRAME="${PRIMARY_TIMEFRAME:-1h}"
  export INGEST_TIMEFRAMES="$DEMO_TIMEFRAMES"
  export ENABLE_MULTI_TIMEFRAMES=true
  export STATIC_DATA_DIR="$site"
  # the page shows a "recorded data" banner while the replay exchange serves
  if [ "$mode" = replay ]; then export SITE_DATA_SOURCE=recorded; else export SITE_DATA_SOURCE=live; fi
  export INGEST_HTTP_ADDR="127.0.0.1:$DEMO_INGEST_PORT"
  export PUBLISH_HTTP_ADDR="127.0.0.1:$DEMO_PUBLISH_PORT"
  export MONITOR_HTTP_ADDR="127.0.0.1:$DEMO_MONITOR_PORT"
  # alert links point at the page, and the availability probe fetches the
  # site through nginx as a browser does (its first probes may find nginx
  # not started yet; a burn rule needs its short window covered first)
  export MONITOR_SITE_URL="http://127.0.0.1:$DEMO_WEB_PORT/"
  export SERVICE_ID="${SERVICE_ID:-demo}"
  export LOG_LEVEL="${LOG_LEVEL:-info}"
  # the demo's publish looks for a new champion every 5 s (default 30)
  export PUBLISH_MODEL_CHECK_SECONDS="${PUBLISH_MODEL_CHECK_SECONDS:-5}"

  local started=()
  start_service ingest "$DEMO_INGEST_PORT" /metrics
  start_service_if_built publish "$DEMO_PUBLISH_PORT" /metrics " (the site will have no series)"
  start_service_if_built monitor "$DEMO_MONITOR_PORT" /status ""

  write_nginx_conf
  # As root, nginx's workers run as "nobody": they must be able to read the
  # site and the page (a private DEMO_DIR such as mktemp -d's is not).
  if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1; then
    for d in "$site" "$repo/web"; do
      runuser -u nobody -- test -r "$d" -a -x "$d" 2>/dev/null ||
        die "nginx's workers (user nobody) cannot read $d: make it and its parents world-readable (chmod o+rx) or choose another DEMO_DIR"
    done
  fi
  pid=$(start nginx nginx -c "$DEMO_DIR/nginx/nginx.conf" -p "$DEMO_DIR/nginx" -e "$logs/nginx-error.log")
  wait_http nginx "$pid" "http://127.0.0.1:$DEMO_WEB_PORT/"

  # ---- the first champion (docs/operations.md "First run") ----
  local verdict="" first_s=""
  if [ "$DEMO_BOOTSTRAP" = 1 ] && is_service "$DEMO_BIN_DIR/coin-train"; then
    bootstrap_model
  elif [ "$DEMO_BOOTSTRAP" = 1 ]; then
    say "WARNING: coin-train is not built yet: no model (predictions say no_model)"
  fi

  local admin="NATS_USER=coin-admin NATS_PASSWORD_FILE=$nats_conf/nats-admin.password"
  local ctl="$admin $DEMO_BIN_DIR/coinctl --nats $NATS_URL"
  cat <<EOF

coin-predict demo is running (${started[*]}).
  site      http://127.0.0.1:$DEMO_WEB_PORT/
  model     ${verdict:-none (no bootstrap)}${first_s:+
  first 1h prediction on the site ${first_s} s after the start (build excluded)}
  status    http://127.0.0.1:$DEMO_MONITOR_PORT/status
  NATS      $NATS_URL      InfluxDB $INFLUX_URL      exchange $exchange_url
  NATS users coin-ingest, coin-publish, coin-monitor, coin-train, coin-admin
            (deploy/nats/nats-permissions.conf; passwords in $nats_conf)
  data      $DEMO_DIR (logs in $logs)
Try:
  $ctl tap                # every message, decoded
  $ctl watermarks         # ingest vs publish per series
  $ctl status --url http://127.0.0.1:$DEMO_MONITOR_PORT
  $admin NATS_URL=$NATS_URL $DEMO_BIN_DIR/coin-train show champion   # the model and its gate evidence
Stop with: make demo-stop   (or scripts/demo.sh stop)
EOF
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
clean)
  [ -z "$(running_pids)" ] || die "still running; make demo-stop first"
  rm -rf "$DEMO_DIR"
  say "removed $DEMO_DIR"
  ;;
*)
  echo "usage: scripts/demo.sh start|stop|status|clean" >&2
  exit 2
  ;;
esac
