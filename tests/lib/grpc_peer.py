#!/usr/bin/python3
"""grpc_peer.py - a real gRPC server and client (python3-grpcio) for the lab.

Owns: the test service "tapir.Test" (generic handlers, bytes in and out,
no protobuf), the client's calls, and the ground truth the client records.
Does not own: the lab, the capture, the comparisons.

  grpc_peer.py serve --port P          server (insecure: h2c, prior knowledge)
  grpc_peer.py call --target H:P --out GT [--grpc-out G]

Methods (request and response messages are raw bytes):
  /tapir.Test/Unary         one message in, one out (the request reversed,
                            then 100 bytes of its sha256 chain)
  /tapir.Test/ServerStream  one message in: 4 bytes count, 4 bytes size
                            (big-endian); count messages of size bytes out
  /tapir.Test/Bidi          each message in is answered by one message out
                            (the message with b"echo:" in front)
  /tapir.Test/Fail          one message in, no message out; the call ends
                            with grpc-status 5 (NOT_FOUND) and a message
                            with non-ASCII and '%' in it (percent-encoded
                            on the wire)

Ground truth is the client's own view: the messages it sent and the ones
it received (grpcio hands them over whole), the status code and details
it got.  The HTTP/2 bodies are the messages with the gRPC framing (1 byte
compressed flag 0, 4 bytes length): no compression is configured, so that
framing is exactly what went on the wire.  Per call, to --out (the shape
compare.py reads) and to --grpc-out:
  {"method": "POST", "path": "/tapir.Test/Unary", "status": 200,
   "req_body_size", "req_body_sha256", "resp_body_size", "resp_body_sha256"}
  {"path", "request_message_sizes", "response_message_sizes",
   "grpc_status": "0", "grpc_message": null or str}
Exit status 0 when every call behaved as designed (the Fail call failing
with NOT_FOUND), 1 otherwise.
"""
import argparse
import hashlib
import json
import os
import sys
import time
from concurrent import futures

import grpc

SVC = "tapir.Test"
FAIL_MSG = "no such tapir: caf\u00e9 50% \u2013 gone"


def ident(b):
    return b


def chain(seed, n):
    out = b""
    h = seed
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return out[:n]


def unary(req, ctx):
    return req[::-1] + chain(req, 100)


def server_stream(req, ctx):
    count = int.from_bytes(req[:4], "big")
    size = int.from_bytes(req[4:8], "big")
    for i in range(count):
        yield chain(req + i.to_bytes(4, "big"), size)


def bidi(it, ctx):
    for m in it:
        yield b"echo:" + m


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, FAIL_MSG)


def serve(port):
    h = grpc.method_handlers_generic_handler(SVC, {
        "Unary": grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=ident, response_serializer=ident),
        "ServerStream": grpc.unary_stream_rpc_method_handler(
            server_stream, request_deserializer=ident,
            response_serializer=ident),
        "Bidi": grpc.stream_stream_rpc_method_handler(
            bidi, request_deserializer=ident, response_serializer=ident),
        "Fail": grpc.unary_unary_rpc_method_handler(
            fail, request_deserializer=ident, response_serializer=ident),
    })
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                    options=[("grpc.max_receive_message_length", 64 << 20),
                             ("grpc.max_send_message_length", 64 << 20)])
    s.add_generic_rpc_handlers((h,))
    s.add_insecure_port(f"[::]:{port}")
    s.start()
    print(f"grpc_peer: serving on {port}", flush=True)
    s.wait_for_termination()


def framed(msgs):
    return b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in msgs)


def record(gt, gg, path, sent, got, code, details):
    q, r = framed(sent), framed(got)
    gt.append({"method": "POST", "path": path, "status": 200,
               "req_body_size": len(q),
               "req_body_sha256": hashlib.sha256(q).hexdigest(),
               "resp_body_size": len(r),
               "resp_body_sha256": hashlib.sha256(r).hexdigest()})
    gg.append({"path": path,
               "request_message_sizes": [len(m) for m in sent],
               "response_message_sizes": [len(m) for m in got],
               "grpc_status": str(code.value[0]),
               "grpc_message": details or None})


def call(target, out, grpc_out):
    gt, gg = [], []
    ch = grpc.insecure_channel(target, options=[
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20)])
    grpc.channel_ready_future(ch).result(timeout=10)
    ok = True

    # unary, small and large (the large one spans many DATA frames)
    u = ch.unary_unary(f"/{SVC}/Unary", request_serializer=ident,
                       response_deserializer=ident)
    for n in (10, 70000, 1 << 20):
        m = os.urandom(n)
        resp, c = u.with_call(m, timeout=30)
        record(gt, gg, f"/{SVC}/Unary", [m], [resp], c.code(), c.details())

    # server streaming: 50 messages of 3000 bytes, and 5 of 200000
    s = ch.unary_stream(f"/{SVC}/ServerStream", request_serializer=ident,
                        response_deserializer=ident)
    for count, size in ((50, 3000), (5, 200000)):
        m = count.to_bytes(4, "big") + size.to_bytes(4, "big") + os.urandom(8)
        it = s(m, timeout=30)
        got = list(it)
        if len(got) != count or any(len(x) != size for x in got):
            print(f"grpc_peer: ServerStream got {len(got)} messages",
                  file=sys.stderr)
            ok = False
        record(gt, gg, f"/{SVC}/ServerStream", [m], got, it.code(),
               it.details())

    # bidi: 20 messages of growing size, each answered
    b = ch.stream_stream(f"/{SVC}/Bidi", request_serializer=ident,
                         response_deserializer=ident)
    sent = [os.urandom(1 + 997 * i) for i in range(20)]
    it = b(iter(sent), timeout=30)
    got = list(it)
    if got != [b"echo:" + x for x in sent]:
        print("grpc_peer: Bidi echo differs", file=sys.stderr)
        ok = False
    record(gt, gg, f"/{SVC}/Bidi", sent, got, it.code(), it.details())

    # a call that ends with a non-OK status
    f = ch.unary_unary(f"/{SVC}/Fail", request_serializer=ident,
                       response_deserializer=ident)
    m = b"where is it?"
    try:
        f.with_call(m, timeout=30)
        print("grpc_peer: Fail succeeded", file=sys.stderr)
        ok = False
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND or e.details() != FAIL_MSG:
            print(f"grpc_peer: Fail gave {e.code()} {e.details()!r}",
                  file=sys.stderr)
            ok = False
        record(gt, gg, f"/{SVC}/Fail", [m], [], e.code(), e.details())
    ch.close()
    time.sleep(0.2)
    with open(out, "a") as fo:
        for x in gt:
            fo.write(json.dumps(x) + "\n")
    if grpc_out:
        with open(grpc_out, "a") as fo:
            for x in gg:
                fo.write(json.dumps(x) + "\n")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("--port", type=int, default=50051)
    cp = sub.add_parser("call")
    cp.add_argument("--target", required=True)
    cp.add_argument("--out", required=True)
    cp.add_argument("--grpc-out")
    a = ap.parse_args()
    if a.cmd == "serve":
        serve(a.port)
        return 0
    return call(a.target, a.out, a.grpc_out)


if __name__ == "__main__":
    sys.exit(main())
