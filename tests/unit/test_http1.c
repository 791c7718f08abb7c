/* test_http1.c - http1.c: one table of conversations (each line: events
 * fed to one connection, then the calls expected, in emission order, as
 * one-line summaries), every case re-run with each feed split at every
 * offset and one byte at a time (results must be identical), content
 * codings with exact SHA-256, truncation at max_keep, header details,
 * timestamps and the looks_like detectors.  Every input sits at the end of
 * a tt_guard() buffer so a read past it crashes. */
#include <errno.h>
#include <stdarg.h>
#include <zlib.h>
#include <openssl/sha.h>

#include "tt.h"
#include "http1.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define NCALLS 16

/* ------------------------------------------------------------ harness */

struct ev {
	char kind;		/* 'f' feed, 'g' gap, 'e' end (FIN), 'r' RST */
	int dir;
	const char *data;
	uint64_t n;
};
#define Q(s) { 'f', 0, s, sizeof(s) - 1 }
#define S(s) { 'f', 1, s, sizeof(s) - 1 }
#define GAP(d, k) { 'g', d, NULL, k }
#define END(d) { 'e', d, NULL, 0 }
#define RST(d) { 'r', d, NULL, 0 }

struct sink {
	struct call *c[NCALLS];
	int n;
	int dropped;
};

static void sink_emit(void *ctx, struct call *c)
{
	struct sink *s = ctx;

	if (s->n < NCALLS)
		s->c[s->n++] = c;
	else {
		s->dropped++;
		call_free(c);
	}
}

static void sink_free(struct sink *s)
{
	for (int i = 0; i < s->n; i++)
		call_free(s->c[i]);
	s->n = 0;
}

struct buf {
	char s[8192];
	size_t n;
};

static void bp(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bp(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->n >= sizeof(b->s))
		return;
	va_start(ap, fmt);
	b->n += (size_t)vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (b->n > sizeof(b->s))
		b->n = sizeof(b->s);
}

static void sum_body(struct buf *b, const char *tag, const struct body *bd)
{
	uint8_t d[32];

	if (!bd->present)
		return;
	bp(b, " %s=%llu:%.*s", tag, (unsigned long long)bd->size,
	   (int)bd->kept_len, bd->kept ? (const char *)bd->kept : "");
	/* An untruncated, clean body's hash must be that of its bytes. */
	if (bd->opts.hash && !bd->truncated && !bd->gap && !bd->decode_error) {
		SHA256(bd->kept ? bd->kept : (const uint8_t *)"", bd->kept_len, d);
		if (memcmp(d, bd->sha256, 32))
			bp(b, " BADSHA");
	}
}

static void sum_fields(struct buf *b, const char *tag, const struct hdr *h,
		       size_t n)
{
	if (!n)
		return;
	bp(b, " %s=", tag);
	for (size_t i = 0; i < n; i++)
		bp(b, "%s%s:%s", i ? "," : "", h[i].name, h[i].value);
}

/* "1.1 GET /a @h 200 QS s=5:hello st=X:1 !err|err" - Q/q: request
 * complete or not, S/s: response; q=/s=: bodies (size:kept prefix);
 * qt=/st=: trailers; full adds every header. */
static void summarize(const struct call *c, bool full, struct buf *b)
{
	b->n = 0;
	b->s[0] = '\0';
	bp(b, "%s %s %s @%s %d %c%c", c->http_version ? c->http_version : "-",
	   c->req.method ? c->req.method : "-", c->req.path ? c->req.path : "-",
	   c->req.authority ? c->req.authority : "-", c->resp.status,
	   c->req.complete ? 'Q' : 'q', c->resp.complete ? 'S' : 's');
	sum_body(b, "q", &c->req.body);
	sum_body(b, "s", &c->resp.body);
	sum_fields(b, "qt", c->req.trailers, c->req.ntrailers);
	sum_fields(b, "st", c->resp.trailers, c->resp.ntrailers);
	if (full) {
		sum_fields(b, "qh", c->req.hdrs, c->req.nhdrs);
		sum_fields(b, "sh", c->resp.hdrs, c->resp.nhdrs);
	}
	for (size_t i = 0; i < c->nerrors; i++)
		bp(b, "%s%s", i ? "|" : " !", c->errors[i]);
}

static void feed_guarded(struct h1_conn *h, int dir, const char *p,
			 size_t n, uint64_t ts)
{
	uint8_t *g;

	if (!n)
		return;
	g = tt_guard(p, n);
	h1_feed(h, dir, g, (uint32_t)n, ts);
	tt_guard_free(g);
}

struct opts {
	uint32_t max_header, max_pending;
	size_t max_keep;
};

/* Run evs; split == 0: each feed whole; split_ev/split_at: that feed cut
 * in two at that offset; step: every feed in pieces of step bytes. */
