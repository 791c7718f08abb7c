/* fuzz_http1.c - the HTTP/1 parser on both directions of a connection.
 *
 * Input: byte 0 options (bits 0-2 feed chunk size, bit 3 a gap in the
 * request stream, bit 4 a gap in the response stream, bit 5 end both
 * directions before free, bit 6 RST instead of FIN, bit 7 small limits),
 * bytes 1-2 the split point: the first `split` bytes of the rest are the
 * client's stream, the others the server's.  The two are fed interleaved
 * in chunks, then h1_conn_free() emits what is left.  Every emitted call is
 * written to a JSON sink on /dev/null (exercising json.c) and freed.
 * Invariants: a call has a request, a response or an error saying what was
 * lost; a call with no errors has both a request and a response.
 */
#include "fuzz.h"
#include "http1.h"
#include "json.h"
#include "util.h"

static struct json_sink *sink;

static void emit(void *ctx, struct call *c)
{
	FZ_ASSERT(c->req.present || c->resp.present || c->nerrors);
	if (c->nerrors == 0)
		FZ_ASSERT(c->req.present && c->resp.present);
	if (sink)
		json_sink_write(sink, c);
	(*(unsigned *)ctx)++;
	call_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t chunks[] = { 1, 3, 17, 100, 1460, 16384, 1 << 20, 2 };
	struct fz f = { data, size, 0 };
	uint8_t o = fz_u8(&f);
	size_t split = fz_u16(&f);
	struct h1_opts ho;
	unsigned ncalls = 0;
	uint64_t ts = 1;

	if (!sink)
		sink = json_sink_open("/dev/null", false);
	if (split > f.n)
		split = f.n;
	memset(&ho, 0, sizeof(ho));
	ho.body.max_keep = (o & 0x80) ? 16 : 4096;
	ho.body.hash = true;
	ho.max_header_bytes = (o & 0x80) ? 128 : 16384;
	ho.max_pending = (o & 0x80) ? 2 : 64;
	struct h1_conn *h = h1_conn_new(&ho, emit, &ncalls);
	uint8_t *req = fz_dup(f.p, split), *resp = fz_dup(f.p + split, f.n - split);
	size_t rn = split, sn = f.n - split, ri = 0, si = 0;
	uint32_t chunk = chunks[o & 7];
	while (ri < rn || si < sn) {
		if (ri < rn) {
			uint32_t k = (uint32_t)MIN(chunk, rn - ri);
			if ((o & 0x08) && ri && ri >= rn / 2 && ri - k < rn / 2)
				h1_gap(h, 0, 5, ts);
			h1_feed(h, 0, req + ri, k, ts++);
			ri += k;
		}
		if (si < sn) {
			uint32_t k = (uint32_t)MIN(chunk, sn - si);
			if ((o & 0x10) && si && si >= sn / 2 && si - k < sn / 2)
				h1_gap(h, 1, 5, ts);
			h1_feed(h, 1, resp + si, k, ts++);
			si += k;
		}
	}
	if (o & 0x20) {
		h1_end(h, 0, !!(o & 0x40), ts);
		h1_end(h, 1, !!(o & 0x40), ts);
	}
	h1_conn_free(h);
	free(req);
	free(resp);
	return 0;
}
