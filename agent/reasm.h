/* reasm.h - TCP reassembly of one direction of one flow.
 *
 * Owns: out-of-order segment copies (charged to the shared memcap).  Does
 * not own the flow or the upper layer; it reports in-order data, gaps and
 * the end of the stream through struct reasm_ops.
 *
 * Invariants: bytes are delivered exactly once and in order; a byte that
 * was not captured is never delivered, it is reported as a gap of known
 * length; the first copy of a byte wins, a later copy that differs is
 * counted as a conflicting overlap (stats.conflicts; bytes already
 * delivered are not retained and cannot be compared); sequence numbers are
 * compared as (int32_t)(a - b) and tracked in a 64-bit stream offset.
 *
 *   reasm_init -> [SYN: reasm_push sets isn] -> data flows via ops->data
 *   out-of-order: queued; hole later filled -> drained in order
 *   hole never filled: reasm_flush / memcap / window -> ops->gap, skip on
 *   FIN: ops->end(REASM_END_FIN) once all bytes before it were delivered
 *   RST: ops->end(REASM_END_RST)
 */
#ifndef TAPIR_REASM_H
#define TAPIR_REASM_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum reasm_end { REASM_END_FIN = 1, REASM_END_RST = 2, REASM_END_TIMEOUT = 3,
		 REASM_END_EOF = 4 };

struct reasm_ops {
	/* In-order bytes; p is valid only during the call. */
	void (*data)(void *ctx, int dir, const uint8_t *p, uint32_t n,
		     uint64_t ts_ns);
	/* n bytes at this point of the stream were not captured. */
	void (*gap)(void *ctx, int dir, uint64_t n, uint64_t ts_ns);
	/* The stream ended (once per direction). */
	void (*end)(void *ctx, int dir, enum reasm_end how, uint64_t ts_ns);
};

struct reasm_seg;	/* queued out-of-order copy, private */

struct reasm_stats {
	uint64_t segments, bytes, ooo_segments, retrans_segments, overlaps,
		conflicts, gaps, gap_bytes, memcap_drops,
		order_forced;	/* delivered before the peer bytes they ack */
};

struct reasm {
	const struct reasm_ops *ops;
	void *ctx;
	int dir;
	struct memcap *mc;
	struct reasm_stats *st;	/* shared counters, may be NULL */
	bool have_isn;		/* next_seq is meaningful */
	bool syn_seen;
	bool fin_seen, ended;
	uint32_t isn;		/* sequence number of stream offset 0 */
	uint64_t next;		/* stream offset of the next byte to deliver */
	uint64_t fin_off;	/* stream offset of the FIN */
	uint64_t delivered;	/* bytes delivered */
	uint32_t window_max;	/* max bytes buffered out of order */
	struct reasm_seg *q;	/* sorted by offset */
	uint64_t queued;	/* bytes in q */
	/* Causal order (see reasm.c): the other direction of the flow, and
	 * how far into it the sender of the segment being pushed had
	 * received (its ACK as a peer offset; 0: no constraint).  Data is
	 * delivered only after the peer bytes it acknowledges. */
	struct reasm *peer;
	uint64_t push_need;
	uint64_t fin_need;
	/* The peer has no isn yet, but will (this stream's SYN was seen):
	 * the segment being pushed waits until the peer's stream is placed,
	 * then push_ack becomes its need.  How long the first such segment
	 * has waited (reasm_peer_overdue). */
	bool push_raw;
	uint32_t push_ack;
	uint32_t raw_strikes;
	uint64_t raw_first_ns;
	/* A hole acknowledged by the peer: how many ACKs have covered it,
	 * and since when (reordering tolerance before it becomes a gap). */
	uint32_t ack_strikes;
	uint64_t ack_first_ns;
	uint64_t strike_next;	/* next when the first of them came */
	/* Holes below this offset are lost (the tolerance ran out): each
	 * becomes a gap as soon as delivery reaches it. */
	uint64_t lost_to;
	/* No isn yet: the lowest ack the peer sent for this stream. */
	bool have_ack_hint;
	uint32_t ack_hint;
};

void reasm_init(struct reasm *r, int dir, const struct reasm_ops *ops,
		void *ctx, struct memcap *mc, struct reasm_stats *st,
		uint32_t window_max);
/* Push one segment of this direction (flags as TCPF_*).  Payload is copied
 * only when it has to wait.  Returns 0; never fails (memory pressure turns
 * into gaps). */
int reasm_push(struct reasm *r, uint32_t seq, uint8_t flags,
	       const uint8_t *p, uint32_t n, uint64_t ts_ns);
/* The peer acknowledged up to ack: bytes below it that are still missing
 * were lost by the capture, not by the network (reported as a gap once the
 * stream has data queued beyond the hole). */
void reasm_ack(struct reasm *r, uint32_t ack, uint64_t ts_ns);
/* Anchor a stream that has no isn yet at the peer's lowest ack (when the
 * peer's SYN was seen, this stream's first byte is the one the peer
 * acknowledged first).  False when there is nothing to anchor on. */
bool reasm_anchor_at_ack(struct reasm *r);
/* The peer offset that data acknowledging `ack` waits for: 0 when there
 * is no constraint (the peer has no isn, ended, or ack is at or below
 * what it delivered, or implausibly far ahead of it: more than window). */
uint64_t reasm_need_of_ack(const struct reasm *peer, uint32_t ack,
			   uint32_t window);
/* r's next bytes wait for a peer that still has no isn (push_raw), for
 * more than the reordering tolerance (REORDER_ACKS calls or REORDER_NS of
 * capture time, counted by calls to this function): the caller should
 * place the peer's stream (reasm_anchor_at_ack) or force. */
bool reasm_peer_overdue(struct reasm *r, uint64_t ts_ns);
/* Deliver what waited for the peer and may go now.  True on progress. */
bool reasm_kick(struct reasm *r, uint64_t ts_ns);
/* In order but waiting for the peer (data or the FIN). */
bool reasm_waiting(const struct reasm *r);
/* Both directions wait for each other (a cycle, e.g. a spurious
 * retransmission captured first): deliver r's first waiting segment. */
void reasm_force_one(struct reasm *r, uint64_t ts_ns);
/* Stream offset of sequence number seq (may be < next or negative);
 * meaningful only with have_isn. */
int64_t reasm_seq_off(const struct reasm *r, uint32_t seq);
/* Give up on every hole: report gaps, deliver what is queued, end. */
void reasm_flush(struct reasm *r, enum reasm_end how, uint64_t ts_ns);
/* Free queued data without reporting anything. */
void reasm_fini(struct reasm *r);

#endif
