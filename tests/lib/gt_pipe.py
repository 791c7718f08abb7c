#!/usr/bin/python3
"""gt_pipe.py - HTTP/1.1 pipelining client that records ground truth.

curl no longer pipelines, so this writes every request on one TCP (or TLS)
connection in a single send, then reads the responses back in order and
parses them itself (Content-Length, chunked, no body for HEAD/204/304/1xx).
The last request carries "Connection: close".  Runs in the caller's network
namespace (wrap it in `ip netns exec`).  TLS uses Python's ssl module
(OpenSSL), which writes the NSS key log with --keylog.

Owns: the connection and the ground-truth lines appended to --out, in the
same format as gt_curl.py.  Exit 1 on any protocol surprise.

A request is one argument "METHOD PATH [BODYFILE]".
"""
import argparse
import hashlib
import json
import socket
import ssl
import sys

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class Reader:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def fill(self):
        b = self.s.recv(1 << 16)
        if not b:
            raise EOFError("connection closed early")
        self.buf += b

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b


def read_response(r, method):
    """Return (status, body) for one final response, skipping 1xx."""
    while True:
        st = r.line().decode("latin-1")
        parts = st.split(" ", 2)
        if not parts[0].startswith("HTTP/1.") or len(parts) < 2:
            raise ValueError(f"bad status line {st!r}")
        status = int(parts[1])
        hdrs = {}
        while True:
            l = r.line()
            if not l:
                break
            k, v = l.decode("latin-1").split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        if 100 <= status < 200 and status != 101:
            continue
        break
    if method == "HEAD" or status in (204, 304):
        return status, b""
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        body = b""
        while True:
            n = int(r.line().split(b";")[0], 16)
            if n == 0:
                while r.line():  # trailers
                    pass
                return status, body
            body += r.take(n)
            if r.take(2) != b"\r\n":
                raise ValueError("bad chunk end")
    if "content-length" in hdrs:
        return status, r.take(int(hdrs["content-length"]))
    raise ValueError("response without framing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--sni", default="tapir.test")
    ap.add_argument("--keylog")
    ap.add_argument("--out", required=True)
    ap.add_argument("requests", nargs="+")
    a = ap.parse_args()

    reqs = []
    wire = b""
    for k, spec in enumerate(a.requests):
        p = spec.split()
        m, path = p[0].upper(), p[1]
        body = open(p[2], "rb").read() if len(p) > 2 else b""
        h = f"{m} {path} HTTP/1.1\r\nHost: {a.sni}\r\nUser-Agent: tapir-gt-pipe\r\n"
        if m in ("POST", "PUT") or body:
            h += f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n"
        if k == len(a.requests) - 1:
            h += "Connection: close\r\n"
        wire += h.encode() + b"\r\n" + body
        reqs.append((m, path, body))

    s = socket.create_connection((a.host, a.port), timeout=60)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        if a.keylog:
            ctx.keylog_filename = a.keylog
        s = ctx.wrap_socket(s, server_hostname=a.sni)
    s.sendall(wire)  # every request in one go: true pipelining
    r = Reader(s)
    out = []
    for m, path, body in reqs:
        status, rb = read_response(r, m)
        out.append({"method": m, "path": path, "status": status,
                    "req_body_size": len(body),
                    "req_body_sha256": hashlib.sha256(body).hexdigest(),
                    "resp_body_size": len(rb),
                    "resp_body_sha256": hashlib.sha256(rb).hexdigest()})
    s.close()
    with open(a.out, "a") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, EOFError) as e:
        sys.exit(f"gt_pipe: {e}")
