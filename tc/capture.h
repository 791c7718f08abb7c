/* capture.h - shared between tc/capture.bpf.c (kernel) and the agent's
 * loader (agent/capture.c, agent/source_ring.c): the filter maps' key and
 * value types and the program's run-time configuration.  The event layout
 * and counters are bpf/tapir_event.h (shared with xdp/ too).
 *
 * Invariants: fixed-width fields only (STYLE.md); the agent writes the
 * configuration (skel->bss->cfg) and fills the maps before it attaches, and
 * may change them while attached (a field at a time: the program reads each
 * once per packet, so a packet sees either the old or the new value).
 */
#ifndef TAPIR_TC_CAPTURE_H
#define TAPIR_TC_CAPTURE_H

#include "../bpf/tapir_event.h"

/* cfg.flags */
enum tapir_cfg_flags {
	TAPIR_CFG_PORTS = 0x01,		/* only ports in map `ports` */
	TAPIR_CFG_NET = 0x02,		/* only flows with an end in net4/net6
					 * (--net; an IPv6 flow needs an IPv6
					 * range and vice versa) */
	TAPIR_CFG_XNET = 0x04,		/* skip flows with an end in
					 * xnet4/xnet6 (--exclude-net) */
	TAPIR_CFG_ALL_IFACES = 0x08,	/* ignore map `ifaces`: capture every
					 * interface the program is attached to
					 * in both directions */
	TAPIR_CFG_ACKS = 0x10,		/* send pure ACKs too (always) */
	TAPIR_CFG_HOOK_DEDUP = 0x20,	/* skip an egress segment equal to the
					 * one this CPU just copied on ingress
					 * (a forwarded packet seen twice) */
};

/* map `ifaces` value: the directions captured on that ifindex */
enum tapir_if_dirs {
	TAPIR_IF_INGRESS = 1 << TAPIR_DIR_INGRESS,
	TAPIR_IF_EGRESS = 1 << TAPIR_DIR_EGRESS,
};

struct tapir_cfg {
	__u32 flags;		/* enum tapir_cfg_flags */
	/* Pure ACKs are sent for this long after a ring drop, so the peer's
	 * acknowledgment of lost data reaches the reassembler and the hole
	 * is reported as a gap at once (reasm_ack). 0 = never. */
	__u32 acks_after_drop_ms;
	/* Wakeups: 0 = the ring's default (wake the agent on every record
	 * that finds it caught up).  Otherwise records are submitted without
	 * a wakeup and the agent polls on a short timer; the program wakes
	 * it early only when this many bytes wait unread, at most once per
	 * wakeup_gap_us. */
	__u32 wakeup_bytes;
	__u32 wakeup_gap_us;
};

/* map `last_in` value: identity of the last segment copied on ingress by
 * this CPU (TAPIR_CFG_HOOK_DEDUP).  A forwarded packet reaches the egress
 * hook of the outgoing interface on the same CPU, synchronously, before
 * any other packet's ingress hook runs there. */
struct tapir_seg_id {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;
	__u32 ack;
	__u32 seg_len;
	__u16 sport, dport;
	__u16 window;
	__u8 family;
	__u8 tcp_flags;
	__u32 valid;		/* 1 once written */
};
_Static_assert(sizeof(struct tapir_seg_id) == 56, "compared as 14 words");

/* LPM trie keys (struct bpf_lpm_trie_key layout) */
struct tapir_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};
struct tapir_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

#define TAPIR_MAX_PORTS 1024
#define TAPIR_MAX_NETS 1024
#define TAPIR_MAX_IFACES 256

/* tc filter identity: tapir's filters are found (and only they removed)
 * by this handle and priority on the clsact hooks. */
#define TAPIR_TC_HANDLE 0x7a70	/* "zp" */
#define TAPIR_TC_PRIO 0x7a70

#endif
