#!/usr/bin/env bash
# test_web.sh: the web page in a real browser. Generates a fixture site
# (site contract v2, one series per state incl. one that turns soft and hard
# stale while the test watches), serves it with web/ on a free port
# (python3 -m http.server, stopped by PID), and runs tests/web/web_check.js:
# Debian's headless chromium driven by playwright-core, with axe-core for
# accessibility (both from npm, installed once into $COIN_BUILD_DIR/npm-web).
# web_check.js rewrites the fixture (make_fixture.py --live-anchor-ms) just
# before it loads the page. Screenshots go to $COIN_BUILD_DIR and their
# paths are printed. Fails (never skips) when chromium, playwright-core or
# axe-core cannot be had.
set -euo pipefail

: "${COIN_BUILD_DIR:?COIN_BUILD_DIR not set (run through ctest)}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR not set}"

npm_dir="$COIN_BUILD_DIR/npm-web"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/coin-test-web-XXXXXX")"
pid=""
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
. "$COIN_SOURCE_DIR/tests/lib/demo_test.sh"

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
# playwright-core (>= 1.45 for page.clock) never downloads a browser;
# Debian's chromium is used. axe-core is the accessibility checker.
web_npm_ensure "$npm_dir" "$tmp/npm.log" axe || fail "playwright-core or axe-core is missing"

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

NODE_PATH="$npm_dir/node_modules" PYTHON="$PY" timeout 120 \
  node "$COIN_SOURCE_DIR/tests/web/web_check.js" "$port" "$COIN_BUILD_DIR" "$site"
