/* engine.c - wires flow table, connections, keys and sink (see engine.h).
 *
 * Owns the memcap every buffer in the pipeline is charged to, and the
 * counters the summary prints.  Time comes only from segments.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "util.h"

struct engine {
	struct engine_opts opts;
	struct memcap mc;
	struct engine_stats st;
	struct tls_stats tls_st;
	struct conn_env env;
	struct flow_table *ft;
	uint64_t last_tick_ns;
};

void engine_opts_default(struct engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->body.max_keep = 64 * 1024;
	o->body.hash = false;
	o->memcap = 256ULL << 20;
	o->idle_timeout_ns = 120ULL * 1000000000ULL;
	o->max_header_bytes = 256 * 1024;
	o->reasm_window = 4u << 20;
	o->max_flows = 1000000;
}

struct engine *engine_new(const struct engine_opts *o, struct keystore *ks,
			  struct json_sink *sink)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	struct flow_table_opts fo = {
		.idle_timeout_ns = o->idle_timeout_ns,
		.reasm_window = o->reasm_window,
		.max_flows = o->max_flows,
	};

	e->opts = *o;
	memcap_init(&e->mc, o->memcap);
	e->env.opts = &e->opts;
	e->env.h1.body = e->opts.body;
	e->env.h1.max_header_bytes = o->max_header_bytes;
	e->env.h1.max_pending = 1024;
	e->env.h2.body = e->opts.body;
	e->env.h2.max_header_bytes = o->max_header_bytes;
	e->env.h2.max_streams = 1024;
	e->env.ks = ks;
	e->env.sink = sink;
	e->env.mc = &e->mc;
	e->env.st = &e->st;
	e->env.tls_st = &e->tls_st;
	e->env.cov = coverage_new();
	e->ft = flow_table_new(&fo, &conn_flow_ops, &e->env, &e->mc);
	if (!e->ft) {
		coverage_free(e->env.cov);
		free(e);
		return NULL;
	}
	return e;
}

int engine_push(struct engine *e, const struct seg *s)
{
	e->st.segments++;
	if (s->ts_ns > e->last_tick_ns + 1000000000ULL)
		engine_tick(e, s->ts_ns);
	return flow_table_push(e->ft, s);
}

void engine_tick(struct engine *e, uint64_t now_ns)
{
	e->last_tick_ns = now_ns;
	flow_table_expire(e->ft, now_ns);
	if (e->env.waiting)
		conn_wait_scan(&e->env, CONN_WAIT_EXPIRE, now_ns);
}

void engine_keys_added(struct engine *e, uint64_t now_ns)
{
	if (e->env.waiting)
		conn_wait_scan(&e->env, CONN_WAIT_RETRY, now_ns);
}

void engine_finish(struct engine *e, uint64_t now_ns)
{
	flow_table_flush_all(e->ft, now_ns);
	if (e->env.waiting)
		conn_wait_scan(&e->env, CONN_WAIT_FINISH, now_ns);
}

static int consume_push(void *ctx, const struct seg *s)
{
	return engine_push(ctx, s);
}

static void consume_finish(void *ctx, uint64_t now_ns)
{
	engine_finish(ctx, now_ns);
}

struct seg_consumer engine_consumer(struct engine *e)
{
	return (struct seg_consumer){ consume_push, consume_finish, e };
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	flow_table_free(e->ft);
	/* connections that outlived their flows waiting for keys */
	if (e->env.waiting)
		conn_wait_scan(&e->env, CONN_WAIT_FINISH, e->last_tick_ns);
	coverage_free(e->env.cov);
	free(e);
}

const struct coverage *engine_coverage(const struct engine *e)
{
	return e->env.cov;
}

uint64_t engine_keys_waiting(const struct engine *e)
{
	return e->env.nwaiting;
}

const struct engine_stats *engine_stats(const struct engine *e)
{
	return &e->st;
}

int engine_flush_output(struct engine *e)
{
	int r;

	if (!e->env.sink)
		return 0;
	r = json_sink_flush(e->env.sink);
	e->st.write_errors = json_sink_lost(e->env.sink);
	return r;
}

const struct flow_stats *engine_flow_stats(const struct engine *e)
{
	return flow_table_stats(e->ft);
}

const struct tls_stats *engine_tls_stats(const struct engine *e)
{
	return &e->tls_st;
}

const struct memcap *engine_memcap(const struct engine *e)
{
	return &e->mc;
}
