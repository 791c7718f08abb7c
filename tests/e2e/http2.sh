#!/bin/bash
# http2.sh - HTTP/2 against real peers, one capture per case:
#   nginx (`listen ... ssl http2`) over TLS 1.3 (10443) and TLS 1.2 (10444),
#     driven by curl --http2 --parallel (every transfer multiplexed on one
#     connection: checked) and by nghttp -m (many concurrent streams, keys
#     through the preload shim): 1-5 MB bodies, POST uploads, 404s, gzip
#   nginx cleartext, prior knowledge (10080), curl --http2-prior-knowledge
#     (one connection per transfer: curl 7.88 cannot reuse one) and nghttp
#   nghttpd (prior knowledge, 8080) with padding on every frame, a pushed
#     resource, trailers; curl and nghttp, uploads echoed back
#   nghttpx (8082): the h2c Upgrade from HTTP/1.1 (curl --http2 http://),
#     the upgrade request becoming stream 1
# Ground truth: curl's own view (one file per transfer), nghttp's HAR
# (hashes from curl's twin requests, tests/lib/gt_nghttp.py); tshark's
# HTTP/2 dissector must agree on method/path/status; every tapir record
# must be HTTP/2 with a stream id.
source "$(dirname "$0")/../lib/common.sh"
t_init http2
for tool in nghttp nghttpd nghttpx; do
	command -v $tool >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
done
[[ -f $T_ROOT/build/libtapir-keylog.so ]] || { echo "FAIL http2: build/libtapir-keylog.so not built"; exit 1; }

ORACLE=(--http2 --tls-port 10443 --tls-port 10444 --h2-port 10080 --h2-port 8080)

# tls_curl PORT: one connection, many streams at once
tls_curl() {
	local p=$1 u=https://$LAB_HOST:$1 t=() i
	for i in 1 2 3 4 5 6 7 8; do t+=("GET $u/1k.bin?i=$i"); done
	for i in 1 2 3; do t+=("GET $u/1m.bin?i=$i" "GET $u/no/such/$i"); done
	t+=("GET $u/5m.bin" "GET $u/5m.bin?again" "GET $u/100k.bin" "GET $u/text.txt"
		"GET $u/204" "HEAD $u/1m.bin" "POST $u/upload $(W 1m.bin)"
		"POST $u/upload?big $(W 5m.bin)" "PUT $u/dav/x.bin $(W 100k.bin)"
		"DELETE $u/dav/x.bin")
	gt_curl --http 2 --parallel 50 --compressed --opt=--resolve --opt="$LAB_HOST:$p:$LAB_SRV4" "${t[@]}"
}
tls13_curl() { tls_curl 10443; }
tls12_curl() { tls_curl 10444; }

# tls_nghttp PORT: curl first (the hashes), then nghttp -m on one connection
tls_nghttp() {
	local p=$1 u=https://$LAB_SRV4:$1
	gt_curl --http 2 "GET $u/1k.bin" "GET $u/1m.bin" "GET $u/5m.bin" "GET $u/no/such" \
		"POST $u/upload $(W 1m.bin)" || return 1
	gt_nghttp --tls -m 10 "$u/1k.bin" "$u/1m.bin" "$u/no/such" || return 1
	gt_nghttp --tls -m 2 "$u/5m.bin" || return 1
	gt_nghttp --tls -m 4 --data "$(W 1m.bin)" "$u/upload"
}
tls13_nghttp() { tls_nghttp 10443; }
tls12_nghttp() { tls_nghttp 10444; }

nginx_h2c() {
	local u=http://$LAB_SRV4:10080 t=() i
	for i in 1 2 3 4 5 6; do t+=("GET $u/100k.bin?i=$i" "GET $u/nope/$i"); done
	gt_curl --http 2-prior --parallel 20 "${t[@]}" "GET $u/5m.bin" "POST $u/upload $(W 1m.bin)" \
		"GET $u/echo-json?q=1" || return 1
	gt_nghttp -m 20 "$u/100k.bin?i=1" "$u/nope/1" || return 1
	gt_nghttp -m 5 --data "$(W 1m.bin)" "$u/upload"
}

# nghttpd: DATA and HEADERS padded (-b), /small.txt pushes /1k.bin, every
# response with a body ends with a trailer; POST bodies are echoed.
nghttpd_h2c() {
	local u=http://$LAB_SRV4:8080 t=() i
	for i in 1 2 3 4 5; do t+=("GET $u/1m.bin?i=$i" "GET $u/missing$i"); done
	gt_curl --http 2-prior --parallel 20 "${t[@]}" "GET $u/1k.bin" "GET $u/5m.bin" \
		"POST $u/1k.bin $(W 1m.bin)" "GET $u/1m.bin" "GET $u/missing1" || return 1
	gt_nghttp -m 8 "$u/1m.bin" "$u/1k.bin" "$u/missing1" || return 1
	gt_nghttp -m 3 --data "$(W 1m.bin)" "$u/1k.bin"
}
nghttpd_push() {
	local u=http://$LAB_SRV4:8080
	# curl refuses pushes (and nghttpd pushes to it): the twin requests
	# for the hashes go to nginx, which serves the same files
	gt_curl --http 2-prior "GET http://$LAB_SRV4:10080/small.txt" "GET http://$LAB_SRV4:10080/1k.bin" || return 1
	# one request, one pushed stream; the HAR lists both
	gt_nghttp --expect 2 "$u/small.txt"
}

upgrade() {
	local u=http://$LAB_SRV4:8082
	# --next keeps one connection: the first request carries the Upgrade
	# (and becomes stream 1), the rest are HTTP/2 streams 3, 5, ...
	# The upgrade request's response stays small: curl 7.88 gives up (exit
	# 16, "connection buffer size is too small to store data following
	# HTTP Upgrade response header") when more than 32 KiB of HTTP/2 data
	# arrive in the read that holds the 101, which nghttpx does about one
	# time in ten with a 1 MB response.
	gt_curl --http 2 "GET $u/small.txt" "GET $u/1m.bin" "GET $u/no/such" \
		"POST $u/upload $(W 100k.bin)" "GET $u/text.txt" || return 1
	# an upload as the upgrade request itself
	gt_curl --http 2 "POST $u/upload $(W 1m.bin)"
}

T_H2=1 T_CONNS=1 T_TLS="TLSv1.3 TLS_AES_256_GCM_SHA384" t_case tls13-curl tls13_curl "${ORACLE[@]}"
T_H2=1 T_CONNS=1 T_TLS="TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" t_case tls12-curl tls12_curl "${ORACLE[@]}"
T_H2=1 T_CONNS=4 T_HEX=0x1302 t_case tls13-nghttp tls13_nghttp "${ORACLE[@]}"
T_H2=1 T_CONNS=4 t_case tls12-nghttp tls12_nghttp "${ORACLE[@]}"
T_H2=1 t_case nginx-h2c nginx_h2c "${ORACLE[@]}"
if lab_nghttpd_start "$T_LAB" 8080 -b 33 -p /small.txt=/1k.bin --trailer 'x-tapir-trailer: yes'; then
	T_H2=1 t_case nghttpd-h2c nghttpd_h2c "${ORACLE[@]}"
	T_H2=1 T_PUSHED=1 t_case nghttpd-push nghttpd_push "${ORACLE[@]}"
else
	t_fail http2/nghttpd "nghttpd did not start"
fi
if lab_nghttpx_start "$T_LAB" 8082; then
	T_H2=1 T_CONNS=2 t_case h2c-upgrade upgrade "${ORACLE[@]}"
else
	t_fail http2/h2c-upgrade "nghttpx did not start"
fi
t_done
