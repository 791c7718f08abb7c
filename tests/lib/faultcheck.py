#!/usr/bin/python3
"""faultcheck.py - classify tapir's calls on a damaged capture.

Usage: faultcheck.py DAMAGED.jsonl REFERENCE.jsonl GT.jsonl
REFERENCE is tapir's output on the undamaged capture (itself checked equal
to the ground truth GT by the caller).  Every call of DAMAGED is one of:
  complete  empty errors, and equal to a reference call of the same flow
            (flow.src, method, path, status, both bodies' size and sha256,
            request and response headers)
  flagged   non-empty errors, and nothing in it invented: a method/path it
            names is in GT, a status it names is one GT has for that path
            (or for some exchange, when the path is unknown)
  wrong     anything else (printed on stderr with the reason)
Prints "complete N flagged N wrong N missing N" (missing: reference calls
with no complete counterpart and no flagged call naming them; informative).
Exit 1 if any call is wrong.
"""
import json
import sys


def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]


def ident(r):
    q, s = r.get("request") or {}, r.get("response") or {}
    return (r.get("flow", {}).get("src"), q.get("method"), q.get("path"), s.get("status"),
            q.get("body_size"), q.get("body_sha256"), s.get("body_size"), s.get("body_sha256"),
            json.dumps(q.get("headers")), json.dumps(s.get("headers")))


def main():
    dmg, ref, gt = (load(p) for p in sys.argv[1:4])
    refs = {}
    for r in ref:
        refs.setdefault(ident(r), 0)
        refs[ident(r)] += 1
    gt_paths = {(g["method"], g["path"]) for g in gt}
    gt_status = {}
    for g in gt:
        gt_status.setdefault(g["path"], set()).add(g["status"])
    all_status = {g["status"] for g in gt}
    n = {"complete": 0, "flagged": 0, "wrong": 0}
    named = 0
    for r in dmg:
        q, s = r.get("request") or {}, r.get("response") or {}
        m, p, st = q.get("method"), q.get("path"), s.get("status")
        why = None
        if not r.get("errors"):
            k = ident(r)
            if refs.get(k, 0) > 0:
                refs[k] -= 1
                n["complete"] += 1
                continue
            why = "no errors but differs from every reference call"
        else:
            if m is not None and (m, p) not in gt_paths:
                why = "invented request %s %s" % (m, p)
            elif st and p is not None and st not in gt_status.get(p, ()):
                why = "invented status %s for %s" % (st, p)
            elif st and st not in all_status:
                why = "invented status %s" % st
            else:
                n["flagged"] += 1
                named += 1
                continue
        n["wrong"] += 1
        print("WRONG (%s): %s" % (why, json.dumps(
            {"src": r.get("flow", {}).get("src"), "method": m, "path": p, "status": st,
             "errors": r.get("errors")})), file=sys.stderr)
    missing = max(0, len(ref) - n["complete"] - named)
    print("complete %d flagged %d wrong %d missing %d" % (n["complete"], n["flagged"], n["wrong"], missing))
    sys.exit(1 if n["wrong"] else 0)


main()
