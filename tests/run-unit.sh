#!/bin/bash
# Run unit-test binaries given as arguments; print each one's summary and a
# total "unit: N passed, N failed" line.  Exit 1 if any failed or crashed.
# A binary that exits 77 skipped (its "SKIP:" line says why, e.g. the BPF
# tests without root); with CI=true that is a failure.
passed=0 failed=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	if [[ $rc -eq 77 ]]; then
		echo "$(basename "$t"): $(printf '%s\n' "$out" | grep -m1 '^SKIP' || echo 'SKIP: (no reason given)')"
		[[ ${CI:-} == true ]] && failed=$((failed + 1))
		continue
	fi
	line=$(printf '%s\n' "$out" | grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [[ -z $line ]]; then
		printf '%s\n' "$out" | tail -20
		echo "$(basename "$t"): crashed or printed no summary (exit $rc)"
		failed=$((failed + 1))
		continue
	fi
	[[ $rc -ne 0 ]] && printf '%s\n' "$out" | grep -v -E ': [0-9]+ passed, [0-9]+ failed$' | tail -40
	echo "$line"
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	passed=$((passed + p)); failed=$((failed + f))
	if [[ $rc -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi
done
echo "unit: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
