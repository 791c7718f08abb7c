/* test_http2.c - http2.c and grpc.c.
 *
 * Real HTTP/2 byte streams come from nghttp2's own client and server
 * sessions run in-process (gen_*): every byte either session sends is
 * recorded in wire order, per direction, as a list of feed events; the
 * events are then fed to our parser (each through tt_guard(), so a read
 * past the input crashes) and the calls it emits are checked exactly:
 * methods, paths, statuses, headers, body sizes and SHA-256, trailers,
 * stream ids, gRPC counts.  Every generated conversation is also re-fed
 * one byte at a time and the one-line summaries must be identical; a small
 * one is re-fed split at every offset.  Hostile inputs are hand-built
 * frames (HPACK blocks from nghttp2's deflater).  A micro-benchmark prints
 * calls/s (information only). */
#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <nghttp2/nghttp2.h>
#include <openssl/sha.h>

#include "tt.h"
#include "http2.h"
#include "grpc.h"
#include "http1.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EQS(a, b) eqs((a), (b), __FILE__, __LINE__)

/* String equality that prints both strings whole on a mismatch. */
static void eqs(const char *a, const char *b, const char *file, int line)
{
	if (a && b && !strcmp(a, b))
		return;
	fprintf(stderr, "  got:  %s\n  want: %s\n", a ? a : "(null)",
		b ? b : "(null)");
	tt_fail(file, line, "strings differ");
}
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

/* ------------------------------------------------------- body bytes */

static uint8_t pat(uint32_t seed, size_t i)
{
	return (uint8_t)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

static uint8_t *pat_buf(uint32_t seed, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, i);
	return b;
}

/* -------------------------------------------------------- generator */

struct src {
	uint8_t *p;
	size_t n, off;
	nghttp2_nv trl[4];
	size_t ntrl;
	size_t chunk;		/* max bytes per read (0: as many as fit) */
};

struct evt {
	int dir;
	size_t off, len;
};

struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

struct gen;
typedef void (*handler_fn)(struct gen *g, int32_t sid, const char *path);

struct gen {
	nghttp2_session *cli, *srv;
	struct wbuf w[2];
	size_t delivered[2];
	struct evt *ev;
	int nev, cap_ev;
	handler_fn on_request;	/* server: a request ended */
	char **paths;		/* server: :path by (sid - 1) / 2 */
	size_t npaths;
	struct src **srcs;
	int nsrc, cap_src;
	int padding;		/* extra padding bytes per frame */
	int32_t cancel_sid;	/* client: RST after cancel_after bytes */
	size_t cancel_after, got;
	bool cancelled;
	int32_t goaway_when;	/* server: GOAWAY(last 1) at this request */
	int seal;		/* events before this index never grow */
};

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len,
		       int flags, void *u)
{
	struct gen *g = u;
	int dir = s == g->cli ? 0 : 1;
	struct wbuf *w = &g->w[dir];

	(void)flags;
	if (w->n + len > w->cap) {
		w->cap = MAX(w->cap * 2, w->n + len + 65536);
		w->p = realloc(w->p, w->cap);
	}
	memcpy(w->p + w->n, data, len);
	if (g->nev > g->seal && g->ev[g->nev - 1].dir == dir &&
	    g->ev[g->nev - 1].off + g->ev[g->nev - 1].len == w->n &&
	    g->ev[g->nev - 1].len + len < 4000) {
		g->ev[g->nev - 1].len += len;	/* like one TCP segment */
	} else {
		if (g->nev == g->cap_ev) {
			g->cap_ev = g->cap_ev ? g->cap_ev * 2 : 256;
			g->ev = realloc(g->ev, (size_t)g->cap_ev * sizeof(*g->ev));
		}
		g->ev[g->nev++] = (struct evt){ dir, w->n, len };
	}
	w->n += len;
	return (ssize_t)len;
}

static ssize_t src_read(nghttp2_session *s, int32_t sid, uint8_t *buf,
			size_t len, uint32_t *flags, nghttp2_data_source *ds,
			void *u)
{
	struct src *b = ds->ptr;
	size_t k = MIN(len, b->n - b->off);

	(void)u;
	if (b->chunk)
		k = MIN(k, b->chunk);
	memcpy(buf, b->p + b->off, k);
	b->off += k;
	if (b->off == b->n) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (b->ntrl) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, sid, b->trl, b->ntrl);
		}
	}
	return (ssize_t)k;
}

static struct src *src_new(struct gen *g, uint8_t *p, size_t n)
{
	struct src *b = calloc(1, sizeof(*b));

	b->p = p;
	b->n = n;
	if (g->nsrc == g->cap_src) {
		g->cap_src = g->cap_src ? g->cap_src * 2 : 64;
		g->srcs = realloc(g->srcs, (size_t)g->cap_src * sizeof(*g->srcs));
	}
	g->srcs[g->nsrc++] = b;
	return b;
}

static int on_header_srv(nghttp2_session *s, const nghttp2_frame *f,
			 const uint8_t *name, size_t nl, const uint8_t *value,
			 size_t vl, uint8_t flags, void *u)
{
	struct gen *g = u;
	size_t i = (size_t)(f->hd.stream_id - 1) / 2;

	(void)s;
	(void)flags;
	if (nl == 5 && !memcmp(name, ":path", 5) && (f->hd.stream_id & 1)) {
		if (i >= g->npaths) {
			size_t nn = MAX(i + 1, g->npaths * 2);

			g->paths = realloc(g->paths, nn * sizeof(char *));
			memset(g->paths + g->npaths, 0,
			       (nn - g->npaths) * sizeof(char *));
			g->npaths = nn;
		}
		free(g->paths[i]);
		g->paths[i] = strndup((const char *)value, vl);
	}
	return 0;
}

static int on_frame_srv(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	struct gen *g = u;
	size_t i = (size_t)(f->hd.stream_id - 1) / 2;

	(void)s;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && g->on_request)
		g->on_request(g, f->hd.stream_id,
			      i < g->npaths && g->paths[i] ? g->paths[i] : "");
	return 0;
}

static int on_chunk_cli(nghttp2_session *s, uint8_t flags, int32_t sid,
			const uint8_t *data, size_t len, void *u)
{
	struct gen *g = u;

	(void)flags;
	(void)data;
	if (sid == g->cancel_sid && !g->cancelled) {
		g->got += len;
		if (g->got >= g->cancel_after) {
			nghttp2_submit_rst_stream(s, 0, sid, NGHTTP2_CANCEL);
			g->cancelled = true;
		}
	}
	return 0;
}

static ssize_t pad_cb(nghttp2_session *s, const nghttp2_frame *f,
		      size_t max, void *u)
{
	struct gen *g = u;

	(void)s;
	return (ssize_t)MIN(max, f->hd.length + (size_t)g->padding);
}

/* Response "/r/<status>/<size>[/t]": body pat(sid); /t adds trailers. */
static void default_handler(struct gen *g, int32_t sid, const char *path)
{
	int status = 200;
	size_t size = 5;
	char st[8];
	struct src *b;
	nghttp2_data_provider prd;
	nghttp2_nv hdr[3];

	sscanf(path, "/r/%d/%zu", &status, &size);
	snprintf(st, sizeof(st), "%d", status);
	b = src_new(g, pat_buf((uint32_t)sid, size), size);
	if (strstr(path, "/t")) {
		b->trl[0] = (nghttp2_nv)NV("x-trailer", "done");
		b->ntrl = 1;
	}
	hdr[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st, 7,
			       strlen(st), 0 };
	hdr[1] = (nghttp2_nv)NV("content-type", "application/octet-stream");
	hdr[2] = (nghttp2_nv)NV("x-server", "gen");
	prd.source.ptr = b;
	prd.read_callback = src_read;
	if (g->goaway_when && sid == g->goaway_when)
		nghttp2_submit_goaway(g->srv, 0, 1, NGHTTP2_NO_ERROR, NULL, 0);
	if (g->goaway_when && sid > 1)
		return;
	nghttp2_submit_response(g->srv, sid, hdr, 3, size || b->ntrl ? &prd : NULL);
}

static void gen_init(struct gen *g, const nghttp2_option *srv_opt,
		     const nghttp2_option *cli_opt)
{
	nghttp2_session_callbacks *cb;

	memset(g, 0, sizeof(*g));
	g->on_request = default_handler;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header_srv);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_srv);
	nghttp2_session_callbacks_set_select_padding_callback(cb, pad_cb);
	nghttp2_session_server_new2(&g->srv, cb, g, srv_opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_chunk_cli);
	nghttp2_session_callbacks_set_select_padding_callback(cb, pad_cb);
	nghttp2_session_client_new2(&g->cli, cb, g, cli_opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(g->cli, 0, NULL, 0);
	nghttp2_submit_settings(g->srv, 0, NULL, 0);
}

static void gen_pump(struct gen *g)
{
	for (int guard = 0; guard < 1000000; guard++) {
		bool moved = false;

		for (int dir = 0; dir < 2; dir++) {
			nghttp2_session *s = dir ? g->srv : g->cli;
			nghttp2_session *peer = dir ? g->cli : g->srv;
			struct wbuf *w = &g->w[dir];

			nghttp2_session_send(s);
			if (w->n > g->delivered[dir]) {
				ssize_t r = nghttp2_session_mem_recv(peer,
					w->p + g->delivered[dir],
					w->n - g->delivered[dir]);

				if (r < 0)
					fprintf(stderr, "mem_recv: %s\n",
						nghttp2_strerror((int)r));
				g->delivered[dir] = w->n;
				moved = true;
			}
		}
		if (!moved)
			return;
	}
}

