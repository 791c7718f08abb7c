#!/usr/bin/python3
"""attackcap.py - hostile captures for tests/e2e/attacks.sh.

Usage: attackcap.py KIND LEGIT.pcap OUT.pcap [--scale F]
Writes an Ethernet pcap: the attack traffic of KIND with every frame of
LEGIT (a lab capture whose calls must still be reconstructed) spread evenly
through it.  All timestamps are rewritten to increase by 1 us per frame
(legit frames keep their order).  Attack frames carry TCP checksum 0, so
`tapir read --checksum auto` turns validation off, as with offload.

  ooo       1000 flows (client -> :80), each a SYN then 64 segments of 1400
            bytes starting 1000 bytes after the SYN: a hole that is never
            filled (~90 MB out-of-order data)
  synflood  1,000,000 flows of one SYN each
  hdrbomb   two connections to :80: a request with one 32 MB header line,
            and one with 1,000,000 headers
  chunked   two responses from :80 with chunked bodies that never end:
            64 MB of 4 KB chunks, and 2,000,000 one-byte chunks
  tlsnokeys 5,000 TLS 1.3 connections to :443 (ClientHello and ServerHello
            copied from LEGIT with a fresh client_random, then 4 records of
            16 KB application data from the server) whose keys never come
--scale multiplies the counts (attacks.sh uses 1).
"""
import argparse
import struct
import sys

SRV = bytes([10, 77, 0, 1])
MAC = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00"


def read_pcap(path):
    data = open(path, "rb").read()
    e = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nsec = struct.unpack(e + "I", data[:4])[0] == 0xA1B23C4D
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append((sec * 1000000 + (frac // 1000 if nsec else frac), data[off + 16:off + 16 + caplen], wirelen))
        off += 16 + caplen
    return recs


def frame(src, sport, dst, dport, seq, ack, flags, payload=b""):
    tot = 40 + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, tot, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    return MAC + ip + tcp + payload


def cli(i):
    return bytes([10, 100 + (i >> 16 & 63), i >> 8 & 255, i & 255]), 1024 + (i * 7) % 60000


def segs(src, sport, dst, dport, seq, ack, data, flags=0x18, mss=1400):
    for o in range(0, len(data), mss):
        yield frame(src, sport, dst, dport, seq + o, ack, flags, data[o:o + mss])


def ooo(s):
    for i in range(int(1000 * s)):
        c, p = cli(i)
        yield frame(c, p, SRV, 80, 1000, 0, 0x02)
        pay = b"x" * 1400
        for k in range(64):
            yield frame(c, p, SRV, 80, 1001 + 1000 + k * 1400, 1, 0x18, pay)


def synflood(s):
    for i in range(int(1000000 * s)):
        c, p = cli(i)
        yield frame(c, p, SRV, 80, i * 2654435761, 0, 0x02)


def conn(i, dport, cdata, sdata):
    """A whole connection: handshake, client data, server data (no FIN)."""
    c, p = cli(i)
    yield frame(c, p, SRV, dport, 1000, 0, 0x02)
    yield frame(SRV, dport, c, p, 5000, 1001, 0x12)
    yield from segs(c, p, SRV, dport, 1001, 5001, cdata)
    yield from segs(SRV, dport, c, p, 5001, 1001 + len(cdata), sdata)


def hdrbomb(s):
    line = b"GET /bomb1 HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * int(32 * 2**20 * s) + b"\r\n\r\n"
    yield from conn(1, 80, line, b"")
    many = b"GET /bomb2 HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * int(1000000 * s) + b"\r\n"
    yield from conn(2, 80, many, b"")


def chunked(s):
    req = b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"
    hdr = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    big = hdr + (b"1000\r\n" + b"y" * 4096 + b"\r\n") * int(16384 * s)
    yield from conn(3, 80, req, big)
    small = hdr + b"1\r\nz\r\n" * int(2000000 * s)
    yield from conn(4, 80, req, small)


def tls_hellos(legit):
    """The first ClientHello and ServerHello records (TCP payloads) to :443."""
    ch = sh = None
    for ts, fr, wl in legit:
        if len(fr) < 60 or fr[23] != 6:
            continue
        t = 14 + (fr[14] & 15) * 4
        sport, dport = struct.unpack(">HH", fr[t:t + 4])
        pay = fr[t + (fr[t + 12] >> 4) * 4:14 + struct.unpack(">H", fr[16:18])[0]]
        if dport == 443 and pay[:1] == b"\x16" and pay[5:6] == b"\x01" and ch is None:
            ch = bytearray(pay[:5 + struct.unpack(">H", pay[3:5])[0]])
        if sport == 443 and pay[:1] == b"\x16" and pay[5:6] == b"\x02" and sh is None:
            sh = bytes(pay[:5 + struct.unpack(">H", pay[3:5])[0]])
    if ch is None or sh is None:
        sys.exit("attackcap: no TLS hellos to port 443 in the legit capture")
    return ch, sh


def tlsnokeys(s, legit):
    ch, sh = tls_hellos(legit)
    rec = b"\x17\x03\x03" + struct.pack(">H", 16384 + 17) + b"\x5a" * (16384 + 17)
    for i in range(int(5000 * s)):
        ch[11:43] = struct.pack(">I", i) + b"\xc7" * 28
        yield from conn(100 + i, 443, bytes(ch), sh + b"\x14\x03\x03\x00\x01\x01" + rec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("ooo", "synflood", "hdrbomb", "chunked", "tlsnokeys"))
    ap.add_argument("legit")
    ap.add_argument("out")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    legit = read_pcap(a.legit)
    gen = tlsnokeys(a.scale, legit) if a.kind == "tlsnokeys" else globals()[a.kind](a.scale)
    attack = list(gen)
    t0 = legit[0][0] if legit else 1700000000 * 1000000
    step = max(1, len(attack) // (len(legit) + 1))
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        t, li = t0, 0
        w = f.write
        for k, fr in enumerate(attack):
            if k % step == 0 and li < len(legit):
                _, lf, lw = legit[li]
                w(struct.pack("<IIII", t // 1000000, t % 1000000, len(lf), lw) + lf)
                li += 1
                t += 1
            w(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)) + fr)
            t += 1
        for _, lf, lw in legit[li:]:
            w(struct.pack("<IIII", t // 1000000, t % 1000000, len(lf), lw) + lf)
            t += 1
    print("%s: %d attack frames, %d legit frames" % (a.kind, len(attack), len(legit)))


main()
