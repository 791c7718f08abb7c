#!/bin/bash
# capture.sh - `tapir capture` live on a gateway (plain HTTP/1.1): the
# gateway namespace bridges client and server, tapir watches both of its
# ports in both directions (every segment seen twice: dedup), TSO/GRO left
# as the kernel sets them, 5 MB bodies, IPv4 and IPv6, 50 parallel
# connections; records must equal curl's ground truth exactly, nothing
# lost, and tc state after SIGTERM is what it was before.  Also: a start
# in the middle of a long download (pickup reported, no crash), a SIGKILLed
# run's filters removed by the next start, --config, records written while
# running, log rotation (logrotate + SIGHUP), the output's disk full.
source "$(dirname "$0")/../lib/capture_common.sh"
c_init capture
H=$LAB_HOST

mixed() {	# mixed BASE
	gt_curl --compressed "GET $1/1k.bin" "GET $1/5m.bin" \
		"POST $1/upload $(W 100k.bin)" "PUT $1/dav/up.bin $(W 1m.bin)" \
		"GET $1/text.txt" "GET $1/chunked/text.txt" "GET $1/no/such" \
		"GET $1/204" "HEAD $1/100k.bin" "GET $1/echo-json?x=1"
}
http4() { mixed "http://$LAB_SRV4"; }
http6() { mixed "http://[$LAB_SRV6]"; }
par50() {
	local i f t=()
	for i in $(seq 1 50); do
		case $((i % 5)) in
		0) f=5m.bin ;; 1|3) f=100k.bin ;; 2) f=1k.bin ;; 4) f=0.bin ;;
		esac
		t+=("GET http://$LAB_SRV4/$f?conn=$i")
	done
	gt_curl --parallel 50 "${t[@]}"
}

dups_seen() {	# every segment crossed two hooks: most were dropped once,
	# in the kernel (egress copy of a forwarded segment skipped) or by
	# the agent (same segment from two CPUs)
	local d k; d=$(c_num "$ERR" 'duplicates dropped'); k=$(c_num "$ERR" 'forwarded copies skipped')
	[[ $((${d:-0} + ${k:-0})) -gt 0 ]] || { echo "no duplicates dropped: dedup not exercised"; return 1; }
	# the bridge forwards on the CPU that received: the kernel skips
	[[ ${k:-0} -gt 0 ]] || { echo "no forwarded copies skipped in the kernel"; return 1; }
	grep -q '"iface":"p[01]"' "$OUT" || { echo "flow.iface missing"; return 1; }
	grep -q '"direction":"east-west"' "$OUT" || { echo "flow.direction missing"; return 1; }
}

C_CHECK=dups_seen c_case http11-ipv4 http4
C_CHECK=dups_seen c_case http11-ipv6 http6
# 50 x up to 5 MB at veth speed: a burst of ~50 MB of events (each
# forwarded segment copied once, on ingress, the egress copy skipped); the
# ring must hold what the agent has not read yet.  The ring is sized for a
# stalled agent on a busy machine, not for speed: bench/capture.sh
# measures the ring size such bursts need.
c_case parallel-50 par50 --ring-size 256M

# internal-net makes the lab's flows north-south
ns_check() { ! grep -q '"direction":"east-west"' "$OUT" && grep -q '"direction":"north-south"' "$OUT"; }
one() { gt_curl "GET http://$LAB_SRV4/1k.bin"; }
C_CHECK=ns_check c_case internal-net-direction one --internal-net 192.168.0.0/16

# filters: a port filter that misses the traffic gives no records
none_out() { [[ ! -s $OUT ]] || { echo "records despite --port 9"; return 1; }; }
C_NO_EXACT=1 C_CHECK=none_out c_case port-filter-miss one --port 9
C_CHECK= c_case port-filter-hit one --port 80 --net 10.77.0.0/24 --exclude-net 10.99.0.0/16