/* Submit a request; body from pat(seed) if n. */
static int32_t gen_req(struct gen *g, const char *method, const char *path,
		       const nghttp2_nv *extra, size_t nextra, size_t n,
		       uint32_t seed)
{
	nghttp2_nv nv[16];
	size_t k = 0;
	nghttp2_data_provider prd;

	nv[k++] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0 };
	nv[k++] = (nghttp2_nv)NV(":scheme", "http");
	nv[k++] = (nghttp2_nv)NV(":authority", "api.example");
	nv[k++] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 };
	for (size_t i = 0; i < nextra && k < 16; i++)
		nv[k++] = extra[i];
	prd.source.ptr = n ? src_new(g, pat_buf(seed, n), n) : NULL;
	prd.read_callback = src_read;
	return nghttp2_submit_request(g->cli, NULL, nv, k, n ? &prd : NULL, NULL);
}

static void gen_free(struct gen *g)
{
	nghttp2_session_del(g->cli);
	nghttp2_session_del(g->srv);
	for (int i = 0; i < g->nsrc; i++) {
		free(g->srcs[i]->p);
		free(g->srcs[i]);
	}
	free(g->srcs);
	for (size_t i = 0; i < g->npaths; i++)
		free(g->paths[i]);
	free(g->paths);
	free(g->w[0].p);
	free(g->w[1].p);
	free(g->ev);
}

/* ------------------------------------------------------------ sink */

struct sink {
	struct call **c;
	int n, cap;
	bool count_only;
};

static void sink_emit(void *ctx, struct call *c)
{
	struct sink *s = ctx;

	if (s->count_only) {
		s->n++;
		call_free(c);
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->c = realloc(s->c, (size_t)s->cap * sizeof(*s->c));
	}
	s->c[s->n++] = c;
}

static void sink_free(struct sink *s)
{
	for (int i = 0; i < s->n && !s->count_only; i++)
		call_free(s->c[i]);
	free(s->c);
	memset(s, 0, sizeof(*s));
}

static struct call *sink_sid(const struct sink *s, uint32_t sid)
{
	for (int i = 0; i < s->n; i++)
		if (s->c[i]->stream_id == sid)
			return s->c[i];
	return NULL;
}

struct run_opts {
	uint32_t max_header, max_streams;
	size_t max_keep;
	bool midstream;
	int first_ev;		/* feed events from here (midstream) */
};

static void feed_guarded(struct h2_conn *h, int dir, const uint8_t *p,
			 size_t n, uint64_t ts)
{
	uint8_t *g;

	if (!n)
		return;
	g = tt_guard(p, n);
	h2_feed(h, dir, g, (uint32_t)n, ts);
	tt_guard_free(g);
}

static struct h2_conn *conn_new(const struct run_opts *ro, struct sink *s)
{
	struct h2_opts o = {
		.body = { .max_keep = ro && ro->max_keep ? ro->max_keep : 64,
			  .hash = true },
		.max_header_bytes = ro ? ro->max_header : 0,
		.max_streams = ro ? ro->max_streams : 0,
	};

	return h2_conn_new(&o, ro && ro->midstream, sink_emit, s);
}

/* Feed g's events; step 0: each event whole, else pieces of step bytes;
 * split >= 0: the whole conversation concatenated per event is cut there
 * (event split_ev at offset split). */
static void run_gen(const struct gen *g, const struct run_opts *ro,
		    size_t step, int split_ev, size_t split_at, struct sink *s)
{
	struct h2_conn *h;

	memset(s, 0, sizeof(*s));
	h = conn_new(ro, s);
	for (int i = ro ? ro->first_ev : 0; i < g->nev; i++) {
		const struct evt *e = &g->ev[i];
		const uint8_t *p = g->w[e->dir].p + e->off;
		uint64_t ts = 1000 * (uint64_t)(i + 1);

		if (i == split_ev) {
			feed_guarded(h, e->dir, p, split_at, ts);
			feed_guarded(h, e->dir, p + split_at, e->len - split_at, ts);
		} else if (step) {
			for (size_t off = 0; off < e->len; off += step)
				feed_guarded(h, e->dir, p + off,
					     MIN(step, e->len - off), ts);
		} else {
			feed_guarded(h, e->dir, p, e->len, ts);
		}
	}
	h2_conn_free(h);
}

/* ---------------------------------------------------------- summary */

struct buf {
	char *s;
	size_t n, cap;
};

static void bp(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bp(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0,
			      fmt, ap);
		va_end(ap);
		if (b->s && (size_t)k < b->cap - b->n)
			break;
		b->cap = MAX(b->cap * 2, b->n + (size_t)k + 256);
		b->s = realloc(b->s, b->cap);
	}
	b->n += (size_t)k;
}

static void sum_fields(struct buf *b, const char *tag, const struct hdr *h,
		       size_t n)
{
	if (!n)
		return;
	bp(b, " %s=", tag);
	for (size_t i = 0; i < n; i++)
		bp(b, "%s%s:%.40s", i ? "," : "", h[i].name, h[i].value);
}

static void sum_body(struct buf *b, const char *tag, const struct body *bd)
{
	if (!bd->present)
		return;
	bp(b, " %s=%llu", tag, (unsigned long long)bd->size);
	if (bd->opts.hash && bd->finished && !bd->gap && !bd->decode_error)
		bp(b, ":%02x%02x%02x%02x", bd->sha256[0], bd->sha256[1],
		   bd->sha256[2], bd->sha256[3]);
}

/* "#1 GET /a @api.example 200 QS q=... s=...:sha qh=.. sh=.. st=..
 *  P(ushed) grpc=... !errors" */
static void summarize(const struct call *c, struct buf *b)
{
	bp(b, "#%u %s %s @%s %d %c%c", c->stream_id,
	   c->req.method ? c->req.method : "-", c->req.path ? c->req.path : "-",
	   c->req.authority ? c->req.authority : "-", c->resp.status,
	   c->req.complete ? 'Q' : 'q', c->resp.complete ? 'S' : 's');
	sum_body(b, "q", &c->req.body);
	sum_body(b, "s", &c->resp.body);
	sum_fields(b, "qh", c->req.hdrs, c->req.nhdrs);
	sum_fields(b, "sh", c->resp.hdrs, c->resp.nhdrs);
	sum_fields(b, "qt", c->req.trailers, c->req.ntrailers);
	sum_fields(b, "st", c->resp.trailers, c->resp.ntrailers);
	if (c->pushed)
		bp(b, " P");
	if (c->grpc.present) {
		bp(b, " grpc=%u/%u", c->grpc.msgs[0], c->grpc.msgs[1]);
		for (int d = 0; d < 2; d++) {
			bp(b, d ? "|" : ":");
			for (uint32_t i = 0; i < c->grpc.nsizes[d]; i++)
				bp(b, "%s%u", i ? "," : "", c->grpc.sizes[d][i]);
		}
		bp(b, " status=%s msg=%s", c->grpc.status ? c->grpc.status : "-",
		   c->grpc.message ? c->grpc.message : "-");
	}
	for (size_t i = 0; i < c->nerrors; i++)
		bp(b, "%s%s", i ? "|" : " !", c->errors[i]);
}

static char *dump(const struct sink *s)
{
	struct buf b = { 0 };

	bp(&b, "%d calls\n", s->n);
	for (int i = 0; i < s->n; i++) {
		summarize(s->c[i], &b);
		bp(&b, "\n");
	}
	return b.s;
}

static char *one(const struct call *c)
{
	struct buf b = { 0 };

	if (!c)
		return strdup("(none)");
	summarize(c, &b);
	return b.s;
}

#define TT_CALL(c, want)                                                     \
	do {                                                                 \
		char *tt_s = one(c);                                         \
		EQS(tt_s, want);                                       \
		free(tt_s);                                                  \
	} while (0)

static bool body_is(const struct body *bd, uint32_t seed, size_t n)
{
	uint8_t *p = pat_buf(seed, n), d[32];
	bool ok;

	SHA256(p, n, d);
	ok = bd->size == n && bd->finished && !bd->gap &&
	     !memcmp(d, bd->sha256, 32);
	free(p);
	return ok;
}

/* Byte-at-a-time (61-byte pieces when big) and, when asked, every split
 * must match the whole run. */
static void check_splits(const struct gen *g, const struct run_opts *ro,
			 bool every)
{
	struct sink a, b;
	char *da, *db;

	run_gen(g, ro, 0, -1, 0, &a);
	da = dump(&a);
	/* byte at a time where it is affordable (every feed is an mmap'd
	 * guard); big conversations in 61-byte pieces, which still cut
	 * every frame header and prefix somewhere */
	run_gen(g, ro, g->w[0].n + g->w[1].n < 200000 ? 1 : 61, -1, 0, &b);
	db = dump(&b);
	EQS(db, da);
	free(db);
	sink_free(&b);
	for (int i = 0; every && i < g->nev; i++) {
		for (size_t at = 1; at < g->ev[i].len; at++) {
			run_gen(g, ro, 0, i, at, &b);
			db = dump(&b);
			if (strcmp(da, db)) {
				fprintf(stderr, "split ev %d at %zu differs:\n%s\nvs\n%s\n",
					i, at, db, da);
				tt_fail(__FILE__, __LINE__, "split result differs");
				free(db);
				sink_free(&b);
				goto out;
			}
			free(db);
			sink_free(&b);
		}
	}
out:
	free(da);
	sink_free(&a);
}

/* ------------------------------------------------------ generated */

