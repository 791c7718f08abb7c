/* reasm.c - TCP reassembly of one direction (see reasm.h).
 *
 * Owns: the out-of-order queue (struct reasm_seg copies, each charged to
 * the memcap with its header).  Does not own the caller's payload: in-order
 * data is handed to ops->data straight from the caller's buffer.
 *
 * Stream offsets.  Offset 0 is the first data byte: the byte after the SYN
 * (isn = SYN seq + 1), or, without a SYN, the first data byte seen
 * (mid-stream pickup).  A sequence number is mapped to an offset relative to
 * `next` with a wraparound-safe (int32_t)(seq - seq_of(next)), so offsets
 * are 64-bit and monotonic while sequence numbers wrap.
 *
 * Invariants:
 *  - every queued segment lies after `next` (off > next, or off == next
 *    when it waits for the peer, see causal order below; none empty), the
 *    queue is sorted by offset and its segments never overlap:
 *    overlapping input is cut into the bytes that are new and those that are
 *    already queued (compared, first copy kept);
 *  - `queued` is the sum of queued payload bytes; memcap charges are
 *    seg_charge(): header, allocated payload and the allocator's overhead;
 *  - after ops->end nothing else is reported for this direction.
 *
 * States and the functions behind each transition:
 *
 *   NO_ISN --reasm_push(SYN)-----------------> OPEN (isn = seq + 1)
 *   NO_ISN --reasm_push(data / FIN)----------> OPEN (isn = seq, mid-stream)
 *   OPEN   --reasm_push(in order)------------> deliver(), drain()
 *   OPEN   --reasm_push(out of order)--------> queue_insert()
 *   OPEN   --in order, waits for the peer-----> queue_insert(); reasm_kick()
 *                                              delivers it when the peer
 *                                              has delivered what it acks
 *   OPEN   --window / memcap / reasm_ack-----> skip_hole(): ops->gap, drain()
 *   OPEN   --FIN, all bytes before it done---> ENDED   ops->end(FIN)
 *   any    --reasm_push(RST) / reasm_flush---> flush_all(): gaps, drain,
 *                                              ENDED   ops->end(how)
 *
 * Policies (decided here, tested in tests/unit/test_reasm.c):
 *  - first copy wins.  A later copy of *queued* bytes that differs is a
 *    conflict (stats.conflicts, once per segment).  Bytes already delivered
 *    are not retained, so a retransmission of them cannot be compared: it is
 *    counted as a retransmission and dropped unchecked.
 *  - stats: segments = pushes; bytes = bytes delivered; retrans_segments =
 *    segments with payload but no new byte; overlaps = segments with both
 *    new and already-seen bytes; ooo_segments = segments (partly) queued.
 *  - data more than 2^30 bytes (the largest TCP window, RFC 7323) beyond
 *    `next` is dropped as bogus rather than buffered or gapped to.
 *  - a memcap refusal gives up on the holes before the refused bytes: they
 *    are gapped, the queue before them drained, and the refused bytes are
 *    then in order and delivered zero-copy, so no captured byte is lost.
 *  - RST (within 2^30 of `next`) ends the direction at once: queued data is
 *    delivered with its holes reported as gaps, then ops->end(RST).  Payload
 *    carried by an RST is ignored (receivers ignore it too).
 *  - a SYN is honoured only before the stream has an isn; a later SYN with
 *    the same isn is a retransmission (its data, TFO, is handled as data),
 *    one with another isn is ignored (the flow table starts a new flow),
 *    except on a stream placed without a SYN that has delivered nothing:
 *    an isn up to a window before the guessed start re-places it there
 *    (rebase; the SYN came late).
 *  - FIN: the first FIN's offset wins; data past it is dropped (also data
 *    already queued past it).  A FIN below `next` is ignored.
 *  - causal order across the two directions: a segment's ACK says how
 *    much of the peer's stream its sender had received, so its data is
 *    delivered only after the peer's bytes up to there (flow.c sets
 *    push_need and calls reasm_kick).  A capture that shows a response
 *    before the end of its request (reordering between directions, as on
 *    a span port) then still pairs them right.  Giving up on a hole
 *    (window, memcap, flush) delivers waiting data too; a wait cycle is
 *    broken by the flow (reasm_force_one); both counted in
 *    stats.order_forced.  The ack tolerance (below) gives up holes only:
 *    data waiting for the peer still waits.  A peer with no isn yet:
 *    segments pushed with push_raw keep the raw ACK and wait until the
 *    peer is placed, then get their need (peer_ready);
 *    reasm_peer_overdue bounds that wait.
 *  - acknowledged bytes the capture has not shown: a hole below the
 *    peer's ACK becomes a gap only after REORDER_ACKS more such ACKs or
 *    REORDER_NS of capture time (reordering tolerance).  The holes below
 *    that ACK are then lost (lost_to): each becomes a gap when delivery
 *    reaches it, which may be later, after data that waits for the peer;
 *    a late copy that comes before that is still used, after it is a
 *    retransmission.
 *  - no isn yet: the lowest ACK the peer sent is remembered;
 *    reasm_anchor_at_ack() starts the stream there (flow.c does when the
 *    peer's SYN was seen), so a first segment captured late is not taken
 *    for the stream's start.
 *  - timestamps: everything delivered during a push carries that push's
 *    ts_ns, so delivery times are monotonic.
 *  - reasm_flush(how): holes become gaps, queued data is delivered, a hole
 *    before a seen FIN is gapped up to it; the end is reported as FIN when
 *    a FIN was seen (every byte before it was delivered or gapped), else as
 *    `how`; RST is always reported as RST.
 */
