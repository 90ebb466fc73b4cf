#!/usr/bin/env python3
"""make_fixture.py DIR [--live-anchor-ms MS]: writes a fixture static site
(site contract v2, docs/static-site.md + its v2 additions) into DIR for the
browser test: per series history.json, prediction.json (and for some
track_record.json), status.json, runtime_metrics.json, and manifest.json
last, with size and sha256 of each file. Every file is written atomically
(temp + rename), so the test may rewrite the site while it is served.
Series cover every state the page must show:

  BTCUSDT 1h   fresh, served prediction with band, walk-forward on 1h,
               track record (48 rows, the last one pending; 24h/7d/30d)
  BTCUSDT 1d   written soft_stale (values shown with a warning)
  BTCUSDT 1m   fresh, prediction_status not_evaluated; its walk_forward is
               from 1h (the page must not show it for 1m)
  BTCUSDT 1M   fresh, prices ~20000-60000, a band far below the data (the
               axis must not follow it); no last_candle_close (the page
               computes the month end)
  DOGEUSDT 1h  "live": fresh when written, soft_stale_at = anchor + 4 s,
               hard_stale_at = anchor + 8 s (anchor = --live-anchor-ms, or
               now); values must vanish at hard without a reload
  ETHUSDT 1h   hard_stale (blocked), last candle 10 h old; the monitor says
               only soft_stale (better: ignored)
  ETHUSDT 1d   insufficient_data (no candles)
  LTCUSDT 1h   files fresh but 60 s old; status.json (newer) says
               hard_stale: the page must use the monitor's view
  SOLUSDT 1h   fresh data, degraded: no_model; no track record listed
  XRPUSDT 1h   manifest sha256 does not match history.json (corrupt)

manifest data_source is "recorded". Deterministic apart from "now".
"""
import calendar
import hashlib
import json
import math
import os
import random
import sys
import time

M = 60000
H = 3600000
D = 86400000
EXCHANGE = "binance"
SOFT_AFTER = {"1m": 30000}       # docs/freshness.md defaults
HARD_AFTER = {"1m": 180000}
NOTE = ("these candles are recorded Binance candles replayed with shifted "
        "times (demo), not live market data.")


