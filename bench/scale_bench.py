#!/usr/bin/env python3
"""Scale-out benchmark (not a test): 1000 symbols x 5 timeframes = 5000 series.

A 3-node nats-server cluster (NATS_REPLICAS=3), one influxd, the replay exchange with
--clone 1000, coin-ingest x3 (distinct SERVICE_ID, same config), one coin-publish and one
coin-monitor. After the backfill (INGEST_LOOKBACK_DAYS=2 for 1m/1h/1d, 1w and 1M from the
first candle; 2 days so that every 1d series has a closed candle) two steady phases of real 1m boundaries are measured in the same run:

  phase 3x: three ingest replicas share the series;
  phase 1x: two replicas are stopped (a graceful leave), the third owns all 5000 series.

Per phase: candle close -> the final manifest.json (update_in_progress false) listing it
(so its history/prediction files are on disk), p50/p95/max over every 1m series and boundary;
ingest cycle p95/max and overruns per replica (its "cycle done" log lines); coin-publish's
per-batch latency histogram (stream arrival -> files on disk); coin-monitor pass durations
(coin_monitor_pass_last_seconds, sampled per pass). At the end VmHWM/VmRSS of every process.

Real servers on 127.0.0.1, free ports, one temp dir; every process is stopped by PID in a
finally block; a hard timeout (SIGALRM) bounds the run.
Usage: bench/scale_bench.py [--build build] [--data ../shared/data/candles]
          [--steady-minutes 4] [--timeout-minutes 25] [--keep]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

from common import free_port, influx_conf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_SYMBOLS = 1000  # --symbols N for a quick trial of the harness
TIMEFRAMES = ["1m", "1h", "1d", "1w", "1M"]
SYMBOLS = []


def clone_names(n):
    """The replay's --clone names (width 2, 3 or 4 digits as in replay_data.c)."""
    w = 4 if n >= 1000 else 3 if n >= 100 else 2
    return [f"SYM{i:0{w}d}USDT" for i in range(1, n + 1)]
MINUTE = 60000


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("scale_bench: hard timeout reached" if signum == signal.SIGALRM else
                  f"scale_bench: stopped by signal {signum}")


def log(msg):
    print(time.strftime("%H:%M:%S", time.gmtime()) + " " + msg, file=sys.stderr, flush=True)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            if http_get(url, 1)[0] in (200, 204):
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"scale_bench: {url} not ready in {deadline} s")


def wait_up(st, name, url, deadline=90):
    """Until url answers at all (any HTTP status): the service has made its streams and
    buckets. Services start one after another: on a freshly formed cluster, several
    creating the same stream at once can time out (seen: "stream info: Timeout")."""
    end = time.time() + deadline
    while time.time() < end:
        st.check_alive()
        try:
            http_get(url, 1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"scale_bench: {name} not listening in {deadline} s")


def prom(url):
    """Prometheus text -> {name or name{labels}: float}."""
    out = {}
    try:
        body = http_get(url + "/metrics")[1].decode()
    except Exception:
        return out
    for line in body.splitlines():
        if not line or line[0] == "#":
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def proc_mem(pid):
    """(VmHWM, VmRSS) in MiB from /proc/PID/status, or (None, None)."""
    hwm = rss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return hwm, rss


def pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(len(s) * q + 0.999999) - 1))]


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = {}  # name -> Popen

    def start(self, name, argv, env=None):
        logf = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                             cwd=self.tmp)
        logf.close()
        self.procs[name] = p
        return p

    def stop_one(self, name, wait=20):
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self):
        for name in reversed(list(self.procs)):
            try:
                self.stop_one(name)
            except BaseException as e:  # keep stopping the others
                log(f"stopping {name}: {e}")
                p = self.procs[name]
                if p.poll() is None:
                    p.kill()

    def check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None and not getattr(p, "stopped_on_purpose", False):
                raise SystemExit(f"scale_bench: {name} exited {p.returncode}; see "
                                 f"{os.path.join(self.tmp, name + '.log')}")

    def nats_cluster(self, n=3):
        nodes = [{"name": f"n{i + 1}", "port": free_port(), "cport": free_port(),
                  "mport": free_port()} for i in range(n)]
        for i, nd in enumerate(nodes):
            routes = ",".join(f"nats://127.0.0.1:{o['cport']}" for k, o in enumerate(nodes)
                              if k != i)
            self.start(f"nats-{nd['name']}", [
                "/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(nd["port"]),
                "-m", str(nd["mport"]), "-js", "-sd",
                os.path.join(self.tmp, nd["name"], "js"), "-n", nd["name"],
                "--cluster_name", "coin", "--cluster", f"nats://127.0.0.1:{nd['cport']}",
                "--routes", routes])
        end = time.time() + 60
        while time.time() < end:
            ok = 0
            for nd in nodes:
                try:
                    r = json.loads(http_get(f"http://127.0.0.1:{nd['mport']}/routez", 1)[1])
                    j = json.loads(http_get(f"http://127.0.0.1:{nd['mport']}/jsz", 1)[1])
                    h = http_get(f"http://127.0.0.1:{nd['mport']}/healthz", 1)[0]
                    if (r.get("num_routes", 0) >= n - 1 and h == 200 and
                            (j.get("meta_cluster") or {}).get("leader")):
                        ok += 1
                except Exception:
                    pass
            if ok == n:
                self.nats_mports = [(nd["name"], nd["mport"]) for nd in nodes]
                return ",".join(f"nats://127.0.0.1:{nd['port']}" for nd in nodes)
            time.sleep(0.3)
        raise SystemExit("scale_bench: NATS cluster not ready in 60 s")

    def influx(self):
        conf, port = influx_conf(self.tmp)
        self.start("influxd", ["influxd", "run", "-config", conf])
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/ping")
        return url

    def replay(self, build, data):
        port = free_port()
        # Only symbols with a 1m file as clone sources: every 1m series has candles.
        self.start("replay", [os.path.join(build, "bin", "coin-replay-exchange"),
                              "--listen", f"127.0.0.1:{port}", "--data", data,
                              "--symbols", "BTCUSDT,ETHUSDT", "--clone", str(N_SYMBOLS),
                              "--weight-limit", "1000000", "--log-level", "warn"])
        url = f"http://127.0.0.1:{port}"
        wait_up(self, "replay", url + "/api/v3/ping", deadline=60)
        return url


class ManifestWatch(threading.Thread):
    """Polls manifest.json (stat every 20 ms); on each new final manifest records, per 1m
    series, when each newly listed candle open was first seen (time of the stat that saw
    the new file)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.last = {}  # (symbol, tf) -> last_candle_open_ms
        self.seen = {}  # (symbol, open_ms) -> wall seconds, 1m only
        self.gen = {}  # (symbol, open_ms) -> the entry's generated_at_ms / 1000
        self.manifests = 0
        self.parse_s = []
        self.n_series = 0

    def run(self):
        ident = None
        while not self.stop_ev.is_set():
            try:
                st = os.stat(self.path)
                cur = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                cur = None
            if cur is not None and cur != ident:
                t_seen = time.time()
                ident = cur
                try:
                    t0 = time.monotonic()
                    with open(self.path, "rb") as f:
                        m = json.loads(f.read())
                    self.parse_s.append(time.monotonic() - t0)
                except (OSError, ValueError):
                    m = None
                if m is not None and not m.get("update_in_progress"):
                    self.absorb(m, t_seen)
            self.stop_ev.wait(0.02)

    def absorb(self, m, t_seen):
        with self.lock:
            self.manifests += 1
            series = m.get("series") or []
            self.n_series = len(series)
            for s in series:
                key = (s["symbol"], s["timeframe"])
                o = s.get("last_candle_open_ms")
                if o is None:
                    continue
                prev = self.last.get(key)
                self.last[key] = o
                if key[1] != "1m" or prev is None or o <= prev:
                    continue
                # every candle up to o appeared now (normally just o)
                g = s.get("generated_at_ms")
                for t in range(max(prev + MINUTE, o - 10 * MINUTE), o + 1, MINUTE):
                    self.seen.setdefault((key[0], t), t_seen)
                    if g is not None:
                        self.gen.setdefault((key[0], t), g / 1000)

    def snapshot(self):
        with self.lock:
            return dict(self.last), self.n_series


class MonitorSampler(threading.Thread):
    """Samples coin-monitor's /metrics every 0.25 s: one duration per new pass."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stop_ev = threading.Event()
        self.passes = []  # (wall seconds, passes_total, pass_last_seconds, series)
        self.missed = 0

    def run(self):
        last = None
        while not self.stop_ev.is_set():
            m = prom(self.url)
            n = m.get("coin_monitor_passes_total")
            if n is not None and n != last:
                if last is not None and n - last > 1:
                    self.missed += int(n - last - 1)
                last = n
                self.passes.append((time.time(), n, m.get("coin_monitor_pass_last_seconds"),
                                    m.get("coin_monitor_series")))
            self.stop_ev.wait(0.25)


