/* tapir_event.h - the one event layout the kernel programs (tc/, xdp/) put
 * in the BPF ring buffer and the agent (agent/source_ring.c) reads, plus
 * the per-CPU counters every program keeps.
 *
 * Owns: nothing at run time; it is a wire format between kernel and user
 * space.  Invariants (STYLE.md): only fixed-width __u8..__u64 fields, enums
 * and constants; no bool, long or pointers; fields naturally aligned so the
 * layout is the same for clang -target bpf and the host compiler; the agent
 * _Static_asserts the sizes.  Multi-byte fields are in host byte order
 * except the addresses, which are network order as on the wire.
 *
 * One TCP segment becomes one or more events (chunks): a segment with
 * payload is cut into chunks of at most TAPIR_CHUNK_MAX bytes, each event
 * carrying its own sequence number, so every chunk is a complete TCP
 * segment in its own right for the reassembler.  SYN goes on the first
 * chunk only (later chunks start at seq + 1 + offset), FIN and RST on the
 * last only.  A segment without payload is one event with len 0.
 *
 * A ring record is sizeof(struct tapir_event) + a fixed reservation
 * (TAPIR_TIER_* bytes, the kernel can only reserve constant sizes); only
 * the first len bytes after the header are payload.
 */
#ifndef TAPIR_BPF_EVENT_H
#define TAPIR_BPF_EVENT_H

#include <linux/types.h>

/* event.dir */
enum tapir_dir {
	TAPIR_DIR_INGRESS = 0,
	TAPIR_DIR_EGRESS = 1,
	TAPIR_DIR_SPAN = 2,	/* xdp/: a mirror port, no direction */
};

/* event.ev_flags */
enum tapir_ev_flags {
	TAPIR_EV_FIRST = 0x01,		/* first chunk of its segment */
	TAPIR_EV_LAST = 0x02,		/* last chunk of its segment */
	TAPIR_EV_TRUNCATED = 0x04,	/* segment payload not copied in full:
					 * bytes after this chunk are missing */
	TAPIR_EV_AFTER_DROP = 0x08,	/* an earlier chunk of this segment was
					 * lost to a full ring */
};

/* Data reservation tiers: a chunk of n bytes goes in the smallest tier
 * >= n.  Payloads above TAPIR_TIER_M are cut into TAPIR_TIER_L and
 * TAPIR_TIER_M pieces so that only a segment's last chunk wastes space. */
#define TAPIR_TIER_XS	256
#define TAPIR_TIER_S	2048
#define TAPIR_TIER_M	4096
#define TAPIR_TIER_L	16384
#define TAPIR_CHUNK_MAX	TAPIR_TIER_L
/* Chunks per segment: covers 24 * 16 KiB, well above a 64 KiB GSO/GRO
 * super-packet (and most BIG TCP sizes); beyond it payload is truncated and
 * counted. */
#define TAPIR_MAX_CHUNKS 24

struct tapir_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;		/* skb->ifindex / xdp ingress ifindex */
	__u32 seq;		/* TCP sequence number of data[0] */
	__u32 ack;		/* TCP acknowledgment number */
	__u32 seg_len;		/* TCP payload bytes of the whole segment */
	__u32 offset;		/* offset of data[0] in the segment payload */
	__u16 len;		/* payload bytes in this event */
	__u16 window;		/* TCP window, unscaled */
	__u16 sport, dport;	/* host order */
	__u8 family;		/* 4 or 6 */
	__u8 tcp_flags;		/* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 */
	__u8 dir;		/* enum tapir_dir */
	__u8 ev_flags;		/* enum tapir_ev_flags */
	__u8 saddr[16];		/* IPv4: first 4 bytes */
	__u8 daddr[16];
	/* __u8 data[len] follows */
};
#define TAPIR_EVENT_SIZE 72

/* Per-CPU counters (one array slot per CPU, summed by the agent). */
struct tapir_counters {
	__u64 seen;		/* packets the program ran on */
	__u64 not_tcp;		/* not IPv4/IPv6 TCP, or a non-first fragment */
	__u64 short_hdr;	/* headers cut short (malformed or not linear) */
	__u64 filtered;		/* TCP, but no filter matched (or excluded) */
	__u64 matched;		/* TCP segments that passed the filters */
	__u64 acks_skipped;	/* matched pure ACKs not sent (not needed) */
	__u64 events;		/* events submitted */
	__u64 bytes;		/* payload bytes submitted */
	__u64 ring_drops;	/* events lost to a full ring */
	__u64 ring_drop_bytes;	/* payload bytes in them */
	__u64 truncated;	/* segments whose payload was not copied in full */
	__u64 load_errors;	/* bpf_skb_load_bytes failed (should not happen) */
	__u64 pulled;		/* skbs whose headers had to be linearised */
	__u64 hook_dups;	/* tc/: egress segments not copied because the
				 * same segment was just copied on ingress
				 * (forwarded by this node) */
	__u64 pad[2];
};
#define TAPIR_COUNTERS_SIZE 128

#endif
