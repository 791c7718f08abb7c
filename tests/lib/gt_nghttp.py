#!/usr/bin/python3
"""gt_nghttp.py - run nghttp (nghttp2-client, in a network namespace) and
record ground truth from its HAR.

Owns: one nghttp invocation (one HTTP/2 connection, every URI -m times,
streams concurrent), its HAR, and the ground-truth lines appended to --out.
Does not own: the lab, the capture, the body hashes of responses (below).

nghttp's own view, from the HAR it writes (--har): each stream's method,
URL, status and the response body size it received; pushed streams are
HAR entries too.  The request body is the -d file (nghttp sends it whole
with every request).  nghttp cannot save one body per stream (its output
interleaves the streams), so the response hashes come from curl: --like
names a ground-truth file in which curl (gt_curl.py, same capture) made
the same request (method, path, request body); nghttp must have received
the same size and status, else this fails.  HTTPS key logging: nghttp has
no SSLKEYLOGFILE support, so the keys/ preload shim (build/
libtapir-keylog.so) exports them into --keylog.

Usage: gt_nghttp.py --ns NS --out GT --like GT [--keylog K --shim SO]
                    [--data FILE] [--nghttp-opt OPT]... URI...
Exit 0 when nghttp answered every stream and every entry has a curl twin.
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
    with open(path, "rb") as f:
        b = f.read()
    return len(b), hashlib.sha256(b).hexdigest()


def url_path(url):
    u = urllib.parse.urlsplit(url)
    return (u.path or "/") + ("?" + u.query if u.query else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns")
    ap.add_argument("--out", required=True)
    ap.add_argument("--like", required=True)
    ap.add_argument("--keylog")
    ap.add_argument("--shim")
    ap.add_argument("--data")
    ap.add_argument("--multiply", "-m", type=int, default=1)
    ap.add_argument("--expect", type=int,
                    help="streams expected (default: URIs x multiply)")
    ap.add_argument("--nghttp-opt", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("uris", nargs="+")
    a = ap.parse_args()

    har = a.out + f".har.{os.getpid()}"
    cmd = []
    if a.ns:
        cmd += ["ip", "netns", "exec", a.ns]
    env = dict(os.environ)
    if a.keylog:
        if not a.shim or not os.path.exists(a.shim):
            sys.exit(f"gt_nghttp: key log needs the preload shim ({a.shim})")
        env["SSLKEYLOGFILE"] = a.keylog
        env["LD_PRELOAD"] = a.shim
    # identity: the HAR's size is the body as received, not inflated, and
    # tapir's body_size is the decoded size
    cmd += ["nghttp", "-n", "-y", "-m", str(a.multiply), "--har", har,
            "-H", "accept-encoding: identity"]
    if a.data:
        cmd += ["-d", a.data]
    cmd += a.nghttp_opt + a.uris
    try:
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=a.timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"gt_nghttp: nghttp timed out after {a.timeout}s")
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-2000:] + r.stderr[-2000:])
        sys.exit(f"gt_nghttp: nghttp exit {r.returncode}")
    with open(har) as f:
        entries = json.load(f)["log"]["entries"]
    os.unlink(har)
    want = a.expect if a.expect is not None else len(a.uris) * a.multiply
    if len(entries) != want:
        sys.exit(f"gt_nghttp: {len(entries)} HAR entries, want {want}")

    if a.data:
        qn, qh = sha_file(a.data)
    else:
        qn, qh = 0, EMPTY_SHA
    twins = {}
    with open(a.like) as f:
        for line in f:
            g = json.loads(line)
            twins[(g["method"], g["path"], g["req_body_sha256"])] = g
    lines = []
    for e in entries:
        m = e["request"]["method"]
        p = url_path(e["request"]["url"])
        st = e["response"]["status"]
        size = e["response"]["content"]["size"]
        # a pushed stream's HAR entry has no method; nghttpd promises GETs
        pushed = not m
        if pushed:
            m = "GET"
        rq = (0, EMPTY_SHA) if pushed or m == "GET" else (qn, qh)
        t = twins.get((m, p, rq[1]))
        if t is None:
            sys.exit(f"gt_nghttp: no curl twin for {m} {p} in {a.like}")
        if t["status"] != st or t["resp_body_size"] != size:
            sys.exit(f"gt_nghttp: {m} {p}: nghttp got {st}/{size} bytes, "
                     f"curl {t['status']}/{t['resp_body_size']}")
        lines.append({"method": m, "path": p, "status": st,
                      "req_body_size": rq[0], "req_body_sha256": rq[1],
                      "resp_body_size": size,
                      "resp_body_sha256": t["resp_body_sha256"]})
    with open(a.out, "a") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")


if __name__ == "__main__":
    main()
