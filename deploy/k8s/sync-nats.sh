#!/bin/sh
# Copies deploy/nats/nats-permissions.conf (the NATS role table) into the
# kustomize base (kustomize may not read files outside its directory).
# tests/deploy checks they match.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/../nats/nats-permissions.conf" "$here/base/nats/nats-permissions.conf"
echo "synced deploy/nats -> deploy/k8s/base/nats"
