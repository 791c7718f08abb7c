#!/bin/bash
# export.sh - packet export (--pcap / --pcapng, issue 6) from live capture
# on the gateway lab (tests/lib/capture_common.sh) and from `tapir read`.
#   live-pcapng: TLS 1.3 + 1.2, HTTP/1.1 + HTTP/2 -> --pcapng; tshark with
#     NO key log decrypts it and gives the same method/path/status as
#     tapir's JSON; `tapir read` of the file (keys from its DSBs only)
#     gives the same calls with the same body hashes; the file is 0600.
#   live-pcap: classic pcap + the key log through tshark: the same.
#   rotate-size: `tapir read --pcapng -C 1 -W 2` of a 3+ MB export: exactly
#     2 files, each read by tshark without a warning, each decrypted alone.
#   rotate-time: live -G 1 over ~3 s of traffic: >= 2 files, each clean.
#   read-existing(-threads): `tapir read --pcapng` of tcpdump's capture:
#     tshark sees every packet; with --threads 2 the same file, byte for byte.
#   read-sll2: read of a Linux cooked v2 capture -> pcapng with that link
#     type, decrypted by tshark alone, read back to the same calls.
#   unwritable: read with --pcapng in a missing directory: exit 1, a clear
#     error, the same JSON as without --pcapng.
#   disk-full: --pcapng on a 2 MB tmpfs with 5 MB bodies: the JSON is still
#     the ground truth, the export says why it stopped, the file parses.
source "$(dirname "$0")/../lib/capture_common.sh"
c_init export
H=$LAB_HOST
PORTS=(--tls-port 8443 --tls-port 10443 --tls-port 10444)
FULL=

cleanup_all() {
	local rc=$?
	[[ -n $FULL ]] && umount "$FULL" 2>/dev/null
	(exit $rc)
	c_cleanup
}
trap cleanup_all EXIT

mixed() {
	gt_curl --compressed --opt=--resolve --opt="$H:443:$LAB_SRV4" --opt=--tlsv1.3 \
		"GET https://$H/1k.bin" "POST https://$H/upload $(W 100k.bin)" "GET https://$H/no/such" &&
	gt_curl --opt=--resolve --opt="$H:8443:$LAB_SRV4" --opt=--tls-max --opt=1.2 \
		"GET https://$H:8443/1m.bin" "GET https://$H:8443/text.txt" &&
	gt_curl --http 2 --compressed --opt=--resolve --opt="$H:10443:$LAB_SRV4" \
		"GET https://$H:10443/1k.bin" "GET https://$H:10443/204" "GET https://$H:10443/100k.bin" &&
	gt_curl --http 2 --opt=--resolve --opt="$H:10444:$LAB_SRV4" \
		"GET https://$H:10444/text.txt" "POST https://$H:10444/upload $(W 1k.bin)"
}
slow() {
	local i
	for i in 1 2 3; do
		gt_curl --opt=--resolve --opt="$H:443:$LAB_SRV4" "GET https://$H/1k.bin?i=$i" || return 1
		sleep 1.2
	done
}
big() {
	gt_curl --opt=--resolve --opt="$H:443:$LAB_SRV4" "GET https://$H/5m.bin" "GET https://$H/1k.bin"
}

# tshark reads FILE with nothing on stderr
clean_read() {
	local e
	e=$(tshark -n -r "$1" 2>&1 >/dev/null | grep -v 'Running as user "root"') || true
	tshark -n -r "$1" >/dev/null 2>&1 || { echo "tshark -r $1 failed: $e"; return 1; }
	[[ -z $e ]] || { echo "tshark -r $1 warned: $e"; return 1; }
}

