#!/usr/bin/python3
"""mkcorpus_h2.py - seed corpora for fuzz_http2 and fuzz_grpc.

Usage: mkcorpus_h2.py CAP.pcap OUTDIR   (OUTDIR = tests/fuzz/corpus)
CAP is a cleartext lab capture of HTTP/2 traffic (tests/fuzz/h2corpus.sh
makes one: nghttpd with padding, push and trailers, nghttp with
CONTINUATION and header-table-size changes, curl streams reset, gRPC).
Writes, per TCP connection, the client and server byte streams (first
16 KB of each) in fuzz_http2's input format, in a few option variants,
plus constructed inputs (frame types, padding, CONTINUATION, hostile
lengths), and fuzz_grpc inputs (length-prefixed messages).  The streams
come from tshark's "follow,tcp,raw", an independent reassembler.
Deterministic for a given capture.
"""
import hashlib
import os
import struct
import subprocess
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def w(out, name, b):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb") as f:
        f.write(b)


def streams(cap):
    r = subprocess.run(["tshark", "-n", "-r", cap, "-T", "fields",
                        "-e", "tcp.stream"], capture_output=True, text=True,
                       check=True)
    ids = sorted({int(x) for x in r.stdout.split() if x})
    for i in ids:
        r = subprocess.run(["tshark", "-n", "-r", cap, "-q", "-z",
                            f"follow,tcp,raw,{i}"], capture_output=True,
                           text=True, check=True)
        side = [bytearray(), bytearray()]
        lines = r.stdout.splitlines()
        started = False
        for ln in lines:
            if ln.startswith("Node 1:"):
                started = True
                continue
            if not started or ln.startswith("="):
                continue
            d = 1 if ln.startswith("\t") else 0
            try:
                side[d] += bytes.fromhex(ln.strip())
            except ValueError:
                pass
        if side[0] or side[1]:
            yield bytes(side[0]), bytes(side[1])


def h2input(o, o2, c, s):
    return bytes([o, o2]) + struct.pack(">H", len(c)) + c + s


def frame(t, fl, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, fl]) + \
        struct.pack(">I", sid) + payload


