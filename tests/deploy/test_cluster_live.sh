#!/usr/bin/env bash
# test_cluster_live.sh: the deployed NATS cluster configuration with the real
# services. Three nats-servers run deploy/nats/nats-cluster.conf (the role
# table of nats-permissions.conf plus authenticated routes from
# scripts/nats-routes.sh) on loopback with free ports; two coin-monitor and
# two coin-publish log in as their users with NATS_URL listing the three and
# NATS_REPLICAS=3, as the k8s and compose cluster run them. Checks: one
# active and one standby of each, every stream and KV bucket they create has
# 3 replicas, the leader of KV coin_locks SIGKILLed: one active and one
# standby of each again (the lease is fenced during the election), the active
# monitor and then publish SIGKILLed: the standby takes over (the time is
# printed; the lease's own bounds are the services' tests), and no permission
# violation in any server's log. Processes stopped by PID.
set -euo pipefail
: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"
src="$COIN_SOURCE_DIR"
for b in /usr/sbin/nats-server "$COIN_BIN_DIR/coin-monitor" "$COIN_BIN_DIR/coin-publish"; do
  [ -x "$b" ] || { echo "FAIL: $b missing (build the services; Debian package nats-server)" >&2; exit 1; }
done
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-cluster-live-XXXXXX")"
pids=()
cleanup() { # the services first (they release their leases), then the servers
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "${failed:-0}" -gt 0 ]; then # what the services said, for the failure
    for p in "$tmp"/*.log; do
      [ -f "$p" ] && { echo "--- $(basename "$p") (last lines)"; tail -4 "$p"; }
    done
  fi
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
LEASE=3

# ---- the cluster ----------------------------------------------------------------
"$src/scripts/nats-passwords.sh" "$tmp/sec"
rport=() cport=() mport=() npid=()
for i in 0 1 2; do rport[i]=$(free_port); cport[i]=$(free_port); mport[i]=$(free_port); done
"$src/scripts/nats-routes.sh" "$tmp/sec" "127.0.0.1:${rport[0]}" "127.0.0.1:${rport[1]}" "127.0.0.1:${rport[2]}"
node_start() { # I: node I on its own config copy (its route port in listen)
  local i=$1 d="$tmp/n$1"
  mkdir -p "$d/etc" "$d/data"
  cp "$tmp/sec/nats-passwords.conf" "$tmp/sec/nats-routes.conf" "$src/deploy/nats/nats-permissions.conf" "$d/etc/"
  sed "s/^  listen: 0\.0\.0\.0:6222$/  listen: 127.0.0.1:${rport[i]}/" "$src/deploy/nats/nats-cluster.conf" >"$d/etc/nats-cluster.conf"
  grep -q "listen: 127.0.0.1:${rport[i]}" "$d/etc/nats-cluster.conf" || { echo "FAIL: no listen line in nats-cluster.conf" >&2; exit 1; }
  /usr/sbin/nats-server -c "$d/etc/nats-cluster.conf" -js -sd "$d/data" -m "${mport[i]}" -n "coin-nats-$i" \
    -a 127.0.0.1 -p "${cport[i]}" -l "$d/log" &
  npid[i]=$!
  pids+=("${npid[i]}")
}
for i in 0 1 2; do node_start "$i"; done
deadline=$((SECONDS + 30))
until [ "$(for i in 0 1 2; do curl -sf "http://127.0.0.1:${mport[i]}/healthz" >/dev/null && echo y; done | wc -l)" -eq 3 ]; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "FAIL: the cluster not healthy in 30 s" >&2; tail -3 "$tmp"/n*/log >&2; exit 1; }
  sleep 0.2
done
ok "three nats-servers on nats-cluster.conf: routed, JetStream healthy"