TT_TEST(simple_get)
{
	struct gen g;
	struct sink s;
	nghttp2_nv ua[] = { NV("user-agent", "tt/1"), NV("accept", "*/*") };

	gen_init(&g, NULL, NULL);
	gen_req(&g, "GET", "/r/200/5", ua, 2, 0, 0);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_CALL(s.c[0], "#1 GET /r/200/5 @api.example 200 QS s=5:f74b1421 "
		"qh=user-agent:tt/1,accept:*/* "
		"sh=content-type:application/octet-stream,x-server:gen");
	EQS(s.c[0]->http_version, "2");
	EQS(s.c[0]->req.scheme, "http");
	TT_CHECK(body_is(&s.c[0]->resp.body, 1, 5));
	TT_CHECK(s.c[0]->req.ts_first_ns > 0);
	TT_CHECK(s.c[0]->resp.ts_last_ns >= s.c[0]->resp.ts_first_ns);
	TT_CHECK(!s.c[0]->req.body.present);
	sink_free(&s);
	check_splits(&g, NULL, true);
	gen_free(&g);
}

TT_TEST(post_upload_1mb)
{
	struct gen g;
	struct sink s;
	nghttp2_nv ct[] = { NV("content-type", "application/octet-stream") };

	gen_init(&g, NULL, NULL);
	gen_req(&g, "POST", "/r/201/3/t", ct, 1, 1 << 20, 77);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_CHECK(body_is(&s.c[0]->req.body, 77, 1 << 20));
	TT_CHECK(body_is(&s.c[0]->resp.body, 1, 3));
	TT_EQ_INT(s.c[0]->resp.status, 201);
	TT_EQ_INT(s.c[0]->nerrors, 0);
	TT_EQ_INT(s.c[0]->resp.ntrailers, 1);
	EQS(s.c[0]->resp.trailers[0].name, "x-trailer");
	EQS(s.c[0]->resp.trailers[0].value, "done");
	TT_CHECK(s.c[0]->req.complete && s.c[0]->resp.complete);
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

TT_TEST(interleaved_100)
{
	struct gen g;
	struct sink s;
	char paths[100][32];
	nghttp2_nv x[] = { NV("x-common", "same-value-on-every-request") };

	gen_init(&g, NULL, NULL);
	for (int i = 0; i < 100; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/r/%d/%d", 200 + i % 3,
			 20000 + i * 37);
		gen_req(&g, i % 2 ? "PUT" : "GET", paths[i], x, 1,
			i % 2 ? 3000 + (size_t)i : 0, (uint32_t)i);
	}
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 100);
	for (int i = 0; i < 100; i++) {
		uint32_t sid = 1 + 2 * (uint32_t)i;
		struct call *c = sink_sid(&s, sid);

		TT_REQUIRE(c);
		EQS(c->req.path, paths[i]);
		EQS(c->req.method, i % 2 ? "PUT" : "GET");
		TT_EQ_INT(c->resp.status, 200 + i % 3);
		TT_CHECK(body_is(&c->resp.body, sid, 20000 + (size_t)i * 37));
		if (i % 2)
			TT_CHECK(body_is(&c->req.body, (uint32_t)i, 3000 + (size_t)i));
		EQS(http_msg_header(&c->req, "x-common"),
			  "same-value-on-every-request");
		TT_EQ_INT(c->nerrors, 0);
	}
	/* DATA of different streams really interleaved */
	TT_CHECK(s.c[0]->stream_id != 1 || s.c[99]->stream_id != 199);
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

TT_TEST(hpack_table_size_changes)
{
	struct gen g;
	struct sink s;
	nghttp2_option *opt;
	nghttp2_settings_entry e0 = { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0 };
	nghttp2_settings_entry e1 = { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 8192 };
	nghttp2_settings_entry e2 = { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 100 };
	nghttp2_nv x[] = { NV("x-long", "a-value-long-enough-to-be-indexed-0123456789"),
			   NV("x-other", "zzz") };
	char p[8][32];

	/* server's encoder starts with a table smaller than 4096: its first
	 * header block opens with a dynamic table size update */
	nghttp2_option_new(&opt);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 1024);
	gen_init(&g, opt, NULL);
	nghttp2_option_del(opt);
	for (int i = 0; i < 8; i++) {
		snprintf(p[i], sizeof(p[i]), "/r/200/%d", i + 1);
		if (i == 2)
			nghttp2_submit_settings(g.cli, 0, &e0, 1);
		if (i == 4) {
			nghttp2_submit_settings(g.cli, 0, &e1, 1);
			nghttp2_submit_settings(g.srv, 0, &e2, 1);
		}
		if (i == 6)
			nghttp2_submit_settings(g.srv, 0, &e1, 1);
		gen_req(&g, "GET", p[i], x, 2, 0, 0);
		gen_pump(&g);
	}
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 8);
	for (int i = 0; i < s.n; i++) {
		struct call *c = s.c[i];

		EQS(c->req.path, p[i]);
		EQS(http_msg_header(&c->req, "x-long"),
			  "a-value-long-enough-to-be-indexed-0123456789");
		EQS(http_msg_header(&c->resp, "x-server"), "gen");
		TT_EQ_INT(c->nerrors, 0);
		if (c->nerrors)
			fprintf(stderr, "  %s\n", c->errors[0]);
	}
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

TT_TEST(continuation_huge_header)
{
	struct gen g;
	struct sink s;
	char *big = malloc(40001);
	nghttp2_nv x[1];

	memset(big, 'v', 40000);
	big[40000] = '\0';
	x[0] = (nghttp2_nv){ (uint8_t *)"x-huge", (uint8_t *)big, 6, 40000,
			     NGHTTP2_NV_FLAG_NO_INDEX };
	gen_init(&g, NULL, NULL);
	gen_req(&g, "GET", "/r/200/10", x, 1, 0, 0);
	gen_pump(&g);
	/* the request's header block is HEADERS + CONTINUATION(s) */
	{
		const uint8_t *w = g.w[0].p + 24;
		size_t n = g.w[0].n - 24, conts = 0;

		while (n >= 9) {
			size_t len = (size_t)w[0] << 16 | (size_t)w[1] << 8 | w[2];

			conts += w[3] == 9;
			w += 9 + len;
			n -= 9 + len;
		}
		TT_CHECK(conts >= 2);
	}
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_REQUIRE(s.n == 1);
	EQS(http_msg_header(&s.c[0]->req, "x-huge"), big);
	TT_EQ_INT(s.c[0]->nerrors, 0);
	sink_free(&s);
	/* a smaller bound refuses it, with the reason */
	{
		struct run_opts ro = { .max_header = 30000 };

		run_gen(&g, &ro, 0, -1, 0, &s);
		TT_REQUIRE(s.n == 1);
		/* the stream never opened: the error has a record of its own */
		TT_CALL(s.c[0], "#0 - - @- 0 qs !HTTP/2 limit exceeded: header block of stream 1 exceeds max_header_bytes (30000)");
		sink_free(&s);
	}
	check_splits(&g, NULL, false);
	gen_free(&g);
	free(big);
}

TT_TEST(padding)
{
	struct gen g;
	struct sink s;

	gen_init(&g, NULL, NULL);
	g.padding = 37;
	gen_req(&g, "POST", "/r/200/30000/t", NULL, 0, 5000, 9);
	gen_pump(&g);
	/* frames really are padded */
	{
		const uint8_t *w = g.w[1].p;
		size_t n = g.w[1].n, padded = 0;

		while (n >= 9) {
			size_t len = (size_t)w[0] << 16 | (size_t)w[1] << 8 | w[2];

			padded += (w[3] == 0 || w[3] == 1) && (w[4] & 8);
			w += 9 + len;
			n -= 9 + len;
		}
		TT_CHECK(padded >= 3);
	}
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_CHECK(body_is(&s.c[0]->req.body, 9, 5000));
	TT_CHECK(body_is(&s.c[0]->resp.body, 1, 30000));
	TT_EQ_INT(s.c[0]->resp.ntrailers, 1);
	TT_EQ_INT(s.c[0]->nerrors, 0);
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

TT_TEST(rst_mid_body)
{
	struct gen g;
	struct sink s;

	gen_init(&g, NULL, NULL);
	g.cancel_sid = gen_req(&g, "GET", "/r/200/1000000", NULL, 0, 0, 0);
	g.cancel_after = 20000;
	gen_req(&g, "GET", "/r/200/7", NULL, 0, 0, 0);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 2);
	{
		struct call *c = sink_sid(&s, 1);

		TT_REQUIRE(c);
		TT_CHECK(c->resp.body.size >= 20000 && c->resp.body.size < 1000000);
		TT_CHECK(!c->resp.complete);
		TT_EQ_INT(c->nerrors, 2);
		EQS(c->errors[0], "stream reset by client: CANCEL (0x8)");
		EQS(c->errors[1], "gap in response body");
		TT_CHECK(body_is(&sink_sid(&s, 3)->resp.body, 3, 7));
	TT_CALL(sink_sid(&s, 3), "#3 GET /r/200/7 @api.example 200 QS s=7:a4574702 sh=content-type:application/octet-stream,x-server:gen");
	}
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

static void push_handler(struct gen *g, int32_t sid, const char *path)
{
	nghttp2_nv pr[] = { NV(":method", "GET"), NV(":scheme", "http"),
			    NV(":authority", "api.example"), NV(":path", "/r/200/11"),
			    NV("x-pushed", "1") };
	int32_t pid;

	if (!strcmp(path, "/push")) {
		pid = nghttp2_submit_push_promise(g->srv, 0, sid, pr, 5, NULL);
		default_handler(g, pid, "/r/200/11");
		default_handler(g, sid, "/r/200/4");
		return;
	}
	default_handler(g, sid, path);
}

TT_TEST(push_promise)
{
	struct gen g;
	struct sink s;

	gen_init(&g, NULL, NULL);
	g.on_request = push_handler;
	gen_req(&g, "GET", "/push", NULL, 0, 0, 0);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 2);
	TT_CALL(sink_sid(&s, 1), "#1 GET /push @api.example 200 QS s=4:2aad11f9 sh=content-type:application/octet-stream,x-server:gen");
	TT_CALL(sink_sid(&s, 2), "#2 GET /r/200/11 @api.example 200 QS s=11:174753af qh=x-pushed:1 sh=content-type:application/octet-stream,x-server:gen P");
	sink_free(&s);
	check_splits(&g, NULL, true);
	gen_free(&g);
}