#include "reasm.h"
#include "segment.h"	/* TCPF_* */

#include <stdlib.h>
#include <string.h>

struct reasm_seg {
	struct reasm_seg *next;	/* NULL-terminated */
	struct reasm_seg *prev;	/* the head's prev is the tail */
	uint64_t off;
	uint64_t need;		/* peer offset it waits for (causal order) */
	uint32_t len;
	uint32_t alloc;		/* payload bytes allocated (charged) */
	uint32_t ack;		/* raw: the sender's ACK, need not known yet */
	bool raw;
	uint8_t data[];
};

#define MAX_AHEAD ((int64_t)1 << 30)
/* Reordering tolerated before acknowledged-but-unseen bytes are a gap. */
#define REORDER_ACKS	16u
#define REORDER_NS	(500LL * 1000000)

#define STAT_ADD(r, field, n)                                                \
	do {                                                                 \
		if ((r)->st)                                                 \
			(r)->st->field += (n);                               \
	} while (0)

void reasm_init(struct reasm *r, int dir, const struct reasm_ops *ops,
		void *ctx, struct memcap *mc, struct reasm_stats *st,
		uint32_t window_max)
{
	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->ops = ops;
	r->ctx = ctx;
	r->mc = mc;
	r->st = st;
	r->window_max = window_max;
}

/* Stream offset of sequence number seq, relative to next (may be < 0). */
static int64_t seq_to_off(const struct reasm *r, uint32_t seq)
{
	uint32_t next_seq = r->isn + (uint32_t)r->next;

	return (int64_t)r->next + (int32_t)(seq - next_seq);
}

int64_t reasm_seq_off(const struct reasm *r, uint32_t seq)
{
	return seq_to_off(r, seq);
}

/* ---- queue ------------------------------------------------------------ */

/* What a queued copy of n bytes costs: its header and payload plus the
 * allocator's own (glibc: an 8-byte size field, 16-byte granules, 32
 * bytes at least), so that the memcap bounds the real footprint. */
static uint64_t seg_charge(uint32_t n)
{
	uint64_t want = sizeof(struct reasm_seg) + (uint64_t)n + 8;

	return want < 32 ? 32 : (want + 15) & ~(uint64_t)15;
}

static struct reasm_seg *q_tail(const struct reasm *r)
{
	return r->q ? r->q->prev : NULL;
}

static void q_unlink(struct reasm *r, struct reasm_seg *s)
{
	struct reasm_seg *tail = q_tail(r);

	if (s == r->q) {
		r->q = s->next;
		if (r->q)
			r->q->prev = tail;
	} else {
		s->prev->next = s->next;
		if (s->next)
			s->next->prev = s->prev;
		else
			r->q->prev = s->prev;	/* s was the tail */
	}
}

static void q_free(struct reasm *r, struct reasm_seg *s)
{
	r->queued -= s->len;
	memcap_release(r->mc, seg_charge(s->alloc));
	free(s);
}

/* Insert a copy of [off, off + n) before `before` (NULL: at the tail).
 * 0, or -ENOMEM when the memcap or malloc refuses. */
