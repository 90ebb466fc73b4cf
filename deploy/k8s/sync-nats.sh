#!/bin/sh
# Copies the NATS server configuration of deploy/nats (the role table
# nats-permissions.conf and the cluster node nats-cluster.conf) into the
# kustomize base (kustomize may not read files outside its directory).
# tests/deploy checks they match.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for f in nats-permissions.conf nats-cluster.conf; do
  cp "$here/../nats/$f" "$here/base/nats/$f"
done
echo "synced deploy/nats -> deploy/k8s/base/nats"
