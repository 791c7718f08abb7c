#!/usr/bin/python3
"""shim_client.py - exactly N HTTPS requests, one new TLS connection each
(Connection: close), for bench/shim.sh's instruction counts (nginx under
valgrind, where wrk's duration-bound runs would not give an exact count).
The context logs no keys (SSLKEYLOGFILE is not consulted by SSLContext()).

usage: shim_client.py ADDR PORT N
"""
import socket
import ssl
import sys


def main():
    addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = b"GET /1k.bin HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    for _ in range(n):
        with socket.create_connection((addr, port), timeout=120) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(req)
                got = b""
                while True:
                    b = t.recv(65536)
                    if not b:
                        break
                    got += b
                if not got.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"shim_client: {got[:40]!r}")


if __name__ == "__main__":
    main()
