#!/bin/bash
# loss.sh - packet loss: a bridge namespace between client and server drops
# ~10% of the data segments in each direction (nft bridge family), so the
# client-side capture holds gaps in the server's data later filled by TCP
# retransmissions (often cut differently from the lost GSO super-packets:
# partial overlaps), and duplicate client segments (retransmitted uploads).  Every exchange must still
# decode exactly.  The drop pattern is random; correctness must not depend
# on it.
source "$(dirname "$0")/../lib/common.sh"
export LAB_MIDDLE=bridge
t_init loss
H=$LAB_HOST
command -v nft >/dev/null || { echo "SKIP: nft not installed"; exit 77; }

# drop PCT% of the TCP segments longer than 200 bytes crossing the bridge
lab_b "$T_LAB" nft -f - <<NFT || { echo "SKIP: nftables bridge family not usable here"; exit 77; }
table bridge tprloss {
	chain lossy {
		type filter hook forward priority 0; policy accept;
		meta l4proto tcp meta length > 200 numgen random mod 100 < ${LOSS_PCT:-10} drop
	}
}
NFT

plain() {
	gt_curl --compressed "GET http://$LAB_SRV4/5m.bin" "POST http://$LAB_SRV4/upload $(W 1m.bin)" \
		"GET http://$LAB_SRV4/text.txt" "GET http://$LAB_SRV4/100k.bin" "PUT http://$LAB_SRV4/dav/l $(W 5m.bin)"
}
tls13() {
	gt_curl --opt=--resolve --opt="$H:443:$LAB_SRV4" --opt=--tls13-ciphers --opt=TLS_AES_128_GCM_SHA256 \
		"GET https://$H/5m.bin" "POST https://$H/upload $(W 1m.bin)" "GET https://$H/chunked/text.txt" "GET https://$H/1m.bin"
}
tls12_cbc() {
	gt_curl --opt=--resolve --opt="$H:8443:$LAB_SRV4" --opt=--ciphers --opt=ECDHE-RSA-AES128-SHA \
		"GET https://$H:8443/5m.bin" "POST https://$H:8443/upload $(W 1m.bin)" "GET https://$H:8443/100k.bin"
}

T_RETRANS=1 t_case plain plain
T_RETRANS=1 T_TLS="TLSv1.3 TLS_AES_128_GCM_SHA256" t_case tls13 tls13
T_RETRANS=1 T_TLS="TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" t_case tls12-cbc tls12_cbc
t_done
