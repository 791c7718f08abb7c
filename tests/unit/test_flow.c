/* test_flow.c - the flow table: one flow per connection, roles, callbacks,
 * idle expiry by capture time, closing, port reuse, eviction, memcap. */
#include <errno.h>
#include <inttypes.h>

#include "flow.h"
#include "segment.h"
#include "tt.h"

#define SEC 1000000000ULL

/* Application state: what one flow saw. */
struct app {
	struct flow *f;
	char data[2][256];
	size_t n[2];
	int ends[2];
	enum reasm_end how[2];
	uint64_t gaps[2];
	char log[512];		/* both directions in delivery order */
	size_t nlog;
};

/* Opaque to the compiler (see test_reasm.c's rec_str). */
__attribute__((noinline)) static const char *log_str(const struct app *a)
{
	return a->log;
}

static void app_log(struct app *a, int dir, const char *p, size_t n)
{
	if (a->nlog + n + 2 < sizeof(a->log)) {
		a->log[a->nlog++] = dir ? '<' : '>';
		memcpy(a->log + a->nlog, p, n);
		a->nlog += n;
		a->log[a->nlog] = 0;
	}
}

struct env {
	int opens, closes;
	struct app *cur;	/* the last opened, while open */
	struct app last_closed;
	bool last_closed_certain;
	uint16_t last_closed_sport;
};

static void *app_open(void *ctx, struct flow *f)
{
	struct env *e = ctx;
	struct app *a = calloc(1, sizeof(*a));

	e->opens++;
	if (a)
		a->f = f;
	e->cur = a;
	return a;
}

static void app_close(void *ctx, struct flow *f, void *p)
{
	struct env *e = ctx;
	struct app *a = p;

	e->closes++;
	TT_CHECK(a && a->f == f);
	if (e->cur == a)
		e->cur = NULL;
	if (a) {
		e->last_closed = *a;
		free(a);
	}
}

static void app_data(void *ctx, int dir, const uint8_t *p, uint32_t n,
		     uint64_t ts)
{
	struct flow *f = ctx;
	struct app *a = f->app;

	app_log(a, dir, (const char *)p, n);
	if (a->n[dir] + n < sizeof(a->data[dir])) {
		memcpy(a->data[dir] + a->n[dir], p, n);
		a->n[dir] += n;
	}
}

static void app_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
	struct flow *f = ctx;
	struct app *a = f->app;

	a->gaps[dir] += n;
	app_log(a, dir, "{gap}", 5);
}

static void app_end(void *ctx, int dir, enum reasm_end how, uint64_t ts)
{
	struct flow *f = ctx;
	struct app *a = f->app;

	a->ends[dir]++;
	a->how[dir] = how;
}

static const struct flow_app_ops ops = {
	.open = app_open,
	.close = app_close,
	.stream = { app_data, app_gap, app_end },
};

/* Client 10.0.0.<c>:<cp>, server 10.0.1.<s>:<sp>; seg from one to the
 * other (c2s). */
static struct seg mk(uint32_t c, uint16_t cp, uint32_t s, uint16_t sp,
		     int c2s, uint8_t flags, uint32_t seq, uint32_t ack,
		     const char *data, uint64_t ts)
{
	struct seg g;
	uint8_t ca[4] = { 10, (uint8_t)(c >> 16), (uint8_t)(c >> 8),
			  (uint8_t)c };
	uint8_t sa[4] = { 10, 200, (uint8_t)(s >> 8), (uint8_t)s };

	memset(&g, 0, sizeof(g));
	g.family = 4;
	memcpy(c2s ? g.src : g.dst, ca, 4);
	memcpy(c2s ? g.dst : g.src, sa, 4);
	g.sport = c2s ? cp : sp;
	g.dport = c2s ? sp : cp;
	g.flags = flags;
	g.seq = seq;
	g.ack = ack;
	g.payload = (const uint8_t *)data;
	g.len = data ? (uint32_t)strlen(data) : 0;
	g.wire_len = g.len;
	g.ts_ns = ts;
	return g;
}

