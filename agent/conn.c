/* conn.c - per-connection protocol dispatch (see conn.h for the diagram).
 *
 * Directions: flow.c numbers them 0 = its client guess -> server.  Here
 * "fdir" is flow.c's direction and "role" the direction by the bytes'
 * verdict (0 = client -> server); role = fdir ^ swapped.  Parsers above
 * (tls.c, http1.c, http2.c) only ever see roles.
 *
 * Invariant: a byte is handed to exactly one parser or counted as lost
 * (lost bytes reach the parser as a gap), never both and never dropped
 * silently.
 *
 * Late keys: a connection whose TLS session waits for keys is on the
 * env->waiting list (wait_sync() after every call into tls.c keeps the list
 * true).  Stream ends seen while waiting are held (end_pending) and given
 * to HTTP/1 after the held plaintext.  If the flow closes while waiting the
 * connection outlives it (detached: flow facts copied) until
 * conn_wait_scan() resumes it or gives up; then conn_finalize() emits what
 * is left and frees it.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "http1.h"
#include "http2.h"
#include "json.h"
#include "tls.h"
#include "util.h"

enum proto { P_UNKNOWN = 0, P_TLS, P_HTTP1, P_HTTP2, P_OTHER };

/* Bytes held while a protocol is not yet recognised, per direction.
 * An HTTP/2 server may speak first (gRPC servers send their SETTINGS as
 * soon as they accept): a direction whose bytes start with a plausible
 * SETTINGS frame on stream 0 is held (up to CONN_H2_HOLD bytes, heap) until
 * the other direction shows the preface, instead of being counted lost. */
#define CONN_H2_HOLD 4096
struct sniff {
	uint8_t b[2][CONN_SNIFF];
	uint8_t n[2];
	bool nope[2];		/* this direction's bytes matched nothing */
	uint64_t lost[2];	/* bytes dropped before recognition */
	uint8_t *hold[2];	/* server-first HTTP/2 bytes, or NULL */
	uint32_t hold_n[2];
};

struct conn {
	struct conn_env *env;
	struct flow *f;
	bool swapped;
	enum proto outer;	/* on TCP */
	enum proto inner;	/* inside TLS */
	struct sniff os;	/* outer, by fdir */
	struct sniff is;	/* inner, by role */
	struct tls_session *tls;
	struct h1_conn *h1;
	struct h2_conn *h2;
	uint64_t ncalls;
	/* late keys */
	struct conn *wprev, *wnext;	/* env->waiting list */
	bool in_wait;
	bool detached;			/* flow gone, f == NULL */
	uint8_t end_pending[2];		/* by role: 1 end, 2 reset */
	struct flow_key key;		/* copies of f's facts when detached */
	uint64_t first_ts_ns, last_ts_ns;
	uint32_t ifindex;
	char ep_src[sizeof(((struct call_flow *)0)->src)];	/* fill_flow's cache */
	char ep_dst[sizeof(((struct call_flow *)0)->dst)];
	bool ep_swapped;
};

static const uint8_t h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- emitting calls ------------------------------------------------- */

static void fill_flow(struct conn *c, struct call *call)
{
	const struct flow_key *k = c->f ? &c->f->key : &c->key;
	int ci = c->swapped ? 1 : 0;

	/* formatted once per connection (and again if the roles flip) */
	if (!c->ep_src[0] || c->ep_swapped != c->swapped) {
		fmt_endpoint(c->ep_src, sizeof(c->ep_src), k->family,
			     k->addr[ci], k->port[ci]);
		fmt_endpoint(c->ep_dst, sizeof(c->ep_dst), k->family,
			     k->addr[!ci], k->port[!ci]);
		c->ep_swapped = c->swapped;
	}
	_Static_assert(sizeof(c->ep_src) == sizeof(call->flow.src), "src");
	_Static_assert(sizeof(c->ep_dst) == sizeof(call->flow.dst), "dst");
	memcpy(call->flow.src, c->ep_src, sizeof(c->ep_src));
	memcpy(call->flow.dst, c->ep_dst, sizeof(c->ep_dst));
	if (c->env->opts->describe_flow)
		c->env->opts->describe_flow(c->env->opts->describe_ctx,
					    c->f ? c->f->ifindex : c->ifindex,
					    k->family,
					    k->addr[ci], k->addr[!ci],
					    call->flow.iface,
					    sizeof(call->flow.iface),
					    &call->flow.direction);
}

