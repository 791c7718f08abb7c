#!/bin/bash
# install-deps.sh - install the Debian packages tapir needs to build, test,
# demo and benchmark.  Idempotent and quiet: when dpkg-query says every
# package is installed it prints nothing and does not touch apt at all.
# Only if something is missing: apt-get update -qq, then one install.
set -euo pipefail

BUILD_PKGS=(gcc clang llvm make pkg-config libpcap-dev libssl-dev zlib1g-dev
	libbrotli-dev libnghttp2-dev libbpf-dev libxdp-dev libelf-dev bpftool)
TEST_PKGS=(iproute2 nginx curl tshark tcpdump nghttp2-client nghttp2-server nghttp2-proxy
	python3 python3-grpcio jq openssl brotli wrk valgrind iperf3 tcpreplay nftables
	xxd time procps logrotate)

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps.sh: needs root (apt-get)" >&2
	exit 1
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ $st == installed ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
