/* tapir_filter.h - shared by every kernel program (tc/, xdp/) and the
 * agent's loader (agent/capture.c): the filter maps' key and value types
 * and the programs' run-time configuration.  The event layout and the
 * counters are tapir_event.h.
 *
 * Invariants: fixed-width fields only (STYLE.md); the agent writes the
 * configuration (the program's .data `cfg`) and fills the maps before it
 * attaches.  The TC program's cfg may change while attached (a field at a
 * time: the program reads each once per packet, so a packet sees either
 * the old or the new value); the XDP program's is written before load
 * (libxdp loads it: the skeleton's view is the initial value, copied into
 * the map at load, not the live map).
 */
#ifndef TAPIR_BPF_FILTER_H
#define TAPIR_BPF_FILTER_H

#include "tapir_event.h"

/* cfg.flags */
enum tapir_cfg_flags {
	TAPIR_CFG_PORTS = 0x01,		/* only ports in map `ports` */
	TAPIR_CFG_NET = 0x02,		/* only flows with an end in net4/net6
					 * (--net; an IPv6 flow needs an IPv6
					 * range and vice versa) */
	TAPIR_CFG_XNET = 0x04,		/* skip flows with an end in
					 * xnet4/xnet6 (--exclude-net) */
	TAPIR_CFG_ALL_IFACES = 0x08,	/* tc/: ignore map `ifaces`: capture
					 * every interface the program is
					 * attached to in both directions */
	TAPIR_CFG_ACKS = 0x10,		/* send pure ACKs too (always) */
	TAPIR_CFG_XDP_PASS = 0x20,	/* xdp/: XDP_PASS every frame (default
					 * XDP_DROP: a span port's frames are
					 * not for this host) */
	TAPIR_CFG_HOOK_DEDUP = 0x40,	/* tc/: skip an egress segment equal
					 * to the one this CPU just copied on
					 * ingress (a forwarded packet seen
					 * twice) */
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

#endif
