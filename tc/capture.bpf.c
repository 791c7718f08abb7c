// SPDX-License-Identifier: GPL-2.0
/* capture.bpf.c - tapir's TC program: TCP segments of the flows the agent
 * asked for, copied into the BPF ring buffer (bpf/tapir_event.h).
 *
 * Owns: the maps the agent fills (filters), the ring buffer, the per-CPU
 * counters.  Does not own: anything about the packet - it is never
 * modified, dropped or delayed; both entry points always return
 * TC_ACT_UNSPEC (the next filter, or the qdisc's default, decides).
 *
 * Per packet, cheapest test first:
 *   interface/direction (map ifaces) -> skb->protocol is IP-ish ->
 *   parse (parse.bpf.h; headers outside the linear area are pulled only
 *   when the parse came up short) -> ports (hash) -> CIDR exclude,
 *   include (LPM) -> egress: the segment this CPU just copied on ingress?
 *   (last_in, skipped) -> pure ACK? (skipped unless asked for, or just
 *   after a ring drop) -> payload copied in chunks of <= TAPIR_CHUNK_MAX
 *   (GSO/GRO packets of 64 KiB and more), each chunk one event with its
 *   own sequence number, reserved in the ring and filled by one
 *   bpf_skb_load_bytes (one copy).
 *
 * Cost (see bench/capture.sh): what dominates is not the copy but the
 * per-record wakeup (irq_work -> IPI -> wake_up, a VM exit under
 * virtualisation) and, before, pulling every veth skb's headers linear.
 * With cfg.wakeup_bytes set, records go in with BPF_RB_NO_WAKEUP and the
 * agent polls; the program forces one wakeup when wakeup_bytes wait unread
 * (at most once per wakeup_gap_us), so a burst never waits for the timer.
 * Forwarded traffic crosses two hooks of the node (ingress of one port,
 * egress of the other); with TAPIR_CFG_HOOK_DEDUP the egress copy of a
 * segment already copied on ingress is skipped, halving ring traffic (the
 * agent's own dedup, source_ring.c, still covers the cases this misses:
 * other CPUs, rewritten headers are never equal anyway).
 *
 * Kernel features: BPF_RB_* wakeup flags and bpf_ringbuf_query (5.8),
 * bpf_loop (5.17): runs on Debian 12's 6.1.  A variable-size reservation
 * (bpf_ringbuf_reserve_dynptr + bpf_dynptr_from_skb, 6.4+) would avoid the
 * tier slack but not run on 6.1; the slack costs ring space, not time.
 *
 * Counters: every packet is counted once in seen and once in exactly one of
 * not_tcp, short_hdr, filtered, hook_dups, acks_skipped or matched; every
 * chunk of a matched segment once in events or ring_drops (or
 * load_errors).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "../bpf/parse.bpf.h"
#include "capture.h"

char LICENSE[] SEC("license") = "GPL";

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define HDR_PULL 256

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);	/* the agent sets --ring-size */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapir_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPIR_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPIR_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u8);	/* enum tapir_if_dirs */
} ifaces SEC(".maps");

#define LPM_MAP(name, keytype)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);			\
		__uint(max_entries, TAPIR_MAX_NETS);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
		__type(key, keytype);					\
		__type(value, __u8);					\
	} name SEC(".maps")

LPM_MAP(net4, struct tapir_lpm4);	/* --net, IPv4 */
LPM_MAP(net6, struct tapir_lpm6);	/* --net, IPv6 */
LPM_MAP(xnet4, struct tapir_lpm4);	/* --exclude-net, IPv4 */
LPM_MAP(xnet6, struct tapir_lpm6);	/* --exclude-net, IPv6 */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapir_seg_id);
} last_in SEC(".maps");

/* Written by the agent through the skeleton (mmap'ed .bss). */
struct tapir_cfg cfg;
/* Monotonic time of the last ring drop (any CPU; a racy store is fine). */
__u64 last_drop_ns;
/* Monotonic time of the last forced wakeup (racy too: at worst one more). */
__u64 last_wake_ns;

