#!/bin/bash
# test.sh - the one command for a fresh machine: install what tapir needs,
# build it, run every test.  `sudo ./scripts/test.sh`
set -eu
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
	echo "test.sh: needs root (packages, network namespaces): sudo $0" >&2
	exit 1
fi
scripts/install-deps.sh
# -Wall -Wextra -Werror must hold under both compilers
make CC=clang BUILD=build/clang
make
# the unit suite and the fuzz regression replays under ASan + UBSan
# (LeakSanitizer on) first, so that the last line is the whole suite's
make test-asan
make test
