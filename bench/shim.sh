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
# Then deterministic instruction counts (valgrind): the nginx worker per
# request, and tools/tls_pair per handshake (where the cost lies).
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
declare -A PORT=([none]=12443 [file]=12444 [socket]=12445) WORKER=()

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

# Deterministic figures, immune to the machine's other load: instructions
# executed in user space (valgrind's cachegrind, --cache-sim=no), which is
# where the keylog callback's cost lies.  Kernel work is not in them: the
# shim adds one fstat and one send (or write) per handshake side, counted
# with tools/tls_pair -c below.
#  1. the nginx worker, per request: nginx under valgrind, exactly 10 and
#     then 10 + VG_N requests (bench/shim_client.py, one connection each),
#     so (I(10 + VG_N) - I(10)) / VG_N has no start-up or exit cost in it
#  2. tools/tls_pair, per handshake pair (client + server in one process):
#     none, the program's own keylog callback ("appcb", writing to
#     /dev/null: what OpenSSL spends making key log lines at all), the shim
#     to a file, to the socket
VG_N=${SHIM_BENCH_VG_N:-100}
if command -v valgrind >/dev/null; then
	ir_of() { awk '/^summary:/ {print $2}' "$1"; }
	for m in "${modes[@]}"; do	# the timed instances are done with
		kill -QUIT "$(cat "$D/b-$m/nginx.pid")" 2>/dev/null
	done
	sleep 0.5
	nginx_vg() {	# nginx_vg MODE N [ENV...]: worker instructions for N requests
		local m=$1 n=$2 master w= i f
		shift 2
		rm -f "$D/b-$m"/cg.*
		ip netns exec "$LAB_S" env "$@" $PIN_S valgrind --tool=cachegrind --cache-sim=no \
			--cachegrind-out-file="$D/b-$m/cg.%p" nginx -c "$D/b-$m/nginx.conf" \
			-p "$D/b-$m" >>"$D/b-$m/vg.log" 2>&1 &
		master=$!
		for ((i = 0; i < 600; i++)); do
			w=$(pgrep -P "$master" | head -n 1)
			[[ -n $w ]] && ip netns exec "$LAB_S" ss -Htln "sport = :${PORT[$m]}" | grep -q . && break
			sleep 0.1
		done
		if ! ip netns exec "$LAB_C" $PIN_C /usr/bin/python3 bench/shim_client.py "$LAB_SRV4" "${PORT[$m]}" "$n" >&2; then
			echo "bench shim: client failed ($m)" >&2
			kill "$master"; wait "$master"
			return 1
		fi
		kill -QUIT "$master"
		wait "$master" 2>/dev/null
		f=$D/b-$m/cg.$w
		[[ -n $w && -s $f ]] || { echo "bench shim: no cachegrind output for the worker ($m)" >&2; return 1; }
		ir_of "$f"
	}
	declare -A ipr=()
	ok=1
	for m in "${modes[@]}"; do
		env=()
		[[ $m == file ]] && env=(LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/vg-keys.log")
		[[ $m == socket ]] && env=(LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock")
		a=$(nginx_vg "$m" 10 "${env[@]}") && b=$(nginx_vg "$m" $((10 + VG_N)) "${env[@]}") || { ok=0; break; }
		ipr[$m]=$(( (b - a) / VG_N ))
	done
	if ((ok)); then
		echo "bench shim: nginx worker, user-space instructions per request (valgrind, $VG_N requests, deterministic)"
		printf '  %-7s %10d\n' none "${ipr[none]}"
		for m in file socket; do
			printf '  %-7s %10d  ratio (without/with) %s\n' "$m" "${ipr[$m]}" \
				"$(awk -v a="${ipr[none]}" -v b="${ipr[$m]}" 'BEGIN {printf "%.3f", a / b}')"
		done
	fi

	TOOL=$ROOT/build/tools/tls_pair
	if [[ -x $TOOL ]]; then
		pair() {	# pair N [tls_pair options] -- [ENV...]: instructions of tls_pair -n N
			local n=$1 o=()
			shift
			while [[ $# -gt 0 && $1 != -- ]]; do o+=("$1"); shift; done
			shift
			env "$@" valgrind --tool=cachegrind --cache-sim=no \
				--cachegrind-out-file="$D/cg.pair" "$TOOL" -n "$n" "${o[@]}" -c "$D/pair.cnt" >/dev/null 2>&1 &&
				ir_of "$D/cg.pair"
		}
		declare -A ph=() wr=()
		for m in none appcb file socket; do
			opt=() env=()
			[[ $m == appcb ]] && opt=(-a /dev/null)
			[[ $m == file ]] && env=(LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/pair-keys.log")
			[[ $m == socket ]] && env=(LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock")
			a=$(pair 20 "${opt[@]}" -- "${env[@]}") && b=$(pair 120 "${opt[@]}" -- "${env[@]}") ||
				{ echo "bench shim: tls_pair failed ($m)" >&2; break; }
			ph[$m]=$(( (b - a) / 100 ))
			wr[$m]=$(awk '/writes/ {printf "%.1f", $6 / 120}' "$D/pair.cnt")
		done
		echo "bench shim: tools/tls_pair, user-space instructions per TLS 1.3 handshake pair (client + server, 5 key lines each)"
		printf '  %-7s %10d\n' none "${ph[none]}"
		for m in appcb file socket; do
			printf '  %-7s %10d  +%d per key line  ratio (without/with) %s%s\n' "$m" "${ph[$m]}" \
				$(( (ph[$m] - ph[none]) / 10 )) \
				"$(awk -v a="${ph[none]}" -v b="${ph[$m]}" 'BEGIN {printf "%.3f", a / b}')" \
				"$([[ $m != appcb ]] && echo "  (shim writes per pair: ${wr[$m]})")"
		done
	fi
else
	echo "bench shim: no valgrind: the instruction counts are skipped"
fi
[[ ${BENCH_CHECK:-} == 1 ]] && exit $rc
exit 0
