// SPDX-License-Identifier: GPL-2.0
/* span.bpf.c - tapir's XDP program for a span (mirror) port: TCP segments
 * of the flows the agent asked for, copied into the BPF ring buffer
 * (bpf/tapir_event.h); then every frame is dropped (the port receives
 * copies, nothing on it is for this host) or, with TAPIR_CFG_XDP_PASS,
 * passed on to the stack.
 *
 * Owns: only the XDP specifics - the verdict, the frame length of a
 * multi-buffer frame, the ingress ifindex.  Parsing is bpf/parse.bpf.h,
 * the filters, event header and chunked copy bpf/capture.bpf.h, both
 * shared with tc/capture.bpf.c.
 *
 * Multi-buffer frames (XDP frags: jumbo MTU, veth carrying GSO skbs, LRO):
 * the section is xdp.frags (BPF_F_XDP_HAS_FRAGS), the payload length is
 * bpf_xdp_get_buff_len() and bpf_xdp_load_bytes() copies across fragments,
 * so a 64 KiB frame is copied whole.  The headers must be in the first
 * buffer (drivers put them there); a frame whose headers are not is
 * counted in short_hdr.
 *
 * Every frame is counted once in seen and once in exactly one of not_tcp,
 * short_hdr, filtered, acks_skipped or matched.  dir is always
 * TAPIR_DIR_SPAN: the agent's flow table decides client and server.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "../bpf/capture.bpf.h"
#include "span.h"

char LICENSE[] SEC("license") = "GPL";

static long chunk_cb(__u32 i, void *ctx)
{
	return tapir_chunk(i, ctx, TAPIR_CTX_XDP);
}

SEC("xdp.frags")
int tapir_span(struct xdp_md *ctx)
{
	struct tapir_counters *c;
	struct tapir_pkt p = {};
	struct tapir_chunks x;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, flags = cfg.flags, len;
	int verdict = flags & TAPIR_CFG_XDP_PASS ? XDP_PASS : XDP_DROP;
	int r;

	c = bpf_map_lookup_elem(&counters, &zero);
	if (!c)
		return verdict;
	c->seen++;
	r = tapir_parse(data, data_end, &p);
	if (r != TAPIR_PARSE_TCP) {
		if (r == TAPIR_PARSE_NOT_TCP)
			c->not_tcp++;
		else
			c->short_hdr++;
		return verdict;
	}
	len = (__u32)bpf_xdp_get_buff_len(ctx);
	if (tapir_segment(ctx, c, &p, len, flags, ctx->ingress_ifindex,
			  TAPIR_DIR_SPAN, &x, TAPIR_CTX_XDP))
		bpf_loop(TAPIR_MAX_CHUNKS, chunk_cb, &x, 0);
	return verdict;
}
