/* flow.c - the flow table (see flow.h).
 *
 * Owns: every struct flow (charged to the memcap), the bucket array
 * (charged too), the LRU list.  Does not own flow->app: ops->open makes it,
 * ops->close frees it.
 *
 * Structure: open hashing (chained through flow->hnext) on a keyed
 * SipHash-2-4 of the direction-independent 5-tuple; the 128-bit key comes
 * from getrandom() at flow_table_new(), because attackers choose tuples and
 * must not be able to aim them at one bucket.  The table doubles when the
 * flow count passes the bucket count.  A doubly linked LRU list orders flows
 * by last activity (oldest at lru_head), which both idle expiry and
 * eviction walk from the old end.
 *
 * Lifecycle of a flow:
 *
 *   (none) --flow_table_push(SYN)------------> open   ops->open
 *   (none) --flow_table_push(payload)--------> open, holding (start hold:
 *                                               segments copied, not fed;
 *                                               a fitting SYN/SYN-ACK goes
 *                                               first, then they replay)
 *   (none) --push(no SYN, no payload)--------> ignored (a final ACK or an
 *                                               RST after close must not
 *                                               resurrect the flow)
 *   open   --push: SYN with a new ISN--------> flow_close(TIMEOUT), new flow
 *   open   --both directions ended-----------> flow_close   (FIN both ways,
 *                                               or RST: reasm ends both)
 *   open   --flow_table_expire: idle---------> flow_close(TIMEOUT)
 *   open   --table full / memcap refused-----> evict(): flow_close(TIMEOUT)
 *   open   --flow_table_flush_all------------> flow_close(EOF)
 *   flow_close: reasm_flush both directions, ops->close, unlink, free.
 *
 * Policies:
 *  - roles: a SYN's sender is the client, a SYN-ACK's the server
 *    (roles_certain).  Otherwise: a service port (< 1024 or a well-known
 *    alternative such as 8080/8443) on one side only is the server; else
 *    the lower port; equal ports: the destination.
 *  - full table (max_flows) or memcap refusal: evict rather than refuse, so
 *    new traffic keeps working under a SYN flood.  The victim is the
 *    least-recently-active flow, preferring among the EVICT_SCAN oldest one
 *    that never carried payload (half-open flood flows) over an idle but
 *    established connection.  Evicted flows are flushed (their data is
 *    delivered, holes gapped) and counted in flows_evicted; only when
 *    nothing can be evicted is the new flow refused (flows_refused).
 *  - checksums are not looked at (the source decides); bad_csum stays 0.
 *  - reasm_ack(): every segment with ACK feeds its ack number to the other
 *    direction's reassembler before its own payload is pushed.
 *  - causal order: a segment's payload (and FIN) is delivered only after
 *    the other direction's bytes its ACK covers (push_need, reasm.c), so a
 *    gap in a request is reported before the response bytes that follow
 *    it, and a response captured before its request's last segment still
 *    follows it.  After each push both directions are kicked; a wait cycle
 *    (each waits for the other) lets the client's bytes go first.  When
 *    the peer's stream is not placed yet but this direction's SYN was
 *    seen (the SYN-ACK or the SYN came late), the data waits for it
 *    (push_raw); past the reordering tolerance (reasm_peer_overdue) the
 *    peer is anchored at its lowest ACK, or the data is forced.
 *  - a direction with no SYN whose peer's SYN was seen starts at the
 *    peer's lowest ACK (reasm_anchor_at_ack): its first bytes may come
 *    late (reordered) or never (a gap), but are not skipped silently.
 *  - flow_table_free() closes remaining flows without flushing (no data
 *    delivered, ops->close still called so app state is freed); call
 *    flow_table_flush_all() first to deliver.
 */
#include "flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_IDLE_NS		(120ULL * 1000000000ULL)
#define DEFAULT_WINDOW		(4u << 20)
#define DEFAULT_MAX_FLOWS	1000000u
#define MIN_BUCKETS		1024u
#define EVICT_SCAN		16
/* What one flow costs: the struct, the app state hung off it (conn.c,
 * ~150 bytes) and the allocator's headers.  Flows may take at most half of
 * the memcap, so a flood of flows never starves the stream buffers of the
 * established ones (tests/e2e/attacks.sh synflood). */
