#!/usr/bin/python3
"""pcaprewrite.py - rewrite an Ethernet pcap into the other shapes tapir reads.

Owns nothing but its output file.  Input: a classic pcap (usec or nsec) of
link type Ethernet, as tcpdump writes in the lab.  Each mode writes a classic
pcap whose frames carry exactly the same IP packets, so `tapir read` must give
the same calls for every output as for the input:

  sll      Linux cooked v1 (link type 113)
  sll2     Linux cooked v2 (link type 276)
  raw      raw IP (link type 101), Ethernet header removed
  vlan     one 802.1Q tag inserted
  qinq     an 802.1ad tag and an 802.1Q tag inserted
  fixcsum  every TCP checksum recomputed (a capture whose checksums verify)
  badcsum  like fixcsum, then the checksum of the Nth TCP segment carrying
           payload (--nth, default: the middle one) broken
  frag     an IPv4 fragment (UDP, MF set) inserted after the first frame
  trunc    the file cut in the middle of a record (--at fraction, default 0.6)
  from     the frames before fraction --at of the file dropped: the capture
           starts in the middle of connections (mid-stream pickup)
"""
import argparse
import struct
import sys

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit("pcaprewrite: not a classic pcap file: %s" % path)
    _, _, _, _, snap, dlt = struct.unpack(e + "HHiIII", data[4:24])
    if dlt != 1:
        sys.exit("pcaprewrite: link type %d, expected Ethernet (1)" % dlt)
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append([sec, frac, data[off + 16:off + 16 + caplen], wirelen])
        off += 16 + caplen
    return magic, snap, recs


def write_pcap(path, magic, snap, dlt, recs, cut=None):
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, max(snap, 262144), dlt))
    for sec, frac, frame, wirelen in recs:
        out += struct.pack("<IIII", sec, frac, len(frame), wirelen) + frame
    if cut is not None:
        out = out[:cut]
    with open(path, "wb") as f:
        f.write(out)


def csum16(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def tcp_fix(frame, breakit=False):
    """Recompute the TCP checksum of an Ethernet frame in place (bytearray).
    Returns the TCP payload length, or -1 when the frame is not TCP."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et == ETH_P_IP:
        ip = 14
        ihl = (frame[ip] & 15) * 4
        if frame[ip + 9] != 6:
            return -1
        tot = struct.unpack("!H", frame[ip + 2:ip + 4])[0]
        tcp, end = ip + ihl, ip + tot
        pseudo = frame[ip + 12:ip + 20] + struct.pack("!HH", 6, end - tcp)
    elif et == ETH_P_IPV6:
        ip = 14
        if frame[ip + 6] != 6:
            return -1
        plen = struct.unpack("!H", frame[ip + 4:ip + 6])[0]
        tcp, end = ip + 40, ip + 40 + plen
        pseudo = frame[ip + 8:ip + 40] + struct.pack("!IxxxB", end - tcp, 6)
    else:
        return -1
    if end > len(frame):
        return -1
    frame[tcp + 16:tcp + 18] = b"\0\0"
    c = 0xFFFF - csum16(bytes(pseudo) + bytes(frame[tcp:end]))
    if breakit:
        c ^= 0x5A5A
    frame[tcp + 16:tcp + 18] = struct.pack("!H", c)
    doff = (frame[tcp + 12] >> 4) * 4
    return end - tcp - doff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--nth", type=int, default=-1)
    ap.add_argument("--at", type=float, default=0.6)
    a = ap.parse_args()
    magic, snap, recs = read_pcap(a.input)
    dlt, cut = 1, None
    if a.mode == "sll":
        dlt = 113
        for r in recs:
            f = r[2]
            r[2] = struct.pack("!HHH", 0, 1, 6) + f[6:12] + b"\0\0" + f[12:14] + f[14:]
            r[3] += 2
    elif a.mode == "sll2":
        dlt = 276
        for r in recs:
            f = r[2]
            r[2] = struct.pack("!HHIHBB", struct.unpack("!H", f[12:14])[0], 0, 2, 1, 0, 6) + f[6:12] + b"\0\0" + f[14:]
            r[3] += 6
    elif a.mode == "raw":
        dlt = 101
        for r in recs:
            r[2] = r[2][14:]
            r[3] -= 14
    elif a.mode in ("vlan", "qinq"):
        tags = struct.pack("!HH", 0x8100, 42) if a.mode == "vlan" else \
            struct.pack("!HHHH", 0x88A8, 7, 0x8100, 42)
        for r in recs:
            r[2] = r[2][:12] + tags + r[2][12:]
            r[3] += len(tags)
    elif a.mode in ("fixcsum", "badcsum"):
        data_idx = []
        for i, r in enumerate(recs):
            f = bytearray(r[2])
            if tcp_fix(f) > 0:
                data_idx.append(i)
            r[2] = bytes(f)
        if a.mode == "badcsum":
            if not data_idx:
                sys.exit("pcaprewrite: no TCP segment with payload")
            i = data_idx[a.nth if a.nth >= 0 else len(data_idx) // 2]
            f = bytearray(recs[i][2])
            tcp_fix(f, breakit=True)
            recs[i][2] = bytes(f)
            print(i + 1)  # frame number broken, for the caller
    elif a.mode == "frag":
        src, dst = bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1])
        udp = struct.pack("!HHHH", 5353, 5353, 8 + 32, 0) + b"x" * 32
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0x2000, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", 0xFFFF - csum16(ip)) + ip[12:]
        frame = recs[0][2][:12] + struct.pack("!H", ETH_P_IP) + ip + udp
        recs.insert(1, [recs[0][0], recs[0][1], frame, len(frame)])
    elif a.mode == "trunc":
        total = 24 + sum(16 + len(r[2]) for r in recs)
        cut = int(total * a.at)
        # make sure the cut falls inside a record's data, not on a boundary
        off = 24
        for r in recs:
            if off + 16 < cut < off + 16 + len(r[2]):
                break
            if cut <= off + 16:
                cut = off + 16 + max(1, len(r[2]) // 2)
                break
            off += 16 + len(r[2])
    elif a.mode == "from":
        recs = recs[int(len(recs) * a.at):]
    else:
        sys.exit("pcaprewrite: unknown mode %s" % a.mode)
    write_pcap(a.output, magic, snap, dlt, recs, cut)


if __name__ == "__main__":
    main()