static void run(const struct opts *op, const struct ev *evs, int split_ev,
		size_t split_at, size_t step, struct sink *s)
{
	struct h1_opts o = {
		.body = { .max_keep = op->max_keep ? op->max_keep : 4096,
			  .hash = true },
		.max_header_bytes = op->max_header,
		.max_pending = op->max_pending,
	};
	struct h1_conn *h;

	memset(s, 0, sizeof(*s));
	h = h1_conn_new(&o, sink_emit, s);
	for (int i = 0; evs[i].kind; i++) {
		const struct ev *e = &evs[i];
		uint64_t ts = 1000 * (uint64_t)(i + 1);

		switch (e->kind) {
		case 'f':
			if (i == split_ev) {
				feed_guarded(h, e->dir, e->data, split_at, ts);
				feed_guarded(h, e->dir, e->data + split_at,
					     e->n - split_at, ts);
			} else if (step) {
				for (size_t off = 0; off < e->n; off += step)
					feed_guarded(h, e->dir, e->data + off,
						     MIN(step, e->n - off), ts);
			} else {
				feed_guarded(h, e->dir, e->data, e->n, ts);
			}
			break;
		case 'g':
			h1_gap(h, e->dir, e->n, ts);
			break;
		case 'e':
		case 'r':
			h1_end(h, e->dir, e->kind == 'r', ts);
			break;
		}
	}
	h1_conn_free(h);
}

/* All calls of s, full summaries, one per line. */
static void dump(const struct sink *s, struct buf *out)
{
	struct buf one;

	out->n = 0;
	out->s[0] = '\0';
	for (int i = 0; i < s->n; i++) {
		summarize(s->c[i], true, &one);
		bp(out, "%s\n", one.s);
	}
	bp(out, "dropped=%d\n", s->dropped);
}

/* Check the one-shot run against want[], then that every split and the
 * byte-at-a-time run produce exactly the same calls. */
static void check_case(const char *name, const struct opts *op,
		       const struct ev *evs, const char *const *want)
{
	struct sink s;
	struct buf ref, got, one;
	int nwant = 0;

	while (want[nwant])
		nwant++;
	run(op, evs, -1, 0, 0, &s);
	if (s.n != nwant)
		fprintf(stderr, "case %s: %d calls, want %d\n", name, s.n, nwant);
	TT_EQ_INT(s.n, nwant);
	for (int i = 0; i < s.n && i < nwant; i++) {
		summarize(s.c[i], false, &one);
		if (strcmp(one.s, want[i]))
			fprintf(stderr, "case %s call %d:\n  got  %s\n  want %s\n",
				name, i, one.s, want[i]);
		TT_CHECK(!strcmp(one.s, want[i]));
	}
	for (int i = nwant; i < s.n; i++) {
		summarize(s.c[i], false, &one);
		fprintf(stderr, "case %s extra call: %s\n", name, one.s);
	}
	dump(&s, &ref);
	sink_free(&s);

	for (int e = 0; evs[e].kind; e++) {
		if (evs[e].kind != 'f')
			continue;
		for (size_t k = 1; k < evs[e].n; k++) {
			run(op, evs, e, k, 0, &s);
			dump(&s, &got);
			sink_free(&s);
			if (strcmp(ref.s, got.s)) {
				fprintf(stderr, "case %s split ev %d at %zu:\n%s---\n%s",
					name, e, k, ref.s, got.s);
				TT_CHECK(!"split differs");
				return;
			}
		}
	}
	run(op, evs, -1, 0, 1, &s);
	dump(&s, &got);
	sink_free(&s);
	if (strcmp(ref.s, got.s)) {
		fprintf(stderr, "case %s byte at a time:\n%s---\n%s", name,
			ref.s, got.s);
		TT_CHECK(!"byte-at-a-time differs");
	}
}

/* ------------------------------------------------------------ table */

struct hcase {
	const char *name;
	struct opts o;
	struct ev ev[12];
	const char *want[8];
};

#define GET_A "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
#define GET_B "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
#define OK5 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define OK2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define WANT_A "1.1 GET /a @h 200 QS s=5:hello"
#define WANT_B "1.1 GET /b @h 200 QS s=2:ok"