# --config FILE: keys are the long options
cfg_check() { grep -q 'ring 4 MiB' "$ERR" || { echo "config's ring-size not used"; return 1; }; }
CFG=$LAB_DIR/tapir.conf
printf '# test config\ninterface = p0\nport = 80\nring-size = 4M\nhash-bodies = yes\n' >"$CFG"
C_CHECK=cfg_check c_case config-file one --config "$CFG"

# records reach the output while tapir runs, as whole lines: a reader
# tailing the file (a log shipper) must not wait for exit or for a buffer
# to fill, nor see half a record
wait_rec() {	# wait_rec FILE PATH: a record of PATH in FILE within 5 s
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q "\"path\":\"$2\"" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no record of $2 in $1 after 5 s"
	return 1
}
live_out() {
	one && wait_rec "$OUT" /1k.bin || return
	[[ $(tail -c 1 "$OUT" | od -An -c | tr -d ' ') == '\n' ]] ||
		{ echo "output ends inside a record"; return 1; }
}
c_case records-while-running live_out

# log rotation with the shipped /etc/logrotate.d/tapir (its path and
# postrotate pointed at this case), run by logrotate itself: tapir reopens
# on SIGHUP and goes on; the rotated file keeps the records before, whole,
# the new one (0600) gets the ones after
rotate_traffic() {
	local conf=$T_CASE_DIR/logrotate.conf i
	command -v logrotate >/dev/null || { echo "logrotate not installed (scripts/install-deps.sh)"; return 1; }
	sed -e "s|^/var/log/tapir/calls.jsonl |$OUT |" \
		-e "s|systemctl kill .*|kill -HUP $C_PID|" dist/tapir.logrotate >"$conf"
	gt_curl "GET http://$LAB_SRV4/1k.bin" && wait_rec "$OUT" /1k.bin || return
	logrotate -f -s "$T_CASE_DIR/logrotate.state" "$conf" || { echo "logrotate failed"; return 1; }
	# logrotate moved the file away and does not create one (nocreate):
	# tapir does, when it reopens on the SIGHUP
	for ((i = 0; i < 50; i++)); do [[ -e $OUT ]] && break; sleep 0.1; done
	[[ -e $OUT ]] || { echo "$OUT not reopened 5 s after logrotate's SIGHUP"; return 1; }
	gt_curl "GET http://$LAB_SRV4/100k.bin" && wait_rec "$OUT" /100k.bin
}
rotated() {
	[[ -f $OUT.1 ]] || { echo "no rotated file $OUT.1: $(ls "$T_CASE_DIR")"; return 1; }
	[[ $(wc -l <"$OUT.1") -eq 1 ]] && grep -q '"path":"/1k.bin"' "$OUT.1" ||
		{ echo "rotated file: want the /1k.bin record only, got $(wc -l <"$OUT.1") lines"; return 1; }
	[[ $(wc -l <"$OUT") -eq 1 ]] && grep -q '"path":"/100k.bin"' "$OUT" ||
		{ echo "new file: want the /100k.bin record only, got $(wc -l <"$OUT") lines"; return 1; }
	[[ $(stat -c %a "$OUT") == 600 ]] || { echo "new file mode $(stat -c %a "$OUT")"; return 1; }
	# both files together are the ground truth, exactly
	cat "$OUT.1" "$OUT" >"$T_CASE_DIR/both.jsonl"
	$PY "$TLIB/compare.py" exact "$T_CASE_DIR/both.jsonl" "$GT"
}
C_NO_EXACT=1 C_CHECK=rotated c_case logrotate-sighup rotate_traffic

