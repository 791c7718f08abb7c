/* frame.c - frame rebuild for export (see frame.h). */
#include "frame.h"

#include <string.h>

#define MIN_U32(a, b) ((a) < (b) ? (a) : (b))

uint32_t frame_csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t s = sum;

	while (n >= 2) {
		s += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
	}
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t frame_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t frame_count(const struct seg *s)
{
	uint32_t n = s->wire_len > s->len ? s->wire_len : s->len;

	return n ? (n + FRAME_MAX_PAYLOAD - 1) / FRAME_MAX_PAYLOAD : 1;
}

uint32_t frame_build(const struct seg *s, uint32_t i, uint8_t *out,
		     uint32_t *wire_len)
{
	uint32_t total = s->wire_len > s->len ? s->wire_len : s->len;
	uint32_t n = frame_count(s), off = i * FRAME_MAX_PAYLOAD;
	uint32_t wlen = total > off ? MIN_U32(total - off, FRAME_MAX_PAYLOAD) : 0;
	uint32_t plen = s->len > off ? s->len - off : 0;
	int alen = s->family == 6 ? 16 : 4;
	int lower = memcmp(s->src, s->dst, (size_t)alen) < 0;
	uint8_t flags = s->flags, *ip = out + FRAME_ETH_LEN, *tcp;
	uint32_t sum, iphl = s->family == 6 ? 40 : 20;

	if (plen > wlen)
		plen = wlen;
	if (i > 0)
		flags &= (uint8_t)~TCPF_SYN;
	if (i + 1 < n)
		flags &= (uint8_t)~(TCPF_FIN | TCPF_PSH);
	/* Ethernet */
	memset(out, 0, 12);
	out[0] = out[6] = 0x02;
	out[5] = lower ? 2 : 1;		/* dst */
	out[11] = lower ? 1 : 2;	/* src */
	be16(out + 12, s->family == 6 ? 0x86dd : 0x0800);
	tcp = ip + iphl;
	if (s->family == 6) {
		be32(ip, 0x60000000u);
		be16(ip + 4, (uint16_t)(20 + plen));
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, s->src, 16);
		memcpy(ip + 24, s->dst, 16);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		be16(ip + 2, (uint16_t)(20 + 20 + plen));
		be16(ip + 4, 0);
		be16(ip + 6, 0x4000);	/* DF */
		ip[8] = 64;
		ip[9] = 6;
		be16(ip + 10, 0);
		memcpy(ip + 12, s->src, 4);
		memcpy(ip + 16, s->dst, 4);
		be16(ip + 10, frame_csum_fold(frame_csum_add(0, ip, 20)));
	}
	be16(tcp, s->sport);
	be16(tcp + 2, s->dport);
	be32(tcp + 4, s->seq + off);
	be32(tcp + 8, s->ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	be16(tcp + 14, s->window);
	be16(tcp + 16, 0);
	be16(tcp + 18, 0);
	if (plen)
		memcpy(tcp + 20, s->payload + off, plen);
	/* pseudo-header: addresses, zero, protocol, TCP length */
	{
		uint8_t ph[4];

		sum = frame_csum_add(0, s->src, (size_t)alen);
		sum = frame_csum_add(sum, s->dst, (size_t)alen);
		be16(ph, 0);
		ph[1] = 6;
		be16(ph + 2, (uint16_t)(20 + plen));
		sum = frame_csum_add(sum, ph, 4);
		sum = frame_csum_add(sum, tcp, 20 + plen);
		be16(tcp + 16, frame_csum_fold(sum));
	}
	*wire_len = FRAME_ETH_LEN + iphl + 20 + wlen;
	return FRAME_ETH_LEN + iphl + 20 + plen;
}
