/* parse.bpf.h - packet header parsing for tapir's BPF programs (tc/ and
 * xdp/), on direct packet access: [data, data_end).
 *
 * Owns: nothing.  Every helper is static __always_inline, checks bounds
 * before every access (the verifier insists, and a crafted frame must never
 * read past data_end), and returns a enum tapir_parse code rather than
 * guessing: the caller counts and lets the packet through either way.
 * Nothing here writes to the packet.
 *
 * Layers: Ethernet II, up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8,
 * QinQ), IPv4 with options (IHL), IPv6 with extension headers (hop-by-hop,
 * routing, destination options, AH; a fragment header ends parsing unless
 * it is an atomic fragment), TCP with options (data offset).
 */
#ifndef TAPIR_PARSE_BPF_H
#define TAPIR_PARSE_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TAPIR_VLAN_MAX 2
#define TAPIR_IPV6_EXT_MAX 8

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum tapir_parse {
	TAPIR_PARSE_TCP = 0,	/* struct tapir_pkt filled */
	TAPIR_PARSE_NOT_TCP,	/* not IP, not TCP, or a non-first fragment */
	TAPIR_PARSE_SHORT,	/* a header ends past data_end */
	TAPIR_PARSE_BAD,	/* a length field is impossible */
};

struct tapir_pkt {
	__u8 family;		/* 4 or 6 */
	__u8 tcp_flags;
	__u16 sport, dport;	/* host order */
	__u16 window;
	__u32 seq, ack;		/* host order */
	__u32 l3_off;		/* offset of the IP header from data */
	__u32 payload_off;	/* offset of the TCP payload from data */
	__u32 ip_end;		/* offset where the IP packet ends per its
				 * header, 0 if the header does not say
				 * (IPv4 tot_len 0 / IPv6 jumbo: BIG TCP) */
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tapir_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct tapir_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct tapir_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 id;
};

/* Ethernet and VLAN tags.  *off is advanced past them; *proto is the
 * network-order EtherType of what follows. */
