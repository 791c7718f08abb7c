/* decode.c - one captured frame -> struct seg (see decode.h).
 *
 * Owns: nothing.  A pure function over the caller's buffer; the output
 * payload is a view into it.
 *
 * Layers, each a function that consumes a header and hands the rest on:
 *
 *   decode_packet -> link (Ethernet / SLL / SLL2 / NULL / LOOP / raw)
 *                 -> vlan_l3 (802.1Q / 802.1ad / QinQ tags, up to 8)
 *                 -> decode_ipv4 | decode_ipv6 (extension header chain)
 *                 -> decode_tcp (data offset, checksum)
 *
 * Invariants:
 *  - nothing is read at or beyond pkt + caplen: every header access is
 *    preceded by a length check against the bytes still captured (`cap`);
 *  - the IP datagram's end is min(IP length, captured bytes): trailing link
 *    padding (Ethernet minimum frame) is never payload;
 *  - headers cut by the capture -> DECODE_TRUNCATED, lengths that contradict
 *    each other on the wire -> DECODE_MALFORMED, a TCP segment whose
 *    headers are present but whose payload was snapped -> DECODE_TCP with
 *    len < wire_len and CSUM_UNKNOWN.
 *  - IP length fields of 0 (TSO/GSO super-packets captured on the sending
 *    host, IPv6 jumbograms) mean "as long as the capture": accepted with
 *    CSUM_UNKNOWN, since such checksums are partial anyway.
 */
#include "decode.h"

#include <pcap/dlt.h>
#include <string.h>

#define ETH_P_IPV4	0x0800
#define ETH_P_IPV6	0x86dd
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define ETH_P_QINQ1	0x9100	/* pre-standard QinQ */
#define ETH_P_QINQ2	0x9200
#define MAX_VLAN_TAGS	8

#define LINKTYPE_RAW	101	/* file link type; libpcap maps it to DLT_RAW */

#define IPPROTO_TCP_	6
#define IP6_HOPOPTS	0
#define IP6_ROUTING	43
#define IP6_FRAGMENT	44
#define IP6_ESP		50
#define IP6_AH		51
#define IP6_NONE	59
#define IP6_DSTOPTS	60

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* One's-complement sum of n bytes in native byte order, 64 bits at a time
 * with end-around carry.  2^16 == 1 (mod 0xffff), so summing wider words
 * equals summing their 16-bit halves; the caller folds. */
static uint64_t csum_add(uint64_t acc, const uint8_t *p, size_t n)
{
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		acc += w;
		acc += acc < w;
		p += 8;
		n -= 8;
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);	/* odd tail byte padded with a zero */
		acc += w;
		acc += acc < w;
	}
	return acc;
}