X=
check_pcapng() {
	# curl writes its keys after the handshake: packets waited for them,
	# and every session got its keys in the file
	local held
	held=$(grep -oE '[0-9]+ packets waited for keys' "$ERR" | grep -oE '^[0-9]+')
	[[ ${held:-0} -gt 0 ]] || { echo "no packet waited for keys: $(grep 'export ' "$ERR")"; return 1; }
	grep -q 'sessions written without keys: 0 after --key-wait, 0 hold full, 0 keys never known' "$ERR" ||
		{ echo "sessions without keys: $(grep 'export ' "$ERR")"; return 1; }
	[[ $(stat -c %a "$X") == 600 ]] || { echo "mode $(stat -c %a "$X"), not 600"; return 1; }
	clean_read "$X" || return 1
	$PY "$TLIB/tshark_oracle.py" "$X" --http2 "${PORTS[@]}" >"$T_CASE_DIR/tshark.jsonl" || return 1
	$PY "$TLIB/compare.py" triples "$OUT" "$T_CASE_DIR/tshark.jsonl" || { echo "tshark (no key log) differs"; return 1; }
	"$TAPIR" read --hash-bodies "$X" >"$T_CASE_DIR/reread.jsonl" 2>"$T_CASE_DIR/reread.err" || { echo "tapir read failed"; return 1; }
	$PY "$TLIB/compare.py" exact "$T_CASE_DIR/reread.jsonl" "$GT" || { echo "tapir read of the export differs"; return 1; }
	$PY "$TLIB/compare.py" exact "$T_CASE_DIR/reread.jsonl" "$OUT" || { echo "tapir read of the export differs from live"; return 1; }
}
check_pcap() {
	clean_read "$X" || return 1
	$PY "$TLIB/tshark_oracle.py" "$X" --keylog "$KEYS" --http2 "${PORTS[@]}" >"$T_CASE_DIR/tshark.jsonl" || return 1
	$PY "$TLIB/compare.py" triples "$OUT" "$T_CASE_DIR/tshark.jsonl" || { echo "tshark differs"; return 1; }
	"$TAPIR" read --hash-bodies -k "$KEYS" "$X" >"$T_CASE_DIR/reread.jsonl" 2>/dev/null &&
	$PY "$TLIB/compare.py" exact "$T_CASE_DIR/reread.jsonl" "$GT" || { echo "tapir read of the pcap differs"; return 1; }
}
check_rotate_time() {
	local n=0 f
	for f in "$T_DIR"/rt.pcapng.*; do
		clean_read "$f" || return 1
		n=$((n + 1))
	done
	[[ $n -ge 3 ]] || { echo "$n files with -G 1 over 3 calls 1.2 s apart"; return 1; }
	# each file decrypts alone: its sessions' keys are in it
	for f in "$T_DIR"/rt.pcapng.*; do
		$PY "$TLIB/tshark_oracle.py" "$f" || return 1
	done >"$T_CASE_DIR/tshark.jsonl"
	$PY "$TLIB/compare.py" triples "$OUT" "$T_CASE_DIR/tshark.jsonl" || { echo "the files, each alone, do not decrypt to the calls"; return 1; }
	! ls -a "$T_DIR" | grep -q '\.tmp$' || { echo "temporary file left"; return 1; }
}

X=$T_DIR/live.pcapng
C_CHECK=check_pcapng c_case live-pcapng mixed --pcapng "$X"
LIVE=$X
X=$T_DIR/live.pcap
C_CHECK=check_pcap c_case live-pcap mixed --pcap "$X"
C_CHECK=check_rotate_time c_case rotate-time slow --pcapng "$T_DIR/rt.pcapng" -G 1

# rotation by size (and the -W ring) through tapir read of the live export
T_CASE_DIR=$T_DIR/rotate-size; mkdir -p "$T_CASE_DIR"
rs() {
	local n f
	"$TAPIR" read --hash-bodies --pcapng "$T_CASE_DIR/r" -C 1 -W 2 "$LIVE" >/dev/null 2>"$T_CASE_DIR/err" || { echo "read: $(tail -2 "$T_CASE_DIR/err")"; return 1; }
	n=$(grep -oE 'in [0-9]+ files' "$T_CASE_DIR/err" | grep -oE '[0-9]+')
	[[ $n -ge 3 ]] || { echo "only $n files written"; return 1; }
	[[ $(ls "$T_CASE_DIR" | grep -c '^r[0-9]') -eq 2 ]] || { echo "files: $(ls "$T_CASE_DIR")"; return 1; }
	for f in "$T_CASE_DIR"/r[0-9]; do
		clean_read "$f" || return 1
		[[ $(stat -c %s "$f") -le 1100000 ]] || { echo "$f: $(stat -c %s "$f") bytes"; return 1; }
	done
}
if out=$(rs 2>&1); then t_pass export/rotate-size; else t_fail export/rotate-size "$out"; fi

# tapir read --pcapng of an existing capture (tcpdump's, from the live case)
T_CASE_DIR=$T_DIR/read-existing; mkdir -p "$T_CASE_DIR"
re() {
	"$TAPIR" read --hash-bodies --pcapng "$T_CASE_DIR/a.pcapng" "$X" >"$T_CASE_DIR/a.jsonl" 2>/dev/null -k "$T_DIR/export_live-pcap/keys.log" &&
	clean_read "$T_CASE_DIR/a.pcapng" &&
	"$TAPIR" read --hash-bodies "$T_CASE_DIR/a.pcapng" >"$T_CASE_DIR/b.jsonl" 2>/dev/null &&
	$PY "$TLIB/compare.py" exact "$T_CASE_DIR/b.jsonl" "$T_CASE_DIR/a.jsonl" &&
	[[ $(tshark -n -r "$X" | wc -l) -eq $(tshark -n -r "$T_CASE_DIR/a.pcapng" | wc -l) ]]
}
if out=$(re 2>&1); then t_pass export/read-existing; else t_fail export/read-existing "$out"; fi

