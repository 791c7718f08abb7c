/* test_decode.c - packet decoding on crafted frames.
 *
 * Frames are built here, with checksums computed by a deliberately naive
 * reference (16-bit big-endian words), and decoded from tt_guard() copies
 * so that any read past the frame crashes.  Every full frame is also
 * decoded at every truncation length.
 */
#include <pcap/dlt.h>

#include "decode.h"
#include "segment.h"
#include "tt.h"
#include "util.h"

/* ---- frame builder ------------------------------------------------------ */

struct frame {
	uint8_t b[4096];
	size_t n;
	size_t hdr;		/* bytes before the TCP payload */
	size_t plen;		/* TCP payload bytes */
};

static void put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, b, 2);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static uint32_t ref_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)(p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static const uint8_t V4S[4] = { 192, 168, 1, 10 }, V4D[4] = { 10, 0, 0, 1 };
static const uint8_t V6S[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6D[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, 2 };
static const uint8_t V6F[16] = { 0x20, 0x01, 0x0d, 0xb8, [13] = 0xff, 3 };

struct tcpspec {
	uint8_t flags;
	size_t optlen;		/* multiple of 4 */
	const char *payload;
};

/* TCP header + payload at f->n; checksum over the given pseudo-header
 * addresses.  alen 4 or 16. */
static void put_tcp(struct frame *f, const struct tcpspec *t,
		    const uint8_t *src, const uint8_t *dst, int alen)
{
	size_t start = f->n, plen = strlen(t->payload);
	size_t hl = 20 + t->optlen, tl = hl + plen;
	uint32_t s = 0;
	uint16_t c;
	uint8_t pz[4];

	put16(f, 51514);
	put16(f, 443);
	put32(f, 0xfffffff0u);
	put32(f, 0x12345678u);
	f->b[f->n++] = (uint8_t)((hl / 4) << 4);
	f->b[f->n++] = t->flags;
	put16(f, 65535);
	put16(f, 0);		/* checksum */
	put16(f, 0);		/* urgent */
	for (size_t i = 0; i < t->optlen; i++)	/* NOPs, then EOL */
		f->b[f->n++] = i + 1 < t->optlen ? 1 : 0;
	f->hdr = f->n;
	put(f, t->payload, plen);
	f->plen = plen;
	s = ref_sum(s, src, (size_t)alen);
	s = ref_sum(s, dst, (size_t)alen);
	pz[0] = 0;
	pz[1] = 6;
	pz[2] = (uint8_t)(tl >> 8);
	pz[3] = (uint8_t)tl;
	s = ref_sum(s, pz, 4);
	s = ref_sum(s, f->b + start, tl);
	c = ref_fold(s);
	f->b[start + 16] = (uint8_t)(c >> 8);
	f->b[start + 17] = (uint8_t)c;
}

struct v4spec {
	size_t optlen;		/* IP options, multiple of 4 */
	uint16_t frag;		/* flags + offset field */
	uint8_t proto;
	int totlen_delta;	/* added to the true total length */
	bool totlen_zero;
};

static void put_ipv4(struct frame *f, const struct v4spec *v,
		     const struct tcpspec *t)
{
	size_t start = f->n, ihl = 20 + v->optlen, tot;
	uint32_t s;
	uint16_t c;

	f->b[f->n++] = (uint8_t)(0x40 | ihl / 4);
	f->b[f->n++] = 0;
	put16(f, 0);		/* total length, below */
	put16(f, 0x1234);
	put16(f, v->frag);
	f->b[f->n++] = 64;
	f->b[f->n++] = v->proto ? v->proto : 6;
	put16(f, 0);
	put(f, V4S, 4);
	put(f, V4D, 4);
	for (size_t i = 0; i < v->optlen; i++)
		f->b[f->n++] = 1;	/* NOP options */
	if (!v->proto || v->proto == 6) {
		put_tcp(f, t, V4S, V4D, 4);
	} else {
		put(f, "\x30\x39\x00\x35\x00\x0c\x00\x00" "abcd", 12);
		f->hdr = f->n;
		f->plen = 0;
	}
	tot = f->n - start;
	if (!v->totlen_zero) {
		int tl = (int)tot + v->totlen_delta;

		f->b[start + 2] = (uint8_t)(tl >> 8);
		f->b[start + 3] = (uint8_t)tl;
	}
	s = ref_sum(0, f->b + start, ihl);
	c = ref_fold(s);
	f->b[start + 10] = (uint8_t)(c >> 8);
	f->b[start + 11] = (uint8_t)c;
}

/* IPv6 with extension headers: exts is a list of next-header values
 * (0, 43, 44, 50, 51, 59, 60), each built with a minimal body. */
struct v6spec {
	uint8_t exts[8];
	int next;
	uint16_t fragfield;	/* for 44: offset<<3 | M */
	uint8_t rt_type, rt_left;	/* for 43 */
};

static void put_ipv6(struct frame *f, const struct v6spec *v,
		     const struct tcpspec *t)
{
	size_t start = f->n;
	const uint8_t *pdst = V6D;

	put32(f, 0x60000000u);
	put16(f, 0);		/* payload length, below */
	f->b[f->n++] = v->next ? v->exts[0] : 6;
	f->b[f->n++] = 64;
	put(f, V6S, 16);
	put(f, V6D, 16);
	for (int i = 0; i < v->next; i++) {
		uint8_t nh = i + 1 < v->next ? v->exts[i + 1] : 6;

		switch (v->exts[i]) {
		case 44:
			f->b[f->n++] = nh;
			f->b[f->n++] = 0;
			put16(f, v->fragfield);
			put32(f, 0xabcdef01u);
			break;
		case 43:
			f->b[f->n++] = nh;
			f->b[f->n++] = 2;	/* 24 bytes: one address */
			f->b[f->n++] = v->rt_type;
			f->b[f->n++] = v->rt_left;
			put32(f, 0);
			put(f, V6F, 16);
			if (v->rt_left)
				pdst = V6F;
			break;
		case 51:	/* AH: (2 + 2) * 4 = 16 bytes */
			f->b[f->n++] = nh;
			f->b[f->n++] = 2;
			put16(f, 0);
			put32(f, 0x1000);
			put32(f, 1);
			put32(f, 0xdeadbeef);
			break;
		case 50:	/* ESP: SPI, seq, opaque */
			put32(f, 0x1000);
			put32(f, 1);
			put(f, "opaqueopaque", 12);
			break;
		case 59:
			break;
		default:	/* 0, 60: 16 bytes of PadN */
			f->b[f->n++] = nh;
			f->b[f->n++] = 1;
			f->b[f->n++] = 1;	/* PadN */
			f->b[f->n++] = 12;
			for (int k = 0; k < 12; k++)
				f->b[f->n++] = 0;
			break;
		}
	}
	if (!v->next || (v->exts[v->next - 1] != 50 &&
			 v->exts[v->next - 1] != 59)) {
		put_tcp(f, t, V6S, pdst, 16);
	} else {
		f->hdr = f->n;
		f->plen = 0;
	}
	f->b[start + 4] = (uint8_t)((f->n - start - 40) >> 8);
	f->b[start + 5] = (uint8_t)(f->n - start - 40);
}

/* Link headers: prepended by building into a fresh frame. */
enum link { L_ETH, L_VLAN, L_QINQ, L_Q9100, L_SLL, L_SLL2, L_RAW, L_NULL,
	    L_LOOP };

static size_t put_link(struct frame *f, enum link l, uint16_t et)
{
	static const uint8_t mac[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

	switch (l) {
	case L_ETH:
		put(f, mac, 12);
		put16(f, et);
		break;
	case L_VLAN:
		put(f, mac, 12);
		put16(f, 0x8100);
		put16(f, 100);
		put16(f, et);
		break;
	case L_QINQ:
		put(f, mac, 12);
		put16(f, 0x88a8);
		put16(f, 10);
		put16(f, 0x8100);
		put16(f, 20);
		put16(f, et);
		break;
	case L_Q9100:
		put(f, mac, 12);
		put16(f, 0x9100);
		put16(f, 10);
		put16(f, 0x8100);
		put16(f, 20);
		put16(f, et);
		break;
	case L_SLL:
		put16(f, 0);		/* to us */
		put16(f, 1);		/* ARPHRD_ETHER */
		put16(f, 6);
		put(f, mac, 8);
		put16(f, et);
		break;
	case L_SLL2:
		put16(f, et);
		put16(f, 0);
		put32(f, 7);		/* ifindex */
		put16(f, 1);
		f->b[f->n++] = 4;	/* outgoing */
		f->b[f->n++] = 6;
		put(f, mac, 8);
		break;
	case L_NULL:			/* host byte order */
		{
			uint32_t af = et == 0x0800 ? 2 : 30;

			put(f, &af, 4);
		}
		break;
	case L_LOOP:
		put32(f, et == 0x0800 ? 2 : 10);
		break;
	case L_RAW:
		break;
	}
	return f->n;
}

static int dlt_of(enum link l)
{
	switch (l) {
	case L_SLL: return DLT_LINUX_SLL;
	case L_SLL2: return DLT_LINUX_SLL2;
	case L_RAW: return DLT_RAW;
	case L_NULL: return DLT_NULL;
	case L_LOOP: return DLT_LOOP;
	default: return DLT_EN10MB;
	}
}

static const struct tcpspec T_HELLO = { TCPF_ACK | TCPF_PSH, 0, "hello" };

static struct frame *v4frame(enum link l, const struct v4spec *v,
			     const struct tcpspec *t)
{
	static struct frame f;

	memset(&f, 0, sizeof(f));
	put_link(&f, l, 0x0800);
	put_ipv4(&f, v, t);
	return &f;
}

static struct frame *v6frame(enum link l, const struct v6spec *v,
			     const struct tcpspec *t)
{
	static struct frame f;

	memset(&f, 0, sizeof(f));
	put_link(&f, l, 0x86dd);
	put_ipv6(&f, v, t);
	return &f;
}

/* ---- checking ----------------------------------------------------------- */

static int decode_guarded(int dlt, const uint8_t *p, size_t n, struct seg *s)
{
	uint8_t *g;
	int rc;

	if (!n)
		return decode_packet(dlt, NULL, 0, 0, s);
	g = tt_guard(p, n);
	rc = decode_packet(dlt, g, (uint32_t)n, 0, s);
	if (rc == DECODE_TCP) {	/* the payload view lies in the frame */
		if (s->len && (s->payload < g || s->payload + s->len > g + n))
			rc = -1;
	}
	tt_guard_free(g);
	return rc;
}

static void expect(const char *name, int dlt, const struct frame *f,
		   size_t caplen, int want, int csum)
{
	struct seg s;
	int rc = decode_guarded(dlt, f->b, caplen, &s);
	char m[256];

	if (rc != want) {
		snprintf(m, sizeof(m), "%s: result %d want %d", name, rc, want);
		tt_fail(__FILE__, __LINE__, m);
		return;
	}
	if (rc != DECODE_TCP)
		return;
	if (s.wire_len != f->plen ||
	    s.len != (caplen >= f->n ? f->plen : caplen - f->hdr) ||
	    s.csum != csum || s.sport != 51514 || s.dport != 443 ||
	    s.seq != 0xfffffff0u || s.ack != 0x12345678u ||
	    s.window != 65535) {
		snprintf(m, sizeof(m),
			 "%s: len %u wire %u csum %d (want %zu %zu %d)", name,
			 s.len, s.wire_len, s.csum, f->plen, f->plen, csum);
		tt_fail(__FILE__, __LINE__, m);
	}
}

/* Every truncation length: headers cut -> TRUNCATED, payload cut -> TCP
 * with len < wire_len and no checksum verdict. */
static void truncations(const char *name, int dlt, const struct frame *f)
{
	char m[256];

	for (size_t cut = 0; cut < f->n; cut++) {
		snprintf(m, sizeof(m), "%s cut at %zu", name, cut);
		if (cut < f->hdr)
			expect(m, dlt, f, cut, DECODE_TRUNCATED, 0);
		else
			expect(m, dlt, f, cut, DECODE_TCP, CSUM_UNKNOWN);
	}
	expect(name, dlt, f, f->n, DECODE_TCP, CSUM_OK);
}

/* ---- tests -------------------------------------------------------------- */

TT_TEST(ipv4_links)
{
	static const struct { const char *name; enum link l; } cases[] = {
		{ "ethernet", L_ETH }, { "802.1Q", L_VLAN },
		{ "802.1ad QinQ", L_QINQ }, { "0x9100 QinQ", L_Q9100 },
		{ "SLL", L_SLL }, { "SLL2", L_SLL2 }, { "raw", L_RAW },
		{ "null", L_NULL }, { "loop", L_LOOP },
	};
	const struct v4spec v = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct frame *f = v4frame(cases[i].l, &v, &T_HELLO);

		truncations(cases[i].name, dlt_of(cases[i].l), f);
	}
}

TT_TEST(ipv4_fields)
{
	const struct v4spec v = { .optlen = 8, .frag = 0x4000 /* DF */ };
	const struct tcpspec t = { TCPF_SYN | TCPF_ACK | TCPF_FIN, 12, "hello!" };
	struct frame *f = v4frame(L_ETH, &v, &t);
	struct seg s;

	truncations("ip+tcp options", DLT_EN10MB, f);
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.family, 4);
	TT_EQ_MEM(s.src, V4S, 4);
	TT_EQ_MEM(s.dst, V4D, 4);
	TT_EQ_INT(s.flags, TCPF_SYN | TCPF_ACK | TCPF_FIN);
	TT_EQ_INT(s.len, 6);
	TT_EQ_INT(s.ifindex, 0);
	/* the payload view, in place */
	TT_EQ_INT(decode_packet(DLT_EN10MB, f->b, (uint32_t)f->n, 0, &s),
		  DECODE_TCP);
	TT_CHECK(s.payload == f->b + f->hdr);
	TT_EQ_MEM(s.payload, "hello!", 6);
	/* DLT_IPV4 / LINKTYPE_IPV4 */
	expect("DLT_IPV4", DLT_IPV4, v4frame(L_RAW, &v, &t),
	       v4frame(L_RAW, &v, &t)->n, DECODE_TCP, CSUM_OK);
}

TT_TEST(ipv4_fragments_and_protocols)
{
	static const struct {
		const char *name;
		struct v4spec v;
		int want;
	} cases[] = {
		{ "MF",            { .frag = 0x2000 },            DECODE_FRAGMENT },
		{ "offset",        { .frag = 0x0010 },            DECODE_FRAGMENT },
		{ "last fragment", { .frag = 0x0100 },            DECODE_FRAGMENT },
		{ "DF only",       { .frag = 0x4000 },            DECODE_TCP },
		{ "UDP",           { .proto = 17 },               DECODE_NOT_TCP },
		{ "ICMP",          { .proto = 1 },                DECODE_NOT_TCP },
		{ "total < ihl",   { .totlen_delta = -40 },       DECODE_MALFORMED },
		{ "total < tcp",   { .totlen_delta = -10 },       DECODE_MALFORMED },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct frame *f = v4frame(L_ETH, &cases[i].v, &T_HELLO);

		expect(cases[i].name, DLT_EN10MB, f, f->n, cases[i].want,
		       CSUM_OK);
	}
}

TT_TEST(ipv4_malformed)
{
	const struct v4spec v = { 0 };
	struct frame *f;
	struct seg s;

	f = v4frame(L_ETH, &v, &T_HELLO);
	f->b[14] = 0x44;	/* IHL 4 */
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_MALFORMED);
	f = v4frame(L_ETH, &v, &T_HELLO);
	f->b[14] = 0x55;	/* version 5 behind EtherType IPv4 */
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_MALFORMED);
	f = v4frame(L_RAW, &v, &T_HELLO);
	f->b[0] = 0x75;		/* raw: neither 4 nor 6 */
	TT_EQ_INT(decode_guarded(DLT_RAW, f->b, f->n, &s), DECODE_MALFORMED);
	f = v4frame(L_ETH, &v, &T_HELLO);
	f->b[14 + 20 + 12] = 0x40;	/* TCP data offset 4 */
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_MALFORMED);
	f = v4frame(L_ETH, &v, &T_HELLO);
	f->b[14 + 20 + 12] = 0xf0;	/* 60 > TCP length on the wire */
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_MALFORMED);
	f = v6frame(L_RAW, &(struct v6spec){ 0 }, &T_HELLO);
	TT_EQ_INT(decode_guarded(DLT_IPV4, f->b, f->n, &s), DECODE_MALFORMED);
	f = v4frame(L_RAW, &v, &T_HELLO);
	TT_EQ_INT(decode_guarded(DLT_IPV6, f->b, f->n, &s), DECODE_MALFORMED);
}