# ---- the output's disk fills: said once, every record from then on
# counted (written + lost = calls, exactly), exit status 1; after space is
# freed, SIGHUP resumes writing
diskfull() {
	local name=$T_NAME/output-disk-full d=$T_DIR/diskfull i t=() w lost calls rc
	local mnt=$T_DIR/diskfull-mnt
	T_CASE_DIR=$d; mkdir -p "$d/bodies" "$mnt"
	GT=$d/gt.jsonl KEYS=$d/keys.log; : >"$GT"; : >"$KEYS"
	mount -t tmpfs -o size=16k,mode=0700 tpr-diskfull "$mnt" || { t_fail "$name" "cannot mount a 16 KiB tmpfs"; return; }
	# unmounted on every path, also when the script is stopped
	trap 'dfrc=$?; c_stop; umount "'"$mnt"'" 2>/dev/null; (exit $dfrc); c_cleanup' EXIT
	df_fail() { t_fail "$name" "$1"; c_stop; umount "$mnt"; trap 'c_cleanup' EXIT; }
	c_start "$mnt/out.jsonl" "$d/tapir.err" || { df_fail "tapir did not start"; return; }
	# 30 records of ~2.5 KB (1 KiB binary bodies, base64): > 16 KiB
	for i in $(seq 1 30); do t+=("GET http://$LAB_SRV4/1k.bin?n=$i"); done
	gt_curl "${t[@]}" >"$d/traffic.log" 2>&1 || { df_fail "traffic failed"; return; }
	for ((i = 0; i < 50; i++)); do grep -q 'counted as lost' "$d/tapir.err" && break; sleep 0.1; done
	[[ $(grep -c 'counted as lost' "$d/tapir.err") -eq 1 ]] || { df_fail "the write error was not logged once: $(grep -c 'counted as lost' "$d/tapir.err")"; return; }
	w=$(wc -l <"$mnt/out.jsonl")	# whole records that made it
	rm -f "$mnt/out.jsonl"
	kill -HUP "$C_PID"
	for ((i = 0; i < 50; i++)); do [[ -e $mnt/out.jsonl ]] && break; sleep 0.1; done
	[[ -e $mnt/out.jsonl ]] || { df_fail "not reopened after SIGHUP"; return; }
	# a small record: the freed 16 KiB must hold it
	gt_curl "GET http://$LAB_SRV4/204" >>"$d/traffic.log" 2>&1 || { df_fail "traffic failed"; return; }
	wait_rec "$mnt/out.jsonl" /204 >>"$d/traffic.log" || { df_fail "no record written after SIGHUP"; return; }
	c_stop; rc=$?
	cp "$mnt/out.jsonl" "$d/after.jsonl"; umount "$mnt"; trap 'c_cleanup' EXIT
	lost=$(c_num "$d/tapir.err" 'records could not be written')
	calls=$(c_num "$d/tapir.err" 'calls \(')
	[[ $rc -eq 1 ]] || { t_fail "$name" "exit status $rc, want 1 (records were lost)"; return; }
	[[ $(wc -l <"$d/after.jsonl") -eq 1 ]] || { t_fail "$name" "$(wc -l <"$d/after.jsonl") records after SIGHUP, want 1"; return; }
	[[ ${lost:-0} -ge 1 && $((w + lost + 1)) -eq ${calls:-0} ]] ||
		{ t_fail "$name" "written $w + lost ${lost:-?} + 1 after SIGHUP != ${calls:-?} calls"; return; }
	t_pass "$name ($w written, $lost lost, 1 after SIGHUP)"
}
diskfull