TT_TEST(goaway)
{
	struct gen g;
	struct sink s;

	gen_init(&g, NULL, NULL);
	g.goaway_when = 5;
	gen_req(&g, "GET", "/r/200/3", NULL, 0, 0, 0);
	gen_req(&g, "GET", "/r/200/3", NULL, 0, 0, 0);
	gen_req(&g, "GET", "/r/200/3", NULL, 0, 0, 0);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 3);
	TT_CALL(sink_sid(&s, 1), "#1 GET /r/200/3 @api.example 200 QS s=3:17aef23a sh=content-type:application/octet-stream,x-server:gen");
	TT_CALL(sink_sid(&s, 3), "#3 GET /r/200/3 @api.example 0 Qs !stream not processed: GOAWAY from server (last_stream_id 1, NO_ERROR (0x0))");
	TT_CALL(sink_sid(&s, 5), "#5 GET /r/200/3 @api.example 0 Qs !stream not processed: GOAWAY from server (last_stream_id 1, NO_ERROR (0x0))");
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

/* gRPC: request messages of the given sizes, response messages echoing
 * sizes * 2, trailers with status/message (or trailers-only). */
struct grpc_case {
	int nreq;
	uint32_t req[4];
	int nresp;
	uint32_t resp[4];
	const char *status, *message;
	bool trailers_only;
	size_t chunk;
};

static uint8_t *grpc_msgs(int n, const uint32_t *sizes, size_t *len)
{
	size_t t = 0, o = 0;
	uint8_t *b;

	for (int i = 0; i < n; i++)
		t += 5 + sizes[i];
	b = malloc(t ? t : 1);
	for (int i = 0; i < n; i++) {
		b[o++] = 0;
		b[o++] = (uint8_t)(sizes[i] >> 24);
		b[o++] = (uint8_t)(sizes[i] >> 16);
		b[o++] = (uint8_t)(sizes[i] >> 8);
		b[o++] = (uint8_t)sizes[i];
		for (uint32_t k = 0; k < sizes[i]; k++)
			b[o++] = pat((uint32_t)i, k);
	}
	*len = t;
	return b;
}

static const struct grpc_case *grpc_cur;

static void grpc_handler(struct gen *g, int32_t sid, const char *path)
{
	const struct grpc_case *gc = grpc_cur;
	nghttp2_nv h[4] = { NV(":status", "200"), NV("content-type", "application/grpc") };
	size_t n;
	uint8_t *b;
	struct src *s;
	nghttp2_data_provider prd;

	(void)path;
	if (gc->trailers_only) {
		h[2] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)gc->status, 11, strlen(gc->status), 0 };
		h[3] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)gc->message, 12, strlen(gc->message), 0 };
		nghttp2_submit_response(g->srv, sid, h, 4, NULL);
		return;
	}
	b = grpc_msgs(gc->nresp, gc->resp, &n);
	s = src_new(g, b, n);
	s->chunk = gc->chunk;
	s->trl[0] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)gc->status, 11, strlen(gc->status), 0 };
	s->trl[1] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)gc->message, 12, strlen(gc->message), 0 };
	s->ntrl = 2;
	prd.source.ptr = s;
	prd.read_callback = src_read;
	nghttp2_submit_response(g->srv, sid, h, 2, &prd);
}

static void grpc_run(const struct grpc_case *gc, const char *want)
{
	struct gen g;
	struct sink s;
	nghttp2_nv nv[] = { NV(":method", "POST"), NV(":scheme", "http"),
			    NV(":authority", "grpc.example"), NV(":path", "/pkg.Svc/Call"),
			    NV("content-type", "application/grpc+proto"), NV("te", "trailers") };
	size_t n;
	uint8_t *b = grpc_msgs(gc->nreq, gc->req, &n);
	struct src *src;
	nghttp2_data_provider prd;

	gen_init(&g, NULL, NULL);
	grpc_cur = gc;
	g.on_request = grpc_handler;
	src = src_new(&g, b, n);
	src->chunk = gc->chunk;
	prd.source.ptr = src;
	prd.read_callback = src_read;
	nghttp2_submit_request(g.cli, NULL, nv, 6, &prd, NULL);
	gen_pump(&g);
	run_gen(&g, NULL, 0, -1, 0, &s);
	TT_REQUIRE(s.n == 1);
	TT_CALL(s.c[0], want);
	sink_free(&s);
	check_splits(&g, NULL, false);
	gen_free(&g);
}

TT_TEST(grpc_unary_ok)
{
	struct grpc_case gc = { 1, { 12 }, 1, { 30 }, "0", "", false, 0 };

	grpc_run(&gc, "#1 POST /pkg.Svc/Call @grpc.example 200 QS q=17:4331c8f5 s=35:459d4857 "
		 "qh=content-type:application/grpc+proto,te:trailers sh=content-type:application/grpc "
		 "st=grpc-status:0,grpc-message: grpc=1/1:12|30 status=0 msg=");
}

TT_TEST(grpc_streaming_spanning_frames)
{
	/* 7-byte DATA frames: every prefix and message straddles frames */
	struct grpc_case gc = { 3, { 20000, 3, 0 }, 4, { 16385, 1, 40000, 2 },
				"13", "boom%20%E2%9C%93", false, 7 };

	grpc_run(&gc, "#1 POST /pkg.Svc/Call @grpc.example 200 QS q=20018:29c81aee s=56408:e67cb50f "
		 "qh=content-type:application/grpc+proto,te:trailers sh=content-type:application/grpc "
		 "st=grpc-status:13,grpc-message:boom%20%E2%9C%93 grpc=3/4:20000,3,0|16385,1,40000,2 "
		 "status=13 msg=boom \xe2\x9c\x93");
}

TT_TEST(grpc_trailers_only)
{
	struct grpc_case gc = { 1, { 4 }, 0, { 0 }, "12", "unimplemented", true, 0 };

	grpc_run(&gc, "#1 POST /pkg.Svc/Call @grpc.example 200 QS q=9:fd0137a8 "
		 "qh=content-type:application/grpc+proto,te:trailers "
		 "sh=content-type:application/grpc,grpc-status:12,grpc-message:unimplemented "
		 "grpc=1/0:4| status=12 msg=unimplemented");
}

TT_TEST(grpc_deframer)
{
	struct grpc_deframer d = { 0 };
	struct call_grpc g = { 0 };
	uint8_t m[] = { 1, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 0 };

	for (size_t i = 0; i < sizeof(m); i++)
		grpc_feed(&d, &g, 1, m + i, 1);
	TT_EQ_INT(g.msgs[1], 2);
	TT_EQ_INT(g.compressed[1], 1);
	TT_EQ_INT(g.bytes[1], 2);
	TT_EQ_INT(grpc_end(&d), -EBADMSG);	/* 3 bytes of a prefix */
	grpc_feed(&d, &g, 1, m + 7, 2);	/* the rest: a 0-byte message */
	TT_EQ_INT(grpc_end(&d), 0);
	TT_EQ_INT(g.msgs[1], 3);
	TT_CHECK(grpc_content_type("application/grpc", 16));
	TT_CHECK(grpc_content_type("application/grpc+json", 21));
	TT_CHECK(!grpc_content_type("application/grpcx", 17));
	TT_CHECK(!grpc_content_type("application/json", 16));
	grpc_set_message(&g, "a%2", 3);
	EQS(g.message, "a%2");
	grpc_set_message(&g, "%00%41", 6);
	EQS(g.message, "%00A");
	free(g.sizes[1]);
	free(g.message);
}

/* Three sequential exchanges with the same headers; capture from the
 * second (frame boundary) on. */
static void midstream_gen(struct gen *g, int *cut, const nghttp2_option *o)
{
	nghttp2_nv x[] = { NV("x-token", "abcdefghijklmnopqrstuvwxyz") };

	gen_init(g, o, o);
	gen_req(g, "GET", "/r/200/100", x, 1, 0, 0);
	gen_pump(g);
	*cut = g->seal = g->nev;
	gen_req(g, "POST", "/r/200/200", x, 1, 50, 1);
	gen_pump(g);
	gen_req(g, "GET", "/r/200/300", x, 1, 0, 0);
	gen_pump(g);
}

