#!/bin/bash
# soak.sh - `make bench` soak: SOAK_SECONDS (default 600) of mixed lab
# traffic (TLS 1.3, TLS 1.2, plain HTTP; 0 B - 1 MB bodies) captured by
# tcpdump and streamed into one long-running `tapir read -` (stdin), the
# nearest thing to live capture until `tapir capture` exists (the BPF
# source; this script then swaps the pipe for it).  Reports:
#   - tapir's RSS and open fds shortly after start and at the end
#   - tcpdump's lost packets (dropped by kernel / interface)
#   - calls complete vs sent: plain HTTP from the stream (`tapir read`
#     loads key logs once at start, so the streaming run cannot decrypt
#     sessions that begin later: key log following is tapir capture's
#     job), and everything from a second pass over the saved capture with
#     the final key log, compared with the client's ground truth.
# Needs root.  Env: SOAK_SECONDS, TAPIR (default build/tapir).
source "$(dirname "$0")/../tests/lib/common.sh"
SECS=${SOAK_SECONDS:-600}
[[ $(id -u) -eq 0 ]] || { echo "soak: needs root" >&2; exit 1; }
T_NAME=soak T_LAB=soak$$
trap 't_cleanup' EXIT
lab_up "$T_LAB" >/dev/null && lab_nginx_start "$T_LAB" || { echo "soak: lab failed" >&2; exit 1; }
D=$LAB_DIR/soak
mkdir -p "$D/bodies"
T_CASE_DIR=$D GT=$D/gt.jsonl KEYS=$D/keys.log
: >"$GT"; : >"$KEYS"
mkfifo "$D/cap.fifo" "$D/tap.fifo"
ip netns exec "$LAB_C" tcpdump -i "$LAB_IFACE" -s 0 -U -n -w "$D/cap.fifo" 'tcp' 2>"$D/tcpdump.err" &
TD=$!
tee "$D/soak.pcap" <"$D/cap.fifo" >"$D/tap.fifo" &
"$TAPIR" read --hash-bodies - <"$D/tap.fifo" >"$D/stream.json" 2>"$D/stream.err" &
TP=$!
sleep 2
proc() { echo "$(awk '/VmRSS/ {print $2}' /proc/"$TP"/status 2>/dev/null) $(ls /proc/"$TP"/fd 2>/dev/null | wc -l)"; }
h=$LAB_HOST
round() {
	gt_curl --compressed --opt=--resolve --opt="$h:443:$LAB_SRV4" --opt=--tlsv1.3 \
		"GET https://$h/1k.bin" "POST https://$h/upload $(W 1k.bin)" "GET https://$h/100k.bin" &&
	gt_curl --opt=--resolve --opt="$h:8443:$LAB_SRV4" --opt=--tls-max --opt=1.2 \
		"GET https://$h:8443/1k.bin" "GET https://$h:8443/no/such" &&
	gt_curl --compressed "GET http://$LAB_SRV4/small.txt" "PUT http://$LAB_SRV4/dav/s.bin $(W 100k.bin)" \
		"GET http://$LAB_SRV4/1m.bin" "GET http://$LAB_SRV4/204"
}
start=$SECONDS rounds=0 failed_rounds=0 r0=
while ((SECONDS - start < SECS)); do
	round >>"$D/traffic.log" 2>&1 || failed_rounds=$((failed_rounds + 1))
	rounds=$((rounds + 1))
	[[ -z $r0 ]] && r0=$(proc)
done
r1=$(proc)
sleep 1
kill "$TD"; wait "$TD" 2>/dev/null
wait "$TP"; rc=$?
lost=$(grep -E 'dropped by (kernel|interface)' "$D/tcpdump.err" | tr '\n' ' ')
sent=$(wc -l <"$GT")
plain_sent=$(grep -c -E '"path": "/(small.txt|dav/s.bin|1m.bin|204)"' "$GT")
plain_ok=$(jq -s '[.[] | select(.tls == null and (.errors | length) == 0)] | length' "$D/stream.json")
"$TAPIR" read -q --hash-bodies --keylog "$KEYS" "$D/soak.pcap" >"$D/post.json" 2>"$D/post.err"
post_ok=$(jq -s '[.[] | select((.errors | length) == 0)] | length' "$D/post.json")
exact=yes
$PY "$TLIB/compare.py" exact "$D/post.json" "$GT" >"$D/post.diff" 2>&1 || exact="no ($(head -n 2 "$D/post.diff" | tr '\n' ' '))"
echo "soak: ${SECS}s, $rounds rounds ($failed_rounds failed), $(stat -c %s "$D/soak.pcap") bytes captured"
echo "soak: tapir read - (streaming): exit $rc; RSS start $((${r0%% *} / 1024)) MiB -> end $((${r1%% *} / 1024)) MiB; fds start ${r0##* } -> end ${r1##* }"
echo "soak: tcpdump: $lost"
echo "soak: streaming, plain HTTP: $plain_ok complete of $plain_sent sent; TLS sessions are undecrypted there (keys loaded at start)"
echo "soak: second pass with the final key log: $post_ok complete of $sent sent; equal to ground truth: $exact"
grep -E 'memory peak' "$D/stream.err" | sed 's/^/soak: stream summary: /'
