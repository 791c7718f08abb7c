#!/bin/bash
# capture.sh - `make bench` part for `tapir capture` (root; skipped
# otherwise).  In the three-namespace gateway lab (scripts/lab.sh,
# LAB_MIDDLE=bridge), tapir on both gateway ports, both directions.
# Prints, each measured in this run:
#   1. the program's cost: kernel.bpf_stats_enabled run_time_ns / run_cnt
#      (per program run = per skb, GSO super-packets included) and per
#      1448-byte segment of payload copied
#   2. nginx latency p50/p99 under wrk (20 connections, 1 KiB responses)
#      without and with tapir attached, and the ratio
#   3. the highest rate (tbf on the server's egress) at which 10 parallel
#      5 MB downloads come out 100% reconstructed with zero lost events
# Owns: the lab, the tapir processes it starts, kernel.bpf_stats_enabled
# (restored on exit).  Env: BENCH_RATES (default "1 2 4 8 16 0", Gbit/s,
# 0 = no limit), BENCH_WRK_SECS (5).
set -u
cd "$(dirname "$0")/.." || exit 1
[[ $(id -u) -eq 0 ]] || { echo "bench capture: skipped (needs root)"; exit 0; }
command -v wrk >/dev/null || echo "bench capture: wrk not installed: latency skipped"
TAPIR=${TAPIR:-build/tapir}
[[ $TAPIR == /* ]] || TAPIR=$PWD/$TAPIR
PY=/usr/bin/python3
source scripts/lab.sh
LAB_MIDDLE=bridge
L=bcap
W=$(mktemp -d /tmp/tpr-bench.XXXXXX)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
tpid=
cleanup() {
	[[ -n $tpid ]] && kill -TERM "$tpid" 2>/dev/null && wait "$tpid"
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	lab_down "$L"
	[[ -n ${BENCH_KEEP:-} ]] || rm -rf -- "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
lab_up "$L" && lab_nginx_start "$L" || exit 1
mkdir -p "$W/b"

t_start() {	# t_start OUT ERR [opts]
	ip netns exec "$LAB_B" "$TAPIR" capture -i p0,p1 --hash-bodies -o "$1" "${@:3}" 2>"$2" &
	tpid=$!
	for ((i = 0; i < 100; i++)); do grep -q 'capturing on' "$2" && return 0; sleep 0.05; done
	return 1
}
t_stop() { sleep 0.3; kill -TERM "$tpid"; wait "$tpid"; local rc=$?; tpid=; return $rc; }

wrk_lat() {	# prints "p50_us p99_us"
	ip netns exec "$LAB_C" wrk -t2 -c20 -d"${BENCH_WRK_SECS:-5}s" --latency "http://$LAB_SRV4/1k.bin" 2>&1 |
		awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
		     $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } END { printf "%.1f %.1f\n", p50, p99 }'
}

prog_stats() {	# "run_time_ns run_cnt" summed over tapir's two programs
	bpftool -j prog show 2>/dev/null | $PY -c '
import json, sys
t = c = 0
for p in json.load(sys.stdin):
    if p.get("name") in ("tapir_ingress", "tapir_egress"):
        t += p.get("run_time_ns", 0); c += p.get("run_cnt", 0)
print(t, c)'
}

echo "== tapir capture (gateway lab, both ports, both directions)"
if command -v wrk >/dev/null; then
	read -r b50 b99 < <(wrk_lat)
fi
sysctl -qw kernel.bpf_stats_enabled=1
t_start "$W/lat.jsonl" "$W/lat.err" || { echo "tapir did not start"; exit 1; }
if command -v wrk >/dev/null; then
	read -r c50 c99 < <(wrk_lat)
fi
bulk=(); for i in 1 2 3 4 5 6 7 8; do bulk+=("GET http://$LAB_SRV4/5m.bin?$i"); done
# bulk: full-size segments (and GSO super-packets) for the cost figure
$PY tests/lib/gt_curl.py --ns "$LAB_C" --keylog "$W/k" --out "$W/bulk.gt" --work "$W/b" \
	--parallel 4 "${bulk[@]}" >/dev/null 2>&1
read -r rt rc < <(prog_stats)
t_stop
bytes=$(grep -oE '[0-9]+ bytes copied' "$W/lat.err" | grep -oE '^[0-9]+' || echo 0)
if [[ ${rc:-0} -gt 0 ]]; then
	printf 'program cost:      %.0f ns per run (%d runs), %.0f ns per 1448-byte segment copied\n' \
		"$(echo "$rt / $rc" | bc -l)" "$rc" "$(echo "$rt / ($bytes / 1448 + ($bytes == 0))" | bc -l)"
fi
if [[ -n ${b99:-} && -n ${c99:-} ]]; then
	printf 'wrk latency:       p50 %s -> %s us, p99 %s -> %s us; p99 ratio %.3f (target <= 1.05)\n' \
		"$b50" "$c50" "$b99" "$c99" "$(echo "$c99 / $b99" | bc -l)"
fi

# rate sweep
par=(); for i in $(seq 1 10); do par+=("GET http://$LAB_SRV4/5m.bin?r=$i"); done
best=none
for r in ${BENCH_RATES:-1 2 4 8 16 0}; do
	ip netns exec "$LAB_S" tc qdisc del dev eth0 root 2>/dev/null
	if [[ $r != 0 ]]; then
		ip netns exec "$LAB_S" tc qdisc add dev eth0 root tbf rate "${r}gbit" burst 4mb latency 100ms || continue
	fi
	rm -rf "$W/r"; mkdir -p "$W/r/b"
	t_start "$W/r/out.jsonl" "$W/r/err" || { echo "tapir did not start"; break; }
	s=$(date +%s.%N)
	$PY tests/lib/gt_curl.py --ns "$LAB_C" --keylog "$W/r/k" --out "$W/r/gt" --work "$W/r/b" \
		--parallel 10 "${par[@]}" >/dev/null 2>&1
	e=$(date +%s.%N)
	t_stop
	lost=$(grep -v '\[stats\]' "$W/r/err" | grep -oE '[0-9]+ events \(' | grep -oE '^[0-9]+')
	gbps=$(echo "10 * 5242880 * 8 / ($e - $s) / 1000000000" | bc -l)
	if $PY tests/lib/compare.py exact "$W/r/out.jsonl" "$W/r/gt" >/dev/null 2>&1 && [[ $lost == 0 ]]; then
		ok=yes; best=$(printf '%.2f Gbit/s (limit %s)' "$gbps" "${r/#0/none}")
	else
		ok=no
	fi
	printf 'rate limit %-5s achieved %5.2f Gbit/s: lost events %s, all bodies exact: %s\n' \
		"$([[ $r == 0 ]] && echo none || echo "${r}G")" "$gbps" "${lost:-?}" "$ok"
done
ip netns exec "$LAB_S" tc qdisc del dev eth0 root 2>/dev/null
echo "highest rate with 100% bodies and 0 lost events: $best (target >= 2 Gbit/s on 2 cores)"