TT_TEST(midstream_pickup)
{
	struct gen g;
	struct sink s;
	struct run_opts ro = { .midstream = true };
	nghttp2_option *o;

	midstream_gen(&g, &ro.first_ev, NULL);
	run_gen(&g, &ro, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 2);
	/* the headers refer to table entries of exchange 1: not guessed,
	 * but bodies are still counted exactly */
	TT_CALL(sink_sid(&s, 3), "#3 - - @- 0 QS q=50:ac073bb0 s=200:5d278114 !headers not decodable: HPACK state unknown (capture started mid-connection)");
	TT_CALL(sink_sid(&s, 5), "#5 - - @- 0 QS s=300:f85bcfab !headers not decodable: HPACK state unknown (capture started mid-connection)");
	TT_CHECK(body_is(&sink_sid(&s, 3)->req.body, 1, 50));
	TT_CHECK(body_is(&sink_sid(&s, 3)->resp.body, 3, 200));
	TT_CHECK(body_is(&sink_sid(&s, 5)->resp.body, 5, 300));
	sink_free(&s);
	check_splits(&g, &ro, false);
	gen_free(&g);

	/* encoders without a dynamic table: everything decodes exactly */
	nghttp2_option_new(&o);
	nghttp2_option_set_max_deflate_dynamic_table_size(o, 0);
	midstream_gen(&g, &ro.first_ev, o);
	nghttp2_option_del(o);
	run_gen(&g, &ro, 0, -1, 0, &s);
	TT_EQ_INT(s.n, 2);
	TT_CALL(sink_sid(&s, 3), "#3 POST /r/200/200 @api.example 200 QS q=50:ac073bb0 s=200:5d278114 qh=x-token:abcdefghijklmnopqrstuvwxyz sh=content-type:application/octet-stream,x-server:gen");
	TT_CALL(sink_sid(&s, 5), "#5 GET /r/200/300 @api.example 200 QS s=300:f85bcfab qh=x-token:abcdefghijklmnopqrstuvwxyz sh=content-type:application/octet-stream,x-server:gen");
	sink_free(&s);
	gen_free(&g);
}

TT_TEST(gap_handling)
{
	struct gen g;
	struct sink s;
	struct h2_conn *h;
	int body_ev = -1;

	gen_init(&g, NULL, NULL);
	gen_req(&g, "GET", "/r/200/50000", NULL, 0, 0, 0);
	gen_pump(&g);
	/* a dir-1 event well inside the body: drop 100 payload bytes */
	for (int i = 0; i < g.nev; i++)
		if (g.ev[i].dir == 1 && g.ev[i].len > 1000 && body_ev < 0 &&
		    g.ev[i].off > 100)
			body_ev = i;
	TT_REQUIRE(body_ev >= 0);
	memset(&s, 0, sizeof(s));
	h = conn_new(NULL, &s);
	for (int i = 0; i < g.nev; i++) {
		const struct evt *e = &g.ev[i];
		const uint8_t *p = g.w[e->dir].p + e->off;

		if (i == body_ev) {
			/* inside a DATA payload: 9-byte frame headers are at
			 * 16393 intervals; the event's middle is payload */
			size_t a = e->len / 2;

			feed_guarded(h, 1, p, a, 5);
			h2_gap(h, 1, 1, 5);
			feed_guarded(h, 1, p + a + 1, e->len - a - 1, 5);
		} else {
			feed_guarded(h, e->dir, p, e->len, 5);
		}
	}
	h2_conn_free(h);
	TT_REQUIRE(s.n == 1);
	TT_EQ_INT(s.c[0]->resp.body.size, 50000);
	TT_CHECK(s.c[0]->resp.body.gap);
	TT_EQ_INT(s.c[0]->nerrors, 1);
	EQS(s.c[0]->errors[0], "gap in response body");
	sink_free(&s);

	/* a gap at a frame header: the direction is lost */
	memset(&s, 0, sizeof(s));
	h = conn_new(NULL, &s);
	for (int i = 0; i < g.nev; i++) {
		const struct evt *e = &g.ev[i];

		if (e->dir == 1 && e->off > 0) {
			h2_gap(h, 1, g.w[1].n - e->off, 9);
			break;
		}
		feed_guarded(h, e->dir, g.w[e->dir].p + e->off, e->len, 5);
	}
	h2_conn_free(h);
	TT_REQUIRE(s.n == 1);
	TT_CALL(s.c[0], "#1 GET /r/200/50000 @api.example 200 Qs sh=content-type:application/octet-stream,x-server:gen !gap in HTTP/2 stream");
	sink_free(&s);
	gen_free(&g);
}

/* ------------------------------------------------------ hand-built */

struct bld {
	uint8_t p[1 << 20];
	size_t n;
	nghttp2_hd_deflater *def;
};

static struct bld *bld_new(bool preface)
{
	struct bld *b = calloc(1, sizeof(*b));

	nghttp2_hd_deflate_new(&b->def, 4096);
	if (preface) {
		memcpy(b->p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
		b->n = 24;
	}
	return b;
}

static void bld_free(struct bld *b)
{
	nghttp2_hd_deflate_del(b->def);
	free(b);
}

static void frame(struct bld *b, uint32_t len, uint8_t type, uint8_t flags,
		  uint32_t sid, const void *payload, size_t plen)
{
	uint8_t *o = b->p + b->n;

	o[0] = (uint8_t)(len >> 16);
	o[1] = (uint8_t)(len >> 8);
	o[2] = (uint8_t)len;
	o[3] = type;
	o[4] = flags;
	o[5] = (uint8_t)(sid >> 24);
	o[6] = (uint8_t)(sid >> 16);
	o[7] = (uint8_t)(sid >> 8);
	o[8] = (uint8_t)sid;
	if (plen)
		memcpy(o + 9, payload, plen);
	b->n += 9 + plen;
}

static size_t hpack(struct bld *b, uint8_t *out, size_t cap,
		    const nghttp2_nv *nv, size_t n)
{
	ssize_t r = nghttp2_hd_deflate_hd(b->def, out, cap, nv, n);

	return r < 0 ? 0 : (size_t)r;
}

static const nghttp2_nv req_nv[] = { NV(":method", "GET"), NV(":scheme", "https"),
				     NV(":authority", "a"), NV(":path", "/") };
static const nghttp2_nv resp_nv[] = { NV(":status", "200") };

/* HEADERS with the request fields on sid. */
static void req_headers(struct bld *b, uint32_t sid, uint8_t flags)
{
	uint8_t blk[256];
	size_t n = hpack(b, blk, sizeof(blk), req_nv, 4);

	frame(b, (uint32_t)n, 1, flags, sid, blk, n);
}

static void feed_all(struct h2_conn *h, int dir, const struct bld *b)
{
	feed_guarded(h, dir, b->p, b->n, 7);
}

/* The calls of one hand-built case, one summary per line. */
static char *run_bld(const struct bld *c2s, const struct bld *s2c,
		     const struct run_opts *ro)
{
	struct sink s;
	struct h2_conn *h;
	char *d;

	memset(&s, 0, sizeof(s));
	h = conn_new(ro, &s);
	if (c2s)
		feed_all(h, 0, c2s);
	if (s2c)
		feed_all(h, 1, s2c);
	h2_conn_free(h);
	d = dump(&s);
	sink_free(&s);
	return d;
}

#define BROKEN(what) "1 calls\n#0 - - @- 0 qs !HTTP/2 protocol error: " what "\n"

TT_TEST(hostile_frames)
{
	static const struct {
		const char *name;
		uint32_t len;
		uint8_t type, flags;
		uint32_t sid;
		size_t plen;
		const char *want;
	} cases[] = {
		{ "oversize", 16385, 0, 0, 1, 0, BROKEN("frame of 16385 bytes exceeds max frame size 16384 (DATA)") },
		{ "settings5", 5, 4, 0, 0, 5, BROKEN("SETTINGS frame length 5 not a multiple of 6") },
		{ "settings-ack-payload", 6, 4, 1, 0, 6, BROKEN("SETTINGS ACK with a payload") },
		{ "settings-stream", 0, 4, 0, 3, 0, BROKEN("SETTINGS frame on stream 3 (must be 0)") },
		{ "ping7", 7, 6, 0, 0, 7, BROKEN("PING frame length 7 != 8") },
		{ "winup3", 3, 8, 0, 1, 3, BROKEN("WINDOW_UPDATE frame length 3 != 4") },
		{ "rst5", 5, 3, 0, 1, 5, BROKEN("RST_STREAM frame length 5 != 4") },
		{ "prio4", 4, 2, 0, 1, 4, BROKEN("PRIORITY frame length 4 != 5") },
		{ "goaway7", 7, 7, 0, 0, 7, BROKEN("GOAWAY frame length 7 < 8") },
		{ "data0", 4, 0, 0, 0, 4, BROKEN("DATA frame on stream 0") },
		{ "headers0", 1, 1, 4, 0, 1, BROKEN("HEADERS frame on stream 0") },
		{ "cont-alone", 1, 9, 4, 1, 1, BROKEN("CONTINUATION without HEADERS") },
		{ "data-idle", 4, 0, 0, 1, 4, BROKEN("DATA on idle stream 1") },
		{ "pad-too-long", 2, 0, 8, 1, 2, BROKEN("padding longer than the frame") },
		{ "unknown-type", 3, 0xfa, 0, 1, 3, "0 calls\n" },
		{ "winup-ok", 4, 8, 0, 0, 4, "0 calls\n" },
	};
	uint8_t pl[64];

	memset(pl, 0xee, sizeof(pl));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct bld *b = bld_new(true);
		char *got;

		frame(b, cases[i].len, cases[i].type, cases[i].flags,
		      cases[i].sid, pl, cases[i].plen);
		got = run_bld(b, NULL, NULL);
		if (strcmp(got, cases[i].want))
			fprintf(stderr, "case %s:\n", cases[i].name);
		EQS(got, cases[i].want);
		free(got);
		bld_free(b);
	}
}

