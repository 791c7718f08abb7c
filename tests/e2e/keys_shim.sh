#!/bin/bash
# keys_shim.sh - the keys/ preload shim (build/libtapir-keylog.so) on real
# programs in the lab; curl never writes a key log of its own (its
# SSLKEYLOGFILE is /dev/null), so every key tapir uses comes from the shim:
#   nginx_file     Debian's nginx (dynamic OpenSSL) under the shim,
#                  SSLKEYLOGFILE set at start (workers inherit the open file)
#   nginx_socket   the same, keys sent to a key socket (a stand-in
#                  listener, tests/lib/key_collector.py, that restarts
#                  mid-test: the shim reconnects)
#   python         a Python `ssl` server (libssl dlopen()ed with _ssl)
#   curl           the shim in the client instead: curl under LD_PRELOAD
#   coverage       tapir read --coverage (and with --threads 2: the same
#                  file) on the nginx_file capture, with the
#                  shim's keys and without: which endpoint needs key export
#   no_openssl     programs without OpenSSL under the shim are unaffected
# Each traffic case is checked like every e2e case: tapir read with the
# shim's keys == ground truth == tshark.  The same programs with the keys
# going straight into `tapir capture --key-socket` (curl with no
# SSLKEYLOGFILE at all) are in capture_keys.sh.
source "$(dirname "$0")/../lib/common.sh"
t_init keys_shim

SHIM=$T_ROOT/build/libtapir-keylog.so
D=$LAB_DIR
MY_PIDS=()
trap 'rc=$?; for p in "${MY_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; (exit $rc); t_cleanup' EXIT
[[ -f $SHIM ]] || { t_fail keys_shim "$SHIM not built"; t_done; }

# curl's own key log goes nowhere: the shim is the only source of keys.
gt_curl_nokeys() {
	$PY "$TLIB/gt_curl.py" --ns "$LAB_C" --keylog /dev/null --out "$GT" \
		--work "$T_CASE_DIR/bodies" "$@"
}

