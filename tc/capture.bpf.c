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
 *   headers linear? (else pulled) -> parse (parse.bpf.h) ->
 *   tapir_segment() and the chunk loop (capture.bpf.h).
 *
 * Counters: every packet is counted once in seen and once in exactly one of
 * not_tcp, short_hdr, filtered, acks_skipped or matched; every chunk of a
 * matched segment once in events or ring_drops (or load_errors).
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
	__u32 zero = 0, flags, ifindex, len;
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
	/* Headers outside the linear area (rare: most drivers and GRO keep
	 * them linear): linearise the first HDR_PULL bytes.  This moves no
	 * byte of the packet, it only changes where the skb keeps them. */
	if (data + HDR_PULL > data_end && data + len > data_end) {
		bpf_skb_pull_data(skb, len < HDR_PULL ? len : HDR_PULL);
		c->pulled++;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	r = tapir_parse(data, data_end, &p);
	if (r != TAPIR_PARSE_TCP) {
		if (r == TAPIR_PARSE_NOT_TCP)
			c->not_tcp++;
		else
			c->short_hdr++;
		return TC_ACT_UNSPEC;
	}
	if (tapir_segment(skb, c, &p, len, flags, ifindex, dir, &x,
			  TAPIR_CTX_SKB))
		bpf_loop(TAPIR_MAX_CHUNKS, chunk_cb, &x, 0);
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
