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

/* tc filter identity: tapir's filters are found (and only they removed)
 * by this handle and priority on the clsact hooks. */
#define TAPIR_TC_HANDLE 0x7a70	/* "zp" */
#define TAPIR_TC_PRIO 0x7a70

#endif
