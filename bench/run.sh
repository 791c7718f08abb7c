#!/bin/bash
# run.sh - `make bench`: build the cached captures if needed (bench/gen.sh,
# root), then measure tapir against tshark and openssl speed in one run
# (bench/measure.py), HTTP/2 calls/s against tshark (bench/measure_h2.py),
# then the keys/ shim's host overhead (bench/shim.sh).
# bench/span.sh (XDP span port vs TC, replays of the cached capture) runs
# after gen.sh.  Env: TAPIR (default build/tapir), BENCH_RUNS (3),
# BENCH_CHECK=1 (exit 1 when a target is missed).
set -u
cd "$(dirname "$0")/.." || exit 1
D=${BENCH_DIR:-build/bench}
TAPIR=${TAPIR:-build/tapir}
[[ -x $TAPIR ]] || { echo "bench: $TAPIR not built (make)" >&2; exit 1; }
# live capture figures first (root; bench/capture.sh says when it skips)
bench/capture.sh
bench/gen.sh || exit 1
# tapir span (XDP) against tapir capture (TC) on the same replays (root)
bench/span.sh
args=()
[[ ${BENCH_CHECK:-} == 1 ]] && args+=(--check)
/usr/bin/python3 bench/measure.py --tapir "$TAPIR" --runs "${BENCH_RUNS:-3}" \
	--full "$D/tls13-aes128gcm-full.pcap,$D/tls13-aes128gcm-full.keys" \
	--half "$D/tls13-aes128gcm-half.pcap,$D/tls13-aes128gcm-half.keys" "${args[@]}"
rc=$?
# export cost: tapir read with and without --pcapng (ratio)
bench/export.sh "$D" || rc=1
# HTTP/2: calls per second against tshark on >= 100,000 small exchanges
/usr/bin/python3 bench/measure_h2.py --tapir "$TAPIR" --runs "${BENCH_RUNS:-3}" \
	--cap "$D/h2-small.pcap,$D/h2-small.keys" "${args[@]}" || rc=1
# host overhead of the keys/ preload shim (nginx + wrk in the lab; root)
bench/shim.sh || rc=1
exit $rc
