#!/bin/bash
# ipv6.sh - the same HTTP/1.1 traffic over IPv6 (fd00::/64 on the veth):
# plain, TLS 1.3, TLS 1.2, and a pipelined connection.
source "$(dirname "$0")/../lib/common.sh"
t_init ipv6
S6=$LAB_SRV6
H=$LAB_HOST

plain6() {
	gt_curl --compressed "GET http://[$S6]/1k.bin" "GET http://[$S6]/5m.bin" \
		"POST http://[$S6]/upload $(W 1m.bin)" "GET http://[$S6]/text.txt" "GET http://[$S6]/no/such"
}
tls13_6() {
	gt_curl --opt=--resolve --opt="$H:443:[$S6]" --opt=--tls13-ciphers --opt=TLS_AES_128_GCM_SHA256 \
		"GET https://$H/1k.bin" "GET https://$H/5m.bin" "PUT https://$H/dav/v6 $(W 100k.bin)"
}
tls12_6() {
	gt_curl --opt=--resolve --opt="$H:8443:[$S6]" --opt=--ciphers --opt=ECDHE-RSA-AES128-GCM-SHA256 \
		"GET https://$H:8443/100k.bin" "GET https://$H:8443/5m.bin" "POST https://$H:8443/upload $(W 1k.bin)"
}
pipe6() {
	gt_pipe --host "$S6" --port 80 "GET /1k.bin" "GET /no/such" "POST /upload $(W 1k.bin)" "GET /100k.bin"
}

T_CONNS=1 t_case plain plain6
T_CONNS=1 T_TLS="TLSv1.3 TLS_AES_128_GCM_SHA256" t_case tls13 tls13_6
T_CONNS=1 T_TLS="TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" t_case tls12 tls12_6
T_CONNS=1 T_TSHARK_REQ="tshark 4.0 misreads responses inside pipelines" t_case pipelined pipe6
t_done
