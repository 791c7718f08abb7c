#!/usr/bin/python3
"""fake_tapir.py - a stand-in for `tapir read` that tests the e2e harness.

It cheats: it reads the ground truth that tests/lib/common.sh leaves beside
the capture (gt.jsonl) and prints it as tapir call records; sessions whose
keys went to hidden.keys become {"tls": {"decrypted": false}} records, and
the TLS facts come from $T_TLS.  So `TAPIR=tests/lib/fake_tapir.py
tests/run.sh --e2e-only` exercises every comparison path without a parser.
FAKE_CORRUPT=1 flips one response hash, and every case with a response
body must then FAIL (the harness's own negative test).
Usage: fake_tapir.py read [--hash-bodies] [--keylog K] CAP
"""
import json
import os
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--hash")]
if not args or args[0] != "read":
    sys.exit("usage: fake_tapir.py read [--keylog K] CAP")
cap = args[-1]
d = os.path.dirname(cap)
tls = None
if os.environ.get("T_TLS"):
    v, c = os.environ["T_TLS"].split(" ", 1)
    tls = {"version": v, "cipher": c, "sni": "tapir.test", "decrypted": True}
corrupt = os.environ.get("FAKE_CORRUPT") == "1"
with open(os.path.join(d, "gt.jsonl")) as f:
    for line in f:
        g = json.loads(line)
        rs = g["resp_body_sha256"]
        if corrupt and g["resp_body_size"]:
            rs = "0" * 64
            corrupt = False
        r = {"http_version": "1.1",
             "request": {"method": g["method"], "path": g["path"],
                         "body_size": g["req_body_size"],
                         "body_sha256": g["req_body_sha256"]},
             "response": {"status": g["status"],
                          "body_size": g["resp_body_size"],
                          "body_sha256": rs},
             "errors": []}
        if tls:
            r["tls"] = tls
        print(json.dumps(r))
hidden = os.path.join(d, "hidden.keys")
if os.path.exists(hidden):
    crs = set()
    for line in open(hidden):
        p = line.split()
        if len(p) == 3:
            crs.add(p[1])
    for _ in crs:
        print(json.dumps({"tls": {"decrypted": False}, "errors": ["no keys"]}))
