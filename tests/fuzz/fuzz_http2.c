/* fuzz_http2.c - the HTTP/2 parser (own framer + nghttp2's HPACK inflater)
 * on both directions of a connection.
 *
 * Input: byte 0 options (bits 0-2 feed chunk size, bit 3 a gap in the
 * client's stream, bit 4 a gap in the server's stream, bit 5 end both
 * directions before free, bit 6 RST instead of FIN, bit 7 small limits),
 * byte 1 more options (bit 0 mid-stream pickup: no preface expected, bit 1
 * the connection starts as an h2c Upgrade: an HTTP/1.1 request becomes
 * stream 1), bytes 2-3 the split point: the first `split` bytes of the
 * rest are the client's stream, the others the server's.  The two are fed
 * interleaved in chunks, then h2_conn_free() emits what is left.  Every
 * emitted call is written to a JSON sink on /dev/null (exercising json.c's
 * HTTP/2 and gRPC fields) and freed.
 * Invariants: a call has a request, a response or an error saying what was
 * lost; a call without errors has both; HTTP/2 calls say http_version "2";
 * at most max_streams calls are open (checked by the parser itself).
 * Differential: every input runs twice, with and without the HPACK memo
 * (h2_memo_off), and the calls' fields, errors and body sizes must hash
 * the same.
 */
#include "fuzz.h"
#include "http2.h"
#include "json.h"
#include "util.h"

static struct json_sink *sink;
static uint64_t digest;

static void mix(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)	/* FNV-1a */
		digest = (digest ^ b[i]) * 0x100000001b3ULL;
	digest = (digest ^ 0xff) * 0x100000001b3ULL;	/* end of string */
}

static void mix_str(const char *s)
{
	mix(s ? s : "(null)", s ? strlen(s) : 6);
}

static void mix_msg(const struct http_msg *m)
{
	mix(&m->present, sizeof(m->present));
	mix_str(m->method);
	mix_str(m->authority);
	mix_str(m->path);
	mix_str(m->scheme);
	mix(&m->status, sizeof(m->status));
	for (size_t i = 0; i < m->nhdrs; i++) {
		mix_str(m->hdrs[i].name);
		mix_str(m->hdrs[i].value);
	}
	mix(&m->nhdrs, sizeof(m->nhdrs));
	for (size_t i = 0; i < m->ntrailers; i++) {
		mix_str(m->trailers[i].name);
		mix_str(m->trailers[i].value);
	}
	mix(&m->ntrailers, sizeof(m->ntrailers));
	mix(&m->body.size, sizeof(m->body.size));
}

static void emit(void *ctx, struct call *c)
{
	FZ_ASSERT(c->req.present || c->resp.present || c->nerrors);
	if (c->nerrors == 0)
		FZ_ASSERT(c->req.present && c->resp.present);
	FZ_ASSERT(c->http_version != NULL);
	if (sink)
		json_sink_write(sink, c);
	mix(&c->stream_id, sizeof(c->stream_id));
	mix_msg(&c->req);
	mix_msg(&c->resp);
	for (size_t i = 0; i < c->nerrors; i++)
		mix_str(c->errors[i]);
	(*(unsigned *)ctx)++;
	call_free(c);
}

static uint64_t run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t with, without;

	h2_memo_off = false;
	with = run(data, size);
	h2_memo_off = true;
	without = run(data, size);
	h2_memo_off = false;
	FZ_ASSERT(with == without);
	return 0;
}

static uint64_t run(const uint8_t *data, size_t size)
{
	static const uint32_t chunks[] = { 1, 3, 9, 100, 1460, 16384, 1 << 20, 2 };
	struct fz f = { data, size, 0 };
	uint8_t o = fz_u8(&f), o2 = fz_u8(&f);
	size_t split = fz_u16(&f);
	struct h2_opts ho;
	unsigned ncalls = 0;
	uint64_t ts = 1;

	if (!sink)
		sink = json_sink_open("/dev/null", false);
	if (split > f.n)
		split = f.n;
	memset(&ho, 0, sizeof(ho));
	ho.body.max_keep = (o & 0x80) ? 16 : 4096;
	ho.body.hash = true;
	ho.max_header_bytes = (o & 0x80) ? 200 : 65536;
	ho.max_streams = (o & 0x80) ? 3 : 128;
	digest = 0xcbf29ce484222325ULL;
	struct h2_conn *h = h2_conn_new(&ho, o2 & 1, emit, &ncalls);
	if (o2 & 2) {
		struct call *c = call_new(&ho.body);
		c->http_version = "1.1";
		c->req.present = true;
		c->req.method = http_msg_strdup(&c->req, "GET", 3);
		c->req.path = http_msg_strdup(&c->req, "/up", 3);
		h2_conn_upgrade(h, c);
	}
	uint8_t *req = fz_dup(f.p, split), *resp = fz_dup(f.p + split, f.n - split);
	size_t rn = split, sn = f.n - split, ri = 0, si = 0;
	uint32_t chunk = chunks[o & 7];
	while (ri < rn || si < sn) {
		if (ri < rn) {
			uint32_t k = (uint32_t)MIN(chunk, rn - ri);
			if ((o & 0x08) && ri && ri >= rn / 2 && ri - k < rn / 2)
				h2_gap(h, 0, 5, ts);
			h2_feed(h, 0, req + ri, k, ts++);
			ri += k;
		}
		if (si < sn) {
			uint32_t k = (uint32_t)MIN(chunk, sn - si);
			if ((o & 0x10) && si && si >= sn / 2 && si - k < sn / 2)
				h2_gap(h, 1, 5, ts);
			h2_feed(h, 1, resp + si, k, ts++);
			si += k;
		}
	}
	if (o & 0x20) {
		h2_end(h, 0, !!(o & 0x40), ts);
		h2_end(h, 1, !!(o & 0x40), ts);
	}
	h2_conn_free(h);
	free(req);
	free(resp);
	return digest;
}
