#!/bin/bash
# attacks.sh - memory bounds under attack.  A lab capture (TLS 1.3, TLS 1.2,
# plain HTTP) is mixed into hostile traffic from tests/lib/attackcap.py:
#   ooo        out-of-order segments that never fill their gap (1000 flows)
#   synflood   1,000,000 flows of one SYN each
#   hdrbomb    a 32 MB header line; 1,000,000 headers
#   chunked    chunked bodies that never end (64 MB, 2,000,000 chunks)
#   tlsnokeys  5,000 TLS sessions whose keys never come
# Each is read with `tapir read --memcap 64M`, and again with --threads 2;
# asserted:
#   - exit 0;
#   - peak RSS (/usr/bin/time -v) <= 64 MiB + BASELINE, where BASELINE is
#     the peak RSS of the same command on the legit capture alone (the
#     binary, libraries, buffers: ~8 MiB here), measured in
#     this run and printed;
#   - the legit calls (client 10.77.0.2) equal the client's ground truth,
#     every field: the attack does not cost legitimate traffic;
#   - with --threads 2: the same, the RSS bound raised by what agent/par.h
#     says the workers hold outside the memcap (~1 MiB + 2 x 7 MiB).
set -u
cd "$(dirname "$0")/../.." || exit 1
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
[[ -x /usr/bin/time ]] || { echo "SKIP: /usr/bin/time not installed (scripts/install-deps.sh)"; exit 77; }
PY=/usr/bin/python3
TAPIR=${TAPIR:-build/tapir}
MEMCAP_MB=${MEMCAP_MB:-64}
D=$(mktemp -d /tmp/tpr-attacks.XXXXXX) || exit 1
trap 'rm -rf -- "$D"' EXIT
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

if ! tests/lib/labcap.sh "$D/lab" small >"$D/labcap.log" 2>&1; then
	fail attacks/capture "$(tail -3 "$D/labcap.log")"
	echo "$passed passed, $failed failed"; exit 1
fi
LEGIT=$D/lab/cap.pcap KEYS=$D/lab/keys.log GT=$D/lab/gt.jsonl

# rss OUT CAP [options]: tapir read under /usr/bin/time -v; prints peak
# RSS in KiB
rss() {
	local out=$1 cap=$2
	shift 2
	/usr/bin/time -v -o "$out.time" timeout 600 "$TAPIR" read --memcap "${MEMCAP_MB}M" \
		--hash-bodies --keylog "$KEYS" "$@" "$cap" >"$out" 2>"$out.err" || return 1
	awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time"
}

if ! base=$(rss "$D/base.json" "$LEGIT"); then
	fail attacks/baseline "tapir exit: $(tail -n 2 "$D/base.json.err")"
	echo "$passed passed, $failed failed"; exit 1
fi
limit=$((MEMCAP_MB * 1024 + base))
PAR_KIB=$(((1 + 2 * 7) * 1024))	# --threads 2 outside the memcap (agent/par.h)
echo "baseline: peak RSS $((base / 1024)) MiB on the legit capture alone; cap: ${MEMCAP_MB} MiB memcap + baseline = $((limit / 1024)) MiB"
printf '%-16s %10s %10s %8s %s\n' attack "peak RSS" limit legit "memcap peak" >"$D/table"
for kind in ooo synflood hdrbomb chunked tlsnokeys; do
	cap=$D/$kind.pcap out=$D/$kind.json
	what=$($PY tests/lib/attackcap.py "$kind" "$LEGIT" "$cap") || { fail "attacks/$kind" "attackcap.py"; continue; }
	for mode in 1 2; do
		local_limit=$limit name=attacks/$kind opts=()
		if [[ $mode -eq 2 ]]; then
			local_limit=$((limit + PAR_KIB)) name=attacks/$kind-threads opts=(-j2)
			out=$D/$kind-j2.json
		fi
		if ! r=$(rss "$out" "$cap" "${opts[@]}"); then
			fail "$name" "tapir exit: $(tail -n 2 "$out.err" | tr '\n' ' ')"
			continue
		fi
		jq -c 'select(.flow.src | startswith("10.77.0.2:"))' "$out" >"$out.legit"
		legit=ok
		$PY tests/lib/compare.py exact "$out.legit" "$GT" >"$out.diff" 2>&1 || legit=LOST
		peak=$(grep -o 'memory peak [^,]*' "$out.err" | sed 's/memory peak //')
		printf '%-16s %7d MiB %6d MiB %8s %s\n' "$kind${opts[*]:+ -j2}" $((r / 1024)) $((local_limit / 1024)) "$legit" "$peak" >>"$D/table"
		if [[ $r -gt $local_limit ]]; then
			fail "$name" "peak RSS $((r / 1024)) MiB > $((local_limit / 1024)) MiB ($what)"
		elif [[ $legit != ok ]]; then
			fail "$name" "legitimate calls lost: $(head -n 3 "$out.diff" | tr '\n' ' ')"
		else
			pass "$name (peak RSS $((r / 1024)) MiB <= $((local_limit / 1024)) MiB, $(wc -l <"$GT") legit calls exact; $what)"
		fi
	done
	rm -f "$cap"
done
sed 's/^/  /' "$D/table"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
