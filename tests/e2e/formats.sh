#!/bin/bash
# formats.sh - one lab capture (TLS 1.3, TLS 1.2 and plain HTTP), rewritten
# into every input shape tapir reads; each must give exactly the calls of
# the original.  Then the ways input goes wrong: bad checksums, a truncated
# file, IP fragments, files that are not captures, malformed key logs, bad
# options - each with the exit status and message README.md promises.
source "$(dirname "$0")/../lib/common.sh"
t_init formats

RW="$PY $TLIB/pcaprewrite.py"
D=$T_DIR/formats
mkdir -p "$D/bodies"
T_CASE_DIR=$D CAP=$D/cap.pcap GT=$D/gt.jsonl KEYS=$D/keys.log
: >"$GT"; : >"$KEYS"

traffic() {
	local h=$LAB_HOST
	gt_curl --compressed --opt=--resolve --opt="$h:443:$LAB_SRV4" --opt=--tlsv1.3 \
		"GET https://$h/100k.bin" "POST https://$h/upload $(W 1k.bin)" "GET https://$h/text.txt" &&
	gt_curl --opt=--resolve --opt="$h:8443:$LAB_SRV4" \
		"GET https://$h:8443/1m.bin" "GET https://$h:8443/no/such" &&
	gt_curl "GET http://$LAB_SRV4/small.txt" "PUT http://$LAB_SRV4/dav/f.bin $(W 100k.bin)"
}

# run NAME CAPTURE [tapir options...]: tapir read into $D/NAME.json(.err);
# returns tapir's exit status
run() {
	local name=$1 cap=$2
	shift 2
	timeout 120 "$TAPIR" read --hash-bodies --keylog "$KEYS" "$@" "$cap" \
		>"$D/$name.json" 2>"$D/$name.err"
}

lab_cap_start "$T_LAB" "$CAP" || { t_fail formats/capture "tcpdump"; t_done; }
traffic >"$D/traffic.log" 2>&1 || { lab_cap_stop "$T_LAB"; t_fail formats/traffic "$(tail -2 "$D/traffic.log")"; t_done; }
lab_cap_stop "$T_LAB"

# The original: equal to the client's view, and the reference for the rest.
if run ref "$CAP" && $PY "$TLIB/compare.py" exact "$D/ref.json" "$GT" >"$D/ref.diff"; then
	t_pass formats/ethernet-pcap
else
	t_fail formats/ethernet-pcap "$(head -5 "$D/ref.diff" "$D/ref.err")"
	t_done
fi

same_as_ref() {	# NAME CAPTURE [options]: identical JSON to the original
	local name=$1
	if ! run "$@"; then
		t_fail "formats/$name" "tapir exit $?: $(head -2 "$D/$name.err")"
	elif cmp -s "$D/ref.json" "$D/$name.json"; then
		t_pass "formats/$name"
	else
		t_fail "formats/$name" "calls differ from the Ethernet capture's"
		diff <(jq -c '[.request.method,.request.path,.response.status,.errors]' "$D/ref.json") \
		     <(jq -c '[.request.method,.request.path,.response.status,.errors]' "$D/$name.json") | t__indent
	fi
}

editcap -F pcapng "$CAP" "$D/cap.pcapng" && same_as_ref pcapng "$D/cap.pcapng"
editcap -F nsecpcap "$CAP" "$D/cap-ns.pcap" && same_as_ref pcap-nanosecond "$D/cap-ns.pcap"
for m in sll sll2 raw vlan qinq; do
	if $RW "$m" "$CAP" "$D/$m.pcap"; then same_as_ref "$m" "$D/$m.pcap"; else t_fail "formats/$m" "pcaprewrite"; fi
done
cat "$CAP" | { timeout 60 "$TAPIR" read --hash-bodies --keylog "$KEYS" - >"$D/stdin.json" 2>"$D/stdin.err"; } &&
	cmp -s "$D/ref.json" "$D/stdin.json" && t_pass formats/stdin || t_fail formats/stdin "reading '-' differs"

