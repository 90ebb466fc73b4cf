# demo_test.sh: what the shell tests that drive scripts/demo.sh or a browser
# share; sourced (never run), by tests/demo/test_demo.sh and tests/web/*.sh.
#   demo_free_ports        export every DEMO_*_PORT as a free loopback port
#   web_npm_ensure DIR LOG [axe]
#                          playwright-core >= 1.45 (page.clock; it never
#                          downloads a browser: Debian's chromium is used),
#                          and axe-core 4 when "axe" is given, installed once
#                          into DIR/node_modules; on failure prints the end of
#                          LOG and returns 1.
# Needs $PY (a python3).

demo_free_ports() {
  local v
  for v in DEMO_NATS_PORT DEMO_NATS_MON_PORT DEMO_INFLUX_PORT DEMO_INFLUX_RPC_PORT \
           DEMO_REPLAY_PORT DEMO_WEB_PORT DEMO_INGEST_PORT DEMO_PUBLISH_PORT DEMO_MONITOR_PORT; do
    export "$v=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  done
}

web_npm_ensure() {
  local dir="$1" log="$2" want=() pw_ok
  pw_ok=$(node -e 'const v=require(process.argv[1]).version.split(".").map(Number);
    console.log(v[0] > 1 || (v[0] === 1 && v[1] >= 45) ? 1 : 0)' \
    "$dir/node_modules/playwright-core/package.json" 2>/dev/null || echo 0)
  [ "$pw_ok" = 1 ] || want+=("playwright-core@^1.45")
  if [ "${3:-}" = axe ] && [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
    want+=("axe-core@4")
  fi
  [ "${#want[@]}" -gt 0 ] || return 0
  mkdir -p "$dir"
  if ! timeout 300 npm install --prefix "$dir" --no-audit --no-fund \
      --loglevel=error "${want[@]}" >"$log" 2>&1; then
    tail -n 5 "$log" >&2 || true
    echo "npm install ${want[*]} failed (is the npm registry reachable?)" >&2
    return 1
  fi
}
