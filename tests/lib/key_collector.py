#!/usr/bin/python3
"""key_collector.py - a stand-in for tapir's --key-socket in e2e tests
(until `tapir capture` exists on this branch): listens on a Unix stream
socket (mode 0600), accepts any number of clients and appends every
complete line they send to OUT (0600), flushing each.  Runs until killed.

usage: key_collector.py SOCKET OUT
"""
import os
import selectors
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    old = os.umask(0o177)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.umask(old)
    srv.listen(128)
    srv.setblocking(False)
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    bufs = {}
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                c, _ = srv.accept()
                c.setblocking(False)
                bufs[c] = b""
                sel.register(c, selectors.EVENT_READ, c)
                continue
            c = key.data
            try:
                d = c.recv(65536)
            except BlockingIOError:
                continue
            if not d:
                sel.unregister(c)
                c.close()
                del bufs[c]
                continue
            b = bufs[c] + d
            i = b.rfind(b"\n")
            if i >= 0:
                os.write(fd, b[:i + 1])
                b = b[i + 1:]
            bufs[c] = b


if __name__ == "__main__":
    main()