static int queue_insert(struct reasm *r, struct reasm_seg *before,
			uint64_t off, const uint8_t *p, uint32_t n)
{
	struct reasm_seg *s;

	if (memcap_charge(r->mc, seg_charge(n)) < 0)
		return -1;
	s = malloc(sizeof(*s) + n);
	if (!s) {
		memcap_release(r->mc, seg_charge(n));
		return -1;
	}
	s->off = off;
	s->need = r->push_need;
	s->raw = r->push_raw;
	s->ack = r->push_ack;
	s->len = n;
	s->alloc = n;
	memcpy(s->data, p, n);
	if (!r->q) {
		s->next = NULL;
		s->prev = s;
		r->q = s;
	} else if (!before) {
		struct reasm_seg *tail = q_tail(r);

		tail->next = s;
		s->prev = tail;
		s->next = NULL;
		r->q->prev = s;
	} else if (before == r->q) {
		s->prev = before->prev;	/* the tail */
		s->next = before;
		before->prev = s;
		r->q = s;
	} else {
		s->prev = before->prev;
		s->next = before;
		before->prev->next = s;
		before->prev = s;
	}
	r->queued += n;
	return 0;
}

/* First queued segment ending after off, or NULL.  Walks back from the
 * tail: out-of-order data usually lands near the end of the queue. */
static struct reasm_seg *q_find(const struct reasm *r, uint64_t off)
{
	struct reasm_seg *s = q_tail(r);

	if (!s || s->off + s->len <= off)
		return NULL;
	while (s != r->q && s->prev->off + s->prev->len > off)
		s = s->prev;
	return s;
}

/* ---- delivery --------------------------------------------------------- */

static void deliver(struct reasm *r, const uint8_t *p, uint32_t n,
		    uint64_t ts)
{
	r->next += n;
	r->delivered += n;
	STAT_ADD(r, bytes, n);
	if (r->ops->data)
		r->ops->data(r->ctx, r->dir, p, n, ts);
}

static void end_stream(struct reasm *r, enum reasm_end how, uint64_t ts)
{
	if (r->ended)
		return;
	r->ended = true;
	if (r->ops->end)
		r->ops->end(r->ctx, r->dir, how, ts);
}

/* How far the peer stream has been delivered (or given up on). */
static uint64_t peer_at(const struct reasm *r)
{
	if (!r->peer || r->peer->ended || !r->peer->have_isn)
		return UINT64_MAX;
	return r->peer->next;
}

static void check_fin(struct reasm *r, uint64_t ts)
{
	if (r->fin_seen && !r->ended && r->next >= r->fin_off &&
	    r->fin_need <= peer_at(r))
		end_stream(r, REASM_END_FIN, ts);
}

uint64_t reasm_need_of_ack(const struct reasm *p, uint32_t ack,
			   uint32_t window)
{
	int64_t need;

	if (!p->have_isn || p->ended)
		return 0;
	need = seq_to_off(p, ack);
	if (p->fin_seen && need > (int64_t)p->fin_off)
		need = (int64_t)p->fin_off;
	if (need <= (int64_t)p->next || need - (int64_t)p->next > window)
		return 0;
	return (uint64_t)need;
}

/* May queued segment s go as far as the peer is concerned?  A raw one
 * waits for the peer's isn, then gets its need. */
static bool peer_ready(const struct reasm *r, struct reasm_seg *s)
{
	if (s->raw) {
		if (r->peer && !r->peer->ended && !r->peer->have_isn)
			return false;
		s->raw = false;
		s->need = r->peer ? reasm_need_of_ack(r->peer, s->ack,
						      r->window_max) : 0;
	}
	return s->need <= peer_at(r);
}

static void gap(struct reasm *r, uint64_t n, uint64_t ts);

/* Deliver queued segments that became in order and whose peer bytes were
 * delivered (all of them, up to offset `force`, regardless of the peer);
 * a hole below lost_to that delivery reaches becomes a gap. */