static int push(struct flow_table *t, struct seg g)
{
	return flow_table_push(t, &g);
}

#define A TCPF_ACK
#define PA (TCPF_ACK | TCPF_PSH)
#define FA (TCPF_ACK | TCPF_FIN)

/* Client ISN 1000, server ISN 5000. */
static void handshake(struct flow_table *t, uint32_t c, uint16_t cp,
		      uint64_t ts)
{
	TT_EQ_INT(push(t, mk(c, cp, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, ts)), 0);
	TT_EQ_INT(push(t, mk(c, cp, 1, 80, 0, TCPF_SYN | A, 5000, 1001, NULL,
			     ts)), 0);
	TT_EQ_INT(push(t, mk(c, cp, 1, 80, 1, A, 1001, 5001, NULL, ts)), 0);
}

static struct flow_table *mktable(struct env *e, struct memcap *mc,
				  uint32_t max_flows)
{
	struct flow_table_opts o = { .idle_timeout_ns = 120 * SEC,
				     .reasm_window = 1 << 16,
				     .max_flows = max_flows };

	return flow_table_new(&o, &ops, e, mc);
}

TT_TEST(both_directions_one_flow)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;
	const struct flow_stats *st;

	memcap_init(&mc, 1 << 24);
	t = mktable(&e, &mc, 100);
	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET /", 2 * SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1006, "200 OK", 3 * SEC));
	st = flow_table_stats(t);
	TT_EQ_INT(st->flows, 1);
	TT_EQ_INT(st->flows_active, 1);
	TT_EQ_INT(st->segments, 5);
	TT_EQ_INT(e.opens, 1);
	flow_table_flush_all(t, 4 * SEC);
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.n[0], 5);
	TT_EQ_MEM(e.last_closed.data[0], "GET /", 5);
	TT_EQ_INT(e.last_closed.n[1], 6);
	TT_EQ_MEM(e.last_closed.data[1], "200 OK", 6);
	TT_EQ_INT(e.last_closed.ends[0], 1);
	TT_EQ_INT(e.last_closed.ends[1], 1);
	TT_EQ_INT(e.last_closed.how[0], REASM_END_EOF);
	TT_EQ_INT(st->flows_active, 0);
	TT_EQ_INT(st->rs.bytes, 11);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

/* Roles: checked on the live flow through the open hook's pointer. */
struct role_case {
	const char *name;
	uint16_t sport, dport;
	uint8_t flags;
	bool certain;
	int sender_is_client;
};

static struct flow *opened;
static void *role_open(void *ctx, struct flow *f)
{
	opened = f;
	return NULL;
}
static void role_close(void *ctx, struct flow *f, void *app) { }
static const struct flow_app_ops role_ops = { role_open, role_close,
					      { NULL, NULL, NULL } };

