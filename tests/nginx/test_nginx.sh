#!/usr/bin/env bash
# test_nginx.sh: deploy/nginx served by a real nginx (non-daemon, own prefix
# and free port in a temp dir, stopped by PID) over a generated site:
# content types, cache headers per path, ETag revalidation, gzip, 410 for
# the retired paths, 404 for temp and dot files, 405 for writes.
set -u
SRC=${COIN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
NGINX=${NGINX:-/usr/sbin/nginx}
if [ ! -x "$NGINX" ]; then
  echo "SKIP: $NGINX not installed"
  exit 0
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coin-nginx-XXXXXX")
chmod 755 "$WORK" # nginx workers run as another user when started as root
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }

# ---- a site ------------------------------------------------------------------
SITE=$WORK/site
mkdir -p "$SITE/v1/binance/BTCUSDT/1h" "$SITE/v1/binance/BTCUSDT/1m" \
  "$SITE/v1/binance/BTCUSDT/1M"
big=$(printf '[1700000000000,29000.01,29010.5,28990,29005.25,12.5],%.0s' $(seq 200))
echo "{\"schema_version\":1,\"candles\":[${big}[0,1,1,1,1,1]]}" \
  >"$SITE/v1/binance/BTCUSDT/1h/history.json"
echo '{"schema_version":1,"blocked_reason":"no_model"}' \
  >"$SITE/v1/binance/BTCUSDT/1h/prediction.json"
echo '{"schema_version":2,"rows":[],"windows":[]}' \
  >"$SITE/v1/binance/BTCUSDT/1h/track_record.json"
echo '{"schema_version":1,"candles":[]}' >"$SITE/v1/binance/BTCUSDT/1m/history.json"
echo '{"schema_version":1,"candles":[]}' >"$SITE/v1/binance/BTCUSDT/1M/history.json"
echo '{"schema_version":1,"series":[]}' >"$SITE/manifest.json"
echo '{"schema_version":1}' >"$SITE/status.json"
echo '<!doctype html><title>coin</title>' >"$SITE/index.html"
echo 'console.log(1)' >"$SITE/app.js"
echo 'half' >"$SITE/v1/binance/BTCUSDT/1h/history.json.tmp.123.4"
echo 'secret' >"$SITE/.hidden"
echo 'x' >"$SITE/v1/binance/BTCUSDT/1h/notes.txt"