static void drain_to(struct reasm *r, uint64_t force, uint64_t ts)
{
	struct reasm_seg *s;

	for (;;) {
		s = r->q;
		if (s && s->off <= r->next &&
		    (s->off < force || peer_ready(r, s))) {
			uint64_t skip = r->next - s->off; /* 0 by invariant */

			q_unlink(r, s);
			if (skip < s->len)
				deliver(r, s->data + skip,
					(uint32_t)(s->len - skip), ts);
			q_free(r, s);
		} else if (r->next < r->lost_to && !r->ended &&
			   (!s || s->off > r->next)) {
			gap(r, (s && s->off < r->lost_to ? s->off : r->lost_to) -
				       r->next, ts);
		} else {
			break;
		}
	}
	if (force > r->next && r->fin_seen && r->fin_off <= force)
		r->fin_need = 0;
	check_fin(r, ts);
}

static void drain(struct reasm *r, uint64_t ts)
{
	drain_to(r, 0, ts);
}

static void gap(struct reasm *r, uint64_t n, uint64_t ts)
{
	if (!n)
		return;
	r->next += n;
	STAT_ADD(r, gaps, 1);
	STAT_ADD(r, gap_bytes, n);
	if (r->ops->gap)
		r->ops->gap(r->ctx, r->dir, n, ts);
}

/* Give up on the bytes before offset `to`: each hole before it becomes a
 * gap and the queued data between them is delivered.  Afterwards
 * next >= to, unless the stream ended on the way (FIN). */
static void skip_to(struct reasm *r, uint64_t to, uint64_t ts)
{
	uint64_t before = r->next;

	drain_to(r, to, ts);	/* what waits for the peer goes out too */
	if (r->next > before)
		STAT_ADD(r, order_forced, 1);
	while (!r->ended && r->next < to) {
		struct reasm_seg *s = r->q;

		gap(r, (s && s->off < to ? s->off : to) - r->next, ts);
		drain_to(r, to, ts);
	}
}

/* Give up on the first hole (there is queued data beyond it), or, when
 * the first queued segment is in order but waits for the peer, on that
 * wait. */
static void skip_hole(struct reasm *r, uint64_t ts)
{
	if (r->q)
		skip_to(r, r->q->off > r->next ? r->q->off
					       : r->q->off + r->q->len, ts);
}

/* Drop queued bytes at or after the FIN offset. */
static void trim_after_fin(struct reasm *r)
{
	struct reasm_seg *s;

	while ((s = q_tail(r)) && s->off + s->len > r->fin_off) {
		if (s->off >= r->fin_off) {
			q_unlink(r, s);
			q_free(r, s);
		} else {
			r->queued -= s->off + s->len - r->fin_off;
			s->len = (uint32_t)(r->fin_off - s->off);
		}
	}
}

/* Payload p[0..n) at stream offset off (>= next, already trimmed). */
static void push_data(struct reasm *r, uint64_t off, const uint8_t *p,
		      uint32_t n, bool old_bytes, uint64_t ts)
{
	uint64_t end = off + n, cur;
	struct reasm_seg *s, *first = q_find(r, off);
	bool conflict = false, queued_any = false, new_any = false;

	/* Pass 1, no mutation: compare with what is queued. */
	for (s = first; s && s->off < end; s = s->next) {
		uint64_t a = MAX(off, s->off), b = MIN(end, s->off + s->len);

		old_bytes = true;
		if (memcmp(p + (a - off), s->data + (a - s->off), b - a))
			conflict = true;
	}

	/* Pass 2: deliver or queue the bytes that are new. */
	cur = off;
	s = first;
	while (cur < end && !r->ended) {
		uint64_t pe;

		if (cur < r->next) {	/* a drain went past cur */
			cur = r->next;
			s = r->q;
			continue;
		}
		if (s && s->off <= cur) {	/* already queued: skip */
			cur = MIN(end, s->off + s->len);
			s = s->next;
			continue;
		}
		pe = s ? MIN(end, s->off) : end;
		new_any = true;
		if (cur > r->next || r->push_raw ||
		    r->push_need > peer_at(r)) {
			if (!queue_insert(r, s, cur, p + (cur - off),
					  (uint32_t)(pe - cur))) {
				queued_any = true;
				cur = pe;
				continue;
			}
			STAT_ADD(r, memcap_drops, 1);
			skip_to(r, cur, ts);
			if (r->ended || r->next != cur) {
				s = r->q;
				continue;
			}
		}
		deliver(r, p + (cur - off), (uint32_t)(pe - cur), ts);
		drain(r, ts);
		cur = pe;
		s = r->q;
	}

	if (conflict)
		STAT_ADD(r, conflicts, 1);
	if (queued_any)
		STAT_ADD(r, ooo_segments, 1);
	if (!new_any)
		STAT_ADD(r, retrans_segments, 1);
	else if (old_bytes)
		STAT_ADD(r, overlaps, 1);

	while (!r->ended && r->queued > r->window_max)
		skip_hole(r, ts);
}

