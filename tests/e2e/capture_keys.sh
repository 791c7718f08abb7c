#!/bin/bash
# capture_keys.sh - key delivery into `tapir capture` on the gateway lab
# (tests/lib/capture_common.sh).  Every case's records must equal curl's
# ground truth exactly (compare.py exact), unless it says otherwise.
#   shim_socket     nginx (Debian's, dynamic OpenSSL) in the server namespace
#                   under LD_PRELOAD=build/libtapir-keylog.so with
#                   TAPIR_KEY_SOCKET = tapir's --key-socket; curl writes no
#                   key log; TLS 1.3 and 1.2 all decrypted from the server's
#                   keys alone; the socket is 0600; --coverage file written
#   late_keys       curl's key log is held back and appended to the followed
#                   --keylog 2 s after the traffic: still all decrypted
#   keys_never      keys never come (--key-wait 1, --memcap 8M, 4 parallel
#                   5 MB downloads and one 1 KB): one "decrypted": false
#                   record per session with the reason (a hold bound for
#                   the big ones, --key-wait for the small one), nothing
#                   waiting at exit, memory peak within the memcap
#   follow_created  the --keylog file does not exist when tapir starts
#   follow_truncate the followed file is truncated between two sessions
#   follow_rotate   the followed file is renamed and a new one created
#   python_socket   a Python `ssl` server (tests/lib/https_server.py; libssl
#                   dlopen()ed by _ssl) under the shim with TAPIR_KEY_SOCKET;
#                   curl has no SSLKEYLOGFILE; TLS 1.3 and 1.2 decrypted
#   hostile_socket  binary garbage, a 10 MB line and 1,000 connections that
#                   never send on the key socket; while they are held, nginx's
#                   shim sends real keys: all decrypted, at most 64 open at
#                   once (the rest evicted, counted), tapir's RSS bounded
#   curl_shim       the shim in the client instead: nginx without it, curl
#                   under LD_PRELOAD with TAPIR_KEY_SOCKET and no
#                   SSLKEYLOGFILE; TLS 1.3 and 1.2 decrypted
source "$(dirname "$0")/../lib/capture_common.sh"
if ! nm "$TAPIR" 2>/dev/null | grep -qE ' T keysock_new$'; then
	echo "SKIP: key socket not in this build"
	exit 77
fi
c_init capture_keys
H=$LAB_HOST
D=$LAB_DIR
SHIM=$T_ROOT/build/libtapir-keylog.so
SOCK=$D/tapir-keys.sock
MY_PIDS=()
trap 'rc=$?; for p in "${MY_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; (exit $rc); c_cleanup' EXIT
[[ -f $SHIM ]] || { t_fail capture_keys "$SHIM not built"; t_done; }

