/* grpc.h - gRPC message framing over HTTP/2 DATA (and grpc-status).
 *
 * Owns: the deframer state of one direction of one stream (a 5-byte prefix
 * being gathered, the bytes left of the current message).  Does not own
 * DATA bytes (fed from the caller's buffer, never copied) nor the call (it
 * writes counts into struct call_grpc).
 *
 * A gRPC message on the wire (gRPC over HTTP/2, "Length-Prefixed-Message"):
 *   1 byte compressed flag | 4 bytes big-endian length | length bytes
 * and may span any number of DATA frames; a DATA frame may hold several.
 *
 *            5 prefix bytes           length bytes
 *   PREFIX ----------------> MSG ----------------> PREFIX
 *      |  (length 0: back to PREFIX at once)
 *      `-- grpc_gap() from anywhere -> LOST (counts stop, sticky)
 *
 * Invariant: a message is counted (msgs, sizes, bytes) when its prefix is
 * complete; grpc_end() tells whether the direction stopped between
 * messages.
 */
#ifndef TAPIR_GRPC_H
#define TAPIR_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"

struct grpc_deframer {
	uint8_t pre[5];
	uint8_t npre;		/* prefix bytes gathered */
	bool lost;		/* a gap: framing unknown from here on */
	uint32_t remain;	/* bytes left of the current message */
};

/* Is this content-type value gRPC ("application/grpc", "+proto", ...)? */
bool grpc_content_type(const char *v, size_t n);
/* DATA payload bytes of direction dir (0 request, 1 response). */
void grpc_feed(struct grpc_deframer *d, struct call_grpc *g, int dir,
	       const uint8_t *p, size_t n);
/* Bytes of this direction were not captured. */
void grpc_gap(struct grpc_deframer *d);
/* The direction ended: 0 at a message boundary, -EBADMSG inside a
 * message, -ENODATA if framing was lost to a gap. */
int grpc_end(const struct grpc_deframer *d);
/* Record grpc-status / grpc-message (percent-decoded) from a trailer or a
 * trailers-only response.  Copies; a later value replaces an earlier. */
void grpc_set_status(struct call_grpc *g, const char *v, size_t n);
void grpc_set_message(struct call_grpc *g, const char *v, size_t n);

#endif