TT_TEST(bad_checksum)
{
	const struct v4spec v = { 0 };
	struct frame *f = v4frame(L_ETH, &v, &T_HELLO);

	f->b[f->n - 1] ^= 0x20;
	expect("payload flipped", DLT_EN10MB, f, f->n, DECODE_TCP, CSUM_BAD);
	f = v4frame(L_ETH, &v, &T_HELLO);
	f->b[14 + 12] ^= 1;	/* source address: pseudo-header */
	expect("address flipped", DLT_EN10MB, f, f->n, DECODE_TCP, CSUM_BAD);
	f = v6frame(L_ETH, &(struct v6spec){ 0 }, &T_HELLO);
	f->b[f->n - 3] ^= 0x01;
	expect("v6 payload flipped", DLT_EN10MB, f, f->n, DECODE_TCP,
	       CSUM_BAD);
}

/* Checksums over every payload length 0..300 (odd tails, 8-byte loop). */
TT_TEST(checksum_lengths)
{
	static char pay[301];

	for (int i = 0; i < 300; i++)
		pay[i] = (char)(1 + i * 7 % 255);	/* never NUL */
	for (size_t n = 0; n <= 300; n++) {
		struct tcpspec t = { TCPF_ACK, 4 * (n % 3), pay + 300 - n };
		struct frame *f = v4frame(L_ETH, &(struct v4spec){ 0 }, &t);
		char m[64];

		snprintf(m, sizeof(m), "v4 payload %zu", n);
		expect(m, DLT_EN10MB, f, f->n, DECODE_TCP, CSUM_OK);
		f = v6frame(L_RAW, &(struct v6spec){ 0 }, &t);
		snprintf(m, sizeof(m), "v6 payload %zu", n);
		expect(m, DLT_RAW, f, f->n, DECODE_TCP, CSUM_OK);
	}
}