static uint16_t csum_fold(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* Pseudo-header words in wire byte order, added as memory. */
static uint64_t csum_add_be32(uint64_t acc, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	return csum_add(acc, b, 4);
}

/* tcp points at tcp_len bytes (header + payload), all captured. */
static uint8_t tcp_csum(const struct seg *s, const uint8_t *tcp,
			uint32_t tcp_len)
{
	int alen = s->family == 4 ? 4 : 16;
	uint64_t acc = 0;

	acc = csum_add(acc, s->src, (size_t)alen);
	acc = csum_add(acc, s->dst, (size_t)alen);
	acc = csum_add_be32(acc, tcp_len);
	acc = csum_add_be32(acc, IPPROTO_TCP_);
	acc = csum_add(acc, tcp, tcp_len);
	return csum_fold(acc) == 0xffff ? CSUM_OK : CSUM_BAD;
}

#define WIRE_UNKNOWN UINT32_MAX
#define CSUM_SKIP 0xff	/* internal marker in seg.csum, never returned */

/* p: TCP header; cap: bytes captured from p to the end of the datagram
 * (after trimming); wire: TCP length on the wire, or WIRE_UNKNOWN when the
 * IP length field was 0 (then cap is taken, and not checksummed). */
static int decode_tcp(const uint8_t *p, uint32_t cap, uint32_t wire,
		      int csum_ok_to_check, struct seg *out)
{
	uint32_t doff;

	if (wire != WIRE_UNKNOWN && wire < 20)
		return DECODE_MALFORMED;
	if (cap < 20)
		return DECODE_TRUNCATED;
	doff = (uint32_t)(p[12] >> 4) * 4;
	if (doff < 20)
		return DECODE_MALFORMED;
	if (wire != WIRE_UNKNOWN && doff > wire)
		return DECODE_MALFORMED;
	if (doff > cap)
		return DECODE_TRUNCATED;
	if (wire == WIRE_UNKNOWN) {
		wire = cap;
		csum_ok_to_check = 0;
	}
	out->sport = rd16(p);
	out->dport = rd16(p + 2);
	out->seq = rd32(p + 4);
	out->ack = rd32(p + 8);
	out->flags = p[13] & 0x3f;
	out->window = rd16(p + 14);
	out->payload = p + doff;
	out->len = cap - doff;
	out->wire_len = wire - doff;
	/* decode_packet() pre-sets CSUM_SKIP when the caller does not want
	 * the (payload-long) checksum pass */
	if (out->csum != CSUM_SKIP && csum_ok_to_check && cap == wire)
		out->csum = tcp_csum(out, p, wire);
	else
		out->csum = CSUM_UNKNOWN;
	return DECODE_TCP;
}

static int decode_ipv4(const uint8_t *p, uint32_t cap, struct seg *out)
{
	uint32_t ihl, tot;
	uint16_t frag;

	if (cap < 20)
		return DECODE_TRUNCATED;
	if (p[0] >> 4 != 4)
		return DECODE_MALFORMED;
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	if (ihl < 20)
		return DECODE_MALFORMED;
	tot = rd16(p + 2);
	if (tot && tot < ihl)
		return DECODE_MALFORMED;
	if (ihl > cap)
		return DECODE_TRUNCATED;
	frag = rd16(p + 6);
	if (frag & 0x3fff)	/* MF or a fragment offset */
		return DECODE_FRAGMENT;
	if (p[9] != IPPROTO_TCP_)
		return DECODE_NOT_TCP;
	out->family = 4;
	memcpy(out->src, p + 12, 4);
	memcpy(out->dst, p + 16, 4);
	if (tot == 0)		/* TSO on the capturing host */
		return decode_tcp(p + ihl, cap - ihl, WIRE_UNKNOWN, 0, out);
	if (cap > tot)		/* link-layer padding */
		cap = tot;
	return decode_tcp(p + ihl, cap - ihl, tot - ihl, 1, out);
}

/* With Segments Left > 0, the TCP pseudo-header (and the peer's replies)
 * use the final destination, not the IPv6 header's.  h: the routing
 * header, hlen bytes of it captured.  Returns 0 and fills dst, or -1 if
 * the type is unknown (the checksum then cannot be verified). */
static int ipv6_final_dst(const uint8_t *h, uint32_t hlen, uint8_t *dst)
{
	uint8_t type = h[2], left = h[3];
	uint32_t n;

	if (!left)
		return 0;	/* already at the final destination */
	if (type == 0 || type == 2) {	/* RH0 / Mobile IPv6: last address */
		n = (hlen - 8) / 16;
		if (!n)
			return -1;
		memcpy(dst, h + 8 + 16 * (n - 1), 16);
		return 0;
	}
	if (type == 4 && hlen >= 24) {	/* SRv6: Segment List[0] */
		memcpy(dst, h + 8, 16);
		return 0;
	}
	return -1;
}

static int decode_ipv6(const uint8_t *p, uint32_t cap, struct seg *out)
{
	uint32_t plen, off = 40, hlen;
	uint8_t nh;
	int check = 1;

	if (cap < 40)
		return DECODE_TRUNCATED;
	if (p[0] >> 4 != 6)
		return DECODE_MALFORMED;
	plen = rd16(p + 4);
	nh = p[6];
	out->family = 6;
	memcpy(out->src, p + 8, 16);
	memcpy(out->dst, p + 24, 16);
	if (plen) {
		if (cap > 40 + plen)	/* link-layer padding */
			cap = 40 + plen;
	} else {
		check = 0;	/* jumbogram or GSO: length = capture */
	}
	for (;;) {
		/* off <= cap always; wire end is 40 + plen when plen != 0 */
		switch (nh) {
		case IPPROTO_TCP_:
			return decode_tcp(p + off, cap - off,
					  plen ? 40 + plen - off : WIRE_UNKNOWN, check,
					  out);
		case IP6_HOPOPTS:
		case IP6_ROUTING:
		case IP6_DSTOPTS:
		case IP6_AH:
		case IP6_FRAGMENT:
			break;
		default:	/* ESP, no-next-header, UDP, ICMPv6, ... */
			return DECODE_NOT_TCP;
		}
		if (plen && off + 8 > 40 + plen)
			return DECODE_MALFORMED;
		if (cap - off < 8)	/* every extension header is >= 8 */
			return DECODE_TRUNCATED;
		if (nh == IP6_FRAGMENT)
			hlen = 8;
		else if (nh == IP6_AH)
			hlen = ((uint32_t)p[off + 1] + 2) * 4;
		else
			hlen = ((uint32_t)p[off + 1] + 1) * 8;
		if (plen && off + hlen > 40 + plen)
			return DECODE_MALFORMED;
		if (hlen > cap - off)
			return DECODE_TRUNCATED;
		if (nh == IP6_FRAGMENT &&
		    (rd16(p + off + 2) & 0xfff9) != 0)	/* offset or M */
			return DECODE_FRAGMENT;
		if (nh == IP6_ROUTING &&
		    ipv6_final_dst(p + off, hlen, out->dst) < 0)
			check = 0;
		nh = p[off];
		off += hlen;
	}
}

static int decode_l3(uint16_t proto, const uint8_t *p, uint32_t cap,
		     struct seg *out)
{
	switch (proto) {
	case ETH_P_IPV4:
		return decode_ipv4(p, cap, out);
	case ETH_P_IPV6:
		return decode_ipv6(p, cap, out);
	default:
		return DECODE_NOT_TCP;
	}
}

/* type: an EtherType; p: the bytes after it.  802.1Q / 802.1ad tags
 * (TCI(2) + inner EtherType(2)) are skipped, up to MAX_VLAN_TAGS. */
static int vlan_l3(uint16_t type, const uint8_t *p, uint32_t cap,
		   struct seg *out)
{
	int tags = 0;

	while (type == ETH_P_8021Q || type == ETH_P_8021AD ||
	       type == ETH_P_QINQ1 || type == ETH_P_QINQ2) {
		if (++tags > MAX_VLAN_TAGS)
			return DECODE_MALFORMED;
		if (cap < 4)
			return DECODE_TRUNCATED;
		type = rd16(p + 2);
		p += 4;
		cap -= 4;
	}
	return decode_l3(type, p, cap, out);
}

static int decode_raw(const uint8_t *p, uint32_t cap, struct seg *out)
{
	if (cap < 1)
		return DECODE_TRUNCATED;
	switch (p[0] >> 4) {
	case 4:
		return decode_ipv4(p, cap, out);
	case 6:
		return decode_ipv6(p, cap, out);
	default:
		return DECODE_MALFORMED;
	}
}

/* DLT_NULL: 4-byte AF_ value in the writer's byte order; DLT_LOOP: in
 * network order.  Both orders are tried; the IPv6 value differs by OS. */
static int decode_null(const uint8_t *p, uint32_t cap, struct seg *out)
{
	uint32_t af, be;

	if (cap < 4)
		return DECODE_TRUNCATED;
	be = rd32(p);
	af = be > 0xffff ? __builtin_bswap32(be) : be;
	switch (af) {
	case 2:
		return decode_ipv4(p + 4, cap - 4, out);
	case 10: case 24: case 28: case 30:	/* Linux, *BSD, macOS */
		return decode_ipv6(p + 4, cap - 4, out);
	default:
		return DECODE_NOT_TCP;
	}
}

int decode_linktype_supported(int linktype)
{
	switch (linktype) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
#if DLT_RAW != 14 && !defined(__FreeBSD__) && !defined(__NetBSD__)
	case 14:		/* DLT_RAW on BSD/OS and OpenBSD */
#endif
#if DLT_RAW != 12 && DLT_LOOP != 12
	case 12:
#endif
	case LINKTYPE_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	default:
		return 0;
	}
}

