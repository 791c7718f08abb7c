#!/bin/bash
# install.sh - scripts/install.sh into a temporary root (never the real
# system): the binary, tapir.service, /etc/tapir/tapir.conf and
# /etc/logrotate.d/tapir land with the right modes (logrotate -d reads
# the last without complaint); the unit passes `systemd-analyze verify` (when
# installed); the installed binary runs with the installed config in a
# namespace of its own; a second install is refused; an existing config is
# kept; --uninstall leaves the root exactly as it was.
set -u
cd "$(dirname "$0")/../.." || exit 1
T_ROOT=$PWD
P=0 F=0
pass() { echo "PASS install/$1"; P=$((P + 1)); }
fail() { echo "FAIL install/$1: $2"; F=$((F + 1)); }
[[ -x build/tapir ]] || { echo "FAIL install: build/tapir not built"; echo "0 passed, 1 failed"; exit 1; }
R=$(mktemp -d /tmp/tpr-install.XXXXXX) || exit 1
NS=tpr-$$-install
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf -- "$R"; }
trap cleanup EXIT

snap() { (cd "$R" && find . -printf '%M %p\n' | sort); }
before=$(snap)
if scripts/install.sh --root "$R" >"$R.log" 2>&1; then
	ok=1
	[[ $(stat -c %a "$R/usr/local/bin/tapir") == 755 ]] || { ok=0; fail files "binary mode"; }
	[[ $(stat -c %a "$R/etc/tapir/tapir.conf") == 600 ]] || { ok=0; fail files "config mode"; }
	grep -q "^ExecStart=/usr/local/bin/tapir capture --config /etc/tapir/tapir.conf$" "$R/etc/systemd/system/tapir.service" || { ok=0; fail files "unit ExecStart"; }
	[[ $(stat -c %a "$R/etc/logrotate.d/tapir" 2>/dev/null) == 644 ]] || { ok=0; fail files "logrotate file missing or mode"; }
	# the rotated path is the shipped config's output
	out=$(sed -n 's/^output *= *//p' "$R/etc/tapir/tapir.conf")
	grep -q "^$out {" "$R/etc/logrotate.d/tapir" || { ok=0; fail files "logrotate file does not rotate $out"; }
	[[ $ok -eq 1 ]] && pass files
else
	fail files "install.sh failed: $(tail -2 "$R.log")"
fi
rm -f "$R.log"

if command -v systemd-analyze >/dev/null; then
	# verify wants the binary where ExecStart says: a copy pointing into R
	u=$R/tmp-verify/tapir.service
	mkdir -p "${u%/*}"
	sed "s|^ExecStart=/usr/local/bin/tapir|ExecStart=$R/usr/local/bin/tapir|" "$R/etc/systemd/system/tapir.service" >"$u"
	if out=$(systemd-analyze verify "$u" 2>&1) && ! grep -qi 'tapir.service' <<<"$out"; then
		pass systemd-analyze-verify
	else
		fail systemd-analyze-verify "$(head -3 <<<"$out" | tr '\n' ' ')"
	fi
	rm -rf "$R/tmp-verify"
else
	echo "skipped install/systemd-analyze-verify: systemd-analyze not installed"
fi

# logrotate reads the installed file without complaint (-d: no action)
if command -v logrotate >/dev/null; then
	if out=$(logrotate -d -s "$R/lr.state" "$R/etc/logrotate.d/tapir" 2>&1) &&
		! grep -qiE 'error|unknown|ignor' <<<"$out"; then
		pass logrotate-config
	else
		fail logrotate-config "$(grep -iE 'error|unknown|ignor' <<<"$out" | head -3 | tr '\n' ' ')"
	fi
	rm -f "$R/lr.state"
else
	fail logrotate-config "logrotate not installed (scripts/install-deps.sh)"
fi

# the installed binary with the installed config (interface eth0): in a
# namespace that has an eth0; -o overrides the config's log path
if [[ $(id -u) -eq 0 ]] && ip netns add "$NS" 2>/dev/null; then
	ip -n "$NS" link add eth0 type veth peer name eth1 && ip -n "$NS" link set eth0 up && ip -n "$NS" link set eth1 up
	if ip netns exec "$NS" "$R/usr/local/bin/tapir" capture --config "$R/etc/tapir/tapir.conf" \
		-o "$R/calls.jsonl" --duration 0.3 2>"$R/run.err" &&
		grep -q 'capturing on eth0' "$R/run.err"; then
		pass installed-config-runs
	else
		fail installed-config-runs "$(tail -2 "$R/run.err" | tr '\n' ' ')"
	fi
	rm -f "$R/calls.jsonl" "$R/run.err"
	ip netns del "$NS"
else
	echo "skipped install/installed-config-runs: needs root"
fi

if scripts/install.sh --root "$R" >/dev/null 2>&1; then
	fail reinstall-refused "a second install went ahead"
else
	pass reinstall-refused
fi

scripts/install.sh --root "$R" --uninstall >/dev/null 2>&1
after=$(snap)
if [[ $before == "$after" ]]; then pass uninstall-removes-all; else
	fail uninstall-removes-all "left: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -5 | tr '\n' ' ')"
fi

# an existing config survives install and uninstall
mkdir -p "$R/etc/tapir" && echo "interface = eth9" >"$R/etc/tapir/tapir.conf"
scripts/install.sh --root "$R" >/dev/null 2>&1
scripts/install.sh --root "$R" --uninstall >/dev/null 2>&1
if [[ $(cat "$R/etc/tapir/tapir.conf" 2>/dev/null) == "interface = eth9" && ! -e $R/etc/tapir/tapir.conf.new && ! -e $R/usr ]]; then
	pass existing-config-kept
else
	fail existing-config-kept "$(cd "$R" && find . | tr '\n' ' ')"
fi
echo "$P passed, $F failed"
[[ $F -eq 0 ]]