static const struct hcase cases[] = {
{ "simple", {}, { Q(GET_A), S(OK5) }, { WANT_A } },
{ "keepalive3", {}, { Q(GET_A), S(OK5),
  Q("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"),
  S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"), Q(GET_B), S(OK2) },
  { WANT_A, "1.1 POST /p @h 201 QS q=3:abc s=0:", WANT_B } },
{ "pipelined5", {}, { Q("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
  "HEAD /3 HTTP/1.1\r\nHost: h\r\n\r\nPOST /4 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy"
  "GET /5 HTTP/1.1\r\nHost: h\r\n\r\n"),
  S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"
  "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n4"
  "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\n5") },
  { "1.1 GET /1 @h 200 QS s=1:1", "1.1 GET /2 @h 200 QS s=1:2", "1.1 HEAD /3 @h 200 QS",
    "1.1 POST /4 @h 200 QS q=2:xy s=1:4", "1.1 GET /5 @h 404 QS s=1:5" } },
{ "chunked-resp", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
  "5;foo=bar\r\nhello\r\n6 ; x=\"y;z\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t1\r\nX-Other:  v v \r\n\r\n") },
  { "1.1 GET /a @h 200 QS s=21:hello world0123456789 st=X-Trailer:t1,X-Other:v v" } },
{ "chunked-upload", {}, { Q("PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
  "3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"), S("HTTP/1.1 204 No Content\r\n\r\n"), Q(GET_A), S(OK5) },
  { "1.1 PUT /up @h 204 QS q=4:abcd", WANT_A } },
{ "chunked-empty-trailers-lf", {}, { Q(GET_A), S("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
  "0\n\n"), Q(GET_B), S(OK2) }, { "1.1 GET /a @h 200 QS s=0:", WANT_B } },
{ "head", {}, { Q("HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"),
  S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Encoding: gzip\r\n\r\n"), Q(GET_B), S(OK2) },
  { "1.1 HEAD /a @h 200 QS", WANT_B } },
{ "100-continue", {}, { Q("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"),
  S("HTTP/1.1 100 Continue\r\n\r\n"), Q("abc"), S(OK2) },
  { "1.1 POST /u @h 200 QS q=3:abc s=2:ok" } },
{ "103-early-hints", {}, { Q(GET_A), S("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" OK5) },
  { WANT_A } },
{ "204-304", {}, { Q(GET_A), S("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
  Q("GET /c HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\n\r\n"),
  S("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), Q(GET_B), S(OK2) },
  { "1.1 GET /a @h 204 QS", "1.1 GET /c @h 304 QS", WANT_B } },
{ "close-delimited", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil "),
  S("close\r\n"), END(1), END(0) }, { "1.1 GET /a @h 200 QS s=13:until close\r\n" } },
{ "close-delimited-rst", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\n\r\nabc"), RST(1) },
  { "1.1 GET /a @h 200 QS s=3:abc !response body ended by connection reset" } },
{ "close-delimited-no-end", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\n\r\nabc") },
  { "1.1 GET /a @h 200 Qs s=3:abc !response incomplete" } },
{ "http10", {}, { Q("GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n"),
  S("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbye"), END(1), END(0) },
  { "1.0 GET / @- 200 QS s=3:bye" } },
{ "http10-req-11-resp", {}, { Q("GET / HTTP/1.0\r\nHost: h\r\n\r\n"), S(OK5) },
  { "1.0 GET / @h 200 QS s=5:hello" } },
{ "upgrade-websocket", {}, { Q("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
  Q("\x81\x85\x01\x02\x03\x04iahhn"),
  S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
  Q("GET /x HTTP/1.1\r\n\r\n"), S(OK5), END(0), END(1) },
  { "1.1 GET /ws @h 101 QS !protocol upgraded to websocket; stream not parsed further" } },
{ "upgrade-refused", {}, { Q("GET /u HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n"),
  Q(GET_B), S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nu"), S(OK2) },
  { "1.1 GET /u @h 200 QS s=1:u", WANT_B } },
{ "connect-200", {}, { Q("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
  S("HTTP/1.1 200 Connection Established\r\n\r\n"), Q("\x16\x03\x01\x02\x00\x01"),
  S("\x16\x03\x03\x00\x10"), END(0), END(1) },
  { "1.1 CONNECT example.com:443 @example.com:443 200 QS !CONNECT tunnel established; stream not parsed further" } },
{ "connect-407", {}, { Q("CONNECT e:443 HTTP/1.1\r\n\r\n"),
  S("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno"), Q(GET_B), S(OK2) },
  { "1.1 CONNECT e:443 @e:443 407 QS s=2:no", WANT_B } },
{ "gap-in-cl-body", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), GAP(1, 4),
  S("xyz"), Q(GET_B), S(OK2) }, { "1.1 GET /a @h 200 QS s=10:abc !gap in response body", WANT_B } },
{ "gap-ends-cl-body", {}, { Q(GET_A), Q(GET_B), S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), GAP(1, 3),
  S(OK2) }, { "1.1 GET /a @h 200 QS s=5:ab !gap in response body", WANT_B } },
{ "gap-past-cl-body", {}, { Q(GET_A), Q(GET_B), S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), GAP(1, 8),
  S("ok") }, { "1.1 GET /a @h 200 QS s=5:ab !gap in response body",
  "1.1 GET /b @h 0 Qs !gap in response headers" } },
{ "gap-in-chunk", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"), GAP(1, 3),
  S("\r\n0\r\n\r\n"), Q(GET_B), S(OK2) }, { "1.1 GET /a @h 200 QS s=5:he !gap in response body", WANT_B } },
{ "gap-past-chunk", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"), GAP(1, 9),
  S("\r\n0\r\n\r\n"), Q(GET_B), S(OK2) }, { "1.1 GET /a @h 200 Qs s=5:he !gap in response body",
  "1.1 GET /b @h 0 Qs !response not parsed: gap in response body" } },
{ "gap-in-close-body", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\n\r\nab"), GAP(1, 3), S("cd"), END(1) },
  { "1.1 GET /a @h 200 QS s=7:ab !gap in response body" } },
{ "gap-in-req-body", {}, { Q("POST /p HTTP/1.1\r\nContent-Length: 6\r\n\r\nab"), GAP(0, 2), Q("ef"), S(OK5),
  Q(GET_B), S(OK2) }, { "1.1 POST /p @- 200 QS q=6:ab s=5:hello !gap in request body", WANT_B } },
{ "gap-in-resp-headers", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-"), GAP(1, 10), S("\r\n\r\nhello"),
  Q(GET_B), S(OK2) }, { "1.1 GET /a @h 0 Qs !gap in response headers",
  "1.1 GET /b @h 0 Qs !response not parsed: gap in response headers" } },
{ "gap-between-responses", {}, { Q(GET_A), S(OK5), GAP(1, 20), Q(GET_B), S(OK2) },
  { WANT_A, "1.1 GET /b @h 0 Qs !response not parsed: gap in response headers" } },
{ "gap-in-req-headers", {}, { Q("GET /a HTTP/1.1\r\nHo"), GAP(0, 5), Q("\r\n\r\n"), Q(GET_B), S(OK5), S(OK2) },
  { "1.1 - - @- 200 qS s=5:hello !gap in request headers",
    "1.1 - - @- 200 qS s=2:ok !response without matching request" } },
{ "garbage-request", {}, { Q("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"), S(OK5) },
  { "1.1 - - @- 200 qS s=5:hello !malformed request line" } },
{ "garbage-request-late", {}, { Q("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"), Q("GET /b\r\n\r\n"), S(OK5), S(OK2) },
  { WANT_A, "1.1 - - @- 200 qS s=2:ok !malformed request line" } },
{ "http2-preface", {}, { Q("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") }, { "- - - @- 0 qs !malformed request line|connection closed before response" } },
{ "garbage-response", {}, { Q(GET_A), S("SSH-2.0-OpenSSH_9.6\r\n"), Q(GET_B) },
  { "1.1 GET /a @h 0 Qs !malformed status line",
    "1.1 GET /b @h 0 Qs !response not parsed: malformed status line" } },
{ "bad-header-line", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"), END(1) },
  { "1.1 GET /a @h 200 Qs !malformed response headers" } },
{ "space-before-colon", {}, { Q("GET /a HTTP/1.1\r\nHost : h\r\n\r\n"), S(OK5) },
  { "1.1 GET /a @- 200 qS s=5:hello !malformed request headers" } },
{ "oversize-header", { .max_header = 64 }, { Q("GET /a HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n"),
  S(OK5) }, { "1.1 - - @- 200 qS s=5:hello !request headers exceed max_header_bytes (64)" } },
{ "oversize-resp-header", { .max_header = 48 }, { Q(GET_A), S("HTTP/1.1 200 OK\r\nX: 0123456789012345678901234567890123456789\r\n\r\n") },
  { "1.1 GET /a @h 0 Qs !response headers exceed max_header_bytes (48)" } },
{ "bad-chunk-size", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n") },
  { "1.1 GET /a @h 200 Qs s=0: !invalid chunk size in response body" } },
{ "chunk-size-overflow", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n") },
  { "1.1 GET /a @h 200 Qs s=0: !invalid chunk size in response body" } },
{ "bad-chunk-crlf", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n") },
  { "1.1 GET /a @h 200 Qs s=2:ab !invalid chunk framing in response body" } },
{ "bad-cl", {}, { Q("POST /p HTTP/1.1\r\nContent-Length: 1x\r\n\r\n1"), S(OK5) },
  { "1.1 POST /p @- 200 qS s=5:hello !invalid Content-Length in request" } },
{ "conflicting-cl", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") },
  { "1.1 GET /a @h 200 Qs !conflicting Content-Length values in response" } },
{ "conflicting-cl-list", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!") },
  { "1.1 GET /a @h 200 Qs !conflicting Content-Length values in response" } },
{ "same-cl-twice", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello") },
  { WANT_A } },
{ "cl-and-te", {}, { Q("POST /p HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), S(OK5) },
  { "1.1 POST /p @- 200 qS s=5:hello !both Content-Length and Transfer-Encoding in request" } },
{ "te-not-chunked-req", {}, { Q("POST /p HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), S(OK5) },
  { "1.1 POST /p @- 200 qS s=5:hello !unsupported Transfer-Encoding in request" } },
{ "te-gzip-chunked", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n") },
  { "1.1 GET /a @h 200 QS s=2:ab !unsupported transfer-coding in response body; recorded as sent" } },
{ "te-gzip-resp-close", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc"), END(1) },
  { "1.1 GET /a @h 200 QS s=3:abc !unsupported transfer-coding in response body; recorded as sent" } },
/* a response before its request (directions out of step): later FIFO
 * pairs are flagged, not trusted */
{ "response-before-request", {}, { Q(GET_A), S(OK5), S(OK2), Q(GET_B), S(OK5), END(0), END(1) },
  { WANT_A, "1.1 - - @- 200 qS s=2:ok !response without matching request",
    "1.1 GET /b @h 200 QS s=5:hello !pairing uncertain after a response without matching request" } },
{ "response-without-request", {}, { S(OK5), S(OK2) },
  { "1.1 - - @- 200 qS s=5:hello !response without matching request",
    "1.1 - - @- 200 qS s=2:ok !response without matching request" } },
{ "requests-without-responses", {}, { Q(GET_A), Q("POST /p HTTP/1.1\r\nContent-Length: 1\r\n\r\nx") },
  { "1.1 GET /a @h 0 Qs !connection closed before response",
    "1.1 POST /p @- 0 Qs q=1:x !connection closed before response" } },
{ "fin-before-response", {}, { Q(GET_A), END(1), Q(GET_B), END(0) },
  { "1.1 GET /a @h 0 Qs !connection closed before response",
    "1.1 GET /b @h 0 Qs !connection closed before response" } },
{ "response-incomplete", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel"), END(1) },
  { "1.1 GET /a @h 200 Qs s=3:hel !response incomplete" } },
{ "response-head-incomplete", {}, { Q(GET_A), Q(GET_B), S("HTTP/1.1 200 OK\r\nConte"), END(1) },
  { "1.1 GET /a @h 0 Qs !response incomplete", "1.1 GET /b @h 0 Qs !connection closed before response" } },
{ "request-incomplete", {}, { Q("POST /p HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"), END(0), S(OK2) },
  { "1.1 POST /p @- 200 qS q=3:abc s=2:ok !request incomplete" } },
{ "request-head-incomplete", {}, { Q("GET /a HTTP/1.1\r\nHost"), END(0),
  S("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n") },
  { "1.1 - - @- 408 qS s=0: !request incomplete" } },
{ "leading-crlf-and-lf-only", {}, { Q("\r\n\r\nGET /a HTTP/1.1\nHost: h\n\n"), S("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"),
  Q("\r\n" GET_B), S(OK2) }, { WANT_A, WANT_B } },
{ "obs-fold", {}, { Q("GET /a HTTP/1.1\r\nHost: h\r\nX-F: one\r\n   two \r\n\tthree\r\n\r\n"), S(OK5) }, { WANT_A } },
{ "extension-method", {}, { Q("PURGE /a HTTP/1.1\r\nHost: h\r\n\r\n"), S(OK5) }, { "1.1 PURGE /a @h 200 QS s=5:hello" } },
{ "status-no-reason", {}, { Q(GET_A), S("HTTP/1.1 200\r\nContent-Length: 5\r\n\r\nhello") }, { WANT_A } },
{ "pipeline-limit", { .max_pending = 2 }, { Q(GET_A GET_A GET_B), S(OK5 OK5 OK2) },
  { "1.1 GET /a @h 0 Qs !too many pipelined requests (limit 2); response not parsed",
    "1.1 GET /a @h 0 Qs !too many pipelined requests (limit 2); response not parsed",
    "1.1 GET /b @h 0 Qs !too many pipelined requests (limit 2); response not parsed" } },
{ "upgrade-refused-gap", {}, { Q("GET /u HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"), GAP(0, 10), S(OK5), S(OK2) },
  { "1.1 GET /u @- 200 QS s=5:hello", "1.1 - - @- 200 qS s=2:ok !gap in request headers" } },
{ "upgrade-wait-overflow", { .max_header = 64 }, { Q("GET /u HTTP/1.1\r\nUpgrade: x\r\n\r\n"),
  Q("0123456789012345678901234567890123456789012345678901234567890123456789"), S(OK5) },
  { "1.1 GET /u @- 200 QS s=5:hello",
    "- - - @- 0 qs !request bytes sent before the upgrade response exceed max_header_bytes|connection closed before response" } },
{ "upgrade-fin-while-waiting", {}, { Q("GET /u HTTP/1.1\r\nUpgrade: h2c\r\n\r\n" GET_B), END(0), S(OK5 OK2) },
  { "1.1 GET /u @- 200 QS s=5:hello", WANT_B } },
{ "nul-in-value", {}, { Q("GET /a HTTP/1.1\r\nX: a\0b\r\n\r\n"), S(OK5) },
  { "1.1 GET /a @- 200 qS s=5:hello !malformed request headers" } },
{ "unknown-coding", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 3\r\n\r\nabc") },
  { "1.1 GET /a @h 200 QS s=3:abc !unsupported content-encoding 'compress' in response body; recorded as sent" } },
{ "bad-gzip", {}, { Q(GET_A), S("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc") },
  { "1.1 GET /a @h 200 QS s=0: !decoding error (gzip) in response body" } },
};

TT_TEST(conversations)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i].name, &cases[i].o, cases[i].ev, cases[i].want);
}

