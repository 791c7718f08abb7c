/* flow.h - the flow table: 5-tuple -> flow, client/server roles, ageing.
 *
 * Owns: every struct flow and its two reassemblers.  Does not own the
 * application state hung off a flow (flow->app); it calls the application
 * hooks in struct flow_app_ops to create and destroy it.
 *
 * Both directions of a connection are one flow.  dir 0 is client->server,
 * dir 1 server->client.  Roles come from the SYN / SYN-ACK when seen
 * (roles_certain), otherwise from a port heuristic (the lower port, or a
 * well-known one, is the server); the application layer may reinterpret
 * them when the bytes say otherwise (conn.c does, for mid-stream pickup).
 *
 * Memory: each flow is charged to the memcap; when the memcap or max_flows
 * is reached the least recently active flow is flushed and closed
 * (flows_evicted), and only if that does not help is the new flow refused
 * (flows_refused).  Flows idle for more than
 * idle_timeout_ns of *capture* time are flushed and freed.
 */
#ifndef TAPIR_FLOW_H
#define TAPIR_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "reasm.h"
#include "segment.h"
#include "util.h"

struct flow_key {
	uint8_t family;
	uint8_t addr[2][16];	/* [0] client, [1] server */
	uint16_t port[2];
};

struct held_seg;

struct flow {
	struct flow_key key;
	bool roles_certain;
	uint32_t ifindex;
	uint64_t first_ts_ns, last_ts_ns;
	uint64_t pkts[2], bytes[2];
	struct reasm rs[2];
	void *app;
	/* Opened without a SYN: its first segments are held (copies, in
	 * capture order) in case the SYN or SYN-ACK was only reordered
	 * behind them; see flow.c, "start hold". */
	struct held_seg *held, *held_last;
	uint32_t nheld;
	uint64_t held_charge;
	bool holding;
	struct flow *hold_prev, *hold_next;	/* table's holding list */
	/* table linkage, private */
	struct flow *hnext;
	struct flow *lru_prev, *lru_next;
	uint32_t hash;
	bool dead;
};

struct flow_app_ops {
	/* A new flow; return its app state (may be NULL). */
	void *(*open)(void *ctx, struct flow *f);
	/* The flow is going away after its streams were flushed. */
	void (*close)(void *ctx, struct flow *f, void *app);
	/* reasm callbacks; their ctx argument is the struct flow *. */
	struct reasm_ops stream;
};

struct flow_stats {
	uint64_t flows, flows_active, flows_refused, flows_timed_out,
		segments, bad_csum;
	uint64_t flows_evicted;	/* closed early to admit a new flow */
	uint64_t flows_midstream; /* opened without a SYN: picked up mid-stream */
	uint64_t held_restarts;	/* flows opened without a SYN whose SYN or
				 * SYN-ACK came during the start hold */
	uint64_t after_close;	/* segments of a connection already closed
				 * (FIN/RST both ways), dropped */
	struct reasm_stats rs;
};

struct flow_table_opts {
	uint64_t idle_timeout_ns;	/* default 120 s */
	uint32_t reasm_window;		/* out-of-order bytes per direction */
	uint32_t max_flows;		/* hard cap on concurrent flows */
};

struct flow_table;

struct flow_table *flow_table_new(const struct flow_table_opts *o,
				  const struct flow_app_ops *ops, void *ctx,
				  struct memcap *mc);
/* Route one segment to its flow (creating it on demand) and reassembler.
 * Returns 0 or -ENOMEM (flow refused: memcap or max_flows). */
int flow_table_push(struct flow_table *t, const struct seg *s);
/* Expire flows idle since before now_ns - idle_timeout. */
void flow_table_expire(struct flow_table *t, uint64_t now_ns);
/* Flush and close every flow (end of input). */
void flow_table_flush_all(struct flow_table *t, uint64_t now_ns);
void flow_table_free(struct flow_table *t);	/* accepts NULL */
const struct flow_stats *flow_table_stats(const struct flow_table *t);

#endif
