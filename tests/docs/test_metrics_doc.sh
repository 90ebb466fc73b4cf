#!/usr/bin/env bash
# docs/metrics.md holds each service's metrics table: the rows of its section
# "## coin-<service>" must be what the service prints with --metrics-doc, no
# more, no fewer, in the same order.
set -euo pipefail
doc="$COIN_SOURCE_DIR/docs/metrics.md"
fail=0
for svc in coin-ingest coin-publish coin-monitor; do
  rows=$("$COIN_BIN_DIR/$svc" --metrics-doc) || {
    echo "FAIL $svc --metrics-doc exited $?"
    fail=$((fail + 1))
    continue
  }
  section=$(awk -v h="## $svc" '$0 == h { on = 1; next } /^## / { on = 0 }
                                 on && /^\| `/' "$doc")
  if [ "$rows" != "$section" ]; then
    echo "FAIL docs/metrics.md section $svc differs from $svc --metrics-doc"
    echo "(- doc, + output; regenerate the section's rows):"
    diff <(printf '%s\n' "$section") <(printf '%s\n' "$rows") || true
    fail=$((fail + 1))
  else
    echo "ok $svc: $(printf '%s\n' "$rows" | wc -l) metrics"
  fi
done
[ "$fail" -eq 0 ]