def env_common(nats, influx, replay, site, **kv):
    env = dict(os.environ)
    env.update({"NATS_URL": nats,
           "NATS_REPLICAS": "3", "INFLUX_URL": influx, "EXCHANGE_BASE_URL": replay,
           "SYMBOLS": ",".join(SYMBOLS), "PRIMARY_TIMEFRAME": "1h",
           "INGEST_TIMEFRAMES": ",".join(TIMEFRAMES), "ENABLE_MULTI_TIMEFRAMES": "true",
           "STATIC_DATA_DIR": site, "LOG_LEVEL": "warn", "SITE_DATA_SOURCE": "recorded"})
    env.update({k: str(v) for k, v in kv.items()})
    return env


def ingest_env(base, sid, port, ttl):
    e = dict(base)
    e.update({"SERVICE_ID": sid, "INGEST_HTTP_ADDR": f"127.0.0.1:{port}",
              "LOG_LEVEL": "info", "INGEST_LOOKBACK_DAYS": "2",
              "INGEST_FULL_FILL_TIMEFRAMES": "1w,1M", "EXCHANGE_WEIGHT_LIMIT": "1000000",
              "INGEST_MEMBER_TTL_SECONDS": str(ttl), "INGEST_BACKFILL_LOG_SECONDS": "3600"})
    return e


def cycles_between(path, start, end):
    """'cycle done' lines of an ingest log between two byte offsets."""
    out = []
    with open(path, "rb") as f:
        f.seek(start)
        chunk = f.read(max(0, end - start)).decode(errors="replace")
    for line in chunk.splitlines():
        if '"cycle done"' in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def hist_delta(a, b, name):
    """Per-bucket counts of a Prometheus histogram between two scrapes -> (le, n) list."""
    rows = []
    for k, v in b.items():
        if k.startswith(name + "_bucket{le=\""):
            le = k[len(name) + 12:-2]
            rows.append((float("inf") if le == "+Inf" else float(le), v - a.get(k, 0)))
    rows.sort()
    return rows


def hist_quantile(rows, q):
    """Upper bound of the bucket holding quantile q (cumulative buckets)."""
    if not rows or rows[-1][1] <= 0:
        return None
    want = rows[-1][1] * q
    for le, n in rows:
        if n >= want:
            return le
    return rows[-1][0]


def parse_ts(ts):
    """A log line's "ts" (2026-12-04T19:05:17.517Z) -> unix seconds."""
    if not ts:
        return None
    try:
        import calendar
        base, frac = ts.rstrip("Z").split(".")
        return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000
    except ValueError:
        return None


def now_ms():
    return int(time.time() * 1000)