/* Submit flags for a record: see the top comment. */
static __always_inline __u64 wake_flags(__u64 now)
{
	__u32 wb = cfg.wakeup_bytes;

	if (!wb)
		return 0;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wb &&
	    now - last_wake_ns >= (__u64)cfg.wakeup_gap_us * 1000) {
		last_wake_ns = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

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
	__u32 zero = 0;

	l = bpf_map_lookup_elem(&last_in, &zero);
	if (!l || !l->valid)
		return 0;
	seg_id(&id, p, payload);
	/* no memcmp in BPF: 14 words, unrolled */
	{
		const __u32 *x = (const __u32 *)l, *y = (const __u32 *)&id;
		__u32 d = 0;

#pragma unroll
		for (int i = 0; i < (int)(sizeof(id) / 4); i++)
			d |= x[i] ^ y[i];
		return d == 0;
	}
}

/* Either end of the flow in the trie? */
static __always_inline int in_net(const struct tapir_pkt *p, void *map4,
				  void *map6)
{
	if (p->family == 4) {
		struct tapir_lpm4 k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, p->saddr, 4);
		if (bpf_map_lookup_elem(map4, &k))
			return 1;
		__builtin_memcpy(k.addr, p->daddr, 4);
		return bpf_map_lookup_elem(map4, &k) != NULL;
	} else {
		struct tapir_lpm6 k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, p->saddr, 16);
		if (bpf_map_lookup_elem(map6, &k))
			return 1;
		__builtin_memcpy(k.addr, p->daddr, 16);
		return bpf_map_lookup_elem(map6, &k) != NULL;
	}
}

static __always_inline int wanted(const struct tapir_pkt *p, __u32 flags)
{
	if (flags & TAPIR_CFG_PORTS) {
		if (!bpf_map_lookup_elem(&ports, &p->sport) &&
		    !bpf_map_lookup_elem(&ports, &p->dport))
			return 0;
	}
	if ((flags & TAPIR_CFG_XNET) && in_net(p, &xnet4, &xnet6))
		return 0;
	if ((flags & TAPIR_CFG_NET) && !in_net(p, &net4, &net6))
		return 0;
	return 1;
}

/* One ring record: the header t, then n payload bytes from skb offset off.
 * tier is a constant after inlining (ring reservations must be). */
static __always_inline int emit(struct __sk_buff *skb,
				const struct tapir_event *t, __u32 off,
				__u32 n, const __u32 tier)
{
	__u64 wf;

	struct tapir_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e) + tier, 0);
	if (!e)
		return -1;
	__builtin_memcpy(e, t, sizeof(*e));
	if (tier && n) {
		/* the compiler knows n <= tier; the verifier must be told,
		 * so keep the clamp from being optimised away */
		asm volatile("" : "+r"(n));
		if (n > tier)
			n = tier;
		if (bpf_skb_load_bytes(skb, off, (void *)(e + 1), n)) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			return -2;
		}
	}
	wf = wake_flags(t->ts_ns);
	bpf_ringbuf_submit(e, wf);
	return 0;
}

static __always_inline int emit_tiered(struct __sk_buff *skb,
				       const struct tapir_event *t, __u32 off,
				       __u32 n)
{
	if (n == 0)
		return emit(skb, t, off, 0, 0);
	if (n <= TAPIR_TIER_XS)
		return emit(skb, t, off, n, TAPIR_TIER_XS);
	if (n <= TAPIR_TIER_S)
		return emit(skb, t, off, n, TAPIR_TIER_S);
	if (n <= TAPIR_TIER_M)
		return emit(skb, t, off, n, TAPIR_TIER_M);
	return emit(skb, t, off, n, TAPIR_TIER_L);
}

static __always_inline void count_emit(struct tapir_counters *c, int r,
				       __u32 n, __u64 now, __u8 *evf)
{
	if (r == 0) {
		c->events++;
		c->bytes += n;
	} else if (r == -1) {
		c->ring_drops++;
		c->ring_drop_bytes += n;
		last_drop_ns = now;
		*evf |= TAPIR_EV_AFTER_DROP;
	} else {
		c->load_errors++;
	}
}

/* State of one segment's chunk loop, shared with chunk_cb(). */
struct chunk_loop {
	struct __sk_buff *skb;
	struct tapir_counters *c;
	struct tapir_event t;
	__u64 now;
	__u32 payload, payload_off, seq, done;
	__u8 tf, evf, failed;
};

/* bpf_loop() body: one chunk per call (a bounded loop with four
 * reservation tiers would make the verifier walk every combination).
 * Returns 1 to stop after the last chunk. */
