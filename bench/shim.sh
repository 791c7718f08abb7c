#!/bin/bash
# shim.sh - host overhead of the keys/ preload shim: nginx requests/s under
# wrk over TLS 1.3 with a new connection per request (-H 'Connection:
# close', so every request is a full handshake and logs 5 key lines),
# without and with build/libtapir-keylog.so, in the lab's namespaces,
# measured in one run.  Target: ratio >= 0.98.
#
# How it is kept honest on a small shared machine:
#   - three nginx instances run side by side for the whole run (none, file:
#     SSLKEYLOGFILE, socket: TAPIR_KEY_SOCKET to a listener), each warmed
#     up once: no restart between runs, nothing else differs
#   - nginx (all three) pinned to one CPU, wrk and the key listener to the
#     other (taskset), when there are two
#   - rounds interleave the modes, order reversed every other round
#     (none file socket / socket file none), so drift hits all alike
#   - the ratio of each round is taken within the round (paired), and the
#     median of those ratios is the figure, with min..max as its spread
#   - beside req/s, the nginx worker's own CPU time per request
#     (/proc/PID/schedstat, ns) - other load on the machine slows wrk and
#     nginx down but hardly changes what one request costs nginx, so this
#     is the steadier measure of what the shim adds to its host
#     (cpu ratio = CPU/request without / with: comparable to req/s ratio)
# Then the per-handshake cost alone (tools/tls_pair, no network).
# Env: SHIM_BENCH_SECS (3), SHIM_BENCH_ROUNDS (8), SHIM_BENCH_CONNS (4),
# BENCH_CHECK=1 (exit 1 when a median is below target).  Needs root.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
SHIM=$ROOT/build/libtapir-keylog.so
SECS=${SHIM_BENCH_SECS:-3}
ROUNDS=${SHIM_BENCH_ROUNDS:-8}
CONNS=${SHIM_BENCH_CONNS:-4}
TARGET=0.98
[[ $(id -u) -eq 0 ]] || { echo "bench shim: SKIP (needs root for the lab)"; exit 0; }
command -v wrk >/dev/null || { echo "bench shim: SKIP (wrk not installed)"; exit 0; }
[[ -f $SHIM ]] || { echo "bench shim: $SHIM not built (make)" >&2; exit 1; }
source scripts/lab.sh
PIN_S= PIN_C=
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
	PIN_S="taskset -c 0" PIN_C="taskset -c 1"
fi

N=bshim
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	lab_down "$N"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
lab_up "$N" >/dev/null || exit 1
lab_nginx_start "$N" >/dev/null || exit 1	# makes www/ and the cert
D=$LAB_DIR
lab_nginx_stop "$N"

modes=(none file socket)
declare -A PORT=([none]=10443 [file]=10444 [socket]=10445) WORKER=()

# the listener of the socket mode, on the client's CPU (it is the agent's
# cost, not the host's)
rm -f "$D/bench.sock"
$PIN_C /usr/bin/python3 tests/lib/key_collector.py "$D/bench.sock" "$D/bench-sock.log" >/dev/null 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do [[ -S $D/bench.sock ]] && break; sleep 0.05; done

nginx_conf() {	# nginx_conf MODE: one TLS 1.3 server, no access log
	local m=$1
	mkdir -p "$D/b-$m"
	cat >"$D/b-$m/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $D/b-$m/nginx.pid;
error_log $D/b-$m/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $D/b-$m;
	proxy_temp_path $D/b-$m;
	fastcgi_temp_path $D/b-$m;
	uwsgi_temp_path $D/b-$m;
	scgi_temp_path $D/b-$m;
	default_type application/octet-stream;
	ssl_certificate $D/cert.pem;
	ssl_certificate_key $D/key.pem;
	ssl_protocols TLSv1.3;
	ssl_session_tickets off;
	ssl_session_cache off;
	server {
		listen $LAB_SRV4:${PORT[$m]} ssl;
		root $D/www;
	}
}
EOF
}

nginx_up() {	# nginx_up MODE [ENV...]: start, wait, find the worker
	local m=$1 i master
	shift
	nginx_conf "$m"
	ip netns exec "$LAB_S" env "$@" $PIN_S nginx -c "$D/b-$m/nginx.conf" \
		-p "$D/b-$m" >>"$D/b-$m/error.log" 2>&1 &
	master=$!
	PIDS+=("$master")
	for ((i = 0; i < 100; i++)); do
		WORKER[$m]=$(pgrep -P "$master" | head -n 1)
		[[ -n ${WORKER[$m]} ]] &&
			ip netns exec "$LAB_S" ss -Htln "sport = :${PORT[$m]}" | grep -q . && return 0
		sleep 0.05
	done
	echo "bench shim: nginx ($m) did not start: $(tail -2 "$D/b-$m/error.log")" >&2
	return 1
}
rm -f "$D/bench-keys.log"
nginx_up none || exit 1
nginx_up file LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/bench-keys.log" || exit 1
nginx_up socket LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock" || exit 1

oncpu() { awk '{print $1}' "/proc/$1/schedstat"; }	# ns on CPU

