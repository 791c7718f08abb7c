#!/bin/bash
# tls13.sh - HTTP/1.1 over TLS 1.3 (port 443), one capture per cipher suite
# nginx offers: each server restarted to allow only that suite, curl asks
# only for it, and the capture is checked to really use it.  A few exchanges
# per capture, incl. a 5 MB body, an upload, a gzip'd chunked response.
source "$(dirname "$0")/../lib/common.sh"
t_init tls13

traffic() {
	local u=https://$LAB_HOST
	gt_curl --compressed --opt=--resolve --opt="$LAB_HOST:443:$LAB_SRV4" \
		--opt=--tlsv1.3 --opt=--tls13-ciphers --opt="$SUITE" \
		"GET $u/1k.bin" "GET $u/5m.bin" "POST $u/upload $(W 100k.bin)" \
		"GET $u/text.txt" "GET $u/no/such" "GET $u/204" "HEAD $u/100k.bin"
}

for s in TLS_AES_128_GCM_SHA256:0x1301 TLS_AES_256_GCM_SHA384:0x1302 \
	TLS_CHACHA20_POLY1305_SHA256:0x1303; do
	SUITE=${s%:*}
	lab_nginx_stop "$T_LAB"
	LAB_TLS13_SUITES=$SUITE lab_nginx_start "$T_LAB" || { t_fail "tls13/$SUITE" "nginx restart"; continue; }
	T_HEX=${s#*:} T_TLS="TLSv1.3 $SUITE" t_case "$SUITE" traffic
done
t_done
