// SPDX-License-Identifier: GPL-2.0
/* capture.bpf.c - tapir's TC program: TCP segments of the flows the agent
 * asked for, copied into the BPF ring buffer (bpf/tapir_event.h).
 *
 * Owns: the interface/direction map (the rest - ring, counters, filters,
 * configuration, the copy - is bpf/capture.bpf.h, shared with
 * xdp/span.bpf.c).  Does not own anything about the packet - it is never
 * modified, dropped or delayed; both entry points always return
 * TC_ACT_UNSPEC (the next filter, or the qdisc's default, decides).
 *
 * Per packet, cheapest test first:
 *   interface/direction (map ifaces) -> skb->protocol is IP-ish ->
 *   parse (parse.bpf.h; headers outside the linear area are pulled only
 *   when the parse came up short) -> egress: the segment this CPU just
 *   copied on ingress? (last_in: skipped) -> tapir_segment() and the chunk
 *   loop (capture.bpf.h).
 *
 * Forwarded traffic crosses two hooks of the node (ingress of one port,
 * egress of the other).  With TAPIR_CFG_HOOK_DEDUP the egress copy of a
 * segment copied in full on ingress is skipped: half the ring traffic and
 * copies.  It relies on the forwarding path running the egress hook on
 * the same CPU, synchronously after the ingress hook (bridge, routing;
 * per-CPU map last_in); what it misses (another CPU, a drop on ingress)
 * the agent's dedup still catches (agent/source_ring.c), and a rewritten
 * header (NAT) is never equal anyway.
 *
 * Kernel features: BPF_RB_* wakeup flags and bpf_ringbuf_query (5.8),
 * bpf_loop (5.17): runs on Debian 12's 6.1.  A variable-size reservation
 * (bpf_ringbuf_reserve_dynptr + the bpf_dynptr_from_skb kfunc, 6.4+)
 * would avoid the tier slack but not load on 6.1; the slack costs ring
 * space, not time (docs/capture-performance.md).
 *
 * Counters: every packet is counted once in seen and once in exactly one of
 * not_tcp, short_hdr, filtered, hook_dups, acks_skipped or matched; every
 * chunk of a matched segment once in events or ring_drops (or
 * load_errors).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "../bpf/capture.bpf.h"
#include "capture.h"

char LICENSE[] SEC("license") = "GPL";

#define HDR_PULL 256

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPIR_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u8);	/* enum tapir_if_dirs */
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapir_seg_id);
} last_in SEC(".maps");

static __always_inline void seg_id(struct tapir_seg_id *id,
				   const struct tapir_pkt *p, __u32 payload)
{
	__builtin_memcpy(id->saddr, p->saddr, 16);
	__builtin_memcpy(id->daddr, p->daddr, 16);
	id->seq = p->seq;
	id->ack = p->ack;
	id->seg_len = payload;
	id->sport = p->sport;
	id->dport = p->dport;
	id->window = p->window;
	id->family = p->family;
	id->tcp_flags = p->tcp_flags;
	id->valid = 1;
}

/* 1 when the egress segment p is the one last copied on ingress here. */
static __always_inline int seen_on_ingress(const struct tapir_pkt *p,
					   __u32 payload)
{
	struct tapir_seg_id *l, id;
	const __u32 *a, *b;
	__u32 zero = 0, d = 0;

	l = bpf_map_lookup_elem(&last_in, &zero);
	if (!l || !l->valid)
		return 0;
	seg_id(&id, p, payload);
	/* no memcmp in BPF: 14 words, unrolled */
	a = (const __u32 *)l;
	b = (const __u32 *)&id;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(id) / 4); i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* After ingress copied segment p in full: the egress hook may skip it. */
static __always_inline void remember_ingress(const struct tapir_pkt *p,
					     __u32 payload)
{
	struct tapir_seg_id *l;
	__u32 zero = 0;

	l = bpf_map_lookup_elem(&last_in, &zero);
	if (l)
		seg_id(l, p, payload);
}

static long chunk_cb(__u32 i, void *ctx)
{
	return tapir_chunk(i, ctx, TAPIR_CTX_SKB);
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct tapir_counters *c;
	struct tapir_pkt p = {};
	struct tapir_chunks x;
	void *data, *data_end;
	__u32 zero = 0, flags, ifindex, len, end, payload;
	int r;

	c = bpf_map_lookup_elem(&counters, &zero);
	if (!c)
		return TC_ACT_UNSPEC;
	c->seen++;
	flags = cfg.flags;
	ifindex = skb->ifindex;
	if (!(flags & TAPIR_CFG_ALL_IFACES)) {
		__u8 *dirs = bpf_map_lookup_elem(&ifaces, &ifindex);

		if (!dirs || !(*dirs & (1 << dir))) {
			c->filtered++;
			return TC_ACT_UNSPEC;
		}
	}
	if (skb->protocol != bpf_htons(ETH_P_IP) &&
	    skb->protocol != bpf_htons(ETH_P_IPV6) &&
	    skb->protocol != bpf_htons(ETH_P_8021Q) &&
	    skb->protocol != bpf_htons(ETH_P_8021AD)) {
		c->not_tcp++;
		return TC_ACT_UNSPEC;
	}
	len = skb->len;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	r = tapir_parse(data, data_end, &p);
	/* Headers outside the linear area (rare: most drivers and GRO keep
	 * them linear): linearise the first HDR_PULL bytes and parse again.
	 * This moves no byte of the packet, it only changes where the skb
	 * keeps them.  Not done up front: a veth skb's linear area often
	 * ends right after the headers, and the pull can reallocate (a
	 * cloned skb, as every TCP transmit is) - it cost more than the
	 * copy of a full-size segment. */
	if (r == TAPIR_PARSE_SHORT && data + len > data_end) {
		bpf_skb_pull_data(skb, len < HDR_PULL ? len : HDR_PULL);
		c->pulled++;
		__builtin_memset(&p, 0, sizeof(p));
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		r = tapir_parse(data, data_end, &p);
	}
	if (r != TAPIR_PARSE_TCP) {
		if (r == TAPIR_PARSE_NOT_TCP)
			c->not_tcp++;
		else
			c->short_hdr++;
		return TC_ACT_UNSPEC;
	}
	end = p.ip_end && p.ip_end < len ? p.ip_end : len;
	payload = end > p.payload_off ? end - p.payload_off : 0;
	if (dir == TAPIR_DIR_EGRESS && (flags & TAPIR_CFG_HOOK_DEDUP) &&
	    seen_on_ingress(&p, payload)) {
		c->hook_dups++;
		return TC_ACT_UNSPEC;
	}
	if (tapir_segment(skb, c, &p, len, flags, ifindex, dir, &x,
			  TAPIR_CTX_SKB))
		bpf_loop(TAPIR_MAX_CHUNKS, chunk_cb, &x, 0);
	if (dir == TAPIR_DIR_INGRESS && (flags & TAPIR_CFG_HOOK_DEDUP) &&
	    x.copied)
		remember_ingress(&p, payload);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tapir_ingress(struct __sk_buff *skb)
{
	return handle(skb, TAPIR_DIR_INGRESS);
}

SEC("tc")
int tapir_egress(struct __sk_buff *skb)
{
	return handle(skb, TAPIR_DIR_EGRESS);
}
