#!/bin/bash
# gen.sh - make the benchmark captures once, from the lab, cached in
# build/bench/ (kept until `make clean`):
#   tls13-aes128gcm-full.pcap  >= 200 MB: 4 keep-alive connections, TLS 1.3
#                              TLS_AES_128_GCM_SHA256, HTTP/1.1, 44 x GET of a
#                              5 MB file plus small GETs and uploads
#   tls13-aes128gcm-half.pcap  the same mix with half the transfers
#   *.keys                     their SSLKEYLOGFILEs
#   h2-small.pcap              >= 100,000 small HTTP/2 exchanges over TLS 1.3
#                              (TLS_AES_128_GCM_SHA256): h2load -n 100000
#                              -c 4 -m 32 GET /echo-json against nginx
#                              (10443); h2load writes SSLKEYLOGFILE itself
# A capture the kernel dropped packets from is refused (gen.sh exits 1; on a
# busy machine set BENCH_RATE=20M to cap each transfer's rate).
# Needs root only when something is missing.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${BENCH_DIR:-build/bench}
mkdir -p "$OUT"
have() { [[ -s $OUT/tls13-aes128gcm-$1.pcap && -s $OUT/tls13-aes128gcm-$1.keys ]]; }
have_h2() { [[ -s $OUT/h2-small.pcap && -s $OUT/h2-small.keys ]]; }
have full && have half && have_h2 && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/gen.sh: needs root to build the lab and capture" >&2
	exit 1
fi
source scripts/lab.sh
trap 'lab_down bench' EXIT
lab_up bench || exit 1
LAB_TLS13_SUITES=TLS_AES_128_GCM_SHA256 lab_nginx_start bench || exit 1

# gen_one NAME BIG: BIG 5 MB downloads spread over 4 connections.
gen_one() {
	local name=$1 big=$2 i t=() cap=$OUT/tls13-aes128gcm-$1.pcap keys=$OUT/tls13-aes128gcm-$1.keys
	local u=https://$LAB_HOST
	for ((i = 1; i <= big; i++)); do
		t+=(-o /dev/null "$u/5m.bin?n=$i")
		((i % 4 == 0)) && t+=(-o /dev/null "$u/1k.bin?n=$i" -o /dev/null "$u/100k.bin?n=$i" -o /dev/null "$u/no/such?n=$i")
	done
	rm -f "$cap" "$keys"
	lab_cap_start bench "$cap.tmp" || return 1
	lab_c bench env SSLKEYLOGFILE="$keys.tmp" curl -sS --no-progress-meter -k --http1.1 --parallel --parallel-max 4 \
		--resolve "$LAB_HOST:443:$LAB_SRV4" --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 \
		${BENCH_RATE:+--limit-rate "$BENCH_RATE"} \
		"${t[@]}" >/dev/null
	local rc=$?
	lab_c bench env SSLKEYLOGFILE="$keys.tmp" curl -sS -k --http1.1 --resolve "$LAB_HOST:443:$LAB_SRV4" \
		--tlsv1.3 --data-binary @"$LAB_DIR/www/1m.bin" -o /dev/null -o /dev/null "$u/upload" "$u/upload" || rc=1
	if ! lab_cap_stop bench || [[ $rc -ne 0 ]]; then
		echo "bench/gen.sh: capture $name failed (curl $rc)" >&2
		rm -f "$cap.tmp" "$keys.tmp"
		return 1
	fi
	mv "$cap.tmp" "$cap" && mv "$keys.tmp" "$keys"
	echo "bench: $cap $(($(stat -c %s "$cap") / 1000000)) MB, $(grep -c CLIENT_TRAFFIC_SECRET_0 "$keys") TLS sessions"
}
# gen_h2: one h2load run, 4 connections x 32 concurrent streams.
gen_h2() {
	local cap=$OUT/h2-small.pcap keys=$OUT/h2-small.keys n=${BENCH_H2_CALLS:-100000} log
	command -v h2load >/dev/null || { echo "bench/gen.sh: h2load not installed (nghttp2-client)" >&2; return 1; }
	rm -f "$cap" "$keys" "$keys.tmp"
	lab_cap_start bench "$cap.tmp" || return 1
	log=$(lab_c bench env SSLKEYLOGFILE="$PWD/$keys.tmp" \
		h2load -n "$n" -c 4 -m 32 -H 'accept-encoding: identity' \
		"https://$LAB_SRV4:10443/echo-json" 2>&1)
	local rc=$?
	if ! lab_cap_stop bench || [[ $rc -ne 0 ]] || ! grep -q "^status codes: $n 2xx" <<<"$log"; then
		echo "bench/gen.sh: h2 capture failed (h2load $rc): $(grep -E 'requests:|status codes' <<<"$log" | tr '\n' ' ')" >&2
		rm -f "$cap.tmp" "$keys.tmp"
		return 1
	fi
	mv "$cap.tmp" "$cap" && mv "$keys.tmp" "$keys"
	echo "bench: $cap $(($(stat -c %s "$cap") / 1000000)) MB, $n HTTP/2 exchanges, $(grep CLIENT_TRAFFIC_SECRET_0 "$keys" | sort -u | grep -c .) TLS sessions"
}
have full || gen_one full 44 || exit 1
have half || gen_one half 22 || exit 1
have_h2 || gen_h2 || exit 1