wait_port() {	# wait_port PORT: a listener in the server namespace
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$LAB_S" ss -Htln "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# the lab's nginx, restarted under the shim (workers are root: a 0600
# root-owned socket is reachable); while no tapir listens, lines are dropped
lab_nginx_stop "$T_LAB"
ip netns exec "$LAB_S" env LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$SOCK" \
	nginx -c "$D/nginx.conf" -p "$D" >>"$D/error.log" 2>&1 &
echo $! >"$D/nginx.master.pid"
if ! wait_port 443 || ! wait_port 8443; then
	t_fail capture_keys "nginx under the shim did not start"
	t_done
fi

# curl with its keys to FILE ($1) instead of the followed $KEYS; with
# FILE "" curl has no SSLKEYLOGFILE at all (extra gt_curl.py options, such
# as --env, in CURL_ENV)
gt_curl_keys() {
	local f=$1 k=()
	shift
	[[ -n $f ]] && k=(--keylog "$f")
	$PY "$TLIB/gt_curl.py" --ns "$LAB_C" "${k[@]}" "${CURL_ENV[@]}" \
		--out "$GT" --work "$T_CASE_DIR/bodies" "$@"
}
CURL_ENV=()
both() {	# both KEYFILE: TLS 1.3 (443) and TLS 1.2 (8443) exchanges
	local f=$1 p u
	for p in 443 8443; do
		u=https://$H:$p
		gt_curl_keys "$f" --compressed --opt=--resolve --opt="$H:$p:$LAB_SRV4" \
			"GET $u/1k.bin" "GET $u/100k.bin" "POST $u/upload $(W 100k.bin)" \
			"GET $u/text.txt" "GET $u/no/such" || return 1
	done
}
all_decrypted() {
	[[ -s $OUT ]] || { echo "no records"; return 1; }
	! grep -q '"decrypted":false' "$OUT" || { echo "undecrypted records: $(grep -m1 '"decrypted":false' "$OUT")"; return 1; }
}
# stat ERR REGEX: the number before REGEX in the final (non-[stats]) lines
stat_n() { c_num "$ERR" "$1"; }
# sock_lines MIN: the key socket got at least MIN lines, none rejected
sock_lines() {
	local l n rej
	l=$(grep -v '\[stats\]' "$ERR" | grep -E 'key socket .*: [0-9]+ connections') || { echo "no key socket stats"; return 1; }
	n=$(grep -oE '[0-9]+ lines' <<<"$l" | grep -oE '^[0-9]+')
	rej=$(grep -oE '[0-9]+ rejected' <<<"$l" | grep -oE '^[0-9]+')
	[[ ${n:-0} -ge $1 && $rej == 0 ]] || { echo "key socket: $l (want >= $1 lines, 0 rejected)"; return 1; }
}

# ---------------------------------------------------------------- shim
t_shim() {
	local i
	[[ -S $SOCK && $(stat -c %a "$SOCK") == 600 ]] || { echo "socket: $(stat -c '%F %a' "$SOCK" 2>&1)"; return 1; }
	both "" || return 1
	# chk_shim wants a periodic stats line (--stats-interval 0.5): the
	# traffic may be over sooner, so let the capture run until one came
	# (at most 5 s; the check fails if none did)
	for ((i = 0; i < 100; i++)); do
		grep -q '\[stats\] key socket' "$ERR" && break
		sleep 0.05
	done
}
chk_shim() {
	all_decrypted || return 1
	[[ ! -s $KEYS ]] || { echo "the followed key log is not empty"; return 1; }
	sock_lines 2 || return 1
	jq -e '.sessions == 2 and .decrypted == 2' "$T_CASE_DIR/coverage.json" >/dev/null ||
		{ echo "coverage: $(cat "$T_CASE_DIR/coverage.json" 2>&1)"; return 1; }
	grep -q "tapir: coverage: $LAB_SRV4:443 $H: 1 TLS sessions, 1 decrypted" "$ERR" ||
		{ echo "no coverage line: $(grep coverage "$ERR")"; return 1; }
	grep -q '\[stats\] key socket' "$ERR" || { echo "no periodic key socket stats"; return 1; }
	[[ ! -e $SOCK ]] || { echo "socket left behind"; return 1; }
}
C_CHECK=chk_shim c_case shim_socket t_shim --key-socket "$SOCK" \
	--coverage "$D/cases/capture_keys_shim_socket/coverage.json" --stats-interval 0.5

# ---------------------------------------------------------------- python
# The Python server starts once tapir listens (the shim connects at its
# first SSL_CTX_new) and is stopped at the end of the case.
PYPORT=11443
t_python() {
	local u=https://$H:$PYPORT rc=0
	ip netns exec "$LAB_S" env LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$SOCK" \
		/usr/bin/python3 "$TLIB/https_server.py" "$LAB_SRV4" "$PYPORT" \
		"$D/cert.pem" "$D/key.pem" "$D/www" >"$T_CASE_DIR/pyserver.log" 2>&1 &
	PYSRV=$!
	MY_PIDS+=("$PYSRV")
	wait_port "$PYPORT" && sleep 0.2 && kill -0 "$PYSRV" 2>/dev/null ||
		{ echo "python server did not start: $(tail -2 "$T_CASE_DIR/pyserver.log")"; return 1; }
	# TLS 1.3, then TLS 1.2: one handshake each (keep-alive)
	gt_curl_keys "" --opt=--resolve --opt="$H:$PYPORT:$LAB_SRV4" \
		"GET $u/1k.bin" "GET $u/100k.bin" "GET $u/text.txt" "GET $u/no/such" || rc=1
	gt_curl_keys "" --opt=--tls-max --opt=1.2 --opt=--resolve --opt="$H:$PYPORT:$LAB_SRV4" \
		"GET $u/100k.bin" "GET $u/1k.bin" || rc=1
	kill "$PYSRV"; wait "$PYSRV" 2>/dev/null
	return $rc
}
chk_python() {
	all_decrypted || return 1
	[[ $(jq -r .tls.version "$OUT" | sort -u | tr '\n' ' ') == "TLSv1.2 TLSv1.3 " ]] ||
		{ echo "TLS versions: $(jq -r .tls.version "$OUT" | sort | uniq -c | tr '\n' ' ')"; return 1; }
	[[ ! -s $KEYS ]] || { echo "the followed key log is not empty"; return 1; }
	# TLS 1.3: 5 lines per handshake (2 handshake, 2 traffic, exporter),
	# TLS 1.2: 1
	sock_lines 6 || return 1
	jq -e '.sessions >= 2 and .decrypted == .sessions' "$T_CASE_DIR/coverage.json" >/dev/null ||
		{ echo "coverage: $(cat "$T_CASE_DIR/coverage.json" 2>&1)"; return 1; }
}
C_CHECK=chk_python c_case python_socket t_python --key-socket "$SOCK" \
	--coverage "$D/cases/capture_keys_python_socket/coverage.json"

# ---------------------------------------------------------------- late keys
t_late() {
	local held=$T_CASE_DIR/held.log
	both "$held" || return 1
	[[ -s $held ]] || { echo "curl wrote no keys"; return 1; }
	sleep 2
	cat "$held" >>"$KEYS"
	sleep 0.5
}
chk_late() {
	all_decrypted || return 1
	local late
	late=$(stat_n 'decrypted late')
	[[ ${late:-0} -ge 2 ]] || { echo "sessions decrypted late: '$late'"; return 1; }
}
C_CHECK=chk_late c_case late_keys t_late

# ---------------------------------------------------------------- keys never
t_never() {
	local i t=()
	for i in 1 2 3 4; do t+=("GET https://$H/5m.bin?conn=$i"); done
	gt_curl_keys "$T_CASE_DIR/never.log" --parallel 4 \
		--opt=--resolve --opt="$H:443:$LAB_SRV4" "${t[@]}" || return 1
	# and a small one, under the hold bound: it waits --key-wait
	gt_curl_keys "$T_CASE_DIR/never.log" --opt=--resolve --opt="$H:8443:$LAB_SRV4" \
		"GET https://$H:8443/1k.bin" || return 1
	sleep 1.5	# past --key-wait
}
chk_never() {
	local n_und n_all bad peak lim waiting
	n_all=$(grep -c . "$OUT")
	n_und=$(jq -c 'select(.tls.decrypted == false and (.tls.reason // "") != "")' "$OUT" | grep -c .)
	[[ $n_all -ge 5 && $n_und -eq $n_all ]] ||
		{ echo "$n_und of $n_all records undecrypted with a reason (want >= 5, all)"; head -c 600 "$OUT"; return 1; }
	# every reason is one of the ways of giving up: a bound on held
	# ciphertext (the session's 4 MiB, or the --memcap) or --key-wait (a
	# 5 MB download slower than 1 s on a loaded machine); the 1k session
	# on 8443 can only time out
	bad=$(jq -c 'select(.tls.reason | test("^ciphertext held for keys exceeded|^memory cap reached while holding ciphertext|^keys did not arrive within") | not)' "$OUT" | grep -c .)
	[[ $bad -eq 0 && $(jq -c 'select((.flow.dst | endswith(":8443")) and (.tls.reason | startswith("keys did not arrive within")))' "$OUT" | grep -c .) -eq 1 ]] ||
		{ echo "reasons: $(jq -r '[.flow.dst, .tls.reason] | join(" ")' "$OUT" | sort | uniq -c | tr '\n' ' ')"; return 1; }
	[[ $(stat_n 'timed out') -ge 1 ]] || { echo "timed out: $(stat_n 'timed out')"; return 1; }
	bad=$(jq -c 'select(.request.method != null or .response.status != null)' "$OUT" | grep -c .)
	[[ $bad -eq 0 ]] || { echo "invented requests/responses"; return 1; }
	echo "reasons: $(jq -r .tls.reason "$OUT" | sort | uniq -c | tr '\n' ' ')"
	waiting=$(stat_n 'TLS sessions waiting for keys now')
	[[ $waiting == 0 ]] || { echo "sessions still waiting at exit: $waiting"; return 1; }
	# memory: "memory X (peak P of L)" - the peak within the memcap
	read -r peak lim < <(grep -v '\[stats\]' "$ERR" | grep -oE 'peak [0-9.]+ [KM]iB of [0-9.]+ [KM]iB' |
		awk '{p=$2*($3=="MiB"?1024:1); l=$5*($6=="MiB"?1024:1); print p, l}')
	[[ -n $peak ]] && awk -v p="$peak" -v l="$lim" 'BEGIN{exit !(p <= l && l <= 8192)}' ||
		{ echo "memory peak ${peak}K of ${lim}K"; return 1; }
	grep -q "tapir: coverage: $LAB_SRV4:443 $H: 4 TLS sessions, 0 decrypted" "$ERR" ||
		{ echo "coverage: $(grep coverage "$ERR")"; return 1; }
}
# The 8 MiB memcap is meant to run out (held ciphertext): a segment the
# reassembler must then queue (out of order across the two hooks and CPUs)
# is refused and becomes a gap -- allowed here, lost ring events are not.
C_ALLOW_GAPS=1 C_NO_EXACT=1 C_CHECK=chk_never c_case keys_never t_never --key-wait 1 --memcap 8M

# ---------------------------------------------------------------- follow
LATER=$D/later-keys.log
t_created() {
	[[ ! -e $LATER ]] || { echo "$LATER exists"; return 1; }
	sleep 0.3
	both "$LATER"
}
rm -f "$LATER"
C_CHECK=all_decrypted c_case follow_created t_created --keylog "$LATER"

t_truncate() {
	local u=https://$H
	gt_curl_keys "$KEYS" --opt=--resolve --opt="$H:443:$LAB_SRV4" "GET $u/1k.bin" "GET $u/100k.bin" || return 1
	sleep 0.3
	: >"$KEYS"	# truncated (curl appends: the next session starts at 0)
	sleep 0.3
	gt_curl_keys "$KEYS" --opt=--resolve --opt="$H:8443:$LAB_SRV4" "GET $u:8443/text.txt" "GET $u:8443/1k.bin"
}
chk_follow() {
	all_decrypted || return 1
	local what=$1 n
	n=$(grep -v '\[stats\]' "$ERR" | grep -oE "[0-9]+ $what" | head -1 | grep -oE '^[0-9]+')
	[[ ${n:-0} -ge 1 ]] || { echo "$what: '$n': $(grep 'key log' "$ERR")"; return 1; }
}
chk_trunc() { chk_follow truncations; }
chk_rot() { chk_follow rotations; }
C_CHECK=chk_trunc c_case follow_truncate t_truncate

t_rotate() {
	local u=https://$H
	gt_curl_keys "$KEYS" --opt=--resolve --opt="$H:443:$LAB_SRV4" "GET $u/1k.bin" "GET $u/text.txt" || return 1
	sleep 0.3
	mv "$KEYS" "$KEYS.1"
	gt_curl_keys "$KEYS" --opt=--resolve --opt="$H:8443:$LAB_SRV4" "GET $u:8443/100k.bin" "GET $u:8443/1k.bin"
}
C_CHECK=chk_rot c_case follow_rotate t_rotate

# ---------------------------------------------------------------- hostile
IDLE=1000
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$C_PID/status"; }
t_hostile() {
	local rss0 rss1 rss2 i
	rss0=$(rss_kb)
	# 1,000 held sockets (and the agent's 64 + listener + epoll)
	(
		[[ $(ulimit -n) -ge $((IDLE + 100)) ]] || ulimit -n $((IDLE + 100)) ||
			{ echo "ulimit -n $((IDLE + 100)) refused"; exit 1; }
		exec $PY "$TLIB/keysock_hostile.py" "$SOCK" "$IDLE"
	) >"$T_CASE_DIR/hostile.out" 2>&1 </dev/null &
	HOSTILE=$!
	MY_PIDS+=("$HOSTILE")
	for ((i = 0; i < 1200; i++)); do
		grep -q ready "$T_CASE_DIR/hostile.out" && break
		kill -0 "$HOSTILE" 2>/dev/null || break
		sleep 0.05
	done
	grep -q ready "$T_CASE_DIR/hostile.out" || { echo "hostile client: $(cat "$T_CASE_DIR/hostile.out")"; return 1; }
	cat "$T_CASE_DIR/hostile.out"
	rss1=$(rss_kb)
	# meanwhile (the idle connections held): real calls, keys from
	# nginx's shim only (curl logs none)
	both "" || return 1
	sleep 0.6	# one --stats line with the idle clients connected
	rss2=$(rss_kb)
	echo "tapir RSS ${rss0} kB before, ${rss1} kB with the hostile clients, ${rss2} kB after the calls"
	[[ $((rss1 - rss0)) -lt 16384 && $((rss2 - rss0)) -lt 16384 ]] || { echo "RSS grew by $((rss1 - rss0)) / $((rss2 - rss0)) kB"; return 1; }
	kill "$HOSTILE"; wait "$HOSTILE" 2>/dev/null
	return 0
}
chk_hostile() {
	all_decrypted || return 1
	local l
	l=$(grep -v '\[stats\]' "$ERR" | grep -E 'key socket') || { echo "no key socket stats"; return 1; }
	echo "$l"
	local acc open rej over ev
	acc=$(grep -oE '[0-9]+ connections' <<<"$l" | grep -oE '^[0-9]+')
	ev=$(grep -oE '[0-9]+ evicted' <<<"$l" | grep -oE '^[0-9]+')
	rej=$(grep -oE '[0-9]+ rejected' <<<"$l" | grep -oE '^[0-9]+')
	over=$(grep -oE '[0-9]+ overlong' <<<"$l" | grep -oE '^[0-9]+')
	# garbage + long line + IDLE + nginx's shim; all but 64 idle evicted
	[[ $acc -ge $((IDLE + 3)) && $ev -ge $((IDLE - 64)) && $rej -ge 100 && $over -ge 1 ]] ||
		{ echo "accepted $acc, evicted $ev, rejected $rej, overlong $over"; return 1; }
	# while the idle clients were connected: at most 64 open (--stats)
	open=$(grep -E '\[stats\] key socket' "$ERR" | grep -oE '\([0-9]+ open' | grep -oE '[0-9]+' | sort -n | tail -1)
	[[ -n $open && $open -le 64 && $open -ge 60 ]] || { echo "most connections open at once: '$open'"; return 1; }
	grep -q "connect_errors" "$T_CASE_DIR/hostile.out" && { echo "hostile: $(cat "$T_CASE_DIR/hostile.out")"; return 1; }
	return 0
}
C_CHECK=chk_hostile c_case hostile_socket t_hostile --key-socket "$SOCK" --stats-interval 0.5

# ---------------------------------------------------------------- curl
# The shim in the client instead: nginx restarted without it.
t_curl() {
	CURL_ENV=(--env "LD_PRELOAD=$SHIM" --env "TAPIR_KEY_SOCKET=$SOCK")
	both ""
	local rc=$?
	CURL_ENV=()
	return $rc
}
chk_curl() {
	all_decrypted || return 1
	[[ ! -s $KEYS ]] || { echo "the followed key log is not empty"; return 1; }
	# curl: one TLS 1.3 and one TLS 1.2 handshake (5 + 1 lines)
	sock_lines 6
}
lab_nginx_stop "$T_LAB"
if lab_nginx_start "$T_LAB" >/dev/null && wait_port 443 && wait_port 8443 &&
	! tr '\0' '\n' <"/proc/$(cat "$D/nginx.master.pid")/environ" | grep -q '^LD_PRELOAD='; then
	C_CHECK=chk_curl c_case curl_shim t_curl --key-socket "$SOCK"
else
	t_fail capture_keys/curl_shim "nginx without the shim did not start"
fi
[[ -n ${KEEP:-} ]] && cp -r "$T_DIR" "$KEEP"
t_done