/* A SYN with isn `isn` for a stream that was placed without one (first
 * data, or the peer's lowest ACK) and has delivered nothing yet: when isn
 * lies before the guessed start, within the window, the guess was wrong
 * (the SYN and the first bytes were reordered behind later ones), and
 * the stream is placed again at the SYN.  Queued data, the FIN and the
 * peer's waits on this stream move with it.  False if it does not fit
 * (another connection's SYN). */
static bool rebase(struct reasm *r, uint32_t isn)
{
	uint64_t d = (uint32_t)(r->isn - isn);
	struct reasm_seg *s;
	struct reasm *p = r->peer;

	if (r->syn_seen || r->next || r->delivered || r->ended ||
	    d > r->window_max)
		return false;
	r->isn = isn;
	for (s = r->q; s; s = s->next)
		s->off += d;
	if (r->fin_seen)
		r->fin_off += d;
	if (r->lost_to)
		r->lost_to += d;
	r->ack_strikes = 0;
	if (p) {
		for (s = p->q; s; s = s->next)
			if (!s->raw && s->need)
				s->need += d;
		if (p->fin_need)
			p->fin_need += d;
	}
	return true;
}

int reasm_push(struct reasm *r, uint32_t seq, uint8_t flags,
	       const uint8_t *p, uint32_t n, uint64_t ts_ns)
{
	int64_t off, end;
	bool old_bytes = false;

	STAT_ADD(r, segments, 1);
	if (r->ended)
		return 0;
	if (flags & TCPF_SYN) {
		if (!r->have_isn) {
			r->isn = seq + 1;
			r->have_isn = true;
			r->syn_seen = true;
			r->next = 0;
		} else if (seq + 1 != r->isn && !rebase(r, seq + 1)) {
			return 0;	/* another connection's SYN */
		} else {
			r->syn_seen = true;
		}
		seq++;		/* data (TFO) starts after the SYN */
	}
	if (flags & TCPF_RST) {
		if (r->have_isn) {
			off = seq_to_off(r, seq);
			if (off - (int64_t)r->next > MAX_AHEAD ||
			    (int64_t)r->next - off > MAX_AHEAD)
				return 0;	/* bogus RST */
		}
		reasm_flush(r, REASM_END_RST, ts_ns);
		return 0;
	}
	if (!r->have_isn) {
		if (!n && !(flags & TCPF_FIN))
			return 0;	/* nothing to anchor the stream on */
		r->isn = seq;		/* mid-stream pickup */
		r->have_isn = true;
		r->next = 0;
	}

	off = seq_to_off(r, seq);
	end = off + n;
	if (off - (int64_t)r->next > MAX_AHEAD)
		return 0;

	if ((flags & TCPF_FIN) && !r->fin_seen && end >= (int64_t)r->next) {
		r->fin_seen = true;
		r->fin_off = (uint64_t)end;
		r->fin_need = r->push_need;
		trim_after_fin(r);
	}
	if (r->fin_seen && end > (int64_t)r->fin_off)
		end = (int64_t)r->fin_off;	/* data after FIN ignored */

	if (n) {
		if (off < (int64_t)r->next) {	/* retransmitted bytes */
			old_bytes = true;
			if (end <= (int64_t)r->next) {
				STAT_ADD(r, retrans_segments, 1);
				end = off;	/* nothing new */
			} else {
				p += (uint64_t)((int64_t)r->next - off);
				off = (int64_t)r->next;
			}
		}
		if (end > off)
			push_data(r, (uint64_t)off, p, (uint32_t)(end - off),
				  old_bytes, ts_ns);
	}
	check_fin(r, ts_ns);
	return 0;
}

/* First offset at or after next that is neither delivered nor queued. */
static uint64_t covered_to(const struct reasm *r)
{
	const struct reasm_seg *s;
	uint64_t c = r->next;

	for (s = r->q; s && s->off <= c; s = s->next)
		c = MAX(c, s->off + s->len);
	return c;
}

