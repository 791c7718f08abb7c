/* engine.h - the pipeline behind every source: flow table -> reassembly ->
 * protocol dispatch (conn.c) -> TLS -> HTTP -> sink.
 *
 * Owns: the flow table, the memcap, the counters, and the per-connection
 * state created through conn.c.  Borrows: the key store and the sink (the
 * caller opens and closes them).  Sources (source_pcap.c, later the BPF ring
 * buffer) hand it segments in capture-time order; it never reads a clock,
 * so a file and a live source give the same calls for the same segments.
 */
#ifndef TAPIR_ENGINE_H
#define TAPIR_ENGINE_H

#include <stdint.h>
#include <stdio.h>

#include "body.h"
#include "flow.h"
#include "json.h"
#include "keystore.h"
#include "segment.h"
#include "tls.h"

struct engine_opts {
	struct body_opts body;		/* --max-body, --hash-bodies */
	uint64_t memcap;		/* --memcap, bytes */
	uint64_t idle_timeout_ns;	/* --idle-timeout */
	uint32_t max_header_bytes;	/* per HTTP message head */
	uint32_t reasm_window;		/* out-of-order bytes per direction */
	uint32_t max_flows;
	/* Live sources: how long (capture time) a TLS session whose keys are
	 * not in the store yet keeps its ciphertext waiting for them
	 * (--key-wait).  0 = never wait: every key is known up front
	 * (`tapir read`). */
	uint64_t key_wait_ns;
	/* Live sources: fills a record's flow.iface (up to iface_len bytes,
	 * "" when unknown) and flow.direction ("north-south", "east-west" or
	 * NULL) from the flow's interface and its client and server
	 * addresses (family 4: the first 4 bytes).  NULL: neither is set. */
	void (*describe_flow)(void *ctx, uint32_t ifindex, uint8_t family,
			      const uint8_t *client, const uint8_t *server,
			      char *iface, size_t iface_len,
			      const char **direction);
	void *describe_ctx;
};

struct engine_stats {
	uint64_t segments;
	uint64_t calls, calls_with_errors;
	uint64_t tls_sessions, tls_decrypted, tls_undecrypted;
	uint64_t http1_conns, h2_conns, other_conns, midstream_conns;
	uint64_t gaps;			/* stream gaps reported upward */
	uint64_t write_errors;
};

struct engine;

/* Sets defaults for every field. */
void engine_opts_default(struct engine_opts *o);
/* ks may be NULL.  Returns NULL on allocation failure. */
struct engine *engine_new(const struct engine_opts *o, struct keystore *ks,
			  struct json_sink *sink);
/* One decoded segment.  Returns 0 or -ENOMEM (flow refused, counted). */
int engine_push(struct engine *e, const struct seg *s);
/* Capture time advanced to now_ns: age idle flows. Cheap to call often. */
void engine_tick(struct engine *e, uint64_t now_ns);
/* New secrets were added to the key store (a followed key log grew, a
 * line came in on the key socket): TLS sessions waiting for keys look
 * again.  now_ns is the current capture time. */
void engine_keys_added(struct engine *e, uint64_t now_ns);
/* End of input: flush every flow, emit every call still open. */
void engine_finish(struct engine *e, uint64_t now_ns);
void engine_free(struct engine *e);	/* accepts NULL */
/* engine_push and engine_finish as a source's consumer (segment.h). */
struct seg_consumer engine_consumer(struct engine *e);
/* Decryption coverage per server endpoint, for every TLS session that
 * ended so far (coverage.h); valid until engine_free(). */
struct coverage;
const struct coverage *engine_coverage(const struct engine *e);
/* TLS sessions currently holding ciphertext while waiting for keys. */
uint64_t engine_keys_waiting(const struct engine *e);

const struct engine_stats *engine_stats(const struct engine *e);
/* Write out the records the sink holds; stats' write_errors then counts
 * every record lost so far.  0 or -errno (sticky, json.h). */
int engine_flush_output(struct engine *e);
const struct flow_stats *engine_flow_stats(const struct engine *e);
const struct tls_stats *engine_tls_stats(const struct engine *e);
const struct memcap *engine_memcap(const struct engine *e);

#endif
