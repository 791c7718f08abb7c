/* capture.h - shared between tc/capture.bpf.c (kernel) and the agent's
 * loader (agent/capture.c, agent/tc_attach.c): what only the TC program
 * has - the per-interface direction map's values and the identity of
 * tapir's tc filters.  The configuration and filter map types shared with
 * xdp/ are bpf/tapir_filter.h, the event layout bpf/tapir_event.h.
 */
#ifndef TAPIR_TC_CAPTURE_H
#define TAPIR_TC_CAPTURE_H

#include "../bpf/tapir_filter.h"

/* map `ifaces` value: the directions captured on that ifindex */
enum tapir_if_dirs {
	TAPIR_IF_INGRESS = 1 << TAPIR_DIR_INGRESS,
	TAPIR_IF_EGRESS = 1 << TAPIR_DIR_EGRESS,
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

/* tc filter identity: tapir's filters are found (and only they removed)
 * by this handle and priority on the clsact hooks. */
#define TAPIR_TC_HANDLE 0x7a70	/* "zp" */
#define TAPIR_TC_PRIO 0x7a70

#endif
