#!/bin/bash
# common.sh - shared harness for tests/e2e/*.sh (source it; needs bash).
#
# Owns: the per-test lab (one pair of namespaces + nginx, via scripts/lab.sh),
# the case loop (capture -> traffic -> tshark oracle -> tapir -> compare),
# the PASS/FAIL lines and the closing "N passed, N failed" line, and the
# EXIT trap that tears the lab down whatever happens.
# Does not own: what traffic a case sends (the test script's functions).
#
# A case is `t_case NAME FUNC [oracle args]`: FUNC runs the traffic and must
# append ground truth to $GT and keys to $KEYS (gt_curl / gt_pipe below do).
# Checks, in order, each failing the case with its reason:
#   1. the traffic itself succeeded (curl/python exit 0)
#   2. lab self-check: tshark's (method, path, status) == ground truth
#   3. tapir read --hash-bodies --keylog KEYS CAP exits 0
#   4. tapir == ground truth, every field, no errors on complete exchanges
#   5. tapir == tshark on (method, path, status)
#   6. tapir read --threads 2: the same records (order aside) and counts
# Per-case knobs (set as VAR=... t_case ...):
#   T_NO_TSHARK=why      tshark is known to misread the case: skip 2 and 5
#   T_TSHARK_REQ=why     tshark is known to misread the responses (pipelines):
#                        2 and 5 compare (method, path) only
#   T_HEX=0x1301         lab check: every ServerHello chose this suite
#   T_ETM=yes|no         lab check: ServerHello has / lacks encrypt_then_mac
#   T_CONNS=N            lab check: exactly N TCP connections (SYNs)
#   T_RETRANS=1          lab check: the capture holds TCP loss/retransmissions
#   T_TLS="VER CIPHER"   tapir check: tls.version / tls.cipher / sni of all
#   T_UNDECRYPTED=N      >= N records are a session without keys (set aside)
#   T_CHECK=FUNC         tapir check: FUNC TAPIR_JSONL must succeed (its
#                        output is the failure's reason)
#   T_H2=1               tapir check: every record is HTTP/2 (http_version
#                        "2", a stream_id); T_PUSHED=N: exactly N pushed
# Env: TAPIR (default build/tapir), LAB_ONLY=1 (stop after step 2: tests the
# lab without tapir), TPR_ARTIFACTS (failed cases are copied there; default
# build/e2e-failures), V=1 (per-case traffic time, exchanges, packets).

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$T_ROOT" || exit 1
# shellcheck source=../../scripts/lab.sh
source "$T_ROOT/scripts/lab.sh"