TT_TEST(roles)
{
	static const struct role_case cases[] = {
		{ "syn",               40000, 80,    TCPF_SYN,     true,  1 },
		{ "syn, odd ports",    80,    40000, TCPF_SYN,     true,  1 },
		{ "syn-ack only",      443,   50000, TCPF_SYN | A, true,  0 },
		{ "syn-ack odd ports", 50000, 443,   TCPF_SYN | A, true,  0 },
		{ "to well-known",     50000, 443,   PA,           false, 1 },
		{ "from well-known",   443,   50000, PA,           false, 0 },
		{ "from 8080",         8080,  40000, PA,           false, 0 },
		{ "to 8443",           40000, 8443,  PA,           false, 1 },
		{ "both high: lower",  40001, 40000, PA,           false, 1 },
		{ "both high: lower'", 40000, 40001, PA,           false, 0 },
		{ "both low: lower",   80,    443,   PA,           false, 0 },
		{ "equal ports",       5555,  5555,  PA,           false, 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct role_case *c = &cases[i];
		struct flow_table *t = flow_table_new(NULL, &role_ops, NULL,
						      NULL);
		struct seg g = mk(1, c->sport, 2, c->dport, 1, c->flags, 1, 1,
				  (c->flags & TCPF_SYN) ? NULL : "x", SEC);
		int cdir;

		TT_REQUIRE(t);
		opened = NULL;
		TT_EQ_INT(flow_table_push(t, &g), 0);
		TT_REQUIRE(opened);
		cdir = c->sender_is_client ? 0 : 1;
		if (opened->roles_certain != c->certain ||
		    opened->key.port[cdir] != c->sport ||
		    opened->key.port[!cdir] != c->dport ||
		    memcmp(opened->key.addr[cdir], g.src, 4))
			tt_fail(__FILE__, __LINE__, c->name);
		flow_table_free(t);
	}
}

TT_TEST(fin_both_ways_closes)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;

	memcap_init(&mc, 1 << 24);
	t = mktable(&e, &mc, 100);
	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "req", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA | TCPF_FIN, 5001, 1004, "resp",
		   SEC));
	TT_EQ_INT(e.closes, 0);
	push(t, mk(7, 40000, 1, 80, 1, FA, 1004, 5006, NULL, SEC));
	TT_EQ_INT(e.closes, 1);	/* promptly, not at timeout */
	TT_EQ_INT(e.last_closed.how[0], REASM_END_FIN);
	TT_EQ_INT(e.last_closed.how[1], REASM_END_FIN);
	TT_EQ_MEM(e.last_closed.data[1], "resp", 4);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 0);
	/* The last ACK does not resurrect the flow. */
	push(t, mk(7, 40000, 1, 80, 0, A, 5006, 1005, NULL, SEC));
	TT_EQ_INT(flow_table_stats(t)->flows, 1);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 0);
	/* Port reuse: a new SYN starts a new flow. */
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 90000, 0, NULL, 2 * SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 90001, 0, "again", 2 * SEC));
	TT_EQ_INT(flow_table_stats(t)->flows, 2);
	TT_EQ_INT(e.opens, 2);
	flow_table_flush_all(t, 3 * SEC);
	TT_EQ_MEM(e.last_closed.data[0], "again", 5);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

TT_TEST(rst_closes)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 100);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "abc", SEC));
	push(t, mk(7, 40000, 1, 80, 0, TCPF_RST | A, 5001, 1004, NULL, SEC));
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.how[0], REASM_END_RST);
	TT_EQ_INT(e.last_closed.how[1], REASM_END_RST);
	TT_EQ_MEM(e.last_closed.data[0], "abc", 3);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 0);
	flow_table_free(t);
}

/* A SYN with a new ISN on an open flow: the old one is closed first. */
TT_TEST(port_reuse_while_open)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 100);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "old", SEC));
	/* the SYN retransmission is not a new flow */
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	TT_EQ_INT(e.opens, 1);
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 777, 0, NULL, 2 * SEC));
	TT_EQ_INT(e.opens, 2);
	TT_EQ_INT(e.closes, 1);
	TT_EQ_MEM(e.last_closed.data[0], "old", 3);
	flow_table_free(t);
	TT_EQ_INT(e.closes, 2);
}

