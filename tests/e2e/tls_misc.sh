#!/bin/bash
# tls_misc.sh - TLS beyond the cipher matrix: TLS on a port nothing expects
# (9443, both versions), sessions whose keys tapir does not get (it must say
# tls.decrypted=false and invent no request/response, while the sessions it
# has keys for decode exactly), and HTTP/1.1 pipelining inside TLS 1.3 / 1.2.
source "$(dirname "$0")/../lib/common.sh"
t_init tls_misc
H=$LAB_HOST

odd_port13() {
	gt_curl --compressed --opt=--resolve --opt="$H:9443:$LAB_SRV4" \
		--opt=--tlsv1.3 --opt=--tls13-ciphers --opt=TLS_AES_128_GCM_SHA256 \
		"GET https://$H:9443/1k.bin" "GET https://$H:9443/5m.bin" \
		"POST https://$H:9443/upload $(W 1k.bin)" "GET https://$H:9443/text.txt"
}
odd_port12() {
	gt_curl --opt=--resolve --opt="$H:9443:$LAB_SRV4" \
		--opt=--tls-max --opt=1.2 --opt=--ciphers --opt=ECDHE-RSA-AES256-GCM-SHA384 \
		"GET https://$H:9443/100k.bin" "PUT https://$H:9443/dav/x $(W 1m.bin)" "GET https://$H:9443/chunked/text.txt"
}
# Keys for the first connection only; the second (TLS 1.3) and third
# (TLS 1.2) write theirs elsewhere and are not in the ground truth.
some_keys() {
	gt_curl --opt=--resolve --opt="$H:443:$LAB_SRV4" "GET https://$H/1k.bin" "GET https://$H/100k.bin" &&
		gt_curl --keylog "$T_CASE_DIR/hidden.keys" --out "$T_CASE_DIR/hidden.gt" \
			--opt=--resolve --opt="$H:443:$LAB_SRV4" "GET https://$H/1k.bin?secret=1" "GET https://$H/5m.bin?secret=2" &&
		gt_curl --keylog "$T_CASE_DIR/hidden.keys" --out "$T_CASE_DIR/hidden.gt" \
			--opt=--resolve --opt="$H:8443:$LAB_SRV4" "POST https://$H:8443/upload?secret=3 $(W 1k.bin)"
}
no_keys() {
	gt_curl --keylog "$T_CASE_DIR/hidden.keys" --out "$T_CASE_DIR/hidden.gt" \
		--opt=--resolve --opt="$H:443:$LAB_SRV4" "GET https://$H/1k.bin" "GET https://$H/100k.bin"
}
pipe13() {
	gt_pipe --tls --host "$LAB_SRV4" --port 443 "GET /1k.bin" "POST /upload $(W 100k.bin)" \
		"GET /no/such" "GET /204" "GET /5m.bin" "GET /0.bin"
}
# HEADs and small chunks inside a pipeline (tshark: requests only, see
# http_plain.sh).
pipe13_mixed() {
	gt_pipe --tls --host "$LAB_SRV4" --port 443 "GET /1k.bin" "HEAD /5m.bin" \
		"GET /chunked/text.txt" "GET /no/such" "HEAD /1k.bin" "GET /100k.bin"
}
pipe12() {
	gt_pipe --tls --host "$LAB_SRV4" --port 8443 "GET /1k.bin" "PUT /dav/q $(W 1k.bin)" \
		"GET /100k.bin" "GET /no/such" "GET /1m.bin"
}

T_TLS="TLSv1.3 TLS_AES_128_GCM_SHA256" t_case odd-port-tls13 odd_port13
T_TLS="TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" t_case odd-port-tls12 odd_port12
T_UNDECRYPTED=2 t_case some-keys-missing some_keys
T_UNDECRYPTED=1 t_case no-keys-at-all no_keys
P="tshark 4.0 misreads responses inside pipelines"
T_TSHARK_REQ=$P t_case pipelined-tls13 pipe13
T_TSHARK_REQ=$P t_case pipelined-tls13-mixed pipe13_mixed
T_TSHARK_REQ=$P t_case pipelined-tls12 pipe12
t_done
