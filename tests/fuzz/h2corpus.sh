#!/bin/bash
# h2corpus.sh - regenerate the fuzz_http2 / fuzz_grpc seed corpora from a
# cleartext HTTP/2 lab capture (root).  Usage: tests/fuzz/h2corpus.sh
# Traffic: nghttpd with padding, a pushed resource and trailers, nghttp
# with CONTINUATION and header-table-size changes and an upload, curl
# streams over prior knowledge and the h2c Upgrade (nghttpx), a stream
# reset by curl, and the gRPC peer's calls.  Then mkcorpus_h2.py.
set -u
cd "$(dirname "$0")/../.." || exit 1
source scripts/lab.sh
trap 'lab_down h2c' EXIT
lab_up h2c && lab_nginx_start h2c && lab_nghttpd_start h2c 8080 -b 17 -p /small.txt=/1k.bin --trailer 'x-t: 1' &&
	lab_nghttpx_start h2c && lab_grpc_start h2c || exit 1
cap=$LAB_DIR/h2.pcap
lab_cap_start h2c "$cap" || exit 1
u=http://$LAB_SRV4
lab_c h2c nghttp -n --continuation -c 1024 -c 0 -c 4096 -m 3 "$u:8080/small.txt" "$u:8080/1k.bin"
lab_c h2c nghttp -n -d "$LAB_DIR/www/1k.bin" "$u:8080/1k.bin"
lab_c h2c curl -s --http2-prior-knowledge -o /dev/null -o /dev/null "$u:10080/1k.bin" "$u:10080/no/such"
lab_c h2c curl -s --http2 -o /dev/null "$u:8082/small.txt"
lab_c h2c curl -s --http2-prior-knowledge --max-filesize 1000 -o /dev/null "$u:10080/100k.bin"
lab_c h2c /usr/bin/python3 tests/lib/grpc_peer.py call --target "$LAB_SRV4:50051" --out /dev/null
lab_cap_stop h2c || exit 1
/usr/bin/python3 tests/fuzz/mkcorpus_h2.py "$cap" tests/fuzz/corpus