static __always_inline int tapir_parse_eth(const void *data,
					   const void *data_end, __u32 *off,
					   __be16 *proto)
{
	const struct ethhdr *eth = data;
	int i;

	if ((const void *)(eth + 1) > data_end)
		return TAPIR_PARSE_SHORT;
	*proto = eth->h_proto;
	*off = sizeof(*eth);
#pragma unroll
	for (i = 0; i < TAPIR_VLAN_MAX; i++) {
		const struct tapir_vlan_hdr *vh = data + *off;

		if (*proto != bpf_htons(ETH_P_8021Q) &&
		    *proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((const void *)(vh + 1) > data_end)
			return TAPIR_PARSE_SHORT;
		*proto = vh->proto;
		*off += sizeof(*vh);
	}
	return TAPIR_PARSE_TCP;
}

static __always_inline int tapir_parse_ipv4(const void *data,
					    const void *data_end, __u32 *off,
					    struct tapir_pkt *p)
{
	const struct iphdr *ip = data + *off;
	__u32 ihl, tot;

	if ((const void *)(ip + 1) > data_end)
		return TAPIR_PARSE_SHORT;
	if (ip->version != 4)
		return TAPIR_PARSE_BAD;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return TAPIR_PARSE_BAD;
	/* options: only their length matters */
	if (data + *off + ihl > data_end)
		return TAPIR_PARSE_SHORT;
	if (ip->protocol != IPPROTO_TCP)
		return TAPIR_PARSE_NOT_TCP;
	/* a fragment other than the first has no TCP header; a first
	 * fragment has only part of the segment: neither is a segment */
	if (ip->frag_off & bpf_htons(0x3fff))
		return TAPIR_PARSE_NOT_TCP;
	tot = bpf_ntohs(ip->tot_len);
	if (tot) {
		if (tot < ihl)
			return TAPIR_PARSE_BAD;
		p->ip_end = *off + tot;
	} else {
		p->ip_end = 0;	/* BIG TCP: the skb length says */
	}
	p->family = 4;
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	p->l3_off = *off;
	*off += ihl;
	return TAPIR_PARSE_TCP;
}

static __always_inline int tapir_parse_ipv6(const void *data,
					    const void *data_end, __u32 *off,
					    struct tapir_pkt *p)
{
	const struct ipv6hdr *ip6 = data + *off;
	__u32 plen;
	__u8 nh;
	int i;

	if ((const void *)(ip6 + 1) > data_end)
		return TAPIR_PARSE_SHORT;
	if (ip6->version != 6)
		return TAPIR_PARSE_BAD;
	plen = bpf_ntohs(ip6->payload_len);
	p->ip_end = plen ? *off + sizeof(*ip6) + plen : 0;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	p->l3_off = *off;
	nh = ip6->nexthdr;
	*off += sizeof(*ip6);
#pragma unroll
	for (i = 0; i < TAPIR_IPV6_EXT_MAX; i++) {
		if (nh == IPPROTO_TCP)
			return TAPIR_PARSE_TCP;
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
		    nh == IPPROTO_DSTOPTS) {
			const struct tapir_ipv6_opt *o = data + *off;

			if ((const void *)(o + 1) > data_end)
				return TAPIR_PARSE_SHORT;
			nh = o->nexthdr;
			*off += (o->hdrlen + 1) * 8;
		} else if (nh == IPPROTO_AH) {
			const struct tapir_ipv6_opt *o = data + *off;

			if ((const void *)(o + 1) > data_end)
				return TAPIR_PARSE_SHORT;
			nh = o->nexthdr;
			*off += (o->hdrlen + 2) * 4;
		} else if (nh == IPPROTO_FRAGMENT) {
			const struct tapir_frag_hdr *fh = data + *off;

			if ((const void *)(fh + 1) > data_end)
				return TAPIR_PARSE_SHORT;
			/* only an atomic fragment (offset 0, no M) is whole */
			if (fh->frag_off & bpf_htons(0xfff9))
				return TAPIR_PARSE_NOT_TCP;
			nh = fh->nexthdr;
			*off += sizeof(*fh);
		} else {
			return TAPIR_PARSE_NOT_TCP;	/* ESP, ICMPv6, UDP, none */
		}
		/* keep the offset a small known range for the verifier */
		if (*off > 1024)
			return TAPIR_PARSE_BAD;
	}
	return nh == IPPROTO_TCP ? TAPIR_PARSE_TCP : TAPIR_PARSE_NOT_TCP;
}

static __always_inline int tapir_parse_tcp(const void *data,
					   const void *data_end, __u32 *off,
					   struct tapir_pkt *p)
{
	const struct tcphdr *th;
	__u32 doff;

	if (*off > 1024)
		return TAPIR_PARSE_BAD;
	th = data + *off;
	if ((const void *)(th + 1) > data_end)
		return TAPIR_PARSE_SHORT;
	doff = th->doff * 4;
	if (doff < sizeof(*th))
		return TAPIR_PARSE_BAD;
	/* options: skipped by length; they must be present */
	if (data + *off + doff > data_end)
		return TAPIR_PARSE_SHORT;
	p->sport = bpf_ntohs(th->source);
	p->dport = bpf_ntohs(th->dest);
	p->seq = bpf_ntohl(th->seq);
	p->ack = bpf_ntohl(th->ack_seq);
	p->window = bpf_ntohs(th->window);
	p->tcp_flags = ((const __u8 *)th)[13] & 0x3f;
	p->payload_off = *off + doff;
	if (p->ip_end && p->ip_end < p->payload_off)
		return TAPIR_PARSE_BAD;
	return TAPIR_PARSE_TCP;
}

/* The whole stack: Ethernet .. TCP.  Returns enum tapir_parse. */
static __always_inline int tapir_parse(const void *data, const void *data_end,
				       struct tapir_pkt *p)
{
	__be16 proto;
	__u32 off = 0;
	int r;

	r = tapir_parse_eth(data, data_end, &off, &proto);
	if (r != TAPIR_PARSE_TCP)
		return r;
	if (proto == bpf_htons(ETH_P_IP))
		r = tapir_parse_ipv4(data, data_end, &off, p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = tapir_parse_ipv6(data, data_end, &off, p);
	else
		return TAPIR_PARSE_NOT_TCP;
	if (r != TAPIR_PARSE_TCP)
		return r;
	return tapir_parse_tcp(data, data_end, &off, p);
}

#endif