int decode_packet(int linktype, const uint8_t *pkt, uint32_t caplen,
		  unsigned flags, struct seg *out)
{
	memset(out, 0, sizeof(*out));
	if (flags & DECODE_F_NO_CSUM)
		out->csum = CSUM_SKIP;
	switch (linktype) {
	case DLT_EN10MB:
		/* dst(6) src(6) type(2) */
		if (caplen < 14)
			return DECODE_TRUNCATED;
		return vlan_l3(rd16(pkt + 12), pkt + 14, caplen - 14, out);
	case DLT_LINUX_SLL:
		/* type(2) arphrd(2) addrlen(2) addr(8) protocol(2); libpcap
		 * re-inserts a VLAN tag after the header, as for Ethernet */
		if (caplen < 16)
			return DECODE_TRUNCATED;
		return vlan_l3(rd16(pkt + 14), pkt + 16, caplen - 16, out);
	case DLT_LINUX_SLL2:
		/* protocol(2) rsvd(2) ifindex(4) arphrd(2) type(1) alen(1)
		 * addr(8); a re-inserted VLAN tag follows the header */
		if (caplen < 20)
			return DECODE_TRUNCATED;
		out->ifindex = rd32(pkt + 4);
		return vlan_l3(rd16(pkt), pkt + 20, caplen - 20, out);
	case DLT_RAW:
#if DLT_RAW != 14 && !defined(__FreeBSD__) && !defined(__NetBSD__)
	case 14:
#endif
#if DLT_RAW != 12 && DLT_LOOP != 12
	case 12:
#endif
	case LINKTYPE_RAW:
		return decode_raw(pkt, caplen, out);
	case DLT_IPV4:
		return decode_ipv4(pkt, caplen, out);
	case DLT_IPV6:
		return decode_ipv6(pkt, caplen, out);
	case DLT_NULL:
	case DLT_LOOP:
		return decode_null(pkt, caplen, out);
	default:
		return DECODE_UNSUPPORTED_LINK;
	}
}
