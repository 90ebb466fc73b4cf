#!/usr/bin/env python3
"""make_seeds.py: writes the small valid seed inputs of the fuzz targets that
are not packed protobuf (those come from `codec_tool fuzz-seeds`) into
tests/fuzz/corpus/<target>/seed-*. Usage: make_seeds.py [CANDLE_DIR]
CANDLE_DIR (the shared Binance candle files) adds a few real lines to the
candle_file and kline seeds; only a few hundred bytes are copied."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
H = 3600000


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def compact(o):
    return json.dumps(o, separators=(",", ":"))


def real_rows(candle_dir, name, n):
    """The header and n data lines of a real candle file, or None."""
    try:
        with open(os.path.join(candle_dir, name)) as f:
            return [next(f) for _ in range(n + 1)]
    except (OSError, StopIteration):
        return None


def main():
    candle_dir = sys.argv[1] if len(sys.argv) > 1 else None
    t0 = 1700000000000 // H * H

    # kline: Binance /api/v3/klines bodies
    rows = []
    for i in range(3):
        o = t0 + i * H
        rows.append([o, "37000.10", "37100.00", "36900.50", "37050.00",
                     "12.345", o + H - 1, "456789.1", 100, "6.1", "225000.0",
                     "0"])
    put("kline", "three", compact(rows))
    put("kline", "empty", "[]")
    put("kline", "dup", compact([rows[0], rows[0]]))
    put("kline", "numbers", compact([[t0, 1.5, 2, 1, 1.5, 10, t0 + H - 1,
                                      "0", 1, "0", "0", "0"]]))
    lines = real_rows(candle_dir, "BTCUSDT-1h.csv", 4) if candle_dir else None
    if lines:
        rr = []
        for ln in lines[1:]:
            f = ln.strip().split(",")
            o = int(f[0])
            rr.append([o] + f[1:6] + [o + H - 1, "0", 0, "0", "0", "0"])
        put("kline", "real", compact(rr))
        put("candle_file", "real-1h.csv",
            bytes([1]) + "".join(lines).encode())

    # site: byte 0 picks the reader (0 head, 1 history, 2 prediction, 3 jscan)
    ids = {"schema_version": 2, "generated_at": "2023-11-14T22:13:20Z",
           "generated_at_ms": t0 + 3 * H, "exchange": "binance",
           "symbol": "BTCUSDT", "timeframe": "1h", "status": "fresh",
           "soft_stale_at_ms": t0 + 5 * H, "hard_stale_at_ms": t0 + 9 * H,
           "last_candle_open_ms": t0 + 2 * H}
    hist = dict(ids)
    hist["candles"] = [[t0 + i * H, 37000.1, 37100, 36900.5, 37050, 12.345]
                       for i in range(3)]
    pred = dict(ids)
    pred.update({"degraded": True,
                 "degraded_reasons": ["model_stale", "unknown_reason"],
                 "prediction_status": "served"})
    manifest = {"schema_version": 2, "generated_at_ms": t0 + 3 * H,
                "overall": {"status": "soft_stale",
                            "soft_stale_at_ms": None,
                            "hard_stale_at_ms": t0 + 9 * H},
                "series": []}
    put("site", "head-history", b"\x00" + compact(hist).encode())
    put("site", "head-manifest", b"\x00" + compact(manifest).encode())
    put("site", "history", b"\x01" + compact(hist).encode())
    put("site", "history-v1", b"\x01" + compact(
        {k: v for k, v in hist.items() if not k.endswith("_at_ms")}).encode())
    put("site", "prediction", b"\x02" + compact(pred).encode())
    sha = "0123456789abcdef" * 4
    item = {"exchange": "binance", "symbol": "BTCUSDT", "timeframe": "1h",
            "status": "fresh", "degraded": False, "degraded_reasons": [],
            "last_candle_open_ms": t0 + 2 * H,
            "publish_watermark_ms": t0 + 2 * H,
            "files": [{"path": "v1/binance/BTCUSDT/1h/history.json",
                       "bytes": 1234, "sha256": sha},
                      {"path": "v1/binance/BTCUSDT/1h/prediction.json",
                       "bytes": 99, "sha256": sha, "previous_bytes": 98,
                       "previous_sha256": sha}]}
    other = dict(item, symbol="ETHUSDT")
    man = dict(manifest, series=[item, other])
    put("site", "manifest", b"\x04" + compact(man).encode())
    put("site", "jscan", b"\x03" + json.dumps(
        {"a": [1, -2.5e3, "x\\u00e9\\n", True, False, None],
         "b": {"c": [[1, 2, 3, 4, 5, 6]]}}).encode())

    # registry: byte 0 even -> retrain request, odd -> recent-events log
    req = {"schema_version": 1, "champion": "m-20231114-0001",
           "scope": "pooled", "reason": "MAE ratio 1.31 over 200 rows",
           "requested_by": "coin-monitor@a", "requested_at_ms": t0,
           "n": 200, "mae_ratio": 1.31}
    put("registry", "retrain", b"\x00" + compact(req).encode())
    ev = {"schema_version": 1, "events": [
        {"kind": "registered", "version": "m-20231114-0001", "previous": "",
         "at_ms": t0, "by": "coin-train@a", "reason": "scheduled"},
        {"kind": "promoted", "version": "m-20231114-0001",
         "previous": "m-20231101-0002", "at_ms": t0 + 1, "by": "coin-train@a",
         "reason": "gate passed"}]}
    put("registry", "recent", b"\x01" + compact(ev).encode())

    # monitor_state: byte 0 picks the timeframe (1 = 1h in enum coin_tf)
    st = {"v": 1, "symbol": "BTCUSDT", "timeframe": "1h",
          "state": "soft_stale", "since_ms": t0, "at_ms": t0 + 60000,
          "degraded": True, "degraded_reasons": ["model_stale"],
          "degraded_since_ms": t0, "bootstrap_until_ms": 0,
          "first_seen_ms": t0 - H, "ever_fresh": True,
          "first_fresh_ms": t0 - H,
          "alert": {"alertname": "CoinSeriesStale", "severity": "warning",
                    "state": "soft_stale", "starts_at_ms": t0,
                    "repeat_count": 2, "last_notified_ms": t0 + 1,
                    "next_repeat_ms": t0 + H},
          "degraded_alert": None,
          "last_alert": {"alertname": "CoinSeriesStale", "status": "firing",
                         "severity": "warning", "state": "soft_stale",
                         "starts_at_ms": t0, "repeat_count": 2,
                         "at_ms": t0 + 1}}
    for tf_byte in (0, 1, 2):
        s = dict(st)
        s["timeframe"] = ["1m", "1h", "1d"][tf_byte]
        put("monitor_state", "state-%d" % tf_byte,
            bytes([tf_byte]) + compact(s).encode())

    # gaps
    put("gaps", "two", compact({"gaps": [
        {"from_ms": t0, "to_ms": t0 + 2 * H, "checked_ms": t0 + 9 * H,
         "next_check_ms": t0 + 33 * H, "attempts": 1},
        {"from_ms": t0 + 40 * H, "to_ms": t0 + 40 * H, "checked_ms": t0 + 41 * H,
         "next_check_ms": t0 + 50 * H, "attempts": 3, "invalid": True}]}))
    put("gaps", "empty", compact({"gaps": []}))

    # codec selector 7 (coin_codec_to_json): subject NUL message, made from
    # the packed seeds of codec_tool fuzz-seeds (selector byte + message)
    subjects = {0: "coin.candles.binance.BTCUSDT.1h",
                1: "coin.status.binance.BTCUSDT.1h",
                2: "coin.alerts.binance.BTCUSDT.1h",
                3: "$KV.coin_models.model.m-20231114-0001",
                4: "coin.models.events", 5: "coin.control.backfill"}
    cdir = os.path.join(CORPUS, "codec")
    for name in sorted(os.listdir(cdir)):
        if not name.endswith(".bin"):
            continue
        with open(os.path.join(cdir, name), "rb") as f:
            b = f.read()
        if b and b[0] in subjects:
            put("codec", "json-" + name,
                b"\x07" + subjects[b[0]].encode() + b"\x00" + b[1:])

    # watermark
    for name, v in (("zero", "0"), ("ms", str(t0)),
                    ("max", "9223372036854775807")):
        put("watermark", name, v)


if __name__ == "__main__":
    main()