PY=/usr/bin/python3
TLIB=$T_ROOT/tests/lib
TAPIR=${TAPIR:-build/tapir}
# tshark decodes these as TLS (8443/9443 are not all in its default list)
T_TLS_PORTS=(-d 'tcp.port==8443,tls' -d 'tcp.port==9443,tls' -d 'tcp.port==10443,tls' -d 'tcp.port==10444,tls')
[[ $TAPIR == /* ]] || TAPIR=$T_ROOT/$TAPIR
T_PASSED=0
T_FAILED=0
T_NAME=
T_LAB=

# t_init NAME: root check (exit 77 = skip), lab up, nginx up, EXIT trap.
t_init() {
	T_NAME=$1
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: needs root"
		exit 77
	fi
	local tool
	for tool in ip nginx curl tcpdump tshark openssl jq /usr/bin/python3; do
		command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
	done
	if [[ -z ${LAB_ONLY:-} && ! -x $TAPIR ]]; then
		echo "FAIL $T_NAME: $TAPIR not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
	T_LAB=$T_NAME
	trap 't_cleanup' EXIT
	trap 'exit 130' INT TERM
	lab_up "$T_LAB" || { echo "FAIL $T_NAME: lab_up failed"; echo "0 passed, 1 failed"; exit 1; }
	T_DIR=$LAB_DIR/cases
	mkdir -p "$T_DIR"
	if [[ -z ${T_NO_NGINX:-} ]]; then
		lab_nginx_start "$T_LAB" || { echo "FAIL $T_NAME: nginx failed"; echo "0 passed, 1 failed"; exit 1; }
	fi
}

t_cleanup() {
	local rc=$?
	[[ -n $T_LAB ]] && lab_down "$T_LAB"
	exit $rc
}

t_pass() { echo "PASS $1"; T_PASSED=$((T_PASSED + 1)); }
t_fail() {
	echo "FAIL $1: $2"
	T_FAILED=$((T_FAILED + 1))
	if [[ -n ${T_CASE_DIR:-} && -d $T_CASE_DIR ]]; then
		local keep=${TPR_ARTIFACTS:-$T_ROOT/build/e2e-failures}/$1
		rm -rf "$keep" && mkdir -p "$keep" && cp -r "$T_CASE_DIR"/. "$keep"/ 2>/dev/null &&
			echo "  artifacts: $keep"
	fi
}

# t_done: the closing line and the exit status.
t_done() {
	echo "$T_PASSED passed, $T_FAILED failed"
	[[ $T_FAILED -eq 0 ]] && exit 0
	exit 1
}

# Indent a command's report under the FAIL line.
t__indent() { sed 's/^/    /' | head -${T_MAX_LINES:-40}; }

# ------------------------------------------------------------ traffic
# gt_curl [gt_curl.py options] TRANSFER...  (client namespace, $KEYS, $GT)
gt_curl() {
	$PY "$TLIB/gt_curl.py" --ns "$LAB_C" --keylog "$KEYS" --out "$GT" \
		--work "$T_CASE_DIR/bodies" "$@"
}
# gt_nghttp [gt_nghttp.py options] URI...  (client namespace, $GT; response
# hashes from curl's lines already in $GT; --tls adds the key log via the
# preload shim)
gt_nghttp() {
	local tls=()
	if [[ ${1:-} == --tls ]]; then
		shift
		tls=(--keylog "$KEYS" --shim "$T_ROOT/build/libtapir-keylog.so")
	fi
	$PY "$TLIB/gt_nghttp.py" --ns "$LAB_C" --out "$GT" --like "$GT" "${tls[@]}" "$@"
}
# gt_pipe [gt_pipe.py options] REQUEST...   (client namespace, $KEYS, $GT)
gt_pipe() {
	timeout 120 ip netns exec "$LAB_C" $PY "$TLIB/gt_pipe.py" --keylog "$KEYS" --out "$GT" "$@"
}
W() { echo "$LAB_DIR/www/$1"; }   # path of a served file (also an upload body)

# ------------------------------------------------------------ cases
# t_tapir CAP KEYS OUT: run tapir, stderr to OUT.err.  Returns its status.
t_tapir() {
	local cap=$1 keys=$2 out=$3
	timeout 300 "$TAPIR" read --hash-bodies --keylog "$keys" "$cap" >"$out" 2>"$out.err"
}

# t_case NAME FUNC [tshark_oracle args...]   (T_ONLY=REGEX: only cases whose
# name matches run; for debugging one case)
t_case() {
	[[ -n ${T_ONLY:-} && ! $1 =~ $T_ONLY ]] && return 0
	local name=$T_NAME/$1 fn=$2
	shift 2
	T_CASE_DIR=$T_DIR/${name//\//_}
	mkdir -p "$T_CASE_DIR/bodies"
	CAP=$T_CASE_DIR/cap.pcap GT=$T_CASE_DIR/gt.jsonl KEYS=$T_CASE_DIR/keys.log
	: >"$GT"; : >"$KEYS"
	if ! lab_cap_start "$T_LAB" "$CAP" 2>"$T_CASE_DIR/cap.err"; then
		t_fail "$name" "tcpdump did not start: $(head -3 "$T_CASE_DIR/cap.err")"
		return
	fi
	local t0=$SECONDS
	"$fn" >"$T_CASE_DIR/traffic.log" 2>&1
	local rc=$?
	if ! lab_cap_stop "$T_LAB" 2>"$T_CASE_DIR/cap.err"; then
		cp "$LAB_DIR/tcpdump.err" "$T_CASE_DIR/" 2>/dev/null
		t_fail "$name" "capture incomplete: $(cat "$T_CASE_DIR/cap.err")"
		return
	fi
	cp "$LAB_DIR/tcpdump.err" "$T_CASE_DIR/" 2>/dev/null
	if ! $PY "$TLIB/pcap_check.py" "$CAP" >"$T_CASE_DIR/pcap_check.txt" 2>&1; then
		t_fail "$name" "capture unusable: $(cat "$T_CASE_DIR/pcap_check.txt")"
		return
	fi
	if [[ $rc -ne 0 ]]; then
		t_fail "$name" "traffic failed (exit $rc): $(tail -3 "$T_CASE_DIR/traffic.log" | tr '\n' ' ')"
		return
	fi
	[[ -n ${V:-} ]] && echo "  $name: traffic $((SECONDS - t0))s, $(wc -l <"$GT") exchanges, $(stat -c %s "$CAP") bytes, $(cat "$T_CASE_DIR/pcap_check.txt")"
	# 2. lab self-check against tshark (T_NO_TSHARK=reason: tshark is known
	# to misread this case, so tapir is checked against ground truth only)
	T_TSHARK_MODE=triples
	[[ -n ${T_TSHARK_REQ:-} ]] && T_TSHARK_MODE=requests
	if [[ -n ${T_NO_TSHARK:-} ]]; then
		: >"$T_CASE_DIR/tshark.jsonl"
	else
		if ! $PY "$TLIB/tshark_oracle.py" "$CAP" --keylog "$KEYS" --tls-port 8443 --tls-port 9443 "$@" >"$T_CASE_DIR/tshark.jsonl" 2>"$T_CASE_DIR/tshark.err"; then
			t_fail "$name" "tshark oracle failed: $(tail -2 "$T_CASE_DIR/tshark.err" | tr '\n' ' ')"
			return
		fi
		if ! $PY "$TLIB/compare.py" "$T_TSHARK_MODE" "$T_CASE_DIR/tshark.jsonl" "$GT" --label-a tshark --label-b truth >"$T_CASE_DIR/lab.diff"; then
			t_fail "$name" "lab self-check: tshark disagrees with ground truth"
			t__indent <"$T_CASE_DIR/lab.diff"
			return
		fi
	fi
	if ! t__lab_checks >"$T_CASE_DIR/labcheck.txt" 2>&1; then
		t_fail "$name" "lab check: $(head -3 "$T_CASE_DIR/labcheck.txt" | tr '\n' ' ')"
		return
	fi
	if [[ -n ${LAB_ONLY:-} ]]; then
		local how="tshark agrees"
		[[ -n ${T_NO_TSHARK:-} ]] && how="no tshark: $T_NO_TSHARK"
		[[ -n ${T_TSHARK_REQ:-} ]] && how="tshark agrees on requests only: $T_TSHARK_REQ"
		t_pass "$name (lab only: $(wc -l <"$GT") exchanges, $how)"
		return
	fi
	t_check_tapir "$name"
}

# Facts about the capture itself, so a case proves what it claims to test.
# One tshark pass: SYNs (connections) and ServerHellos (suite, extensions).
t__lab_checks() {
	[[ -n ${T_HEX:-}${T_ETM:-}${T_CONNS:-}${T_RETRANS:-} ]] || return 0
	local facts syns n_sh suites n_etm
	facts=$(tshark -n -r "$CAP" "${T_TLS_PORTS[@]}" \
		-Y 'tls.handshake.type == 2 || (tcp.flags.syn == 1 && tcp.flags.ack == 0)' \
		-T fields -E occurrence=a -E aggregator=, \
		-e tls.handshake.ciphersuite -e tls.handshake.extension.type 2>/dev/null)
	syns=$(awk -F'\t' '$1 == ""' <<<"$facts" | grep -c .)
	n_sh=$(awk -F'\t' '$1 != ""' <<<"$facts" | grep -c .)
	suites=$(awk -F'\t' '$1 != "" {print $1}' <<<"$facts" | sort -u | tr '\n' ' ')
	n_etm=$(awk -F'\t' '$1 != "" && ("," $2 ",") ~ /,22,/' <<<"$facts" | grep -c .)
	if [[ -n ${T_HEX:-} && $suites != "$T_HEX " ]]; then
		echo "ServerHello suites '$suites', want $T_HEX"; return 1
	fi
	if [[ ${T_ETM:-} == yes && ( $n_sh -eq 0 || $n_etm -ne $n_sh ) ]]; then
		echo "encrypt_then_mac in $n_etm of $n_sh ServerHellos, want all"; return 1
	fi
	if [[ ${T_ETM:-} == no && $n_etm -ne 0 ]]; then
		echo "encrypt_then_mac in $n_etm of $n_sh ServerHellos, want none"; return 1
	fi
	if [[ -n ${T_CONNS:-} && $syns -ne $T_CONNS ]]; then
		echo "$syns TCP connections, want $T_CONNS"; return 1
	fi
	if [[ -n ${T_RETRANS:-} ]]; then
		local n
		n=$(tshark -n -r "$CAP" -Y 'tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.out_of_order || tcp.analysis.lost_segment' 2>/dev/null | grep -c .)
		[[ $n -gt 0 ]] || { echo "no TCP loss or retransmission in the capture"; return 1; }
		echo "$n lost/retransmitted/out-of-order segments"
	fi
	return 0
}

# t_check_tapir NAME: steps 3-5 on $CAP $KEYS $GT.
t_check_tapir() {
	local name=$1 out=$T_CASE_DIR/tapir.jsonl rc
	t_tapir "$CAP" "$KEYS" "$out"
	rc=$?
	if [[ $rc -ne 0 ]]; then
		t_fail "$name" "tapir read exit $rc: $(tail -3 "$out.err" | tr '\n' ' ')"
		return
	fi
	local und=()
	[[ -n ${T_UNDECRYPTED:-} ]] && und=(--allow-undecrypted "$T_UNDECRYPTED")
	if ! $PY "$TLIB/compare.py" exact "$out" "$GT" "${und[@]}" >"$T_CASE_DIR/exact.diff" 2>&1; then
		t_fail "$name" "tapir differs from ground truth"
		t__indent <"$T_CASE_DIR/exact.diff"
		return
	fi
	if [[ -z ${T_NO_TSHARK:-} ]] && ! $PY "$TLIB/compare.py" "$T_TSHARK_MODE" "$out" "$T_CASE_DIR/tshark.jsonl" "${und[@]}" --label-b tshark >"$T_CASE_DIR/tshark.diff" 2>&1; then
		t_fail "$name" "tapir differs from tshark"
		t__indent <"$T_CASE_DIR/tshark.diff"
		return
	fi
	if [[ -n ${T_H2:-} ]]; then
		local bad pushed
		bad=$(jq -c 'select(.http_version != "2" or (.stream_id | type) != "number")' "$out" | head -3)
		if [[ -n $bad ]]; then
			t_fail "$name" "records not HTTP/2: $bad"
			return
		fi
		pushed=$(jq -c 'select(.pushed == true)' "$out" | grep -c .)
		if [[ -n ${T_PUSHED:-} && $pushed -ne $T_PUSHED ]]; then
			t_fail "$name" "$pushed records marked pushed, want $T_PUSHED"
			return
		fi
	fi
	if [[ -n ${T_CHECK:-} ]] && ! "$T_CHECK" "$out" >"$T_CASE_DIR/check.diff" 2>&1; then
		t_fail "$name" "$T_CHECK failed"
		t__indent <"$T_CASE_DIR/check.diff"
		return
	fi
	if [[ -n ${T_TLS:-} ]]; then
		# only the decrypted records: T_UNDECRYPTED ones say decrypted=false
		local dec=$T_CASE_DIR/tapir.decrypted.jsonl
		jq -c 'select(.tls.decrypted != false)' "$out" >"$dec"
		if ! $PY "$TLIB/compare.py" tls "$dec" --version "${T_TLS% *}" --cipher "${T_TLS#* }" \
			--sni "$LAB_HOST" >"$T_CASE_DIR/tls.diff" 2>&1; then
			t_fail "$name" "tapir's tls facts differ"
			t__indent <"$T_CASE_DIR/tls.diff"
			return
		fi
	fi
	# 6. the same capture with two worker threads (`--threads 2`, par.c):
	# the same records in another order, the same summary counts
	local o2=$T_CASE_DIR/tapir-j2.jsonl
	if ! timeout 300 "$TAPIR" read -j2 --hash-bodies --keylog "$KEYS" "$CAP" >"$o2" 2>"$o2.err"; then
		t_fail "$name" "tapir read -j2 exit $?: $(tail -3 "$o2.err" | tr '\n' ' ')"
		return
	fi
	if ! cmp -s <(sort "$out") <(sort "$o2"); then
		t_fail "$name" "tapir read -j2 differs from one thread"
		diff <(sort "$out") <(sort "$o2") | head -4 | cut -c1-300 | t__indent
		return
	fi
	if ! diff <(sed 's/, memory peak.*//' "$out.err") <(sed 's/, memory peak.*//' "$o2.err") >"$T_CASE_DIR/j2.sumdiff"; then
		t_fail "$name" "tapir read -j2's summary differs from one thread's"
		t__indent <"$T_CASE_DIR/j2.sumdiff"
		return
	fi
	t_pass "$name"
}
