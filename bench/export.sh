#!/bin/bash
# export.sh - cost of --pcapng export in `tapir read` (issue 6): throughput
# with and without it, as a ratio of wall times measured in one run
# (target >= 0.8; best of BENCH_RUNS=5 each, interleaved), on (a) a bulk
# TLS capture and (b) many small HTTP/2 calls (bench/gen.sh's captures).
#
# Three figures per capture, because writing the file is two costs:
#   to RAM   the export to a tmpfs (/dev/shm): tapir's own cost (building
#            blocks, the write(2) copies), which is what the target is for,
#            next to the best ratio a tmpfs allows: the read time over
#            max(read time, time for dd to write the same bytes to it) -
#            the kernel's copy into tmpfs pages can itself take longer
#            than tapir's whole read;
#   to disk  the export to the disk under $TMPDIR, complete and fsync'ed
#            when tapir exits (what a user gets);
#   bound    the best any exporter can do on this disk: the read time
#            over max(read time, time for `dd conv=fsync` to write the same
#            number of bytes) - a disk slower than tapir's decryption caps
#            the disk ratio whatever tapir does.
# Usage: bench/export.sh [DATA_DIR]   (default build/bench)
D=${1:-build/bench}
TAPIR=${TAPIR:-build/tapir}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tapir-bench-export.XXXXXX")
RAM=
if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
	RAM=$(mktemp -d /dev/shm/tapir-bench-export.XXXXXX)
fi
trap 'rm -rf "$OUT" ${RAM:+"$RAM"}' EXIT
rc=0
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || return 1; e=$(date +%s.%N); echo "$e - $s" | bc; }
RUNS=${BENCH_RUNS:-5}
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
max() { echo "if ($1 > $2) $1 else $2" | bc -l; }
ratio() { echo "$1 / $2" | bc -l; }
verdict() { if (($(echo "$1 >= 0.8" | bc -l))); then echo met; else echo MISSED; fi; }
[[ -n $RAM ]] || echo "export: no tmpfs at /dev/shm: the to-RAM figure is not measured"
for c in tls13-aes128gcm-full h2-small; do
	cap=$D/$c.pcap keys=$D/$c.keys
	[[ -f $cap ]] || { echo "export: SKIP $c: $cap missing (bench/gen.sh)"; continue; }
	# interleaved, best of RUNS each (the machine is shared: noise only
	# ever adds time)
	base=999 disk=999 ram=999 dd=999 ramdd=999 size=0
	ramdir=$RAM
	# the export is about the capture's size: a small /dev/shm (a
	# container's 64 MB) cannot take it
	if [[ -n $ramdir ]] && (($(df -P -B1 /dev/shm | awk 'NR == 2 {print $4}') < 2 * $(stat -c %s "$cap"))); then
		echo "export: $c: /dev/shm has too little room, the to-RAM figure is not measured"
		ramdir=
	fi
	for ((i = 0; i < RUNS; i++)); do
		b=$(t "$TAPIR" read -q -k "$keys" "$cap") || { echo "export: tapir read failed"; rc=1; continue 2; }
		if [[ -n $ramdir ]]; then
			r=$(t "$TAPIR" read -q -k "$keys" --pcapng "$ramdir/x.pcapng" "$cap") || { echo "export: tapir read --pcapng (tmpfs) failed"; rc=1; continue 2; }
			rm -f "$ramdir/x.pcapng"
			ram=$(min "$ram" "$r")
		fi
		e=$(t "$TAPIR" read -q -k "$keys" --pcapng "$OUT/x.pcapng" "$cap") || { echo "export: tapir read --pcapng failed"; rc=1; continue 2; }
		[[ -s $OUT/x.pcapng ]] || { echo "export: no export file"; rc=1; continue 2; }
		size=$(stat -c %s "$OUT/x.pcapng")
		# the tmpfs's and the disk's own time for the same bytes, from
		# the page cache
		if [[ -n $ramdir ]]; then
			r=$(t dd if="$OUT/x.pcapng" of="$ramdir/dd" bs=1M)
			rm -f "$ramdir/dd"
			ramdd=$(min "$ramdd" "$r")
		fi
		d=$(t dd if="$OUT/x.pcapng" of="$OUT/dd" bs=1M conv=fsync)
		# removing them (and the discards that may follow) before the
		# next run, not during it
		rm -f "$OUT/x.pcapng" "$OUT/dd"
		sync -f "$OUT" 2>/dev/null
		base=$(min "$base" "$b") disk=$(min "$disk" "$e") dd=$(min "$dd" "$d")
	done
	sz=$(stat -c %s "$cap")
	printf 'export %-22s %6.1f MB: read %.3f s (best of %d)\n' "$c" "$(echo "$sz / 1000000" | bc -l)" "$base" "$RUNS"
	if [[ -n $ramdir ]]; then
		rr=$(ratio "$base" "$ram")
		printf 'export %-22s   --pcapng to RAM (tmpfs):    %.3f s, ratio %.2f (target >= 0.8: %s); the tmpfs takes the same bytes in %.3f s (dd): best possible ratio here %.2f\n' \
			"$c" "$ram" "$rr" "$(verdict "$rr")" "$ramdd" "$(ratio "$base" "$(max "$base" "$ramdd")")"
	fi
	dr=$(ratio "$base" "$disk") bound=$(ratio "$base" "$(max "$base" "$dd")")
	printf 'export %-22s   --pcapng to disk (fsync):   %.3f s, ratio %.2f; this disk writes the %.0f MB in %.3f s (dd conv=fsync): best possible ratio here %.2f\n' \
		"$c" "$disk" "$dr" "$(echo "$size / 1000000" | bc -l)" "$dd" "$bound"
done
exit $rc
