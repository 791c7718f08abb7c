/* json.h - the JSON-lines sink: one call record per line (DESIGN.md).
 *
 * Owns: the output descriptor (opened by json_sink_open, closed by
 * json_sink_close) and the buffer of records not yet written.  Does not
 * own calls: it reads a call and returns; the caller frees it.
 *
 * Strings are written as UTF-8: valid UTF-8 passes through, control
 * characters are escaped, and bytes that are not valid UTF-8 (rare, obs-text
 * in header values) are written as \u00XX, i.e. read as Latin-1.  Bodies are
 * written as UTF-8 text ("body_encoding": "utf8") when they are valid UTF-8,
 * else base64.
 */
#ifndef TAPIR_JSON_H
#define TAPIR_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "call.h"

struct json_sink;
struct jbuf;

/* path "-" or NULL = stdout.  A file is created mode 0600; an existing
 * one is appended to (append: a live capture's log) or truncated.
 * Returns NULL with errno set on failure. */
struct json_sink *json_sink_open(const char *path, bool append);
/* A sink without a descriptor: each time records would be written out
 * (json_sink_flush, or CB_FLUSH_AT bytes buffered) they go to emit as
 * whole lines instead, in b (b->len bytes).  emit may keep b's buffer
 * and put another in its place (b->p and b->cap; NULL and 0 for none):
 * the lines change hands without a copy.  The worker threads of
 * `tapir read --threads` (par.c) write through one. */
struct json_sink *json_sink_open_cb(void (*emit)(void *ctx, struct jbuf *b),
				    void *ctx);
/* Add len bytes of whole records formatted elsewhere (by a
 * json_sink_open_cb sink).  Counted as lost after a write error like
 * json_sink_write's.  Returns 0 or -errno (sticky). */
int json_sink_put(struct json_sink *s, const char *p, size_t len);
/* After a log rotation (SIGHUP): write out what is buffered, open the path
 * again (created if it was moved away, appended to if not) and write
 * again after an earlier write error (the lost count stays).  On failure
 * the old file stays in use.  No-op on stdout.  Returns 0 or -errno. */
int json_sink_reopen(struct json_sink *s);
/* Add one record; it is written out with the ones before it once enough
 * are buffered (json.c).  Returns 0 or -errno (write error, sticky). */
int json_sink_write(struct json_sink *s, const struct call *c);
/* Write out every buffered record (whole lines).  A live capture calls it
 * after each pass of its loop, so records reach the output within
 * milliseconds.  Returns 0 or -errno (sticky). */
int json_sink_flush(struct json_sink *s);
/* Records that did not reach the output: those a failed write left
 * (whole or in part) and every one after it. */
uint64_t json_sink_lost(const struct json_sink *s);
/* Flush and close.  Returns 0 or -errno of the first write error. */
int json_sink_close(struct json_sink *s);

/* Append the JSON string literal for p[0..n) to a growable buffer; exposed
 * for tests.  *buf may be realloc'd. */
struct jbuf {
	char *p;
	size_t len, cap;
};
void jbuf_str(struct jbuf *b, const uint8_t *p, size_t n);
/* Append p[0..n) in base64, quoted. */
void jbuf_base64(struct jbuf *b, const uint8_t *p, size_t n);
/* Is p[0..n) valid UTF-8 (no overlongs, no surrogates)? */
bool utf8_valid(const uint8_t *p, size_t n);

#endif