TT_TEST(ethernet_padding)
{
	const struct tcpspec t = { TCPF_ACK, 0, "" };
	struct frame *f = v4frame(L_ETH, &(struct v4spec){ 0 }, &t);
	struct seg s;

	TT_EQ_INT(f->n, 54);
	memset(f->b + f->n, 0xee, 6);	/* padding to the 60-byte minimum */
	f->n += 6;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.len, 0);
	TT_EQ_INT(s.wire_len, 0);
	TT_EQ_INT(s.csum, CSUM_OK);
	/* with a payload, and 4 bytes of FCS-like trailer */
	f = v4frame(L_VLAN, &(struct v4spec){ 0 }, &T_HELLO);
	memcpy(f->b + f->n, "\x01\x02\x03\x04", 4);
	f->n += 4;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.len, 5);
	TT_EQ_INT(s.csum, CSUM_OK);
	/* IPv6 too */
	f = v6frame(L_ETH, &(struct v6spec){ 0 }, &t);
	memset(f->b + f->n, 0, 8);
	f->n += 8;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.len, 0);
	TT_EQ_INT(s.csum, CSUM_OK);
}

/* Snapped: total length larger than the capture. */
TT_TEST(snapped)
{
	static char big[1001];
	struct tcpspec t = { TCPF_ACK, 0, big };
	struct frame *f;
	struct seg s;

	memset(big, 'z', 1000);
	f = v4frame(L_ETH, &(struct v4spec){ 0 }, &t);
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, 96, &s), DECODE_TCP);
	TT_EQ_INT(s.len, 96 - 54);
	TT_EQ_INT(s.wire_len, 1000);
	TT_EQ_INT(s.csum, CSUM_UNKNOWN);
	/* IP total length 0 (TSO on the capturing host): as captured */
	f = v4frame(L_ETH, &(struct v4spec){ .totlen_zero = true }, &T_HELLO);
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.len, 5);
	TT_EQ_INT(s.wire_len, 5);
	TT_EQ_INT(s.csum, CSUM_UNKNOWN);
}

