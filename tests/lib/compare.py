#!/usr/bin/python3
"""compare.py - compare tapir's call records with ground truth or tshark.

Reads JSON lines in either shape and normalises them to one flat exchange:
  tapir (DESIGN.md "The call record"): request.method, request.path,
      response.status, request.body_size, request.body_sha256,
      response.body_size, response.body_sha256, errors, tls.decrypted
  flat (gt_curl.py / gt_pipe.py / tshark_oracle.py): method, path, status,
      req_body_size, req_body_sha256, resp_body_size, resp_body_sha256
A missing body_sha256 with body_size 0 means the empty body's hash.

Modes (exit 0 = equal, 1 = any difference, 2 = bad input):
  exact   A B   every field, as multisets (order between connections is free)
                and no A record that matches B may carry errors
  triples A B   (method, path, status) multisets only
  requests A B  (method, path) multisets only
  tls A --version V --cipher C [--sni S]
                every record has tls.decrypted true with that version/cipher
  grpc    A B   gRPC facts as multisets: (path, request message sizes,
                response message sizes, grpc-status, grpc-message); B is
                grpc_peer.py's --grpc-out, A tapir's records with "grpc"
  nodecrypt A [--min N]
                A must hold >= N records, every one with tls.decrypted false,
                and none may invent a request method or a response status
A is usually tapir's output, B the ground truth or tshark's triples.
exact/triples with --allow-undecrypted N: records of A with tls.decrypted
false are set aside first; there must be >= N of them and they must not
invent a request method or response status (a session without keys).
"""
import argparse
import hashlib
import json
import sys
from collections import Counter

EMPTY_SHA = hashlib.sha256(b"").hexdigest()
FIELDS = ("method", "path", "status", "req_body_size", "req_body_sha256",
          "resp_body_size", "resp_body_sha256")


def load(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"{path}:{n}: not JSON: {e}: {line[:120]}")
                sys.exit(2)
    return recs


def sha_or_empty(size, sha):
    if sha is None and size == 0:
        return EMPTY_SHA
    return sha


def flat(r):
    """Normalise one record; returns (dict of FIELDS, errors list, raw)."""
    if "request" in r or "response" in r or "errors" in r or "tls" in r:
        q = r.get("request") or {}
        s = r.get("response") or {}
        qs = q.get("body_size", 0) if q else None
        ss = s.get("body_size", 0) if s else None
        d = {"method": q.get("method"), "path": q.get("path"),
             "status": s.get("status"),
             "req_body_size": qs,
             "req_body_sha256": sha_or_empty(qs, q.get("body_sha256")),
             "resp_body_size": ss,
             "resp_body_sha256": sha_or_empty(ss, s.get("body_sha256"))}
        return d, list(r.get("errors") or []), r
    d = {k: r.get(k) for k in FIELDS}
    return d, [], r


def key(d, fields):
    return tuple(d.get(k) for k in fields)


def show(d, fields):
    parts = []
    for k in fields:
        v = d.get(k)
        if k.endswith("sha256") and isinstance(v, str):
            v = v[:12]
        parts.append(f"{k}={v}")
    return " ".join(parts)