/* Idle expiry is by capture time, not wall-clock time. */
TT_TEST(idle_expiry)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;

	memcap_init(&mc, 1 << 24);
	t = mktable(&e, &mc, 100);
	TT_REQUIRE(t);
	handshake(t, 1, 40000, 1 * SEC);
	push(t, mk(1, 40000, 1, 80, 1, PA, 1001, 5001, "a", 10 * SEC));
	handshake(t, 2, 40000, 100 * SEC);
	flow_table_expire(t, 129 * SEC);
	TT_EQ_INT(e.closes, 0);
	flow_table_expire(t, 131 * SEC);	/* flow 1 idle since 10 s */
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.how[0], REASM_END_TIMEOUT);
	TT_EQ_MEM(e.last_closed.data[0], "a", 1);
	TT_EQ_INT(flow_table_stats(t)->flows_timed_out, 1);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 1);
	/* activity refreshes: flow 2 touched at 200 s survives 300 s */
	push(t, mk(2, 40000, 1, 80, 1, PA, 1001, 5001, "b", 200 * SEC));
	flow_table_expire(t, 300 * SEC);
	TT_EQ_INT(e.closes, 1);
	flow_table_expire(t, 321 * SEC);
	TT_EQ_INT(e.closes, 2);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 0);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

/* max_flows: the least recently active flow is evicted, flushed first. */
TT_TEST(max_flows_eviction)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 4);

	TT_REQUIRE(t);
	for (uint32_t i = 1; i <= 4; i++) {
		handshake(t, i, 40000, i * SEC);
		push(t, mk(i, 40000, 1, 80, 1, PA, 1001, 5001, "d", i * SEC));
	}
	/* flow 1 is touched again: flow 2 is now the oldest */
	push(t, mk(1, 40000, 1, 80, 1, PA, 1002, 5001, "e", 5 * SEC));
	handshake(t, 9, 40000, 6 * SEC);
	TT_EQ_INT(flow_table_stats(t)->flows_evicted, 1);
	TT_EQ_INT(flow_table_stats(t)->flows_active, 4);
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.ends[0], 1);
	TT_EQ_MEM(e.last_closed.data[0], "d", 1);
	TT_CHECK(e.last_closed.f != NULL);
	flow_table_free(t);
	TT_EQ_INT(e.closes, 5);
}

/* Eviction prefers a flow that never carried data among the oldest. */
TT_TEST(eviction_prefers_half_open)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 3);

	TT_REQUIRE(t);
	handshake(t, 1, 40000, 1 * SEC);
	push(t, mk(1, 40000, 1, 80, 1, PA, 1001, 5001, "idle", 1 * SEC));
	push(t, mk(2, 40000, 1, 80, 1, TCPF_SYN, 1, 0, NULL, 2 * SEC));
	push(t, mk(3, 40000, 1, 80, 1, TCPF_SYN, 1, 0, NULL, 3 * SEC));
	push(t, mk(4, 40000, 1, 80, 1, TCPF_SYN, 1, 0, NULL, 4 * SEC));
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.n[0], 0);	/* flow 2, not flow 1 */
	flow_table_flush_all(t, 5 * SEC);
	TT_EQ_INT(e.closes, 4);
	flow_table_free(t);
}

/* Memcap: flows and their queues are charged; back to 0 after free. */
TT_TEST(memcap_accounting)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;
	uint64_t base;

	memcap_init(&mc, 1 << 24);
	t = mktable(&e, &mc, 100);
	TT_REQUIRE(t);
	base = mc.used;
	TT_CHECK(base > 0);	/* the bucket array */
	handshake(t, 1, 40000, SEC);
	TT_CHECK(mc.used > base + sizeof(struct flow) - 1);
	push(t, mk(1, 40000, 1, 80, 1, PA, 1101, 5001, "queued", SEC));
	TT_CHECK(mc.used > base + sizeof(struct flow) + 5);
	flow_table_free(t);	/* no flush: nothing delivered */
	TT_EQ_INT(e.closes, 1);
	TT_EQ_INT(e.last_closed.n[0], 0);
	TT_EQ_INT(mc.used, 0);
}

/* A SYN flood of 100k tuples under a memcap of ~100 flows: memory stays
 * under the cap, old half-open flows are evicted, a real connection after
 * the flood still works. */
