/* frames.h - crafted Ethernet frames for the BPF tests (tests/bpf/):
 * test_capture_bpf.c (TC) and test_span_bpf.c (XDP) build the same frames
 * the same way, so both programs are held to the same parsing cases.
 *
 * Owns: struct spec (what a frame holds: VLAN tags, IPv4 options or IPv6
 * extension headers, fragments, TCP options, flags, payload length,
 * Ethernet padding) and build(), which writes it; payload byte i is
 * pay_byte(i).  Header only, static functions: one test binary each.
 */
#ifndef TAPIR_TEST_FRAMES_H
#define TAPIR_TEST_FRAMES_H

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

struct spec {
	int vlans;		/* 0..2; 2 = QinQ (0x88a8 outer, 0x8100 inner) */
	int family;		/* 4 or 6 */
	uint8_t l4;		/* IPPROTO_*, default TCP */
	int ip4_opt;		/* bytes of IPv4 options (multiple of 4) */
	uint8_t v6ext[4];	/* extension header types, 0 = hop-by-hop */
	int nv6ext;
	uint16_t frag;		/* IPv4 frag_off / IPv6 fragment field */
	int tcp_opt;		/* bytes of TCP options (multiple of 4) */
	uint8_t flags;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint32_t plen;		/* TCP payload bytes */
	uint32_t trailer;	/* Ethernet padding after the IP packet */
	const char *src, *dst;
	uint16_t ethertype;	/* override (non-IP frames) */
};

static uint8_t pay_byte(uint32_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void spec_default(struct spec *s, int family)
{
	memset(s, 0, sizeof(*s));
	s->family = family;
	s->l4 = IPPROTO_TCP;
	s->flags = 0x18;	/* PSH ACK */
	s->sport = 51514;
	s->dport = 443;
	s->seq = 0xfffffff0u;
	s->ack = 0x01020304;
	s->plen = 100;
	s->src = family == 4 ? "10.0.0.2" : "fd00::2";
	s->dst = family == 4 ? "10.0.0.1" : "fd00::1";
}

/* Build the frame; returns its length.  *l4off: offset of the TCP header. */
static size_t build(const struct spec *s, uint8_t *f, size_t cap)
{
	size_t o = 12, iph, ipstart, l4start, l4len;
	int af = s->family == 4 ? AF_INET : AF_INET6;

	memset(f, 0, cap);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	if (s->vlans == 2) {
		put16(f + o, 0x88a8); put16(f + o + 2, 100); o += 4;
	}
	if (s->vlans >= 1) {
		put16(f + o, 0x8100); put16(f + o + 2, 200); o += 4;
	}
	put16(f + o, s->ethertype ? s->ethertype :
	      s->family == 4 ? ETH_P_IP : ETH_P_IPV6);
	o += 2;
	ipstart = o;
	if (s->family == 4) {
		iph = 20 + (size_t)s->ip4_opt;
		f[o] = 0x40 | (uint8_t)(iph / 4);
		put16(f + o + 6, s->frag);
		f[o + 8] = 64;
		f[o + 9] = s->l4;
		inet_pton(af, s->src, f + o + 12);
		inet_pton(af, s->dst, f + o + 16);
		for (int i = 0; i < s->ip4_opt; i++)
			f[o + 20 + i] = 1;	/* NOP options */
		o += iph;
	} else {
		uint8_t *nh;
		f[o] = 0x60;
		f[o + 7] = 64;
		inet_pton(af, s->src, f + o + 8);
		inet_pton(af, s->dst, f + o + 24);
		nh = &f[o + 6];
		o += 40;
		for (int i = 0; i < s->nv6ext; i++) {
			*nh = s->v6ext[i];
			nh = &f[o];
			if (s->v6ext[i] == 44) {	/* fragment */
				put16(f + o + 2, s->frag);
				o += 8;
			} else if (s->v6ext[i] == 51) {	/* AH: 12 + 4 ICV */
				f[o + 1] = 2;	/* (2 + 2) * 4 = 16 */
				o += 16;
			} else {
				f[o + 1] = 1;	/* (1 + 1) * 8 = 16 */
				f[o + 2] = 1; f[o + 3] = 12;	/* PadN */
				o += 16;
			}
		}
		*nh = s->l4;
	}
	l4start = o;
	if (s->l4 == IPPROTO_TCP) {
		size_t th = 20 + (size_t)s->tcp_opt;
		put16(f + o, s->sport);
		put16(f + o + 2, s->dport);
		put32(f + o + 4, s->seq);
		put32(f + o + 8, s->ack);
		f[o + 12] = (uint8_t)((th / 4) << 4);
		f[o + 13] = s->flags;
		put16(f + o + 14, 502);
		for (int i = 0; i < s->tcp_opt; i++)
			f[o + 20 + i] = 1;
		o += th;
	} else {
		put16(f + o, 53); put16(f + o + 2, 53);
		o += 8;
	}
	for (uint32_t i = 0; i < s->plen; i++)
		f[o + i] = pay_byte(i);
	o += s->plen;
	l4len = o - l4start;
	if (s->family == 4)
		put16(f + ipstart + 2, (uint16_t)(o - ipstart));
	else
		put16(f + ipstart + 4, (uint16_t)(o - ipstart - 40));
	(void)l4len;
	return o + s->trailer;
}

#endif
