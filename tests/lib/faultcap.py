#!/usr/bin/python3
"""faultcap.py - damage a capture the way real captures get damaged.

Owns nothing but its output file.  Input: a classic Ethernet pcap (usec or
nsec) as tcpdump writes in the lab, IPv4 or IPv6 TCP.  Every TCP checksum is
first recomputed (so the output is a capture whose checksums verify and
`tapir read` validates them: a flipped bit is then detectable, as on a span
port), then one kind of damage is applied, deterministically for a --seed:

  drop     drop PCT% of the TCP segments (any flags)
  reorder  move PCT% of the TCP segments 1-8 frames later
  dup      duplicate PCT% of the TCP segments (the copy 0-3 frames later)
  cut      PCT% of the segments with payload: half of them snapped (caplen
           shortened to a random length inside the payload, wire length
           kept), half split into two valid segments (seq, lengths and
           checksums fixed)
  flip     flip one random bit in the TCP payload of PCT% of the segments
           with payload (the checksum is not fixed: the damage is visible)
  trunc    cut the file at a random point after the first 10% (mid-record)
  none     only the checksum pass

Usage: faultcap.py KIND IN OUT [--pct N] [--seed S]
Prints one line: what was done ("drop: 93 of 932 TCP segments").
"""
import argparse
import random
import struct
import sys

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD


def read_pcap(path):
    data = open(path, "rb").read()
    m = struct.unpack("<I", data[:4])[0]
    e = "<" if m in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    magic, _, _, _, _, snap, dlt = struct.unpack(e + "IHHiIII", data[:24])
    if dlt != 1:
        sys.exit("faultcap: link type %d, expected Ethernet" % dlt)
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append([sec, frac, bytearray(data[off + 16:off + 16 + caplen]), wirelen])
        off += 16 + caplen
    return magic, snap, recs


def write_pcap(path, magic, snap, recs, cut=None):
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, max(snap, 262144), 1))
    for sec, frac, frame, wirelen in recs:
        out += struct.pack("<IIII", sec, frac, len(frame), wirelen) + frame
    if cut is not None:
        out = out[:cut]
    open(path, "wb").write(out)


def csum16(b):
    if len(b) % 2:
        b = bytes(b) + b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def l3(frame):
    """(ip offset, version, tcp offset, payload offset, payload end) or None."""
    off, et = 14, struct.unpack(">H", frame[12:14])[0]
    while et in (0x8100, 0x88A8):
        et = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    if et == ETH_P_IP and len(frame) >= off + 20 and frame[off + 9] == 6:
        ihl = (frame[off] & 15) * 4
        end = off + struct.unpack(">H", frame[off + 2:off + 4])[0]
        t = off + ihl
        if ihl < 20 or end > len(frame) or t + 20 > end or frame[off + 6] & 0x3F or frame[off + 7]:
            return None
        return off, 4, t, t + (frame[t + 12] >> 4) * 4, end
    if et == ETH_P_IPV6 and len(frame) >= off + 40 and frame[off + 6] == 6:
        end = off + 40 + struct.unpack(">H", frame[off + 4:off + 6])[0]
        t = off + 40
        if end > len(frame) or t + 20 > end:
            return None
        return off, 6, t, t + (frame[t + 12] >> 4) * 4, end
    return None


def fix_csum(frame, g):
    ip, v, t, p, end = g
    frame[t + 16:t + 18] = b"\0\0"
    seg = bytes(frame[t:end])
    if v == 4:
        ph = bytes(frame[ip + 12:ip + 20]) + struct.pack(">BBH", 0, 6, len(seg))
    else:
        ph = bytes(frame[ip + 8:ip + 40]) + struct.pack(">IxxxB", len(seg), 6)
    frame[t + 16:t + 18] = struct.pack(">H", csum16(ph + seg))


