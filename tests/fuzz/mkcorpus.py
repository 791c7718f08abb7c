#!/usr/bin/python3
"""mkcorpus.py - seed corpora for tests/fuzz/ from one lab capture.

Usage: mkcorpus.py CAP.pcap OUTDIR   (OUTDIR = tests/fuzz/corpus)
CAP is an Ethernet pcap from tests/lib/labcap.sh (small mode); its key log
is compiled into fuzz_keys.h, so the TLS seeds decrypt.  Writes, per
harness, small files in the harness's input format (see each fuzz_*.c):
  decode   first frames of each flow, as Ethernet / SLL / SLL2 / raw IP
  reasm    segment scripts (in order, reordered, overlaps, FIN, RST)
  flow     segment scripts from the capture's first packets
  tls      the first ~12 KB of each TLS connection, records per direction
  http1    each plain HTTP connection's streams (first 16 KB of each side)
  body     gzip / deflate / br / identity bodies
  keystore key log lines (valid and broken)
  pcap     the capture's first packets of each connection (pcap, snapped)
Deterministic; keeps every file small (the whole corpus well under 2 MB).
"""
import gzip
import os
import struct
import subprocess
import sys
import zlib


def read_pcap(path):
    data = open(path, "rb").read()
    e = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append((sec, frac, data[off + 16:off + 16 + caplen], wirelen))
        off += 16 + caplen
    return data[:24], recs


