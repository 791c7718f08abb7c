#!/bin/bash
# demo.sh - the README's first command: build tapir, make a three-namespace
# lab (client -- gateway -- server), start nginx with TLS 1.3, HTTP/1.1 and
# HTTP/2 in the server namespace, run `tapir capture` live on both ports of the gateway with the
# client's key log, drive curl traffic (SSLKEYLOGFILE) through it, and
# print the calls tapir reconstructed.
#
# Owns: one lab (scripts/lab.sh with LAB_MIDDLE=bridge: namespaces
# tpr-<pid>-demo-{c,b,s}, nginx), the tapir process (stopped with SIGTERM,
# which detaches its TC filters) and a temp directory; all removed on exit,
# also on failure or Ctrl-C.
# Env: KEEP=DIR copies the key log, calls and tapir's summary to DIR.
set -eu
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: needs root (packages, network namespaces, BPF): sudo $0" >&2
	exit 1
fi
scripts/install-deps.sh
make -s

source scripts/lab.sh
LAB=demo
LAB_MIDDLE=bridge
work=$(mktemp -d /tmp/tapir-demo.XXXXXX)
tpid=
cleanup() {
	[[ -n $tpid ]] && kill -TERM "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	lab_down "$LAB"
	rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_up "$LAB"
lab_nginx_start "$LAB"
export SSLKEYLOGFILE=$work/keys.log
: >"$SSLKEYLOGFILE"
echo "demo: tapir capture -i p0,p1 --keylog keys.log --hash-bodies --max-body 200 (in the gateway namespace)" >&2
ip netns exec "$LAB_B" build/tapir capture -i p0,p1 --keylog "$SSLKEYLOGFILE" \
	--hash-bodies --max-body 200 -o "$work/calls.json" 2>"$work/tapir.err" &
tpid=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'capturing on' "$work/tapir.err" && break
	kill -0 "$tpid" 2>/dev/null || { cat "$work/tapir.err" >&2; exit 1; }
	sleep 0.05
done

url=https://$LAB_HOST
curl_opts=(-sS -o /dev/null --cacert "$LAB_DIR/cert.pem"
	   --resolve "$LAB_HOST:443:$LAB_SRV4" --tlsv1.3)
echo "demo: curl -> gateway -> nginx over TLS 1.3 (keys in SSLKEYLOGFILE)" >&2
lab_c "$LAB" curl "${curl_opts[@]}" --compressed "$url/echo-json?hello=tapir" \
	-o /dev/null "$url/small.txt" -o /dev/null "$url/no/such/page" >/dev/null
lab_c "$LAB" curl "${curl_opts[@]}" -X POST -H 'content-type: application/json' \
	--data '{"order":42,"item":"tapir plush"}' "$url/upload" >/dev/null
lab_c "$LAB" curl "${curl_opts[@]}" "$url/1m.bin" >/dev/null
echo "demo: curl -> gateway -> nginx, HTTP/2 over TLS 1.3 (three streams on one connection)" >&2
h2url=https://$LAB_HOST:10443
h2opts=(-sS --http2 --cacert "$LAB_DIR/cert.pem" --tlsv1.3
	--resolve "$LAB_HOST:10443:$LAB_SRV4")
lab_c "$LAB" curl --parallel "${h2opts[@]}" -o /dev/null "$h2url/echo-json?h2=1" \
	-o /dev/null "$h2url/100k.bin" --next "${h2opts[@]}" -o /dev/null \
	-H 'content-type: application/json' --data '{"stream":3}' "$h2url/upload" >/dev/null
echo "demo: and one plain HTTP/1.1 request" >&2
lab_c "$LAB" curl -sS -o /dev/null "http://$LAB_SRV4/echo-json?plain=1"
sleep 0.3
kill -TERM "$tpid" 2>/dev/null
trc=0
wait "$tpid" || trc=$?
tpid=
unset SSLKEYLOGFILE

echo >&2
cat "$work/tapir.err" >&2
echo >&2
if [[ $trc -ne 0 ]]; then
	echo "demo: tapir capture failed (exit status $trc)" >&2
	exit 1
fi
if command -v jq >/dev/null; then
	jq -c . "$work/calls.json"
	echo >&2
	echo "demo: the same calls, one line each:" >&2
	jq -r 'if .request then "  HTTP/\(.http_version) \(.request.method) \(.request.path) -> \(.response.status)  \(.response.body_size) bytes" else "  (no call: \(.errors | join("; ")))" end + "  [\(.flow.iface) \(.flow.direction)]  " + (if .tls then "(\(.tls.version) \(.tls.cipher), decrypted=\(.tls.decrypted))" else "(plain)" end)' "$work/calls.json" >&2
else
	cat "$work/calls.json"
fi
if [[ -n ${KEEP:-} ]]; then
	mkdir -p "$KEEP"
	cp "$work/keys.log" "$work/calls.json" "$work/tapir.err" "$KEEP/"
	chmod 600 "$KEEP/keys.log"
	echo "demo: key log, calls and summary kept in $KEEP" >&2
fi
