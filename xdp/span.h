/* span.h - shared between xdp/span.bpf.c (kernel) and the agent's loader
 * (agent/xdp_attach.c, agent/capture.c): the XDP program's identity.  The
 * configuration and filter map types are bpf/tapir_filter.h (shared with
 * tc/), the event layout bpf/tapir_event.h.
 */
#ifndef TAPIR_XDP_SPAN_H
#define TAPIR_XDP_SPAN_H

#include "../bpf/tapir_filter.h"

/* The program's name: libxdp's dispatcher lists its component programs by
 * name, which is how a later run finds (and only it removes) what a
 * crashed one left attached.  BPF object names hold 15 characters. */
#define TAPIR_XDP_PROG_NAME "tapir_span"

#endif