/* ------------------------------------------------------------ codings */

/* "The quick brown fox jumps over the lazy dog. " x 20, brotli -q 11 */
static const uint8_t fox_br[] = {
	0xa1, 0x18, 0x1c, 0x40, 0x64, 0x71, 0xc0, 0x9b, 0x86, 0xae, 0xec, 0xba,
	0x84, 0xd8, 0xbd, 0x58, 0x49, 0x55, 0x86, 0x96, 0x64, 0x66, 0x6c, 0x0d,
	0xe2, 0x32, 0x97, 0xb7, 0x41, 0xce, 0xf0, 0xf4, 0x54, 0xd8, 0x1b, 0x6c,
	0xc0, 0x81, 0x43, 0x02, 0x79, 0x23, 0xf1, 0x0d, 0x3a, 0xad, 0x70, 0xe6,
	0xf0, 0x38, 0x51, 0x4d, 0xc1, 0x11, 0x4e, 0xc4, 0x7d, 0x1a, 0x0c,
};
#define FOX_SHA "48046ee2e2bded150eb986c1deb51487f118ac774f8802392b953db227329eb6"
#define FOXN 900

static char fox[FOXN + 1];

static void make_fox(void)
{
	fox[0] = '\0';
	for (int i = 0; i < 20; i++)
		strcat(fox, "The quick brown fox jumps over the lazy dog. ");
}