# Checksums: a capture whose checksums verify is validated; one broken
# segment is dropped, counted, and the call it belonged to says so.
$RW fixcsum "$CAP" "$D/fix.pcap"
if run fix "$D/fix.pcap" && cmp -s "$D/ref.json" "$D/fix.json" &&
	grep -q 'bad checksums dropped: 0 (validation on)' "$D/fix.err"; then
	t_pass formats/checksums-verified
else
	t_fail formats/checksums-verified "$(grep -h 'checksum' "$D/fix.err")"
fi
$RW badcsum "$CAP" "$D/bad.pcap" >/dev/null
if run bad "$D/bad.pcap" && grep -q 'bad checksums dropped: 1 (validation on)' "$D/bad.err" &&
	[[ $(jq -s '[.[] | select(.errors | length > 0)] | length' "$D/bad.json") -ge 1 ]] &&
	! $PY "$TLIB/compare.py" exact "$D/bad.json" "$GT" >/dev/null 2>&1; then
	t_pass formats/bad-checksum-dropped-and-reported
else
	t_fail formats/bad-checksum-dropped-and-reported "$(grep -h checksum "$D/bad.err")"
fi
# --checksum off keeps the damaged segment: the calls are the original's
same_as_ref checksum-off "$D/bad.pcap" --checksum off

# IPv4 fragments are counted and skipped
$RW frag "$CAP" "$D/frag.pcap"
if run frag "$D/frag.pcap" && cmp -s "$D/ref.json" "$D/frag.json" && grep -q ' 1 fragments' "$D/frag.err"; then
	t_pass formats/ipv4-fragment-counted
else
	t_fail formats/ipv4-fragment-counted "$(head -1 "$D/frag.err")"
fi

# A truncated file: exit 0, a warning, every call it prints before the cut
# is right, and what was cut says so.
$RW trunc "$CAP" "$D/trunc.pcap" --at 0.7
if run trunc "$D/trunc.pcap" && grep -q 'truncated' "$D/trunc.err" &&
	$PY - "$D/trunc.json" "$D/ref.json" <<'PY'
import json, sys
trunc = [json.loads(l) for l in open(sys.argv[1])]
ref = [json.loads(l) for l in open(sys.argv[2])]
key = lambda c: (c["flow"]["src"], c.get("request", {}).get("path"))
refs = {key(c): c for c in ref}
ok = [c for c in trunc if not c["errors"]]
assert ok and len(trunc) < len(ref) + 5, "no complete calls"
for c in ok:
    r = refs[key(c)]
    assert c["response"].get("body_sha256") == r["response"].get("body_sha256"), key(c)
assert any(c["errors"] for c in trunc) or len(ok) < len(ref), "the cut is not visible"
PY
then
	t_pass formats/truncated-file
else
	t_fail formats/truncated-file "$(head -2 "$D/trunc.err")"
fi

# Mid-stream pickup: the capture starts inside connections.  Nothing
# crashes, the pickup is reported, and every call that claims to be complete
# is exactly the original's.
for at in 0.2 0.45 0.7; do
	$RW from "$CAP" "$D/from.pcap" --at $at
	if run from "$D/from.pcap" && grep -Eq '[1-9][0-9]* picked up mid-stream|[1-9][0-9]* mid-session' "$D/from.err" &&
		$PY - "$D/from.json" "$D/ref.json" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
ref = [json.loads(l) for l in open(sys.argv[2])]
key = lambda c: (c["flow"]["src"], c.get("request", {}).get("method"), c.get("request", {}).get("path"))
refs = {key(c): c for c in ref}
for c in got:
    if c["errors"]:
        continue
    r = refs.get(key(c))
    assert r is not None, ("invented", key(c))
    for side in ("request", "response"):
        for f in ("body_size", "body_sha256", "status", "method", "path"):
            assert c[side].get(f) == r[side].get(f), (key(c), side, f)
PY
	then
		t_pass "formats/midstream-pickup-at-$at"
	else
		t_fail "formats/midstream-pickup-at-$at" "$(head -3 "$D/from.err")"
	fi
