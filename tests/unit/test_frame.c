/* test_frame.c - rebuilt frames decode back (decode.c, an independent
 * parser that verifies the TCP checksum) to the segment they came from;
 * IPv4 header checksum recomputed; large payloads split. */
#include <pcap/pcap.h>

#include "decode.h"
#include "frame.h"
#include "tt.h"
#include "util.h"

static uint8_t big[200000];
static uint8_t out[FRAME_MAX_LEN];

static struct seg mk(int fam, uint32_t len, uint8_t flags, uint32_t seq)
{
	struct seg s = { 0 };
	s.family = (uint8_t)fam;
	s.flags = flags;
	if (fam == 4) {
		memcpy(s.src, "\x0a\x00\x00\x02", 4);
		memcpy(s.dst, "\x0a\x00\x00\x01", 4);
	} else {
		memcpy(s.src, "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02", 16);
		memcpy(s.dst, "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	}
	s.sport = 51514;
	s.dport = 443;
	s.seq = seq;
	s.ack = 0xdeadbeef;
	s.window = 501;
	s.payload = big;
	s.len = s.wire_len = len;
	return s;
}

static void roundtrip(int fam, uint32_t len, uint8_t flags, uint32_t seq)
{
	struct seg s = mk(fam, len, flags, seq);
	uint32_t n = frame_count(&s), total = 0;

	TT_EQ_INT(n, len ? (len + FRAME_MAX_PAYLOAD - 1) / FRAME_MAX_PAYLOAD : 1);
	for (uint32_t i = 0; i < n; i++) {
		struct seg d;
		uint32_t wire, fl = frame_build(&s, i, out, &wire);
		TT_EQ_INT(fl, wire);
		TT_REQUIRE(decode_packet(DLT_EN10MB, out, fl, 0, &d) == DECODE_TCP);
		TT_EQ_INT(d.csum, CSUM_OK);
		TT_EQ_INT(d.family, fam);
		TT_EQ_INT(d.sport, s.sport);
		TT_EQ_INT(d.dport, s.dport);
		TT_EQ_INT(d.seq, s.seq + i * FRAME_MAX_PAYLOAD);
		TT_EQ_INT(d.ack, s.ack);
		TT_EQ_INT(d.window, s.window);
		TT_EQ_MEM(d.src, s.src, fam == 4 ? 4 : 16);
		TT_EQ_MEM(d.dst, s.dst, fam == 4 ? 4 : 16);
		TT_EQ_MEM(d.payload, big + i * FRAME_MAX_PAYLOAD, d.len);
		TT_EQ_INT(!!(d.flags & TCPF_SYN), i == 0 && (flags & TCPF_SYN));
		TT_EQ_INT(!!(d.flags & TCPF_FIN), i == n - 1 && (flags & TCPF_FIN));
		if (fam == 4) {
			/* the header checksum sums to 0xffff */
			TT_EQ_INT(frame_csum_fold(frame_csum_add(0, out + 14, 20)), 0);
			TT_EQ_INT(out[14 + 2] << 8 | out[14 + 3], 40 + d.len);
		} else {
			TT_EQ_INT(out[14 + 4] << 8 | out[14 + 5], 20 + d.len);
		}
		total += d.len;
	}
	TT_EQ_INT(total, len);
}

TT_TEST(rebuild_v4_v6_every_size_class)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	const uint32_t lens[] = { 0, 1, 2, 3, 1448, FRAME_MAX_PAYLOAD - 1,
				  FRAME_MAX_PAYLOAD, FRAME_MAX_PAYLOAD + 1,
				  3 * FRAME_MAX_PAYLOAD + 17 };
	const uint32_t seqs[] = { 0, 1, 2, 0xffffffffu, 0xfffffff5u };
	for (int fam = 4; fam <= 6; fam += 2)
		for (size_t l = 0; l < ARRAY_SIZE(lens); l++)
			for (size_t q = 0; q < ARRAY_SIZE(seqs); q++)
				roundtrip(fam, lens[l], TCPF_ACK | TCPF_PSH |
					  (l == 0 ? TCPF_SYN : TCPF_FIN), seqs[q]);
}

TT_TEST(snapped_segment)
{
	struct seg s = mk(4, 100, TCPF_ACK, 5);
	uint32_t wire, fl;
	struct seg d;
	s.wire_len = 1000;
	fl = frame_build(&s, 0, out, &wire);
	TT_EQ_INT(fl, 14 + 40 + 100);
	TT_EQ_INT(wire, 14 + 40 + 1000);
	TT_REQUIRE(decode_packet(DLT_EN10MB, out, fl, 0, &d) == DECODE_TCP);
	TT_EQ_INT(d.csum, CSUM_OK);
}

TT_TEST(checksum_known_value)
{
	/* RFC 1071's example: 0001 f203 f4f5 f6f7 -> sum ddf2, ~ = 220d */
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	TT_EQ_INT(frame_csum_fold(frame_csum_add(0, b, 8)), 0x220d);
}

TT_MAIN()
