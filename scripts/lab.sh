#!/bin/bash
# lab.sh - the real-traffic lab: two network namespaces (client, server)
# joined by a veth pair, nginx in the server namespace, tcpdump in the client
# namespace.  Sourceable library (lab_* functions) and a small CLI.
#
# Owns: the namespaces tpr-<owner>-<name>-{c,s}, the veth pair inside them
# (eth0 in each, created directly in the namespaces so nothing is ever
# named in the root namespace), the lab directory ${TMPDIR:-/tmp}/tpr-<owner>-<name>,
# and the processes it starts (nginx, tcpdump), stopped by PID.
# Does not own: the traffic (tests/lib/gt_*.py) nor the comparisons.
#
# Invariants: every name carries the owner PID (the sourcing shell, or for the
# CLI its parent shell), so parallel runs never collide, and lab_reap_stale
# removes only labs whose owner PID is dead.  lab_down is idempotent and safe
# to call from an EXIT trap at any point of lab_up.
#
# LAB_MIDDLE=bridge puts a third namespace tpr-<owner>-<name>-b with a
# bridge between the two (for loss injection with nft's bridge family).
#
# Addresses (the same in every lab; each lab is its own pair of namespaces):
#   server 10.77.0.1/24  fd00::1/64      client 10.77.0.2/24  fd00::2/64
#
# Library use:
#   source scripts/lab.sh
#   trap 'lab_down t1' EXIT
#   lab_up t1                 # sets LAB_C LAB_S LAB_DIR
#   lab_nginx_start t1        # env LAB_SSL_CIPHERS, LAB_TLS13_SUITES optional
#   lab_cap_start t1 out.pcap ; ...traffic via lab_c t1 cmd... ; lab_cap_stop t1
#   lab_nghttpd_start t1 [PORT [nghttpd args]]   # cleartext h2 (default 8080)
#   lab_nghttpx_start t1 [PORT]  # h2c Upgrade front of nginx :80 (default 8082)
#   lab_grpc_start t1 [PORT]  # tests/lib/grpc_peer.py server (default 50051)
#   lab_down t1
# CLI:  scripts/lab.sh up NAME | down NAME | reap | nginx NAME | shell NAME

LAB_SRV4=10.77.0.1
LAB_CLI4=10.77.0.2
LAB_SRV6=fd00::1
LAB_CLI6=fd00::2
LAB_HOST=tapir.test
LAB_OWNER=${LAB_OWNER:-$$}
LAB_IFACE=eth0

lab__log() { [[ -n ${LAB_VERBOSE:-} ]] && echo "lab: $*" >&2; return 0; }
lab__die() { echo "lab: $*" >&2; return 1; }

lab_ns() { echo "tpr-$LAB_OWNER-$1-$2"; }          # lab_ns NAME c|s
lab_dir() { echo "${TMPDIR:-/tmp}/tpr-$LAB_OWNER-$1"; }
lab_c() { local n=$1; shift; ip netns exec "$(lab_ns "$n" c)" "$@"; }
lab_s() { local n=$1; shift; ip netns exec "$(lab_ns "$n" s)" "$@"; }
lab_b() { local n=$1; shift; ip netns exec "$(lab_ns "$n" b)" "$@"; }

