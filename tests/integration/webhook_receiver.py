#!/usr/bin/env python3
"""An independent receiver of coin-monitor's signed webhook (docs/monitor.md,
"Generic webhook"), written only from the documentation with the Python
standard library, as a third party would. It verifies

    X-Coin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    X-Coin-Timestamp: <t>

and the replay window (|now - t| <= tolerance), answers 204 when the request
verifies and 401 when it does not, and appends one JSON line per request to
the record file: {"accepted", "reason", "t", "idempotency_key", "signature",
"timestamp_header", "body"}. GET /ready answers 200.

usage: webhook_receiver.py PORT RECORD_FILE TOLERANCE_SECONDS
(secret in the environment variable WEBHOOK_SECRET)
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["WEBHOOK_SECRET"].encode()
PORT = int(sys.argv[1])
RECORD = sys.argv[2]
TOLERANCE = int(sys.argv[3])
LOCK = threading.Lock()


def verify(sig_header, ts_header, body, now):
    """Returns (ok, reason, t)."""
    if not sig_header:
        return False, "no signature", None
    t, v1 = None, []
    for part in sig_header.split(","):
        name, _, value = part.partition("=")
        if name == "t":
            if not value.isdigit():
                return False, "bad timestamp", None
            t = int(value)
        elif name == "v1":
            v1.append(value)
    if t is None or not v1:
        return False, "malformed signature", t
    if ts_header != str(t):
        return False, "X-Coin-Timestamp differs from t", t
    want = hmac.new(SECRET, str(t).encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(want, v.lower()) for v in v1):
        return False, "signature mismatch", t
    if abs(now - t) > TOLERANCE:
        return False, "timestamp outside the replay window", t
    return True, "ok", t


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        sig = self.headers.get("X-Coin-Signature")
        ts = self.headers.get("X-Coin-Timestamp")
        ok, reason, t = verify(sig, ts, body, int(time.time()))
        rec = {"accepted": ok, "reason": reason, "t": t,
               "idempotency_key": self.headers.get("Idempotency-Key"),
               "signature": sig, "timestamp_header": ts,
               "body": body.decode("utf-8", "replace")}
        with LOCK, open(RECORD, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(204 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
