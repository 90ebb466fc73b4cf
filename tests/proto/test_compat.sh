#!/usr/bin/env bash
# test_compat.sh: cross-language check of the wire format. Our C codec
# (codec_tool) and protoc (the C++ reference implementation, Debian
# protobuf-compiler) must agree both ways:
#  1. codec_tool packs fixed samples -> protoc --decode prints exactly the
#     expected text below; messages without maps re-encode byte for byte;
#  2. protoc --encode of text -> codec_tool decodes the expected fields
#     (doubles checked bit for bit via C99 hex) and JSON;
#  3. protoc-encoded messages that break a rule are refused with a message
#     naming the field.
# Env: COIN_BUILD_DIR (codec_tool in $COIN_BUILD_DIR/tests), COIN_SOURCE_DIR.
set -euo pipefail

: "${COIN_BUILD_DIR:?COIN_BUILD_DIR must point at the build tree}"
: "${COIN_SOURCE_DIR:?COIN_SOURCE_DIR must point at the source tree}"
TOOL="$COIN_BUILD_DIR/tests/codec_tool"
PROTO_DIR="$COIN_SOURCE_DIR/proto"
[ -x "$TOOL" ] || { echo "FAIL: $TOOL not built"; exit 1; }
command -v protoc >/dev/null || { echo "FAIL: protoc not installed"; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

pdecode() { protoc -I "$PROTO_DIR" --decode="coin.v1.$1" coin/v1/coin.proto; }
pencode() { protoc -I "$PROTO_DIR" --encode="coin.v1.$1" coin/v1/coin.proto; }

# expect NAME FILE: compares FILE with the expected text on stdin.
expect() {
  local name="$1" got="$2"
  cat >"$TMP/want"
  if diff -u "$TMP/want" "$got" >"$TMP/diff"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    cat "$TMP/diff"
  fi
}

# refuse NAME TYPE SUBJECT NEEDLE: protoc-encoded stdin must be refused by
# codec_tool with exit 1 and an error naming NEEDLE.
refuse() {
  local name="$1" type="$2" subject="$3" needle="$4" rc=0
  pencode "$type" >"$TMP/bad.bin" 2>"$TMP/protoc.err"
  "$TOOL" json "$subject" <"$TMP/bad.bin" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF -- "$needle" "$TMP/err"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc, stderr: $(cat "$TMP/err")"
  fi
}

# same_bytes NAME TYPE SAMPLE: protoc's re-encoding of our bytes is identical
# (only for messages without maps: C++ map order is unspecified).
same_bytes() {
  local name="$1" type="$2" sample="$3"
  "$TOOL" pack "$sample" >"$TMP/ours.bin"
  pdecode "$type" <"$TMP/ours.bin" | pencode "$type" >"$TMP/theirs.bin"
  if cmp -s "$TMP/ours.bin" "$TMP/theirs.bin"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    od -An -tx1 "$TMP/ours.bin" | head -5
    od -An -tx1 "$TMP/theirs.bin" | head -5
  fi
}

# ---- 1. C -> protoc ---------------------------------------------------------

"$TOOL" pack batch | pdecode CandleBatch >"$TMP/got"
expect "batch: C pack -> protoc decode" "$TMP/got" <<'EOF'
schema_version: 1
exchange: "binance"
symbol: "BTCUSDT"
timeframe: "1h"
producer_id: "coin-ingest@host:42"
produced_at_ms: 1700000000000
kind: BATCH_KIND_BACKFILL
candles {
  open_time_ms: 1699999200000
  open: 0.1
  high: 42000.01
  low: 1e-08
  close: 37123.456789
  volume: 4.94065645841247e-324
}
candles {
  open_time_ms: 1700002800000
  open: 0.33333333333333331
  high: 9007199254740994
  low: 0.25
  close: 1.5
  volume: 1e+21
}
candles {
  open_time_ms: 1700010000000
  open: 123456789.12345679
  high: 2.5
  low: 1
  close: 2
}
ingest_watermark_ms: 1700013600000
EOF

"$TOOL" pack status | pdecode StatusTransition >"$TMP/got"
expect "status: C pack -> protoc decode (oneof present at 0)" "$TMP/got" <<'EOF'
schema_version: 1
exchange: "binance"
symbol: "ETHUSDT"
timeframe: "1d"
producer_id: "coin-monitor"
from_state: FRESHNESS_STATE_SOFT_STALE
to_state: FRESHNESS_STATE_HARD_STALE
degraded: true
degraded_reasons: "input_stale"
degraded_reasons: "champion_missing"
since_ms: 1699992800000
at_ms: 1700000000000
last_candle_open_ms: 0
ingest_watermark_ms: 1699999200000
detail: "no 1d candle since 2023-11-12 \342\200\224 \"late\""
EOF

"$TOOL" pack alert | pdecode Alert >"$TMP/got"
expect "alert: C pack -> protoc decode" "$TMP/got" <<'EOF'
schema_version: 1
exchange: "binance"
symbol: "BTCUSDT"
timeframe: "1h"
producer_id: "coin-monitor"
alert_id: "CoinHardStale.binance.BTCUSDT.1h.1700000000000"
alertname: "CoinHardStale"
severity: SEVERITY_CRITICAL
state: FRESHNESS_STATE_HARD_STALE
status: ALERT_STATUS_RESOLVED
starts_at_ms: 1700000000000
ends_at_ms: 1700000600000
summary: "BTCUSDT 1h is fresh again"
repeat_count: 2
labels {
  key: "service"
  value: "coin-monitor"
}
labels {
  key: "severity"
  value: "critical"
}
EOF

"$TOOL" pack alert-global | pdecode Alert >"$TMP/got"
expect "alert-global: C pack -> protoc decode" "$TMP/got" <<'EOF'
schema_version: 1
producer_id: "coin-monitor"
alert_id: "CoinTrainingFailed.1700000000000"
alertname: "CoinTrainingFailed"
severity: SEVERITY_WARNING
status: ALERT_STATUS_FIRING
starts_at_ms: 1700000000000
summary: "training failed"
repeat_count: 2
labels {
  key: "service"
  value: "coin-monitor"
}
labels {
  key: "severity"
  value: "warning"
}
EOF

"$TOOL" pack model | pdecode ModelMetadata >"$TMP/got"
expect "model: C pack -> protoc decode" "$TMP/got" <<'EOF'
schema_version: 1
version: "m-20231114-xgboost.7"
kind: "xgboost"
role: MODEL_ROLE_CHAMPION
feature_schema_version: 3
feature_schema_hash: "9f86d081884c7d65"
train_from_ms: 1502942400000
train_to_ms: 1699999200000
train_watermark_ms: 1699999200000
train_rows: 5000000000
eval_rows: 720
parent_version: "m-20231001-ridge.2"
artifact_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
artifact_size_bytes: 1048577
created_at_ms: 1700000000000
git_revision: "0123abcd"
metrics {
  key: "baseline_mae"
  value: 0.3
}
metrics {
  key: "mae"
  value: 0.33333333333333331
}
artifact_ref: "file:models/m-20231114-xgboost.7.ubj"
EOF

"$TOOL" pack event | pdecode ModelEvent >"$TMP/got"
expect "event: C pack -> protoc decode (nested model)" "$TMP/got" <<'EOF'
schema_version: 1
producer_id: "coin-train@host:7"
kind: MODEL_EVENT_KIND_PROMOTED
version: "m-20231114-xgboost.7"
previous_version: "m-20231001-ridge.2"
at_ms: 1700000000000
reason: "gate passed"
model {
  schema_version: 1
  version: "m-20231114-xgboost.7"
  kind: "xgboost"
  role: MODEL_ROLE_CHAMPION
  feature_schema_version: 3
  feature_schema_hash: "9f86d081884c7d65"
  train_from_ms: 1502942400000
  train_to_ms: 1699999200000
  train_watermark_ms: 1699999200000
  train_rows: 5000000000
  eval_rows: 720
  parent_version: "m-20231001-ridge.2"
  artifact_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  artifact_size_bytes: 1048577
  created_at_ms: 1700000000000
  git_revision: "0123abcd"
  metrics {
    key: "baseline_mae"
    value: 0.3
  }
  metrics {
    key: "mae"
    value: 0.33333333333333331
  }
  artifact_ref: "file:models/m-20231114-xgboost.7.ubj"
}
metrics {
  key: "challenger_mae"
  value: 0.25
}
metrics {
  key: "champion_mae"
  value: 0.5
}
EOF

"$TOOL" pack event-bare | pdecode ModelEvent >"$TMP/got"
expect "event-bare: C pack -> protoc decode (no model)" "$TMP/got" <<'EOF'
schema_version: 1
producer_id: "coin-train@host:7"
kind: MODEL_EVENT_KIND_TRAINING_FAILED
at_ms: 1700000000000
reason: "influx unavailable"
EOF

"$TOOL" pack backfill | pdecode BackfillRequest >"$TMP/got"
expect "backfill: C pack -> protoc decode" "$TMP/got" <<'EOF'
schema_version: 1
exchange: "binance"
symbol: "KRW-BTC"
timeframe: "1M"
producer_id: "coinctl@ops"
request_id: "bf-1700000000000-1"
from_ms: 1501545600000
to_ms: 1698796800000
requested_at_ms: 1700000000000
EOF

same_bytes "batch: protoc re-encodes our bytes identically" CandleBatch batch
same_bytes "status: protoc re-encodes our bytes identically" StatusTransition status
same_bytes "event-bare: protoc re-encodes our bytes identically" ModelEvent event-bare
same_bytes "backfill: protoc re-encodes our bytes identically" BackfillRequest backfill

# ---- 2. protoc -> C ---------------------------------------------------------

# Doubles: max, min normal, 0.1+0.2, 2^53+1 (rounds to 2^53), -0.0, 1e-300.
pencode CandleBatch >"$TMP/in.bin" <<'EOF'
schema_version: 1
exchange: "okx"
symbol: "ETH-USDT"
timeframe: "1d"
producer_id: "replay"
produced_at_ms: -5
kind: BATCH_KIND_LIVE
candles {
  open_time_ms: 1699920000000
  open: 0.1
  high: 1.7976931348623157e308
  low: 2.2250738585072014e-308
  close: 3.141592653589793
  volume: 123456.789
}
candles {
  open_time_ms: 1700006400000
  open: 0.30000000000000004
  high: 9007199254740993
  low: -0.0
  close: 1e-300
}
ingest_watermark_ms: 1700092800000
EOF
"$TOOL" fields batch <"$TMP/in.bin" >"$TMP/got"
expect "batch: protoc encode -> C fields (doubles bit-exact)" "$TMP/got" <<'EOF'
exchange=okx
symbol=ETH-USDT
timeframe=1d
kind=live
producer_id=replay
produced_at_ms=-5
ingest_watermark_ms=1700092800000
n_candles=2
candle[0].open_time_ms=1699920000000
candle[0].open=0.1 0x1.999999999999ap-4
candle[0].high=1.7976931348623157e+308 0x1.fffffffffffffp+1023
candle[0].low=2.2250738585072014e-308 0x1p-1022
candle[0].close=3.141592653589793 0x1.921fb54442d18p+1
candle[0].volume=123456.789 0x1.e240c9fbe76c9p+16
candle[1].open_time_ms=1700006400000
candle[1].open=0.30000000000000004 0x1.3333333333334p-2
candle[1].high=9007199254740992 0x1p+53
candle[1].low=-0 -0x0p+0
candle[1].close=1e-300 0x1.56e1fc2f8f359p-997
candle[1].volume=0 0x0p+0
msg_id=okx.ETH-USDT.1d.1699920000000-1700006400000
EOF

"$TOOL" json coin.candles.okx.ETH-USDT.1d <"$TMP/in.bin" >"$TMP/got"
expect "batch: protoc encode -> C json" "$TMP/got" <<'EOF'
{"type":"CandleBatch","schema_version":1,"exchange":"okx","symbol":"ETH-USDT","timeframe":"1d","kind":"live","producer_id":"replay","produced_at_ms":-5,"ingest_watermark_ms":1700092800000,"n_candles":2,"candles":[{"open_time_ms":1699920000000,"open":0.1,"high":1.7976931348623157e+308,"low":2.2250738585072014e-308,"close":3.141592653589793,"volume":123456.789},{"open_time_ms":1700006400000,"open":0.30000000000000004,"high":9007199254740992,"low":-0,"close":1e-300,"volume":0}]}
EOF

pencode StatusTransition <<'EOF' | "$TOOL" json coin.status.kraken.XBT_EUR.1w >"$TMP/got"
schema_version: 1
exchange: "kraken"
symbol: "XBT_EUR"
timeframe: "1w"
from_state: FRESHNESS_STATE_FRESH
to_state: FRESHNESS_STATE_SOFT_STALE
from_degraded: true
since_ms: 1699833600000
at_ms: 1700000000000
publish_watermark_ms: 0
detail: "tab\there \"q\" \\ \303\251"
EOF
expect "status: protoc encode -> C json (absent vs zero oneof)" "$TMP/got" <<'EOF'
{"type":"StatusTransition","schema_version":1,"exchange":"kraken","symbol":"XBT_EUR","timeframe":"1w","producer_id":"","from_state":"fresh","to_state":"soft_stale","from_degraded":true,"degraded":false,"degraded_reasons":[],"since_ms":1699833600000,"at_ms":1700000000000,"last_candle_open_ms":null,"ingest_watermark_ms":null,"publish_watermark_ms":0,"detail":"tab\there \"q\" \\ é"}
EOF

pencode Alert <<'EOF' | "$TOOL" json coin.alerts.binance.SOLUSDT.1m >"$TMP/got"
schema_version: 1
exchange: "binance"
symbol: "SOLUSDT"
timeframe: "1m"
alert_id: "CoinSoftStale.binance.SOLUSDT.1m.1700000000000"
alertname: "CoinSoftStale"
severity: SEVERITY_INFO
state: FRESHNESS_STATE_SOFT_STALE_ESCALATED
status: ALERT_STATUS_FIRING
starts_at_ms: 1700000000000
repeat_count: 4294967295
labels { key: "team" value: "data" }
EOF
expect "alert: protoc encode -> C json" "$TMP/got" <<'EOF'
{"type":"Alert","schema_version":1,"exchange":"binance","symbol":"SOLUSDT","timeframe":"1m","producer_id":"","alert_id":"CoinSoftStale.binance.SOLUSDT.1m.1700000000000","alertname":"CoinSoftStale","severity":"info","state":"soft_stale_escalated","status":"firing","starts_at_ms":1700000000000,"ends_at_ms":null,"summary":"","repeat_count":4294967295,"labels":{"team":"data"}}
EOF

pencode ModelMetadata <<'EOF' | "$TOOL" json '$KV.coin_models.model.m-2' >"$TMP/got"
schema_version: 1
version: "m-2"
kind: "ridge"
role: MODEL_ROLE_REFUSED
train_from_ms: -1000
train_to_ms: 0
train_rows: 18446744073709551615
artifact_sha256: "0000000000000000000000000000000000000000000000000000000000000000"
metrics { key: "rmse" value: 2e-5 }
EOF
expect "model: protoc encode -> C json (uint64 max)" "$TMP/got" <<'EOF'
{"type":"ModelMetadata","schema_version":1,"version":"m-2","kind":"ridge","role":"refused","feature_schema_version":0,"feature_schema_hash":"","train_from_ms":-1000,"train_to_ms":0,"train_watermark_ms":0,"train_rows":18446744073709551615,"eval_rows":0,"parent_version":"","artifact_sha256":"0000000000000000000000000000000000000000000000000000000000000000","artifact_size_bytes":0,"created_at_ms":0,"git_revision":"","metrics":{"rmse":2e-05},"artifact_ref":""}
EOF

pencode ModelEvent <<'EOF' | "$TOOL" json coin.models.events >"$TMP/got"
schema_version: 1
kind: MODEL_EVENT_KIND_ROLLED_BACK
version: "m-1"
previous_version: "m-2"
at_ms: 1700000000000
reason: "champion m-2 rolled back by coinctl"
EOF
expect "event: protoc encode -> C json" "$TMP/got" <<'EOF'
{"type":"ModelEvent","schema_version":1,"producer_id":"","kind":"rolled_back","version":"m-1","previous_version":"m-2","at_ms":1700000000000,"reason":"champion m-2 rolled back by coinctl","metrics":{},"model":null}
EOF

pencode BackfillRequest <<'EOF' | "$TOOL" json coin.control.backfill >"$TMP/got"
schema_version: 1
exchange: "binance"
symbol: "BTCUSDT"
timeframe: "1h"
request_id: "r1"
from_ms: -9223372036854775808
to_ms: 9223372036854775807
EOF
expect "backfill: protoc encode -> C json (int64 extremes)" "$TMP/got" <<'EOF'
{"type":"BackfillRequest","schema_version":1,"exchange":"binance","symbol":"BTCUSDT","timeframe":"1h","producer_id":"","request_id":"r1","from_ms":-9223372036854775808,"to_ms":9223372036854775807,"requested_at_ms":0}
EOF

# ---- 3. protoc-encoded messages that break a rule ---------------------------

B='schema_version: 1 exchange: "binance" kind: BATCH_KIND_LIVE'
C='candles { open_time_ms: 1699999200000 open: 1 high: 1 low: 1 close: 1 }'
W='ingest_watermark_ms: 1699999200000'
refuse "refuse unknown timeframe" CandleBatch coin.candles.x.Y.1h \
  'CandleBatch: timeframe "7x"' <<<"$B symbol: \"BTCUSDT\" timeframe: \"7x\" $C $W"
refuse "refuse invalid symbol" CandleBatch coin.candles.x.Y.1h \
  'CandleBatch: symbol "btc*"' <<<"$B symbol: \"btc*\" timeframe: \"1h\" $C $W"
refuse "refuse candles not ascending" CandleBatch coin.candles.x.Y.1h \
  'strictly ascending' <<<"$B symbol: \"BTCUSDT\" timeframe: \"1h\" $C $C $W"
refuse "refuse watermark behind the candles" CandleBatch coin.candles.x.Y.1h \
  'ingest_watermark_ms 0' <<<"$B symbol: \"BTCUSDT\" timeframe: \"1h\" $C"
refuse "refuse unknown schema_version" CandleBatch coin.candles.x.Y.1h \
  'schema_version 2 unsupported' <<<'schema_version: 2 exchange: "binance"'
refuse "refuse backfill from after to" BackfillRequest coin.control.backfill \
  'BackfillRequest: from_ms 2 after to_ms 1' \
  <<<'schema_version: 1 exchange: "binance" symbol: "BTCUSDT" timeframe: "1h"
      request_id: "r1" from_ms: 2 to_ms: 1'
refuse "refuse global alert with a timeframe" Alert coin.alerts.global \
  'timeframe "1h" on a global alert' \
  <<<'schema_version: 1 alert_id: "a" alertname: "A" severity: SEVERITY_INFO
      status: ALERT_STATUS_FIRING timeframe: "1h"'
refuse "refuse reasons without degraded" StatusTransition \
  coin.status.binance.BTCUSDT.1h 'degraded_reasons: 1 given' \
  <<<'schema_version: 1 exchange: "binance" symbol: "BTCUSDT" timeframe: "1h"
      to_state: FRESHNESS_STATE_FRESH degraded_reasons: "model_stale"'
refuse "refuse invalid UTF-8 text" StatusTransition \
  coin.status.binance.BTCUSDT.1h 'detail: invalid UTF-8 at byte 2' \
  <<<'schema_version: 1 exchange: "binance" symbol: "BTCUSDT" timeframe: "1h"
      to_state: FRESHNESS_STATE_FRESH detail: "a\377"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
