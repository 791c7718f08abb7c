#!/bin/bash
# parallel.sh - 50 concurrent connections (curl --parallel-max 50
# --parallel-immediate), plain and TLS 1.3: flows interleave packet by
# packet in one capture, and every exchange must still come out whole.
source "$(dirname "$0")/../lib/common.sh"
t_init parallel
H=$LAB_HOST

urls() {	# urls BASE: 50 transfers, distinct paths, mixed sizes
	local i f
	for i in $(seq 1 50); do
		case $((i % 5)) in
		0) f=1m.bin ;; 1|3) f=100k.bin ;; 2) f=1k.bin ;; 4) f=0.bin ;;
		esac
		echo "GET $1/$f?conn=$i"
	done
}
par_plain() {
	local t; mapfile -t t < <(urls "http://$LAB_SRV4")
	gt_curl --parallel 50 "${t[@]}"
}
par_tls() {
	local t; mapfile -t t < <(urls "https://$H")
	gt_curl --parallel 50 --opt=--resolve --opt="$H:443:$LAB_SRV4" \
		--opt=--tls13-ciphers --opt=TLS_AES_128_GCM_SHA256 "${t[@]}"
}

T_CONNS=50 t_case plain-50-connections par_plain
T_CONNS=50 T_TLS="TLSv1.3 TLS_AES_128_GCM_SHA256" t_case tls13-50-connections par_tls
t_done