# ---- nginx: the deployable server block, with root and port substituted ----
PORT=$(free_port)
PREFIX=$WORK/nginx
mkdir -p "$PREFIX/logs" "$PREFIX/tmp"
cp "$SRC"/deploy/nginx/*.conf "$PREFIX/"
sed -e "s#^\( *\)listen 8080;#\1listen 127.0.0.1:$PORT;#" \
  -e '/listen \[::\]:8080;/d' \
  -e "s#root /var/lib/coin/site;#root $SITE;#" \
  -e "s#access_log /var/log/nginx/coin-site.access.log;#access_log $PREFIX/logs/access.log;#" \
  "$SRC/deploy/nginx/coin-site.conf" >"$PREFIX/coin-site.conf"
cat >"$PREFIX/nginx.conf" <<CONF
worker_processes 1;
pid $PREFIX/nginx.pid;
error_log $PREFIX/logs/error.log warn;
events { worker_connections 64; }
http {
  client_body_temp_path $PREFIX/tmp/body;
  proxy_temp_path $PREFIX/tmp/proxy;
  fastcgi_temp_path $PREFIX/tmp/fastcgi;
  uwsgi_temp_path $PREFIX/tmp/uwsgi;
  scgi_temp_path $PREFIX/tmp/scgi;
  include coin-site.conf;
}
CONF
if "$NGINX" -t -q -p "$PREFIX" -c "$PREFIX/nginx.conf" -g 'daemon off;' \
  2>"$WORK/t.log"; then
  ok "nginx -t accepts the configuration"
else
  bad "nginx -t"
  cat "$WORK/t.log"
  exit 1
fi
"$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" -g 'daemon off;' \
  >"$PREFIX/logs/stdout.log" 2>&1 &
PID=$!
URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do
  curl -s -o /dev/null "$URL/manifest.json" && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.05
done
if ! curl -s -o /dev/null "$URL/manifest.json"; then
  bad "nginx did not start"
  cat "$PREFIX/logs/error.log" "$PREFIX/logs/stdout.log"
  exit 1
fi

# req PATH [curl args...]: sets STATUS, HDRS (lower-case), BODY
req() {
  local path=$1
  shift
  STATUS=$(curl -s -o "$WORK/body" -D "$WORK/hdrs" -w '%{http_code}' "$@" \
    "$URL$path")
  HDRS=$(tr -d '\r' <"$WORK/hdrs" | tr 'A-Z' 'a-z')
  BODY=$(tr -d '\000' <"$WORK/body")
}
has() { grep -qiF -- "$1" <<<"$HDRS"; }
check() { # name, condition...
  local name=$1
  shift
  if "$@"; then ok "$name"; else
    bad "$name (status $STATUS)"
    echo "$HDRS" | sed 's/^/    /'
  fi
}
is() { [ "$STATUS" = "$1" ]; }

req /manifest.json
check "manifest: 200 json no-cache cors" eval 'is 200 &&
  has "content-type: application/json; charset=utf-8" &&
  has "cache-control: no-cache" && has "access-control-allow-origin: *" &&
  has "x-content-type-options: nosniff" && has "etag:"'
ETAG=$(grep -i '^etag:' "$WORK/hdrs" | cut -d' ' -f2- | tr -d '\r')
req /manifest.json -H "If-None-Match: $ETAG"
check "manifest: revalidation answers 304" is 304
req /status.json
check "status.json: no-cache" eval 'is 200 && has "cache-control: no-cache"'

req /v1/binance/BTCUSDT/1h/history.json -H 'Accept-Encoding: gzip'
check "1h history: json, revalidated (no-cache), gzip" eval 'is 200 &&
  has "content-type: application/json; charset=utf-8" &&
  has "cache-control: no-cache" &&
  has "content-encoding: gzip" && has "vary: accept-encoding"'
req /v1/binance/BTCUSDT/1h/prediction.json
check "1h prediction: no-cache" eval 'is 200 && has "cache-control: no-cache"'
req /v1/binance/BTCUSDT/1h/track_record.json
check "1h track record: json, no-cache" eval 'is 200 &&
  has "content-type: application/json; charset=utf-8" && has "cache-control: no-cache"'
req /v1/binance/BTCUSDT/1m/history.json
check "1m history: no-cache" eval 'is 200 &&
  has "cache-control: no-cache"'
req /v1/binance/BTCUSDT/1M/history.json
check "1M (month) history: no-cache" eval 'is 200 && has "cache-control: no-cache"'
req /v1/binance/BTCUSDT/1h/history.json -I
check "HEAD works" eval 'is 200 && has "content-length:"'

req /v1/binance/BTCUSDT/1h/history.json.tmp.123.4
check "temp file of an atomic write: 404" is 404
req /.hidden
check "dot file: 404" is 404
req /v1/binance/BTCUSDT/1h/notes.txt
check "unknown file under /v1/: 404" is 404
req /v1/binance/btcusdt/1h/history.json
check "lower-case symbol path: 404" is 404

for path in /api/v0/predictions /api/v0/ /v0/BTCUSDT/1h.json /data/latest.json \
  /data/BTCUSDT.json /latest.json /predictions.json /status/v0.json; do
  req "$path"
  check "retired $path: 410 json" eval 'is 410 &&
    has "content-type: application/json" &&
    has "link: </manifest.json>; rel=\"index\"" &&
    grep -q "\"error\":\"gone\"" <<<"$BODY"'
done

req /manifest.json -X POST -d x
check "POST: 405" is 405
req /manifest.json -X DELETE
check "DELETE: 405" is 405

req /
check "/: the page, no-cache" eval 'is 200 &&
  has "content-type: text/html; charset=utf-8" && has "cache-control: no-cache"'
req /app.js
check "asset: javascript, max-age=300" eval 'is 200 &&
  has "content-type: application/javascript" && has "max-age=300"'
req /nope.json
check "missing file: 404" is 404

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