done

# Unusable input: one clear line on stderr, exit 1
expect_exit() {	# NAME STATUS PATTERN -- command...
	local name=$1 want=$2 pat=$3 rc
	shift 4
	"$@" >"$D/$name.out" 2>"$D/$name.err"
	rc=$?
	if [[ $rc -eq $want ]] && grep -q -- "$pat" "$D/$name.err" && ! grep -qi 'segmentation\|assert' "$D/$name.err"; then
		t_pass "formats/$name"
	else
		t_fail "formats/$name" "exit $rc (want $want): $(head -2 "$D/$name.err")"
	fi
}
head -c 5000 /dev/urandom >"$D/garbage.bin"
: >"$D/empty.pcap"
head -c 20 "$CAP" >"$D/short-header.pcap"
expect_exit not-a-capture 1 'error: ' -- "$TAPIR" read "$D/garbage.bin"
expect_exit empty-file 1 'error: ' -- "$TAPIR" read "$D/empty.pcap"
expect_exit short-header 1 'error: ' -- "$TAPIR" read "$D/short-header.pcap"
expect_exit missing-file 1 'No such file' -- "$TAPIR" read "$D/nope.pcap"
expect_exit missing-keylog 1 'cannot read key log' -- "$TAPIR" read --keylog "$D/nope.keys" "$CAP"
expect_exit unwritable-output 1 'cannot open output' -- "$TAPIR" read -o /nonexistent/dir/x.json "$CAP"
expect_exit no-capture 2 'no capture file' -- "$TAPIR" read
expect_exit bad-size 2 'invalid value for --max-body' -- "$TAPIR" read --max-body 12Q "$CAP"
expect_exit bad-checksum-mode 2 'invalid value for --checksum' -- "$TAPIR" read --checksum maybe "$CAP"
expect_exit unknown-option 2 'usage' -- "$TAPIR" read --frobnicate "$CAP"
expect_exit unknown-command 2 'unknown command' -- "$TAPIR" frobnicate

# A key log with bad lines: each warned with its line number, no secret
# echoed, the good lines still decrypt everything.
{
	echo "# comment"
	echo "CLIENT_RANDOM nothex 00"
	echo "BOGUS_LABEL $(printf '%064d' 0) $(printf '%096d' 0)"
	echo "CLIENT_RANDOM $(printf '%064d' 1)"
	cat "$KEYS"
	echo "CLIENT_RANDOM $(printf '%064d' 2) $(printf 'ab%.0s' {1..47})"
} >"$D/badkeys.log"
if "$TAPIR" read --hash-bodies --keylog "$D/badkeys.log" "$CAP" >"$D/badkeys.json" 2>"$D/badkeys.err" &&
	cmp -s "$D/ref.json" "$D/badkeys.json" &&
	grep -q 'badkeys.log:2:' "$D/badkeys.err" && grep -q 'badkeys.log:3:' "$D/badkeys.err" &&
	grep -q 'badkeys.log:4:' "$D/badkeys.err" && ! grep -q "$(printf 'ab%.0s' {1..20})" "$D/badkeys.err"; then
	t_pass formats/keylog-bad-lines-warned
else
	t_fail formats/keylog-bad-lines-warned "$(grep -h 'badkeys' "$D/badkeys.err" | head -5)"
fi

# Output files hold bodies: created 0600
rm -f "$D/out.json"
if "$TAPIR" read -q --keylog "$KEYS" -o "$D/out.json" "$CAP" && [[ $(stat -c %a "$D/out.json") == 600 ]] &&
	[[ $(wc -l <"$D/out.json") -eq $(wc -l <"$D/ref.json") ]]; then
	t_pass formats/output-file-0600
else
	t_fail formats/output-file-0600 "mode $(stat -c %a "$D/out.json" 2>/dev/null)"
fi