# Kill a PID we started (TERM, then KILL after ~5 s) and wait until gone.
lab__kill_pid() {
	local pid=$1 sig=${2:-TERM} i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		# an orphan that exited is a zombie until init reaps it: gone
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Remove one namespace: every process still inside it (ours by construction)
# is killed by PID first; deleting the namespace removes the veth end in it.
lab__ns_del() {
	local ns=$1 p
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || return 0
	for p in $(ip netns pids "$ns" 2>/dev/null); do lab__kill_pid "$p"; done
	ip netns del "$ns" 2>/dev/null || true
}

# Remove labs left by crashed runs: tpr-<pid>-* whose <pid> is no longer alive.
lab_reap_stale() {
	local ns pid d
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^tpr-[0-9]+-'); do
		pid=${ns#tpr-}; pid=${pid%%-*}
		if ! kill -0 "$pid" 2>/dev/null; then
			lab__log "reaping stale $ns"
			lab__ns_del "$ns"
		fi
	done
	for d in "${TMPDIR:-/tmp}"/tpr-[0-9]*-*; do
		[[ -d $d ]] || continue
		pid=${d##*/tpr-}; pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || rm -rf -- "$d"
	done
}

lab_up() {
	local n=$1 c s
	[[ -n $n ]] || lab__die "lab_up NAME" || return 1
	c=$(lab_ns "$n" c); s=$(lab_ns "$n" s)
	lab_reap_stale
	lab_down "$n"
	LAB_DIR=$(lab_dir "$n")
	mkdir -p "$LAB_DIR" && chmod 700 "$LAB_DIR" || return 1
	ip netns add "$c" && ip netns add "$s" || return 1
	if [[ ${LAB_MIDDLE:-} == bridge ]]; then
		# client eth0 -- p0 [br0 in tpr-..-b] p1 -- eth0 server: same L2
		# segment, but a packet dropped in the middle (nft bridge family)
		# is lost after the sender's stack let go of it and before the
		# client's capture point, as on a real lossy path.
		local b; b=$(lab_ns "$n" b)
		ip netns add "$b" || return 1
		ip -n "$b" link add p0 type veth peer name "$LAB_IFACE" netns "$c" || return 1
		ip -n "$b" link add p1 type veth peer name "$LAB_IFACE" netns "$s" || return 1
		ip -n "$b" link add br0 type bridge || return 1
		ip -n "$b" link set p0 master br0 && ip -n "$b" link set p1 master br0 || return 1
		ip -n "$b" link set br0 up && ip -n "$b" link set p0 up && ip -n "$b" link set p1 up || return 1
		# shellcheck disable=SC2034 # for the caller
		LAB_B=$b
	else
		# Created inside the client namespace, peer moved into the server one.
		ip -n "$c" link add "$LAB_IFACE" type veth peer name "$LAB_IFACE" netns "$s" || return 1
	fi
	local ns a4 a6
	for ns in "$c" "$s"; do
		if [[ $ns == "$c" ]]; then a4=$LAB_CLI4; a6=$LAB_CLI6; else a4=$LAB_SRV4; a6=$LAB_SRV6; fi
		ip -n "$ns" link set lo up || return 1
		ip -n "$ns" addr add "$a4/24" dev "$LAB_IFACE" || return 1
		ip -n "$ns" addr add "$a6/64" dev "$LAB_IFACE" nodad || return 1
		ip -n "$ns" link set "$LAB_IFACE" up || return 1
	done
	# shellcheck disable=SC2034 # for the caller
	LAB_C=$c LAB_S=$s
	# veth carrier comes up at once; wait until both ends say LOWER_UP.
	local i
	for ((i = 0; i < 50; i++)); do
		ip -n "$c" link show "$LAB_IFACE" | grep -q LOWER_UP &&
			ip -n "$s" link show "$LAB_IFACE" | grep -q LOWER_UP && break
		sleep 0.05
	done
	lab__log "up $n ($c <-> $s) dir $LAB_DIR"
}

lab_down() {
	local n=$1 d
	[[ -n $n ]] || return 0
	d=$(lab_dir "$n")
	lab_cap_stop "$n" 2>/dev/null
	lab_nginx_stop "$n" 2>/dev/null
	lab_nghttpd_stop "$n" 2>/dev/null
	lab_grpc_stop "$n" 2>/dev/null
	lab_nghttpx_stop "$n" 2>/dev/null
	lab__ns_del "$(lab_ns "$n" c)"
	lab__ns_del "$(lab_ns "$n" s)"
	lab__ns_del "$(lab_ns "$n" b)"
	[[ -d $d ]] && rm -rf -- "$d"
	return 0
}

# ---------------------------------------------------------------- content
# Files served by nginx under $LAB_DIR/www (made once per lab):
#   0.bin 1k.bin 100k.bin 1m.bin 5m.bin   random bytes (application/octet-stream)
#   text.txt                       ~2 MB compressible text (gzip'd, chunked)
#   small.txt                      ~3 KB text
#   chunked/text.txt               served through sub_filter: identity chunked
lab__content() {
	local w=$1
	mkdir -p "$w/chunked" "$w/dav" || return 1
	: >"$w/0.bin"
	head -c 1024 /dev/urandom >"$w/1k.bin"
	head -c 102400 /dev/urandom >"$w/100k.bin"
	head -c 1048576 /dev/urandom >"$w/1m.bin"
	head -c 5242880 /dev/urandom >"$w/5m.bin"
	awk 'BEGIN { for (i = 1; i <= 40000; i++) printf "line %06d: the quick brown tapir walks over the lazy pcap file\n", i }' >"$w/text.txt"
	head -c 3000 "$w/text.txt" >"$w/small.txt"
	head -c 300000 "$w/text.txt" >"$w/chunked/text.txt"
}

lab__cert() {
	local d=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=$LAB_HOST" \
		-addext "subjectAltName=DNS:$LAB_HOST,IP:$LAB_SRV4,IP:$LAB_SRV6" \
		-keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1
}

# The location set shared by every listener.
lab__locations() {
	cat <<EOF
	root $1/www;
	location / { }
	location /dav/ {
		dav_methods PUT DELETE;
		create_full_put_path on;
		client_max_body_size 50m;
	}
	# POST: nginx reads the whole body (proxy_request_buffering on), then
	# proxies it to the sink, which answers with the length it was given.
	location = /upload {
		client_max_body_size 50m;
		proxy_pass http://127.0.0.1:8081/sink;
		proxy_http_version 1.1;
	}
	location = /204 { return 204; }
	location = /echo-json {
		default_type application/json;
		return 200 '{"ok":true,"uri":"\$request_uri"}\n';
	}
	# sub_filter drops Content-Length: identity Transfer-Encoding: chunked,
	# one small chunk per line.  sendfile off: with it every chunk went out
	# as its own ~60-byte segment (13,000 packets for 300 KB), more than
	# tcpdump's immediate-mode ring holds.
	location /chunked/ {
		gzip off;
		sendfile off;
		sub_filter_types *;
		sub_filter 'tapir' 'TAPIR';
		sub_filter_once off;
	}
EOF
}

# lab_nginx_start NAME: write nginx.conf into the lab dir and start nginx in
# the server namespace.  Listeners (HTTP/1.1):
#   80  plain   443 TLS 1.3 only   8443 TLS 1.2 only   9443 TLS 1.2+1.3
# and HTTP/2 (nginx 1.22: `listen ... http2`, which applies to the whole
# address:port, hence ports of their own; ALPN offers h2 and http/1.1):
#   10443 TLS 1.3 only   10444 TLS 1.2 only   10080 cleartext, prior
#   knowledge only (nginx does not do the h2c Upgrade: nghttpd does)
# Env: LAB_SSL_CIPHERS (TLS <= 1.2 list), LAB_TLS13_SUITES (Ciphersuites),
#      LAB_NGINX_EXTRA (raw text added to the http block).
lab_nginx_start() {
	local n=$1 d s pid i
	d=$(lab_dir "$n"); s=$(lab_ns "$n" s)
	[[ -d $d ]] || lab__die "lab $n is not up" || return 1
	[[ -f $d/www/5m.bin ]] || lab__content "$d/www" || return 1
	[[ -f $d/cert.pem ]] || lab__cert "$d" || lab__die "openssl req failed" || return 1
	mkdir -p "$d/tmp"
	local ciphers=${LAB_SSL_CIPHERS:-HIGH:!aNULL:!MD5}
	local suites=${LAB_TLS13_SUITES:-TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256}
	local loc; loc=$(lab__locations "$d")
	cat >"$d/nginx.conf" <<EOF
# generated by scripts/lab.sh for lab $n
user root;
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	types {
		text/html html;
		text/plain txt;
		application/json json;
		application/octet-stream bin;
	}
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	client_max_body_size 50m;
	gzip on;
	gzip_min_length 20;
	gzip_types text/plain application/json;
	ssl_certificate $d/cert.pem;
	ssl_certificate_key $d/key.pem;
	ssl_ciphers $ciphers;
	ssl_prefer_server_ciphers off;
	ssl_conf_command Ciphersuites $suites;
	${LAB_NGINX_EXTRA:-}

	server {
		listen 127.0.0.1:8081;
		location /sink { return 201 "stored \$content_length bytes\n"; }
	}
	server {
		listen 80 default_server;
		listen [::]:80 default_server;
		server_name $LAB_HOST;
$loc
	}
	server {
		listen 443 ssl;
		listen [::]:443 ssl;
		server_name $LAB_HOST;
		ssl_protocols TLSv1.3;
$loc
	}
	server {
		listen 8443 ssl;
		listen [::]:8443 ssl;
		server_name $LAB_HOST;
		ssl_protocols TLSv1.2;
$loc
	}
	server {
		listen 9443 ssl;
		listen [::]:9443 ssl;
		server_name $LAB_HOST;
		ssl_protocols TLSv1.2 TLSv1.3;
$loc
	}
	server {
		listen 10443 ssl http2;
		listen [::]:10443 ssl http2;
		server_name $LAB_HOST;
		ssl_protocols TLSv1.3;
$loc
	}
	server {
		listen 10444 ssl http2;
		listen [::]:10444 ssl http2;
		server_name $LAB_HOST;
		ssl_protocols TLSv1.2;
$loc
	}
	server {
		listen 10080 http2;
		listen [::]:10080 http2;
		server_name $LAB_HOST;
$loc
	}
}
EOF
	ip netns exec "$s" nginx -t -q -c "$d/nginx.conf" -p "$d" 2>"$d/nginx-t.log" ||
		{ cat "$d/nginx-t.log" >&2; return 1; }
	ip netns exec "$s" nginx -c "$d/nginx.conf" -p "$d" >>"$d/error.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/nginx.master.pid"
	for ((i = 0; i < 100; i++)); do
		if ip netns exec "$s" ss -Htln 'sport = :10080' 2>/dev/null | grep -q . &&
			ip netns exec "$s" ss -Htln 'sport = :8081' 2>/dev/null | grep -q .; then
			lab__log "nginx $pid ready"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$d/error.log" >&2
	lab__die "nginx did not start"
}

lab_nginx_stop() {
	local d pid
	d=$(lab_dir "$1")
	[[ -f $d/nginx.master.pid ]] || return 0
	pid=$(<"$d/nginx.master.pid")
	lab__kill_pid "$pid" QUIT
	rm -f "$d/nginx.master.pid"
}

# lab__wait_port NS PORT PID: wait (5 s) until something listens on PORT.
lab__wait_port() {
	local ns=$1 port=$2 pid=$3 i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$ns" ss -Htln "sport = :$port" 2>/dev/null | grep -q . && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# lab_nghttpd_start NAME [PORT [ARGS...]]: nghttpd (nghttp2-server) in the
# server namespace, cleartext (--no-tls: prior knowledge and the h2c
# Upgrade from HTTP/1.1), serving $LAB_DIR/www, POST/PUT bodies echoed
# back.  ARGS are extra nghttpd options (-b PAD, --trailer, -p PUSH...).
# One nghttpd per lab; its output in $LAB_DIR/nghttpd.log.
lab_nghttpd_start() {
	local n=$1 port=${2:-8080} d s pid
	shift; shift
	d=$(lab_dir "$n"); s=$(lab_ns "$n" s)
	[[ -d $d ]] || lab__die "lab $n is not up" || return 1
	command -v nghttpd >/dev/null || lab__die "nghttpd not installed (nghttp2-server)" || return 1
	[[ -f $d/www/5m.bin ]] || lab__content "$d/www" || return 1
	lab_nghttpd_stop "$n"
	ip netns exec "$s" nghttpd --no-tls --echo-upload -d "$d/www" "$@" "$port" >"$d/nghttpd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/nghttpd.pid"
	lab__wait_port "$s" "$port" "$pid" && return 0
	cat "$d/nghttpd.log" >&2
	lab__die "nghttpd did not start"
}

lab_nghttpd_stop() {
	local d; d=$(lab_dir "$1")
	[[ -f $d/nghttpd.pid ]] || return 0
	lab__kill_pid "$(<"$d/nghttpd.pid")"
	rm -f "$d/nghttpd.pid"
}

# lab_nghttpx_start NAME [PORT]: nghttpx (nghttp2-proxy) in the server
# namespace, a cleartext frontend on PORT that accepts the h2c Upgrade from
# HTTP/1.1 (and prior knowledge), proxying to nginx's port 80 (start nginx
# first).  Neither nginx nor nghttpd do the Upgrade; nghttpx does.
lab_nghttpx_start() {
	local n=$1 port=${2:-8082} d s pid
	d=$(lab_dir "$n"); s=$(lab_ns "$n" s)
	[[ -d $d ]] || lab__die "lab $n is not up" || return 1
	command -v nghttpx >/dev/null || lab__die "nghttpx not installed (nghttp2-proxy)" || return 1
	lab_nghttpx_stop "$n"
	ip netns exec "$s" nghttpx --conf=/dev/null "--frontend=*,$port;no-tls" \
		--backend=127.0.0.1,80 --workers=1 --no-ocsp \
		--errorlog-file="$d/nghttpx.log" --accesslog-file=/dev/null >>"$d/nghttpx.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/nghttpx.pid"
	lab__wait_port "$s" "$port" "$pid" && return 0
	cat "$d/nghttpx.log" >&2
	lab__die "nghttpx did not start"
}

lab_nghttpx_stop() {
	local d; d=$(lab_dir "$1")
	[[ -f $d/nghttpx.pid ]] || return 0
	lab__kill_pid "$(<"$d/nghttpx.pid")"
	rm -f "$d/nghttpx.pid"
}

# lab_grpc_start NAME [PORT]: the gRPC test server (tests/lib/grpc_peer.py
# serve: python3-grpcio, generic handlers, bytes in and out) in the server
# namespace, insecure (h2c with prior knowledge), on every address.
lab_grpc_start() {
	local n=$1 port=${2:-50051} d s pid peer
	d=$(lab_dir "$n"); s=$(lab_ns "$n" s)
	[[ -d $d ]] || lab__die "lab $n is not up" || return 1
	peer=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/lib/grpc_peer.py
	lab_grpc_stop "$n"
	ip netns exec "$s" /usr/bin/python3 "$peer" serve --port "$port" >"$d/grpc.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/grpc.pid"
	lab__wait_port "$s" "$port" "$pid" && return 0
	cat "$d/grpc.log" >&2
	lab__die "gRPC server did not start"
}

lab_grpc_stop() {
	local d; d=$(lab_dir "$1")
	[[ -f $d/grpc.pid ]] || return 0
	lab__kill_pid "$(<"$d/grpc.pid")"
	rm -f "$d/grpc.pid"
}

# lab_cap_start NAME FILE [extra tcpdump args/filter]: tcpdump on the client's
# veth, full packets, packet-buffered, immediate mode, 256 MB ring
# (LAB_CAP_BUFFER_KB); returns once tcpdump says it is listening.
lab_cap_start() {
	local n=$1 f=$2 d c pid i
	shift 2
	d=$(lab_dir "$n"); c=$(lab_ns "$n" c)
	lab_cap_stop "$n"
	: >"$d/tcpdump.err"
	# Snap length: the largest GSO/GRO packet the veth can carry plus
	# headers (never truncates), not -s 0: in immediate mode libpcap gives
	# every packet a ring slot of snaplen bytes, so 256 KB slots would
	# leave only ~1000 of them in the buffer.
	local max snap
	max=$(ip -n "$c" -d link show "$LAB_IFACE" | grep -oE '(gso|gro)(_ipv4)?_max_size [0-9]+' | awk '$2 > m {m = $2} END {print m + 0}')
	((max >= 65536)) || max=65536
	snap=$((max + 256))
	ip netns exec "$c" tcpdump -i "$LAB_IFACE" -n -s "$snap" -U --immediate-mode -Z root \
		-B "${LAB_CAP_BUFFER_KB:-262144}" \
		-w "$f" "$@" 2>"$d/tcpdump.err" &
	pid=$!
	echo "$pid" >"$d/tcpdump.pid"
	for ((i = 0; i < 100; i++)); do
		grep -q 'listening on' "$d/tcpdump.err" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$d/tcpdump.err" >&2
	lab__die "tcpdump did not start"
}

# Stop tcpdump with SIGINT and wait until it has flushed and exited.
# Returns 1 (and says so on stderr) if the kernel dropped packets: such a
# capture is not ground truth for anything.  tcpdump's stderr stays in
# $LAB_DIR/tcpdump.err.
lab_cap_stop() {
	local d pid drops
	d=$(lab_dir "$1")
	[[ -f $d/tcpdump.pid ]] || return 0
	pid=$(<"$d/tcpdump.pid")
	sleep 0.2	# let the last ACK/FIN cross the veth
	lab__kill_pid "$pid" INT
	rm -f "$d/tcpdump.pid"
	drops=$(sed -nE 's/^([0-9]+) packets? dropped by (kernel|interface).*/\1/p' "$d/tcpdump.err" | awk '{s += $1} END {print s + 0}')
	if [[ $drops -ne 0 ]]; then
		echo "lab: tcpdump: $drops packets dropped" >&2
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- CLI
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -u
	LAB_OWNER=${LAB_OWNER_CLI:-$PPID}
	cmd=${1:-}; name=${2:-lab}
	case $cmd in
	up) lab_up "$name" && lab_nginx_start "$name" &&
		echo "lab $name up: client $(lab_ns "$name" c) server $(lab_ns "$name" s) dir $(lab_dir "$name")" ;;
	down) lab_down "$name" ;;
	reap) lab_reap_stale ;;
	nginx) lab_nginx_start "$name" ;;
	shell) ip netns exec "$(lab_ns "$name" c)" bash ;;
	*) echo "usage: $0 up|down|reap|nginx|shell [NAME]" >&2; exit 2 ;;
	esac
fi
