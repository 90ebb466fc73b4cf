#!/usr/bin/env bash
# Installs every Debian package coin-predict needs to build, test and run the demo.
# Idempotent: when everything is present it only checks and returns in well under a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl
  libnats-dev libcurl4-openssl-dev libmsgpack-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libjansson-dev libmicrohttpd-dev libssl-dev libxgboost-dev
  nats-server influxdb
  nginx prometheus-alertmanager faketime python3 valgrind
  nodejs npm
  chromium docker-compose kubernetes-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js may come from outside Debian on some machines; accept any working node+npm.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

# kubectl (for `kubectl kustomize` in tests/deploy) may come from outside
# Debian too; any kubectl will do.
if command -v kubectl >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]+"${missing[@]}"}"; do
    [ "$p" = kubernetes-client ] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
