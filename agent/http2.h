/* http2.h - passive HTTP/2 parser for one connection (both directions).
 *
 * Owns: the frame parser state of each direction, one HPACK inflater per
 * direction (nghttp2_hd_inflater) with its memo of the last block (4 KiB,
 * see http2.c), the header block being gathered (at most
 * max_header_bytes), the table of open streams (at most max_streams) and
 * the calls under construction.  Does not own the fed bytes: header fields
 * are copied into the call, DATA payload goes from the caller's buffer to
 * body.c (and grpc.c) without a copy.
 *
 * dir 0 = client->server, dir 1 = server->client.  One call per stream,
 * emitted when both directions ended it (END_STREAM), at RST_STREAM, when
 * GOAWAY says it was not processed, when the connection breaks, or at
 * h2_conn_free() - in every case but the first with errors saying why.
 * See http2.c for the state diagrams and the list of error strings.
 */
#ifndef TAPIR_HTTP2_H
#define TAPIR_HTTP2_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

struct h2_opts {
	struct body_opts body;
	uint32_t max_header_bytes;	/* per header block, compressed and
					 * decoded; default 256 KiB */
	uint32_t max_streams;		/* open streams tracked; 1024 */
};

/* Test hook: true turns the HPACK memo off (http2.c), for a differential
 * check that it never changes a record. */
extern bool h2_memo_off;

/* The call is handed over: the callee owns it and must call_free() it. */
typedef void (*h2_emit_fn)(void *ctx, struct call *c);

struct h2_conn;

/* midstream: the capture did not see the connection start.  Then no
 * preface is expected, dir 0 and dir 1 both start at a frame header, frame
 * sizes up to 16 MiB are accepted, and header blocks are decoded only as
 * far as the HPACK state is known (a block that refers to an entry added
 * before the capture started is marked "headers not decodable", and that
 * direction's inflater is not used again).  Never NULL. */
struct h2_conn *h2_conn_new(const struct h2_opts *o, bool midstream,
			    h2_emit_fn emit, void *ctx);
/* Feed bytes of dir.  Returns 0; protocol errors are recorded in calls
 * (the connection or the direction stops being parsed), never returned. */
int h2_feed(struct h2_conn *h, int dir, const uint8_t *p, uint32_t n,
	    uint64_t ts_ns);
/* n bytes of dir were not captured.  Inside a DATA payload the body is
 * flagged and parsing continues; anywhere else the direction is lost. */
void h2_gap(struct h2_conn *h, int dir, uint64_t n, uint64_t ts_ns);
/* dir's byte stream ended (FIN / RST): streams it had not ended carry
 * "connection closed before stream ended". */
void h2_end(struct h2_conn *h, int dir, int rst, uint64_t ts_ns);
/* h2c (RFC 7540 3.2): the HTTP/1.1 request c (handed over, complete) that
 * carried "Upgrade: h2c" becomes stream 1, its HTTP2-Settings header
 * applies as the client's first SETTINGS; the 101 in c->resp is dropped.
 * Call before feeding the bytes that follow the upgrade.  0, or -EINVAL
 * (c freed) if h already has streams. */
int h2_conn_upgrade(struct h2_conn *h, struct call *c);
/* Emit every call still in progress (with errors saying why), free.
 * Accepts NULL. */
void h2_conn_free(struct h2_conn *h);
/* Free the calling thread's HPACK block free lists (http2.c); a thread
 * that decoded HTTP/2 calls it before it ends. */
void h2_thread_cleanup(void);

/* Name of an HTTP/2 error code ("CANCEL"), or NULL if unknown. */
const char *h2_error_name(uint32_t code);

#endif