def tcp_of(frame):
    """(src, sport, dst, dport, seq, ack, flags, payload) of an Ethernet IPv4 TCP frame."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    tot = struct.unpack(">H", frame[16:18])[0]
    t = 14 + ihl
    sport, dport, seq, ack = struct.unpack(">HHII", frame[t:t + 12])
    doff = (frame[t + 12] >> 4) * 4
    flags = frame[t + 13]
    pay = frame[t + doff:14 + tot]
    return frame[26:30], sport, frame[30:34], dport, seq, ack, flags, pay


def w(out, name, fname, b):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(b)


def main():
    cap, out = sys.argv[1], sys.argv[2]
    hdr, recs = read_pcap(cap)
    conns = {}          # client port -> list of (dir, tcp tuple, rec)
    for r in recs:
        t = tcp_of(r[2])
        if not t:
            continue
        cport = t[1] if t[3] in (80, 443, 8443) else t[3]
        d = 0 if t[3] in (80, 443, 8443) else 1
        conns.setdefault(cport, []).append((d, t, r))
    # decode: first 6 frames of each connection in 4 link types
    n = 0
    for cport, pk in sorted(conns.items()):
        for d, t, r in pk[:6]:
            fr = r[2][:200]
            eth_type = fr[12:14]
            w(out, "decode", "eth-%03d" % n, b"\x00\x00" + fr)
            w(out, "decode", "raw-%03d" % n, b"\x03\x00" + fr[14:])
            sll = struct.pack(">HHH", 0 if d else 4, 1, 6) + fr[6:12] + b"\0\0" + eth_type
            w(out, "decode", "sll-%03d" % n, b"\x01\x00" + sll + fr[14:])
            sll2 = eth_type + b"\0\0" + struct.pack(">IHBB", 2, 1, 0, 6) + fr[6:12] + b"\0\0"
            w(out, "decode", "sll2-%03d" % n, b"\x02\x00" + sll2 + fr[14:])
            n += 1
    vlan = bytes(fr[:12]) + b"\x81\x00\x00\x05" + bytes(fr[12:])
    w(out, "decode", "vlan", b"\x00\x00" + vlan)
    # tls: records per direction, first ~12 KB
    for cport, pk in sorted(conns.items()):
        port = pk[0][1][3] if pk[0][0] == 0 else pk[0][1][1]
        b = bytearray()
        for d, t, r in pk:
            if t[7]:
                b += bytes([d]) + struct.pack(">H", len(t[7]) & 0x3fff) + t[7][:0x3fff]
            if len(b) > 12000:
                break
        if port in (443, 8443):
            w(out, "tls", "keys-%d" % cport, b"\x01" + bytes(b))
            w(out, "tls", "nokeys-%d" % cport, b"\x00" + bytes(b))
        elif port == 80:
            streams = [bytearray(), bytearray()]
            for d, t, r in pk:
                streams[d] += t[7]
            c, s = bytes(streams[0][:16384]), bytes(streams[1][:16384])
            for o in (0x06, 0x21, 0x80, 0x3b):
                w(out, "http1", "lab-%d-%02x" % (cport, o), bytes([o]) + struct.pack(">H", len(c)) + c + s)
        # pcap: this connection's first 30 packets, snapped to 2 KB
        pc = bytearray(hdr)
        for d, t, r in pk[:30]:
            fr = r[2][:2048]
            pc += struct.pack("<IIII", r[0], r[1], len(fr), r[3]) + fr
        w(out, "pcap", "conn-%d" % cport, b"\x00" + bytes(pc))
        w(out, "pcap", "conn-%d-small" % cport, b"\x04" + bytes(pc))
        # flow: segment scripts from the first packets
        fl = bytearray([0x07])
        isn = {}
        for d, t, r in pk[:20]:
            isn.setdefault(d, t[4])
            isn.setdefault(1 - d, t[5] if t[6] & 0x10 else 0)
            fl += bytes([(d << 2), t[6] & 0x3f]) + struct.pack(">HH", (t[4] - isn[d]) & 0xffff,
                                                               (t[5] - isn.get(1 - d, 0)) & 0xffff)
            fl += bytes([min(len(t[7]), 255), 1])
        w(out, "flow", "conn-%d" % cport, bytes(fl))
    # http1: hand-written exchanges
    ex = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n",
         b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"),
        (b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nHEAD /c HTTP/1.0\r\n\r\n",
         b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n"),
        (b"CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01", b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03"),
        (b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"),
        (b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n\x81\x00"),
    ]
    gz = gzip.compress(b"compressed body " * 20, mtime=0)
    for i, (c, s) in enumerate(ex):
        if b"%d" in s:
            s = s % len(gz) + gz
        for o in (0x00, 0x20, 0x07, 0x98):
            w(out, "http1", "ex%d-%02x" % (i, o), bytes([o]) + struct.pack(">H", len(c)) + c + s)
    # body
    text = b"".join(b"line %d of a body that compresses well\n" % i for i in range(200))
    br = subprocess.run(["brotli", "-c"], input=text, capture_output=True).stdout
    for ci, enc in ((0, text), (1, gzip.compress(text, mtime=0)), (2, zlib.compress(text)),
                    (3, br), (8, text), (7, gzip.compress(text, mtime=0))):
        for o in (0x01, 0x0a, 0x53, 0xc6):
            w(out, "body", "c%d-%02x" % (ci, o), bytes([ci, o]) + enc)
    w(out, "body", "gz-concat", b"\x01\x01" + gzip.compress(b"a", mtime=0) + gzip.compress(b"b", mtime=0))
    w(out, "body", "raw-deflate", b"\x02\x01" + zlib.compress(text)[2:-4])
    # keystore
    kl = open(os.path.join(os.path.dirname(cap), "keys.log"), "rb").read()
    w(out, "keystore", "lab", kl)
    w(out, "keystore", "broken", b"# comment\n\nCLIENT_RANDOM 00 11\nCLIENT_RANDOM " + b"a" * 64 + b" " + b"b" * 96
      + b"\r\nSERVER_TRAFFIC_SECRET_0 " + b"0" * 64 + b" " + b"1" * 64 + b"\nUNKNOWN_LABEL x y\n"
      + b"CLIENT_TRAFFIC_SECRET_0 " + b"g" * 64 + b" " + b"1" * 64 + b"\n")
    # reasm: handcrafted scripts  op seq_delta(2) len
    def rs(h, *segs):
        return bytes([h]) + b"".join(bytes([op]) + struct.pack(">h", dl) + bytes([ln]) for op, dl, ln in segs)
    for h in (0, 1, 2, 3, 7, 0x13):
        w(out, "reasm", "inorder-%02x" % h, rs(h, (0x02, 0, 0), (0x10, 0, 160), (0x10, 10, 160), (0x11, 20, 16)))
        w(out, "reasm", "ooo-%02x" % h, rs(h, (0x02, 0, 0), (0x10, 20, 160), (0x90, 10, 160), (0x10, 0, 200), (0x50, 40, 0)))
        w(out, "reasm", "rst-%02x" % h, rs(h, (0x10, 0, 100), (0x10, 30, 100), (0x04, 8, 0)))
    # flow: handcrafted three-way handshake + data both ways + FIN
    fl = bytes([0x03]) + b"".join(bytes([d, f]) + struct.pack(">HH", s, a) + bytes([ln, 1]) for d, f, s, a, ln in (
        (0, 0x02, 0, 0, 0), (4, 0x12, 0, 1, 0), (0, 0x18, 1, 1, 100), (4, 0x18, 1, 101, 200),
        (0, 0x11, 101, 201, 0), (4, 0x11, 201, 102, 0)))
    w(out, "flow", "handshake", fl)


main()
