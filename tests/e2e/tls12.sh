#!/bin/bash
# tls12.sh - HTTP/1.1 over TLS 1.2 (port 8443), one capture per cipher:
# AES-GCM, ChaCha20-Poly1305 and AES-CBC (SHA1, SHA384, and RSA key exchange
# with SHA256).  OpenSSL negotiates encrypt_then_mac for CBC suites by
# default, so the CBC cases are checked to use EtM, and one more case turns
# it off on the server (MAC-then-encrypt, the classic CBC layout).
source "$(dirname "$0")/../lib/common.sh"
t_init tls12

traffic() {
	local u=https://$LAB_HOST:8443
	gt_curl --compressed --opt=--resolve --opt="$LAB_HOST:8443:$LAB_SRV4" \
		--opt=--tlsv1.2 --opt=--tls-max --opt=1.2 --opt=--ciphers --opt="$CIPHER" \
		"GET $u/1k.bin" "GET $u/5m.bin" "POST $u/upload $(W 100k.bin)" \
		"GET $u/text.txt" "GET $u/no/such" "HEAD $u/1k.bin"
}

# openssl name : IANA name : code : encrypt_then_mac expected
CASES=(
	ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:0xc02f:no
	ECDHE-RSA-AES256-GCM-SHA384:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:0xc030:no
	ECDHE-RSA-CHACHA20-POLY1305:TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:0xcca8:no
	ECDHE-RSA-AES128-SHA:TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:0xc013:yes
	ECDHE-RSA-AES256-SHA384:TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384:0xc028:yes
	AES128-SHA256:TLS_RSA_WITH_AES_128_CBC_SHA256:0x003c:yes
)
for c in "${CASES[@]}"; do
	IFS=: read -r CIPHER iana hex etm <<<"$c"
	lab_nginx_stop "$T_LAB"
	LAB_SSL_CIPHERS=$CIPHER lab_nginx_start "$T_LAB" || { t_fail "tls12/$CIPHER" "nginx restart"; continue; }
	T_HEX=$hex T_ETM=$etm T_TLS="TLSv1.2 $iana" t_case "$CIPHER" traffic
done

# CBC without encrypt_then_mac: MAC inside the padding (RFC 5246 6.2.3.2).
CIPHER=ECDHE-RSA-AES128-SHA
lab_nginx_stop "$T_LAB"
LAB_SSL_CIPHERS=$CIPHER LAB_NGINX_EXTRA="ssl_conf_command Options -EncryptThenMac;" lab_nginx_start "$T_LAB" ||
	t_fail "tls12/$CIPHER-no-etm" "nginx restart"
T_HEX=0xc013 T_ETM=no T_TLS="TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" t_case "$CIPHER-no-etm" traffic
t_done