TT_TEST(ipv6_extension_headers)
{
	static const struct {
		const char *name;
		struct v6spec v;
		int want;
	} cases[] = {
		{ "plain",            { .next = 0 },                           DECODE_TCP },
		{ "hbh+dst+routing",  { .exts = { 0, 60, 43 }, .next = 3 },                    DECODE_TCP },
		{ "hbh+routing+dst",  { .exts = { 0, 43, 60 }, .next = 3 },                    DECODE_TCP },
		{ "atomic fragment",  { .exts = { 44 }, .next = 1, .fragfield = 0 },           DECODE_TCP },
		{ "fragment M",       { .exts = { 44 }, .next = 1, .fragfield = 1 },           DECODE_FRAGMENT },
		{ "fragment offset",  { .exts = { 44 }, .next = 1, .fragfield = 185 << 3 },    DECODE_FRAGMENT },
		{ "hbh+fragment M",   { .exts = { 0, 44 }, .next = 2, .fragfield = 1 },        DECODE_FRAGMENT },
		{ "AH",               { .exts = { 51 }, .next = 1 },                           DECODE_TCP },
		{ "hbh+AH+dst",       { .exts = { 0, 51, 60 }, .next = 3 },                    DECODE_TCP },
		{ "ESP",              { .exts = { 50 }, .next = 1 },                           DECODE_NOT_TCP },
		{ "no next header",   { .exts = { 59 }, .next = 1 },                           DECODE_NOT_TCP },
		{ "dst+no next",      { .exts = { 60, 59 }, .next = 2 },                       DECODE_NOT_TCP },
		{ "routing type 2, left 1", { .exts = { 43 }, .next = 1, .rt_type = 2, .rt_left = 1 }, DECODE_TCP },
		{ "SRH, left 1",      { .exts = { 43 }, .next = 1, .rt_type = 4, .rt_left = 1 }, DECODE_TCP },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct frame *f = v6frame(L_RAW, &cases[i].v, &T_HELLO);

		if (cases[i].want == DECODE_TCP)
			truncations(cases[i].name, DLT_RAW, f);
		else
			expect(cases[i].name, DLT_RAW, f, f->n, cases[i].want,
			       0);
		f = v6frame(L_QINQ, &cases[i].v, &T_HELLO);
		expect(cases[i].name, DLT_EN10MB, f, f->n, cases[i].want,
		       CSUM_OK);
	}
}

