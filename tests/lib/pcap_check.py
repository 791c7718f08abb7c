#!/usr/bin/python3
"""pcap_check.py - refuse a capture with truncated packets.

Reads the classic pcap record headers (no dissection): exit 1 and say so if
any packet was stored shorter than it was on the wire (caplen < len), which
would make the capture useless as ground truth.  Prints "N packets, max
len M" otherwise.  Usage: pcap_check.py CAP
"""
import struct
import sys

with open(sys.argv[1], "rb") as f:
    hdr = f.read(24)
    if len(hdr) < 24:
        sys.exit("pcap_check: short file header")
    magic = struct.unpack("<I", hdr[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        sys.exit("pcap_check: not a classic pcap file")
    n = trunc = biggest = 0
    while True:
        rec = f.read(16)
        if len(rec) < 16:
            break
        _, _, incl, orig = struct.unpack(end + "IIII", rec)
        f.seek(incl, 1)
        n += 1
        biggest = max(biggest, orig)
        if incl < orig:
            trunc += 1
if trunc:
    sys.exit(f"pcap_check: {trunc} of {n} packets truncated (max len {biggest})")
print(f"{n} packets, max len {biggest}")