TT_TEST(syn_flood_memcap)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;
	const struct flow_stats *st;
	uint64_t limit = 1024 * sizeof(struct flow *) + 100 * sizeof(struct flow);

	memcap_init(&mc, limit);
	t = mktable(&e, &mc, 1000000);
	TT_REQUIRE(t);
	for (uint32_t i = 0; i < 100000; i++) {
		TT_EQ_INT(push(t, mk(i + 1000, (uint16_t)(1024 + i % 60000), 1,
				     443, 1, TCPF_SYN, i, 0, NULL,
				     SEC + i)), 0);
		if (mc.used > limit)
			break;
	}
	st = flow_table_stats(t);
	TT_CHECK(mc.used <= limit);
	TT_EQ_INT(st->flows, 100000);
	TT_CHECK(st->flows_active <= 100);
	TT_EQ_INT(st->flows_evicted + st->flows_active, 100000);
	TT_EQ_INT(e.opens, 100000);
	TT_EQ_INT(e.closes + (int)st->flows_active, 100000);

	handshake(t, 7, 40000, 2 * SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA | TCPF_FIN, 1001, 5001, "GET",
		   2 * SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA | TCPF_FIN, 5001, 1005, "OK",
		   2 * SEC));
	TT_EQ_MEM(e.last_closed.data[0], "GET", 3);
	TT_EQ_MEM(e.last_closed.data[1], "OK", 2);
	flow_table_flush_all(t, 3 * SEC);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

/* Nothing can be evicted: the flow is refused with -ENOMEM. */
TT_TEST(refused)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;

	memcap_init(&mc, 1024 * sizeof(struct flow *));
	t = mktable(&e, &mc, 10);
	TT_REQUIRE(t);
	TT_EQ_INT(push(t, mk(1, 40000, 1, 80, 1, TCPF_SYN, 1, 0, NULL, SEC)),
		  -ENOMEM);
	TT_EQ_INT(flow_table_stats(t)->flows_refused, 1);
	TT_EQ_INT(e.opens, 0);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
	flow_table_free(NULL);
}

/* ACKs from one direction turn holes of the other into gaps. */
TT_TEST(ack_feeds_other_direction)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "ab", SEC));
	/* bytes 1003..1005 never captured */
	push(t, mk(7, 40000, 1, 80, 1, PA, 1006, 5001, "fg", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1008, "resp", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_INT(e.last_closed.gaps[0], 3);
	TT_EQ_INT(e.last_closed.n[0], 4);
	TT_EQ_MEM(e.last_closed.data[0], "abfg", 4);
	flow_table_free(t);
}

/* A response captured before the end of its request (reordered) is
 * delivered after it: the response's ACK says the server had it. */
TT_TEST(causal_order)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET ", SEC));
	/* "/ HTTP" (1005..1011) comes after the response that acks it */
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1011, "200 ", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5005, 1011, "OK", SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1005, 5001, "/ HTTP", SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1011, 5007, "next", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">GET >/ HTTP<200 <OK>next");
	TT_EQ_INT(e.last_closed.gaps[0] + e.last_closed.gaps[1], 0);
	flow_table_free(t);
}

/* The request's end never comes: the held response goes out after the
 * reordering tolerance, behind the gap. */
TT_TEST(causal_order_lost)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET ", SEC));
	for (uint32_t i = 0; i < 20; i++)
		push(t, mk(7, 40000, 1, 80, 0, PA, 5001 + i, 1011, "x", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">GET >{gap}<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x<x");
	TT_EQ_INT(e.last_closed.gaps[0], 6);
	flow_table_free(t);
}

/* A response segment is lost and the client's next request acks past
 * it, so the request waits for the hole; the next response acks that
 * request.  When the client's ACKs prove the hole lost, only the hole is
 * given up: the next response still follows its request (it was once
 * delivered first, and the request then paired with the response after
 * it, with no error). */
