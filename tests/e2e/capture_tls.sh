#!/bin/bash
# capture_tls.sh - `tapir capture --keylog` live over TLS on the gateway lab
# (tests/lib/capture_common.sh): curl writes its keys to SSLKEYLOGFILE
# during each handshake while tapir follows the file, so the first
# encrypted records reach tapir before their keys and must wait for them
# (--key-wait).  TLS 1.3 and 1.2, 5 MB bodies, IPv6, 50 parallel
# connections, HTTP/2 (20 streams at once over TLS 1.3 and 1.2); records ==
# curl's ground truth, all decrypted.
# Needs the live key follower (keylog_follow.c, engine_keys_added): skips
# while tapir is built with the stand-ins of agent/keys_fallback.c.
source "$(dirname "$0")/../lib/capture_common.sh"
if ! nm "$TAPIR" 2>/dev/null | grep -qE ' T keylog_follow_new$'; then
	echo "SKIP: live key following (branch keys) not in this build"
	exit 77
fi
c_init capture_tls
H=$LAB_HOST

tls() {	# tls PORT CURLOPT...
	local p=$1 u=https://$H:$1
	shift
	gt_curl --compressed --opt=--resolve --opt="$H:$p:$LAB_SRV4" "$@" \
		"GET $u/1k.bin" "GET $u/5m.bin" "POST $u/upload $(W 100k.bin)" \
		"GET $u/text.txt" "GET $u/no/such" "GET $u/204" "HEAD $u/100k.bin"
}
tls13() { tls 443 --opt=--tlsv1.3; }
tls12() { tls 8443 --opt=--tlsv1.2 --opt=--tls-max --opt=1.2; }
tls13v6() {
	local u="https://$H"
	gt_curl --opt=--resolve --opt="$H:443:[$LAB_SRV6]" "GET $u/5m.bin" "GET $u/1k.bin"
}
par50() {
	local i t=()
	for i in $(seq 1 50); do t+=("GET https://$H/$((i % 2 ? 100 : 1))k.bin?conn=$i"); done
	gt_curl --parallel 50 --opt=--resolve --opt="$H:443:$LAB_SRV4" "${t[@]}"
}
h2() {	# nginx's HTTP/2 ports (scripts/lab.sh): 10443 TLS 1.3, 10444 TLS 1.2
	local p u
	for p in 10443 10444; do
		u=https://$H:$p
		gt_curl --http 2 --parallel 20 --compressed --opt=--resolve --opt="$H:$p:$LAB_SRV4" \
			"GET $u/1k.bin" "GET $u/5m.bin" "GET $u/1m.bin" "POST $u/upload $(W 1m.bin)" \
			"GET $u/text.txt" "GET $u/no/such" "GET $u/204" || return 1
	done
}
all_decrypted() {
	! grep -q '"decrypted":false' "$OUT" || { echo "undecrypted records"; return 1; }
}

C_CHECK=all_decrypted c_case tls13 tls13
C_CHECK=all_decrypted c_case tls12 tls12
C_CHECK=all_decrypted c_case tls13-ipv6 tls13v6
C_CHECK=all_decrypted c_case tls13-50-connections par50 --ring-size 256M
C_CHECK=all_decrypted c_case h2-tls13+tls12 h2
t_done
