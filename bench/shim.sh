#!/bin/bash
# shim.sh - host overhead of the keys/ preload shim: nginx requests/s under
# wrk over TLS with a new connection per request (-H 'Connection: close',
# so every request is a full handshake and logs its keys), without and with
# build/libtapir-keylog.so, in the lab's namespaces, measured in one run.
# Rounds alternate (without, with, without, ...) so drift hits both; the
# ratio is best(with) / best(without): on a shared machine other load only
# ever slows a run down, so the best run of each is the least disturbed
# (as test_tls's perf case does).  Medians are printed too.  Target >= 0.98.
# Modes: file (SSLKEYLOGFILE) and socket (TAPIR_KEY_SOCKET, a listener
# reading the lines).  Env: SHIM_BENCH_SECS (5), SHIM_BENCH_ROUNDS (5),
# SHIM_BENCH_CONNS (32), BENCH_CHECK=1 (exit 1 below target).  Needs root.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
SHIM=$ROOT/build/libtapir-keylog.so
SECS=${SHIM_BENCH_SECS:-5}
ROUNDS=${SHIM_BENCH_ROUNDS:-7}
CONNS=${SHIM_BENCH_CONNS:-32}
[[ $(id -u) -eq 0 ]] || { echo "bench shim: SKIP (needs root for the lab)"; exit 0; }
command -v wrk >/dev/null || { echo "bench shim: SKIP (wrk not installed)"; exit 0; }
[[ -f $SHIM ]] || { echo "bench shim: $SHIM not built (make)" >&2; exit 1; }
source scripts/lab.sh
# nginx and wrk on different CPUs when there are two or more
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
lab_nginx_start "$N" >/dev/null || exit 1
D=$LAB_DIR
lab_nginx_stop "$N"

nginx_run() {	# nginx_run [ENV...]: (re)start nginx with ENV
	lab_nginx_stop "$N"
	ip netns exec "$LAB_S" env "$@" $PIN_S nginx -c "$D/nginx.conf" -p "$D" \
		>>"$D/error.log" 2>&1 &
	echo $! >"$D/nginx.master.pid"
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$LAB_S" ss -Htln 'sport = :443' | grep -q . && return 0
		sleep 0.05
	done
	echo "bench shim: nginx did not start" >&2
	return 1
}

wrk_rps() {	# "req/s requests" of one wrk run, new connection per request
	ip netns exec "$LAB_C" $PIN_C wrk -t2 -c"$CONNS" -d"${SECS}s" \
		-H 'Connection: close' "https://$LAB_SRV4:443/1k.bin" 2>/dev/null |
		awk '/ requests in / {n = $1} /^Requests\/sec:/ {print $2, n}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
best() { sort -g | tail -n 1; }		# highest
least() { sort -g | head -n 1; }	# lowest

rm -f "$D/bench.sock"
/usr/bin/python3 tests/lib/key_collector.py "$D/bench.sock" "$D/bench-sock.log" >/dev/null 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do [[ -S $D/bench.sock ]] && break; sleep 0.05; done

declare -A res
modes=(none file socket)
nginx_run && wrk_rps >/dev/null	# warm-up
for ((r = 0; r < ROUNDS; r++)); do
	for m in "${modes[@]}"; do
		case $m in
		none) nginx_run ;;
		file) rm -f "$D/bench-keys.log"
		      nginx_run LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/bench-keys.log" ;;
		socket) nginx_run LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock" ;;
		esac || exit 1
		: >"$D/bench-sock.log"
		read -r v nreq < <(wrk_rps)
		[[ -n $v ]] || { echo "bench shim: wrk failed ($m)" >&2; exit 1; }
		res[$m]+="$v "
		if [[ $r == 0 && $m != none ]]; then
			sleep 0.5
			f=$D/bench-keys.log
			[[ $m == socket ]] && f=$D/bench-sock.log
			echo "bench shim: $m mode: $(wc -l <"$f") key lines for $nreq requests (5 per TLS 1.3 handshake)"
		fi
	done
done
lab_nginx_stop "$N"

base=$(tr ' ' '\n' <<<"${res[none]}" | grep . | best)
bmed=$(tr ' ' '\n' <<<"${res[none]}" | grep . | median)
rc=0
printf 'bench shim: nginx, TLS 1.3, new connection per request, %d conns, best of %d x %ss\n' "$CONNS" "$ROUNDS" "$SECS"
printf '  %-8s %10s req/s  (median %s; runs: %s)\n' without "$base" "$bmed" "${res[none]}"
for m in file socket; do
	v=$(tr ' ' '\n' <<<"${res[$m]}" | grep . | best)
	med=$(tr ' ' '\n' <<<"${res[$m]}" | grep . | median)
	ratio=$(awk -v a="$v" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
	ok=$(awk -v x="$ratio" 'BEGIN {print (x >= 0.98) ? "ok" : "BELOW TARGET"}')
	printf '  %-8s %10s req/s  ratio %s (target >= 0.98: %s)  (median %s, ratio of medians %s; runs: %s)\n' \
		"$m" "$v" "$ratio" "$ok" "$med" \
		"$(awk -v a="$med" -v b="$bmed" 'BEGIN {printf "%.3f", a / b}')" "${res[$m]}"
	[[ $ok == ok ]] || rc=1
done

# The cost per handshake alone, without the network or nginx: CPU time of
# build/tools/tls_pair (client + server handshakes in one process) with and
# without the shim writing every key line.  "appcb" is the program's own
# keylog callback writing to /dev/null, no shim: OpenSSL's cost of making
# key log lines at all (it formats them byte by byte), which any key export
# through the keylog callback pays.
TOOL=$ROOT/build/tools/tls_pair
if [[ -x $TOOL ]]; then
	cpu() { local me=$BASHPID t0 t1
		t0=$(awk '{print $16+$17}' "/proc/$me/stat")
		"$@" >/dev/null
		t1=$(awk '{print $16+$17}' "/proc/$me/stat")
		echo $((t1 - t0)); }
	declare -A ct
	for ((r = 0; r < ROUNDS; r++)); do
		ct[none]+="$(cpu "$TOOL" -n 1000) "
		ct[appcb]+="$(cpu "$TOOL" -n 1000 -a /dev/null) "
		rm -f "$D/micro.log"
		ct[file]+="$(cpu env LD_PRELOAD="$SHIM" SSLKEYLOGFILE="$D/micro.log" "$TOOL" -n 1000) "
		ct[socket]+="$(cpu env LD_PRELOAD="$SHIM" TAPIR_KEY_SOCKET="$D/bench.sock" "$TOOL" -n 1000) "
	done
	b=$(tr ' ' '\n' <<<"${ct[none]}" | grep . | least)
	echo "bench shim: 1000 in-process handshakes (tools/tls_pair), CPU ticks, least of $ROUNDS"
	printf '  %-8s %6s ticks\n' without "$b"
	for m in appcb file socket; do
		v=$(tr ' ' '\n' <<<"${ct[$m]}" | grep . | least)
		printf '  %-8s %6s ticks  ratio (without/with) %s\n' "$m" "$v" \
			"$(awk -v a="$b" -v c="$v" 'BEGIN {printf "%.3f", (c > 0) ? a / c : 0}')"
	done
fi
[[ ${BENCH_CHECK:-} == 1 ]] && exit $rc
exit 0