static void hex(const uint8_t *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static size_t zcompress(const void *in, size_t n, int wbits, uint8_t *out,
			size_t cap)
{
	z_stream z;
	size_t len;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

/* A response carrying fox in each coding, Content-Length and chunked
 * framing, max_keep above and below its size; then a second exchange. */
TT_TEST(codings)
{
	static const struct { const char *ce; int wbits; } cod[] = {
		{ "gzip", 31 }, { "deflate", 15 }, { "deflate", -15 },
		{ "br", 0 }, { "identity", 1 },
	};
	static char resp[4096];

	make_fox();
	for (size_t i = 0; i < sizeof(cod) / sizeof(cod[0]); i++) {
		for (int chunked = 0; chunked < 2; chunked++) {
			for (int small = 0; small < 2; small++) {
				uint8_t enc[2048];
				size_t n, r;
				struct opts op = { .max_keep = small ? 16 : 0 };
				struct ev ev[5] = { Q(GET_A) };
				struct sink s;
				char want[1024], name[64], h[65];
				const char *wantv[3] = { want, WANT_B, NULL };

				if (cod[i].wbits == 0) {
					n = sizeof(fox_br);
					memcpy(enc, fox_br, n);
				} else if (cod[i].wbits == 1) {
					n = FOXN;
					memcpy(enc, fox, n);
				} else {
					n = zcompress(fox, FOXN, cod[i].wbits, enc, sizeof(enc));
				}
				if (chunked) {
					size_t half = n / 2;

					r = (size_t)snprintf(resp, sizeof(resp),
						"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
						"Transfer-Encoding: chunked\r\n\r\n%zx;e=1\r\n",
						cod[i].ce, half);
					memcpy(resp + r, enc, half);
					r += half;
					r += (size_t)sprintf(resp + r, "\r\n%zx\r\n", n - half);
					memcpy(resp + r, enc + half, n - half);
					r += n - half;
					r += (size_t)sprintf(resp + r, "\r\n0\r\n\r\n");
				} else {
					r = (size_t)snprintf(resp, sizeof(resp),
						"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
						"Content-Length: %zu\r\n\r\n", cod[i].ce, n);
					memcpy(resp + r, enc, n);
					r += n;
				}
				ev[1] = (struct ev){ 'f', 1, resp, r };
				ev[2] = (struct ev)Q(GET_B);
				ev[3] = (struct ev)S(OK2);
				ev[4] = (struct ev){ 0, 0, NULL, 0 };
				snprintf(want, sizeof(want), "1.1 GET /a @h 200 QS s=900:%.*s",
					 small ? 16 : FOXN, fox);
				snprintf(name, sizeof(name), "%s/%d/%s/%s", cod[i].ce,
					 cod[i].wbits, chunked ? "chunked" : "cl",
					 small ? "keep16" : "keep4k");
				if (!small)	/* splits: once per coding/framing */
					check_case(name, &op, ev, wantv);

				run(&op, ev, -1, 0, 0, &s);
				TT_REQUIRE(s.n == 2);
				hex(s.c[0]->resp.body.sha256, h);
				TT_EQ_STR(h, FOX_SHA);
				TT_EQ_INT(s.c[0]->resp.body.size, FOXN);
				TT_EQ_INT(s.c[0]->resp.body.wire_size, n);
				TT_EQ_INT(s.c[0]->resp.body.truncated, small);
				TT_EQ_INT(s.c[0]->resp.body.kept_len, small ? 16 : FOXN);
				sink_free(&s);
			}
		}
	}
}

/* -------------------------------------------------------------- details */

TT_TEST(headers_and_versions)
{
	static const struct ev ev[] = {
		Q("POST /x?y=1 HTTP/1.0\r\nhOsT:  api.example \r\nX-Empty:\r\n"
		  "Content-Length: 11\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\nhello world"),
		S("HTTP/1.1 201 Created\r\nServer: t\r\nContent-Length: 0\r\n\r\n"),
		{ 0, 0, NULL, 0 },
	};
	static const char *const names[] = { "hOsT", "X-Empty", "Content-Length", "X-Dup", "x-dup" };
	static const char *const vals[] = { "api.example", "", "11", "1", "2" };
	struct opts op = { 0 };
	struct sink s;
	char h[65];
	struct call *c;

	run(&op, ev, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	c = s.c[0];
	TT_EQ_STR(c->http_version, "1.0");
	TT_EQ_STR(c->req.method, "POST");
	TT_EQ_STR(c->req.path, "/x?y=1");
	TT_EQ_STR(c->req.authority, "api.example");
	TT_CHECK(c->req.present && c->resp.present);
	TT_EQ_INT(c->resp.status, 201);
	TT_REQUIRE(c->req.nhdrs == 5);
	for (int i = 0; i < 5; i++) {
		TT_EQ_STR(c->req.hdrs[i].name, names[i]);
		TT_EQ_STR(c->req.hdrs[i].value, vals[i]);
	}
	TT_EQ_INT(c->resp.nhdrs, 2);
	TT_EQ_INT(c->nerrors, 0);
	hex(c->req.body.sha256, h);
	TT_EQ_STR(h, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
	hex(c->resp.body.sha256, h);
	TT_EQ_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	TT_CHECK(c->resp.body.present && c->resp.body.size == 0);
	/* timestamps: feed i is at 1000 * (i + 1) */
	TT_EQ_INT(c->req.ts_first_ns, 1000);
	TT_EQ_INT(c->req.ts_last_ns, 1000);
	TT_EQ_INT(c->resp.ts_first_ns, 2000);
	TT_EQ_INT(c->resp.ts_last_ns, 2000);
	sink_free(&s);
}

TT_TEST(obs_fold_value)
{
	static const struct ev ev[] = {
		Q("GET /a HTTP/1.1\r\nX-F: one\r\n   two \r\n\tthree\r\nHost: h\r\n\r\n"),
		S(OK5), { 0, 0, NULL, 0 },
	};
	struct opts op = { 0 };
	struct sink s;

	run(&op, ev, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_EQ_STR(http_msg_header(&s.c[0]->req, "x-f"), "one two three");
	sink_free(&s);

	/* an empty value, empty continuation lines, two folded fields */
	static const struct ev ev2[] = {
		Q("GET /a HTTP/1.1\r\nX-E:\r\n b\r\n \r\nX-G: g\r\n \r\n\th\r\n\r\n"),
		S(OK5), { 0, 0, NULL, 0 },
	};
	run(&op, ev2, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_EQ_STR(http_msg_header(&s.c[0]->req, "x-e"), " b");
	TT_EQ_STR(http_msg_header(&s.c[0]->req, "x-g"), "g h");
	sink_free(&s);
}

/* 50,000 continuation lines: joined once (was a copy of the whole value
 * per line, quadratic), the value exact. */
TT_TEST(obs_fold_many)
{
	static const char head[] = "GET /a HTTP/1.1\r\nX-F: a\r\n";
	size_t n = 50000, len = sizeof(head) - 1 + n * 4 + 2, off;
	char *req = malloc(len);
	struct ev ev[3] = { { 'f', 0, NULL, 0 }, S(OK5), { 0, 0, NULL, 0 } };
	struct opts op = { .max_header = 1 << 20 };
	struct sink s;
	const char *v;

	TT_REQUIRE(req);
	memcpy(req, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++, off += 4)
		memcpy(req + off, " b\r\n", 4);
	memcpy(req + off, "\r\n", 2);
	ev[0].data = req;
	ev[0].n = len;
	run(&op, ev, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	v = http_msg_header(&s.c[0]->req, "x-f");
	TT_REQUIRE(v);
	TT_EQ_INT(strlen(v), 1 + 2 * n);
	TT_CHECK(v[0] == 'a' && v[1] == ' ' && v[2] == 'b' && v[2 * n] == 'b');
	sink_free(&s);
	free(req);
}

TT_TEST(timestamps_across_feeds)
{
	static const struct ev ev[] = {
		Q("POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"), Q("cd"),
		S("HTTP/1.1 100 Continue\r\n\r\n"), S("HTTP/1.1 200 OK\r\nContent-"),
		S("Length: 1\r\n\r\n"), S("x"), { 0, 0, NULL, 0 },
	};
	struct opts op = { 0 };
	struct sink s;

	run(&op, ev, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_EQ_INT(s.c[0]->req.ts_first_ns, 1000);
	TT_EQ_INT(s.c[0]->req.ts_last_ns, 2000);
	TT_EQ_INT(s.c[0]->resp.ts_first_ns, 4000);
	TT_EQ_INT(s.c[0]->resp.ts_last_ns, 6000);
	TT_EQ_INT(s.c[0]->nerrors, 0);
	sink_free(&s);
}

/* Big body through a tiny max_keep: size and hash stay exact, memory is
 * max_keep. */
TT_TEST(body_over_max_keep)
{
	static char big[200000];
	static char head[128];
	struct ev ev[5] = { Q(GET_A) };
	struct opts op = { .max_keep = 100 };
	uint8_t d[32];
	char h[65], w[65];
	struct sink s;
	int hn;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	hn = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof(big));
	ev[1] = (struct ev){ 'f', 1, head, (uint64_t)hn };
	ev[2] = (struct ev){ 'f', 1, big, sizeof(big) };
	run(&op, ev, -1, 0, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_EQ_INT(s.c[0]->resp.body.size, sizeof(big));
	TT_EQ_INT(s.c[0]->resp.body.kept_len, 100);
	TT_CHECK(s.c[0]->resp.body.truncated);
	TT_EQ_MEM(s.c[0]->resp.body.kept, big, 100);
	SHA256((const uint8_t *)big, sizeof(big), d);
	hex(d, w);
	hex(s.c[0]->resp.body.sha256, h);
	TT_EQ_STR(h, w);
	TT_EQ_INT(s.c[0]->nerrors, 0);
	sink_free(&s);
}

/* Many keep-alive exchanges, pipelined max: nothing leaks, order kept. */
TT_TEST(many_exchanges)
{
	static char reqs[64 * 40], resps[64 * 60];
	size_t rq = 0, rs = 0;
	struct ev ev[3];
	struct opts op = { 0 };
	struct sink s;
	struct h1_opts o = { .body = { .max_keep = 64 } };
	struct h1_conn *h;
	int count = 0;

	for (int i = 0; i < 64; i++) {
		rq += (size_t)sprintf(reqs + rq, "GET /%d HTTP/1.1\r\n\r\n", i);
		rs += (size_t)sprintf(resps + rs, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d", i);
	}
	ev[0] = (struct ev){ 'f', 0, reqs, rq };
	ev[1] = (struct ev){ 'f', 1, resps, rs };
	ev[2] = (struct ev){ 0, 0, NULL, 0 };
	run(&op, ev, -1, 0, 0, &s);
	TT_EQ_INT(s.n, NCALLS);
	TT_EQ_INT(s.dropped, 64 - NCALLS);
	for (int i = 0; i < s.n; i++) {
		char p[8];

		snprintf(p, sizeof(p), "/%d", i);
		TT_EQ_STR(s.c[i]->req.path, p);
		TT_EQ_INT(s.c[i]->nerrors, 0);
	}
	sink_free(&s);

	(void)o;
	h = h1_conn_new(NULL, sink_emit, &s);
	memset(&s, 0, sizeof(s));
	for (int k = 0; k < 1000; k++) {
		h1_feed(h, 0, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 1);
		h1_feed(h, 1, (const uint8_t *)OK2, sizeof(OK2) - 1, 2);
		count += s.n;
		sink_free(&s);
	}
	h1_conn_free(h);
	TT_EQ_INT(count, 1000);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Every table case, mutated (flipped bytes, gaps, ends, random pieces):
 * nothing crashes, leaks (ASan) or reads past a piece (malloc'd copies),
 * and every call is emitted exactly once. */
TT_TEST(mutations)
{
	const char *env = getenv("TT_MUTATION_ROUNDS");	/* soak: e.g. 20000 */
	int rounds = env ? atoi(env) : 40;

	for (int round = 0; round < rounds; round++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const struct hcase *k = &cases[i];
			struct h1_opts o = {
				.body = { .max_keep = 1 + rnd() % 64, .hash = rnd() & 1 },
				.max_header_bytes = 32 + rnd() % 256,
				.max_pending = 1 + rnd() % 4,
			};
			struct sink s;
			struct h1_conn *h;

			memset(&s, 0, sizeof(s));
			h = h1_conn_new(&o, sink_emit, &s);
			for (int e = 0; k->ev[e].kind; e++) {
				const struct ev *ev = &k->ev[e];
				uint8_t *m;

				if (ev->kind != 'f') {
					if (ev->kind == 'g')
						h1_gap(h, ev->dir, ev->n, 1);
					else
						h1_end(h, ev->dir, ev->kind == 'r', 1);
					continue;
				}
				m = malloc(ev->n);
				memcpy(m, ev->data, ev->n);
				for (int f = (int)(rnd() % 4); f > 0; f--)
					m[rnd() % ev->n] ^= (uint8_t)(1 + rnd() % 255);
				for (size_t off = 0; off < ev->n;) {
					size_t len = 1 + rnd() % (ev->n - off);
					uint8_t *piece = malloc(len);

					memcpy(piece, m + off, len);
					h1_feed(h, ev->dir, piece, (uint32_t)len, 1);
					free(piece);
					off += len;
					if (rnd() % 16 == 0)
						h1_gap(h, ev->dir, 1 + rnd() % 8, 1);
				}
				free(m);
				if (rnd() % 32 == 0)
					h1_end(h, (int)(rnd() & 1), (int)(rnd() & 1), 1);
			}
			h1_conn_free(h);
			for (int c = 0; c < s.n; c++)
				TT_CHECK(s.c[c]->req.present || s.c[c]->resp.present ||
					 s.c[c]->nerrors);
			sink_free(&s);
		}
	}
}

TT_TEST(looks_like)
{
	static const struct { const char *in; int req, resp; } t[] = {
		{ "GET / HTTP/1.1\r\n", 1, 0 },
		{ "GET ", 1, 0 },
		{ "GET", -EAGAIN, 0 },
		{ "G", -EAGAIN, 0 },
		{ "", -EAGAIN, -EAGAIN },
		{ "POST /x", 1, 0 },
		{ "PROPFIND / HTTP/1.1", 1, 0 },
		{ "PROPFIN", -EAGAIN, 0 },
		{ "MKCOL /d", 1, 0 },
		{ "PATCH /", 1, 0 },
		{ "GETX /", 0, 0 },
		{ "get / HTTP/1.1", 0, 0 },
		{ "PRI * HTTP/2.0", 0, 0 },
		{ "\x16\x03\x01", 0, 0 },
		{ "HTTP/1.1 200 OK", 0, 1 },
		{ "HTTP/1.0 ", 0, 1 },
		{ "HTTP/1.1", 0, -EAGAIN },
		{ "HTTP/", 0, -EAGAIN },
		{ "H", -EAGAIN, -EAGAIN },	/* HEAD or HTTP */
		{ "HTTP/2 200", 0, 0 },
		{ "HTTP/1.x", 0, 0 },
		{ "HTTP/1.11", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].in);
		uint8_t *g = tt_guard(n ? t[i].in : "x", n ? n : 1) ;
		const uint8_t *p = n ? g : g + 1;

		if (h1_looks_like_request(p, (uint32_t)n) != t[i].req ||
		    h1_looks_like_response(p, (uint32_t)n) != t[i].resp)
			fprintf(stderr, "looks_like \"%s\"\n", t[i].in);
		TT_EQ_INT(h1_looks_like_request(p, (uint32_t)n), t[i].req);
		TT_EQ_INT(h1_looks_like_response(p, (uint32_t)n), t[i].resp);
		tt_guard_free(g);
	}
}

TT_MAIN()
