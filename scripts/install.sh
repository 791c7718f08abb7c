#!/bin/bash
# install.sh - install tapir on a gateway node: the binary, tapir.service,
# /etc/tapir/tapir.conf and /etc/logrotate.d/tapir (the call log's
# rotation); `--uninstall` removes what it added.
#
# Owns: the files it installs, listed with their SHA-256 in a manifest
# (<root>/var/lib/tapir/install.manifest); uninstall removes exactly the
# files in it, and directories it created if they are empty.  A config
# file that was already there is never overwritten (tapir.conf.new is
# written beside it); one that was edited after install is kept on
# uninstall (and said so).
#
# Usage: scripts/install.sh [--root DIR] [--prefix /usr/local] [--uninstall]
#                           [--enable] [--no-systemctl]
#   --root DIR      install under DIR instead of / (staging, tests)
#   --enable        systemctl enable --now tapir.service afterwards
#   --no-systemctl  never call systemctl (implied by --root)
# Needs build/tapir (make).  Exit: 0 ok, 1 failure, 2 usage.
set -u
cd "$(dirname "$0")/.." || exit 1

ROOT= PREFIX=/usr/local UNINSTALL=0 ENABLE=0 SYSTEMCTL=1
while [[ $# -gt 0 ]]; do
	case $1 in
	--root) ROOT=${2:?}; shift ;;
	--root=*) ROOT=${1#*=} ;;
	--prefix) PREFIX=${2:?}; shift ;;
	--prefix=*) PREFIX=${1#*=} ;;
	--uninstall) UNINSTALL=1 ;;
	--enable) ENABLE=1 ;;
	--no-systemctl) SYSTEMCTL=0 ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $ROOT ]] && SYSTEMCTL=0
ROOT=${ROOT%/}
BINDIR=$PREFIX/bin
MANIFEST=$ROOT/var/lib/tapir/install.manifest
UNIT=$ROOT/etc/systemd/system/tapir.service
CONF=$ROOT/etc/tapir/tapir.conf

say() { echo "install.sh: $*" >&2; }
have_systemctl() { [[ $SYSTEMCTL -eq 1 ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; }

# add FILE: record an installed file (path relative to root, sha256)
add() { printf 'file %s %s\n' "$(sha256sum "$ROOT$1" | cut -d' ' -f1)" "$1" >>"$MANIFEST"; }
# mkd DIR: create a directory and record it if it did not exist
mkd() {
	[[ -d $ROOT$1 ]] && return 0
	local parent=${1%/*}
	[[ -n $parent ]] && mkd "$parent"
	mkdir -m "${2:-0755}" "$ROOT$1" || exit 1
	printf 'dir - %s\n' "$1" >>"$MANIFEST.dirs"
}

uninstall() {
	[[ -f $MANIFEST ]] || { say "nothing installed here (no $MANIFEST)"; return 0; }
	if have_systemctl; then
		systemctl disable --now tapir.service 2>/dev/null
	fi
	local kind sum path
	while read -r kind sum path; do
		[[ $kind == file ]] || continue
		[[ -e $ROOT$path ]] || continue
		if [[ $path == /etc/tapir/* && $(sha256sum "$ROOT$path" | cut -d' ' -f1) != "$sum" ]]; then
			say "keeping $path: edited since install"
			continue
		fi
		rm -f -- "$ROOT$path"
	done <"$MANIFEST"
	rm -f -- "$MANIFEST"
	if [[ -f $MANIFEST.dirs ]]; then
		local dirs; dirs=$(awk '{print length($3), $3}' "$MANIFEST.dirs" | sort -rn | cut -d' ' -f2-)
		rm -f -- "$MANIFEST.dirs"
		# deepest first, and only if empty: nothing of anyone else goes
		while read -r path; do
			[[ -n $path ]] && rmdir -- "$ROOT$path" 2>/dev/null
		done <<<"$dirs"
	fi
	have_systemctl && systemctl daemon-reload
	say "uninstalled"
}

install_all() {
	[[ -x build/tapir ]] || { say "build/tapir missing: run make first"; exit 1; }
	[[ -f $MANIFEST ]] && { say "already installed (${MANIFEST}); --uninstall first"; exit 1; }
	[[ -z $ROOT || -d $ROOT ]] || mkdir -p "$ROOT" || exit 1
	# the manifest's own directory first (recorded once it exists)
	local md=/var/lib/tapir created=()
	local p=$md
	while [[ -n $p && ! -d $ROOT$p ]]; do created=("$p" "${created[@]}"); p=${p%/*}; done
	mkdir -p "$ROOT$md" && chmod 0700 "$ROOT$md" || exit 1
	: >"$MANIFEST"
	: >"$MANIFEST.dirs"
	for p in "${created[@]}"; do printf 'dir - %s\n' "$p" >>"$MANIFEST.dirs"; done

	mkd "$BINDIR"
	install -m 0755 build/tapir "$ROOT$BINDIR/tapir" && add "$BINDIR/tapir" || exit 1
	mkd /etc/systemd/system
	sed "s|@BINDIR@|$BINDIR|g" dist/tapir.service >"$UNIT" && chmod 0644 "$UNIT" && add /etc/systemd/system/tapir.service || exit 1
	mkd /etc/tapir 0755
	if [[ -e $CONF ]]; then
		install -m 0600 dist/tapir.conf "$CONF.new" && add /etc/tapir/tapir.conf.new
		say "kept the existing /etc/tapir/tapir.conf; the shipped one is tapir.conf.new"
	else
		install -m 0600 dist/tapir.conf "$CONF" && add /etc/tapir/tapir.conf || exit 1
	fi
	mkd /etc/logrotate.d
	install -m 0644 dist/tapir.logrotate "$ROOT/etc/logrotate.d/tapir" && add /etc/logrotate.d/tapir || exit 1
	if have_systemctl; then
		systemctl daemon-reload
		if [[ $ENABLE -eq 1 ]]; then
			systemctl enable --now tapir.service || exit 1
		fi
	fi
	say "installed $BINDIR/tapir, /etc/systemd/system/tapir.service, /etc/tapir/tapir.conf, /etc/logrotate.d/tapir${ROOT:+ under $ROOT}"
	[[ $ENABLE -eq 1 ]] || say "edit /etc/tapir/tapir.conf, then: systemctl enable --now tapir"
}

if [[ $UNINSTALL -eq 1 ]]; then uninstall; else install_all; fi