#define FLOW_CHARGE		(sizeof(struct flow) + 192)
#define EVICT_TRIES		8
/* Connections closed by FIN/RST both ways are remembered (direct-mapped by
 * tuple hash, the newest wins a slot) for CLOSED_NS, so that late copies of
 * their segments (retransmissions, duplicates) are dropped rather than
 * opening a phantom mid-stream flow. */
#define CLOSED_SLOTS		4096u
#define CLOSED_NS		(60ULL * 1000000000ULL)

struct closed_flow {
	struct flow_key key;
	uint32_t hash;
	uint32_t start_seq[2];	/* each direction's first data byte */
	uint32_t len[2];	/* its length in sequence space (FIN incl.) */
	uint64_t ts_ns;		/* when it closed; 0: empty slot */
};

struct flow_table {
	struct flow_table_opts o;
	const struct flow_app_ops *ops;
	void *ctx;
	struct memcap *mc;
	struct flow_stats st;
	struct flow **b;
	uint32_t nb;		/* power of two */
	uint32_t n;		/* flows in the table */
	uint64_t k0, k1;	/* SipHash key */
	struct flow *lru_head, *lru_tail;	/* oldest, newest */
	struct closed_flow *closed;		/* CLOSED_SLOTS */
	struct flow *holding;			/* flows in their start hold */
	uint64_t held_charge;			/* what all their copies cost */
	/* the flow of the last segment: the next one is mostly of the same
	 * flow, found without the keyed hash (NULL once it is freed) */
	struct flow *last;
};

/* Start hold (see the policies above): at most HOLD_SEGS segments or
 * HOLD_BYTES payload bytes, for at most HOLD_NS of capture time -- the
 * reassembler's reordering tolerance.  All holds together take at most
 * 1/HOLD_SHARE of the memcap, so a flood of flows without SYN cannot
 * starve the reassembly of established ones. */
#define HOLD_SHARE	8
#define HOLD_SEGS	16u
#define HOLD_BYTES	(256u * 1024)
#define HOLD_NS		(500ULL * 1000000)

struct held_seg {
	struct held_seg *next;
	struct seg s;		/* s.payload points at data */
	uint64_t charge;
	uint8_t data[];
};

/* ---- hashing ------------------------------------------------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                             \
	do {                                                                 \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);    \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);    \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash-2-4 (Aumasson & Bernstein), reference algorithm. */
