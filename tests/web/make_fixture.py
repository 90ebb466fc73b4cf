#!/usr/bin/env python3
"""make_fixture.py DIR: writes a fixture static site (docs/static-site.md)
into DIR for the browser test: manifest.json (written last, with sizes and
sha256 of each file), status.json, runtime_metrics.json and per series
history.json + prediction.json. Series cover every state the page must show:

  BTCUSDT 1h  fresh, prediction with band and walk-forward figures
  BTCUSDT 1d  soft_stale (values shown with a warning)
  ETHUSDT 1h  hard_stale (blocked: no values), last candle 10 h old
  ETHUSDT 1d  insufficient_data (no candles)
  SOLUSDT 1h  fresh data, degraded: no_model; the prediction alone is
              insufficient_data (as coin-publish writes it)
  XRPUSDT 1h  manifest sha256 does not match the file (the page: corrupt)

Deterministic apart from "now" (candles end at the last closed candle).
"""
import hashlib
import json
import math
import os
import random
import sys
import time

H = 3600000
D = 86400000


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def walk(seed, n, last_open, step, start_price):
    rnd = random.Random(seed)
    out = []
    price = start_price
    for i in range(n):
        t = last_open - (n - 1 - i) * step
        o = price
        c = o * math.exp(rnd.gauss(0, 0.006))
        hi = max(o, c) * (1 + abs(rnd.gauss(0, 0.002)))
        lo = min(o, c) * (1 - abs(rnd.gauss(0, 0.002)))
        v = round(abs(rnd.gauss(800, 200)), 4)
        out.append([t, round(o, 2), round(hi, 2), round(lo, 2), round(c, 2), v])
        price = c
    return out


def common(now, sym, tf, status, degraded, reasons, last):
    return {"schema_version": 1, "generated_at": iso(now),
            "generated_at_ms": now, "exchange": "binance", "symbol": sym,
            "timeframe": tf, "status": status, "degraded": degraded,
            "degraded_reasons": reasons,
            "last_candle_open_ms": last, "last_candle_open":
            iso(last) if last is not None else None}


def prediction(now, sym, tf, status, degraded, reasons, candles, step,
               values, blocked, model=True):
    last = candles[-1][0] if candles else None
    p = common(now, sym, tf, status, degraded, reasons, last)
    p["input_last_candle_open_ms"] = last
    p["model"] = {"version": "ridge-20260101-001", "kind": "ridge"} \
        if model else None
    p["target_open_ms"] = last + step if last is not None else None
    p["target_open"] = iso(last + step) if last is not None else None
    if values:
        close = candles[-1][4]
        pc = round(close * 1.0042, 2)
        p.update({"predicted_close": pc,
                  "predicted_return": math.log(pc / close),
                  "band": {"low": round(pc * 0.99, 2),
                           "high": round(pc * 1.012, 2), "level": 0.8},
                  "direction": "up", "direction_probability": 0.57})
    else:
        p.update({"predicted_close": None, "predicted_return": None,
                  "band": None, "direction": None,
                  "direction_probability": None})
    p["walk_forward"] = {"mae": 212.5, "persistence_mae": 240.1,
                         "directional_accuracy": 0.534, "n": 2000} \
        if model else None
    p["blocked_reason"] = blocked
    return p


def main(root):
    now = int(time.time() * 1000)
    last_h = (now // H - 1) * H
    last_d = (now // D - 1) * D
    specs = []  # (sym, tf, status, degraded, reasons, history, prediction)
    c = walk(1, 120, last_h, H, 42000.0)
    specs.append(("BTCUSDT", "1h", "fresh", False, [], c,
                  prediction(now, "BTCUSDT", "1h", "fresh", False, [], c, H,
                             True, None)))
    c = walk(2, 90, last_d - D, D, 40000.0)  # one day behind: soft stale
    specs.append(("BTCUSDT", "1d", "soft_stale", False, [], c,
                  prediction(now, "BTCUSDT", "1d", "soft_stale", False, [],
                             c, D, True, None)))
    c = walk(3, 120, last_h - 10 * H, H, 2300.0)
    specs.append(("ETHUSDT", "1h", "hard_stale", False, [], c,
                  prediction(now, "ETHUSDT", "1h", "hard_stale", False, [],
                             c, H, False, "hard_stale")))
    specs.append(("ETHUSDT", "1d", "insufficient_data", False, [], [],
                  prediction(now, "ETHUSDT", "1d", "insufficient_data",
                             False, [], [], D, False, "insufficient_data")))
    c = walk(4, 120, last_h, H, 150.0)
    specs.append(("SOLUSDT", "1h", "fresh", True, ["no_model"], c,
                  prediction(now, "SOLUSDT", "1h", "insufficient_data", True,
                             ["no_model"], c, H, False, "no_model",
                             model=False)))
    c = walk(5, 60, last_h, H, 0.61)
    specs.append(("XRPUSDT", "1h", "fresh", False, [], c,
                  prediction(now, "XRPUSDT", "1h", "fresh", False, [], c, H,
                             True, None)))

    def write(rel, doc):
        data = json.dumps(doc, separators=(",", ":")).encode()
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return {"path": rel, "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}

    series = []
    counts = {}
    order = ["fresh", "soft_stale", "hard_stale", "insufficient_data",
             "corrupt"]
    worst = "fresh"
    for sym, tf, status, degraded, reasons, hist, pred in specs:
        last = hist[-1][0] if hist else None
        base = "v1/binance/%s/%s/" % (sym, tf)
        h = common(now, sym, tf, status, degraded, reasons, last)
        h["candles"] = hist
        files = [write(base + "history.json", h),
                 write(base + "prediction.json", pred)]
        if sym == "XRPUSDT":
            files[0]["sha256"] = "0" * 64  # the page must notice
        series.append({"exchange": "binance", "symbol": sym,
                       "timeframe": tf, "status": status,
                       "degraded": degraded, "degraded_reasons": reasons,
                       "last_candle_open_ms": last,
                       "last_candle_open": iso(last) if last else None,
                       "publish_watermark_ms": last, "files": files})
        counts[status] = counts.get(status, 0) + 1
        if order.index(status) > order.index(worst):
            worst = status
    write("status.json", {
        "schema_version": 1, "generated_at": iso(now), "generated_at_ms": now,
        "series": [{"exchange": "binance", "symbol": s["symbol"],
                    "timeframe": s["timeframe"], "state": s["status"],
                    "since_ms": now - H, "degraded": s["degraded"],
                    "degraded_reasons": s["degraded_reasons"],
                    "last_alert": {"alertname": "CoinHardStale",
                                   "severity": "critical",
                                   "status": "firing", "at_ms": now}
                    if s["status"] == "hard_stale" else None}
                   for s in series]})
    write("runtime_metrics.json", {
        "updated_at": iso(now), "window_size": 240,
        "summary": {"samples": 240, "p50_elapsed_seconds": 0.41,
                    "p95_elapsed_seconds": 1.2, "max_elapsed_seconds": 2.9,
                    "overrun_rate": 0.0}})
    write("manifest.json", {
        "schema_version": 1, "generated_at": iso(now),
        "generated_at_ms": now,
        "overall": {"status": worst, "degraded": True, "series": len(series),
                    "counts": counts},
        "series": series})


if __name__ == "__main__":
    main(sys.argv[1])
