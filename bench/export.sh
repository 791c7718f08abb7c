#!/bin/bash
# export.sh - cost of --pcapng export in `tapir read` (issue 6): throughput
# with and without it, as a ratio of wall times measured in one run
# (target >= 0.8), on (a) a bulk TLS capture and (b) many small HTTP/2
# calls (bench/gen.sh's captures).  The export is complete and fsync'ed
# when tapir exits, so its time is in the figure.
# Usage: bench/export.sh [DATA_DIR]   (default build/bench)
D=${1:-build/bench}
TAPIR=${TAPIR:-build/tapir}
OUT=$(mktemp -d /tmp/tapir-bench-export.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
rc=0
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || return 1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for c in tls13-aes128gcm-full h2-small; do
	cap=$D/$c.pcap keys=$D/$c.keys
	[[ -f $cap ]] || { echo "export: SKIP $c: $cap missing (bench/gen.sh)"; continue; }
	base=$(t "$TAPIR" read -q -k "$keys" "$cap") || { echo "export: tapir read failed"; rc=1; continue; }
	exp=$(t "$TAPIR" read -q -k "$keys" --pcapng "$OUT/x.pcapng" "$cap") || { echo "export: tapir read --pcapng failed"; rc=1; continue; }
	sz=$(stat -c %s "$cap")
	printf 'export %-22s %6.1f MB: read %.3f s, read --pcapng %.3f s, ratio %.2f (target >= 0.8)\n' \
		"$c" "$(echo "$sz / 1000000" | bc -l)" "$base" "$exp" "$(echo "$base / $exp" | bc -l)"
	rm -f "$OUT/x.pcapng"
done
exit $rc