def lit(name, value):
    """HPACK literal without indexing, new name (no Huffman)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def constructed():
    req = b"\x82\x84\x87" + lit(b":authority", b"t")       # GET / http
    resp = b"\x88"                                          # :status 200
    st = frame(4, 0, 0, b"")
    ack = frame(4, 1, 0, b"")
    out = []
    # padding, priority, data, trailers
    c = PREFACE + st + ack + frame(1, 0x08 | 0x20 | 0x04, 1,
                                   b"\x03" + b"\x00\x00\x00\x00\x10" + req + b"\0\0\0") + \
        frame(0, 0x09, 1, b"\x02hi\0\0")
    s = st + ack + frame(1, 0x04, 1, resp) + frame(0, 0, 1, b"x" * 100) + \
        frame(1, 0x05, 1, lit(b"grpc-status", b"0"))
    out.append((c, s))
    # CONTINUATION split, table size update, RST mid-body, GOAWAY, unknown type
    blk = b"\x3f\xe1\x1f" + req                             # size update 4096
    c = PREFACE + st + ack + frame(1, 0, 3, blk[:4]) + frame(9, 0, 3, blk[4:8]) + \
        frame(9, 0x04, 3, blk[8:]) + frame(0xfa, 0, 0, b"??") + \
        frame(8, 0, 0, b"\0\0\0\x10") + frame(3, 0, 3, b"\0\0\0\x08")
    s = st + ack + frame(1, 0x04, 3, resp) + frame(0, 0, 3, b"y" * 50) + \
        frame(7, 0, 0, b"\0\0\0\x03\0\0\0\0") + frame(6, 0, 0, b"12345678")
    out.append((c, s))
    # push promise, gRPC bodies
    g = b"\0\0\0\0\x03abc\0\0\0\0\0"
    c = PREFACE + st + ack + frame(1, 0x04, 1, req + lit(b"content-type", b"application/grpc")) + \
        frame(0, 0x01, 1, g)
    s = st + ack + frame(5, 0x04, 1, b"\0\0\0\x02" + req) + \
        frame(1, 0x04, 1, resp + lit(b"content-type", b"application/grpc")) + \
        frame(0, 0, 1, g) + frame(1, 0x05, 1, lit(b"grpc-status", b"5") +
                                   lit(b"grpc-message", b"no%20such%ZZ")) + \
        frame(1, 0x04, 2, resp) + frame(0, 0x01, 2, b"pushed")
    out.append((c, s))
    # hostile: huge length, CONTINUATION flood, reused stream id
    c = PREFACE + frame(1, 0, 5, req[:2]) + b"".join(frame(9, 0, 5, b"") for _ in range(50))
    out.append((c, struct.pack(">I", 0xffffff)[1:] + b"\0\0\0\0\0\0"))
    c = PREFACE + frame(1, 0x05, 1, req) + frame(1, 0x05, 1, req)
    out.append((c, frame(1, 0x05, 1, resp)))
    # HPACK memo of blocks that add entries: a block of static references
    # and literals with incremental indexing, repeated (the memo defers its
    # entries), then blocks that refer to the dynamic table, before and
    # after a table size change; the server repeats such a block too
    def inc(name, value):
        return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value
    rep = b"\x82\x84\x87" + inc(b"x-a", b"1") + inc(b"x-b", b"22")
    srep = resp + inc(b"server", b"t") + inc(b"date", b"now")
    c, s, sid = PREFACE + st + ack, st + ack, 1
    c += frame(1, 0x05, sid, req + inc(b"x-old", b"0"))
    s += frame(1, 0x05, sid, srep)
    for _ in range(70):
        sid += 2
        c += frame(1, 0x05, sid, rep)
        s += frame(1, 0x05, sid, srep)
    for idx in (0x80 | 62, 0x80 | 63, 0x80 | 100, 0xff, 0x80 | 64):
        sid += 2
        c += frame(1, 0x05, sid, b"\x82\x84\x87" + bytes([idx]) +
                   (b"\x00" if idx == 0xff else b""))
        s += frame(1, 0x05, sid, srep)
    s += frame(4, 0, 0, b"\x00\x01\x00\x00\x04\x00")     # table size 1024
    c += ack
    for blk in (b"\x3f\xe1\x07" + rep, rep, rep, b"\x82\x84\x87\xbe"):
        sid += 2
        c += frame(1, 0x05, sid, blk)
        s += frame(1, 0x05, sid, srep + b"\xbe")
    out.append((c, s))
    return out


def main():
    cap, out = sys.argv[1], sys.argv[2]
    n = 0
    for c, s in streams(cap):
        if not (c.startswith(PREFACE) or c.startswith(b"GET ") or
                c.startswith(b"POST ")):
            continue
        if c.startswith(b"GET ") or c.startswith(b"POST "):
            # h2c Upgrade: the HTTP/2 part follows the 101's blank line
            k = c.find(b"\r\n\r\n")
            j = s.find(b"\r\n\r\n")
            if k < 0 or j < 0:
                continue
            c, s = c[k + 4:], s[j + 4:]
            o2 = 2
        else:
            o2 = 0
        c, s = c[:16384], s[:16384]
        w(out, "http2", h2input(0x20 | 5, o2, c, s))
        w(out, "http2", h2input(0x03, o2, c, s))
        n += 1
        # mid-stream: start the client side after the preface + 1st frame
        w(out, "http2", h2input(0x21, 1, c[24 + 9 + (c[24] << 16 | c[25] << 8 | c[26]):], s))
    for c, s in constructed():
        for o in (0x25, 0x80 | 0x21, 0x08 | 0x10 | 0x20):
            w(out, "http2", h2input(o, 0, c, s))
    # grpc: messages of several sizes, split points, a grpc-message
    msgs = [b"", b"a", b"x" * 300, bytes(range(256)) * 40]
    for k in range(1, len(msgs) + 1):
        body = b"".join(bytes([i & 1]) + struct.pack(">I", len(m)) + m
                        for i, m in enumerate(msgs[:k]))
        for o in (0, 3, 0x18, 6):
            msg = b"caf%C3%A9 50%25 %E2%80%93"
            w(out, "grpc", bytes([o, len(msg)]) + msg + body + body[::-1][:7])
    print(f"mkcorpus_h2: {n} connections", file=sys.stderr)


if __name__ == "__main__":
    main()
