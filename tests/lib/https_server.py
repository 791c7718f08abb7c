#!/usr/bin/python3
"""https_server.py - a Python `ssl` HTTPS server for e2e tests of the keys/
shim: serves DIR over HTTP/1.1 + TLS on ADDR:PORT.  Its SSLContext is made
directly (not create_default_context), so Python itself never logs keys:
whatever key log appears comes from the shim.

usage: https_server.py ADDR PORT CERT KEY DIR
"""
import functools
import http.server
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


def main():
    addr, port, cert, key, root = sys.argv[1:6]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    h = functools.partial(Handler, directory=root)
    srv = http.server.ThreadingHTTPServer((addr, int(port)), h)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