# --threads N (agent/par.c): the same records as one thread, in an order
# that depends only on the input and N; every other behaviour as above.
sorted_same() {	# NAME A B: the same lines, order aside
	if cmp -s <(sort "$2") <(sort "$3"); then
		t_pass "formats/$1"
	else
		t_fail "formats/$1" "records differ: $(diff <(sort "$2") <(sort "$3") | head -4 | cut -c1-200)"
	fi
}
for j in 2 3; do
	run "j$j" "$CAP" -j$j && run "j$j-again" "$CAP" --threads $j ||
		t_fail "formats/threads-$j" "tapir exit: $(head -2 "$D/j$j.err")"
	sorted_same "threads-$j-same-records" "$D/ref.json" "$D/j$j.json"
	cmp -s "$D/j$j.json" "$D/j$j-again.json" && t_pass "formats/threads-$j-deterministic" ||
		t_fail "formats/threads-$j-deterministic" "two runs of -j$j differ"
	# the summary's counts are the sums of the workers' (memory aside)
	if diff <(sed 's/, memory peak.*//' "$D/ref.err") <(sed 's/, memory peak.*//' "$D/j$j.err") >"$D/j$j.sumdiff"; then
		t_pass "formats/threads-$j-summary"
	else
		t_fail "formats/threads-$j-summary" "$(head -4 "$D/j$j.sumdiff")"
	fi
done
run j2-pcapng "$D/cap.pcapng" -j2 && sorted_same threads-pcapng "$D/ref.json" "$D/j2-pcapng.json"
timeout 120 "$TAPIR" read -j2 --hash-bodies --keylog "$KEYS" - <"$CAP" >"$D/j2-stdin.json" 2>/dev/null &&
	sorted_same threads-stdin "$D/ref.json" "$D/j2-stdin.json"
run trunc "$D/trunc.pcap" && run j2-trunc "$D/trunc.pcap" -j2 && grep -q truncated "$D/j2-trunc.err" &&
	sorted_same threads-truncated-file "$D/trunc.json" "$D/j2-trunc.json"
run from "$D/from.pcap" && run j2-from "$D/from.pcap" -j2 &&
	sorted_same threads-midstream "$D/from.json" "$D/j2-from.json"
expect_exit threads-zero 2 'invalid value for --threads' -- "$TAPIR" read --threads 0 "$CAP"
expect_exit threads-too-many 2 'invalid value for --threads' -- "$TAPIR" read -j 17 "$CAP"
expect_exit threads-not-a-number 2 'invalid value for --threads' -- "$TAPIR" read -j two "$CAP"
expect_exit threads-not-a-capture 1 'error: ' -- timeout 60 "$TAPIR" read -j2 "$D/garbage.bin"
expect_exit threads-missing-file 1 'No such file' -- timeout 60 "$TAPIR" read -j2 "$D/nope.pcap"
# a failed write: every record counted as lost, as with one thread
n_ref=$(wc -l <"$D/ref.json")
expect_exit threads-output-full 1 "$n_ref records could not be written" -- \
	timeout 60 "$TAPIR" read -j2 --keylog "$KEYS" -o /dev/full "$CAP"

# --memcap is enforced: a tiny cap on the capture keeps the peak under it
# (with --threads each worker gets its share, and the sum stays under it)
memcap_ok() {	# NAME [options]
	local name=$1
	shift
	if "$TAPIR" read "$@" --memcap 1M --keylog "$KEYS" "$CAP" >"$D/$name.json" 2>"$D/$name.err" &&
		$PY - "$D/$name.err" <<'PY'
import re, sys
m = re.search(r"memory peak ([0-9.]+) (KiB|MiB) of ([0-9.]+) MiB", open(sys.argv[1]).read())
assert m and float(m.group(3)) == 1.0, m and m.groups()
peak = float(m.group(1)) * (1024 if m.group(2) == "KiB" else 1 << 20)
assert 0 < peak <= 1 << 20, peak
PY
	then
		t_pass "formats/$name-respected"
	else
		t_fail "formats/$name-respected" "$(grep -h 'memory' "$D/$name.err")"
	fi
}
memcap_ok memcap
memcap_ok threads-memcap -j2
t_done
