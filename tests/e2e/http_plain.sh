#!/bin/bash
# http_plain.sh - plain HTTP/1.1 on port 80 between two namespaces: every
# body size, uploads (POST via proxy, PUT via WebDAV; curl sends "Expect:
# 100-continue" for the 5 MB POST and the 1 MB PUT, so nginx answers an
# interim 100 before the final status), 404/204/HEAD/DELETE, gzip'd and identity chunked responses,
# keep-alive and pipelining.  One capture per case.
source "$(dirname "$0")/../lib/common.sh"
t_init http_plain
U=http://$LAB_SRV4

sizes() {
	gt_curl "GET $U/0.bin" "GET $U/1k.bin" "GET $U/100k.bin" "GET $U/1m.bin" "GET $U/5m.bin"
}
uploads() {
	gt_curl "POST $U/upload $(W 1k.bin)" "POST $U/upload $(W 1m.bin)" "POST $U/upload $(W 5m.bin)" &&
		gt_curl "PUT $U/dav/a.bin $(W 1k.bin)" "PUT $U/dav/b.bin $(W 1m.bin)" \
			"PUT $U/dav/b.bin $(W 1k.bin)" "POST $U/upload $(W 0.bin)"
}
statuses() {
	gt_curl "GET $U/no/such/file" "GET $U/204" "HEAD $U/1k.bin" "HEAD $U/5m.bin" \
		"PUT $U/dav/gone $(W 1k.bin)" "DELETE $U/dav/gone" "DELETE $U/dav/gone" "GET $U/1k.bin?after=head"
}
chunked() {
	gt_curl --compressed "GET $U/text.txt" "GET $U/small.txt" "GET $U/echo-json?q=1" \
		"GET $U/no/such/file" "GET $U/1k.bin" &&
		gt_curl "GET $U/chunked/text.txt" "GET $U/text.txt" "GET $U/chunked/text.txt?x=2"
}
keepalive() {
	local t=() i
	for i in $(seq 1 8); do
		t+=("GET $U/1k.bin?ka=$i" "POST $U/upload $(W 1k.bin)" "GET $U/100k.bin?ka=$i")
	done
	gt_curl "${t[@]}" "GET $U/5m.bin?ka=last"
}
pipelined() {
	gt_pipe --host "$LAB_SRV4" --port 80 "GET /1k.bin" "POST /upload $(W 1k.bin)" \
		"GET /no/such" "GET /204" "GET /100k.bin" "PUT /dav/p.bin $(W 1k.bin)" \
		"GET /0.bin" "GET /1m.bin" "HEAD /100k.bin" &&
		gt_pipe --host "$LAB_SRV4" --port 80 "GET /1k.bin?p=1" "GET /1k.bin?p=2" "GET /5m.bin?p=3"
}
# tshark 4.0 misreads responses inside pipelines (a HEAD's response gets the
# Content-Length body and eats the next ones; many small chunks get flagged
# malformed; sometimes responses just go missing), so for pipelines tshark
# checks the requests only and the responses are held to the ground truth
# (gt_pipe.py parses them itself).
# HEADs in the middle, chunked responses, an upload.
pipelined_mixed() {
	gt_pipe --host "$LAB_SRV4" --port 80 "GET /1k.bin?h=1" "HEAD /100k.bin" \
		"GET /no/such" "HEAD /5m.bin" "GET /chunked/text.txt" "GET /204" \
		"POST /upload $(W 100k.bin)" "GET /chunked/text.txt?again" "GET /1k.bin?h=2"
}
separate() {
	local i
	for i in 1 2 3 4; do gt_curl "GET $U/100k.bin?conn=$i" || return 1; done
}

t_case sizes sizes
t_case uploads uploads
t_case statuses statuses
t_case chunked chunked
t_case keepalive keepalive
P="tshark 4.0 misreads responses inside pipelines"
T_TSHARK_REQ=$P t_case pipelined pipelined
T_TSHARK_REQ=$P t_case pipelined-mixed pipelined_mixed
t_case separate-connections separate
t_done
