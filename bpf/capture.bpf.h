/* capture.bpf.h - what tapir's kernel programs (tc/capture.bpf.c,
 * xdp/span.bpf.c) do with a parsed TCP segment: the filters, the pure-ACK
 * rule, the event header, and the copy of the payload into the ring buffer
 * in chunks.  Each program keeps only its hook's own part: how it gets at
 * the packet (skb or xdp_buff), what it returns.
 *
 * Owns: the maps both programs have (the ring buffer, the per-CPU
 * counters, the port and CIDR filters) and the .bss configuration; each
 * program that includes this header gets its own instances.  Helpers are
 * static __always_inline; the one thing that differs between the hooks,
 * loading payload bytes, is chosen by a constant `kind` argument
 * (TAPIR_CTX_SKB / TAPIR_CTX_XDP) that the compiler folds away, so each
 * program contains only the helper its type may call.
 *
 * Per segment, after parsing (parse.bpf.h):
 *   ports (hash) -> CIDR exclude, include (LPM) -> pure ACK? (skipped
 *   unless asked for, or just after a ring drop) -> payload copied in
 *   chunks of <= TAPIR_CHUNK_MAX (GSO/GRO and multi-buffer XDP frames of
 *   64 KiB and more), each chunk one event with its own sequence number.
 *
 * Wakeups: see tapir_wake_flags().
 *
 * Counters: the caller counts seen and the packets it rejects itself;
 * tapir_segment() counts exactly one of filtered, acks_skipped or matched;
 * every chunk of a matched segment is counted once in events or ring_drops
 * (or load_errors).
 */
#ifndef TAPIR_CAPTURE_BPF_H
#define TAPIR_CAPTURE_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.bpf.h"
#include "tapir_filter.h"

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04

/* which packet-access helpers a program may call */
enum tapir_ctx_kind {
	TAPIR_CTX_SKB = 0,	/* struct __sk_buff: bpf_skb_load_bytes */
	TAPIR_CTX_XDP = 1,	/* struct xdp_md: bpf_xdp_load_bytes (frags too) */
};

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

#define TAPIR_LPM_MAP(name, keytype)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);			\
		__uint(max_entries, TAPIR_MAX_NETS);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
		__type(key, keytype);					\
		__type(value, __u8);					\
	} name SEC(".maps")

TAPIR_LPM_MAP(net4, struct tapir_lpm4);		/* --net, IPv4 */
TAPIR_LPM_MAP(net6, struct tapir_lpm6);		/* --net, IPv6 */
TAPIR_LPM_MAP(xnet4, struct tapir_lpm4);	/* --exclude-net, IPv4 */
TAPIR_LPM_MAP(xnet6, struct tapir_lpm6);	/* --exclude-net, IPv6 */

/* Written by the agent (see tapir_filter.h).  In .data, not .bss:
 * libbpf copies a .data section's initial value into the map at load and
 * leaves .bss to the kernel's zeroes, and the XDP program is loaded by
 * libxdp, so its configuration must be in place before load. */
struct tapir_cfg cfg SEC(".data");
/* Monotonic time of the last ring drop (any CPU; a racy store is fine). */
__u64 last_drop_ns;
/* Monotonic time of the last forced wakeup (racy too: at worst one more). */
__u64 last_wake_ns;

/* Submit flags for a record.  cfg.wakeup_bytes 0: the kernel's default (a
 * wakeup whenever the record finds the reader caught up: an irq_work, an
 * IPI and a wake_up per record when the reader keeps up, ~1 us each in a
 * VM).  Else no wakeup - the agent polls every few ms - except one forced
 * when wakeup_bytes wait unread, at most once per wakeup_gap_us, so a
 * burst never waits for the agent's timer. */
static __always_inline __u64 tapir_wake_flags(__u64 now)
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

/* Either end of the flow in the trie? */
static __always_inline int tapir_in_net(const struct tapir_pkt *p, void *map4,
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

static __always_inline int tapir_wanted(const struct tapir_pkt *p, __u32 flags)
{
	if (flags & TAPIR_CFG_PORTS) {
		if (!bpf_map_lookup_elem(&ports, &p->sport) &&
		    !bpf_map_lookup_elem(&ports, &p->dport))
			return 0;
	}
	if ((flags & TAPIR_CFG_XNET) && tapir_in_net(p, &xnet4, &xnet6))
		return 0;
	if ((flags & TAPIR_CFG_NET) && !tapir_in_net(p, &net4, &net6))
		return 0;
	return 1;
}

/* One ring record: the header t, then n payload bytes from packet offset
 * off.  tier and kind are constants after inlining (ring reservations must
 * be).  0, -1 ring full, -2 the load failed. */
static __always_inline int tapir_emit(void *pkt, const struct tapir_event *t,
				      __u32 off, __u32 n, const __u32 tier,
				      const int kind)
{
	struct tapir_event *e;
	long r;

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
		if (kind == TAPIR_CTX_XDP)
			r = bpf_xdp_load_bytes(pkt, off, (void *)(e + 1), n);
		else
			r = bpf_skb_load_bytes(pkt, off, (void *)(e + 1), n);
		if (r) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			return -2;
		}
	}
	bpf_ringbuf_submit(e, tapir_wake_flags(t->ts_ns));
	return 0;
}

