#!/bin/sh
# Copies deploy/nginx/*.conf snippets into the kustomize base (kustomize may
# not read files outside its directory). tests/deploy checks they match.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for f in site-rules.conf coin-gone.conf coin-json-headers.conf coin-json-nocache.conf; do
  cp "$here/../nginx/$f" "$here/base/nginx/$f"
done
echo "synced deploy/nginx -> deploy/k8s/base/nginx"