def diff(a_recs, b_recs, fields, label_a, label_b, check_errors):
    A = [flat(r) for r in a_recs]
    B = [flat(r) for r in b_recs]
    ca = Counter(key(d, fields) for d, _, _ in A)
    cb = Counter(key(d, fields) for d, _, _ in B)
    missing = cb - ca   # in B, not in A
    extra = ca - cb     # in A, not in B
    bad = 0
    # Pair leftovers by (method, path) to show which fields differ.
    extra_list = list(extra.elements())
    for k in sorted(missing.elements(), key=str):
        mk = dict(zip(fields, k))
        twin = next((e for e in extra_list
                     if e[0] == k[0] and e[1] == k[1]), None)
        if twin is not None:
            extra_list.remove(twin)
            te = dict(zip(fields, twin))
            what = ", ".join(f"{f}: {label_b} {mk[f]!r} vs {label_a} {te[f]!r}"
                             for f in fields if mk[f] != te[f])
            print(f"  MISMATCH {k[0]} {k[1]}: {what}")
        else:
            print(f"  MISSING in {label_a}: {show(mk, fields)}")
        bad += 1
    for e in extra_list:
        print(f"  EXTRA in {label_a}: {show(dict(zip(fields, e)), fields)}")
        bad += 1
    if check_errors:
        for d, errs, raw in A:
            if errs and key(d, fields) in cb:
                print(f"  ERRORS on a complete exchange {d['method']} "
                      f"{d['path']}: {errs}")
                bad += 1
    return bad, len(A), len(B)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("exact", "triples", "requests", "nodecrypt", "tls", "grpc"))
    ap.add_argument("a")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--label-a", default="tapir")
    ap.add_argument("--label-b", default="truth")
    ap.add_argument("--min", type=int, default=1)
    ap.add_argument("--allow-undecrypted", type=int, default=None)
    ap.add_argument("--version")
    ap.add_argument("--cipher")
    ap.add_argument("--sni")
    a = ap.parse_args()

    A = load(a.a)
    if a.mode == "grpc":
        sys.exit(grpc_diff(A, load(a.b)))
    if a.mode == "tls":
        bad = 0
        for r in A:
            t = r.get("tls") or {}
            want = {"decrypted": True, "version": a.version,
                    "cipher": a.cipher}
            if a.sni:
                want["sni"] = a.sni
            got = {k: t.get(k) for k in want}
            if got != want:
                q = r.get("request") or {}
                print(f"  {q.get('method')} {q.get('path')}: tls {got}, "
                      f"want {want}")
                bad += 1
        if not A:
            print("  no records")
            bad += 1
        sys.exit(1 if bad else 0)
    bad = 0
    if a.allow_undecrypted is not None:
        U = [r for r in A if (r.get("tls") or {}).get("decrypted") is False]
        A = [r for r in A if (r.get("tls") or {}).get("decrypted") is not False]
        bad += check_nodecrypt(U, a.allow_undecrypted)
    if a.mode == "nodecrypt":
        bad += check_nodecrypt(A, a.min)
        sys.exit(1 if bad else 0)

    if a.b is None:
        ap.error(f"{a.mode} needs two files")
    B = load(a.b)
    fields = {"exact": FIELDS, "triples": FIELDS[:3],
              "requests": FIELDS[:2]}[a.mode]
    nbad, na, nb = diff(A, B, fields, a.label_a, a.label_b,
                        check_errors=(a.mode == "exact"))
    bad += nbad
    if bad:
        print(f"  {bad} difference(s): {a.label_a} has {na} records, "
              f"{a.label_b} has {nb}")
    sys.exit(1 if bad else 0)


def grpc_diff(A, B):
    def ka(r):
        g = r.get("grpc") or {}
        q = r.get("request") or {}
        return (q.get("path"), tuple(g.get("request_message_sizes") or ()),
                tuple(g.get("response_message_sizes") or ()),
                g.get("status"), g.get("message"))

    def kb(r):
        return (r["path"], tuple(r["request_message_sizes"]),
                tuple(r["response_message_sizes"]), r["grpc_status"],
                r["grpc_message"])
    bad = 0
    for r in A:
        g = r.get("grpc")
        if g is None:
            print(f"  record without grpc: {json.dumps(r)[:160]}")
            bad += 1
            continue
        for d in ("request", "response"):
            n = g.get(f"{d}_messages")
            sz = g.get(f"{d}_message_sizes") or []
            if n != len(sz) or g.get(f"{d}_message_bytes") != sum(sz):
                print(f"  {ka(r)[0]}: {d}_messages {n} / bytes "
                      f"{g.get(f'{d}_message_bytes')} vs sizes {sz[:8]}")
                bad += 1
    ca = Counter(ka(r) for r in A if r.get("grpc") is not None)
    cb = Counter(kb(r) for r in B)
    for k in sorted((cb - ca).elements(), key=str):
        print(f"  MISSING in tapir: {str(k)[:200]}")
        bad += 1
    for k in sorted((ca - cb).elements(), key=str):
        print(f"  EXTRA in tapir: {str(k)[:200]}")
        bad += 1
    if not B:
        print("  no gRPC ground truth")
        bad += 1
    return 1 if bad else 0


def check_nodecrypt(A, minimum):
    bad = 0
    if len(A) < minimum:
        print(f"  expected >= {minimum} records for the undecrypted "
              f"session(s), got {len(A)}")
        bad += 1
    for r in A:
        tls = r.get("tls") or {}
        q = r.get("request") or {}
        s = r.get("response") or {}
        if tls.get("decrypted") is not False:
            print(f"  record without tls.decrypted=false: {json.dumps(r)[:200]}")
            bad += 1
        if q.get("method") or s.get("status"):
            print(f"  invented request/response: {json.dumps(r)[:200]}")
            bad += 1
    return bad


if __name__ == "__main__":
    main()