static __always_inline int tapir_emit_tiered(void *pkt,
					     const struct tapir_event *t,
					     __u32 off, __u32 n, const int kind)
{
	if (n == 0)
		return tapir_emit(pkt, t, off, 0, 0, kind);
	if (n <= TAPIR_TIER_XS)
		return tapir_emit(pkt, t, off, n, TAPIR_TIER_XS, kind);
	if (n <= TAPIR_TIER_S)
		return tapir_emit(pkt, t, off, n, TAPIR_TIER_S, kind);
	if (n <= TAPIR_TIER_M)
		return tapir_emit(pkt, t, off, n, TAPIR_TIER_M, kind);
	return tapir_emit(pkt, t, off, n, TAPIR_TIER_L, kind);
}

static __always_inline void tapir_count_emit(struct tapir_counters *c, int r,
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

/* State of one segment's chunk loop (bpf_loop), filled by
 * tapir_segment(). */
struct tapir_chunks {
	void *pkt;		/* the program's context */
	struct tapir_counters *c;
	struct tapir_event t;
	__u64 now;
	__u32 payload, payload_off, seq, done;
	__u8 tf, evf;
	__u8 copied;		/* 1 while every event of the segment went in */
};

/* The body of each program's bpf_loop() callback: one chunk per call (a
 * bounded loop with four reservation tiers would make the verifier walk
 * every combination).  Returns 1 to stop after the last chunk. */
static __always_inline long tapir_chunk(__u32 i, struct tapir_chunks *x,
					const int kind)
{
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
	r = tapir_emit_tiered(x->pkt, t, x->payload_off + x->done, take, kind);
	tapir_count_emit(x->c, r, take, x->now, &x->evf);
	if (r)
		x->copied = 0;
	x->done += take;
	return last;
}

/* A parsed segment p of a packet of len bytes (linear and not):
 * filters, pure-ACK rule, counters; when it is to be copied, x is filled
 * and 1 returned (x->payload 0: one header-only event, which this
 * function has already sent).  0: nothing (more) to send.  x->copied
 * says, after the chunk loop, whether the whole segment went in. */
static __always_inline int tapir_segment(void *pkt, struct tapir_counters *c,
					 const struct tapir_pkt *p, __u32 len,
					 __u32 flags, __u32 ifindex, __u8 dir,
					 struct tapir_chunks *x, const int kind)
{
	struct tapir_event *t = &x->t;
	__u32 end, payload;
	__u8 evf = 0;
	__u64 now;
	int r;

	x->copied = 0;
	if (!tapir_wanted(p, flags)) {
		c->filtered++;
		return 0;
	}
	end = p->ip_end && p->ip_end < len ? p->ip_end : len;
	payload = end > p->payload_off ? end - p->payload_off : 0;
	now = bpf_ktime_get_ns();
	if (!payload && !(p->tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
	    !(flags & TAPIR_CFG_ACKS) &&
	    !(cfg.acks_after_drop_ms &&
	      now - last_drop_ns < (__u64)cfg.acks_after_drop_ms * 1000000)) {
		c->acks_skipped++;
		return 0;
	}
	c->matched++;

	t->ts_ns = now;
	t->ifindex = ifindex;
	t->seq = p->seq;
	t->ack = p->ack;
	t->seg_len = payload;
	t->offset = 0;
	t->len = 0;
	t->window = p->window;
	t->sport = p->sport;
	t->dport = p->dport;
	t->family = p->family;
	t->tcp_flags = p->tcp_flags;
	t->dir = dir;
	t->ev_flags = TAPIR_EV_FIRST | TAPIR_EV_LAST;
	__builtin_memcpy(t->saddr, p->saddr, 16);
	__builtin_memcpy(t->daddr, p->daddr, 16);
	if (!payload) {
		r = tapir_emit(pkt, t, 0, 0, 0, kind);
		tapir_count_emit(c, r, 0, now, &evf);
		x->copied = r == 0;
		return 0;
	}
	x->pkt = pkt;
	x->c = c;
	x->payload = payload;
	x->payload_off = p->payload_off;
	x->seq = p->seq;
	x->done = 0;
	x->now = now;
	x->tf = p->tcp_flags;
	x->evf = 0;
	x->copied = 1;
	return 1;
}

#endif
