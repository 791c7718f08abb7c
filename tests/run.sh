#!/bin/bash
# run.sh - the top-level test runner (`make test`).
#
# Runs the unit tests (tests/run-unit.sh build/tests/test_*), then every
# tests/e2e/*.sh, each in turn.  Every e2e script prints PASS/FAIL lines and
# closes with "N passed, N failed"; exit 77 means it skipped (its "SKIP:"
# line says why).  The closing line sums everything:
#   N passed, N failed, N skipped
# and the exit status is 1 if anything failed.  With CI=true a skipped e2e
# test is a failure (the CI machine is root and has every dependency).
# Options: --unit-only, --e2e-only, or e2e script names to run only those.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}

do_unit=1 do_e2e=1
only=()
for a in "$@"; do
	case $a in
	--unit-only) do_e2e=0 ;;
	--e2e-only) do_unit=0 ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) only+=("$a") ;;
	esac
done

passed=0 failed=0 skipped=0
log=$(mktemp -d /tmp/tpr-run.XXXXXX) || exit 1
trap 'rm -rf -- "$log"' EXIT

# sum_line OUTPUT_FILE: add the last "N passed, N failed" to the totals;
# returns 1 when the output has no such line.
sum_line() {
	local line p f
	line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
	[[ -n $line ]] || return 1
	p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	passed=$((passed + p)); failed=$((failed + f))
	LAST_FAILED=$f
}

if [[ $do_unit -eq 1 ]]; then
	echo "== unit"
	shopt -s nullglob
	bins=("$BUILD"/tests/test_*)
	shopt -u nullglob
	tests/run-unit.sh "${bins[@]}" 2>&1 | tee "$log/unit.out"
	rc=${PIPESTATUS[0]}
	if ! sum_line "$log/unit.out"; then
		echo "unit: no summary line (exit $rc)"; failed=$((failed + 1))
	elif [[ $rc -ne 0 && $LAST_FAILED -eq 0 ]]; then
		failed=$((failed + 1))
	fi
fi

if [[ $do_e2e -eq 1 ]]; then
	for t in tests/e2e/*.sh; do
		name=$(basename "$t" .sh)
		if [[ ${#only[@]} -gt 0 ]] && ! printf '%s\n' "${only[@]}" | grep -qxF -e "$name" -e "$t"; then
			continue
		fi
		echo "== e2e $name"
		start=$SECONDS
		bash "$t" 2>&1 | tee "$log/$name.out"
		rc=${PIPESTATUS[0]}
		if [[ $rc -eq 77 ]]; then
			why=$(grep -m1 '^SKIP' "$log/$name.out" || echo "SKIP: (no reason given)")
			if [[ ${CI:-} == true ]]; then
				echo "FAIL $name: skipped in CI ($why)"
				failed=$((failed + 1))
			else
				echo "skipped $name: ${why#SKIP: }"
				skipped=$((skipped + 1))
			fi
			continue
		fi
		if ! sum_line "$log/$name.out"; then
			echo "FAIL $name: no summary line (exit $rc)"
			failed=$((failed + 1))
		elif [[ $rc -ne 0 && $LAST_FAILED -eq 0 ]]; then
			echo "FAIL $name: exit $rc with no failed case"
			failed=$((failed + 1))
		fi
		echo "   ($name: $((SECONDS - start))s)"
	done
fi

echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
