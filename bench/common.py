"""common.py: helpers the Python benches import (free ports, influxd's
configuration)."""
import os
import socket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def influx_conf(tmp):
    """Writes tmp/influx.conf for an influxd on two free ports with its files
    under tmp/influx; returns (the config's path, the HTTP port)."""
    port, rpc = free_port(), free_port()
    d = os.path.join(tmp, "influx")
    conf = os.path.join(tmp, "influx.conf")
    with open(conf, "w") as f:
        f.write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
                f'[meta]\n  dir = "{d}/meta"\n[data]\n  dir = "{d}/data"\n'
                f'  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
                f'[monitor]\n  store-enabled = false\n'
                f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n')
    return conf, port
