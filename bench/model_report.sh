#!/usr/bin/env bash
# model_report.sh: the model benchmark (see bench/README.md, "Models").
#   bench/model_report.sh [BUILD_DIR] [-- model_report args...]
#       walk-forward table (persistence, ridge, XGBoost) on the real candles,
#       one symbol held out (bench/model_report.c).
#   bench/model_report.sh [BUILD_DIR] train
#       coin-train's time and peak RSS on all 1h + 1d candles, then on the
#       same candles quadrupled (3 more copies under other symbol names), in
#       a real nats-server + influxd started here (free ports, temp dir,
#       stopped by PID).
# BUILD_DIR defaults to ./build; data: $COIN_SHARED_DATA_DIR or ../shared.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
mode=report
if [ "${1:-}" = "train" ]; then
  mode=train
  shift
fi
[ "${1:-}" = "--" ] && shift
build=$(cd "$build" && pwd)
export COIN_SHARED_DATA_DIR=${COIN_SHARED_DATA_DIR:-$src/../shared/data/candles}
cmake --build "$build" --target coin coin-train >/dev/null
out=$build/bench
mkdir -p "$out"
# shellcheck disable=SC2046
cc -std=gnu17 -O2 -Wall -Wextra -I"$src/lib/include" "$here/model_report.c" \
  -o "$out/model_report" "$build/lib/libcoin.a" "$build/proto/libcoin_proto.a" \
  $(pkg-config --libs libnats libcurl msgpack libprotobuf-c jansson \
    libmicrohttpd openssl) -lxgboost -lpthread -lm
if [ "$mode" = report ]; then
  exec "$out/model_report" "$@"
fi

# ---- train mode ------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
tmp=$(mktemp -d /tmp/coin-model-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
ihttp=$(free_port) irpc=$(free_port) nport=$(free_port) nmon=$(free_port)
"$src/scripts/influx-conf.sh" "$tmp/influx.conf" "$tmp" "$ihttp" "$irpc"
influxd run -config "$tmp/influx.conf" >"$tmp/influx.log" 2>&1 &
pids+=($!)
/usr/sbin/nats-server -js -a 127.0.0.1 -p "$nport" -m "$nmon" -sd "$tmp/js" \
  >"$tmp/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ihttp/ping" >/dev/null &&
    curl -sf "http://127.0.0.1:$nmon/healthz" >/dev/null && break
  sleep 0.1
done
export NATS_URL=nats://127.0.0.1:$nport INFLUX_URL=http://127.0.0.1:$ihttp
export TRAIN_TIMEFRAMES=1h,1d LOG_LEVEL=warn SERVICE_ID=bench
base=BTCUSDT,ETHUSDT,BNBUSDT,DOGEUSDT,LTCUSDT,SOLUSDT,XRPUSDT
run() { # label
  for kind in ridge xgboost; do
    /usr/bin/time -f "%M %e" -o "$tmp/time" "$build/bin/coin-train" train \
      --kind "$kind" >"$tmp/train.out" 2>"$tmp/train.err" ||
      { cat "$tmp/train.err"; exit 1; }
    read -r rss_kb wall <"$tmp/time"
    rows=$(sed -n 's/^coin-train: registered challenger [^ ]* ([a-z]*, \([0-9]*\) rows.*/\1/p' "$tmp/train.out")
    dropped=$(sed -n 's/.*rows left out for the budget: \(.*\)$/\1/p' "$tmp/train.out")
    printf '| %s | %s | %s | %s | %.1f | %.0f |\n' "$1" "$kind" "$rows" \
      "$dropped" "$wall" "$((rss_kb / 1024))"
  done
}
echo "| data | model | rows used | rows left out (budget) | wall s | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
"$out/model_report" load "$INFLUX_URL" 2>"$tmp/load.log"
SYMBOLS=$base run "1h+1d, 7 symbols"
"$out/model_report" load "$INFLUX_URL" --clone 3 2>"$tmp/load.log"
syms=$base
for s in ${base//,/ }; do syms="$syms,${s}_C1,${s}_C2,${s}_C3"; done
SYMBOLS=$syms run "quadrupled (28 names)"
echo
echo "TRAIN_MEMORY_BUDGET_MB=${TRAIN_MEMORY_BUDGET_MB:-256}"