void reasm_ack(struct reasm *r, uint32_t ack, uint64_t ts_ns)
{
	int64_t off;
	uint64_t to;

	if (r->ended)
		return;
	if (!r->have_isn) {	/* remember the lowest, for reasm_anchor_at_ack */
		if (!r->have_ack_hint || (int32_t)(ack - r->ack_hint) < 0)
			r->ack_hint = ack;
		r->have_ack_hint = true;
		return;
	}
	off = seq_to_off(r, ack);
	if (off - (int64_t)r->next > MAX_AHEAD)
		return;	/* bogus */
	to = off > 0 ? (uint64_t)off : 0;
	if (r->fin_seen && to > r->fin_off)
		to = r->fin_off;	/* the FIN's own sequence number */
	if (to <= r->next || covered_to(r) >= to) {
		r->ack_strikes = 0;
		return;
	}
	/* The peer has bytes the capture has not shown yet.  Tolerate
	 * reordering (the capture may still bring them, e.g. a span port
	 * mirroring the two directions separately) for REORDER_ACKS acks
	 * or REORDER_NS of capture time, then they are lost for sure. */
	if (r->ack_strikes && r->strike_next != r->next)
		r->ack_strikes = 0;	/* progress since: a new hole */
	if (!r->ack_strikes++) {
		r->ack_first_ns = ts_ns;
		r->strike_next = r->next;
	}
	if (r->ack_strikes <= REORDER_ACKS &&
	    (int64_t)(ts_ns - r->ack_first_ns) < REORDER_NS)
		return;
	/* Only the holes are given up: data that waits for the peer keeps
	 * waiting (the peer's bytes it acknowledges may themselves wait for
	 * this hole), and the holes after it become gaps when delivery
	 * reaches them.  Forcing it out here once delivered a response
	 * before its request, which then paired with the next response. */
	r->ack_strikes = 0;
	if (to > r->lost_to)
		r->lost_to = to;
	drain(r, ts_ns);
}

bool reasm_anchor_at_ack(struct reasm *r)
{
	if (r->have_isn || !r->have_ack_hint || r->ended)
		return false;
	r->isn = r->ack_hint;
	r->have_isn = true;
	r->next = 0;
	return true;
}

bool reasm_peer_overdue(struct reasm *r, uint64_t ts_ns)
{
	bool stalled = !r->ended && r->q && r->q->off <= r->next &&
		       r->q->raw && r->peer && !r->peer->have_isn &&
		       !r->peer->ended;

	if (!stalled) {
		r->raw_strikes = 0;
		return false;
	}
	if (!r->raw_strikes++)
		r->raw_first_ns = ts_ns;
	if (r->raw_strikes <= REORDER_ACKS &&
	    (int64_t)(ts_ns - r->raw_first_ns) < REORDER_NS)
		return false;
	r->raw_strikes = 0;
	return true;
}

bool reasm_kick(struct reasm *r, uint64_t ts_ns)
{
	uint64_t before = r->next;
	bool was_ended = r->ended;

	if (r->ended)
		return false;
	drain(r, ts_ns);
	return r->next != before || r->ended != was_ended;
}

bool reasm_waiting(const struct reasm *r)
{
	return !r->ended && ((r->q && r->q->off <= r->next) ||
			     (r->fin_seen && r->next >= r->fin_off));
}

void reasm_force_one(struct reasm *r, uint64_t ts_ns)
{
	if (r->ended)
		return;
	if (r->q && r->q->off <= r->next) {
		skip_hole(r, ts_ns);
	} else if (r->fin_seen) {
		r->fin_need = 0;
		STAT_ADD(r, order_forced, 1);
		check_fin(r, ts_ns);
	}
}

void reasm_flush(struct reasm *r, enum reasm_end how, uint64_t ts_ns)
{
	if (r->ended)
		return;
	r->fin_need = 0;
	drain_to(r, UINT64_MAX, ts_ns);
	while (!r->ended && r->q)
		skip_hole(r, ts_ns);
	if (!r->ended && r->fin_seen && r->next < r->fin_off)
		gap(r, r->fin_off - r->next, ts_ns);
	end_stream(r, r->fin_seen && how != REASM_END_RST ? REASM_END_FIN : how,
		   ts_ns);
	reasm_fini(r);
}

void reasm_fini(struct reasm *r)
{
	struct reasm_seg *s;

	while ((s = r->q)) {
		q_unlink(r, s);
		q_free(r, s);
	}
}
