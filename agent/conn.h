/* conn.h - per-connection protocol dispatch, the application side of a flow.
 *
 * Owns: what runs on one TCP connection - the TLS session, the HTTP/1
 * and HTTP/2 parsers, the bytes kept while the protocol is not known yet (at most
 * CONN_SNIFF bytes per direction) - and the client/server roles as the
 * bytes tell them.  Does not own the flow (flow.c) or the sink.
 *
 *   UNKNOWN --ClientHello / TLS record--> TLS --ALPN or plaintext--> HTTP1
 *      |                                                       \--> HTTP2
 *      +--request / response line--> HTTP1 --101 to h2c--> HTTP2     OTHER
 *      +--h2 preface--> HTTP2        +--neither in CONN_SNIFF bytes--> OTHER
 *   (h2c: http1.c hands the upgrade request over as stream 1, with the
 *    bytes that follow it, through h1_upgraded().)
 *
 * Protocols are recognised by their bytes, never by port.  Roles: a SYN
 * decides them (flow.c); without one, the side that sends a ClientHello or
 * a request line is the client.
 */
#ifndef TAPIR_CONN_H
#define TAPIR_CONN_H

#include "coverage.h"
#include "engine.h"
#include "flow.h"
#include "http1.h"
#include "http2.h"

#define CONN_SNIFF 16

/* What every connection borrows from its engine. */
struct conn_env {
	const struct engine_opts *opts;
	struct h1_opts h1;
	struct h2_opts h2;
	struct keystore *ks;
	struct json_sink *sink;
	struct memcap *mc;
	struct engine_stats *st;
	struct tls_stats *tls_st;
	struct coverage *cov;		/* may be NULL */
	/* connections whose TLS session waits for keys (see conn.c) */
	struct conn *waiting;
	uint64_t nwaiting;
};

struct conn;

enum conn_wait_mode {
	CONN_WAIT_RETRY,	/* keys were added: retry, then expire */
	CONN_WAIT_EXPIRE,	/* time passed: give up past key_wait_ns */
	CONN_WAIT_FINISH,	/* input ended: retry, give up the rest */
};

/* Visit every connection waiting for keys (only those).  A connection
 * that stops waiting continues (its held data decrypts) or, if its flow
 * has closed, emits its records and is freed. */
void conn_wait_scan(struct conn_env *env, enum conn_wait_mode mode,
		    uint64_t now_ns);

/* flow_app_ops for flow_table_new(); its ctx is a struct conn_env *. */
extern const struct flow_app_ops conn_flow_ops;

#endif