TT_TEST(ipv6_fields)
{
	struct seg s;
	struct frame *f = v6frame(L_SLL2, &(struct v6spec){ .exts = { 0, 60 }, .next = 2 },
				  &T_HELLO);

	truncations("SLL2 v6", DLT_LINUX_SLL2, f);
	TT_EQ_INT(decode_guarded(DLT_LINUX_SLL2, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.family, 6);
	TT_EQ_MEM(s.src, V6S, 16);
	TT_EQ_MEM(s.dst, V6D, 16);
	TT_EQ_INT(s.ifindex, 7);
	/* routing header with segments left: the final destination */
	f = v6frame(L_RAW, &(struct v6spec){ .exts = { 43 }, .next = 1, .rt_type = 2,
					     .rt_left = 1 }, &T_HELLO);
	TT_EQ_INT(decode_guarded(DLT_IPV6, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_MEM(s.dst, V6F, 16);
	TT_EQ_INT(s.csum, CSUM_OK);
	/* unknown routing type with segments left: not verifiable */
	f = v6frame(L_RAW, &(struct v6spec){ .exts = { 43 }, .next = 1, .rt_type = 9,
					     .rt_left = 1 }, &T_HELLO);
	TT_EQ_INT(decode_guarded(DLT_RAW, f->b, f->n, &s), DECODE_TCP);
	TT_EQ_INT(s.csum, CSUM_UNKNOWN);
	/* payload length shorter than the extension headers */
	f = v6frame(L_RAW, &(struct v6spec){ .exts = { 0, 60 }, .next = 2 }, &T_HELLO);
	f->b[4] = 0;
	f->b[5] = 20;
	TT_EQ_INT(decode_guarded(DLT_RAW, f->b, f->n, &s), DECODE_MALFORMED);
	/* version mismatch behind the IPv6 EtherType */
	f = v6frame(L_ETH, &(struct v6spec){ 0 }, &T_HELLO);
	f->b[14] = 0x45;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f->b, f->n, &s), DECODE_MALFORMED);
}

TT_TEST(ipv6_links)
{
	static const struct { const char *name; enum link l; } cases[] = {
		{ "v6 ethernet", L_ETH }, { "v6 vlan", L_VLAN },
		{ "v6 qinq", L_QINQ }, { "v6 sll", L_SLL },
		{ "v6 null", L_NULL }, { "v6 loop", L_LOOP },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		truncations(cases[i].name, dlt_of(cases[i].l),
			    v6frame(cases[i].l, &(struct v6spec){ .exts = { 0, 44 }, .next = 2 },
				    &T_HELLO));
	expect("DLT_IPV6", DLT_IPV6,
	       v6frame(L_RAW, &(struct v6spec){ 0 }, &T_HELLO),
	       v6frame(L_RAW, &(struct v6spec){ 0 }, &T_HELLO)->n, DECODE_TCP,
	       CSUM_OK);
}

TT_TEST(not_tcp)
{
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5,
		0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1,
	};
	struct frame f = { .n = 0 };
	struct seg s;

	TT_EQ_INT(decode_guarded(DLT_EN10MB, arp, sizeof(arp), &s),
		  DECODE_NOT_TCP);
	/* 802.3 length field (LLC) */
	put_link(&f, L_ETH, 0x0026);
	memset(f.b + f.n, 0x42, 40);
	f.n += 40;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f.b, f.n, &s), DECODE_NOT_TCP);
	/* SLL carrying ARP */
	f.n = 0;
	put_link(&f, L_SLL, 0x0806);
	memset(f.b + f.n, 0, 28);
	f.n += 28;
	TT_EQ_INT(decode_guarded(DLT_LINUX_SLL, f.b, f.n, &s), DECODE_NOT_TCP);
	/* DLT_NULL with an unknown family */
	f.n = 0;
	put32(&f, 0x07000000);
	memset(f.b + f.n, 0x45, 40);
	f.n += 40;
	TT_EQ_INT(decode_guarded(DLT_NULL, f.b, f.n, &s), DECODE_NOT_TCP);
	/* too many VLAN tags */
	f.n = 0;
	put(&f, arp, 12);
	for (int i = 0; i < 9; i++) {
		put16(&f, 0x8100);
		put16(&f, 1);
	}
	put16(&f, 0x0800);
	memset(f.b + f.n, 0x45, 40);
	f.n += 40;
	TT_EQ_INT(decode_guarded(DLT_EN10MB, f.b, f.n, &s), DECODE_MALFORMED);
}

