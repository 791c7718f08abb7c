/* fuzz_decode.c - decode_packet() on every link type.
 *
 * Input: byte 0 picks the link type (index into dlts[], the last entries
 * unsupported), byte 1 the decode flags, the rest is the frame, copied to
 * an exact-size heap buffer.  Checks: the result is a known enum; a TCP
 * result's payload lies inside the frame and len <= wire_len.
 */
#include <pcap/dlt.h>

#include "decode.h"
#include "fuzz.h"

static const int dlts[] = {
	DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101 /* LINKTYPE_RAW */,
	DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, 14, 12, DLT_PPP, 0xffff,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	int dlt = dlts[fz_u8(&f) % (sizeof(dlts) / sizeof(dlts[0]))];
	unsigned flags = fz_u8(&f) & DECODE_F_NO_CSUM;
	uint8_t *pkt = fz_dup(f.p, f.n);
	struct seg s;
	memset(&s, 0, sizeof(s));
	int r = decode_packet(dlt, pkt, (uint32_t)f.n, flags, &s);
	FZ_ASSERT(r >= DECODE_TCP && r <= DECODE_UNSUPPORTED_LINK);
	if (r == DECODE_TCP) {
		FZ_ASSERT(s.family == 4 || s.family == 6);
		FZ_ASSERT(s.len <= s.wire_len);
		FZ_ASSERT(!s.len || (s.payload >= pkt && s.payload + s.len <= pkt + f.n));
		volatile uint8_t sum = 0;
		for (uint32_t i = 0; i < s.len; i++)
			sum ^= s.payload[i];
		(void)sum;
		FZ_ASSERT(s.csum <= CSUM_BAD);
	}
	(void)decode_linktype_supported(dlt);
	free(pkt);
	return 0;
}
