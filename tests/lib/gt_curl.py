#!/usr/bin/python3
"""gt_curl.py - run curl (in a network namespace) and record ground truth.

Owns: one curl invocation holding every transfer given (sections joined by
--next, so HTTP/1.1 keep-alive reuses connections across them, or with
--parallel, many connections at once), the response bodies it saved, and the
ground-truth lines appended to --out.  Does not own: the lab, the capture.

Ground truth is the client's own view: the method and path it sent, the
status curl reports, the request body file it uploaded, and the response
body it saved (decoded, with --compressed).  One JSON line per exchange:
  {"method","path","status","req_body_size","req_body_sha256",
   "resp_body_size","resp_body_sha256"}

A transfer is one argument "METHOD URL [BODYFILE]":
  GET URL | HEAD URL | DELETE URL | POST URL FILE | PUT URL FILE
--http picks the protocol (1.1 by default; 2: ALPN h2 over TLS, the h2c
Upgrade over http://; 2-prior: HTTP/2 with prior knowledge); with 2 and
2-prior every transfer must have been HTTP/2 by curl's own account
(%{http_version}), else it is an error.  With --parallel each transfer's
body still goes to a file of its own, so HTTP/2 multiplexing (one
connection, interleaved streams) keeps per-exchange truth.
Exit status: 0 when curl succeeded and every transfer reported a status,
1 otherwise (ground truth is then not written at all).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import urllib.parse

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def sha_file(path):
    h = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
    except FileNotFoundError:  # curl creates no file for an empty body
        pass
    return n, h.hexdigest()


def url_path(url):
    u = urllib.parse.urlsplit(url)
    p = u.path or "/"
    return p + ("?" + u.query if u.query else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", help="network namespace to run curl in")
    ap.add_argument("--keylog",
                    help="SSLKEYLOGFILE (default: none, curl logs no keys)")
    ap.add_argument("--env", action="append", default=[],
                    help="NAME=VALUE in curl's environment only (repeatable;"
                         " e.g. LD_PRELOAD of the keys/ shim)")
    ap.add_argument("--out", required=True, help="ground truth (appended)")
    ap.add_argument("--work", required=True, help="dir for response bodies")
    ap.add_argument("--parallel", type=int, default=0,
                    help="run transfers in parallel, up to N connections")
    ap.add_argument("--compressed", action="store_true",
                    help="ask for and decode content-encoding")
    ap.add_argument("--opt", action="append", default=[],
                    help="extra per-transfer curl option (repeatable)")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--http", choices=("1.1", "2", "2-prior"), default="1.1")
    ap.add_argument("transfers", nargs="+")
    a = ap.parse_args()

    os.makedirs(a.work, exist_ok=True)
    xs = []
    for i, t in enumerate(a.transfers):
        parts = t.split()
        if len(parts) not in (2, 3):
            sys.exit(f"gt_curl: bad transfer {t!r}")
        m, url = parts[0].upper(), parts[1]
        body = parts[2] if len(parts) == 3 else None
        if m in ("POST", "PUT") and not body:
            sys.exit(f"gt_curl: {m} needs a body file: {t!r}")
        xs.append({"i": i, "method": m, "url": url, "body": body,
                   "out": os.path.join(a.work, f"resp.{os.getpid()}.{i}")})

    cmd = []
    if a.ns:
        cmd += ["ip", "netns", "exec", a.ns]
    if a.env:
        cmd += ["env"] + a.env
    cmd += ["curl", "-q"]
    if a.http == "2-prior":
        # curl 7.88.1 cannot reuse a prior-knowledge connection (the second
        # transfer fails: "Error in the HTTP2 framing layer"), so each
        # transfer gets a connection of its own; nghttp -m makes the many
        # streams on one prior-knowledge connection (gt_nghttp.py)
        a.parallel = len(xs)
    if a.parallel:
        # HTTP/2: without --parallel-immediate curl waits for the first
        # connection and multiplexes every transfer over it
        cmd += ["--parallel", "--parallel-max", str(a.parallel)]
        if a.http != "2":
            cmd.append("--parallel-immediate")
    for k, x in enumerate(xs):
        if k:
            cmd.append("--next")
        proto = {"1.1": "--http1.1", "2": "--http2",
                 "2-prior": "--http2-prior-knowledge"}[a.http]
        cmd += ["-sS", "-k", proto, "-o", x["out"],
                "-w", f"TPRGT {x['i']} %{{http_code}} %{{method}} "
                      f"%{{size_upload}} %{{http_version}} "
                      f"%{{url_effective}}\\n"]
        if a.compressed:
            cmd.append("--compressed")
        cmd += a.opt
        m = x["method"]
        if m == "HEAD":
            cmd.append("-I")
        elif m == "POST":
            cmd += ["--data-binary", "@" + x["body"],
                    "-H", "Content-Type: application/octet-stream"]
        elif m == "PUT":
            cmd += ["-T", x["body"]]
        elif m != "GET":
            cmd += ["-X", m]
        cmd.append(x["url"])

    env = dict(os.environ)
    env.pop("SSLKEYLOGFILE", None)
    if a.keylog:
        env["SSLKEYLOGFILE"] = a.keylog
    try:
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=a.timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"gt_curl: curl timed out after {a.timeout}s")
    seen = {}
    for line in r.stdout.splitlines():
        f = line.split(" ", 6)
        if len(f) == 7 and f[0] == "TPRGT":
            seen[int(f[1])] = {"status": int(f[2]), "method": f[3],
                               "up": int(f[4]), "version": f[5],
                               "url": f[6]}
    if r.returncode != 0 or len(seen) != len(xs):
        sys.stderr.write(r.stderr)
        sys.exit(f"gt_curl: curl exit {r.returncode}, "
                 f"{len(seen)}/{len(xs)} transfers reported")

    lines = []
    for x in xs:
        s = seen[x["i"]]
        if s["status"] == 0:
            sys.exit(f"gt_curl: no response for {x['method']} {x['url']}")
        if a.http != "1.1" and s["version"] != "2":
            sys.exit(f"gt_curl: {x['method']} {x['url']} went over HTTP/"
                     f"{s['version']}, not HTTP/2")
        if x["body"]:
            qn, qh = sha_file(x["body"])
            if qn != s["up"]:
                sys.exit(f"gt_curl: curl uploaded {s['up']} of {qn} bytes")
        else:
            qn, qh = 0, EMPTY_SHA
        if x["method"] == "HEAD":
            pn, ph = 0, EMPTY_SHA
        else:
            pn, ph = sha_file(x["out"])
        lines.append({"method": x["method"], "path": url_path(x["url"]),
                      "status": s["status"],
                      "req_body_size": qn, "req_body_sha256": qh,
                      "resp_body_size": pn, "resp_body_sha256": ph})
        try:
            os.unlink(x["out"])
        except FileNotFoundError:
            pass
    with open(a.out, "a") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")


if __name__ == "__main__":
    main()
