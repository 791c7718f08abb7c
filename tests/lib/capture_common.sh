#!/bin/bash
# capture_common.sh - shared harness for tests/e2e/capture*.sh: live capture
# with `tapir capture` on a gateway between client and server.
#
# Owns: the three-namespace lab (LAB_MIDDLE=bridge in scripts/lab.sh:
# client -- p0 [br0 in the gateway namespace] p1 -- server), the tapir
# capture process it starts in the gateway namespace (stopped by PID with
# SIGTERM), and the checks after each case.  tests/lib/common.sh owns the
# rest (lab up/down, PASS/FAIL, gt_curl, the EXIT trap).
#
# tapir runs on both gateway ports, both directions, so every segment is
# seen twice (ingress of one port, egress of the other): the records must
# still come out once (dedup), which c_case checks.
#
# c_case NAME FUNC [tapir capture options]: start tapir on p0,p1, wait for
# "capturing on", run FUNC (traffic appending ground truth to $GT, keys to
# $KEYS), SIGTERM tapir, then check in order:
#   1. the traffic succeeded; tapir exited 0
#   2. tc state of p0/p1 (`tc qdisc show`, `tc filter show` ingress and
#      egress) is what it was before tapir started
#   3. no events lost to a full ring, no gaps
#   4. tapir's records == ground truth, every field (compare.py exact)
#   5. C_CHECK (a function, optional) passes
LAB_MIDDLE=bridge
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

C_IFACES=p0,p1

c_tc_state() {	# the gateway's tc state, for before/after comparison
	local d
	for d in p0 p1; do
		echo "== $d"
		ip netns exec "$LAB_B" tc qdisc show dev "$d"
		ip netns exec "$LAB_B" tc filter show dev "$d" ingress
		ip netns exec "$LAB_B" tc filter show dev "$d" egress
	done
}

# c_start OUT ERR [options]: tapir capture in the gateway; sets C_PID.
c_start() {
	local out=$1 err=$2 i
	shift 2
	ip netns exec "$LAB_B" "$TAPIR" capture -i "$C_IFACES" --hash-bodies \
		-o "$out" "$@" 2>"$err" &
	C_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q 'capturing on' "$err" 2>/dev/null && return 0
		kill -0 "$C_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# c_stop: SIGTERM, wait; returns tapir's exit status.
c_stop() {
	local rc
	[[ -n ${C_PID:-} ]] || return 0
	sleep 0.3	# last FIN/ACK through the gateway
	kill -TERM "$C_PID" 2>/dev/null
	wait "$C_PID"
	rc=$?
	C_PID=
	return $rc
}

c_cleanup() {	# EXIT: a tapir still running is stopped (it detaches)
	local rc=$?
	if [[ -n ${C_PID:-} ]] && kill -TERM "$C_PID" 2>/dev/null; then
		wait "$C_PID"
	fi
	(exit $rc)	# t_cleanup exits with the script's own status
	t_cleanup
}

# c_field ERR REGEX: the number before REGEX in tapir's final summary.
c_num() {
	grep -v '\[stats\]' "$1" | grep -oE "[0-9]+ $2" | head -1 | grep -oE '^[0-9]+'
}

# c_case NAME FUNC [tapir capture options...]: start the capture, run FUNC
# (the traffic), stop, then check: tc state unchanged, no lost ring events
# and no gaps (C_ALLOW_GAPS=1: gaps allowed; C_ALLOW_LOSS=1: both), equal to
# the ground truth (unless C_NO_EXACT=1), then C_CHECK if set.
c_case() {
	local name=$T_NAME/$1 fn=$2 rc
	shift 2
	T_CASE_DIR=$T_DIR/${name//\//_}
	mkdir -p "$T_CASE_DIR/bodies"
	GT=$T_CASE_DIR/gt.jsonl KEYS=$T_CASE_DIR/keys.log
	OUT=$T_CASE_DIR/tapir.jsonl ERR=$T_CASE_DIR/tapir.err
	: >"$GT"; : >"$KEYS"
	c_tc_state >"$T_CASE_DIR/tc.before"
	if ! c_start "$OUT" "$ERR" --keylog "$KEYS" "$@"; then
		t_fail "$name" "tapir capture did not start: $(tail -3 "$ERR" | tr '\n' ' ')"
		c_stop
		return
	fi
	"$fn" >"$T_CASE_DIR/traffic.log" 2>&1
	rc=$?
	c_stop
	local trc=$?
	c_tc_state >"$T_CASE_DIR/tc.after"
	if [[ $rc -ne 0 ]]; then
		t_fail "$name" "traffic failed (exit $rc): $(tail -3 "$T_CASE_DIR/traffic.log" | tr '\n' ' ')"
		return
	fi
	if [[ $trc -ne 0 ]]; then
		t_fail "$name" "tapir capture exit $trc: $(tail -3 "$ERR" | tr '\n' ' ')"
		return
	fi
	if ! diff -u "$T_CASE_DIR/tc.before" "$T_CASE_DIR/tc.after" >"$T_CASE_DIR/tc.diff"; then
		t_fail "$name" "tc state changed by tapir"
		t__indent <"$T_CASE_DIR/tc.diff"
		return
	fi
	local lost gaps
	lost=$(c_num "$ERR" 'events \(')
	gaps=$(grep -v '\[stats\]' "$ERR" | grep -oE 'gaps: [0-9]+' | grep -oE '[0-9]+')
	if [[ ${C_ALLOW_LOSS:-} != 1 && ( $lost != 0 || ( $gaps != 0 && ${C_ALLOW_GAPS:-} != 1 ) ) ]]; then
		t_fail "$name" "lost events $lost, gaps $gaps: $(grep -v '\[stats\]' "$ERR" | tail -3 | tr '\n' ' ')"
		return
	fi
	local und=()
	[[ -n ${T_UNDECRYPTED:-} ]] && und=(--allow-undecrypted "$T_UNDECRYPTED")
	if [[ -z ${C_NO_EXACT:-} ]] && ! $PY "$TLIB/compare.py" exact "$OUT" "$GT" "${und[@]}" >"$T_CASE_DIR/exact.diff" 2>&1; then
		t_fail "$name" "tapir differs from ground truth"
		t__indent <"$T_CASE_DIR/exact.diff"
		return
	fi
	if [[ -n ${C_CHECK:-} ]] && ! "$C_CHECK" >"$T_CASE_DIR/check.txt" 2>&1; then
		t_fail "$name" "$(head -3 "$T_CASE_DIR/check.txt" | tr '\n' ' ')"
		return
	fi
	t_pass "$name"
}

# c_init NAME: t_init without tcpdump/tshark needs, plus the EXIT trap
# that stops tapir first.
c_init() {
	t_init "$1"
	trap 'c_cleanup' EXIT
	[[ -n $LAB_B ]] || { echo "FAIL $1: no gateway namespace"; echo "0 passed, 1 failed"; exit 1; }
}
