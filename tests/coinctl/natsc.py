#!/usr/bin/env python3
"""natsc.py: a tiny NATS client over the text protocol (stdlib only), so the
coinctl tests can publish with headers, create streams and KV buckets and
put KV values without the code under test. Not a general client: one
connection per call, bounded waits, errors exit 1 with one line.

  natsc.py PORT pub SUBJECT FILE [-H Key:Value]...   core publish (FILE or -)
  natsc.py PORT jspub SUBJECT FILE [-H Key:Value]... JetStream publish + ack
  natsc.py PORT stream NAME SUBJECT                  create a file stream
  natsc.py PORT kv BUCKET                            create a KV bucket
  natsc.py PORT kvput BUCKET KEY VALUE               put (JetStream ack)
  natsc.py PORT kvputfile BUCKET KEY FILE            put a file's bytes
  natsc.py PORT subs SUBJECT                         exit 0 when subscribed
                                                     (uses the monitor port)

Logs in as NATS_USER with the password in NATS_PASSWORD_FILE when both are
set (the role table of deploy/nats; replies then come on _INBOX.<user>.,
the only inbox a role may subscribe to).
"""
import json
import os
import socket
import sys
import time
import urllib.request

TIMEOUT_S = 5.0


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), TIMEOUT_S)
        self.sock.settimeout(TIMEOUT_S)
        self.buf = b""
        info = self._line()
        if not info.startswith(b"INFO "):
            fail("no INFO from server")
        opts = {"verbose": False, "pedantic": False, "headers": True,
                "no_responders": True, "protocol": 1, "name": "natsc"}
        self.inbox = "_INBOX.natsc"
        user = os.environ.get("NATS_USER")
        pw_file = os.environ.get("NATS_PASSWORD_FILE")
        if user and pw_file:
            with open(pw_file) as f:
                opts["user"], opts["pass"] = user, f.readline().strip()
            self.inbox = "_INBOX.%s.natsc" % user
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() +
                          b"\r\nPING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                fail(line.decode())
        self.sid = 0

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def pub(self, subject, data, headers=None, reply=None):
        r = (" " + reply) if reply else ""
        if headers:
            h = "NATS/1.0\r\n" + "".join(
                "%s: %s\r\n" % kv for kv in headers) + "\r\n"
            hb = h.encode()
            self.sock.sendall(b"HPUB %s%s %d %d\r\n" % (
                subject.encode(), r.encode(), len(hb), len(hb) + len(data))
                + hb + data + b"\r\n")
        else:
            self.sock.sendall(b"PUB %s%s %d\r\n" % (
                subject.encode(), r.encode(), len(data)) + data + b"\r\n")

    def flush(self):
        self.sock.sendall(b"PING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                fail(line.decode())

    def request(self, subject, data, headers=None):
        self.sid += 1
        inbox = "%s.%d.%d" % (self.inbox, int(time.time() * 1000), self.sid)
        self.sock.sendall(b"SUB %s %d\r\n" % (inbox.encode(), self.sid))
        self.pub(subject, data, headers, inbox)
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                fail(line.decode())
            parts = line.split()
            if parts and parts[0] == b"MSG":
                return self._bytes(int(parts[-1]))
            if parts and parts[0] == b"HMSG":
                body = self._bytes(int(parts[-1]))
                hlen = int(parts[-2])
                status = body[:hlen].split(b"\r\n", 1)[0]
                if b"503" in status:
                    fail("no responders for %s (JetStream off?)" % subject)
                return body[hlen:]
        fail("no reply on %s" % subject)


def fail(text):
    sys.stderr.write("natsc: %s\n" % text)
    sys.exit(1)


def js_ok(reply, what):
    doc = json.loads(reply)
    if "error" in doc:
        fail("%s: %s" % (what, doc["error"]))
    return doc


def read_payload(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def parse_headers(args):
    headers = []
    i = 0
    while i < len(args):
        if args[i] != "-H" or i + 1 >= len(args) or ":" not in args[i + 1]:
            fail("bad argument %r (want -H Key:Value)" % args[i])
        k, v = args[i + 1].split(":", 1)
        headers.append((k, v))
        i += 2
    return headers


def main(argv):
    if len(argv) < 3:
        fail(__doc__.strip().splitlines()[0])
    port, cmd, args = int(argv[1]), argv[2], argv[3:]
    if cmd == "subs":
        # Wait (bounded) until the server shows a subscription on SUBJECT
        # (monitoring port given as PORT).
        deadline = time.time() + 10
        while time.time() < deadline:
            url = "http://127.0.0.1:%d/connz?subs=1" % port
            with urllib.request.urlopen(url, timeout=2) as r:
                doc = json.load(r)
            for c in doc.get("connections") or []:
                if args[0] in (c.get("subscriptions_list") or []):
                    return
            time.sleep(0.05)
        fail("nobody subscribed to %s within 10 s" % args[0])
    c = Conn(port)
    if cmd == "pub":
        c.pub(args[0], read_payload(args[1]), parse_headers(args[2:]))
        c.flush()
    elif cmd == "jspub":
        js_ok(c.request(args[0], read_payload(args[1]),
                        parse_headers(args[2:])), "publish " + args[0])
    elif cmd == "stream":
        cfg = {"name": args[0], "subjects": [args[1]], "storage": "file",
               "retention": "limits", "num_replicas": 1,
               "duplicate_window": 120 * 10**9}
        js_ok(c.request("$JS.API.STREAM.CREATE." + args[0],
                        json.dumps(cfg).encode()), "stream " + args[0])
    elif cmd == "kv":
        b = args[0]
        cfg = {"name": "KV_" + b, "subjects": ["$KV.%s.>" % b],
               "storage": "file", "retention": "limits", "num_replicas": 1,
               "max_msgs_per_subject": 5, "discard": "new",
               "allow_rollup_hdrs": True, "deny_delete": True,
               "allow_direct": True, "max_age": 0,
               "duplicate_window": 120 * 10**9}
        js_ok(c.request("$JS.API.STREAM.CREATE.KV_" + b,
                        json.dumps(cfg).encode()), "kv " + b)
    elif cmd == "kvput":
        js_ok(c.request("$KV.%s.%s" % (args[0], args[1]), args[2].encode()),
              "kv put " + args[1])
    elif cmd == "kvputfile":
        js_ok(c.request("$KV.%s.%s" % (args[0], args[1]),
                        read_payload(args[2])), "kv put " + args[1])
    else:
        fail("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