/* Copy s into dst (size n), cut and NUL-terminated. */
static void strlcpy0(char *dst, size_t n, const char *s)
{
	size_t k = strnlen(s, n - 1);

	memcpy(dst, s, k);
	dst[k] = '\0';
}

static void fill_tls(struct conn *c, struct call *call, bool from_plaintext)
{
	const struct tls_info *ti;

	if (!c->tls)
		return;
	ti = tls_session_info(c->tls);
	call->tls.present = true;
	strlcpy0(call->tls.version, sizeof(call->tls.version), ti->version_name);
	strlcpy0(call->tls.cipher, sizeof(call->tls.cipher), ti->cipher_name);
	strlcpy0(call->tls.sni, sizeof(call->tls.sni), ti->sni);
	strlcpy0(call->tls.alpn, sizeof(call->tls.alpn), ti->alpn);
	call->tls.decrypted = from_plaintext;
	if (!from_plaintext)
		snprintf(call->tls.reason, sizeof(call->tls.reason), "%s",
			 ti->reason[0] ? ti->reason : "not decrypted");
}

static void write_call(struct conn *c, struct call *call)
{
	struct engine_stats *st = c->env->st;

	fill_flow(c, call);
	st->calls++;
	if (call->nerrors)
		st->calls_with_errors++;
	json_sink_write(c->env->sink, call);
	st->write_errors = json_sink_lost(c->env->sink);
	call_free(call);
}

/* h1_emit_fn / h2_emit_fn: a call from an HTTP parser, plain or inside
 * TLS. */
static void h1_emit(void *ctx, struct call *call)
{
	struct conn *c = ctx;

	c->ncalls++;
	fill_tls(c, call, true);
	write_call(c, call);
}

/* A TLS session that produced no HTTP call it could stand behind: one
 * record with its metadata and the reason, no request or response. */
static void emit_tls_only(struct conn *c)
{
	const struct tls_info *ti = tls_session_info(c->tls);
	struct call *call;

	if (ti->decrypted && !ti->reason[0])
		return;	/* its calls speak for it */
	call = call_new(&c->env->opts->body);
	fill_tls(c, call, false);
	if (ti->decrypted)
		call->tls.decrypted = true;
	call_error(call, "%s", call->tls.reason[0] ? call->tls.reason :
		   "TLS session not decrypted");
	/* no messages: the record spans the connection */
	call->ts_start_ns = c->f ? c->f->first_ts_ns : c->first_ts_ns;
	call->ts_end_ns = c->f ? c->f->last_ts_ns : c->last_ts_ns;
	write_call(c, call);
}

/* ---- recognising protocols ------------------------------------------ */

static int is_tls_record(const uint8_t *p, uint32_t n)
{
	if (n < 3)
		return -EAGAIN;
	return p[0] >= 20 && p[0] <= 24 && p[1] == 3 && p[2] <= 4;
}

enum verdict { V_MORE, V_NOPE, V_TLS_HELLO, V_TLS_MID, V_REQ, V_RESP, V_H2,
	       V_H2_SERVER };

/* Does p start like a server's first HTTP/2 frame: SETTINGS (type 4, no
 * flags, stream 0, a length that is a multiple of 6 and at most 64
 * settings)?  1 yes, 0 no, -EAGAIN too short to tell. */
static int h2_server_first(const uint8_t *p, uint32_t n)
{
	static const uint8_t want[9] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	uint32_t len;

	for (uint32_t i = 0; i < MIN(n, 9u); i++)
		if (i >= 3 && p[i] != want[i])
			return 0;
	if (n >= 1 && p[0] != 0)
		return 0;
	if (n < 9)
		return -EAGAIN;
	len = (uint32_t)p[1] << 8 | p[2];
	return len % 6 == 0 && len <= 6 * 64;
}

static enum verdict classify(const uint8_t *p, uint32_t n, bool outer)
{
	int r, more = 0;
	uint32_t k = MIN(n, (uint32_t)sizeof(h2_preface) - 1);

