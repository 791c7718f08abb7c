#!/bin/bash
# grpc.sh - gRPC over h2c (prior knowledge) between a real python3-grpcio
# server and client (tests/lib/grpc_peer.py: generic handlers, bytes
# serializers): unary calls of 10 B, 70 KB and 1 MB, server-streaming
# calls (50 x 3000 B, 5 x 200 KB), a bidi stream of 20 messages, and a
# call ending with grpc-status 5 and a percent-encoded grpc-message.  The
# gRPC server speaks first (its SETTINGS before the client's preface).
# Ground truth from the client: the framed bodies (sizes, sha256), the
# messages' sizes, grpc-status and grpc-message; tapir must match all of
# it, tshark's HTTP/2 dissector must agree on method/path/status.
source "$(dirname "$0")/../lib/common.sh"
T_NO_NGINX=1 t_init grpc
/usr/bin/python3 -c 'import grpc' 2>/dev/null || { echo "SKIP: python3-grpcio not installed (scripts/install-deps.sh)"; exit 77; }
lab_grpc_start "$T_LAB" 50051 || { echo "FAIL grpc: gRPC server did not start"; echo "0 passed, 1 failed"; exit 1; }

calls() {
	timeout 120 ip netns exec "$LAB_C" $PY "$TLIB/grpc_peer.py" call --target "$LAB_SRV4:50051" \
		--out "$GT" --grpc-out "$T_CASE_DIR/grpc_gt.jsonl"
}
# two clients, one after the other: two connections
calls2() { calls && calls; }
grpc_check() { $PY "$TLIB/compare.py" grpc "$1" "$T_CASE_DIR/grpc_gt.jsonl"; }

T_H2=1 T_CONNS=1 T_CHECK=grpc_check t_case calls calls --h2-port 50051
T_H2=1 T_CONNS=2 T_CHECK=grpc_check t_case calls-twice calls2 --h2-port 50051
t_done