TT_TEST(linktypes)
{
	struct seg s;
	static const uint8_t one = 0x45;

	TT_CHECK(decode_linktype_supported(DLT_EN10MB));
	TT_CHECK(decode_linktype_supported(DLT_LINUX_SLL));
	TT_CHECK(decode_linktype_supported(DLT_LINUX_SLL2));
	TT_CHECK(decode_linktype_supported(DLT_RAW));
	TT_CHECK(decode_linktype_supported(12));
	TT_CHECK(decode_linktype_supported(14));
	TT_CHECK(decode_linktype_supported(101));
	TT_CHECK(decode_linktype_supported(228));
	TT_CHECK(decode_linktype_supported(229));
	TT_CHECK(decode_linktype_supported(DLT_NULL));
	TT_CHECK(decode_linktype_supported(DLT_LOOP));
	TT_CHECK(!decode_linktype_supported(DLT_IEEE802_11));
	TT_CHECK(!decode_linktype_supported(9999));
	TT_EQ_INT(decode_guarded(9999, &one, 1, &s), DECODE_UNSUPPORTED_LINK);
	TT_EQ_INT(decode_guarded(DLT_IEEE802_11, &one, 1, &s),
		  DECODE_UNSUPPORTED_LINK);
	/* DLT 14 and LINKTYPE_RAW decode as raw IP on Linux */
	expect("dlt 14", 14, v4frame(L_RAW, &(struct v4spec){ 0 }, &T_HELLO),
	       v4frame(L_RAW, &(struct v4spec){ 0 }, &T_HELLO)->n, DECODE_TCP,
	       CSUM_OK);
	expect("linktype 101", 101,
	       v6frame(L_RAW, &(struct v6spec){ 0 }, &T_HELLO),
	       v6frame(L_RAW, &(struct v6spec){ 0 }, &T_HELLO)->n, DECODE_TCP,
	       CSUM_OK);
}

/* Hostile: random bytes behind every link type never crash. */
TT_TEST(random_frames)
{
	static const int dlts[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
				    DLT_RAW, DLT_IPV4, DLT_IPV6, DLT_NULL,
				    DLT_LOOP };
	unsigned seed = 7;
	uint8_t b[200];
	struct seg s;

	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(b));
		int dlt = dlts[i % ARRAY_SIZE(dlts)];

		for (size_t k = 0; k < n; k++)
			b[k] = (uint8_t)rand_r(&seed);
		/* bias towards plausible headers */
		if (n > 40 && (i & 1)) {
			size_t o = dlt == DLT_EN10MB ? 14 : dlt == DLT_LINUX_SLL ? 16 :
				   dlt == DLT_LINUX_SLL2 ? 20 : dlt == DLT_NULL ||
				   dlt == DLT_LOOP ? 4 : 0;
			if (o + 40 < n)
				b[o] = (i & 2) ? 0x45 : 0x60;
			if (o + 10 < n)
				b[o + ((i & 2) ? 9 : 6)] = 6;
		}
		TT_CHECK(decode_guarded(dlt, b, n, &s) >= 0);
	}
}

TT_MAIN()