	/* "PRI * HTTP/2.0\r\n" (CONN_SNIFF bytes) decides; http2.c checks
	 * the rest of the preface itself. */
	if (!memcmp(p, h2_preface, k))
		return k >= MIN((uint32_t)sizeof(h2_preface) - 1, CONN_SNIFF) ?
		       V_H2 : V_MORE;
	if (outer) {
		r = tls_looks_like_client_hello(p, n);
		if (r == 1)
			return V_TLS_HELLO;
		more |= r == -EAGAIN;
		r = is_tls_record(p, n);
		if (r == 1 && n >= 5)
			return V_TLS_MID;
		more |= r == -EAGAIN || (r == 1 && n < 5);
	}
	r = h1_looks_like_request(p, n);
	if (r == 1)
		return V_REQ;
	more |= r == -EAGAIN;
	r = h1_looks_like_response(p, n);
	if (r == 1)
		return V_RESP;
	more |= r == -EAGAIN;
	r = h2_server_first(p, n);
	if (r == 1)
		return V_H2_SERVER;
	more |= r == -EAGAIN;
	return more && n < CONN_SNIFF ? V_MORE : V_NOPE;
}

/* Look at dir's next bytes.  Returns the verdict; on V_MORE the bytes were
 * kept in s, on V_NOPE they were counted as lost. */
static enum verdict sniff_feed(struct sniff *s, int dir, const uint8_t *p,
			       uint32_t n, bool outer)
{
	uint8_t tmp[CONN_SNIFF];
	uint32_t k = MIN(n, (uint32_t)(CONN_SNIFF - s->n[dir]));
	enum verdict v;

	if (s->nope[dir]) {
		s->lost[dir] += n;
		return V_NOPE;
	}
	if (s->hold[dir]) {
		if (n <= CONN_H2_HOLD - s->hold_n[dir]) {
			memcpy(s->hold[dir] + s->hold_n[dir], p, n);
			s->hold_n[dir] += n;
			return V_MORE;
		}
		/* not the server of an HTTP/2 connection after all */
		s->nope[dir] = true;
		s->lost[dir] += s->hold_n[dir] + n;
		free(s->hold[dir]);
		s->hold[dir] = NULL;
		s->hold_n[dir] = 0;
		return V_NOPE;
	}
	memcpy(tmp, s->b[dir], s->n[dir]);
	memcpy(tmp + s->n[dir], p, k);
	v = classify(tmp, s->n[dir] + k, outer);
	if (v == V_H2_SERVER) {
		if (s->n[dir] + n > CONN_H2_HOLD) {
			v = V_NOPE;
		} else {
			s->hold[dir] = xcalloc(1, CONN_H2_HOLD);
			memcpy(s->hold[dir], s->b[dir], s->n[dir]);
			memcpy(s->hold[dir] + s->n[dir], p, n);
			s->hold_n[dir] = s->n[dir] + n;
			s->n[dir] = 0;
			return V_MORE;
		}
	}
	if (v == V_MORE) {
		memcpy(s->b[dir] + s->n[dir], p, k);
		s->n[dir] += k;
	} else if (v == V_NOPE) {
		s->nope[dir] = true;
		s->lost[dir] += s->n[dir] + n;
		s->n[dir] = 0;
	}
	return v;
}

/* ---- the inner (plaintext) side of TLS -------------------------------- */

static void inner_feed(struct conn *c, int role, const uint8_t *p, uint32_t n,
		       uint64_t ts);

static void start_h2(struct conn *c)
{
	/* Recognised by ALPN or the preface, so the connection start was
	 * seen: not mid-stream. */
	if (!c->h2)
		c->h2 = h2_conn_new(&c->env->h2, false, h1_emit, c);
}

/* h1_upgrade_fn: a 101 to h2c.  The upgrade request becomes stream 1 of
 * an HTTP/2 parser that takes over whichever layer HTTP/1 ran on. */
static void h1_upgraded(void *ctx, struct call *call, const uint8_t *held,
			size_t nheld, const uint8_t *rest, size_t nrest)
{
	struct conn *c = ctx;
	uint64_t ts = call->resp.ts_last_ns;

	start_h2(c);
	c->env->st->h2_conns++;
	if (c->inner == P_HTTP1)
		c->inner = P_HTTP2;
	else
		c->outer = P_HTTP2;
	h2_conn_upgrade(c->h2, call);
	if (nheld)
		h2_feed(c->h2, 0, held, (uint32_t)nheld, ts);
	if (nrest)
		h2_feed(c->h2, 1, rest, (uint32_t)nrest, ts);
}

