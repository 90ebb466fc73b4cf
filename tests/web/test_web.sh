#!/usr/bin/env bash
# test_web.sh: the web page in a real browser. Generates a fixture site
# (docs/static-site.md, one series per state incl. a stale one), serves it
# with web/ on a free port (python3 -m http.server, stopped by PID), and runs
# tests/web/web_check.js: Debian's headless chromium driven by playwright-core
# (npm, installed once into $COIN_BUILD_DIR/npm-web). Screenshots go to
# $COIN_BUILD_DIR and their paths are printed. Fails (never skips) when
# chromium or playwright-core cannot be had.
set -euo pipefail

: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"

npm_dir="$COIN_BUILD_DIR/npm-web"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-web-XXXXXX")"
pid=""
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (scripts/install-deps.sh installs it)"
if [ ! -f "$npm_dir/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$npm_dir"
  # playwright-core only: it never downloads a browser; Debian's chromium is used.
  if ! timeout 300 npm install --prefix "$npm_dir" --no-audit --no-fund \
      --loglevel=error playwright-core@1 >"$tmp/npm.log" 2>&1; then
    tail -n 5 "$tmp/npm.log" >&2 || true
    fail "npm install playwright-core failed (is the npm registry reachable?)"
  fi
fi

site="$tmp/site"
mkdir -p "$site"
"$PY" "$COIN_SOURCE_DIR/tests/web/make_fixture.py" "$site"
cp "$COIN_SOURCE_DIR"/web/* "$site/"

port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$PY" -m http.server "$port" --bind 127.0.0.1 --directory "$site" >"$tmp/http.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/manifest.json" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/http.log" >&2; fail "http.server exited"; }
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/manifest.json" >/dev/null || fail "site not served"

NODE_PATH="$npm_dir/node_modules" timeout 120 \
  node "$COIN_SOURCE_DIR/tests/web/web_check.js" "$port" "$COIN_BUILD_DIR"
