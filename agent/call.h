/* call.h - the call record: one HTTP exchange, as DESIGN.md's JSON record.
 *
 * Owns: every string in it (copies made at the parser boundary, the one
 * place tapir copies header bytes, into each message's string store), the
 * two bodies, the error list.
 * A call is built by a protocol parser (http1.c, later http2.c), completed
 * with flow and TLS facts by conn.c, written by a sink, then freed.
 *
 * Invariant: an empty error list is a promise that every field is exactly
 * what crossed the wire; anything uncertain adds an error string.
 */
#ifndef TAPIR_CALL_H
#define TAPIR_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "body.h"

/* A field: name and value, both NUL-terminated, in the message's
 * string store (struct http_msg), with their lengths (the JSON writer's:
 * no strlen per field). */
struct hdr {
	char *name;
	char *value;
	uint32_t name_len, value_len;
};

/* The message's strings (pseudo-header values, header and trailer
 * fields) are copied into a store freed with the message: the first
 * MSG_STR_INLINE bytes inside the message itself (a typical request's or
 * response's fields: no allocation), the rest in chunks. */
#define MSG_STR_INLINE 256
#define MSG_HDR_INLINE 8
struct str_chunk;

struct http_msg {
	bool present;
	char *method;		/* request only */
	char *authority;	/* request only: Host / :authority */
	char *path;		/* request only */
	char *scheme;		/* request only, HTTP/2 */
	int status;		/* response only, 0 if unknown */
	struct hdr *hdrs;
	size_t nhdrs, cap_hdrs;
	struct hdr *trailers;
	size_t ntrailers, cap_trailers;
	struct body body;
	uint64_t ts_first_ns;	/* first byte of the message */
	uint64_t ts_last_ns;	/* last byte of the message */
	bool complete;		/* framing reached its end */
	/* the string store; a message is never copied (pointers into it) */
	struct str_chunk *chunks;
	size_t str_used;
	char str_inl[MSG_STR_INLINE];
	/* the first MSG_HDR_INLINE header fields: hdrs points here until
	 * there are more (not cleared by http_msg_reset: unused until set) */
	struct hdr hdr_inl[MSG_HDR_INLINE];
};

struct call_flow {
	char src[64];		/* client "addr:port" */
	char dst[64];		/* server */
	char iface[32];		/* "" when unknown */
	const char *direction;	/* "north-south" / "east-west" / NULL */
};

struct call_tls {
	bool present;
	char version[16];	/* "TLSv1.3" */
	char cipher[64];	/* IANA name */
	char sni[256];
	char alpn[32];
	bool decrypted;
	char reason[96];	/* why not decrypted, "" if decrypted */
};

#define CALL_MAX_ERRORS 32	/* distinct errors kept per call, the last
				 * one "more errors (not recorded)" */

/* gRPC facts of a call (grpc.c fills them from DATA and trailers).
 * Index 0 is the request direction, 1 the response direction. */
#define CALL_GRPC_SIZES 64	/* message sizes recorded per direction */
struct call_grpc {
	bool present;		/* content-type application/grpc* */
	uint32_t msgs[2];	/* length-prefixed messages started */
	uint32_t compressed[2];	/* ... of which had the compressed flag */
	uint64_t bytes[2];	/* sum of their declared lengths */
	uint32_t *sizes[2];	/* first CALL_GRPC_SIZES lengths, malloc'd */
	uint32_t nsizes[2];
	char *status;		/* grpc-status as sent, NULL if none */
	char *message;		/* grpc-message, percent-decoded, or NULL */
};

struct call {
	const char *http_version;	/* "1.0", "1.1", "2" or NULL */
	uint32_t stream_id;		/* HTTP/2 only, 0 otherwise */
	bool pushed;
	struct call_flow flow;
	struct call_tls tls;
	struct http_msg req, resp;
	/* Time span of a record without messages (a TLS session that was not
	 * decrypted); calls with a request or response use theirs. */
	uint64_t ts_start_ns, ts_end_ns;
	struct call_grpc grpc;
	char **errors;
	size_t nerrors, cap_errors;
};

/* Allocate an empty call; bodies initialised with opts. Never NULL. */
struct call *call_new(const struct body_opts *opts);
void call_free(struct call *c);	/* accepts NULL */
/* Free the calling thread's cache of freed calls (call.c); a worker
 * thread calls it before it ends. */
void call_thread_cleanup(void);

/* Forget everything m holds and make it empty again (bodies re-initialised
 * with opts).  Used when an interim message is replaced (h2c: the 101). */
void http_msg_reset(struct http_msg *m, const struct body_opts *opts);

/* Drop the header fields of m (pseudo-header values, status, headers), or
 * only its trailers; the body stays. */
void http_msg_drop_fields(struct http_msg *m, bool trailers_only);

/* A NUL-terminated copy of p[0..n) in m's string store, freed with m
 * (for method, authority, path, scheme). */
char *http_msg_strdup(struct http_msg *m, const void *p, size_t n);

/* Append a header / trailer (copies name and value). */
void http_msg_add_header(struct http_msg *m, const char *name, size_t nlen,
			 const char *value, size_t vlen);
void http_msg_add_trailer(struct http_msg *m, const char *name, size_t nlen,
			  const char *value, size_t vlen);
/* First header with this name (case-insensitive), or NULL. */
const char *http_msg_header(const struct http_msg *m, const char *name);

/* Add the errors a finished body of m carries (gap, decoding error,
 * unsupported content-encoding); side is "request" or "response". */
void call_body_errors(struct call *c, const struct http_msg *m,
		      const char *side);

/* Add an error string (printf-style); duplicates are suppressed. */
void call_error(struct call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