static void start_h1(struct conn *c)
{
	if (!c->h1) {
		c->h1 = h1_conn_new(&c->env->h1, h1_emit, c);
		h1_conn_set_upgrade(c->h1, h1_upgraded);
		c->env->st->http1_conns++;
	}
}

/* Replay what the sniffer held: gaps for lost bytes, then kept bytes. */
static void replay(struct conn *c, struct sniff *s, int (*map)(struct conn *, int),
		   void (*feed)(struct conn *, int, const uint8_t *, uint32_t, uint64_t),
		   void (*gap)(struct conn *, int, uint64_t, uint64_t), uint64_t ts)
{
	for (int d = 0; d < 2; d++) {
		int role = map(c, d);
		if (s->lost[d])
			gap(c, role, s->lost[d], ts);
		s->lost[d] = 0;
		s->nope[d] = false;
		if (s->n[d]) {
			uint8_t tmp[CONN_SNIFF];
			uint32_t k = s->n[d];
			memcpy(tmp, s->b[d], k);
			s->n[d] = 0;
			feed(c, role, tmp, k, ts);
		}
		if (s->hold[d]) {
			uint8_t *h = s->hold[d];
			uint32_t k = s->hold_n[d];
			s->hold[d] = NULL;
			s->hold_n[d] = 0;
			feed(c, role, h, k, ts);
			free(h);
		}
	}
}

static void sniff_fini(struct sniff *s)
{
	for (int d = 0; d < 2; d++) {
		free(s->hold[d]);
		s->hold[d] = NULL;
		s->hold_n[d] = 0;
	}
}

static int map_identity(struct conn *c, int d) { (void)c; return d; }
static int map_fdir(struct conn *c, int d) { return d ^ (c->swapped ? 1 : 0); }

static void inner_parse(struct conn *c, int role, const uint8_t *p, uint32_t n,
			uint64_t ts)
{
	if (c->inner == P_HTTP1)
		h1_feed(c->h1, role, p, n, ts);
	else if (c->inner == P_HTTP2)
		h2_feed(c->h2, role, p, n, ts);
}

static void inner_gap(struct conn *c, int role, uint64_t n, uint64_t ts)
{
	c->env->st->gaps++;
	if (c->inner == P_HTTP1)
		h1_gap(c->h1, role, n, ts);
	else if (c->inner == P_HTTP2)
		h2_gap(c->h2, role, n, ts);
	else if (c->inner == P_UNKNOWN) {
		c->is.lost[role] += n + c->is.hold_n[role];
		free(c->is.hold[role]);
		c->is.hold[role] = NULL;
		c->is.hold_n[role] = 0;
	}
}

static void inner_decide(struct conn *c, enum proto p, uint64_t ts)
{
	c->inner = p;
	if (p == P_HTTP1) {
		start_h1(c);
	} else if (p == P_HTTP2) {
		start_h2(c);
		c->env->st->h2_conns++;
	}
	else
		c->env->st->other_conns++;
	replay(c, &c->is, map_identity, inner_parse, inner_gap, ts);
}

static void inner_feed(struct conn *c, int role, const uint8_t *p, uint32_t n,
		       uint64_t ts)
{
	if (c->inner == P_UNKNOWN) {
		const struct tls_info *ti = tls_session_info(c->tls);
		enum verdict v;

		if (!strcmp(ti->alpn, "h2")) {
			inner_decide(c, P_HTTP2, ts);
		} else if (!strncmp(ti->alpn, "http/1", 6)) {
			inner_decide(c, P_HTTP1, ts);
		} else {
			v = sniff_feed(&c->is, role, p, n, false);
			if (v == V_MORE)
				return;
			if (v == V_NOPE) {
				/* both sides unrecognisable: not HTTP */
				if (c->is.nope[!role])
					inner_decide(c, P_OTHER, ts);
				return;
			}
			/* replays the held prefix; this chunk follows whole */
			inner_decide(c, v == V_H2 ? P_HTTP2 : P_HTTP1, ts);
		}
	}
	inner_parse(c, role, p, n, ts);
}

/* ---- TLS callbacks ---------------------------------------------------- */

static void tls_plaintext(void *ctx, int role, const uint8_t *p, uint32_t n,
			  uint64_t ts)
{
	inner_feed(ctx, role, p, n, ts);
}