run() {	# run MODE SECS: "req/s requests cpu_ns_per_request"
	local m=$1 c0 c1 out
	c0=$(oncpu "${WORKER[$m]}")
	out=$(ip netns exec "$LAB_C" $PIN_C wrk -t1 -c"$CONNS" -d"${2}s" \
		-H 'Connection: close' "https://$LAB_SRV4:${PORT[$m]}/1k.bin" 2>/dev/null)
	c1=$(oncpu "${WORKER[$m]}")
	awk -v c="$((c1 - c0))" '/ requests in / {n = $1}
		/^Requests\/sec:/ {r = $2}
		END {if (n > 0) printf "%s %d %.0f\n", r, n, c / n}' <<<"$out"
}

for m in "${modes[@]}"; do run "$m" 1 >/dev/null; done	# warm-up
: >"$D/bench-keys.log"; : >"$D/bench-sock.log"
declare -A rps=() cpu=() rr=() cr=() nreq=()
for ((r = 0; r < ROUNDS; r++)); do
	order=("${modes[@]}")
	((r % 2)) && order=(socket file none)
	declare -A v=() c=()
	for m in "${order[@]}"; do
		read -r v[$m] n c[$m] < <(run "$m" "$SECS")
		[[ -n ${v[$m]:-} ]] || { echo "bench shim: wrk failed ($m)" >&2; exit 1; }
		nreq[$m]=$((${nreq[$m]:-0} + n))
		rps[$m]+="${v[$m]} " cpu[$m]+="${c[$m]} "
	done
	for m in file socket; do
		rr[$m]+="$(awk -v a="${v[$m]}" -v b="${v[none]}" 'BEGIN {printf "%.3f", a / b}') "
		cr[$m]+="$(awk -v a="${c[none]}" -v b="${c[$m]}" 'BEGIN {printf "%.3f", a / b}') "
	done
	unset v c
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
span() { tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo ".." hi}'; }

sleep 0.3
printf 'bench shim: nginx (1 worker, CPU 0), TLS 1.3, new connection per request, wrk -c%d (CPU 1), %d rounds x %ss per mode, interleaved\n' \
	"$CONNS" "$ROUNDS" "$SECS"
printf '  %-7s %9s req/s %8s us CPU/req  %s\n' none "$(median <<<"${rps[none]}")" \
	"$(median <<<"${cpu[none]}" | awk '{printf "%.1f", $1 / 1000}')" "(medians; req/s runs: ${rps[none]})"
rc=0
for m in file socket; do
	rmed=$(median <<<"${rr[$m]}") cmed=$(median <<<"${cr[$m]}")
	printf '  %-7s %9s req/s %8s us CPU/req  req/s ratio %s (%s)  cpu ratio %s (%s)\n' "$m" \
		"$(median <<<"${rps[$m]}")" "$(median <<<"${cpu[$m]}" | awk '{printf "%.1f", $1 / 1000}')" \
		"$rmed" "$(span <<<"${rr[$m]}")" "$cmed" "$(span <<<"${cr[$m]}")"
	for x in "$rmed" "$cmed"; do
		awk -v x="$x" -v t="$TARGET" 'BEGIN {exit !(x < t)}' && rc=1
	done
done
# every handshake's keys really went out (5 lines per TLS 1.3 handshake)
printf '  key lines: file %d for %d requests, socket %d for %d requests (5 per handshake)\n' \
	"$(wc -l <"$D/bench-keys.log")" "${nreq[file]}" "$(wc -l <"$D/bench-sock.log")" "${nreq[socket]}"
echo "  target: median ratio >= $TARGET: $( ((rc)) && echo 'BELOW TARGET' || echo ok)"

# The cost per handshake alone, without the network or nginx: CPU time of
# build/tools/tls_pair (client + server handshakes in one process) with and
# without the shim writing every key line.  "appcb" is the program's own
# keylog callback writing to /dev/null, no shim: OpenSSL's cost of making
# key log lines at all (it formats them byte by byte), which any key export
# through the keylog callback pays.
TOOL=$ROOT/build/tools/tls_pair
if [[ -x $TOOL ]]; then
	cpu_ticks() { local me=$BASHPID t0 t1
		t0=$(awk '{print $16+$17}' "/proc/$me/stat")
		"$@" >/dev/null
		t1=$(awk '{print $16+$17}' "/proc/$me/stat")
		echo $((t1 - t0)); }
	declare -A ct
	for ((r = 0; r < ROUNDS; r++)); do
		ct[none]+="$(cpu_ticks $PIN_S "$TOOL" -n 1000) "
		ct[appcb]+="$(cpu_ticks $PIN_S "$TOOL" -n 1000 -a /dev/null) "
		rm -f "$D/micro.log"
		ct[file]+="$(cpu_ticks env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/micro.log" $PIN_S "$TOOL" -n 1000) "
		ct[socket]+="$(cpu_ticks env LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock" $PIN_S "$TOOL" -n 1000) "
	done
	b=$(median <<<"${ct[none]}")
	echo "bench shim: 1000 in-process handshakes (tools/tls_pair), CPU ticks, median of $ROUNDS"
	printf '  %-7s %6s ticks\n' none "$b"
	for m in appcb file socket; do
		v=$(median <<<"${ct[$m]}")
		printf '  %-7s %6s ticks  ratio (without/with) %s  (runs: %s)\n' "$m" "$v" \
			"$(awk -v a="$b" -v c="$v" 'BEGIN {printf "%.3f", (c > 0) ? a / c : 0}')" "${ct[$m]}"
	done
fi
[[ ${BENCH_CHECK:-} == 1 ]] && exit $rc
exit 0