static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in,
			size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;
	const uint8_t *end = in + len - left;

	for (; in != end; in += 8) {
		m = le64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < left; i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Direction-independent hash: the two endpoints in a canonical order. */
static uint32_t tuple_hash(const struct flow_table *t, uint8_t family,
			   const uint8_t *a, uint16_t ap, const uint8_t *b,
			   uint16_t bp)
{
	uint8_t buf[1 + 2 * 18];
	int alen = family == 4 ? 4 : 16, c = memcmp(a, b, (size_t)alen);
	size_t o = 0;

	if (c > 0 || (c == 0 && ap > bp)) {
		const uint8_t *tp = a;
		uint16_t tport = ap;

		a = b;
		ap = bp;
		b = tp;
		bp = tport;
	}
	buf[o++] = family;
	memcpy(buf + o, a, (size_t)alen);
	o += (size_t)alen;
	buf[o++] = (uint8_t)(ap >> 8);
	buf[o++] = (uint8_t)ap;
	memcpy(buf + o, b, (size_t)alen);
	o += (size_t)alen;
	buf[o++] = (uint8_t)(bp >> 8);
	buf[o++] = (uint8_t)bp;
	return (uint32_t)siphash(t->k0, t->k1, buf, o);
}

static void random_key(struct flow_table *t)
{
	uint64_t k[2];
	size_t got = 0;

	while (got < sizeof(k)) {
		ssize_t r = getrandom((uint8_t *)k + got, sizeof(k) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	if (got < sizeof(k)) {	/* no getrandom(): weak, but keyed */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		       (uint64_t)(uintptr_t)t;
		k[1] = (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
	}
	t->k0 = k[0];
	t->k1 = k[1];
}

/* ---- lookup ------------------------------------------------------------ */

/* The flow of segment s and s's direction in it (*dir), or NULL. */
/* s's direction in the flow of key k (0: from addr[0]), or -1 if s is
 * not of that flow. */
static int key_dir(const struct flow_key *k, const struct seg *s)
{
	size_t alen = s->family == 4 ? 4 : 16;

	if (k->family != s->family)
		return -1;
	if (k->port[0] == s->sport && k->port[1] == s->dport &&
	    !memcmp(k->addr[0], s->src, alen) &&
	    !memcmp(k->addr[1], s->dst, alen))
		return 0;
	if (k->port[0] == s->dport && k->port[1] == s->sport &&
	    !memcmp(k->addr[0], s->dst, alen) &&
	    !memcmp(k->addr[1], s->src, alen))
		return 1;
	return -1;
}

static struct flow *lookup(struct flow_table *t, const struct seg *s,
			   uint32_t h, int *dir)
{
	for (struct flow *f = t->b[h & (t->nb - 1)]; f; f = f->hnext) {
		if (f->hash == h && (*dir = key_dir(&f->key, s)) >= 0)
			return f;
	}
	return NULL;
}

static void grow(struct flow_table *t)
{
	uint32_t nb = t->nb * 2;
	struct flow **b;

	if (nb < t->nb || memcap_charge(t->mc, (uint64_t)nb * sizeof(*b)) < 0)
		return;		/* chains get longer; still correct */
	b = calloc(nb, sizeof(*b));
	if (!b) {
		memcap_release(t->mc, (uint64_t)nb * sizeof(*b));
		return;
	}
	for (uint32_t i = 0; i < t->nb; i++) {
		struct flow *f = t->b[i], *next;

		for (; f; f = next) {
			next = f->hnext;
			f->hnext = b[f->hash & (nb - 1)];
			b[f->hash & (nb - 1)] = f;
		}
	}
	free(t->b);
	memcap_release(t->mc, (uint64_t)t->nb * sizeof(*b));
	t->b = b;
	t->nb = nb;
}

/* ---- LRU --------------------------------------------------------------- */

static void lru_unlink(struct flow_table *t, struct flow *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		t->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		t->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void lru_append(struct flow_table *t, struct flow *f)
{
	f->lru_prev = t->lru_tail;
	f->lru_next = NULL;
	if (t->lru_tail)
		t->lru_tail->lru_next = f;
	else
		t->lru_head = f;
	t->lru_tail = f;
}

/* ---- create / close ---------------------------------------------------- */

static void hash_unlink(struct flow_table *t, struct flow *f)
{
	struct flow **pp = &t->b[f->hash & (t->nb - 1)];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
}

/* Flush (unless !flush), tell the application, free. */
/* Remember a connection that ended both ways (FIN or RST). */
static void remember_closed(struct flow_table *t, const struct flow *f,
			    uint64_t ts)
{
	struct closed_flow *c;

	if (!t->closed || !f->rs[0].have_isn || !f->rs[1].have_isn)
		return;
	c = &t->closed[f->hash & (CLOSED_SLOTS - 1)];
	c->key = f->key;
	c->hash = f->hash;
	for (int d = 0; d < 2; d++) {
		c->start_seq[d] = f->rs[d].isn;
		c->len[d] = (uint32_t)MIN(f->rs[d].next + f->rs[d].fin_seen,
					  (uint64_t)1 << 30);
	}
	c->ts_ns = ts ? ts : 1;
}

/* A segment without SYN of a connection that closed lately, inside what
 * its direction carried: a late copy.  (A new connection on the same
 * tuple whose SYN was not captured falls there only if its random ISN
 * lands in that range.) */
static bool is_after_close(struct flow_table *t, const struct seg *s,
			   uint32_t h)
{
	const struct closed_flow *c;
	const struct flow_key *k;
	int alen = s->family == 4 ? 4 : 16, dir;

	if (!t->closed || (s->flags & TCPF_SYN))
		return false;
	c = &t->closed[h & (CLOSED_SLOTS - 1)];
	k = &c->key;
	if (!c->ts_ns || c->hash != h || k->family != s->family ||
	    (s->ts_ns > c->ts_ns && s->ts_ns - c->ts_ns > CLOSED_NS))
		return false;
	if (k->port[0] == s->sport && k->port[1] == s->dport &&
	    !memcmp(k->addr[0], s->src, (size_t)alen) &&
	    !memcmp(k->addr[1], s->dst, (size_t)alen))
		dir = 0;
	else if (k->port[0] == s->dport && k->port[1] == s->sport &&
		 !memcmp(k->addr[0], s->dst, (size_t)alen) &&
		 !memcmp(k->addr[1], s->src, (size_t)alen))
		dir = 1;
	else
		return false;
	return s->seq - c->start_seq[dir] < c->len[dir] &&
	       s->seq + s->len - c->start_seq[dir] <= c->len[dir];
}

static bool hold_release(struct flow_table *t, struct flow *f, bool replay);

static void flow_close(struct flow_table *t, struct flow *f,
		       enum reasm_end how, uint64_t ts, bool flush)
{
	if (f->dead)
		return;		/* already closing (re-entry from a callback) */
	if (f->holding && hold_release(t, f, flush))
		return;		/* the replay closed it */
	f->dead = true;
	if (how == REASM_END_EOF && f->rs[0].ended && f->rs[1].ended)
		remember_closed(t, f, ts);
	if (flush) {
		reasm_flush(&f->rs[0], how, ts);
		reasm_flush(&f->rs[1], how, ts);
	}
	if (t->ops->close)
		t->ops->close(t->ctx, f, f->app);
	reasm_fini(&f->rs[0]);
	reasm_fini(&f->rs[1]);
	if (t->last == f)
		t->last = NULL;
	hash_unlink(t, f);
	lru_unlink(t, f);
	t->n--;
	t->st.flows_active--;
	memcap_release(t->mc, FLOW_CHARGE);
	free(f);
}

static bool is_service_port(uint16_t p)
{
	static const uint16_t known[] = {
		1433, 1521, 2375, 2376, 2379, 3000, 3306, 4443, 5000, 5432,
		5601, 5672, 5984, 6379, 6443, 7474, 8000, 8008, 8080, 8081,
		8088, 8443, 8888, 9000, 9090, 9092, 9200, 9443, 10250, 11211,
		15672, 27017, 50051,
	};

	if (p < 1024)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (known[i] == p)
			return true;
	return false;
}

/* 1 if the sender of s is the client, 0 if it is the server. */
static int sender_is_client(const struct seg *s, bool *certain)
{
	bool ss = is_service_port(s->sport), ds = is_service_port(s->dport);

	*certain = true;
	if ((s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
		return 1;
	if ((s->flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK))
		return 0;
	*certain = false;
	if (ds != ss)
		return ds;
	if (s->sport != s->dport)
		return s->sport > s->dport;
	return 1;
}

static bool flow_has_payload(const struct flow *f)
{
	return f->bytes[0] || f->bytes[1];
}

/* Close one old flow to make room.  False if there is none. */
static bool evict(struct flow_table *t, uint64_t ts)
{
	struct flow *f = t->lru_head, *victim = t->lru_head;
	int i;

	if (!victim)
		return false;
	for (i = 0; f && i < EVICT_SCAN; i++, f = f->lru_next) {
		if (!flow_has_payload(f)) {
			victim = f;
			break;
		}
	}
	t->st.flows_evicted++;
	flow_close(t, victim, REASM_END_TIMEOUT, ts, true);
	return true;
}

static struct flow *flow_create(struct flow_table *t, const struct seg *s,
				uint32_t h, int *dir)
{
	struct flow *f;
	bool certain;
	int alen = s->family == 4 ? 4 : 16, c, tries = 0;

	while (t->n >= t->o.max_flows ||
	       (t->mc && (uint64_t)(t->n + 1) * FLOW_CHARGE > t->mc->limit / 2) ||
	       memcap_charge(t->mc, FLOW_CHARGE) < 0) {
		if (tries++ >= EVICT_TRIES || !evict(t, s->ts_ns)) {
			t->st.flows_refused++;
			return NULL;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		memcap_release(t->mc, FLOW_CHARGE);
		t->st.flows_refused++;
		return NULL;
	}
	c = sender_is_client(s, &certain);
	*dir = c ? 0 : 1;
	f->key.family = s->family;
	memcpy(f->key.addr[*dir], s->src, (size_t)alen);
	memcpy(f->key.addr[!*dir], s->dst, (size_t)alen);
	f->key.port[*dir] = s->sport;
	f->key.port[!*dir] = s->dport;
	f->roles_certain = certain;
	if (!certain)
		t->st.flows_midstream++;
	f->ifindex = s->ifindex;
	f->first_ts_ns = f->last_ts_ns = s->ts_ns;
	f->hash = h;
	for (int d = 0; d < 2; d++)
		reasm_init(&f->rs[d], d, &t->ops->stream, f, t->mc, &t->st.rs,
			   t->o.reasm_window);
	f->rs[0].peer = &f->rs[1];
	f->rs[1].peer = &f->rs[0];
	f->hnext = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = f;
	lru_append(t, f);
	t->n++;
	t->st.flows++;
	t->st.flows_active++;
	if (t->ops->open)
		f->app = t->ops->open(t->ctx, f);
	if (t->n > t->nb)
		grow(t);
	return f;
}

/* ---- API --------------------------------------------------------------- */

struct flow_table *flow_table_new(const struct flow_table_opts *o,
				  const struct flow_app_ops *ops, void *ctx,
				  struct memcap *mc)
{
	struct flow_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (o)
		t->o = *o;
	if (!t->o.idle_timeout_ns)
		t->o.idle_timeout_ns = DEFAULT_IDLE_NS;
	if (!t->o.reasm_window)
		t->o.reasm_window = DEFAULT_WINDOW;
	if (!t->o.max_flows)
		t->o.max_flows = DEFAULT_MAX_FLOWS;
	t->ops = ops;
	t->ctx = ctx;
	t->mc = mc;
	t->nb = MIN_BUCKETS;
	if (memcap_charge(mc, (uint64_t)t->nb * sizeof(*t->b)) < 0) {
		free(t);
		return NULL;
	}
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		memcap_release(mc, (uint64_t)t->nb * sizeof(*t->b));
		free(t);
		return NULL;
	}
	/* optional: without it late copies open flows as before */
	if (memcap_charge(mc, CLOSED_SLOTS * sizeof(*t->closed)) == 0) {
		t->closed = calloc(CLOSED_SLOTS, sizeof(*t->closed));
		if (!t->closed)
			memcap_release(mc, CLOSED_SLOTS * sizeof(*t->closed));
	}
	random_key(t);
	return t;
}

/* Data sent by dir acknowledges the peer's bytes up to ack: it was sent
 * after they arrived, so it is delivered after them (reasm.c queues it
 * until then).  When the peer's stream is not placed yet but will be
 * (dir's SYN was seen, so the peer's SYN-ACK or first data is still to
 * come: reordered), the data waits for that too (push_raw), bounded by
 * reasm_peer_overdue. */
static void set_causal_need(struct flow *f, int dir, const struct seg *s)
{
	struct reasm *r = &f->rs[dir];
	const struct reasm *p = &f->rs[!dir];

	r->push_need = 0;
	r->push_raw = false;
	if (!(s->flags & TCPF_ACK) || (!s->len && !(s->flags & TCPF_FIN)))
		return;
	if (!p->have_isn && !p->ended && r->syn_seen && s->len) {
		r->push_raw = true;
		r->push_ack = s->ack;
		return;
	}
	r->push_need = reasm_need_of_ack(p, s->ack, r->window_max);
}

/* Deliver whatever waited for the other direction and may go now; break
 * a wait cycle (each direction's next bytes ack the other's) by letting
 * the client's go first. */
static void causal_kick(struct flow *f, uint64_t ts)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		bool a = reasm_kick(&f->rs[0], ts);
		bool b = reasm_kick(&f->rs[1], ts);

		if (a || b)
			continue;
		if (!reasm_waiting(&f->rs[0]) || !reasm_waiting(&f->rs[1]))
			return;
		reasm_force_one(&f->rs[0], ts);
	}
}

static void hold_start(struct flow_table *t, struct flow *f);
static int hold_add(struct flow_table *t, struct flow *f, const struct seg *s);
static bool hold_syn_fits(const struct flow_table *t, const struct flow *f,
			  const struct seg *s);
static int hold_syn_roles(struct flow_table *t, struct flow *f,
			  const struct seg *s, int dir);
static bool flow_push_one(struct flow_table *t, struct flow *f,
			  const struct seg *s, int dir);

static void count_seg(struct flow *f, const struct seg *s, int dir)
{
	if (s->ts_ns > f->last_ts_ns)
		f->last_ts_ns = s->ts_ns;
	f->pkts[dir]++;
	f->bytes[dir] += s->len;
}

int flow_table_push(struct flow_table *t, const struct seg *s)
{
	struct flow *f;
	uint32_t h;
	int dir = 0;

	t->st.segments++;
	if (t->last && (dir = key_dir(&t->last->key, s)) >= 0) {
		f = t->last;
		h = f->hash;
	} else {
		dir = 0;
		h = tuple_hash(t, s->family, s->src, s->sport, s->dst,
			       s->dport);
		f = lookup(t, s, h, &dir);
	}

	/* A SYN with another ISN on a known tuple: the port was reused and
	 * the old connection ended without us seeing it. */
	if (f && (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN &&
	    f->rs[dir].have_isn && f->rs[dir].isn != s->seq + 1) {
		flow_close(t, f, REASM_END_TIMEOUT, s->ts_ns, true);
		f = NULL;
	}
	if (!f) {
		if (!(s->flags & TCPF_SYN) && !s->len)
			return 0;
		if (is_after_close(t, s, h)) {
			t->st.after_close++;
			return 0;
		}
		f = flow_create(t, s, h, &dir);
		if (!f)
			return -ENOMEM;
		if (!(s->flags & TCPF_SYN))
			hold_start(t, f);
	} else {
		lru_unlink(t, f);
		lru_append(t, f);
	}
	t->last = f;
	if (f->holding) {
		if (!(s->flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
		    f->nheld < HOLD_SEGS &&
		    (int64_t)(s->ts_ns - f->first_ts_ns) < (int64_t)HOLD_NS &&
		    !hold_add(t, f, s)) {
			count_seg(f, s, dir);
			return 0;
		}
		if ((s->flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) == TCPF_SYN &&
		    hold_syn_fits(t, f, s)) {
			/* The connection's start, reordered behind its
			 * first data: it goes first, then what was held. */
			dir = hold_syn_roles(t, f, s, dir);
			count_seg(f, s, dir);
			if (!flow_push_one(t, f, s, dir))
				hold_release(t, f, true);
			return 0;
		}
		/* Replay what was held, then take s as if it came now (the
		 * flow may be closed, or s be another connection's SYN). */
		hold_release(t, f, true);
		t->st.segments--;
		return flow_table_push(t, s);
	}
	count_seg(f, s, dir);
	flow_push_one(t, f, s, dir);
	return 0;
}

/* ---- start hold ----------------------------------------------------------
 * A flow opened by a segment without SYN may be a connection picked up
 * mid-stream, or one whose SYN (or SYN-ACK) a reordering capture shows a
 * few segments later.  Its segments are held (copied, charged to the
 * memcap) instead of fed to the reassemblers; a SYN or SYN-ACK during the
 * hold makes the flow that connection's start (roles from the SYN), and
 * the held segments are then replayed after it, in capture order.  The
 * hold ends with the first FIN or RST, after HOLD_SEGS segments, HOLD_BYTES
 * bytes or HOLD_NS of capture time (also on flow_table_expire), on a
 * memcap refusal or when all holds reach their share of the memcap, and
 * before the flow is flushed; the held segments are
 * then replayed as a mid-stream pickup, exactly as if never held. */

static void hold_start(struct flow_table *t, struct flow *f)
{
	f->holding = true;
	f->hold_prev = NULL;
	f->hold_next = t->holding;
	if (t->holding)
		t->holding->hold_prev = f;
	t->holding = f;
}

static void hold_unlink(struct flow_table *t, struct flow *f)
{
	if (f->hold_prev)
		f->hold_prev->hold_next = f->hold_next;
	else
		t->holding = f->hold_next;
	if (f->hold_next)
		f->hold_next->hold_prev = f->hold_prev;
	f->hold_prev = f->hold_next = NULL;
	f->holding = false;
}

/* Copy s onto f's held list; 0, or -1 (bounds, memcap, malloc). */
static int hold_add(struct flow_table *t, struct flow *f, const struct seg *s)
{
	uint64_t charge = sizeof(struct held_seg) + (uint64_t)s->len + 16;
	struct held_seg *h;

	if (f->held_charge + charge > HOLD_BYTES + HOLD_SEGS * 128 ||
	    (t->mc && t->held_charge + charge > t->mc->limit / HOLD_SHARE) ||
	    memcap_charge(t->mc, charge) < 0)
		return -1;
	h = malloc(sizeof(*h) + s->len);
	if (!h) {
		memcap_release(t->mc, charge);
		return -1;
	}
	h->next = NULL;
	h->s = *s;
	h->charge = charge;
	if (s->len)
		memcpy(h->data, s->payload, s->len);
	h->s.payload = h->data;
	if (f->held_last)
		f->held_last->next = h;
	else
		f->held = h;
	f->held_last = h;
	f->nheld++;
	f->held_charge += charge;
	t->held_charge += charge;
	return 0;
}

/* Does the SYN (or SYN-ACK) s start the connection whose segments f
 * holds?  Its sequence space must reach them: held data of its own
 * direction lies within the reassembly window after it, and held data of
 * the other direction acknowledges at most that far. */
static bool hold_syn_fits(const struct flow_table *t, const struct flow *f,
			  const struct seg *s)
{
	int sdir = key_dir(&f->key, s);
	uint32_t isn = s->seq + 1;

	for (const struct held_seg *h = f->held; h; h = h->next) {
		bool same = key_dir(&f->key, &h->s) == sdir;
		int64_t d;

		if (same)
			d = (int32_t)(h->s.seq - isn);
		else if (h->s.flags & TCPF_ACK)
			d = (int32_t)(h->s.ack - isn);
		else
			continue;
		if (d < 0 || d > (int64_t)t->o.reasm_window + HOLD_BYTES)
			return false;
	}
	return true;
}

/* The SYN (or SYN-ACK) s came during f's hold: its sender's role is
 * certain, so the key is turned around if the first segment's guess was
 * the other way (nothing has reached the reassemblers or the app yet).
 * Returns s's direction in the (possibly turned) key. */
static int hold_syn_roles(struct flow_table *t, struct flow *f,
			  const struct seg *s, int dir)
{
	int want = (s->flags & TCPF_ACK) ? 1 : 0;

	t->st.held_restarts++;
	if (!f->roles_certain && t->st.flows_midstream)
		t->st.flows_midstream--;
	f->roles_certain = true;
	if (dir != want) {
		struct flow_key k = f->key;

		memcpy(f->key.addr[0], k.addr[1], sizeof(k.addr[0]));
		memcpy(f->key.addr[1], k.addr[0], sizeof(k.addr[0]));
		f->key.port[0] = k.port[1];
		f->key.port[1] = k.port[0];
		uint64_t p = f->pkts[0], b = f->bytes[0];

		f->pkts[0] = f->pkts[1];
		f->bytes[0] = f->bytes[1];
		f->pkts[1] = p;
		f->bytes[1] = b;
	}
	return want;
}

/* End f's hold.  replay: feed the held segments in capture order (their
 * counters were taken when held), else drop them.  True if the replay
 * closed (and freed) the flow. */
static bool hold_release(struct flow_table *t, struct flow *f, bool replay)
{
	struct held_seg *h = f->held, *next;
	bool closed = false;

	hold_unlink(t, f);
	t->held_charge -= f->held_charge;
	f->held = f->held_last = NULL;
	f->nheld = 0;
	f->held_charge = 0;
	for (; h; h = next) {
		next = h->next;
		if (replay && !closed)
			closed = flow_push_one(t, f, &h->s,
					       key_dir(&f->key, &h->s));
		memcap_release(t->mc, h->charge);
		free(h);
	}
	return closed;
}

/* Feed s (direction dir of f) to the reassemblers.  True if f was closed
 * (and freed) on the way. */
static bool flow_push_one(struct flow_table *t, struct flow *f,
			  const struct seg *s, int dir)
{
	if (s->flags & TCPF_ACK)
		reasm_ack(&f->rs[!dir], s->ack, s->ts_ns);
	if (!f->rs[dir].have_isn && !(s->flags & TCPF_SYN) &&
	    f->rs[!dir].syn_seen && (s->len || (s->flags & TCPF_FIN)))
		reasm_anchor_at_ack(&f->rs[dir]);
	set_causal_need(f, dir, s);
	reasm_push(&f->rs[dir], s->seq, s->flags, s->payload, s->len,
		   s->ts_ns);
	f->rs[dir].push_need = 0;
	f->rs[dir].push_raw = false;
	for (int d = 0; d < 2; d++)
		if (reasm_peer_overdue(&f->rs[d], s->ts_ns) &&
		    !reasm_anchor_at_ack(&f->rs[!d]))
			reasm_force_one(&f->rs[d], s->ts_ns);
	if (s->flags & TCPF_RST)
		reasm_flush(&f->rs[!dir], REASM_END_RST, s->ts_ns);
	causal_kick(f, s->ts_ns);
	if (f->rs[0].ended && f->rs[1].ended) {
		flow_close(t, f, REASM_END_EOF, s->ts_ns, true);
		return true;
	}
	return false;
}

void flow_table_expire(struct flow_table *t, uint64_t now_ns)
{
	struct flow *f, *next;

	for (f = t->holding; f; f = next) {
		next = f->hold_next;
		/* only f leaves the list (or is freed) */
		if ((int64_t)(now_ns - f->first_ts_ns) >= (int64_t)HOLD_NS)
			hold_release(t, f, true);
	}
	if (now_ns < t->o.idle_timeout_ns)
		return;
	/* Oldest first; capture time may step back a little between
	 * interfaces, so the whole list is not assumed sorted: stop at the
	 * first flow that is clearly recent. */
	for (f = t->lru_head; f; f = next) {
		next = f->lru_next;
		if (f->last_ts_ns >= now_ns - t->o.idle_timeout_ns)
			break;
		t->st.flows_timed_out++;
		flow_close(t, f, REASM_END_TIMEOUT, now_ns, true);
	}
}

void flow_table_flush_all(struct flow_table *t, uint64_t now_ns)
{
	while (t->lru_head)
		flow_close(t, t->lru_head, REASM_END_EOF, now_ns, true);
}

void flow_table_free(struct flow_table *t)
{
	if (!t)
		return;
	while (t->lru_head)
		flow_close(t, t->lru_head, REASM_END_EOF, 0, false);
	memcap_release(t->mc, (uint64_t)t->nb * sizeof(*t->b));
	if (t->closed)
		memcap_release(t->mc, CLOSED_SLOTS * sizeof(*t->closed));
	free(t->closed);
	free(t->b);
	free(t);
}

const struct flow_stats *flow_table_stats(const struct flow_table *t)
{
	return &t->st;
}