static void tls_gap(void *ctx, int role, uint64_t n, uint64_t ts)
{
	inner_gap(ctx, role, n, ts);
}

static const struct tls_ops conn_tls_ops = {
	.plaintext = tls_plaintext,
	.gap = tls_gap,
};

/* ---- late keys -------------------------------------------------------- */

static void conn_finalize(struct conn *c);

static void wait_unlink(struct conn *c)
{
	struct conn_env *env = c->env;

	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		env->waiting = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wprev = c->wnext = NULL;
	c->in_wait = false;
	env->nwaiting--;
}

/* Keep env->waiting true to the TLS session; when it stops waiting, give
 * HTTP/1 the stream ends it missed, and finish a detached connection. */
static void wait_sync(struct conn *c)
{
	bool w = c->tls && tls_session_waiting(c->tls, NULL);

	if (w == c->in_wait)
		return;
	if (w) {
		c->wprev = NULL;
		c->wnext = c->env->waiting;
		if (c->wnext)
			c->wnext->wprev = c;
		c->env->waiting = c;
		c->in_wait = true;
		c->env->nwaiting++;
		return;
	}
	wait_unlink(c);
	for (int role = 0; role < 2; role++)
		if (c->end_pending[role] && c->h1)
			h1_end(c->h1, role, c->end_pending[role] == 2,
			       c->last_ts_ns);
	c->end_pending[0] = c->end_pending[1] = 0;
	if (c->detached)
		conn_finalize(c);
}

void conn_wait_scan(struct conn_env *env, enum conn_wait_mode mode,
		    uint64_t now_ns)
{
	uint64_t wait_ns = env->opts->key_wait_ns;
	struct conn *c, *next;

	for (c = env->waiting; c; c = next) {
		uint64_t since = 0;

		next = c->wnext;
		if (mode != CONN_WAIT_EXPIRE)
			tls_session_retry_keys(c->tls);
		if (tls_session_waiting(c->tls, &since)) {
			if (mode == CONN_WAIT_FINISH)
				tls_session_stop_waiting(c->tls, 0);
			else if (now_ns >= since && now_ns - since >= wait_ns)
				tls_session_stop_waiting(c->tls, wait_ns);
		}
		wait_sync(c);	/* may free c */
	}
}

/* ---- the outer (TCP) side --------------------------------------------- */

static void outer_parse(struct conn *c, int role, const uint8_t *p, uint32_t n,
			uint64_t ts)
{
	switch (c->outer) {
	case P_TLS:
		tls_session_feed(c->tls, role, p, n, ts);
		wait_sync(c);
		break;
	case P_HTTP1:
		h1_feed(c->h1, role, p, n, ts);
		break;
	case P_HTTP2:
		h2_feed(c->h2, role, p, n, ts);
		break;
	default:
		break;
	}
}

static void outer_gap(struct conn *c, int role, uint64_t n, uint64_t ts)
{
	c->env->st->gaps++;
	switch (c->outer) {
	case P_TLS:
		tls_session_gap(c->tls, role, n, ts);
		wait_sync(c);
		break;
	case P_HTTP1:
		h1_gap(c->h1, role, n, ts);
		break;
	case P_HTTP2:
		h2_gap(c->h2, role, n, ts);
		break;
	default:
		break;
	}
}

/* The bytes of fdir say who is the client: client_fdir. */
static void set_roles(struct conn *c, int client_fdir)
{
	if (c->f->roles_certain)
		return;
	c->swapped = client_fdir == 1;
}

static void outer_decide(struct conn *c, enum verdict v, int fdir, uint64_t ts)
{
	switch (v) {
	case V_TLS_HELLO:
		set_roles(c, fdir);
		/* fall through */
	case V_TLS_MID:
		c->outer = P_TLS;
		c->tls = tls_session_new(c->env->ks, &conn_tls_ops, c,
					 c->env->mc, c->env->tls_st);
		if (c->env->opts->key_wait_ns)
			tls_session_set_key_wait(c->tls, TLS_HOLD_MAX_DEFAULT);
		c->env->st->tls_sessions++;
		if (v == V_TLS_MID)
			c->env->st->midstream_conns++;
		break;
	case V_REQ:
		set_roles(c, fdir);
		c->outer = P_HTTP1;
		start_h1(c);
		break;
	case V_RESP:
		set_roles(c, !fdir);
		c->outer = P_HTTP1;
		c->env->st->midstream_conns++;
		start_h1(c);
		break;
	case V_H2:
		set_roles(c, fdir);
		c->outer = P_HTTP2;
		start_h2(c);
		c->env->st->h2_conns++;
		break;
	default:
		c->outer = P_OTHER;
		c->env->st->other_conns++;
		break;
	}
	replay(c, &c->os, map_fdir, outer_parse, outer_gap, ts);
}

