/* http1.h - passive HTTP/1.0 and 1.1 parser for one connection.
 *
 * Owns: per-direction line buffers (bounded by max_header_bytes), the queue
 * of requests awaiting their response (pipelining), the calls under
 * construction.  Does not own the bytes it is fed (copies header fields
 * into the call record; bodies go to body.c).
 *
 * dir 0 = client->server (requests), dir 1 = server->client (responses).
 *
 *   request side:  START -> HEADERS -> BODY(len|chunked|none) -> START
 *   response side: START -> HEADERS -> BODY(len|chunked|close|none) -> START
 *     1xx: recorded as an interim (skipped), the final response follows
 *     HEAD / 204 / 304: no body.  CONNECT 2xx / 101 Upgrade: TUNNEL (stop,
 *     note it; or h2c: hand over to HTTP/2 if asked).  A response completes the oldest pending request; the
 *     call is emitted when the response completes (or at close with
 *     errors).
 *   gap in a body of known length: skipped, body flagged; any other gap or
 *   unparsable bytes: LOST (the direction stops until the connection ends,
 *   pending calls carry an error).
 */
#ifndef TAPIR_HTTP1_H
#define TAPIR_HTTP1_H

#include <stdint.h>

#include "call.h"

struct h1_opts {
	struct body_opts body;
	uint32_t max_header_bytes;	/* per message head; default 256 KiB */
	uint32_t max_pending;		/* pipelined requests queued; 1024 */
};

/* The call is handed over: the callee owns it and must call_free() it. */
typedef void (*h1_emit_fn)(void *ctx, struct call *c);

/* Optional (h1_conn_set_upgrade): a 101 answered a complete request that
 * asked for "Upgrade: h2c" (RFC 7540 3.2).  Called instead of emitting
 * that call: c (handed over) is the request, stream 1 of the HTTP/2
 * connection that follows (c->resp holds the 101); held[0..nheld) are the
 * client bytes sent after the request (the HTTP/2 preface on), rest[0..
 * nrest) the server bytes after the 101 in the buffer being fed (valid
 * during the call only).  This parser parses nothing more afterwards. */
typedef void (*h1_upgrade_fn)(void *ctx, struct call *c, const uint8_t *held,
			      size_t nheld, const uint8_t *rest, size_t nrest);

struct h1_conn;

struct h1_conn *h1_conn_new(const struct h1_opts *o, h1_emit_fn emit,
			    void *ctx);
/* Hand h2c upgrades to fn (with h1_conn_new's ctx) instead of recording
 * them as "protocol upgraded to h2c; stream not parsed further". */
void h1_conn_set_upgrade(struct h1_conn *h, h1_upgrade_fn fn);
/* Feed bytes of dir.  Returns 0; parse errors are recorded in calls and the
 * direction is marked lost, never returned as failures. */
int h1_feed(struct h1_conn *h, int dir, const uint8_t *p, uint32_t n,
	    uint64_t ts_ns);
void h1_gap(struct h1_conn *h, int dir, uint64_t n, uint64_t ts_ns);
/* dir's stream ended (FIN/RST/EOF): close-delimited bodies complete. */
void h1_end(struct h1_conn *h, int dir, int rst, uint64_t ts_ns);
/* Emit every call still in progress (with errors saying why), free. */
void h1_conn_free(struct h1_conn *h);

/* Does p start like an HTTP/1 request ("GET / HTTP/1.1" etc.)?  1 yes,
 * 0 no, -EAGAIN cannot tell yet. */
int h1_looks_like_request(const uint8_t *p, uint32_t n);
/* Does p start like an HTTP/1 response ("HTTP/1.x ")? 1 / 0 / -EAGAIN. */
int h1_looks_like_response(const uint8_t *p, uint32_t n);

#endif