TT_TEST(causal_order_after_lost_hole)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET1", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1005, "AAAA", SEC));
	/* server bytes 5005..5008 ("BBBB") lost */
	push(t, mk(7, 40000, 1, 80, 0, PA, 5009, 1005, "CCCC", SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1005, 5013, "GET2", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5013, 1009, "RSP2", SEC));
	for (int i = 0; i < 20; i++)
		push(t, mk(7, 40000, 1, 80, 1, A, 1009, 5017, NULL, SEC));
	TT_REQUIRE(e.cur);
	TT_EQ_STR(log_str(e.cur), ">GET1<AAAA<{gap}<CCCC>GET2<RSP2");
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">GET1<AAAA<{gap}<CCCC>GET2<RSP2");
	TT_EQ_INT(e.last_closed.gaps[1], 4);
	flow_table_free(t);
}

/* A reordering capture shows a connection's second client segment
 * before its SYN, and the server's second segment before its SYN-ACK.
 * The first is held until the SYN comes (one flow, not a mid-stream one
 * closed by a "port reuse"); the server stream, first placed at the
 * client's lowest ACK (past its real start), is placed again at the late
 * SYN-ACK.  Nothing is lost or gapped. */
TT_TEST(start_reordered_behind_data)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);
	const struct flow_stats *st;

	TT_REQUIRE(t);
	st = flow_table_stats(t);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1003, 5003, "CD", SEC));
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5003, 1005, "zz", SEC));
	push(t, mk(7, 40000, 1, 80, 0, TCPF_SYN | A, 5000, 1001, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "AB", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1003, "xy", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_INT(e.opens, 1);
	TT_EQ_INT(st->flows_midstream, 0);
	TT_EQ_INT(st->held_restarts, 1);
	TT_EQ_INT(e.last_closed.gaps[0] + e.last_closed.gaps[1], 0);
	TT_EQ_INT(e.last_closed.n[0], 4);
	TT_EQ_MEM(e.last_closed.data[0], "ABCD", 4);
	TT_EQ_INT(e.last_closed.n[1], 4);
	TT_EQ_MEM(e.last_closed.data[1], "xyzz", 4);
	flow_table_free(t);
}

/* Picked up mid-stream for real: the held segments are replayed as they
 * came once the hold ends (segment count, capture time, FIN or flush). */
TT_TEST(start_hold_ends)
{
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;

	memcap_init(&mc, 1 << 24);
	t = mktable(&e, &mc, 10);
	TT_REQUIRE(t);
	/* by segment count */
	for (uint32_t i = 0; i < 17; i++)
		push(t, mk(7, 40000, 1, 80, 1, PA, 2000 + i, 9000, "q", SEC));
	TT_REQUIRE(e.cur);
	TT_EQ_INT(e.cur->n[0], 17);
	/* by capture time, through flow_table_expire */
	push(t, mk(8, 40001, 1, 80, 1, PA, 3000, 9000, "r", SEC));
	TT_EQ_INT(e.cur->n[0], 0);
	flow_table_expire(t, SEC + SEC / 4);
	TT_EQ_INT(e.cur->n[0], 0);
	flow_table_expire(t, SEC + SEC / 2);
	TT_EQ_INT(e.cur->n[0], 1);
	/* by a FIN: held data first, then the FIN */
	push(t, mk(9, 40002, 1, 80, 1, PA, 4000, 9000, "s", 2 * SEC));
	push(t, mk(9, 40002, 1, 80, 1, PA | TCPF_FIN, 4001, 9000, "t", 2 * SEC));
	TT_EQ_INT(e.cur->n[0], 2);
	TT_EQ_MEM(e.cur->data[0], "st", 2);
	/* by a flush, and another connection's SYN on a held tuple */
	push(t, mk(10, 40003, 1, 80, 1, PA, 5000, 9000, "u", 2 * SEC));
	push(t, mk(10, 40003, 1, 80, 1, TCPF_SYN, 0x80000000u, 0, NULL, 2 * SEC));
	TT_EQ_INT(e.last_closed.n[0], 1);
	TT_EQ_MEM(e.last_closed.data[0], "u", 1);
	flow_table_flush_all(t, 3 * SEC);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

/* All holds together take at most an eighth of the memcap: past it a
 * flow's segments go on at once (a flood of flows without SYN must not
 * starve the reassembly of established flows). */
TT_TEST(start_hold_share)
{
	static char big[60001];
	struct env e = { 0 };
	struct memcap mc;
	struct flow_table *t;
	const struct flow_stats *st;

	memset(big, 'x', sizeof(big) - 1);
	memcap_init(&mc, 1 << 20);	/* holds: 128 KiB */
	t = mktable(&e, &mc, 10);
	TT_REQUIRE(t);
	st = flow_table_stats(t);
	push(t, mk(7, 40000, 1, 80, 1, PA, 2000, 9000, big, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 62000, 9000, big, SEC));
	TT_EQ_INT(st->rs.bytes, 0);
	TT_CHECK(mc.used > 120000);
	push(t, mk(8, 40000, 1, 80, 1, PA, 2000, 9000, big, SEC));
	TT_EQ_INT(st->rs.bytes, 60000);	/* flow 8 not held, 7 still is */
	flow_table_flush_all(t, SEC);
	TT_EQ_INT(st->rs.bytes, 180000);
	flow_table_free(t);
	TT_EQ_INT(mc.used, 0);
}

/* The SYN-ACK is captured before the SYN and the first data: the client
 * stream is anchored at the SYN-ACK's ack, so a reordered first segment
 * still lands at offset 0 and the late SYN is this connection's. */
TT_TEST(synack_before_syn)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	push(t, mk(7, 40000, 1, 80, 0, TCPF_SYN | A, 5000, 1001, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1005, 5001, "/ HTTP", SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET ", SEC));
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1011, "200", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_INT(e.opens, 1);
	TT_EQ_STR(log_str(&e.last_closed), ">GET >/ HTTP<200");
	flow_table_free(t);
}

/* The SYN-ACK is lost: the server stream is anchored at the client's ack,
 * so a response that starts after missing bytes is not taken for a
 * clean start. */
TT_TEST(synack_lost)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET", SEC));
	/* server bytes 5001..5004 missing */
	push(t, mk(7, 40000, 1, 80, 0, PA, 5005, 1004, "tail", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">GET<{gap}<tail");
	TT_EQ_INT(e.last_closed.gaps[1], 4);
	flow_table_free(t);
}

/* The server's response is captured before the client's SYN and its
 * request (a span port reordering heavily): the response waits until the
 * client stream is placed (the late SYN), then follows its request. */
TT_TEST(response_before_syn)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	push(t, mk(7, 40000, 1, 80, 0, TCPF_SYN | A, 5000, 1001, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, A, 1001, 5001, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1004, "200", SEC));
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "GET", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">GET<200");
	TT_EQ_INT(e.last_closed.gaps[0] + e.last_closed.gaps[1], 0);
	flow_table_free(t);
}

/* A TLS 1.2 shape: the client's second flight (it acks the server's
 * first) is captured before the SYN-ACK and the server's flight.  It waits
 * for the server stream to be placed and then for the bytes it acks. */
TT_TEST(client_flight_before_synack)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "CH", SEC));
	push(t, mk(7, 40000, 1, 80, 1, PA, 1003, 5004, "KX", SEC));
	TT_EQ_STR(log_str(e.cur), "");
	push(t, mk(7, 40000, 1, 80, 0, TCPF_SYN | A, 5000, 1001, NULL, SEC));
	TT_EQ_STR(log_str(e.cur), ">CH");
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1003, "SH!", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5004, 1005, "OK", SEC));
	flow_table_flush_all(t, SEC);
	TT_EQ_STR(log_str(&e.last_closed), ">CH<SH!>KX<OK");
	TT_EQ_INT(e.last_closed.gaps[0] + e.last_closed.gaps[1], 0);
	flow_table_free(t);
}