# ---- started in the middle of a long download
pickup() {
	local name=$T_NAME/midstream-pickup d=$T_DIR/pickup cpid rc
	T_CASE_DIR=$d; mkdir -p "$d"
	c_tc_state >"$d/tc.before"
	# a slow reader with a small receive buffer keeps the download
	# going (curl --limit-rate reads from a socket buffer that already
	# holds the whole body): ~640 KB/s until tapir is up ($d/go), then
	# ~1 s more at ~3 MB/s, then as fast as it can.  Exit 2 if the body
	# ended before tapir was up (a slow start under load): no pickup to see.
	ip netns exec "$LAB_C" $PY - "$LAB_SRV4" "$d/go" <<'PYEOF' &
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.connect((sys.argv[1], 80))
s.sendall(b"GET /5m.bin HTTP/1.1\r\nHost: tapir.test\r\nConnection: close\r\n\r\n")
n, go = 0, None
while True:
    b = s.recv(32768)
    if not b:
        break
    n += len(b)
    if go is None and os.path.exists(sys.argv[2]):
        go = time.monotonic()
    if go is None:
        time.sleep(0.05)
    elif time.monotonic() - go < 1:
        time.sleep(0.01)
sys.exit(2 if go is None else 0 if n > 5242880 else 1)
PYEOF
	cpid=$!
	sleep 1
	if ! c_start "$d/tapir.jsonl" "$d/tapir.err"; then
		t_fail "$name" "tapir did not start"; kill "$cpid"; wait "$cpid"; return
	fi
	touch "$d/go"
	wait "$cpid"; rc=$?
	c_stop || { t_fail "$name" "tapir exit $?: $(tail -3 "$d/tapir.err" | tr '\n' ' ')"; return; }
	c_tc_state >"$d/tc.after"
	[[ $rc -ne 2 ]] || { t_fail "$name" "the download ended before tapir was up"; return; }
	[[ $rc -eq 0 ]] || { t_fail "$name" "download failed ($rc)"; return; }
	diff -q "$d/tc.before" "$d/tc.after" >/dev/null || { t_fail "$name" "tc state changed"; return; }
	local m; m=$(c_num "$d/tapir.err" 'picked up mid-stream')
	[[ ${m:-0} -ge 1 ]] || { t_fail "$name" "pickup not reported: $(grep agent: "$d/tapir.err" | tail -1)"; return; }
	t_pass "$name"
}
pickup

# ---- a SIGKILLed run leaves its filters; the next start removes them
leftovers() {
	local name=$T_NAME/crash-leftovers d=$T_DIR/leftovers n
	mkdir -p "$d"
	c_start "$d/a.jsonl" "$d/a.err" || { t_fail "$name" "first start"; return; }
	kill -KILL "$C_PID"; wait "$C_PID" 2>/dev/null; C_PID=
	n=$(ip netns exec "$LAB_B" tc filter show dev p0 ingress | grep -c 'handle 0x7a70')
	[[ $n -eq 1 ]] || { t_fail "$name" "SIGKILL left $n filters on p0 ingress, want 1"; return; }
	c_tc_state >"$d/tc.killed"
	c_start "$d/b.jsonl" "$d/b.err" || { t_fail "$name" "second start"; return; }
	grep -q 'left by an earlier run' "$d/b.err" || { t_fail "$name" "leftovers not reported"; c_stop; return; }
	n=$(ip netns exec "$LAB_B" tc filter show dev p0 ingress | grep -c 'handle 0x7a70')
	[[ $n -eq 1 ]] || { t_fail "$name" "$n filters on p0 ingress while running, want 1"; c_stop; return; }
	c_stop || { t_fail "$name" "second run exit status"; return; }
	n=$(c_tc_state | grep -c 'handle 0x7a70')
	[[ $n -eq 0 ]] || { t_fail "$name" "$n tapir filters after SIGTERM"; return; }
	# the clsact the killed run created stays (this run did not create it)
	ip netns exec "$LAB_B" tc qdisc show dev p0 | grep -q clsact || { t_fail "$name" "clsact removed though not ours"; return; }
	ip netns exec "$LAB_B" tc qdisc del dev p0 clsact
	ip netns exec "$LAB_B" tc qdisc del dev p1 clsact
	t_pass "$name"
}
leftovers

# ---- an existing clsact with someone else's filter is left alone
foreign() {
	local name=$T_NAME/foreign-filter-untouched d=$T_DIR/foreign
	mkdir -p "$d"
	ip netns exec "$LAB_B" tc qdisc add dev p0 clsact
	ip netns exec "$LAB_B" tc filter add dev p0 ingress prio 7 protocol ip u32 match u32 0 0 flowid 1:1
	c_tc_state >"$d/tc.before"
	c_start "$d/o.jsonl" "$d/o.err" || { t_fail "$name" "start"; return; }
	c_stop || { t_fail "$name" "exit status"; return; }
	c_tc_state >"$d/tc.after"
	ip netns exec "$LAB_B" tc qdisc del dev p0 clsact
	diff -u "$d/tc.before" "$d/tc.after" >"$d/tc.diff" || { t_fail "$name" "tc state changed"; t__indent <"$d/tc.diff"; return; }
	t_pass "$name"
}
foreign
t_done
