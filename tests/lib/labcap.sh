#!/bin/bash
# labcap.sh - capture one mixed lab exchange set into a directory.
#
# Usage: tests/lib/labcap.sh OUTDIR [small|mixed]
# Writes OUTDIR/cap.pcap, OUTDIR/keys.log, OUTDIR/gt.jsonl (ground truth as
# gt_curl.py writes it).  "small": TLS 1.3, TLS 1.2 (GCM and CBC) and plain
# HTTP with bodies under 100 KB (fuzz seeds); "mixed" (default): the same
# with 1-5 MB bodies added (fault injection, attacks, soak).
# Owns only OUTDIR's files; the lab (scripts/lab.sh) is torn down on exit.
source "$(dirname "$0")/common.sh"
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || exit 1
MODE=${2:-mixed}
T_NAME=labcap
T_LAB=labcap$$
trap 't_cleanup' EXIT
lab_up "$T_LAB" >/dev/null || { echo "labcap: lab_up failed" >&2; exit 1; }
lab_nginx_start "$T_LAB" || { echo "labcap: nginx failed" >&2; exit 1; }
T_CASE_DIR=$OUT CAP=$OUT/cap.pcap GT=$OUT/gt.jsonl KEYS=$OUT/keys.log
mkdir -p "$OUT/bodies"
: >"$GT"; : >"$KEYS"
h=$LAB_HOST
traffic() {
	local big13=() big12=() bigp=()
	if [[ $MODE == mixed ]]; then
		big13=("GET https://$h/5m.bin" "POST https://$h/upload $(W 1m.bin)")
		big12=("GET https://$h:8443/1m.bin")
		bigp=("GET http://$LAB_SRV4/5m.bin" "PUT http://$LAB_SRV4/dav/f5.bin $(W 1m.bin)")
	fi
	gt_curl --compressed --opt=--resolve --opt="$h:443:$LAB_SRV4" --opt=--tlsv1.3 \
		"GET https://$h/1k.bin" "POST https://$h/upload $(W 1k.bin)" "GET https://$h/text.txt" \
		"GET https://$h/chunked/text.txt" "${big13[@]}" &&
	gt_curl --opt=--resolve --opt="$h:8443:$LAB_SRV4" --opt=--tls-max --opt=1.2 \
		--opt=--ciphers --opt=ECDHE-RSA-AES128-GCM-SHA256 \
		"GET https://$h:8443/1k.bin" "GET https://$h:8443/no/such" "${big12[@]}" &&
	gt_curl --opt=--resolve --opt="$h:8443:$LAB_SRV4" --opt=--tls-max --opt=1.2 \
		--opt=--ciphers --opt=ECDHE-RSA-AES128-SHA "GET https://$h:8443/text.txt" &&
	gt_curl --compressed "GET http://$LAB_SRV4/small.txt" "GET http://$LAB_SRV4/text.txt" \
		"PUT http://$LAB_SRV4/dav/f.bin $(W 1k.bin)" "GET http://$LAB_SRV4/204" "${bigp[@]}"
}
lab_cap_start "$T_LAB" "$CAP" || { echo "labcap: tcpdump" >&2; exit 1; }
traffic >"$OUT/traffic.log" 2>&1; rc=$?
lab_cap_stop "$T_LAB"
rm -rf "$OUT/bodies"
[[ $rc -eq 0 ]] || { echo "labcap: traffic failed: $(tail -3 "$OUT/traffic.log")" >&2; exit 1; }
echo "labcap: $(wc -l <"$GT") exchanges, $(stat -c %s "$CAP") bytes in $CAP"
