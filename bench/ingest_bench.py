#!/usr/bin/env python3
"""coin-ingest benchmarks (not tests): run on demand, print one table.

1. Backfill throughput: 7 symbols x full 1h history from the replay exchange into
   InfluxDB + NATS, against the store's ceiling: the same points written straight to
   InfluxDB as pre-built line protocol, just before and just after coin-ingest, each into
   a new database like coin-ingest's. Reported as candles/s and the ratio to the mean of
   the two ceilings (target >= 90%).
2. Peak RSS of coin-ingest during that backfill (target < 32 MiB).
3. Steady state: 50 symbols x {1h,1d,1w,1M} under an accelerated clock (libfaketime, x60:
   an hour boundary every real minute), cycle p95 seconds and overrun rate from
   runtime_metrics.json (targets: p95 < 0.5 s, overrun 0).

Servers are real (nats-server, influxd) on 127.0.0.1 with free ports and a temp dir, stopped
by PID. Usage: bench/ingest_bench.py [--build build] [--data ../shared/data/candles]
          [--steady-minutes 4] [--skip-steady]
"""
import argparse, json, os, resource, shutil, signal, subprocess, sys, tempfile, time
import urllib.request

from common import free_port, influx_conf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "DOGEUSDT", "LTCUSDT", "SOLUSDT", "XRPUSDT"]


