/* fuzz_grpc.c - gRPC message framing (grpc.c) and grpc-status /
 * grpc-message decoding, checked against a reference count.
 *
 * Input: byte 0 options (bits 0-2 chunk size, bit 3 a gap at the middle of
 * the request side, bit 4 the same on the response side), byte 1 the
 * length L of a grpc-message value that follows, then L bytes of it (fed
 * to grpc_set_message, percent-decoding), then the DATA bytes: the first
 * half is the request direction, the rest the response direction.  The
 * first 24 bytes are also tried as a content-type value.
 * Invariants: without a gap, the messages counted equal those a simple
 * whole-buffer parse of the same bytes finds (prefix by prefix), the bytes
 * counted equal the declared lengths, grpc_end() says 0 exactly when the
 * buffer ended at a message boundary; a decoded message is never longer
 * than its encoded form; a call_grpc is freed by call_free without leaks.
 */
#include "fuzz.h"
#include "call.h"
#include "grpc.h"
#include "json.h"
#include "util.h"

#include <errno.h>

struct ref {
	uint32_t msgs;
	uint64_t bytes;
	int end;	/* 0 boundary, -EBADMSG inside */
};

static struct ref ref_parse(const uint8_t *p, size_t n)
{
	struct ref r = { 0, 0, 0 };
	size_t i = 0;

	while (i < n) {
		if (n - i < 5) {
			r.msgs += 0;
			r.end = -EBADMSG;
			return r;
		}
		uint32_t len = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 |
			       (uint32_t)p[i + 3] << 8 | p[i + 4];
		r.msgs++;
		r.bytes += len;
		i += 5;
		if (n - i < len) {
			r.end = -EBADMSG;
			return r;
		}
		i += len;
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t chunks[] = { 1, 2, 3, 5, 7, 100, 16384, 1 << 20 };
	struct fz f = { data, size, 0 };
	uint8_t o = fz_u8(&f);
	size_t mlen, got;
	const uint8_t *m;
	struct body_opts bo = { .max_keep = 64, .hash = false };
	struct call *c = call_new(&bo);
	struct grpc_deframer d[2];

	mlen = fz_u8(&f);
	m = fz_take(&f, mlen, &got);
	uint8_t *mcopy = fz_dup(m, got);
	grpc_set_message(&c->grpc, (const char *)mcopy, got);
	if (c->grpc.message)
		FZ_ASSERT(strlen(c->grpc.message) <= got);
	grpc_set_status(&c->grpc, (const char *)mcopy, MIN(got, (size_t)3));
	free(mcopy);

	uint8_t *ct = fz_dup(f.p, MIN(f.n, (size_t)24));
	(void)grpc_content_type((const char *)ct, MIN(f.n, (size_t)24));
	free(ct);

	size_t half = f.n / 2;
	const uint8_t *side[2] = { f.p, f.p + half };
	size_t sn[2] = { half, f.n - half };
	uint32_t chunk = chunks[o & 7];
	memset(d, 0, sizeof(d));
	c->grpc.present = true;
	for (int dir = 0; dir < 2; dir++) {
		uint8_t *buf = fz_dup(side[dir], sn[dir]);
		bool gap = dir == 0 ? (o & 0x08) : (o & 0x10);
		size_t i = 0;
		while (i < sn[dir]) {
			size_t k = MIN((size_t)chunk, sn[dir] - i);
			if (gap && i && i >= sn[dir] / 2 && i - k < sn[dir] / 2)
				grpc_gap(&d[dir]);
			grpc_feed(&d[dir], &c->grpc, dir, buf + i, k);
			i += k;
		}
		int end = grpc_end(&d[dir]);
		if (!gap || sn[dir] < 2) {
			struct ref r = ref_parse(buf, sn[dir]);
			FZ_ASSERT(c->grpc.msgs[dir] == r.msgs);
			FZ_ASSERT(c->grpc.bytes[dir] == r.bytes);
			FZ_ASSERT(end == r.end);
			FZ_ASSERT(c->grpc.nsizes[dir] == MIN(r.msgs, (uint32_t)CALL_GRPC_SIZES));
		} else {
			FZ_ASSERT(end == 0 || end == -EBADMSG || end == -ENODATA);
		}
		free(buf);
	}
	call_free(c);
	return 0;
}
