#!/bin/bash
# soak.sh - `make bench` soak: SOAK_SECONDS (default 600) of mixed live lab
# traffic (TLS 1.3, TLS 1.2, plain HTTP; keep-alive and new connections;
# 0 B - 1 MB bodies, uploads, 404, 204) through the three-namespace lab
# (client -- gateway -- server), captured by one long-running
# `tapir capture` on the gateway's two ports (both hooks, so every segment
# is seen twice and deduplicated) that follows the client's key log as it
# grows.  Reports:
#   - tapir's RSS and open fds shortly after start, at the end of the
#     traffic, and its memcap peak
#   - kernel events lost to a full ring, gaps
#   - calls complete (no errors) vs sent, and whether the records equal the
#     client's ground truth exactly (tests/lib/compare.py exact)
# A benchmark, not a test: it prints figures and exits non-zero only when
# the run itself broke (lab, tapir exit status).
# Needs root.  Env: SOAK_SECONDS, TAPIR (default build/tapir).
source "$(dirname "$0")/../tests/lib/capture_common.sh"
SECS=${SOAK_SECONDS:-600}
[[ $(id -u) -eq 0 ]] || { echo "soak: needs root" >&2; exit 1; }
T_NAME=soak T_LAB=soak
trap 'c_cleanup' EXIT
lab_up "$T_LAB" >/dev/null && lab_nginx_start "$T_LAB" || { echo "soak: lab failed" >&2; exit 1; }
D=$LAB_DIR/soak
mkdir -p "$D/bodies"
T_CASE_DIR=$D GT=$D/gt.jsonl KEYS=$D/keys.log OUT=$D/tapir.jsonl ERR=$D/tapir.err
: >"$GT"; : >"$KEYS"
chmod 600 "$KEYS"
c_start "$OUT" "$ERR" --keylog "$KEYS" --stats-interval 60 ||
	{ echo "soak: tapir capture did not start: $(tail -3 "$ERR")" >&2; exit 1; }
proc() { echo "$(awk '/VmRSS/ {print $2}' /proc/"$C_PID"/status 2>/dev/null) $(ls /proc/"$C_PID"/fd 2>/dev/null | wc -l)"; }
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
c_stop
rc=$?
sent=$(wc -l <"$GT")
ok=$(jq -s '[.[] | select((.errors | length) == 0)] | length' "$OUT")
got=$(wc -l <"$OUT")
exact=yes
$PY "$TLIB/compare.py" exact "$OUT" "$GT" >"$D/exact.diff" 2>&1 || exact="no ($(head -n 2 "$D/exact.diff" | tr '\n' ' '))"
final=$(grep -v '\[stats\]' "$ERR")
echo "soak: ${SECS}s of live traffic, $rounds rounds ($failed_rounds failed), tapir capture exit $rc"
echo "soak: RSS start $((${r0%% *} / 1024)) MiB -> end $((${r1%% *} / 1024)) MiB; open fds start ${r0##* } -> end ${r1##* }"
echo "soak: $(grep -oE '[0-9]+ events \([0-9]+ bytes\) lost to a full ring' <<<"$final"); $(grep -oE 'gaps: [0-9]+ \([0-9]+ bytes\)' <<<"$final"); $(grep -oE 'memory [^,]*' <<<"$final")"
echo "soak: calls: $sent sent, $got recorded, $ok complete; equal to ground truth: $exact"
[[ $rc -eq 0 ]]