# ---- two monitors, two publishes ------------------------------------------------
mkdir -p "$tmp/site"
printf 'cluster-live-test-webhook-secret-0123456789' >"$tmp/webhook"
url="nats://127.0.0.1:${cport[0]},nats://127.0.0.1:${cport[1]},nats://127.0.0.1:${cport[2]}"
declare -A http svc_pid
svc_start() { # NAME BINARY ROLE
  local name=$1 bin=$2 role=$3 port upper
  port=$(free_port)
  http[$name]=$port
  upper=$(echo "$role" | tr 'a-z' 'A-Z')
  env NATS_URL="$url" NATS_REPLICAS=3 NATS_USER="coin-$role" NATS_PASSWORD_FILE="$tmp/sec/nats-$role.password" \
    SERVICE_ID="$name" EXCHANGE=binance SYMBOLS=BTCUSDT,ETHUSDT STATIC_DATA_DIR="$tmp/site" \
    INFLUX_URL=http://127.0.0.1:9 MONITOR_WEBHOOK_SECRET_FILE="$tmp/webhook" \
    "${upper}_HTTP_ADDR=127.0.0.1:$port" "${upper}_LEASE_SECONDS=$LEASE" \
    "$COIN_BIN_DIR/$bin" >"$tmp/$name.log" 2>&1 &
  svc_pid[$name]=$!
  pids+=("$!")
}
role_of() { curl -s --max-time 5 "http://127.0.0.1:${http[$1]}/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("role",""))' 2>/dev/null || true; }
wait_role() { # NAME ROLE SECONDS: polls /readyz until its role is ROLE
  local deadline=$((SECONDS + $3))
  until [ "$(role_of "$1")" = "$2" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
for pair in "mon-a coin-monitor monitor" "pub-a coin-publish publish"; do
  set -- $pair
  svc_start "$1" "$2" "$3"
  if wait_role "$1" active 30; then ok "$1 active"; else bad "$1 not active: $(tail -2 "$tmp/$1.log")"; fi
done
for pair in "mon-b coin-monitor monitor" "pub-b coin-publish publish"; do
  set -- $pair
  svc_start "$1" "$2" "$3"
  if wait_role "$1" standby 30; then ok "$1 standby"; else bad "$1 not standby: $(tail -2 "$tmp/$1.log")"; fi
done

# ---- 3 replicas of everything they created ----------------------------------------
streams() { curl -sf "http://127.0.0.1:${mport[$1]}/jsz?streams=true&config=true" | python3 -c '
import json, sys
for a in json.load(sys.stdin).get("account_details", []):
    for s in a.get("stream_detail", []):
        c = s.get("cluster", {})
        print(s["name"], s["config"]["num_replicas"], 1 + len(c.get("replicas", [])), c.get("leader", "-"))'; }
streams 0 >"$tmp/streams"
want="COIN_ALERTS COIN_CANDLES KV_coin_locks KV_coin_monitor KV_coin_watermarks"
have=$(awk '{print $1}' "$tmp/streams" | sort | tr '\n' ' ')
missing=""
for s in $want; do case " $have" in *" $s "*) ;; *) missing="$missing $s" ;; esac; done
if [ -z "$missing" ] && awk '$2 != 3 || $3 != 3 {bad=1} END {exit bad}' "$tmp/streams"; then
  ok "every stream and bucket with 3 replicas ($(wc -l <"$tmp/streams") of them: $have)"
else
  bad "replicas (missing:${missing:- none}): $(tr '\n' ';' <"$tmp/streams")"
fi

# ---- the leader of coin_locks SIGKILLed --------------------------------------------
leader=$(awk '$1 == "KV_coin_locks" {print $4}' "$tmp/streams")
k=${leader#coin-nats-}
if [ -n "$leader" ] && [ "$k" -ge 0 ] 2>/dev/null && [ "$k" -le 2 ]; then
  { kill -9 "${npid[k]}" && wait "${npid[k]}"; } 2>/dev/null || true
  # The lease is fenced while JetStream elects new stream leaders; then one
  # of each pair is active again and the other standby.
  t0=$(date +%s%N)
  sleep $((2 * LEASE))
  deadline=$((SECONDS + 30))
  restarted=""
  while :; do
    # A replica that stopped (its lease taken while it was fenced: exit 1,
    # "leader lease lost"; or another error while the node was gone) is
    # restarted as Kubernetes restarts a container; the line says why.
    for n in mon-a mon-b pub-a pub-b; do
      if ! kill -0 "${svc_pid[$n]}" 2>/dev/null; then
        why=$(grep -o '"msg":"[^"]*"' "$tmp/$n.log" | grep -v '"msg":"\(stopped\|ingest stopping\)' | tail -1)
        grep -q "leader lease lost" "$tmp/$n.log" && why="leader lease lost"
        mv "$tmp/$n.log" "$tmp/$n.exit$SECONDS.log"
        case $n in mon-*) svc_start "$n" coin-monitor monitor ;; *) svc_start "$n" coin-publish publish ;; esac
        restarted="$restarted $n ($why)"
      fi
    done
    roles="$(role_of mon-a) $(role_of mon-b) $(role_of pub-a) $(role_of pub-b)"
    case "$roles" in "active standby "* | "standby active "*) case "$roles" in *" active standby" | *" standby active") break ;; esac ;; esac
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  case "$roles" in
    "active standby active standby" | "standby active active standby" | "active standby standby active" | "standby active standby active")
      ok "$leader (leader of KV_coin_locks) SIGKILLed: one active and one standby of each after $(( ($(date +%s%N) - t0) / 1000000 )) ms ($roles; restarted:${restarted:- none})" ;;
    *) bad "after $leader SIGKILLed: roles $roles after 30 s" ;;
  esac
else
  bad "no leader of KV_coin_locks in: $(tr '\n' ';' <"$tmp/streams")"
fi

# ---- the active ones SIGKILLed: the standby takes over ------------------------------
for pair in "mon-a mon-b" "pub-a pub-b"; do
  set -- $pair
  [ "$(role_of "$1")" = active ] || set -- "$2" "$1" # kill whichever is active
  { kill -9 "${svc_pid[$1]}" && wait "${svc_pid[$1]}"; } 2>/dev/null || true
  t0=$(date +%s%N)
  if wait_role "$2" active 30; then
    ok "$1 SIGKILLed: $2 active after $(( ($(date +%s%N) - t0) / 1000000 )) ms (lease ${LEASE} s)"
  else
    bad "$1 SIGKILLed: $2 still $(role_of "$2") after 30 s"
  fi
done

viol=$(cat "$tmp"/n*/log | grep -ci "violation" || true)
if [ "$viol" -eq 0 ]; then ok "no permission violation in the servers' logs"; else bad "violations: $(grep -ih violation "$tmp"/n*/log | head -3)"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