wait_port() {	# wait_port PORT: a listener in the server namespace
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$LAB_S" ss -Htln "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# nginx_shim ENV...: restart the lab's nginx under the shim with ENV.
nginx_shim() {
	lab_nginx_stop "$T_LAB"
	ip netns exec "$LAB_S" env LD_PRELOAD="$SHIM" "$@" \
		nginx -c "$D/nginx.conf" -p "$D" >>"$D/error.log" 2>&1 &
	echo $! >"$D/nginx.master.pid"
	wait_port 9443 && wait_port 8081
}

collector() {	# collector SOCKET OUT: start the stand-in key socket
	rm -f "$1"
	$PY "$TLIB/key_collector.py" "$1" "$2" >"$D/collector.out" 2>&1 &
	COLLECTOR=$!
	MY_PIDS+=("$COLLECTOR")
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -S $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

curl_both() {	# TLS 1.3 on 443 and TLS 1.2 on 8443, a few exchanges each
	local p
	for p in 443 8443; do
		gt_curl_nokeys --opt=--resolve --opt="$LAB_HOST:$p:$LAB_SRV4" \
			"GET https://$LAB_HOST:$p/1k.bin" \
			"GET https://$LAB_HOST:$p/100k.bin" \
			"POST https://$LAB_HOST:$p/upload $(W 100k.bin)" \
			"GET https://$LAB_HOST:$p/no/such" || return 1
	done
}

# ---------------------------------------------------------------- nginx
t_nginx_file() {
	curl_both || return 1
	[[ $(stat -c %a "$D/nginx-keys.log") == 600 ]] || { echo "key log mode $(stat -c %a "$D/nginx-keys.log")"; return 1; }
	cp "$D/nginx-keys.log" "$KEYS"
	grep -q '^SERVER_TRAFFIC_SECRET_0 ' "$KEYS" && grep -q '^CLIENT_RANDOM ' "$KEYS"
}
rm -f "$D/nginx-keys.log"
if nginx_shim SSLKEYLOGFILE="$D/nginx-keys.log"; then
	T_CONNS=2 t_case nginx_file t_nginx_file
else
	t_fail keys_shim/nginx_file "nginx under the shim did not start"
fi

t_nginx_socket() {
	curl_both || return 1
	# the agent restarts: the shim reconnects on the next line
	kill "$COLLECTOR" && wait "$COLLECTOR" 2>/dev/null
	collector "$D/keys.sock" "$D/sock-keys.log" || return 1
	gt_curl_nokeys --opt=--resolve --opt="$LAB_HOST:443:$LAB_SRV4" \
		"GET https://$LAB_HOST/text.txt" || return 1
	sleep 0.3
	cp "$D/sock-keys.log" "$KEYS"
}
rm -f "$D/sock-keys.log"
if collector "$D/keys.sock" "$D/sock-keys.log" &&
	nginx_shim TAPIR_KEY_SOCKET="$D/keys.sock"; then
	T_CONNS=3 t_case nginx_socket t_nginx_socket
else
	t_fail keys_shim/nginx_socket "collector or nginx did not start"
fi
lab_nginx_stop "$T_LAB"

# ---------------------------------------------------------------- python
t_python() {
	gt_curl_nokeys --opt=--resolve --opt="$LAB_HOST:9443:$LAB_SRV4" \
		"GET https://$LAB_HOST:9443/1k.bin" \
		"GET https://$LAB_HOST:9443/text.txt" \
		"GET https://$LAB_HOST:9443/100k.bin" || return 1
	cp "$D/py-keys.log" "$KEYS"
	[[ -s $KEYS ]]
}
rm -f "$D/py-keys.log"
ip netns exec "$LAB_S" env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/py-keys.log" \
	/usr/bin/python3 "$TLIB/https_server.py" "$LAB_SRV4" 9443 "$D/cert.pem" \
	"$D/key.pem" "$D/www" >"$D/pyserver.log" 2>&1 &
PYSRV=$!
MY_PIDS+=("$PYSRV")
if wait_port 9443; then
	t_case python t_python
else
	t_fail keys_shim/python "python server did not start: $(tail -2 "$D/pyserver.log")"
fi
kill "$PYSRV" 2>/dev/null; wait "$PYSRV" 2>/dev/null

# ---------------------------------------------------------------- curl
t_curl() {
	LD_PRELOAD=$SHIM TAPIR_KEY_SOCKET=$D/curl.sock curl_both || return 1
	sleep 0.3
	cp "$D/curl-keys.log" "$KEYS"
	[[ -s $KEYS ]]
}
rm -f "$D/curl-keys.log"
kill "$COLLECTOR" 2>/dev/null; wait "$COLLECTOR" 2>/dev/null
if lab_nginx_start "$T_LAB" && collector "$D/curl.sock" "$D/curl-keys.log"; then
	T_CONNS=2 t_case curl t_curl
else
	t_fail keys_shim/curl "nginx or collector did not start"
fi

# ---------------------------------------------------------------- coverage
# The nginx_file capture read with the shim's keys, then with none: the
# coverage file tells which endpoint needs key export.
coverage() {
	local c=$T_DIR/keys_shim_nginx_file
	[[ -f $c/cap.pcap ]] || { echo "no nginx_file capture"; return 1; }
	"$TAPIR" read -q --coverage "$D/cov-keys.json" --keylog "$c/keys.log" "$c/cap.pcap" >/dev/null || return 1
	: >"$D/empty.log"
	"$TAPIR" read --coverage "$D/cov-none.json" --keylog "$D/empty.log" "$c/cap.pcap" >/dev/null 2>"$D/cov-none.err" || return 1
	jq -e '.sessions == 2 and .decrypted == 2 and ([.endpoints[] | select(.needs_key_export)] | length) == 0 and
		([.endpoints[].server] | sort) == ["'"$LAB_SRV4"':443", "'"$LAB_SRV4"':8443"]' "$D/cov-keys.json" >/dev/null ||
		{ echo "with keys: $(cat "$D/cov-keys.json")"; return 1; }
	jq -e '.sessions == 2 and .decrypted == 0 and .not_decrypted.no_keys == 2 and
		([.endpoints[] | select(.needs_key_export and .sni == "'"$LAB_HOST"'")] | length) == 2' "$D/cov-none.json" >/dev/null ||
		{ echo "without keys: $(cat "$D/cov-none.json")"; return 1; }
	grep -q "coverage: $LAB_SRV4:443 $LAB_HOST: 1 TLS sessions, 0 decrypted, 1 not (1 no keys) - needs key export" "$D/cov-none.err" ||
		{ echo "summary: $(grep coverage "$D/cov-none.err")"; return 1; }
	# --threads 2: the workers' coverage merged into the same file
	"$TAPIR" read -q -j2 --coverage "$D/cov-keys-j2.json" --keylog "$c/keys.log" "$c/cap.pcap" >/dev/null &&
	"$TAPIR" read -q -j2 --coverage "$D/cov-none-j2.json" --keylog "$D/empty.log" "$c/cap.pcap" >/dev/null || return 1
	cmp <(jq -S . "$D/cov-keys.json") <(jq -S . "$D/cov-keys-j2.json") &&
	cmp <(jq -S . "$D/cov-none.json") <(jq -S . "$D/cov-none-j2.json") ||
		{ echo "--threads 2 coverage differs: $(cat "$D/cov-none-j2.json")"; return 1; }
}
if msg=$(coverage 2>&1); then
	t_pass keys_shim/coverage
else
	t_fail keys_shim/coverage "$msg"
fi

# ---------------------------------------------------------------- no OpenSSL
no_openssl() {
	local out
	LD_PRELOAD=$SHIM SSLKEYLOGFILE=$D/never.log /bin/true || { echo "/bin/true failed"; return 1; }
	LD_PRELOAD=$SHIM TAPIR_KEY_SOCKET=$D/curl.sock /bin/false && { echo "/bin/false succeeded"; return 1; }
	out=$(LD_PRELOAD=$SHIM SSLKEYLOGFILE=$D/never.log /bin/sh -c 'echo hello; exit 3')
	[[ $? -eq 3 && $out == hello ]] || { echo "sh: '$out'"; return 1; }
	[[ ! -e $D/never.log ]] || { echo "a key log was created"; return 1; }
	out=$(LD_PRELOAD=$SHIM ip -V 2>&1) || { echo "ip -V: $out"; return 1; }
	return 0
}
if msg=$(no_openssl); then
	t_pass keys_shim/no_openssl
else
	t_fail keys_shim/no_openssl "$msg"
fi
t_done
