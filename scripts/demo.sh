#!/bin/bash
# demo.sh - the README's first command: build tapir, make a small TLS 1.3
# capture in a network-namespace lab (nginx serving, curl as the client
# writing its session keys to SSLKEYLOGFILE, tcpdump recording), and print
# the calls `tapir read` reconstructs from the capture and the key log.
#
# Owns: one lab (scripts/lab.sh: two namespaces, nginx, tcpdump) and a temp
# directory; both are removed on exit, also on failure or Ctrl-C.
# Env: KEEP=DIR copies the capture and key log to DIR before cleaning up.
set -eu
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: needs root (packages, network namespaces): sudo $0" >&2
	exit 1
fi
scripts/install-deps.sh
make -s

source scripts/lab.sh
LAB=demo
work=$(mktemp -d /tmp/tapir-demo.XXXXXX)
trap 'lab_down "$LAB"; rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM

lab_up "$LAB"
lab_nginx_start "$LAB"
lab_cap_start "$LAB" "$work/demo.pcap" tcp
export SSLKEYLOGFILE=$work/keys.log
url=https://$LAB_HOST
curl_opts=(-sS -o /dev/null --cacert "$LAB_DIR/cert.pem"
	   --resolve "$LAB_HOST:443:$LAB_SRV4" --tlsv1.3)
echo "demo: curl -> nginx over TLS 1.3 (keys in SSLKEYLOGFILE), tcpdump recording" >&2
lab_c "$LAB" curl "${curl_opts[@]}" --compressed "$url/echo-json?hello=tapir" \
	-o /dev/null "$url/small.txt" -o /dev/null "$url/no/such/page" >/dev/null
lab_c "$LAB" curl "${curl_opts[@]}" -X POST -H 'content-type: application/json' \
	--data '{"order":42,"item":"tapir plush"}' "$url/upload" >/dev/null
lab_c "$LAB" curl "${curl_opts[@]}" "$url/1m.bin" >/dev/null
sleep 0.3
lab_cap_stop "$LAB"
unset SSLKEYLOGFILE

echo "demo: build/tapir read --keylog keys.log --hash-bodies --max-body 200 demo.pcap" >&2
echo >&2
build/tapir read --keylog "$work/keys.log" --hash-bodies --max-body 200 "$work/demo.pcap" >"$work/calls.json"
if command -v jq >/dev/null; then
	jq -c . "$work/calls.json"
	echo >&2
	echo "demo: the same calls, one line each:" >&2
	jq -r '"  \(.request.method) \(.request.path) -> \(.response.status)  \(.response.body_size) bytes  (\(.tls.version) \(.tls.cipher), decrypted=\(.tls.decrypted))"' "$work/calls.json" >&2
else
	cat "$work/calls.json"
fi
if [[ -n ${KEEP:-} ]]; then
	mkdir -p "$KEEP"
	cp "$work/demo.pcap" "$work/keys.log" "$work/calls.json" "$KEEP/"
	chmod 600 "$KEEP/keys.log"
	echo "demo: capture, key log and calls kept in $KEEP" >&2
fi