static void stream_data(void *ctx, int fdir, const uint8_t *p, uint32_t n,
			uint64_t ts)
{
	struct flow *f = ctx;
	struct conn *c = f->app;
	enum verdict v;

	if (!c)
		return;
	if (c->outer == P_UNKNOWN) {
		v = sniff_feed(&c->os, fdir, p, n, true);
		if (v == V_MORE)
			return;
		if (v == V_NOPE) {
			if (c->os.nope[!fdir])
				outer_decide(c, V_NOPE, fdir, ts);
			return;
		}
		/* Recognised: the held prefix is replayed by outer_decide,
		 * then this chunk is parsed whole. */
		outer_decide(c, v, fdir, ts);
	}
	outer_parse(c, fdir ^ (c->swapped ? 1 : 0), p, n, ts);
}

static void stream_gap(void *ctx, int fdir, uint64_t n, uint64_t ts)
{
	struct flow *f = ctx;
	struct conn *c = f->app;

	if (!c)
		return;
	if (c->outer == P_UNKNOWN) {
		c->os.lost[fdir] += n + c->os.n[fdir] + c->os.hold_n[fdir];
		c->os.n[fdir] = 0;
		free(c->os.hold[fdir]);
		c->os.hold[fdir] = NULL;
		c->os.hold_n[fdir] = 0;
		return;
	}
	outer_gap(c, fdir ^ (c->swapped ? 1 : 0), n, ts);
}

static void stream_end(void *ctx, int fdir, enum reasm_end how, uint64_t ts)
{
	struct flow *f = ctx;
	struct conn *c = f->app;
	int role;

	if (!c)
		return;
	role = fdir ^ (c->swapped ? 1 : 0);
	if (c->in_wait) {
		c->end_pending[role] = how == REASM_END_RST ? 2 : 1;
		c->last_ts_ns = ts;
		return;
	}
	if (c->h1)
		h1_end(c->h1, role, how == REASM_END_RST, ts);
	if (c->h2)
		h2_end(c->h2, role, how == REASM_END_RST, ts);
}

static void *conn_open(void *ctx, struct flow *f)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->env = ctx;
	c->f = f;
	return c;
}

/* Emit what is left of c, free it. */
static void conn_finalize(struct conn *c)
{
	/* Pending HTTP calls first (they still need the TLS facts), then the
	 * TLS session's own record if it produced nothing trustworthy. */
	h1_conn_free(c->h1);
	c->h1 = NULL;
	h2_conn_free(c->h2);
	c->h2 = NULL;
	if (c->tls) {
		const struct tls_info *ti = tls_session_info(c->tls);
		const struct flow_key *k = c->f ? &c->f->key : &c->key;
		int si = c->swapped ? 0 : 1;
		char server[64];

		if (ti->decrypted)
			c->env->st->tls_decrypted++;
		else
			c->env->st->tls_undecrypted++;
		fmt_endpoint(server, sizeof(server), k->family, k->addr[si],
			     k->port[si]);
		coverage_add(c->env->cov, server, ti);
		emit_tls_only(c);
	}
	tls_session_free(c->tls);
	sniff_fini(&c->os);
	sniff_fini(&c->is);
	free(c);
}

static void conn_close(void *ctx, struct flow *f, void *app)
{
	struct conn *c = app;

	(void)ctx;
	if (!c)
		return;
	if (c->in_wait) {
		/* keys may still come: outlive the flow */
		c->key = f->key;
		c->first_ts_ns = f->first_ts_ns;
		c->last_ts_ns = f->last_ts_ns;
		c->ifindex = f->ifindex;
		c->f = NULL;
		c->detached = true;
		return;
	}
	conn_finalize(c);
}

const struct flow_app_ops conn_flow_ops = {
	.open = conn_open,
	.close = conn_close,
	.stream = {
		.data = stream_data,
		.gap = stream_gap,
		.end = stream_end,
	},
};
