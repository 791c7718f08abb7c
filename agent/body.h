/* body.h - one HTTP message body as it is recorded.
 *
 * Owns: the recorded prefix of the *decoded* body (at most max_keep bytes),
 * the running SHA-256 of the decoded body, and the content decoder state
 * (gzip / deflate via zlib, br via libbrotli).  Does not own framing: the
 * HTTP/1 and HTTP/2 parsers hand it the bytes of the message body after
 * de-chunking / de-framing.
 *
 * Invariants: size counts every decoded byte ever produced, even past
 * max_keep; truncated == (size > kept); once a gap or decode error happened,
 * the hash and size are no longer trustworthy and the gap / decode_error
 * flags say so (after a gap nothing more is kept or hashed).
 * Memory per body is bounded by max_keep plus the decoders' own state.
 */
#ifndef TAPIR_BODY_H
#define TAPIR_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

enum body_coding {
	BODY_IDENTITY = 0,
	BODY_GZIP,
	BODY_DEFLATE,
	BODY_BR,
	BODY_UNKNOWN_CODING,	/* recorded as is, error noted */
};

struct body_opts {
	size_t max_keep;	/* bytes of the decoded body kept (--max-body) */
	bool hash;		/* compute body_sha256 (--hash-bodies) */
};

struct body {
	struct body_opts opts;
	enum body_coding coding;
	uint64_t size;		/* decoded bytes */
	uint64_t wire_size;	/* encoded bytes as framed on the wire */
	uint8_t *kept;		/* malloc'd, up to opts.max_keep bytes */
	size_t kept_len;
	bool truncated;
	bool gap;		/* bytes missing from the capture */
	bool decode_error;	/* content decoder failed */
	bool present;		/* any body framing seen (even 0 bytes) */
	EVP_MD_CTX *sha;	/* owned; NULL unless opts.hash */
	uint8_t sha256[32];
	bool finished;
	void *dec;		/* decoder state, owned */
};

void body_init(struct body *b, const struct body_opts *o);
/* A thread that is done with bodies frees the kept buffers it holds for
 * reuse (body.c). */
void body_thread_cleanup(void);
/* Set the Content-Encoding before the first byte is fed.  The value is the
 * raw header value ("gzip", "br", "deflate", "identity", or a list: only a
 * single coding is decoded; anything else is BODY_UNKNOWN_CODING). */
void body_set_coding(struct body *b, const char *value, size_t len);
/* Feed encoded bytes.  Returns 0, or -EBADMSG once the decoder failed (the
 * error is sticky; later bytes only count towards wire_size). */
int body_feed(struct body *b, const uint8_t *p, size_t n);
/* len bytes of the encoded body were not captured. */
void body_gap(struct body *b, uint64_t len);
/* Flush the decoder, finalise the hash.  Idempotent. */
void body_finish(struct body *b);
void body_fini(struct body *b);

#endif