TT_TEST(hostile_preface_and_garbage)
{
	struct bld *b = bld_new(false);
	char *got;

	memcpy(b->p, "PRI * HTTP/1.1\r\n", 16);
	b->n = 16;
	got = run_bld(b, NULL, NULL);
	EQS(got, BROKEN("invalid connection preface"));
	free(got);
	bld_free(b);

	b = bld_new(true);
	memcpy(b->p + b->n, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	b->n += 27;
	got = run_bld(b, NULL, NULL);
	EQS(got, BROKEN("frame of 4670804 bytes exceeds max frame size 16384 (unknown)"));
	free(got);
	bld_free(b);
}

TT_TEST(hostile_streams)
{
	struct bld *c = bld_new(true), *s = bld_new(false);
	uint8_t blk[64];
	size_t n;
	char *got;

	/* an open stream carries the connection error */
	req_headers(c, 1, 4);		/* open, no END_STREAM */
	frame(c, 4, 0, 0, 0, "abcd", 4);	/* DATA on stream 0 */
	got = run_bld(c, NULL, NULL);
	EQS(got, "1 calls\n#1 GET / @a 0 qs !HTTP/2 protocol error: DATA frame on stream 0\n");
	free(got);
	bld_free(c);

	/* reuse after a completed exchange */
	c = bld_new(true);
	req_headers(c, 1, 5);
	n = hpack(s, blk, sizeof(blk), resp_nv, 1);
	frame(s, (uint32_t)n, 1, 5, 1, blk, n);
	{
		struct sink sk = { 0 };
		struct h2_conn *h = conn_new(NULL, &sk);

		feed_all(h, 0, c);
		feed_all(h, 1, s);
		c->n = 0;
		req_headers(c, 1, 5);	/* stream 1 again */
		feed_all(h, 0, c);
		h2_conn_free(h);
		got = dump(&sk);
		EQS(got, "2 calls\n#1 GET / @a 200 QS\n#0 - - @- 0 qs !HTTP/2 protocol error: stream 1 reused after close\n");
		free(got);
		sink_free(&sk);
	}
	bld_free(c);
	bld_free(s);

	/* response on an idle stream; PUSH_PROMISE from the client */
	c = bld_new(true);
	s = bld_new(false);
	n = hpack(s, blk, sizeof(blk), resp_nv, 1);
	frame(s, (uint32_t)n, 1, 5, 7, blk, n);
	got = run_bld(c, s, NULL);
	EQS(got, BROKEN("HEADERS from server on idle stream 7"));
	free(got);
	frame(c, 4, 5, 4, 1, "\0\0\0\2", 4);
	got = run_bld(c, NULL, NULL);
	EQS(got, BROKEN("PUSH_PROMISE from client"));
	free(got);
	bld_free(c);
	bld_free(s);

	/* too many open streams */
	{
		struct run_opts ro = { .max_streams = 3 };

		c = bld_new(true);
		for (uint32_t i = 0; i < 4; i++)
			req_headers(c, 1 + 2 * i, 4);
		got = run_bld(c, NULL, &ro);
		EQS(got, "3 calls\n"
			  "#1 GET / @a 0 qs !HTTP/2 limit exceeded: too many concurrent streams (limit 3)\n"
			  "#3 GET / @a 0 qs !HTTP/2 limit exceeded: too many concurrent streams (limit 3)\n"
			  "#5 GET / @a 0 qs !HTTP/2 limit exceeded: too many concurrent streams (limit 3)\n");
		free(got);
		bld_free(c);
	}
}

TT_TEST(hostile_headers)
{
	struct bld *c;
	uint8_t *blk = malloc(1 << 20);
	char *got;
	size_t n;
	struct run_opts small = { .max_header = 4096 };

	/* HPACK garbage: an index far past both tables */
	c = bld_new(true);
	frame(c, 5, 1, 5, 1, "\xff\xff\xff\xff\x0f", 5);
	got = run_bld(c, NULL, NULL);
	EQS(got, "1 calls\n#1 - - @- 0 qs !HTTP/2 protocol error: HPACK decoding error in request headers of stream 1 (Header compression/decompression error)\n");
	free(got);
	bld_free(c);

	/* header bomb: one 1000-byte entry indexed (literal with incremental
	 * indexing, new name "x"), then referenced by 1000 one-byte indexes
	 * (0xbe = index 62): 2 KiB on the wire, 1 MiB decoded */
	c = bld_new(true);
	n = 0;
	blk[n++] = 0x40;
	blk[n++] = 1;
	blk[n++] = 'x';
	blk[n++] = 0x7f;		/* 127 + 873 = 1000 */
	blk[n++] = 0x80 | (873 & 0x7f);
	blk[n++] = 873 >> 7;
	memset(blk + n, 'b', 1000);
	n += 1000;
	memset(blk + n, 0xbe, 1000);
	n += 1000;
	frame(c, (uint32_t)n, 1, 5, 1, blk, n);
	got = run_bld(c, NULL, NULL);
	EQS(got, "1 calls\n#1 - - @- 0 qs !HTTP/2 limit exceeded: decoded headers of stream 1 exceed max_header_bytes (262144)\n");
	free(got);
	bld_free(c);

	/* CONTINUATION flood: empty frames, never END_HEADERS */
	c = bld_new(true);
	n = hpack(c, blk, 1 << 20, req_nv, 4);
	frame(c, (uint32_t)n, 1, 0, 1, blk, n);
	for (int i = 0; i < 1000; i++)
		frame(c, 0, 9, 0, 1, NULL, 0);
	got = run_bld(c, NULL, &small);
	EQS(got, "1 calls\n#0 - - @- 0 qs !HTTP/2 limit exceeded: header block of stream 1 exceeds max_header_bytes (4096)\n");
	free(got);
	bld_free(c);

	/* ... and a flood of fragments, no frame over the frame size */
	c = bld_new(true);
	frame(c, 0, 1, 0, 1, NULL, 0);
	memset(blk, 0x40, 4000);
	for (int i = 0; i < 100; i++)
		frame(c, 4000, 9, 0, 1, blk, 4000);
	got = run_bld(c, NULL, NULL);
	EQS(got, "1 calls\n#0 - - @- 0 qs !HTTP/2 limit exceeded: header block of stream 1 exceeds max_header_bytes (262144)\n");
	free(got);
	bld_free(c);
	free(blk);
}

/* ------------------------------------------------------------- h2c */

/* What conn.c does: HTTP/1 until the 101, then HTTP/2 takes over. */
struct h2c_glue {
	struct h1_conn *h1;
	struct h2_conn *h2;
	struct sink *s;
};

static void glue_emit(void *ctx, struct call *c)
{
	sink_emit(((struct h2c_glue *)ctx)->s, c);
}

static void glue_upgraded(void *ctx, struct call *c, const uint8_t *held,
			  size_t nheld, const uint8_t *rest, size_t nrest)
{
	struct h2c_glue *g = ctx;
	struct h2_opts o = { .body = { .max_keep = 64, .hash = true } };

	g->h2 = h2_conn_new(&o, false, sink_emit, g->s);
	TT_EQ_INT(h2_conn_upgrade(g->h2, c), 0);
	if (nheld)
		feed_guarded(g->h2, 0, held, nheld, 50);
	if (nrest)
		feed_guarded(g->h2, 1, rest, nrest, 50);
}

static void gen_raw(struct gen *g, int dir, const char *text)
{
	send_cb(dir ? g->srv : g->cli, (const uint8_t *)text, strlen(text), 0, g);
	g->delivered[dir] = g->w[dir].n;	/* HTTP/1 part: not for the peer */
}

/* A stream carries one trailer block per side: a flood of further blocks
 * (no END_STREAM) is decoded for HPACK's sake but not kept, so memory
 * stays bounded; a NUL/CR/LF in a field leaves the field out, said so.
 * Both grew or cut silently before. */
TT_TEST(hostile_trailers_and_nul)
{
	struct bld *c = bld_new(true), *s = bld_new(false);
	static const nghttp2_nv trl[] = { NV("x-t", "v") };
	static const nghttp2_nv nul[] = { NV(":method", "GET"), NV(":scheme", "https"),
					  NV(":authority", "a"), NV(":path", "/"),
					  NV("x-ok", "1"), NV("x-bad", "a\0b"),
					  NV("x-cr", "a\rb") };
	uint8_t blk[256];
	size_t n;
	char *got;

	req_headers(c, 1, 4);
	for (int i = 0; i < 5000; i++) {
		n = hpack(c, blk, sizeof(blk), trl, 1);
		frame(c, (uint32_t)n, 1, 4, 1, blk, n);	/* trailers, no ES */
	}
	n = hpack(c, blk, sizeof(blk), trl, 1);
	frame(c, (uint32_t)n, 1, 5, 1, blk, n);		/* the last with ES */
	n = hpack(s, blk, sizeof(blk), resp_nv, 1);
	frame(s, (uint32_t)n, 1, 5, 1, blk, n);
	got = run_bld(c, s, NULL);
	EQS(got, "1 calls\n#1 GET / @a 200 QS qt=x-t:v"
		 " !trailers without END_STREAM in request"
		 "|another header block after trailers in request (not recorded)\n");
	free(got);
	bld_free(c);
	bld_free(s);

	c = bld_new(true);
	s = bld_new(false);
	n = hpack(c, blk, sizeof(blk), nul, ARRAY_SIZE(nul));
	frame(c, (uint32_t)n, 1, 5, 1, blk, n);
	n = hpack(s, blk, sizeof(blk), resp_nv, 1);
	frame(s, (uint32_t)n, 1, 5, 1, blk, n);
	got = run_bld(c, s, NULL);
	EQS(got, "1 calls\n#1 GET / @a 200 QS qh=x-ok:1"
		 " !NUL, CR or LF in header field x-bad (field not recorded)"
		 "|NUL, CR or LF in header field x-cr (field not recorded)\n");
	free(got);
	bld_free(c);
	bld_free(s);
}

/* HPACK memo (http2.c): a repeated block that leaves the table alone is
 * not decoded again - exact only while the table is unchanged.  Raw
 * blocks: GET https / @a, plus x-k as a new literal with incremental
 * indexing (A: v1, C: v2) or as dynamic index 62 (B). */
static const uint8_t blk_a[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a', 0x40, 0x03,
				 'x', '-', 'k', 0x02, 'v', '1' };
static const uint8_t blk_b[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a', 0xbe };
static const uint8_t blk_c[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a', 0x40, 0x03,
				 'x', '-', 'k', 0x02, 'v', '2' };
static const uint8_t st200[] = { 0x88 };

TT_TEST(hpack_memo_follows_table)
{
	struct bld *c = bld_new(true), *s = bld_new(false);
	const uint8_t *seq[] = { blk_a, blk_b, blk_b, blk_c, blk_b, blk_b };
	const size_t len[] = { sizeof(blk_a), sizeof(blk_b), sizeof(blk_b),
			       sizeof(blk_c), sizeof(blk_b), sizeof(blk_b) };
	char *got;

	for (uint32_t i = 0; i < ARRAY_SIZE(seq); i++) {
		frame(c, (uint32_t)len[i], 1, 5, 1 + 2 * i, seq[i], len[i]);
		frame(s, 1, 1, 5, 1 + 2 * i, st200, 1);
	}
	got = run_bld(c, s, NULL);
	/* B after C is v2: C changed the table, the memo of B (v1) is gone */
	EQS(got, "6 calls\n"
		 "#1 GET / @a 200 QS qh=x-k:v1\n#3 GET / @a 200 QS qh=x-k:v1\n"
		 "#5 GET / @a 200 QS qh=x-k:v1\n#7 GET / @a 200 QS qh=x-k:v2\n"
		 "#9 GET / @a 200 QS qh=x-k:v2\n#11 GET / @a 200 QS qh=x-k:v2\n");
	free(got);
	bld_free(c);
	bld_free(s);
}

/* Feed c1 and s1, then c2 and s2, into one connection; its calls, one
 * summary per line. */
static char *run4(const struct bld *c1, const struct bld *s1,
		  const struct bld *c2, const struct bld *s2)
{
	struct sink sk = { 0 };
	struct h2_conn *h = conn_new(NULL, &sk);
	char *got;

	feed_all(h, 0, c1);
	feed_all(h, 1, s1);
	feed_all(h, 0, c2);
	feed_all(h, 1, s2);
	h2_conn_free(h);
	got = dump(&sk);
	sink_free(&sk);
	return got;
}

TT_TEST(hpack_memo_table_size_change)
{
	static const uint8_t hts0[] = { 0, 1, 0, 0, 0, 0 };
	struct bld *c1 = bld_new(true), *s1 = bld_new(false);
	struct bld *c2 = bld_new(false), *s2 = bld_new(false);
	char *got;

	frame(c1, sizeof(blk_a), 1, 5, 1, blk_a, sizeof(blk_a));
	frame(c1, sizeof(blk_b), 1, 5, 3, blk_b, sizeof(blk_b));
	frame(s1, 1, 1, 5, 1, st200, 1);
	frame(s1, 1, 1, 5, 3, st200, 1);
	frame(s1, 6, 4, 0, 0, hts0, 6);		/* SETTINGS table size 0 */
	frame(c2, 0, 4, 1, 0, NULL, 0);		/* ACK: the table empties */
	/* B again: index 62 is gone (and no size update came first) */
	frame(c2, sizeof(blk_b), 1, 5, 5, blk_b, sizeof(blk_b));
	frame(s2, 1, 1, 5, 5, st200, 1);
	got = run4(c1, s1, c2, s2);
	/* a stale memo would give stream 5 x-k:v1 as if decoded */
	TT_CHECK(strstr(got, "#3 GET / @a 200 QS qh=x-k:v1\n") != NULL);
	TT_CHECK(strstr(got, "HPACK decoding error in request headers of stream 5") != NULL);
	TT_CHECK(strstr(got, "#5 GET / @a 200 QS qh=x-k:v1") == NULL);
	if (!strstr(got, "HPACK decoding error in request headers of stream 5"))
		fprintf(stderr, "%s", got);
	free(got);
	bld_free(c1);
	bld_free(s1);
	bld_free(c2);
	bld_free(s2);
}

/* HPACK memo of a block that adds entries (memo_sync, http2.c).  X adds
 * x-old:0 (38 bytes), then S - static references only, adding x-a:1 and
 * x-b:2 (36 bytes each; 113 fit the 4,096-byte table) - comes p times:
 * the memo skips nghttp2 for the repeats and defers their entries.  Last,
 * R refers to dynamic index idx.  With shrink, the server first lowers
 * SETTINGS_HEADER_TABLE_SIZE to 1,024 and R starts with the size update
 * the client must then send first.  E adds three empty fields, 32 bytes
 * each: the fewest bytes a repeat can add, which memo_sync() counts on. */
static const uint8_t blk_x[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a', 0x40, 0x05,
				 'x', '-', 'o', 'l', 'd', 0x01, '0' };
static const uint8_t blk_s[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a',
				 0x40, 0x03, 'x', '-', 'a', 0x01, '1',
				 0x40, 0x03, 'x', '-', 'b', 0x01, '2' };

static const uint8_t blk_e[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a', 0x40, 0, 0,
				 0x40, 0, 0, 0x40, 0, 0 };

static char *deferred_blk(const uint8_t *sb, size_t sn, unsigned p,
			  uint32_t idx, bool shrink, bool memo_off)
{
	static const uint8_t hts1k[] = { 0, 1, 0, 0, 4, 0 };
	struct bld *c1 = bld_new(true), *s1 = bld_new(false);
	struct bld *c2 = bld_new(false), *s2 = bld_new(false);
	static const uint8_t get[] = { 0x82, 0x87, 0x84, 0x01, 0x01, 'a' };
	uint8_t r[16];
	size_t rn = 0;
	uint32_t sid = 1;
	char *got;

	frame(c1, sizeof(blk_x), 1, 5, sid, blk_x, sizeof(blk_x));
	frame(s1, 1, 1, 5, sid, st200, 1);
	for (unsigned i = 0; i < p; i++) {
		sid += 2;
		frame(c1, (uint32_t)sn, 1, 5, sid, sb, sn);
		frame(s1, 1, 1, 5, sid, st200, 1);
	}
	if (shrink) {
		frame(s1, 6, 4, 0, 0, hts1k, 6);
		frame(c2, 0, 4, 1, 0, NULL, 0);
		r[rn++] = 0x3f;			/* size update to 1,024 */
		r[rn++] = 0xe1;
		r[rn++] = 0x07;
	}
	memcpy(r + rn, get, sizeof(get));
	rn += sizeof(get);
	if (idx < 127) {
		r[rn++] = (uint8_t)(0x80 | idx);
	} else {
		r[rn++] = 0xff;
		r[rn++] = (uint8_t)(idx - 127);
	}
	sid += 2;
	frame(c2, (uint32_t)rn, 1, 5, sid, r, rn);
	frame(s2, 1, 1, 5, sid, st200, 1);
	h2_memo_off = memo_off;
	got = run4(c1, s1, c2, s2);
	h2_memo_off = false;
	bld_free(c1);
	bld_free(s1);
	bld_free(c2);
	bld_free(s2);
	return got;
}

static char *deferred_run(unsigned p, uint32_t idx, bool shrink, bool memo_off)
{
	return deferred_blk(blk_s, sizeof(blk_s), p, idx, shrink, memo_off);
}

/* The line of the call on R, the last stream. */
static const char *last_line(const char *dump)
{
	const char *l = dump, *nl;

	while ((nl = strchr(l, '\n')) && nl[1])
		l = nl + 1;
	return l;
}

TT_TEST(hpack_memo_deferred_entries)
{
	static const struct {
		unsigned p;
		uint32_t idx;
		const char *want;
	} ex[] = {
		{ 1, 62, " qh=x-b:2\n" },
		{ 1, 63, " qh=x-a:1\n" },
		{ 1, 64, " qh=x-old:0\n" },
		/* 56 repeats: 112 entries, x-old still fits at the bottom */
		{ 56, 174, " qh=x-old:0\n" },
		{ 56, 175, "HPACK decoding error" },
		/* 57 and more: the table is all S's entries */
		{ 57, 174, " qh=x-b:2\n" },
		{ 57, 175, "HPACK decoding error" },
		{ 1000, 173, " qh=x-a:1\n" },
		{ 1000, 174, " qh=x-b:2\n" },
		{ 1000, 175, "HPACK decoding error" },
	};
	static const unsigned ps[] = { 0, 1, 2, 55, 56, 57, 58, 63, 64, 65, 66, 67,
				       200, 1000 };
	static const uint32_t ids[] = { 62, 63, 64, 91, 92, 173, 174, 175, 176 };

	for (size_t i = 0; i < ARRAY_SIZE(ex); i++) {
		char *got = deferred_run(ex[i].p, ex[i].idx, false, false);

		if (!strstr(last_line(got), ex[i].want)) {
			fprintf(stderr, "p=%u idx=%u: %s", ex[i].p, ex[i].idx,
				last_line(got));
			TT_CHECK(false);
		}
		free(got);
	}
	/* the memo against plain decoding, also across a table shrink
	 * (28 entries of 36 bytes fit 1,024: index 89 is the last) */
	for (int shrink = 0; shrink < 2; shrink++)
		for (size_t i = 0; i < ARRAY_SIZE(ps); i++)
			for (size_t j = 0; j < ARRAY_SIZE(ids); j++) {
				char *a = deferred_run(ps[i], ids[j], shrink, false);
				char *b = deferred_run(ps[i], ids[j], shrink, true);

				if (strcmp(a, b))
					fprintf(stderr, "p=%u idx=%u shrink=%d:\nmemo: %snone: %s",
						ps[i], ids[j], shrink, last_line(a),
						last_line(b));
				TT_CHECK(!strcmp(a, b));
				free(a);
				free(b);
			}
	{
		char *a = deferred_run(1000, 89, true, false);
		char *b = deferred_run(1000, 90, true, false);

		if (!strstr(last_line(a), " qh=x-a:1\n"))
			fprintf(stderr, "shrink 89: %s", last_line(a));
		TT_CHECK(strstr(last_line(a), " qh=x-a:1\n") != NULL);
		TT_CHECK(strstr(last_line(b), "HPACK decoding error") != NULL);
		free(a);
		free(b);
	}
	/* 128 empty fields fill the table exactly (indexes 62-189); after
	 * 42 repeats x-old would still be at 188 */
	for (uint32_t idx = 187; idx < 191; idx++) {
		char *a = deferred_blk(blk_e, sizeof(blk_e), 1000, idx, false, false);
		char *b = deferred_blk(blk_e, sizeof(blk_e), 1000, idx, false, true);

		TT_CHECK(!strcmp(a, b));
		TT_CHECK(strstr(last_line(a), idx < 190 ? " qh=:\n" :
				"HPACK decoding error") != NULL);
		free(a);
		free(b);
	}
}

/* Distinct errors on one call stop at CALL_MAX_ERRORS, the last slot
 * saying so. */
TT_TEST(call_errors_bounded)
{
	struct call *c = call_new(NULL);

	TT_REQUIRE(c);
	for (int i = 0; i < 1000; i++)
		call_error(c, "error %d", i);
	TT_EQ_INT(c->nerrors, CALL_MAX_ERRORS);
	EQS(c->errors[0], "error 0");
	EQS(c->errors[CALL_MAX_ERRORS - 2], "error 30");
	EQS(c->errors[CALL_MAX_ERRORS - 1], "more errors (not recorded)");
	call_free(c);
}

TT_TEST(h2c_upgrade)
{
	struct gen g;
	struct sink s = { 0 };
	struct h2c_glue glue = { .s = &s };
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 1000 },
					{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 32768 } };
	uint8_t pl[64];
	char b64[128], req[512];
	ssize_t pn;
	size_t bn = 0;
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct h1_opts o1 = { .body = { .max_keep = 64, .hash = true } };

	gen_init(&g, NULL, NULL);
	pn = nghttp2_pack_settings_payload(pl, sizeof(pl), iv, 2);
	TT_REQUIRE(pn == 12);
	for (ssize_t i = 0; i < pn; i += 3) {	/* 12 bytes: no padding */
		uint32_t v = (uint32_t)pl[i] << 16 | (uint32_t)pl[i + 1] << 8 | pl[i + 2];

		b64[bn++] = t[v >> 18];
		b64[bn++] = t[(v >> 12) & 63];
		b64[bn++] = t[(v >> 6) & 63];
		b64[bn++] = t[v & 63];
	}
	b64[bn] = '\0';
	snprintf(req, sizeof(req), "GET /r/200/40000 HTTP/1.1\r\nHost: api.example\r\n"
		 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
		 "HTTP2-Settings: %s\r\n\r\n", b64);
	gen_raw(&g, 0, req);
	TT_REQUIRE(nghttp2_session_upgrade2(g.cli, pl, (size_t)pn, 0, NULL) == 0);
	TT_REQUIRE(nghttp2_session_upgrade2(g.srv, pl, (size_t)pn, 0, NULL) == 0);
	/* the client's preface goes out before the 101 comes back */
	nghttp2_session_send(g.cli);
	gen_raw(&g, 1, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
	g.delivered[0] = 0;	/* now deliver the client's HTTP/2 bytes */
	{
		/* skip the HTTP/1 request bytes in the server's input */
		g.delivered[0] = strlen(req);
	}
	default_handler(&g, 1, "/r/200/40000");
	gen_req(&g, "GET", "/r/200/9", NULL, 0, 0, 0);
	gen_pump(&g);

	glue.h1 = h1_conn_new(&o1, glue_emit, &glue);
	h1_conn_set_upgrade(glue.h1, glue_upgraded);
	for (int i = 0; i < g.nev; i++) {
		const struct evt *e = &g.ev[i];
		const uint8_t *p = g.w[e->dir].p + e->off;

		if (glue.h2) {
			feed_guarded(glue.h2, e->dir, p, e->len, 60);
		} else {
			uint8_t *gd = tt_guard(p, e->len);

			h1_feed(glue.h1, e->dir, gd, (uint32_t)e->len, 40);
			tt_guard_free(gd);
		}
	}
	h1_conn_free(glue.h1);
	h2_conn_free(glue.h2);
	if (s.n != 2) {
		char *d = dump(&s);

		fprintf(stderr, "%s", d);
		free(d);
	}
	TT_REQUIRE(s.n == 2);
	TT_CALL(sink_sid(&s, 1), "#1 GET /r/200/40000 @api.example 200 QS s=40000:ae7988a1 "
		"qh=Host:api.example,Connection:Upgrade, HTTP2-Settings,Upgrade:h2c,HTTP2-Settings:AAEAAAPoAAUAAIAA "
		"sh=content-type:application/octet-stream,x-server:gen");
	TT_CHECK(body_is(&sink_sid(&s, 1)->resp.body, 1, 40000));
	EQS(sink_sid(&s, 1)->http_version, "2");
	TT_CALL(sink_sid(&s, 3), "#3 GET /r/200/9 @api.example 200 QS s=9:bdbd0162 sh=content-type:application/octet-stream,x-server:gen");
	TT_CHECK(body_is(&sink_sid(&s, 3)->resp.body, 3, 9));
	sink_free(&s);
	gen_free(&g);
}

/* -------------------------------------------------------------- soak */

/* Mutated real conversations, random splits and gaps: never a crash or a
 * leak (ASan), every call carries an error or is internally consistent. */
TT_TEST(mutation_soak)
{
	struct gen g;
	uint32_t rng = 12345;
	nghttp2_nv x[] = { NV("content-type", "application/grpc"), NV("x-a", "1") };

	gen_init(&g, NULL, NULL);
	g.padding = 3;
	gen_req(&g, "POST", "/r/200/300/t", x, 2, 100, 1);
	gen_req(&g, "GET", "/push", NULL, 0, 0, 0);
	gen_req(&g, "GET", "/r/404/20", x + 1, 1, 0, 0);
	g.on_request = push_handler;
	gen_pump(&g);
	for (int iter = 0; iter < 400; iter++) {
		uint8_t *w[2];
		struct sink s = { 0 };
		struct h2_conn *h;
		struct run_opts ro = { .midstream = iter % 5 == 4,
				       .max_streams = iter % 7 == 3 ? 2 : 0 };

		for (int d = 0; d < 2; d++) {
			w[d] = malloc(g.w[d].n);
			memcpy(w[d], g.w[d].p, g.w[d].n);
			for (int k = 0; k < 1 + iter % 4; k++) {
				rng = rng * 1103515245 + 12345;
				w[d][(rng >> 8) % g.w[d].n] ^= (uint8_t)(1u << (rng % 8));
			}
		}
		h = conn_new(&ro, &s);
		for (int i = ro.midstream ? 1 : 0; i < g.nev; i++) {
			const struct evt *e = &g.ev[i];
			size_t off = 0;

			while (off < e->len) {
				size_t k;

				rng = rng * 1103515245 + 12345;
				k = 1 + (rng >> 8) % 64;
				k = MIN(k, e->len - off);
				if ((rng & 0xff) == 7)
					h2_gap(h, e->dir, k, 1);
				else
					feed_guarded(h, e->dir, w[e->dir] + e->off + off, k, 1);
				off += k;
			}
		}
		h2_conn_free(h);
		for (int i = 0; i < s.n; i++) {
			struct call *c = s.c[i];

			/* a clean call has both messages complete */
			if (!c->nerrors && c->stream_id)
				TT_CHECK(c->req.complete && c->resp.complete);
		}
		sink_free(&s);
		free(w[0]);
		free(w[1]);
	}
	gen_free(&g);
}

/* ------------------------------------------------------------ bench */

TT_TEST(bench_small_calls)
{
	struct gen g;
	struct sink s;
	nghttp2_nv x[] = { NV("user-agent", "bench/1.0"), NV("accept", "application/json") };
	struct timespec t0, t1;
	double secs;
	int n = 10000;
	struct h2_conn *h;

	gen_init(&g, NULL, NULL);
	for (int i = 0; i < n; i += 100) {
		for (int k = 0; k < 100; k++)
			gen_req(&g, "GET", "/r/200/64", x, 2, 0, 0);
		gen_pump(&g);
	}
	memset(&s, 0, sizeof(s));
	s.count_only = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h = conn_new(NULL, &s);
	for (int i = 0; i < g.nev; i++)
		h2_feed(h, g.ev[i].dir, g.w[g.ev[i].dir].p + g.ev[i].off,
			(uint32_t)g.ev[i].len, 1);
	h2_conn_free(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	TT_EQ_INT(s.n, n);
	printf("bench: %d small HTTP/2 exchanges (%zu + %zu bytes) in %.3f s: %.0f calls/s (information only)\n",
	       n, g.w[0].n, g.w[1].n, secs, (double)n / secs);
	gen_free(&g);
}

TT_MAIN()
