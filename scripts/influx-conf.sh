#!/usr/bin/env bash
# influx-conf.sh: writes the configuration of a local influxd (InfluxDB 1.x)
# for the demo and the benchmarks: loopback only, its files under DIR,
# reporting, the query log, the internal monitor store and continuous queries
# off.
#   scripts/influx-conf.sh CONF DIR HTTP_PORT RPC_PORT
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 CONF DIR HTTP_PORT RPC_PORT" >&2; exit 2; }
conf=$1 dir=$2 http_port=$3 rpc_port=$4
cat >"$conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$http_port"
  log-enabled = false
[continuous_queries]
  enabled = false
CONF