def iso(ms):
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def month_add(ms, n):
    t = time.gmtime(ms // 1000)
    y, m = t.tm_year, t.tm_mon - 1 + n
    y += m // 12
    m = m % 12
    return calendar.timegm((y, m + 1, 1, 0, 0, 0)) * 1000


def next_open(tf, open_ms):
    if tf == "1M":
        return month_add(open_ms, 1)
    return open_ms + {"1m": M, "1h": H, "1d": D, "1w": 7 * D}[tf]


def calendar_validity(tf, last_open):
    """The evaluator's instants for a series holding last_open: the next
    candle closes at next_open(next_open(last)); overdue counts from then."""
    nxt_close = next_open(tf, next_open(tf, last_open))
    return (nxt_close + SOFT_AFTER.get(tf, 120000),
            nxt_close + HARD_AFTER.get(tf, 300000))


def walk(seed, opens, start_price, vol=0.006, volume=800.0):
    rnd = random.Random(seed)
    out = []
    price = start_price
    for t in opens:
        o = price
        c = o * math.exp(rnd.gauss(0, vol))
        hi = max(o, c) * (1 + abs(rnd.gauss(0, vol / 3)))
        lo = min(o, c) * (1 - abs(rnd.gauss(0, vol / 3)))
        v = round(abs(rnd.gauss(volume, volume / 4)), 4)
        out.append([t, round(o, 2), round(hi, 2), round(lo, 2), round(c, 2), v])
        price = c
    return out


def monthly(seed, opens):
    """~20000 -> 60000 -> ~21000 -> ~30000: a 1M series spanning the
    range the axis must stay within."""
    rnd = random.Random(seed)
    pts = [(0.0, 21000.0), (0.45, 59000.0), (0.8, 21500.0), (1.0, 30000.0)]
    n = len(opens)
    out = []
    prev = pts[0][1]
    for i, t in enumerate(opens):
        f = i / (n - 1)
        for (f0, p0), (f1, p1) in zip(pts, pts[1:]):
            if f0 <= f <= f1:
                target = p0 + (p1 - p0) * (f - f0) / (f1 - f0)
                break
        c = target * math.exp(rnd.gauss(0, 0.03))
        o = prev
        hi = max(o, c) * (1 + abs(rnd.gauss(0, 0.02)))
        lo = min(o, c) * (1 - abs(rnd.gauss(0, 0.02)))
        out.append([t, round(o, 2), round(hi, 2), round(lo, 2), round(c, 2),
                    round(abs(rnd.gauss(9.0e5, 2.0e5)), 2)])
        prev = c
    return out


def validity(status, soft, hard):
    return {"status": status, "soft_stale_at_ms": soft,
            "soft_stale_at": iso(soft), "hard_stale_at_ms": hard,
            "hard_stale_at": iso(hard)}


def common(gen, spec):
    last = spec["candles"][-1][0] if spec["candles"] else None
    close = next_open(spec["tf"], last) if last is not None else None
    d = {"schema_version": 2, "generated_at": iso(gen),
         "generated_at_ms": gen, "exchange": EXCHANGE,
         "symbol": spec["sym"], "timeframe": spec["tf"]}
    d.update(validity(spec["status"], spec["soft"], spec["hard"]))
    d.update({"degraded": spec["degraded"],
              "degraded_reasons": spec["reasons"],
              "last_candle_open_ms": last, "last_candle_open": iso(last)})
    if not spec.get("no_close"):
        d["last_candle_close_ms"] = close
        d["last_candle_close"] = iso(close)
    return d


def prediction(gen, spec):
    p = common(gen, spec)
    cs = spec["candles"]
    last = cs[-1][0] if cs else None
    tf = spec["tf"]
    p["status"] = spec.get("pred_status", spec["status"])
    p["input_status"] = spec["status"]
    p["input_last_candle_open_ms"] = last
    p["model"] = {"version": "ridge-20260101-001", "kind": "ridge"} \
        if spec.get("model", True) else None
    p["target_open_ms"] = next_open(tf, last) if last is not None else None
    p["target_open"] = iso(p["target_open_ms"])
    token = spec["token"]
    p["prediction_status"] = token
    if token == "served":
        close = cs[-1][4]
        pc = round(close * 1.0042, 2)
        lo, hi = spec.get("band", (0.99, 1.012))
        p.update({"predicted_close": pc,
                  "predicted_return": math.log(pc / close),
                  "band": {"low": round(pc * lo, 2),
                           "high": round(pc * hi, 2), "level": 0.8},
                  "direction": "up", "direction_probability": 0.57})
    else:
        p.update({"predicted_close": None, "predicted_return": None,
                  "band": None, "direction": None,
                  "direction_probability": None})
    p["walk_forward"] = spec.get("wf")
    p["evaluated_on_timeframe"] = spec.get("evaluated", p["walk_forward"]
                                           is not None)
    p["blocked_reason"] = None if token == "served" else token
    return p


def wilson(k, n, z=1.96):
    if n == 0:
        return None
    ph = k / n
    den = 1 + z * z / n
    mid = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return [round(mid - half, 4), round(mid + half, 4)]


def track_record(gen, spec, step, n_listed=48, days=30):
    """A 30-day record whose last row (the served prediction) is pending;
    windows from all of it, the file lists the last n_listed rows."""
    rnd = random.Random(99)
    cs = spec["candles"]
    last_open = cs[-1][0]
    closes = {c[0]: c[4] for c in cs}
    n_all = days * D // step
    rows = []
    price = cs[0][4]
    for k in range(n_all, -1, -1):       # targets up to last_open + step
        target = last_open + step - k * step
        inp = closes.get(target - step, price)
        pr = rnd.gauss(0.0004, 0.003)
        if k == 0:       # the served prediction (prediction.json)
            pr = math.log(round(inp * 1.0042, 2) / inp)
        row = {"target_open_ms": target, "target_open": iso(target),
               "model_version": "ridge-20260101-001",
               "input_close": round(inp, 2), "predicted_return": pr,
               "predicted_close": round(inp * math.exp(pr), 2),
               "direction": "up" if pr >= 0 else "down"}
        if k == 0:                        # the candle has not closed yet
            real = None
        else:
            real = closes.get(target, inp * math.exp(rnd.gauss(0, 0.005)))
        price = real if real is not None else price
        if real is None:
            row.update({"realized_close": None, "realized_return": None,
                        "abs_error": None, "persistence_abs_error": None,
                        "hit": None})
        else:
            rr = math.log(real / inp)
            row.update({"realized_close": round(real, 2),
                        "realized_return": rr,
                        "abs_error": abs(pr - rr),
                        "persistence_abs_error": abs(rr),
                        "hit": None if rr == 0 else (pr >= 0) == (rr > 0)})
        rows.append(row)
    windows = []
    for name, span in (("24h", D), ("7d", 7 * D), ("30d", 30 * D)):
        rs = [r for r in rows if r["target_open_ms"] >= gen - span
              and r["realized_return"] is not None]
        n = len(rs)
        mae = sum(r["abs_error"] for r in rs) / n if n else None
        pmae = sum(r["persistence_abs_error"] for r in rs) / n if n else None
        diffs = [r["abs_error"] - r["persistence_abs_error"] for r in rs]
        ci = None
        if n > 1:
            mu = sum(diffs) / n
            sd = math.sqrt(sum((x - mu) ** 2 for x in diffs) / (n - 1))
            ci = [mu - 1.96 * sd / math.sqrt(n), mu + 1.96 * sd / math.sqrt(n)]
        dn = [r for r in rs if r["hit"] is not None]
        hits = sum(1 for r in dn if r["hit"])
        windows.append({"window": name, "from_ms": gen - span, "n": n,
                        "mae": mae, "persistence_mae": pmae,
                        "mae_ratio": mae / pmae if n and pmae else None,
                        "mae_diff_ci95": ci, "directional_n": len(dn),
                        "hits": hits,
                        "hit_rate": hits / len(dn) if dn else None,
                        "hit_rate_ci95": wilson(hits, len(dn))})
    t = common(gen, spec)
    t["units"] = "log_return"
    t["rows"] = rows[-n_listed:]
    t["windows"] = windows
    return t


def write(root, rel, doc):
    data = json.dumps(doc, separators=(",", ":")).encode()
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return {"path": rel, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def main(argv):
    root = argv[1]
    now = int(time.time() * 1000)
    anchor = now
    if len(argv) >= 4 and argv[2] == "--live-anchor-ms":
        anchor = int(argv[3])
    gen_files = now - 3000       # publish wrote the files,
    gen_manifest = now - 2000    # then the manifest,
    gen_monitor = now - 1000     # then the monitor looked
    last_h = (now // H - 1) * H
    last_m = (now // M - 1) * M
    this_month = month_add(now, 0)
    last_mo = month_add(this_month, -1)
    wf_1h = {"timeframe": "1h", "mae": 0.00425, "persistence_mae": 0.0048,
             "directional_accuracy": 0.534, "n": 2000}

    def hours(last, n):
        return [last - (n - 1 - i) * H for i in range(n)]

    specs = []

    def add(sym, tf, status, candles, token, soft=None, hard=None,
            cal=True, **kw):
        s = {"sym": sym, "tf": tf, "status": status, "candles": candles,
             "token": token, "degraded": False, "reasons": [],
             "gen": gen_files}
        if cal and candles:
            soft, hard = calendar_validity(tf, candles[-1][0])
        s["soft"], s["hard"] = soft, hard
        s.update(kw)
        specs.append(s)
        return s

    add("BTCUSDT", "1h", "fresh", walk(1, hours(last_h, 120), 42000.0),
        "served", wf=wf_1h, track=H)
    c = walk(2, [(now // D - 2 - (89 - i)) * D for i in range(90)], 40000.0,
             vol=0.02)
    add("BTCUSDT", "1d", "soft_stale", c, "served", cal=False,
        soft=now - 60000, hard=now + 6 * H,
        wf={"timeframe": "1d", "mae": 0.021, "persistence_mae": 0.0224,
            "directional_accuracy": 0.52, "n": 900})
    add("BTCUSDT", "1m",
        "fresh", walk(6, [last_m - (179 - i) * M for i in range(180)],
                      42100.0, vol=0.0008, volume=12.0),
        "not_evaluated", wf=wf_1h, evaluated=False)
    opens = []
    t = last_mo
    for _ in range(100):
        opens.append(t)
        t = month_add(t, -1)
    opens.reverse()
    add("BTCUSDT", "1M", "fresh", monthly(7, opens), "served",
        band=(0.3, 1.25), no_close=True,
        wf={"timeframe": "1M", "mae": 0.081, "persistence_mae": 0.086,
            "directional_accuracy": 0.55, "n": 60})
    add("DOGEUSDT", "1h", "fresh", walk(8, hours(last_h, 120), 0.165),
        "served", cal=False, soft=anchor + 4000, hard=anchor + 8000,
        wf=dict(wf_1h))
    add("ETHUSDT", "1h", "hard_stale", walk(3, hours(last_h - 10 * H, 120),
                                             2300.0),
        "hard_stale", wf=dict(wf_1h), monitor="soft_stale", firing=True)
    add("ETHUSDT", "1d", "insufficient_data", [], "insufficient_data",
        cal=False)
    add("LTCUSDT", "1h", "fresh", walk(9, hours(last_h, 120), 71.0),
        "served", wf=dict(wf_1h), gen=now - 60000, monitor="hard_stale",
        firing=True)
    add("SOLUSDT", "1h", "fresh", walk(4, hours(last_h, 120), 150.0),
        "no_model", model=False, degraded=True, reasons=["no_model"])
    add("XRPUSDT", "1h", "fresh", walk(5, hours(last_h, 60), 0.61),
        "served", wf=dict(wf_1h), bad_hash=True)

    order = ["fresh", "soft_stale", "soft_stale_escalated", "hard_stale",
             "hard_stale_escalated", "insufficient_data", "corrupt"]
    series = []
    counts = {}
    worst = "fresh"
    for s in specs:
        base = "v1/%s/%s/%s/" % (EXCHANGE, s["sym"], s["tf"])
        h = common(s["gen"], s)
        h["candles"] = s["candles"]
        h["publish_watermark_ms"] = h["last_candle_open_ms"]
        h["window_candles"] = len(s["candles"])
        files = [write(root, base + "history.json", h),
                 write(root, base + "prediction.json",
                       prediction(s["gen"], s))]
        if s.get("track"):
            files.append(write(root, base + "track_record.json",
                               track_record(s["gen"], s, s["track"])))
        if s.get("bad_hash"):
            files[0]["sha256"] = "0" * 64  # the page must notice
        last = h["last_candle_open_ms"]
        e = {"exchange": EXCHANGE, "symbol": s["sym"], "timeframe": s["tf"]}
        e.update(validity(s["status"], s["soft"], s["hard"]))
        e.update({"degraded": s["degraded"],
                  "degraded_reasons": s["reasons"],
                  "last_candle_open_ms": last,
                  "last_candle_open": iso(last)})
        if "last_candle_close_ms" in h:
            e["last_candle_close_ms"] = h["last_candle_close_ms"]
            e["last_candle_close"] = h["last_candle_close"]
        e.update({"ingest_watermark_ms": last, "publish_watermark_ms": last,
                  "candles": len(s["candles"]),
                  "prediction_status": s["token"], "files": files})
        series.append(e)
        counts[s["status"]] = counts.get(s["status"], 0) + 1
        if order.index(s["status"]) > order.index(worst):
            worst = s["status"]

    def earliest(key):
        vals = [e[key] for e in series if e[key] is not None]
        return min(vals) if vals else None

    mon = []
    mcounts = {}
    mworst = "fresh"
    for s, e in zip(specs, series):
        st = s.get("monitor", s["status"])
        mcounts[st] = mcounts.get(st, 0) + 1
        if order.index(st) > order.index(mworst):
            mworst = st
        m = {"exchange": EXCHANGE, "symbol": s["sym"], "timeframe": s["tf"],
             "escalated": False, "since_ms": now - H,
             "degraded": s["degraded"], "degraded_reasons": s["reasons"],
             "last_candle_open_ms": e["last_candle_open_ms"],
             "last_candle_open": e["last_candle_open"],
             "candles": e["candles"], "site_status": s["status"],
             "last_alert": {"alertname": "CoinHardStale",
                            "severity": "critical", "status": "firing",
                            "at_ms": now}
             if s.get("firing") else None}
        m.update(validity(st, e["soft_stale_at_ms"], e["hard_stale_at_ms"]))
        mon.append(m)
    mo = {"status": mworst, "degraded": True, "series": len(mon),
          "counts": mcounts}
    mo.update({k: v for k, v in validity(
        mworst, earliest("soft_stale_at_ms"),
        earliest("hard_stale_at_ms")).items() if k != "status"})
    write(root, "status.json", {
        "schema_version": 2, "generated_at": iso(gen_monitor),
        "generated_at_ms": gen_monitor, "exchange": EXCHANGE,
        "overall": mo, "series": mon})
    write(root, "runtime_metrics.json", {
        "updated_at": iso(now), "window_size": 240,
        "summary": {"samples": 240, "p50_elapsed_seconds": 0.41,
                    "p95_elapsed_seconds": 1.2, "max_elapsed_seconds": 2.9,
                    "overrun_rate": 0.0}})
    overall = {"status": worst, "degraded": True, "series": len(series),
               "counts": counts}
    overall.update({k: v for k, v in validity(
        worst, earliest("soft_stale_at_ms"),
        earliest("hard_stale_at_ms")).items() if k != "status"})
    write(root, "manifest.json", {
        "schema_version": 2, "generated_at": iso(gen_manifest),
        "generated_at_ms": gen_manifest, "producer": "publish@fixture",
        "update_in_progress": False,
        "data_source": {"kind": "recorded", "note": NOTE},
        "overall": overall, "series": series})


if __name__ == "__main__":
    main(sys.argv)