def set_len(frame, g, new_end):
    ip, v, t, p, end = g
    if v == 4:
        frame[ip + 2:ip + 4] = struct.pack(">H", new_end - ip)
        frame[ip + 10:ip + 12] = b"\0\0"
        frame[ip + 10:ip + 12] = struct.pack(">H", csum16(bytes(frame[ip:t])))
    else:
        frame[ip + 4:ip + 6] = struct.pack(">H", new_end - ip - 40)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("drop", "reorder", "dup", "cut", "flip", "trunc", "none"))
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--pct", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random("%s/%d" % (a.kind, a.seed))
    magic, snap, recs = read_pcap(a.inp)
    geo = []
    for r in recs:
        g = l3(r[2])
        if g and len(r[2]) == r[3]:
            fix_csum(r[2], g)
        geo.append(g)
    tcp = [i for i, g in enumerate(geo) if g]
    withpay = [i for i in tcp if geo[i][4] > geo[i][3]]
    hit = lambda pool: set(i for i in pool if rnd.random() * 100 < a.pct)
    n, cut = 0, None
    if a.kind == "drop":
        victims = hit(tcp)
        recs = [r for i, r in enumerate(recs) if i not in victims]
        n, pool = len(victims), tcp
    elif a.kind == "reorder":
        victims, pool = hit(tcp), tcp
        order = list(range(len(recs)))
        for i in sorted(victims, reverse=True):
            k = order.index(i)
            order.insert(min(len(order), k + 1 + rnd.randrange(1, 9)), order.pop(k))
        recs = [recs[i] for i in order]
        n = len(victims)
    elif a.kind == "dup":
        victims, pool = hit(tcp), tcp
        out = []
        pending = []
        for i, r in enumerate(recs):
            out.append(r)
            pending = [(d - 1, c) for d, c in pending]
            out += [c for d, c in pending if d < 0]
            pending = [(d, c) for d, c in pending if d >= 0]
            if i in victims:
                pending.append((rnd.randrange(0, 4) - 1, [r[0], r[1], bytearray(r[2]), r[3]]))
        out += [c for d, c in pending]
        recs, n = out, len(victims)
    elif a.kind == "cut":
        victims, pool = hit(withpay), withpay
        out = []
        for i, r in enumerate(recs):
            if i not in victims:
                out.append(r)
                continue
            ip, v, t, p, end = geo[i]
            plen = end - p
            if plen >= 2 and rnd.random() < 0.5:
                k = rnd.randrange(1, plen)
                a1, a2 = bytearray(r[2]), bytearray(r[2])
                set_len(a1, geo[i], p + k)
                del a1[p + k:end]
                g1 = (ip, v, t, p, p + k)
                fix_csum(a1, g1)
                del a2[p:p + k]
                set_len(a2, geo[i], end - k)
                seq = struct.unpack(">I", a2[t + 4:t + 8])[0]
                a2[t + 4:t + 8] = struct.pack(">I", (seq + k) & 0xFFFFFFFF)
                if a2[t + 13] & 0x02:     # SYN only on the first half
                    a2[t + 13] &= ~0x02
                a1[t + 13] &= ~0x01       # FIN only on the second half
                fix_csum(a2, (ip, v, t, p, end - k))
                out += [[r[0], r[1], a1, len(a1)], [r[0], r[1], a2, len(a2)]]
            else:
                k = rnd.randrange(0, plen)
                out.append([r[0], r[1], r[2][:p + k], r[3]])
        recs, n = out, len(victims)
    elif a.kind == "flip":
        victims, pool = hit(withpay), withpay
        for i in victims:
            ip, v, t, p, end = geo[i]
            b = rnd.randrange(p, end)
            recs[i][2][b] ^= 1 << rnd.randrange(8)
        n = len(victims)
    elif a.kind == "trunc":
        pool = tcp
        total = 24 + sum(16 + len(r[2]) for r in recs)
        cut = rnd.randrange(total // 10, total)
        n = sum(1 for _ in range(0))
    else:
        pool = tcp
    write_pcap(a.out, magic, snap, recs, cut)
    if a.kind == "trunc":
        print("trunc: file cut at byte %d of %d" % (cut, total))
    else:
        print("%s: %d of %d TCP segments" % (a.kind, n, len(pool)))


main()