static long chunk_cb(__u32 i, void *ctx)
{
	struct chunk_loop *x = ctx;
	struct tapir_event *t = &x->t;
	__u32 left = x->payload - x->done, take;
	int last, r;

	if (left > TAPIR_TIER_M)
		take = left >= TAPIR_TIER_L ? TAPIR_TIER_L : TAPIR_TIER_M;
	else
		take = left;
	last = take == left;
	t->offset = x->done;
	t->len = take;
	/* SYN takes a sequence number before the payload */
	t->seq = x->seq + x->done + (x->done && (x->tf & TCPF_SYN) ? 1 : 0);
	t->tcp_flags = x->tf;
	if (x->done)
		t->tcp_flags &= ~TCPF_SYN;
	if (!last)
		t->tcp_flags &= ~(TCPF_FIN | TCPF_RST);
	t->ev_flags = x->evf | (x->done ? 0 : TAPIR_EV_FIRST) |
		      (last ? TAPIR_EV_LAST : 0);
	if (!last && i == TAPIR_MAX_CHUNKS - 1) {
		t->ev_flags |= TAPIR_EV_TRUNCATED | TAPIR_EV_LAST;
		x->c->truncated++;
	}
	r = emit_tiered(x->skb, t, x->payload_off + x->done, take);
	count_emit(x->c, r, take, x->now, &x->evf);
	if (r)
		x->failed = 1;
	x->done += take;
	return last;
}

/* After ingress copied segment p in full: the egress hook may skip it. */
static __always_inline void remember_ingress(__u8 dir, __u32 flags,
					     const struct tapir_pkt *p,
					     __u32 payload)
{
	struct tapir_seg_id *l;
	__u32 zero = 0;

	if (dir != TAPIR_DIR_INGRESS || !(flags & TAPIR_CFG_HOOK_DEDUP))
		return;
	l = bpf_map_lookup_elem(&last_in, &zero);
	if (l)
		seg_id(l, p, payload);
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct tapir_counters *c;
	struct tapir_pkt p = {};
	struct chunk_loop x;
	struct tapir_event *t = &x.t;
	void *data, *data_end;
	__u32 zero = 0, flags, ifindex, len, end, payload;
	__u8 evf;
	__u64 now;
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
	 * keeps them; it is not done up front because it can reallocate
	 * (a cloned skb, as every TCP transmit is), which costs more than
	 * the whole copy of a full-size segment. */
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
	if (!wanted(&p, flags)) {
		c->filtered++;
		return TC_ACT_UNSPEC;
	}
	end = p.ip_end && p.ip_end < len ? p.ip_end : len;
	payload = end > p.payload_off ? end - p.payload_off : 0;
	if (dir == TAPIR_DIR_EGRESS && (flags & TAPIR_CFG_HOOK_DEDUP) &&
	    seen_on_ingress(&p, payload)) {
		c->hook_dups++;
		return TC_ACT_UNSPEC;
	}
	now = bpf_ktime_get_ns();
	if (!payload && !(p.tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
	    !(flags & TAPIR_CFG_ACKS) &&
	    !(cfg.acks_after_drop_ms &&
	      now - last_drop_ns < (__u64)cfg.acks_after_drop_ms * 1000000)) {
		c->acks_skipped++;
		return TC_ACT_UNSPEC;
	}
	c->matched++;

	t->ts_ns = now;
	t->ifindex = ifindex;
	t->seq = p.seq;
	t->ack = p.ack;
	t->seg_len = payload;
	t->offset = 0;
	t->len = 0;
	t->window = p.window;
	t->sport = p.sport;
	t->dport = p.dport;
	t->family = p.family;
	t->tcp_flags = p.tcp_flags;
	t->dir = dir;
	t->ev_flags = TAPIR_EV_FIRST | TAPIR_EV_LAST;
	__builtin_memcpy(t->saddr, p.saddr, 16);
	__builtin_memcpy(t->daddr, p.daddr, 16);
	if (!payload) {
		r = emit(skb, t, 0, 0, 0);
		evf = 0;
		count_emit(c, r, 0, now, &evf);
		if (r == 0)
			remember_ingress(dir, flags, &p, 0);
		return TC_ACT_UNSPEC;
	}

	x.skb = skb;
	x.c = c;
	x.payload = payload;
	x.payload_off = p.payload_off;
	x.seq = p.seq;
	x.done = 0;
	x.now = now;
	x.tf = p.tcp_flags;
	x.evf = 0;
	x.failed = 0;
	bpf_loop(TAPIR_MAX_CHUNKS, chunk_cb, &x, 0);
	if (!x.failed)
		remember_ingress(dir, flags, &p, payload);
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