/* The SYN-ACK never comes and the server stays silent: the client's data
 * waits only for the reordering tolerance (16 segments), then the server
 * stream is placed at the client's lowest ack and the data goes, long
 * before the flow ends. */
TT_TEST(synack_lost_server_silent)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);
	char want[64] = "";

	TT_REQUIRE(t);
	push(t, mk(7, 40000, 1, 80, 1, TCPF_SYN, 1000, 0, NULL, SEC));
	for (uint32_t i = 0; i < 20; i++) {
		push(t, mk(7, 40000, 1, 80, 1, PA, 1001 + i, 5001, "u", SEC));
		if (i == 2)
			TT_EQ_STR(log_str(e.cur), "");
	}
	for (int i = 0; i < 20; i++)
		strcat(want, ">u");
	TT_REQUIRE(e.cur);
	TT_EQ_STR(log_str(e.cur), want);
	TT_EQ_INT(e.closes, 0);
	/* the server's first bytes then land at offset 0 */
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1021, "ok", SEC));
	flow_table_flush_all(t, SEC);
	strcat(want, "<ok");
	TT_EQ_STR(log_str(&e.last_closed), want);
	flow_table_free(t);
}

/* Late copies of a closed connection's segments open no phantom flow;
 * a new connection on the same tuple still does. */
