#!/usr/bin/python3
"""tshark_oracle.py - an independent (method, path, status) view of a capture.

Runs tshark with the key log, takes every HTTP request and response it
dissects, and pairs them per TCP stream in order (HTTP/1.1 answers in request
order, which also holds for pipelined requests; 1xx interim responses other
than 101 are skipped).  Writes one JSON line per exchange:
  {"method", "path", "status", "stream"}
with status null for a request tshark saw no answer to, and method/path null
for a response without a request.

Usage: tshark_oracle.py CAP [--keylog K] [--tls-port P]... > out.jsonl
--tls-port makes tshark decode that TCP port as TLS (needed for ports it does
not know, e.g. 9443).
"""
import argparse
import json
import subprocess
import sys
from collections import defaultdict

AGG = "\x1f"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cap")
    ap.add_argument("--keylog")
    ap.add_argument("--tls-port", type=int, action="append", default=[])
    ap.add_argument("--http-port", type=int, action="append", default=[])
    a = ap.parse_args()

    cmd = ["tshark", "-n", "-r", a.cap,
           "-o", "tcp.desegment_tcp_streams:TRUE",
           "-o", "tcp.reassemble_out_of_order:TRUE",
           "-o", "http.desegment_headers:TRUE",
           "-o", "http.desegment_body:TRUE",
           "-o", "http.dechunk_body:TRUE"]
    if a.keylog:
        cmd += ["-o", "tls.keylog_file:" + a.keylog]
    for p in a.tls_port:
        cmd += ["-d", f"tcp.port=={p},tls"]
    for p in a.http_port:
        cmd += ["-d", f"tcp.port=={p},http"]
    cmd += ["-Y", "http", "-T", "fields",
            "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=" + AGG,
            "-e", "frame.number", "-e", "tcp.stream",
            "-e", "http.request.method", "-e", "http.request.uri",
            "-e", "http.response.code"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(f"tshark_oracle: tshark exit {r.returncode}")

    reqs = defaultdict(list)
    resps = defaultdict(list)
    for line in r.stdout.splitlines():
        f = line.split("\t")
        f += [""] * (5 - len(f))
        _, stream, methods, uris, codes = f[:5]
        ms = [x for x in methods.split(AGG) if x]
        us = [x for x in uris.split(AGG) if x]
        if len(ms) != len(us):
            sys.exit(f"tshark_oracle: methods/uris differ in {line!r}")
        reqs[stream] += list(zip(ms, us))
        for c in codes.split(AGG):
            if c and not (100 <= int(c) < 200 and int(c) != 101):
                resps[stream].append(int(c))

    out = []
    for st in sorted(set(reqs) | set(resps), key=int):
        q, s = reqs[st], resps[st]
        for k in range(max(len(q), len(s))):
            m, u = q[k] if k < len(q) else (None, None)
            out.append({"method": m, "path": u,
                        "status": s[k] if k < len(s) else None,
                        "stream": int(st)})
    for o in out:
        print(json.dumps(o))


if __name__ == "__main__":
    main()