# the same with --threads 2: the export is written by the reading thread in
# file order, so it is the same file byte for byte; the records the same
rj() {
	"$TAPIR" read -j2 --hash-bodies --pcapng "$T_CASE_DIR/c.pcapng" "$X" >"$T_CASE_DIR/c.jsonl" 2>/dev/null -k "$T_DIR/export_live-pcap/keys.log" &&
	cmp "$T_CASE_DIR/a.pcapng" "$T_CASE_DIR/c.pcapng" &&
	cmp <(sort "$T_CASE_DIR/a.jsonl") <(sort "$T_CASE_DIR/c.jsonl")
}
if out=$(rj 2>&1); then t_pass export/read-existing-threads; else t_fail export/read-existing-threads "$out"; fi

# a non-Ethernet link type (Linux cooked v2): the pcapng's IDB carries it,
# tshark decrypts the export alone, tapir reads it back to the same calls
T_CASE_DIR=$T_DIR/read-sll2; mkdir -p "$T_CASE_DIR"
sll() {
	local d=$T_CASE_DIR
	$PY "$TLIB/pcaprewrite.py" sll2 "$X" "$d/in.pcap" || return 1
	"$TAPIR" read -q --hash-bodies -k "$T_DIR/export_live-pcap/keys.log" --pcapng "$d/x.pcapng" "$d/in.pcap" >"$d/a.jsonl" || return 1
	capinfos "$d/x.pcapng" | grep -q 'linux-sll2' || { echo "not SLL2: $(capinfos "$d/x.pcapng" | grep -i encap)"; return 1; }
	"$TAPIR" read -q --hash-bodies "$d/x.pcapng" >"$d/b.jsonl" || return 1
	$PY "$TLIB/compare.py" exact "$d/b.jsonl" "$d/a.jsonl" || return 1
	$PY "$TLIB/tshark_oracle.py" "$d/x.pcapng" --http2 "${PORTS[@]}" >"$d/tshark.jsonl" &&
	$PY "$TLIB/compare.py" triples "$d/a.jsonl" "$d/tshark.jsonl"
}
if out=$(sll 2>&1); then t_pass export/read-sll2; else t_fail export/read-sll2 "$out"; fi

# an unwritable path: a clear error, exit 1, the JSON still complete (with
# and without keys)
T_CASE_DIR=$T_DIR/unwritable; mkdir -p "$T_CASE_DIR"
uw() {
	local k
	for k in "" "-k $T_DIR/export_live-pcap/keys.log"; do
		# shellcheck disable=SC2086
		"$TAPIR" read -q --hash-bodies $k "$X" >"$T_CASE_DIR/a.jsonl" 2>/dev/null || { echo "plain read failed"; return 1; }
		# shellcheck disable=SC2086
		"$TAPIR" read -q --hash-bodies $k --pcapng /nonexistent-dir/x.pcapng "$X" >"$T_CASE_DIR/b.jsonl" 2>"$T_CASE_DIR/b.err" && { echo "exit 0"; return 1; }
		grep -q 'cannot create /nonexistent-dir/x.pcapng: No such file or directory' "$T_CASE_DIR/b.err" || { echo "no clear error: $(cat "$T_CASE_DIR/b.err")"; return 1; }
		[[ -s $T_CASE_DIR/a.jsonl ]] && cmp -s "$T_CASE_DIR/a.jsonl" "$T_CASE_DIR/b.jsonl" || { echo "JSON differs (keys: ${k:-none})"; return 1; }
	done
}
if out=$(uw 2>&1); then t_pass export/unwritable; else t_fail export/unwritable "$out"; fi

# disk full: a 2 MB tmpfs, 5 MB bodies
FULL=$T_DIR/full; mkdir -p "$FULL"
if mount -t tmpfs -o size=2m tapir-export-test "$FULL"; then
	X=$FULL/x.pcapng
	check_full() {
		grep -q 'export stopped: writing .*No space left on device' "$ERR" || { echo "no clear error: $(grep export "$ERR")"; return 1; }
		grep -qE 'STOPPED' "$ERR" || { echo "no counted reason"; return 1; }
		clean_read "$X" || return 1
		! ls -a "$FULL" | grep -q '\.tmp$' || { echo "temporary file left"; return 1; }
	}
	C_CHECK=check_full c_case disk-full big --pcapng "$X"
	umount "$FULL" && FULL=
else
	t_fail export/disk-full "cannot mount a tmpfs"
fi
t_done