def wait_http(url, want=(200, 204), deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status in want:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"bench: {url} not ready")


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, argv, log, env=None):
        p = subprocess.Popen(argv, stdout=open(os.path.join(self.tmp, log), "w"),
                             stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def nats(self):
        self.nats_port = free_port()
        mport = free_port()
        self.start(["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(self.nats_port),
                    "-m", str(mport), "-js", "-sd", os.path.join(self.tmp, "js")], "nats.log")
        wait_http(f"http://127.0.0.1:{mport}/healthz?js-enabled-only=true")
        return f"nats://127.0.0.1:{self.nats_port}"

    def influx(self):
        conf, port = influx_conf(self.tmp)
        self.start(["influxd", "run", "-config", conf], "influx.log")
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/ping")
        return url

    def replay(self, build, data, extra, env=None, argv_prefix=()):
        port = free_port()
        self.start(list(argv_prefix) + [os.path.join(build, "bin", "coin-replay-exchange"),
                    "--listen", f"127.0.0.1:{port}", "--data", data,
                    "--weight-limit", "1000000"] + extra, "replay.log", env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/v3/ping", deadline=60)
        return url


def influx_q(url, q, method="GET", db="coin"):
    data = urllib.parse.urlencode({"q": q, "db": db}).encode()
    if method == "GET":
        req = urllib.request.Request(url + "/query?" + data.decode())
    else:
        req = urllib.request.Request(url + "/query", data=data)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def count_candles(url, tf):
    r = influx_q(url, f"SELECT count(close) FROM candle WHERE timeframe='{tf}'")
    s = r["results"][0].get("series")
    return s[0]["values"][0][1] if s else 0


def run_child_rss(argv, env, log):
    """Runs argv to completion; returns (seconds, peak RSS KiB of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    # A fresh helper process so RUSAGE_CHILDREN's max is this child's own.
    code = ("import resource,subprocess,sys,json;"
            "p=subprocess.run(sys.argv[1:],stdout=open(%r,'w'),stderr=subprocess.STDOUT);"
            "print(json.dumps([p.returncode,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
            % log)
    out = subprocess.run([sys.executable, "-c", code] + argv, env=env, capture_output=True,
                         text=True, check=True).stdout
    rc, rss = json.loads(out)
    if rc != 0:
        raise SystemExit(f"bench: {argv[0]} exited {rc}; see {log}")
    return time.monotonic() - t0, rss


def ingest_env(nats, influx, replay, tmp, **kv):
    env = dict(os.environ)
    env.update({"NATS_URL": nats, "INFLUX_URL": influx, "EXCHANGE_BASE_URL": replay,
                "STATIC_DATA_DIR": os.path.join(tmp, "site"), "LOG_LEVEL": "warn",
                "INGEST_HTTP_ADDR": f"127.0.0.1:{free_port()}"})
    env.update({k: str(v) for k, v in kv.items()})
    return env


def ceiling_lines(replay_url, data, tmp):
    """The same 1h points as the replay serves, as pre-built line protocol files of 5000
    lines each."""
    with urllib.request.urlopen(replay_url + "/__replay/stats") as r:
        shifts = json.load(r)["shifts"]
    now_ms = int(time.time() * 1000)
    files = []
    total = 0
    for sym in SYMBOLS:
        shift = shifts[sym]["1h"]
        lines = []
        with open(os.path.join(data, f"{sym}-1h.csv")) as f:
            next(f)
            for row in f:
                t, o, h, l, c, v = row.rstrip("\n").split(",")
                ts = int(t) + shift
                if ts + 3600000 > now_ms:
                    break
                lines.append(f"candle,exchange=ceiling,symbol={sym},timeframe=1h "
                             f"open={o},high={h},low={l},close={c},volume={v} {ts}")
        total += len(lines)
        for i in range(0, len(lines), 5000):
            p = os.path.join(tmp, f"lp-{sym}-{i}.txt")
            with open(p, "w") as f:
                f.write("\n".join(lines[i:i + 5000]))
            files.append(p)
    return total, files


def ceiling(influx, files, db):
    """POSTs the files by 4 parallel writers into a new database created as
    coin_influx_create_db creates one (the store's ceiling on this machine); seconds."""
    influx_q(influx, f"CREATE DATABASE {db} WITH SHARD DURATION 52w", "POST")
    url = influx + f"/write?db={db}&precision=ms"
    t0 = time.monotonic()
    procs = []
    for k in range(4):
        chunk = files[k::4]
        args = ["bash", "-c", " && ".join(
            f"curl -sf -o /dev/null --data-binary @{p} '{url}'" for p in chunk) or "true"]
        procs.append(subprocess.Popen(args))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("bench: ceiling write failed")
    return time.monotonic() - t0


def backfill(args, tmp):
    st = Stack(tmp)
    try:
        nats, influx = st.nats(), st.influx()
        replay = st.replay(args.build, args.data, [])
        n_ceiling, files = ceiling_lines(replay, args.data, tmp)
        # The ceiling just before and just after coin-ingest, each into a new database
        # as coin-ingest's own "coin" is new: the same shard creation for both, and
        # the ratio against their mean so a load change on the machine between the
        # two phases shows (ceiling_spread) instead of skewing the ratio.
        t_before = ceiling(influx, files, "ceiling_before")
        env = ingest_env(nats, influx, replay, tmp, SYMBOLS=",".join(SYMBOLS),
                         PRIMARY_TIMEFRAME="1h", INGEST_TIMEFRAMES="1h",
                         INGEST_MAX_CYCLES=1)
        secs, rss = run_child_rss([os.path.join(args.build, "bin", "coin-ingest")], env,
                                  os.path.join(tmp, "ingest-backfill.log"))
        t_after = ceiling(influx, files, "ceiling_after")
        n = count_candles(influx, "1h")
        before, after = n_ceiling / t_before, n_ceiling / t_after
        cps = (before + after) / 2
        return {"ceiling_candles": n_ceiling, "ceiling_cps_before": before,
                "ceiling_cps_after": after, "ceiling_cps": cps,
                "ceiling_spread": abs(before - after) / cps, "ingest_candles": n,
                "ingest_seconds": secs, "ingest_cps": n / secs,
                "ratio": (n / secs) / cps, "peak_rss_mib": rss / 1024}
    finally:
        st.stop()


def steady(args, tmp):
    """50 symbols x 4 timeframes under a x60 clock shared by replay and ingest."""
    st = Stack(tmp)
    try:
        nats, influx = st.nats(), st.influx()
        # Both children of one faketime wrapper share its clock.
        wrapper = os.path.join(tmp, "steady.sh")
        rport, hport = free_port(), free_port()
        replay_url = f"http://127.0.0.1:{rport}"
        env = ingest_env(nats, influx, replay_url, tmp, SYMBOLS=",".join(
            f"SYM{i:02d}USDT" for i in range(1, 51)), PRIMARY_TIMEFRAME="1h",
            INGEST_TIMEFRAMES="1h,1d,1w,1M", ENABLE_MULTI_TIMEFRAMES="true",
            INGEST_CHECK_SYMBOLS="true", INGEST_HTTP_ADDR=f"127.0.0.1:{hport}",
            LOG_LEVEL="info", INGEST_FULL_FILL_TIMEFRAMES="1d,1w,1M",
            INGEST_LOOKBACK_DAYS=30)
        env["DONT_FAKE_MONOTONIC"] = "1"  # cycle durations in real seconds
        with open(wrapper, "w") as f:
            f.write("#!/bin/bash\nset -e\n"
                    f"{args.build}/bin/coin-replay-exchange --listen 127.0.0.1:{rport} "
                    f"--data {args.data} --weight-limit 1000000 --clone 50 "
                    f"--symbols BTCUSDT,ETHUSDT,BNBUSDT,LTCUSDT,XRPUSDT "
                    f"> {tmp}/replay-steady.log 2>&1 &\n"
                    "RP=$!\ntrap 'kill $RP 2>/dev/null' EXIT\n"
                    f"for i in $(seq 200); do curl -sf -o /dev/null {replay_url}/api/v3/ping "
                    "&& break; sleep 0.1; done\n"
                    f"{args.build}/bin/coin-ingest > {tmp}/ingest-steady.log 2>&1 &\n"
                    f"echo $! > {tmp}/ingest.pid\nwait $!\n")
        os.chmod(wrapper, 0o755)
        # Start just before an hour boundary so a live cycle comes quickly.
        p = st.start(["faketime", "-f", "+0 x60", wrapper], "steady-wrapper.log", env)
        deadline = time.time() + args.steady_minutes * 60
        metrics = os.path.join(tmp, "site", "runtime_metrics.json")
        while time.time() < deadline and p.poll() is None:
            time.sleep(1)
        with open(os.path.join(tmp, "ingest.pid")) as f:
            os.kill(int(f.read()), signal.SIGTERM)  # the wrapper then stops the replay
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        with open(metrics) as f:
            m = json.load(f)
        # The first cycle is the backfill; the window's p95 includes it only if it
        # is among the last 240 cycles, so report it separately from the log.
        cycles = []
        with open(os.path.join(tmp, "ingest-steady.log")) as f:
            for line in f:
                if '"cycle done"' in line:
                    cycles.append(json.loads(line))
        live = [c["elapsed_seconds"] for c in cycles[1:]]
        live.sort()
        p95 = live[max(0, int(len(live) * 0.95 + 0.999) - 1)] if live else None
        return {"cycles": len(cycles), "first_cycle_seconds": cycles[0]["elapsed_seconds"]
                if cycles else None, "live_cycles": len(live), "live_p95_seconds": p95,
                "live_max_seconds": live[-1] if live else None,
                "overruns": sum(1 for c in cycles[1:] if c["overrun"]),
                "runtime_metrics": m["summary"]}
    finally:
        st.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.environ.get(
        "COIN_SHARED_DATA_DIR", os.path.join(ROOT, "..", "shared", "data", "candles")))
    ap.add_argument("--steady-minutes", type=float, default=4)
    ap.add_argument("--skip-steady", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.data = os.path.abspath(args.data)
    out = {}
    tmp = tempfile.mkdtemp(prefix="coin-bench-ingest-")
    try:
        os.makedirs(os.path.join(tmp, "b"))
        out["backfill"] = backfill(args, os.path.join(tmp, "b"))
        if not args.skip_steady:
            os.makedirs(os.path.join(tmp, "s"))
            out["steady"] = steady(args, os.path.join(tmp, "s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    import urllib.parse
    main()