TT_TEST(after_close)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);

	TT_REQUIRE(t);
	handshake(t, 7, 40000, SEC);
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "req", SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1004, "resp", SEC));
	push(t, mk(7, 40000, 1, 80, 0, FA, 5005, 1004, NULL, SEC));
	push(t, mk(7, 40000, 1, 80, 1, FA, 1004, 5006, NULL, SEC));
	TT_EQ_INT(e.closes, 1);
	/* duplicates of both directions' data */
	push(t, mk(7, 40000, 1, 80, 1, PA, 1001, 5001, "req", 2 * SEC));
	push(t, mk(7, 40000, 1, 80, 0, PA, 5003, 1004, "sp", 2 * SEC));
	TT_EQ_INT(e.opens, 1);
	TT_EQ_INT(flow_table_stats(t)->after_close, 2);
	/* data outside what the closed connection carried: a new one */
	push(t, mk(7, 40000, 1, 80, 1, PA, 90000, 7000, "new", 2 * SEC));
	TT_EQ_INT(e.opens, 2);
	flow_table_flush_all(t, 2 * SEC);
	/* and after CLOSED_NS (60 s) a late copy is data again */
	push(t, mk(7, 40000, 1, 80, 0, PA, 5001, 1004, "resp", 200 * SEC));
	TT_EQ_INT(e.opens, 3);
	flow_table_free(t);
}

/* IPv6 and IPv4 tuples with the same bytes are different flows; both
 * directions of an IPv6 connection are one. */
TT_TEST(ipv6)
{
	struct env e = { 0 };
	struct flow_table *t = mktable(&e, NULL, 10);
	struct seg a, b;

	TT_REQUIRE(t);
	a = mk(7, 40000, 1, 80, 1, PA, 1, 1, "x", SEC);
	a.family = 6;
	memset(a.src, 0x20, 16);
	memset(a.dst, 0x30, 16);
	b = a;
	memcpy(b.src, a.dst, 16);
	memcpy(b.dst, a.src, 16);
	b.sport = a.dport;
	b.dport = a.sport;
	TT_EQ_INT(flow_table_push(t, &a), 0);
	TT_EQ_INT(flow_table_push(t, &b), 0);
	TT_EQ_INT(flow_table_stats(t)->flows, 1);
	a.family = 4;
	TT_EQ_INT(flow_table_push(t, &a), 0);
	TT_EQ_INT(flow_table_stats(t)->flows, 2);
	flow_table_free(t);
}

TT_MAIN()
