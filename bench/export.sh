#!/bin/bash
# export.sh - cost of --pcapng export in `tapir read` (issue 6): throughput
# with and without it, as a ratio of wall times measured in one run
# (target >= 0.8; best of BENCH_RUNS=3 each, interleaved), on (a) a bulk TLS capture and (b) many small HTTP/2
# calls (bench/gen.sh's captures).  The export is complete and fsync'ed
# when tapir exits, so its time is in the figure.
# Usage: bench/export.sh [DATA_DIR]   (default build/bench)
D=${1:-build/bench}
TAPIR=${TAPIR:-build/tapir}
OUT=$(mktemp -d /tmp/tapir-bench-export.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
rc=0
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || return 1; e=$(date +%s.%N); echo "$e - $s" | bc; }
RUNS=${BENCH_RUNS:-3}
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
for c in tls13-aes128gcm-full h2-small; do
	cap=$D/$c.pcap keys=$D/$c.keys
	[[ -f $cap ]] || { echo "export: SKIP $c: $cap missing (bench/gen.sh)"; continue; }
	# interleaved, best of RUNS each (the machine is shared: noise only
	# ever adds time)
	base=999 exp=999
	for ((i = 0; i < RUNS; i++)); do
		b=$(t "$TAPIR" read -q -k "$keys" "$cap") || { echo "export: tapir read failed"; rc=1; continue 2; }
		e=$(t "$TAPIR" read -q -k "$keys" --pcapng "$OUT/x.pcapng" "$cap") || { echo "export: tapir read --pcapng failed"; rc=1; continue 2; }
		[[ -s $OUT/x.pcapng ]] || { echo "export: no export file"; rc=1; continue 2; }
		rm -f "$OUT/x.pcapng"
		base=$(min "$base" "$b") exp=$(min "$exp" "$e")
	done
	sz=$(stat -c %s "$cap")
	printf 'export %-22s %6.1f MB: read %.3f s, read --pcapng %.3f s (best of %d), ratio %.2f (target >= 0.8)\n' \
		"$c" "$(echo "$sz / 1000000" | bc -l)" "$base" "$exp" "$RUNS" "$(echo "$base / $exp" | bc -l)"
done
exit $rc