def wait_backfill(st, watch, ing_urls, deadline_s):
    """Every series listed, every 1m series' newest closed minute on the site, and every
    replica's last cycle complete."""
    end = time.time() + deadline_s
    t0 = time.time()
    nxt = 0
    while time.time() < end:
        st.check_alive()
        last, n = watch.snapshot()
        latest_closed = (now_ms() // MINUTE - 1) * MINUTE
        ones = [v for (s, tf), v in last.items() if tf == "1m"]
        behind = sum(1 for v in ones if v < latest_closed - MINUTE)
        if time.time() >= nxt:
            log(f"backfill: manifest lists {n} series, {len(last)} with candles, 1m series "
                f"{len(ones)}, more than one minute behind {behind}")
            nxt = time.time() + 15
        total = N_SYMBOLS * len(TIMEFRAMES)
        if n >= total and len(last) >= total and len(ones) == N_SYMBOLS and behind == 0:
            return time.time() - t0
        time.sleep(1)
    raise SystemExit(f"scale_bench: backfill not done in {deadline_s} s")


def publish_pending(mports):
    """(num_pending, num_ack_pending) of the coin-publish consumer as its leader node
    reports it (the other replicas' views lag), or None."""
    for name, mp in mports:
        try:
            j = json.loads(http_get(f"http://127.0.0.1:{mp}/jsz?accounts=true&streams=true"
                                    "&consumers=true", 5)[1])
        except Exception:
            continue
        for acc in j.get("account_details") or []:
            for sd in acc.get("stream_detail") or []:
                if sd.get("name") != "COIN_CANDLES":
                    continue
                for c in sd.get("consumer_detail") or []:
                    if (c.get("name") == "coin-publish" and
                            (c.get("cluster") or {}).get("leader") == name):
                        return (c.get("num_pending", 0), c.get("num_ack_pending", 0))
    return None


def wait_drained(st, deadline_s):
    """Until coin-publish has no backlog from the backfill: nothing pending or unacked
    on its consumer, twice in a row, at least 20 s before a boundary."""
    end = time.time() + deadline_s
    t0 = time.time()
    ok, nxt = 0, 0
    while time.time() < end:
        st.check_alive()
        in_min = now_ms() % MINUTE
        v = publish_pending(st.nats_mports)
        if time.time() >= nxt:
            log(f"publish consumer (pending, ack pending): {v}")
            nxt = time.time() + 15
        if v == (0, 0) and 5000 < in_min < 40000:
            ok += 1
            if ok >= 2:
                return time.time() - t0
        else:
            ok = 0
        time.sleep(1)
    raise SystemExit(f"scale_bench: coin-publish still behind after {deadline_s} s")


def phase(name, st, watch, mon, ing, pub_url, minutes):
    """Measures the 1m boundaries of the next `minutes` minutes."""
    # start 10 s before the next boundary (state is settled by then)
    t_start = (now_ms() // MINUTE + 1) * MINUTE - 10000
    while now_ms() < t_start:
        st.check_alive()
        time.sleep(0.2)
    logs = {sid: os.path.getsize(os.path.join(st.tmp, sid + ".log")) for sid, _ in ing}
    m_ing0 = {sid: prom(u) for sid, u in ing}
    m_pub0 = prom(pub_url)
    n_pass0 = len(mon.passes)
    first_close = t_start + 10000  # the first boundary closes the candle opened before it
    closes = [first_close + k * MINUTE for k in range(minutes)]
    log(f"phase {name}: boundaries {[time.strftime('%H:%M', time.gmtime(c / 1000)) for c in closes]}")
    t_end = closes[-1] + 40000  # 40 s after the last boundary for its files
    while now_ms() < t_end:
        st.check_alive()
        time.sleep(0.5)
    m_ing1 = {sid: prom(u) for sid, u in ing}
    m_pub1 = prom(pub_url)
    # close -> site
    lat, missing, per_boundary = [], 0, []
    with watch.lock:
        seen, gen = dict(watch.seen), dict(watch.gen)
    cycs = {}
    for sid, _ in ing:
        path = os.path.join(st.tmp, sid + ".log")
        cycs[sid] = cycles_between(path, logs[sid], os.path.getsize(path))
    for c in closes:
        lb, lg = [], []
        for s in SYMBOLS:
            t = seen.get((s, c - MINUTE))
            if t is None:
                missing += 1
            else:
                lb.append(t - c / 1000)
            if (s, c - MINUTE) in gen:
                lg.append(gen[(s, c - MINUTE)] - c / 1000)
        lat += lb
        # when each replica's cycle for this boundary ended (its log line's ts)
        ends = []
        for sid in cycs:
            for cy in cycs[sid]:
                te = parse_ts(cy.get("ts"))
                if te is not None and c / 1000 < te < c / 1000 + 59 and cy.get("due", 0) > 0:
                    ends.append(te - c / 1000)
                    break
        per_boundary.append({"close": time.strftime("%H:%M:%S", time.gmtime(c / 1000)),
                             "n": len(lb), "p50_s": pct(lb, 0.5), "p95_s": pct(lb, 0.95),
                             "max_s": max(lb) if lb else None,
                             "ingest_cycles_end_s": ends,
                             "generated_p50_s": pct(lg, 0.5), "generated_p95_s": pct(lg, 0.95)})
    # ingest cycles per replica
    reps = {}
    for sid, _ in ing:
        cyc = cycs[sid]
        el = [c["elapsed_seconds"] for c in cyc if c.get("due", 0) > 0]  # boundary cycles
        a, b = m_ing0[sid], m_ing1[sid]
        reps[sid] = {
            "cycles": len(el), "cycles_all": len(cyc), "p50_s": pct(el, 0.5), "p95_s": pct(el, 0.95),
            "max_s": max(el) if el else None,
            "overruns_log": sum(1 for c in cyc if c.get("overrun")),
            "overruns_metric": b.get("coin_ingest_cycle_overruns_total", 0) -
            a.get("coin_ingest_cycle_overruns_total", 0),
            "incomplete": sum(1 for c in cyc if not c.get("complete", True)),
            "series_owned": b.get("coin_ingest_series_owned"),
            "members": b.get("coin_ingest_members"),
            "candles_written": b.get("coin_ingest_candles_written_total", 0) -
            a.get("coin_ingest_candles_written_total", 0)}
    rows = hist_delta(m_pub0, m_pub1, "coin_publish_latency_seconds")
    cnt = m_pub1.get("coin_publish_latency_seconds_count", 0) - \
        m_pub0.get("coin_publish_latency_seconds_count", 0)
    sm = m_pub1.get("coin_publish_latency_seconds_sum", 0) - \
        m_pub0.get("coin_publish_latency_seconds_sum", 0)
    pub = {"batches": cnt, "mean_s": sm / cnt if cnt else None,
           "p50_le_s": hist_quantile(rows, 0.5), "p95_le_s": hist_quantile(rows, 0.95),
           "p99_le_s": hist_quantile(rows, 0.99), "buckets": rows,
           "files_written": m_pub1.get("coin_publish_files_written_total", 0) -
           m_pub0.get("coin_publish_files_written_total", 0),
           "manifests_written": m_pub1.get("coin_publish_manifests_written_total", 0) -
           m_pub0.get("coin_publish_manifests_written_total", 0)}
    passes = [p[2] for p in mon.passes[n_pass0:] if p[2] is not None]
    return {"boundaries": len(closes), "close_to_site": {
        "n": len(lat), "missing": missing, "p50_s": pct(lat, 0.5), "p95_s": pct(lat, 0.95),
        "max_s": max(lat) if lat else None, "per_boundary": per_boundary},
        "ingest": reps, "publish": pub,
        "monitor": {"passes": len(passes), "p50_s": pct(passes, 0.5),
                    "p95_s": pct(passes, 0.95), "max_s": max(passes) if passes else None}}


def mem_all(st, names):
    return {n: dict(zip(("VmHWM_MiB", "VmRSS_MiB"), proc_mem(st.procs[n].pid)))
            for n in names if n in st.procs and st.procs[n].poll() is None}


def run(args, tmp):
    st = Stack(tmp)
    watch = mon = None
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        t0 = time.time()
        nats = st.nats_cluster()
        influx = st.influx()
        replay = st.replay(args.build, args.data)
        log(f"servers up in {time.time() - t0:.1f} s")
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        base = env_common(nats, influx, replay, site)
        bin_ = lambda n: os.path.join(args.build, "bin", n)
        ing = []
        t_bf = time.time()
        for k in range(3):
            sid, port = f"ingest-{k + 1}", free_port()
            st.start(sid, [bin_("coin-ingest")], ingest_env(base, sid, port, args.member_ttl))
            ing.append((sid, f"http://127.0.0.1:{port}"))
            wait_up(st, sid, ing[-1][1] + "/healthz")
        pport, mport = free_port(), free_port()
        pe = dict(base, SERVICE_ID="publish-1", PUBLISH_HTTP_ADDR=f"127.0.0.1:{pport}",
                  PUBLISH_MAX_SERIES="10000")
        pub_url, mon_url = f"http://127.0.0.1:{pport}", f"http://127.0.0.1:{mport}"
        st.start("publish-1", [bin_("coin-publish")], pe)
        wait_up(st, "publish-1", pub_url + "/healthz")
        me = dict(base, SERVICE_ID="monitor-1", MONITOR_HTTP_ADDR=f"127.0.0.1:{mport}")
        st.start("monitor-1", [bin_("coin-monitor")], me)
        wait_up(st, "monitor-1", mon_url + "/healthz")
        watch = ManifestWatch(os.path.join(site, "manifest.json"))
        watch.start()
        mon = MonitorSampler(mon_url)
        mon.start()
        out["backfill_seconds"] = wait_backfill(st, watch, ing, args.backfill_timeout)
        log(f"backfill done in {out['backfill_seconds']:.0f} s")
        out["publish_drain_seconds"] = wait_drained(st, args.backfill_timeout)
        log(f"publish drained in {out['publish_drain_seconds']:.0f} s more")
        out["backfill_cycles"] = {}
        for sid, _ in ing:
            path = os.path.join(tmp, sid + ".log")
            cyc = cycles_between(path, 0, os.path.getsize(path))
            out["backfill_cycles"][sid] = [(c.get("due"), c["elapsed_seconds"]) for c in cyc]
        m = prom(pub_url)
        out["publish_rebuild"] = {"seconds": m.get("coin_publish_rebuild_seconds"),
                                  "files": m.get("coin_publish_rebuild_files")}
        names = ["nats-n1", "nats-n2", "nats-n3", "influxd", "replay", "publish-1",
                 "monitor-1"] + [s for s, _ in ing]
        out["phase_3x"] = phase("3x", st, watch, mon, ing, pub_url, args.steady_minutes)
        out["mem_after_3x"] = mem_all(st, names)
        # graceful leave of two replicas: ingest-1 takes all series over
        for sid, _ in ing[1:]:
            st.procs[sid].stopped_on_purpose = True
            st.stop_one(sid)
        end = time.time() + 60
        while time.time() < end:
            if prom(ing[0][1]).get("coin_ingest_series_owned") == N_SYMBOLS * len(TIMEFRAMES):
                break
            time.sleep(0.5)
        else:
            raise SystemExit("scale_bench: ingest-1 did not take all series over in 60 s")
        log("ingest-1 owns all series")
        out["phase_1x"] = phase("1x", st, watch, mon, ing[:1], pub_url, args.steady_minutes)
        out["mem_end"] = mem_all(st, names)
        out["monitor_missed_samples"] = mon.missed
        out["manifest_parse_s_p50"] = pct(watch.parse_s, 0.5)
        out["manifest_bytes"] = os.path.getsize(os.path.join(site, "manifest.json"))
        out["load_avg_end"] = os.getloadavg()
        return out
    finally:
        for t in (watch, mon):
            if t is not None:
                t.stop_ev.set()
        st.stop()


def fmt(v, unit="", nd=2):
    if v is None:
        return "-"
    return f"{v:.{nd}f}{unit}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def summary(o):
    p3, p1 = o["phase_3x"], o["phase_1x"]
    print(f"\nScale-out, {N_SYMBOLS} symbols x 5 timeframes = {N_SYMBOLS * 5} series "
          f"({N_SYMBOLS} 1m closes per minute)")
    print(f"backfill to an up-to-date site: {o['backfill_seconds']:.0f} s")
    print("| measure | 3 ingest replicas | 1 replica | 3 vs 1 | target |")
    print("|---|---|---|---|---|")
    c3, c1 = p3["close_to_site"], p1["close_to_site"]
    print(f"| close -> site p50 | {fmt(c3['p50_s'], ' s')} | {fmt(c1['p50_s'], ' s')} | "
          f"{ratio(c3['p50_s'], c1['p50_s'])} | - |")
    print(f"| close -> site p95 | {fmt(c3['p95_s'], ' s')} | {fmt(c1['p95_s'], ' s')} | "
          f"{ratio(c3['p95_s'], c1['p95_s'])} | < 5 s |")
    print(f"| close -> site max | {fmt(c3['max_s'], ' s')} | {fmt(c1['max_s'], ' s')} | "
          f"{ratio(c3['max_s'], c1['max_s'])} | - |")
    print(f"| candles seen / missing | {c3['n']} / {c3['missing']} | {c1['n']} / "
          f"{c1['missing']} | | 0 missing |")
    i3 = [r["p95_s"] for r in p3["ingest"].values() if r["p95_s"] is not None]
    i1 = p1["ingest"]["ingest-1"]
    print(f"| ingest cycle p95 per replica | "
          f"{' / '.join(fmt(x, ' s') for x in i3)} | {fmt(i1['p95_s'], ' s')} | "
          f"{ratio(max(i3) if i3 else None, i1['p95_s'])} | - |")
    ov3 = sum(r["overruns_metric"] for r in p3["ingest"].values())
    print(f"| ingest overruns | {ov3:.0f} | {i1['overruns_metric']:.0f} | | 0 |")
    b3, b1 = p3["publish"], p1["publish"]
    print(f"| publish per batch p95 (bucket bound) | <= {fmt(b3['p95_le_s'], ' s', 3)} | "
          f"<= {fmt(b1['p95_le_s'], ' s', 3)} | | - |")
    print(f"| publish per batch mean | {fmt(b3['mean_s'], ' s', 3)} | "
          f"{fmt(b1['mean_s'], ' s', 3)} | {ratio(b3['mean_s'], b1['mean_s'])} | - |")
    m3, m1 = p3["monitor"], p1["monitor"]
    print(f"| monitor pass p50 / p95 / max | {fmt(m3['p50_s'] and m3['p50_s'] * 1000, ' ms', 0)}"
          f" / {fmt(m3['p95_s'] and m3['p95_s'] * 1000, ' ms', 0)} / "
          f"{fmt(m3['max_s'] and m3['max_s'] * 1000, ' ms', 0)} | "
          f"{fmt(m1['p50_s'] and m1['p50_s'] * 1000, ' ms', 0)} / "
          f"{fmt(m1['p95_s'] and m1['p95_s'] * 1000, ' ms', 0)} / "
          f"{fmt(m1['max_s'] and m1['max_s'] * 1000, ' ms', 0)} | | < 100 ms |")
    for name, ph in (("3x", p3), ("1x", p1)):
        print(f"\nphase {name}, close -> site per boundary:")
        print("| candle close (UTC) | candles | p50 s | p95 s | max s | ingest cycles end s "
              "| publish staged p50 / p95 s |")
        print("|---|---|---|---|---|---|---|")
        for b in ph["close_to_site"]["per_boundary"]:
            print(f"| {b['close']} | {b['n']} | {fmt(b['p50_s'])} | {fmt(b['p95_s'])} | "
                  f"{fmt(b['max_s'])} | {' / '.join(fmt(x) for x in b['ingest_cycles_end_s'])} "
                  f"| {fmt(b['generated_p50_s'])} / {fmt(b['generated_p95_s'])} |")
    print("\n| process | VmHWM MiB (after 3x) | VmHWM MiB (end) | VmRSS MiB (end) |")
    print("|---|---|---|---|")
    for n, v in o["mem_after_3x"].items():
        e = o["mem_end"].get(n, {})
        print(f"| {n} | {fmt(v['VmHWM_MiB'], '', 1)} | {fmt(e.get('VmHWM_MiB'), '', 1)} | "
              f"{fmt(e.get('VmRSS_MiB'), '', 1)} |")


def main():
    global N_SYMBOLS, SYMBOLS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.environ.get("COIN_SHARED_DATA_DIR") or
                    os.path.join(ROOT, "..", "shared", "data", "candles"))
    ap.add_argument("--steady-minutes", type=int, default=4)
    ap.add_argument("--symbols", type=int, default=N_SYMBOLS, help="clones (5 series each)")
    ap.add_argument("--backfill-timeout", type=int, default=600)
    ap.add_argument("--member-ttl", type=int, default=6)
    ap.add_argument("--timeout-minutes", type=float, default=25)
    ap.add_argument("--json", help="also write the full result here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.data = os.path.abspath(args.data)
    N_SYMBOLS = args.symbols
    SYMBOLS = clone_names(N_SYMBOLS)
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_alarm)  # the finally blocks stop every process
    signal.alarm(int(args.timeout_minutes * 60))
    tmp = tempfile.mkdtemp(prefix="coin-bench-scale-")
    log(f"temp dir {tmp}")
    try:
        out = run(args, tmp)
    finally:
        signal.alarm(0)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    print(json.dumps(out, indent=2))
    summary(out)


if __name__ == "__main__":
    main()
