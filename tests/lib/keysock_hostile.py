#!/usr/bin/python3
"""keysock_hostile.py - hostile clients of tapir's --key-socket (e2e):
one connection sends binary garbage (with and without newlines), one sends a
single 10 MB line, then IDLE connections (default 200) are opened and held
without ever sending.  Prints "ready" when all of that is done, then holds
the idle connections until killed (or until stdin closes).

A connection the agent closes (it evicts the least recently active one when
its table is full) is fine: every error on send is ignored.

usage: keysock_hostile.py SOCKET [IDLE]
"""
import os
import socket
import sys
import time


def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # a blocking connect waits for room in the listen backlog (with a
    # timeout, a full backlog is EAGAIN at once)
    s.connect(path)
    s.settimeout(10)
    return s


def main():
    path = sys.argv[1]
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sent = {}
    # binary garbage: random bytes, newlines among them, NULs, a lone CR
    s = conn(path)
    try:
        junk = bytearray(os.urandom(256 * 1024))
        for i in range(0, len(junk), 97):
            junk[i] = 0x0a
        s.sendall(bytes(junk) + b"\x00\x00\r\nCLIENT_RANDOM zz\n\xff\xfe\n")
        sent["garbage"] = len(junk)
    except OSError as e:
        sent["garbage"] = f"error {e.errno}"
    s.close()
    # one 10 MB line (key log shaped start, then no newline until the end)
    s = conn(path)
    try:
        chunk = b"CLIENT_RANDOM " + b"a" * (1 << 16)
        total = 0
        while total < 10 * (1 << 20):
            s.sendall(chunk)
            total += len(chunk)
        s.sendall(b"\n")
        sent["long_line"] = total
    except OSError as e:
        sent["long_line"] = f"error {e.errno}"
    s.close()
    # idle connections, held open
    held = []
    for _ in range(idle):
        try:
            held.append(conn(path))
        except OSError as e:
            sent.setdefault("connect_errors", 0)
            sent["connect_errors"] += 1
    print("ready", sent, flush=True)
    try:
        sys.stdin.read()
    except Exception:
        pass
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
