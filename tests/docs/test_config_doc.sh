#!/usr/bin/env bash
# docs/configuration.md documents every variable of every service: each row a
# service prints with --config-doc must stand verbatim in the file.
set -euo pipefail
doc="$COIN_SOURCE_DIR/docs/configuration.md"
fail=0
checked=0
for svc in coin-ingest coin-publish coin-monitor coin-train; do
  rows=$("$COIN_BIN_DIR/$svc" --config-doc) || {
    echo "FAIL $svc --config-doc exited $?"
    fail=$((fail + 1))
    continue
  }
  while IFS= read -r row; do
    checked=$((checked + 1))
    if ! grep -qxF -- "$row" "$doc"; then
      echo "FAIL docs/configuration.md lacks the row of $svc (regenerate it):"
      echo "$row"
      fail=$((fail + 1))
    fi
  done <<<"$rows"
done
echo "$checked rows checked"
echo "$((checked - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
