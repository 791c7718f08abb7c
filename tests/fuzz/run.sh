#!/bin/bash
# run.sh - `make fuzz`: run each libFuzzer harness for SECONDS in turn.
# Usage: tests/fuzz/run.sh FUZZ_BUILD SECONDS NAME...
# Seeds: tests/fuzz/corpus/<name>/ (read only) and FUZZ_BUILD/corpus/<name>/
# (where new inputs go); crashes: FUZZ_BUILD/crashes/<name>/.  Prints one
# line per harness with its executions; exit 1 if any harness crashed.
# FUZZ_JOBS=N runs N harnesses at once (default 1).
set -u
cd "$(dirname "$0")/../.." || exit 1
B=$1 SECS=$2
shift 2
bad=0
run_one() {
	local n=$1 log
	mkdir -p "$B/corpus/$n" "$B/crashes/$n"
	log=$B/fuzz_$n.log
	"$B/fuzz/fuzz_$n" -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 \
		-timeout=10 -artifact_prefix="$B/crashes/$n/" "$B/corpus/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1
	local rc=$? execs
	execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
	if [[ $rc -eq 0 ]]; then
		echo "fuzz_$n: ${execs:-?} executions in ${SECS}s, no crash"
	else
		echo "fuzz_$n: CRASH (exit $rc) after ${execs:-?} executions: $(ls "$B/crashes/$n" | head -3 | tr '\n' ' ') log $log"
		return 1
	fi
}
jobs=${FUZZ_JOBS:-1}
pids=()
for n in "$@"; do
	run_one "$n" &
	pids+=($!)
	while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || bad=1; done
done
for p in $(jobs -rp); do wait "$p" || bad=1; done
exit $bad
