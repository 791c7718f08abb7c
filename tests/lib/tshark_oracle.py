#!/usr/bin/python3
"""tshark_oracle.py - an independent (method, path, status) view of a capture.

Runs tshark with the key log, takes every HTTP request and response it
dissects, and pairs them per TCP stream in order (HTTP/1.1 answers in request
order, which also holds for pipelined requests; 1xx interim responses other
than 101 are skipped).  Writes one JSON line per exchange:
  {"method", "path", "status", "stream"}
with status null for a request tshark saw no answer to, and method/path null
for a response without a request.

HTTP/2 (with --http2): a second tshark pass (-T json) takes every HEADERS
and PUSH_PROMISE frame and pairs request and response by (TCP stream, HTTP/2
stream id): the request from the client's HEADERS (or from the PUSH_PROMISE
that promised the stream), the status from the first non-1xx response
HEADERS; header blocks without pseudo-headers (trailers) are ignored.  An
h2c Upgrade (HTTP/1.1 request answered 101, then HTTP/2) is one exchange:
the HTTP/1.1 request with the status of HTTP/2 stream 1.  "stream" is then
"TCPSTREAM/H2STREAM".

Usage: tshark_oracle.py CAP [--keylog K] [--tls-port P]... [--http2]
                        [--h2-port P]... > out.jsonl
--tls-port makes tshark decode that TCP port as TLS (needed for ports it does
not know, e.g. 9443); --h2-port decodes a cleartext port as HTTP/2 (prior
knowledge: tshark does not sniff the preface on unknown ports).
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
    ap.add_argument("--http2", action="store_true")
    ap.add_argument("--h2-port", type=int, action="append", default=[])
    a = ap.parse_args()
    if a.h2_port:
        a.http2 = True

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
    for p in a.h2_port:
        cmd += ["-d", f"tcp.port=={p},http2"]
    base = list(cmd)
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

    h2 = http2_exchanges(base) if a.http2 else {}
    out = []
    for st in sorted(set(reqs) | set(resps), key=int):
        q, s = reqs[st], resps[st]
        for k in range(max(len(q), len(s))):
            m, u = q[k] if k < len(q) else (None, None)
            status = s[k] if k < len(s) else None
            up = h2.get((st, 1))
            if status == 101 and up is not None and up["method"] is None:
                # h2c Upgrade: this request is HTTP/2 stream 1
                up.update(method=m, path=u)
                continue
            out.append({"method": m, "path": u, "status": status,
                        "stream": int(st)})
    for (st, sid), x in sorted(h2.items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
        out.append({"method": x["method"], "path": x["path"],
                    "status": x["status"], "stream": f"{st}/{sid}"})
    for o in out:
        print(json.dumps(o))


def multi(pairs):
    """JSON object hook: tshark repeats keys; keep every value, in order."""
    d = {}
    for k, v in pairs:
        if k in d:
            if not isinstance(d[k], list) or not getattr(d[k], "_multi", False):
                d[k] = Multi([d[k]])
            d[k].append(v)
        else:
            d[k] = v
    return d


class Multi(list):
    _multi = True


def each(v):
    if v is None:
        return []
    return list(v) if isinstance(v, Multi) else [v]


def http2_exchanges(base):
    cmd = base + ["-Y", "http2.type == 1 || http2.type == 5",
                  "-T", "json", "-J", "tcp http2"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(f"tshark_oracle: tshark (http2) exit {r.returncode}")
    pkts = json.loads(r.stdout or "[]", object_pairs_hook=multi)
    ex = {}

    def get(st, sid):
        return ex.setdefault((st, sid), {"method": None, "path": None,
                                         "status": None})
    for p in pkts:
        L = p["_source"]["layers"]
        st = L["tcp"]["tcp.stream"]
        for layer in each(L.get("http2")):
            for fr in each(layer.get("http2.stream")):
                typ = fr.get("http2.type")
                if typ not in ("1", "5"):
                    continue
                hdrs = {}
                for h in each(fr.get("http2.header")):
                    n = h.get("http2.header.name")
                    if n and n.startswith(":") and n not in hdrs:
                        hdrs[n] = h.get("http2.header.value")
                if not hdrs:
                    continue            # trailers (or undecodable)
                sid = int(fr.get("http2.streamid"))
                if typ == "5":
                    sid = int(fr.get("http2.push_promise.promised_stream_id"))
                x = get(st, sid)
                if ":method" in hdrs:
                    if x["method"] is None:
                        x["method"] = hdrs[":method"]
                        x["path"] = hdrs.get(":path")
                elif ":status" in hdrs:
                    c = int(hdrs[":status"])
                    if not 100 <= c < 200 and x["status"] is None:
                        x["status"] = c
    return ex


if __name__ == "__main__":
    main()
