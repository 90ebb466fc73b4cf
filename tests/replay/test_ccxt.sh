#!/usr/bin/env bash
# test_ccxt.sh: a real Binance client (ccxt 4 from npm) talks to
# coin-replay-exchange and gets exactly the CSV candles, shifted.
# ccxt is installed once into $COIN_BUILD_DIR/npm and reused; when npm cannot
# install it, the test FAILS (it is not skipped). The replay runs on a free
# port and is stopped by PID on exit.
set -euo pipefail

: "${COIN_BIN_DIR:?COIN_BIN_DIR not set (run through ctest)}"
: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"
: "${COIN_SHARED_DATA_DIR:?COIN_SHARED_DATA_DIR not set}"

npm_dir="$COIN_BUILD_DIR/npm"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-ccxt-XXXXXX")"
pid=""

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

have_ccxt4() {
  node -e 'const v = require(process.argv[1]).version;
           process.exit(/^4\./.test(v) ? 0 : 1)' \
    "$npm_dir/node_modules/ccxt/package.json" 2>/dev/null
}

if ! have_ccxt4; then
  mkdir -p "$npm_dir"
  if ! timeout 300 npm install --prefix "$npm_dir" --no-audit --no-fund \
      --loglevel=error ccxt@4 >"$tmp/npm.log" 2>&1; then
    tail -n 5 "$tmp/npm.log" >&2 || true
    fail "npm install ccxt@4 failed (is the npm registry reachable?); this" \
      "test needs a real ccxt and does not skip"
  fi
  have_ccxt4 || fail "ccxt@4 not usable in $npm_dir after npm install"
fi

"$COIN_BIN_DIR/coin-replay-exchange" --data "$COIN_SHARED_DATA_DIR" \
  --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!

# Wait (deadline 20 s) for {"listening":...,"port":N,...} on its stdout.
port=""
for _ in $(seq 1 400); do
  if [ -s "$tmp/out" ]; then
    port="$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/out" | head -n 1)"
    [ -n "$port" ] && break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; fail "replay exited"; }
  sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/err" >&2; fail "replay printed no port in 20 s"; }

NODE_PATH="$npm_dir/node_modules" timeout 120 \
  node "$COIN_SOURCE_DIR/tests/replay/ccxt_check.js" "$port" \
  "$COIN_SHARED_DATA_DIR"
