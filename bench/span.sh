#!/bin/bash
# span.sh - `make bench` part for `tapir span` (root; skipped otherwise).
# A capture is replayed with tcpreplay from a namespace onto a veth pair
# (rp0 -> rs0, MTU 65535 so the capture's GSO frames go as they are); the
# sensor end rs0 is the span port.  The same replays, in this run, with
# `tapir span` (XDP, native mode, frames dropped) and with `tapir capture
# --direction ingress` (TC) on rs0.  Prints:
#   1. each program's cost per packet: kernel.bpf_stats_enabled
#      run_time_ns / run_cnt over one replay at BENCH_SPAN_COST_MBPS, and
#      the ratio XDP / TC (target <= 1)
#   2. for each rate in BENCH_SPAN_RATES (Mbit/s, "top" = --topspeed): the
#      rate tcpreplay achieved, lost events, frames the veth dropped before
#      any program saw them, and whether the calls equal `tapir read` of the
#      same file (100% complete); then the highest such rate for each
#   3. small packets: 60-byte frames of one TCP flow (6 payload bytes each,
#      so every one is copied) replayed --topspeed, BENCH_SPAN_SMALL_LOOPS
#      times: packets per second tcpreplay sent and the program saw (every
#      one dropped at the port), events copied, events lost (target: >= 1
#      Mpps, none lost)
# The capture is bench/gen.sh's tls13-aes128gcm-half.pcap (cached in
# BENCH_DIR, default build/bench).
# Owns: its namespaces tpr-<pid>-bspan-{r,s}, the tapir processes it
# starts (stopped by PID), its work directory, kernel.bpf_stats_enabled
# (restored on exit).
set -u
cd "$(dirname "$0")/.." || exit 1
[[ $(id -u) -eq 0 ]] || { echo "bench span: skipped (needs root)"; exit 0; }
command -v tcpreplay >/dev/null || { echo "bench span: skipped (tcpreplay not installed)"; exit 0; }
TAPIR=${TAPIR:-build/tapir}
[[ $TAPIR == /* ]] || TAPIR=$PWD/$TAPIR
PY=/usr/bin/python3
D=${BENCH_DIR:-build/bench}
CAP=$D/tls13-aes128gcm-half.pcap KEYS=$D/tls13-aes128gcm-half.keys
[[ -s $CAP && -s $KEYS ]] || { echo "bench span: $CAP missing (bench/gen.sh)"; exit 1; }
RNS=tpr-$$-bspan-r SNS=tpr-$$-bspan-s
W=$(mktemp -d /tmp/tpr-bspan.XXXXXX)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
tpid=
cleanup() {
	[[ -n $tpid ]] && kill -TERM "$tpid" 2>/dev/null && wait "$tpid"
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	ip netns del "$RNS" 2>/dev/null
	ip netns del "$SNS" 2>/dev/null
	[[ -n ${BENCH_KEEP:-} ]] || rm -rf -- "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$RNS" && ip netns add "$SNS" || exit 1
ip -n "$RNS" link add rp0 mtu 65535 type veth peer name rs0 mtu 65535 netns "$SNS" || exit 1
ip -n "$RNS" link set rp0 up && ip -n "$SNS" link set rs0 up || exit 1

# t_start span|capture OUT ERR [opts]
t_start() {
	local how=$1 out=$2 err=$3 i
	shift 3
	if [[ $how == span ]]; then
		ip netns exec "$SNS" "$TAPIR" span -i rs0 --xdp-mode native -o "$out" "$@" 2>"$err" &
	else
		ip netns exec "$SNS" "$TAPIR" capture -i rs0 --direction ingress -o "$out" "$@" 2>"$err" &
	fi
	tpid=$!
	for ((i = 0; i < 200; i++)); do grep -q 'capturing on' "$err" && return 0; sleep 0.05; done
	return 1
}
t_stop() { sleep 0.5; kill -TERM "$tpid"; wait "$tpid"; local rc=$?; tpid=; return $rc; }

prog_id() {	# the id of our program on rs0 (other tapirs may run on the host)
	if [[ $1 == span ]]; then
		ip -n "$SNS" -d link show rs0 | grep -oE 'prog/xdp id [0-9]+' | grep -oE '[0-9]+$'
	else
		tc -n "$SNS" filter show dev rs0 ingress | grep -oE ' id [0-9]+' | head -1 | grep -oE '[0-9]+'
	fi
}
prog_stats() {	# "run_time_ns run_cnt" of program id $1
	bpftool -j prog show id "$1" 2>/dev/null |
		$PY -c 'import json, sys; p = json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}
veth_drops() { ip -n "$RNS" -s link show rp0 | awk '/TX:/ {getline; print $4}'; }
# replay ARGS...: tcpreplay from the replay namespace; prints "Mbps pps"
replay() {
	ip netns exec "$RNS" tcpreplay -i rp0 "$@" >"$W/tcpreplay.log" 2>&1
	awk '/Rated:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^Mbps/) m = $i; if ($(i+1) ~ /^pps/) p = $i } }
	     END { printf "%s %s\n", m, p }' "$W/tcpreplay.log"
}
norm() { jq -cS 'del(.ts, .duration_us, .flow.iface, .flow.direction)' "$1" | sort; }
num() { grep -v '\[stats\]' "$1" | grep -oE "[0-9]+ $2" | head -1 | grep -oE '^[0-9]+'; }

echo "== tapir span (XDP on a veth span port, tcpreplay of $(basename "$CAP"), $(($(stat -c %s "$CAP") / 1000000)) MB)"
"$TAPIR" read --keylog "$KEYS" "$CAP" >"$W/read.jsonl" 2>/dev/null || { echo "tapir read failed"; exit 1; }
norm "$W/read.jsonl" >"$W/read.norm"
echo "reference: tapir read gives $(wc -l <"$W/read.jsonl") calls"

# 1. cost per packet, the same replay for both
sysctl -qw kernel.bpf_stats_enabled=1
declare -A cost
for how in span capture; do
	t_start "$how" "$W/cost.jsonl" "$W/cost.err" --keylog "$KEYS" --ring-size 256M || { echo "tapir $how did not start"; exit 1; }
	id=$(prog_id "$how")
	replay --mbps "${BENCH_SPAN_COST_MBPS:-500}" "$CAP" >/dev/null
	read -r rt rc < <(prog_stats "$id")
	t_stop
	cost[$how]=$(echo "$rt / ($rc + ($rc == 0))" | bc -l)
	bytes=$(num "$W/cost.err" 'bytes copied')
	printf 'program cost %-8s %6.0f ns per packet (%d packets, %s), %.0f ns per 1448-byte segment copied\n' \
		"$how:" "${cost[$how]}" "$rc" "$([[ $how == span ]] && echo "XDP native, dropped" || echo "TC ingress")" \
		"$(echo "$rt / (${bytes:-0} / 1448 + (${bytes:-0} == 0))" | bc -l)"
done
printf 'cost ratio XDP / TC: %.2f (target <= 1)\n' "$(echo "${cost[span]} / ${cost[capture]}" | bc -l)"
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

# 2. rate sweep
declare -A best=([span]=none [capture]=none) bestm=()
for r in ${BENCH_SPAN_RATES:-250 500 1000 2000 top}; do
	for how in span capture; do
		rm -f "$W/r.jsonl" "$W/r.err"
		t_start "$how" "$W/r.jsonl" "$W/r.err" --keylog "$KEYS" --ring-size 256M || { echo "tapir $how did not start"; exit 1; }
		d0=$(veth_drops)
		if [[ $r == top ]]; then read -r mbps pps < <(replay --topspeed "$CAP")
		else read -r mbps pps < <(replay --mbps "$r" "$CAP"); fi
		t_stop
		vd=$(($(veth_drops) - d0))
		lost=$(num "$W/r.err" 'events \(')
		norm "$W/r.jsonl" >"$W/r.norm"
		if cmp -s "$W/r.norm" "$W/read.norm" && [[ $lost == 0 ]]; then
			ok=yes
			if [[ -z ${bestm[$how]:-} ]] || (( $(echo "$mbps > ${bestm[$how]}" | bc -l) )); then
				bestm[$how]=$mbps
				best[$how]="$mbps Mbit/s, $pps pps (asked: $r)"
			fi
		else
			ok=no
		fi
		printf '%-7s rate %-5s sent %8s Mbit/s %8s pps: lost events %s, dropped by the veth %s, calls == tapir read: %s (%d of %d)\n' \
			"$how" "$r" "$mbps" "$pps" "${lost:-?}" "$vd" "$ok" "$(wc -l <"$W/r.jsonl")" "$(wc -l <"$W/read.jsonl")"
	done
done
echo "highest rate with calls 100% complete and 0 lost events: span (XDP) ${best[span]}; capture (TC) ${best[capture]}"
echo "(a rate the sender did not reach is tcpreplay's limit on this machine, not tapir's: see 'sent')"

# 3. small packets, dropped at the port
$PY - "$W/small.pcap" <<'EOF'
import struct, sys
n = 100000
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    eth = bytes.fromhex("020000000001020000000002") + b"\x08\x00"
    for i in range(n):
        seq = (1000 + 6 * i) & 0xffffffff
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + 6, i & 0xffff, 0x4000, 64, 6, 0,
                         bytes([10, 1, 0, 2]), bytes([10, 1, 0, 1]))
        tcp = struct.pack("!HHIIBBHHH", 40000, 80, seq, 1, 0x50, 0x18, 502, 0, 0)
        frame = eth + ip + tcp + b"tapir!"
        f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(frame), len(frame)) + frame)
EOF
loops=${BENCH_SPAN_SMALL_LOOPS:-2}
t_start span "$W/small.jsonl" "$W/small.err" --ring-size 256M || { echo "tapir span did not start"; exit 1; }
d0=$(veth_drops)
read -r mbps pps < <(replay --topspeed --preload-pcap --loop "$loops" "$W/small.pcap")
t_stop
vd=$(($(veth_drops) - d0))
seen=$(num "$W/small.err" 'packets seen')
events=$(num "$W/small.err" 'events /')
lost=$(num "$W/small.err" 'events \(')
printf 'small packets, tcpreplay: %d x 60-byte frames at %s pps (--topspeed: the sender'"'"'s limit); the program saw %s, copied %s events, lost %s to the ring; %s dropped by the veth before XDP\n' \
	"$((100000 * loops))" "$pps" "${seen:-?}" "${events:-?}" "${lost:-?}" "$vd"
# the kernel's XDP live-frame generator (tests/tools/xdp_gen.c): frames go
# into rs0's XDP path through the veth's ndo_xdp_xmit, no socket per frame
gen=${BENCH_SPAN_GEN:-2000000}
if [[ -x build/tools/xdp_gen ]]; then
	sysctl -qw kernel.bpf_stats_enabled=1
	t_start span "$W/gen.jsonl" "$W/gen.err" --ring-size 256M || { echo "tapir span did not start"; exit 1; }
	id=$(prog_id span)
	ip netns exec "$RNS" build/tools/xdp_gen rp0 "$gen" >"$W/gen.log" 2>&1
	read -r rt rc < <(prog_stats "$id")
	t_stop
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	gpps=$(grep -oE '[0-9]+ pps' "$W/gen.log" | grep -oE '^[0-9]+')
	gsecs=$(grep -oE 'in [0-9.]+ s' "$W/gen.log" | grep -oE '[0-9.]+')
	seen=$(num "$W/gen.err" 'packets seen')
	events=$(num "$W/gen.err" 'events /')
	lost=$(num "$W/gen.err" 'events \(')
	matched=$(num "$W/gen.err" 'TCP segments matched')
	c=$(echo "$rt / ($rc + ($rc == 0))" | bc -l)
	printf 'small packets, XDP live frames: %d x 60-byte frames offered at %s pps; the program saw %s (%.0f pps over the send time), copied %s events, lost %s to the ring, all dropped at the port; %d never reached it (veth ring full)\n' \
		"$gen" "${gpps:-?}" "${seen:-?}" "$(echo "${seen:-0} / ${gsecs:-1}" | bc -l)" "${events:-?}" "${lost:-?}" "$((gen - ${matched:-0}))"
	printf 'small packets: program cost %.0f ns per packet -> at most %.2f Mpps per core for the program alone (target >= 1 Mpps complete)\n' \
		"$c" "$(echo "1000 / ($c + ($c == 0))" | bc -l)"
else
	echo "small packets, XDP live frames: build/tools/xdp_gen not built (make tools)"
fi
