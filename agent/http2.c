/* http2.c - passive HTTP/2 parser for one connection (see http2.h).
 *
 * Why not nghttp2's session API: a session is one endpoint.  It validates
 * what it receives against what *it* sent, answers (SETTINGS ACK, PING,
 * WINDOW_UPDATE, GOAWAY) and tears the connection down on the first error;
 * an observer sees both directions, must never answer, must keep going
 * where a session would stop, and must start mid-connection.  So the frame
 * layer is ours (a byte-at-a-time-safe state machine, no per-frame
 * allocation) and only HPACK is nghttp2's: one nghttp2_hd_inflater per
 * direction, fed whole header blocks.
 *
 * Owns: per direction the frame state, the header block being gathered
 * (bounded by max_header_bytes, counting 9 bytes per CONTINUATION so empty
 * CONTINUATION floods are bounded too), the inflater, the SETTINGS waiting
 * for their ACK; per connection the open streams (an open-addressing hash
 * on the stream id plus a list in creation order, at most max_streams), a
 * ring of recently reset stream ids (frames still in flight for them are
 * dropped, not errors).  Does not own fed bytes: DATA goes straight to
 * body.c / grpc.c, a header block that sits whole in the fed buffer is
 * decoded in place, only split blocks are copied.
 *
 * One direction's frame layer (dir_feed):
 *
 *   PREFACE --24 bytes--> FHDR --9 bytes, frame_begin()--> PRE --pre_done()-->
 *   (dir 0, unless       ^       (validates length/stream/  (pad length,
 *    midstream)          |        type, CONTINUATION order)  priority, ids,
 *                        |                                   control payload)
 *                        |                CONTENT --content_done()--> PAD
 *                        `--------------------------------------------'
 *   any state --conn_break()--> LOST (both directions, sticky, streams
 *                                     emitted with the error)
 *   any state --dir_lose() (gap outside a DATA payload)--> LOST (this dir)
 *
 * A stream (one call):
 *
 *   HEADERS dir 0 (stream_new) / PUSH_PROMISE dir 1 (pushed, request done)
 *      -> OPEN: DATA -> body; HEADERS dir 1 (1xx skipped, then final,
 *         then trailers); trailers dir 0
 *      -> END_STREAM one way (side_end) -> half -> END_STREAM other way
 *      -> stream_emit()  [also: on_rst(), on_goaway() for ids above
 *         last_stream_id, conn_break(), dir_lose() of both sides,
 *         h2_end(), h2_conn_free()]
 *
 * SETTINGS: what dir D announces governs what the other direction sends.
 * A SETTINGS frame from D is queued; the ACK in the other direction applies
 * it (SETTINGS_HEADER_TABLE_SIZE to the inflater of the other direction,
 * SETTINGS_MAX_FRAME_SIZE to its frame limit).  A larger frame limit is
 * honoured as soon as it is announced (the peer may use it before we see
 * the ACK).  The inflater's table is capped at H2_HPACK_TABLE_CAP.
 *
 * HPACK memo: a client repeating a request (and a server a response)
 * often sends the same block bytes again.  A block is remembered with its
 * decoded fields (H2_MEMO_CAP bytes per direction), and the next block of
 * that direction with the same bytes is not run through nghttp2 but gets
 * those fields, when that is exact (hpack_shape()):
 *  - a block that leaves the table as it was (indexed fields, literals
 *    without indexing) decodes the same while nothing changes the table:
 *    any other block and any table size change clear the memo;
 *  - a block that refers only to the static table decodes the same
 *    whatever the table holds, even if it adds entries (literals with
 *    incremental indexing: nginx sends its response fields so).  Its
 *    repeats' entries are owed to the inflater: memo_sync() runs the
 *    last repeats that can still be in the table through nghttp2 before
 *    the next other block or table size change.
 * A table size update is never remembered.
 *
 * Mid-connection pickup: the inflater starts empty with a large limit.
 * HPACK indexes count from the newest entry, so a block that only refers
 * to entries added since the pickup decodes exactly; one that refers to an
 * older entry fails inside nghttp2, and from then on that direction's
 * headers are "not decodable" (never guessed).  DATA is still counted.
 *
 * Errors put on calls:
 *   "stream reset by client|server: NAME (0xN)"
 *   "stream not processed: GOAWAY from client|server (last_stream_id N, NAME (0xN))"
 *   "connection closed before stream ended"
 *   "gap in HTTP/2 stream"            (direction lost; other side parsed on)
 *   "headers not decodable: HPACK state unknown (capture started mid-connection)"
 *   "request not seen (capture started mid-connection)"
 *   "PUSH_PROMISE not seen (capture started mid-connection)"
 *   "trailers without END_STREAM in request|response",
 *   "another header block after trailers in request|response (not recorded)"
 *       (a stream carries at most one trailer block per side, so repeated
 *       blocks cannot grow a call without bound; they are still decoded to
 *       keep HPACK in step),
 *   "NUL, CR or LF in header field NAME (field not recorded)"
 *       (RFC 9113 8.2.1: malformed; never cut at the NUL),
 *   "invalid :status", "duplicate pseudo-header NAME",
 *   "unknown pseudo-header NAME", "misplaced pseudo-header NAME"
 *   "gRPC message truncated in request|response"
 *   "gap in X body", "decoding error (coding) in X body",
 *   "unsupported content-encoding 'v' in X body; recorded as sent"
 *   "HTTP/2 protocol error: <what>"   connection broken (when no stream
 *       is open to carry it, a call without request or response and
 *       stream_id 0 carries it), e.g.
 *       "invalid connection preface", "frame of N bytes exceeds max frame
 *       size M (TYPE)", "SETTINGS frame length N not a multiple of 6",
 *       "PING frame length N != 8", "WINDOW_UPDATE frame length N != 4",
 *       "RST_STREAM frame length N != 4", "PRIORITY frame length N != 5",
 *       "GOAWAY frame length N < 8", "SETTINGS ACK with a payload",
 *       "TYPE frame on stream 0", "TYPE frame on stream N (must be 0)",
 *       "padding longer than the frame", "CONTINUATION expected for stream
 *       N, got TYPE", "CONTINUATION without HEADERS", "PUSH_PROMISE from
 *       client", "invalid promised stream id N", "stream N reused after
 *       close", "HEADERS from server on idle stream N", "TYPE on idle
 *       stream N", "TYPE on stream N after END_STREAM", "DATA before
 *       HEADERS on stream N", "client HEADERS on even stream N",
 *       "invalid SETTINGS_MAX_FRAME_SIZE N", "invalid SETTINGS_ENABLE_PUSH
 *       N", "invalid SETTINGS_INITIAL_WINDOW_SIZE N",
 *       "HPACK decoding error in X headers of stream N (nghttp2 message)"
 *   "HTTP/2 limit exceeded: <what>"   connection broken:
 *       "header block of stream N exceeds max_header_bytes (M)",
 *       "decoded headers of stream N exceed max_header_bytes (M)",
 *       "too many concurrent streams (limit N)"
 */
#include "http2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "grpc.h"
#include "util.h"

/* recycled blocks (h2_mem) stay visible to ASan builds as freed memory */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

#define H2_DEF_MAX_HEADER (256 * 1024)
#define H2_DEF_MAX_STREAMS 1024
#define H2_MIN_FRAME 16384u
#define H2_MAX_FRAME 16777215u
#define H2_HPACK_DEFAULT 4096u
#define H2_HPACK_TABLE_CAP (1u << 20)
#define H2_PENDING 8		/* SETTINGS awaiting ACK, per direction */
#define H2_RESET_RING 64	/* recently reset stream ids remembered */
#define H2_FHDR 9
#define H2_MEMO_CAP 4096	/* HPACK memo: block + decoded fields */

bool h2_memo_off;

enum {
	F_DATA = 0, F_HEADERS, F_PRIORITY, F_RST, F_SETTINGS, F_PUSH,
	F_PING, F_GOAWAY, F_WINUP, F_CONT,
};

#define FL_END_STREAM 0x01
#define FL_ACK 0x01
#define FL_END_HEADERS 0x04
#define FL_PADDED 0x08
#define FL_PRIORITY 0x20

enum h2_state { S_PREFACE, S_FHDR, S_PRE, S_CONTENT, S_PAD, S_LOST };

/* What a header block decodes into. */
enum h2_target { T_DISCARD, T_REQ, T_RESP, T_TRAILERS, T_PUSH, T_EXTRA };

static const uint8_t preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static const char *const side_name[2] = { "request", "response" };
static const char *const peer_name[2] = { "client", "server" };
static const char HPACK_UNKNOWN[] =
	"headers not decodable: HPACK state unknown (capture started mid-connection)";

struct h2_settings {
	bool has_hts, has_mfs;
	uint32_t hts, mfs;
};

struct h2_stream {
	uint32_t id;
	struct call *c;
	bool ended[2];		/* that side will send nothing more */
	bool hdrs[2];		/* that side's (final) headers were seen */
	bool trailers[2];	/* that side's trailer block was seen */
	bool grpc[2];
	struct grpc_deframer gd[2];
	struct h2_stream *prev, *next;	/* open list, creation order */
};

struct h2_dir {
	enum h2_state st;
	uint8_t preface_n;
	uint8_t fh[H2_FHDR], fh_n;
	uint32_t flen, fsid;
	uint8_t ftype, fflags;
	uint8_t pre[8], pre_n, pre_need;
	uint32_t content_left, content_total, pad_left;
	bool any_frame;		/* a HEADERS/PUSH_PROMISE was seen */
	bool data_live;		/* the DATA frame in progress goes to its
				 * stream (data_begin accepted it): a stream
				 * opened by the other direction while the
				 * frame is read gets none of it */
	/* SETTINGS being parsed, and those sent awaiting the peer's ACK */
	uint8_t set_acc[6], set_n;
	struct h2_settings set_cur;
	struct h2_settings pend[H2_PENDING];
	uint8_t pend_head, pend_n;
	uint32_t max_frame;	/* largest frame this direction may send */
	/* header block in progress */
	bool in_block, blk_direct, blk_skip;
	uint8_t blk_type;
	bool blk_es;
	uint32_t blk_sid, blk_promised;
	uint64_t blk_ts;
	size_t blk_budget;
	uint8_t *hb;
	size_t hb_len, hb_cap;
	nghttp2_hd_inflater *inf;
	/* HPACK memo: memo[0..memo_blk) the block, then memo_n fields as
	 * (u16 name length, u16 value length, u8 enum fkind, name, value) */
	uint8_t *memo;
	uint16_t memo_blk, memo_n;
	uint16_t memo_ins;	/* its literals with incremental indexing */
	bool memo_ok;
	bool memo_bad;		/* replaying its repeats failed (sticky) */
	uint64_t memo_pending;	/* repeats not yet run through inf */
	uint32_t hpack_limit;	/* SETTINGS_HEADER_TABLE_SIZE it runs with */
	bool hpack_unknown;	/* midstream: inflater gave up (sticky) */
	bool lost, ended;
	bool goaway;		/* this direction sent GOAWAY */
	uint32_t goaway_last, goaway_code;
	uint64_t ts, frame_ts;
};

struct h2_conn {
	struct h2_opts o;
	h2_emit_fn emit;
	void *ctx;
	bool midstream;
	char *broken;		/* sticky connection error */
	struct h2_dir d[2];
	struct h2_stream **tab;	/* open addressing, tab_cap a power of 2 */
	uint32_t tab_cap, nopen;
	struct h2_stream *head, *tail, *cache;
	uint32_t last_id[2];	/* highest client stream / promised stream */
	uint32_t reset_ring[H2_RESET_RING];
	uint32_t reset_pos;
};

/* ------------------------------------------------------------ names */

const char *h2_error_name(uint32_t code)
{
	static const char *const n[] = {
		"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR",
		"FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
		"FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
		"COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
		"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
	};

	return code < ARRAY_SIZE(n) ? n[code] : NULL;
}

static const char *frame_name(uint8_t t)
{
	static const char *const n[] = {
		"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
		"PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE",
		"CONTINUATION",
	};

	return t < ARRAY_SIZE(n) ? n[t] : "unknown";
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------ stream table */

static uint32_t slot_of(uint32_t id, uint32_t cap)
{
	return (id * 2654435761u) & (cap - 1);
}

static struct h2_stream *st_find(struct h2_conn *h, uint32_t id)
{
	uint32_t i;

	if (h->cache && h->cache->id == id)
		return h->cache;
	if (!h->tab)
		return NULL;
	for (i = slot_of(id, h->tab_cap); h->tab[i];
	     i = (i + 1) & (h->tab_cap - 1))
		if (h->tab[i]->id == id)
			return h->cache = h->tab[i];
	return NULL;
}

static void st_place(struct h2_stream **tab, uint32_t cap,
		     struct h2_stream *s)
{
	uint32_t i = slot_of(s->id, cap);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = s;
}

static void st_insert(struct h2_conn *h, struct h2_stream *s)
{
	if ((h->nopen + 1) * 2 > h->tab_cap) {
		uint32_t ncap = h->tab_cap ? h->tab_cap * 2 : 16;
		struct h2_stream **nt = xcalloc(ncap, sizeof(*nt));

		for (struct h2_stream *o = h->head; o; o = o->next)
			st_place(nt, ncap, o);
		free(h->tab);
		h->tab = nt;
		h->tab_cap = ncap;
	}
	st_place(h->tab, h->tab_cap, s);
	s->prev = h->tail;
	if (h->tail)
		h->tail->next = s;
	else
		h->head = s;
	h->tail = s;
	h->nopen++;
}

static void st_remove(struct h2_conn *h, struct h2_stream *s)
{
	uint32_t mask = h->tab_cap - 1, i = slot_of(s->id, h->tab_cap), j;

	while (h->tab[i] != s)
		i = (i + 1) & mask;
	h->tab[i] = NULL;
	/* backward-shift deletion: no tombstones */
	for (j = (i + 1) & mask; h->tab[j]; j = (j + 1) & mask) {
		uint32_t k = slot_of(h->tab[j]->id, h->tab_cap);
		bool move = i <= j ? (k <= i || k > j) : (k <= i && k > j);

		if (move) {
			h->tab[i] = h->tab[j];
			h->tab[j] = NULL;
			i = j;
		}
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		h->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		h->tail = s->prev;
	if (h->cache == s)
		h->cache = NULL;
	h->nopen--;
}

static void reset_remember(struct h2_conn *h, uint32_t id)
{
	h->reset_ring[h->reset_pos++ % H2_RESET_RING] = id;
}

static bool reset_recent(const struct h2_conn *h, uint32_t id)
{
	for (int i = 0; i < H2_RESET_RING; i++)
		if (h->reset_ring[i] == id)
			return true;
	return false;
}

/* ------------------------------------------------------ emitting */

static void stream_emit(struct h2_conn *h, struct h2_stream *s)
{
	struct call *c = s->c;

	for (int dir = 0; dir < 2; dir++) {
		struct http_msg *m = dir ? &c->resp : &c->req;

		body_finish(&m->body);
		call_body_errors(c, m, side_name[dir]);
		if (s->grpc[dir] && m->complete && !m->body.gap &&
		    grpc_end(&s->gd[dir]) == -EBADMSG)
			call_error(c, "gRPC message truncated in %s",
				   side_name[dir]);
	}
	st_remove(h, s);
	free(s);
	if (h->emit)
		h->emit(h->ctx, c);
	else
		call_free(c);
}

/* dir's side of s will carry nothing more.  Emits (frees) s when the
 * other side is done too; returns true then. */
static bool side_end(struct h2_conn *h, struct h2_stream *s, int dir,
		     bool complete, const char *err)
{
	struct http_msg *m = dir ? &s->c->resp : &s->c->req;

	if (s->ended[dir])
		return false;
	s->ended[dir] = true;
	if (complete) {
		m->complete = true;
		m->ts_last_ns = h->d[dir].ts;
	} else if (m->body.present) {
		/* the body stops short: no hash of a partial body */
		body_gap(&m->body, 0);
	}
	if (err)
		call_error(s->c, "%s", err);
	if (!s->ended[!dir])
		return false;
	stream_emit(h, s);
	return true;
}

/* Both sides done now, whatever state they were in. */
static void stream_close(struct h2_conn *h, struct h2_stream *s,
			 const char *err)
{
	if (err)
		call_error(s->c, "%s", err);
	if (!s->c->req.complete && s->c->req.body.present)
		body_gap(&s->c->req.body, 0);
	if (!s->c->resp.complete && s->c->resp.body.present)
		body_gap(&s->c->resp.body, 0);
	stream_emit(h, s);
}

/* ------------------------------------------------ breaking and losing */

/* The connection cannot be parsed further: every open stream is emitted
 * with the reason, both directions stop (sticky). */
static void conn_break(struct h2_conn *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_break(struct h2_conn *h, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	if (h->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	h->broken = xstrndup(why, strlen(why));
	for (int dir = 0; dir < 2; dir++) {
		struct h2_dir *d = &h->d[dir];

		d->st = S_LOST;
		d->in_block = false;
		free(d->hb);
		d->hb = NULL;
		d->hb_len = d->hb_cap = 0;
	}
	if (!h->head) {
		/* nothing open to carry it: a record of its own, so a broken
		 * connection is never silent */
		struct call *c = call_new(&h->o.body);

		c->http_version = "2";
		call_error(c, "%s", h->broken);
		if (h->emit)
			h->emit(h->ctx, c);
		else
			call_free(c);
		return;
	}
	while (h->head)
		stream_close(h, h->head, h->broken);
}

#define PROTO "HTTP/2 protocol error: "
#define LIMIT "HTTP/2 limit exceeded: "

/* dir's bytes cannot be followed any more (gap outside a DATA payload):
 * its open sides end with why; the other direction goes on. */
static void dir_lose(struct h2_conn *h, int dir, const char *why)
{
	struct h2_dir *d = &h->d[dir];
	struct h2_stream *s, *next;

	if (d->lost || h->broken)
		return;
	d->lost = true;
	d->st = S_LOST;
	d->in_block = false;
	free(d->hb);
	d->hb = NULL;
	d->hb_len = d->hb_cap = 0;
	if (d->inf) {
		nghttp2_hd_inflate_del(d->inf);
		d->inf = NULL;
		d->memo_ok = false;
		d->memo_pending = 0;
	}
	for (s = h->head; s; s = next) {
		next = s->next;
		if (!s->ended[dir])
			side_end(h, s, dir, false, why);
	}
}

/* ------------------------------------------------------ streams */

/* A stream with call c (or a new call).  NULL when the limit broke the
 * connection (c freed then). */
static struct h2_stream *stream_new(struct h2_conn *h, uint32_t id,
				    struct call *c)
{
	struct h2_stream *s;

	if (h->nopen >= h->o.max_streams) {
		call_free(c);
		conn_break(h, LIMIT "too many concurrent streams (limit %u)",
			   h->o.max_streams);
		return NULL;
	}
	/* malloc + memset: glibc's calloc skips its per-thread cache */
	s = xmalloc(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->c = c ? c : call_new(&h->o.body);
	s->c->http_version = "2";
	s->c->stream_id = id;
	st_insert(h, s);
	/* GOAWAY already said streams above last_stream_id are ignored */
	for (int dir = 0; dir < 2; dir++) {
		const struct h2_dir *d = &h->d[dir];
		bool theirs = dir == 1 ? (id & 1) : !(id & 1);

		if (d->goaway && theirs && id > d->goaway_last)
			call_error(s->c, "stream not processed: GOAWAY from %s (last_stream_id %u, %s (0x%x))",
				   peer_name[dir], d->goaway_last,
				   h2_error_name(d->goaway_code) ?
				   h2_error_name(d->goaway_code) : "unknown",
				   d->goaway_code);
	}
	/* a side that can no longer be parsed is done from the start */
	for (int dir = 0; dir < 2; dir++) {
		if (h->d[dir].lost)
			side_end(h, s, dir, false, "gap in HTTP/2 stream");
		else if (h->d[dir].ended)
			side_end(h, s, dir, false,
				 "connection closed before stream ended");
	}
	return s;
}

static void on_rst(struct h2_conn *h, int dir, uint32_t sid, uint32_t code)
{
	struct h2_stream *s = st_find(h, sid);
	const char *n = h2_error_name(code);
	char why[96];

	reset_remember(h, sid);
	if (!s)
		return;	/* already closed, or opened before the capture */
	snprintf(why, sizeof(why), "stream reset by %s: %s (0x%x)",
		 peer_name[dir], n ? n : "unknown", code);
	stream_close(h, s, why);
}

static void on_goaway(struct h2_conn *h, int dir, uint32_t last,
		      uint32_t code)
{
	struct h2_dir *d = &h->d[dir];
	struct h2_stream *s, *next;
	const char *n = h2_error_name(code);
	char why[128];

	d->goaway = true;
	d->goaway_last = last;
	d->goaway_code = code;
	snprintf(why, sizeof(why), "stream not processed: GOAWAY from %s (last_stream_id %u, %s (0x%x))",
		 peer_name[dir], last, n ? n : "unknown", code);
	/* streams the GOAWAY's receiver initiated, above last */
	for (s = h->head; s; s = next) {
		bool theirs = dir == 1 ? (s->id & 1) : !(s->id & 1);

		next = s->next;
		if (theirs && s->id > last)
			stream_close(h, s, why);
	}
}

/* -------------------------------------------------------- SETTINGS */

static void memo_sync(struct h2_dir *d);

static void inflater_limit(struct h2_dir *d, uint32_t v)
{
	d->hpack_limit = v;
	d->memo_ok = false;	/* a smaller table may evict entries */
	if (!d->inf)
		return;
	memo_sync(d);		/* the repeats were sent under the old size */
	nghttp2_hd_inflate_change_table_size(d->inf,
					     MIN(v, H2_HPACK_TABLE_CAP));
}

/* SETTINGS sent by dir's peer, now in force for what dir sends. */
static void settings_apply(struct h2_dir *d, const struct h2_settings *s)
{
	if (s->has_mfs)
		d->max_frame = s->mfs;
	if (s->has_hts)
		inflater_limit(d, s->hts);
}

static void settings_entry(struct h2_conn *h, int dir, const uint8_t *e)
{
	struct h2_settings *cur = &h->d[dir].set_cur;
	uint16_t id = (uint16_t)(e[0] << 8 | e[1]);
	uint32_t v = be32(e + 2);

	switch (id) {
	case 1:
		cur->has_hts = true;
		cur->hts = v;
		break;
	case 2:
		if (v > 1)
			conn_break(h, PROTO "invalid SETTINGS_ENABLE_PUSH %u", v);
		break;
	case 4:
		if (v > 0x7fffffffu)
			conn_break(h, PROTO "invalid SETTINGS_INITIAL_WINDOW_SIZE %u", v);
		break;
	case 5:
		if (v < H2_MIN_FRAME || v > H2_MAX_FRAME)
			conn_break(h, PROTO "invalid SETTINGS_MAX_FRAME_SIZE %u", v);
		cur->has_mfs = true;
		cur->mfs = v;
		break;
	default:
		break;	/* unknown settings are ignored (RFC 9113 6.5.2) */
	}
}

static void settings_done(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir], *o = &h->d[!dir];

	if (d->fflags & FL_ACK) {
		/* acknowledges the oldest SETTINGS the other side sent */
		if (o->pend_n) {
			settings_apply(d, &o->pend[o->pend_head]);
			o->pend_head = (uint8_t)((o->pend_head + 1) % H2_PENDING);
			o->pend_n--;
		}
		return;
	}
	/* a larger limit may be used before we see the ACK; a smaller one
	 * only binds once acknowledged */
	if (d->set_cur.has_mfs && d->set_cur.mfs > o->max_frame)
		o->max_frame = d->set_cur.mfs;
	if (d->set_cur.has_hts && d->set_cur.hts > o->hpack_limit)
		inflater_limit(o, d->set_cur.hts);
	if (d->pend_n == H2_PENDING) {
		/* never acknowledged: apply the oldest now, best effort */
		settings_apply(o, &d->pend[d->pend_head]);
		d->pend_head = (uint8_t)((d->pend_head + 1) % H2_PENDING);
		d->pend_n--;
	}
	d->pend[(d->pend_head + d->pend_n) % H2_PENDING] = d->set_cur;
	d->pend_n++;
}

/* ---------------------------------------------------- header blocks */

struct hctx {
	struct h2_conn *h;
	struct h2_stream *s;
	struct http_msg *m;
	enum h2_target t;
	int dir;
	bool interim, regular, grpc;
	int codings;
	bool seen[5];		/* :method :scheme :authority :path :status */
};

static void set_pseudo(struct hctx *x, int idx, char **dst, const uint8_t *v,
		       size_t vl, const char *name)
{
	if (x->seen[idx]) {
		call_error(x->s->c, "duplicate pseudo-header %s", name);
		return;
	}
	x->seen[idx] = true;
	if (dst)
		*dst = http_msg_strdup(x->m, v, vl);
}

/* What a header field is to on_field(), from its name alone (and NUL, CR
 * or LF in it): worked out once per field decoded, and kept in the memo
 * for its repeats. */
enum fkind {
	FK_REGULAR, FK_BAD, FK_METHOD, FK_SCHEME, FK_AUTHORITY, FK_PATH,
	FK_PROTOCOL, FK_STATUS, FK_PSEUDO, FK_CODING, FK_CTYPE,
	FK_GRPC_STATUS, FK_GRPC_MESSAGE,
};

static bool name_is(const uint8_t *n, size_t nl, const char *lit, size_t l)
{
	return nl == l && !memcmp(n, lit, l);
}

#define NAME_IS(n, nl, lit) name_is(n, nl, lit, sizeof(lit) - 1)

static enum fkind field_kind(const uint8_t *n, size_t nl, const uint8_t *v,
			     size_t vl)
{
	/* the record's strings end at a NUL */
	if (mem_has_nul_cr_lf(v, vl) || memchr(n, 0, nl))
		return FK_BAD;
	if (nl && n[0] == ':') {
		if (NAME_IS(n, nl, ":method"))
			return FK_METHOD;
		if (NAME_IS(n, nl, ":scheme"))
			return FK_SCHEME;
		if (NAME_IS(n, nl, ":authority"))
			return FK_AUTHORITY;
		if (NAME_IS(n, nl, ":path"))
			return FK_PATH;
		if (NAME_IS(n, nl, ":protocol"))
			return FK_PROTOCOL;
		if (NAME_IS(n, nl, ":status"))
			return FK_STATUS;
		return FK_PSEUDO;
	}
	if (NAME_IS(n, nl, "content-encoding"))
		return FK_CODING;
	if (NAME_IS(n, nl, "content-type"))
		return FK_CTYPE;
	if (NAME_IS(n, nl, "grpc-status"))
		return FK_GRPC_STATUS;
	if (NAME_IS(n, nl, "grpc-message"))
		return FK_GRPC_MESSAGE;
	return FK_REGULAR;
}

static void on_field(struct hctx *x, enum fkind k, const uint8_t *n,
		     size_t nl, const uint8_t *v, size_t vl)
{
	struct call *c;
	bool req;

	if (x->t == T_DISCARD || x->t == T_EXTRA)
		return;
	c = x->s->c;
	/* a field with NUL, CR or LF is left out, and said so, rather than
	 * cut at the NUL */
	if (k == FK_BAD) {
		call_error(c, "NUL, CR or LF in header field %.*s (field not recorded)",
			   (int)strnlen((const char *)n, MIN(nl, 32)), n);
		return;
	}
	req = x->t == T_REQ || x->t == T_PUSH;
	if (k >= FK_METHOD && k <= FK_PSEUDO) {
		if (x->t == T_TRAILERS || x->regular) {
			call_error(c, "misplaced pseudo-header %.*s", (int)MIN(nl, 32), n);
			return;
		}
		if (req && k == FK_METHOD) {
			set_pseudo(x, 0, &x->m->method, v, vl, ":method");
		} else if (req && k == FK_SCHEME) {
			set_pseudo(x, 1, &x->m->scheme, v, vl, ":scheme");
		} else if (req && k == FK_AUTHORITY) {
			set_pseudo(x, 2, &x->m->authority, v, vl, ":authority");
		} else if (req && k == FK_PATH) {
			set_pseudo(x, 3, &x->m->path, v, vl, ":path");
		} else if (req && k == FK_PROTOCOL) {
			/* extended CONNECT (RFC 8441): kept as a field */
			http_msg_add_header(x->m, (const char *)n, nl,
					    (const char *)v, vl);
		} else if (!req && k == FK_STATUS) {
			int st = 0;

			if (vl != 3 || v[0] < '1' || v[0] > '9' ||
			    v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9') {
				call_error(c, "invalid :status");
			} else {
				st = (v[0] - '0') * 100 + (v[1] - '0') * 10 + v[2] - '0';
			}
			if (st >= 100 && st < 200) {
				x->interim = true;	/* 1xx: not recorded */
				return;
			}
			set_pseudo(x, 4, NULL, v, vl, ":status");
			x->m->status = st;
		} else {
			call_error(c, "unknown pseudo-header %.*s", (int)MIN(nl, 32), n);
		}
		return;
	}
	x->regular = true;
	if (x->interim)
		return;
	if (x->t == T_TRAILERS)
		http_msg_add_trailer(x->m, (const char *)n, nl,
				     (const char *)v, vl);
	else
		http_msg_add_header(x->m, (const char *)n, nl,
				    (const char *)v, vl);
	if (x->t != T_TRAILERS && k == FK_CODING) {
		if (x->codings++ == 0)
			body_set_coding(&x->m->body, (const char *)v, vl);
		else
			x->m->body.coding = BODY_UNKNOWN_CODING;
	} else if (x->t != T_TRAILERS && k == FK_CTYPE) {
		x->grpc = grpc_content_type((const char *)v, vl);
	} else if (!req && k == FK_GRPC_STATUS) {
		grpc_set_status(&c->grpc, (const char *)v, vl);
	} else if (!req && k == FK_GRPC_MESSAGE) {
		grpc_set_message(&c->grpc, (const char *)v, vl);
	}
}

/* An HPACK prefix integer (RFC 7541 5.1) at *p; false if cut short or
 * too large. */
static bool hp_int(const uint8_t **p, const uint8_t *end, int prefix,
		   uint32_t *v)
{
	uint32_t mask = (1u << prefix) - 1, m = 0;

	if (*p >= end)
		return false;
	*v = *(*p)++ & mask;
	if (*v < mask)
		return true;
	for (;;) {
		uint8_t c;

		if (*p >= end || m > 21)
			return false;
		c = *(*p)++;
		*v += (uint32_t)(c & 0x7f) << m;
		m += 7;
		if (!(c & 0x80))
			return true;
	}
}

/* An HPACK string literal: skipped. */
static bool hp_skip_str(const uint8_t **p, const uint8_t *end)
{
	uint32_t n;

	if (!hp_int(p, end, 7, &n) || (size_t)(end - *p) < n)
		return false;
	*p += n;
	return true;
}

#define HPACK_STATIC_ENTRIES 61	/* RFC 7541 Appendix A */

/* What a block does with the dynamic table, for the memo. */
struct hp_shape {
	bool dyn;		/* refers to a dynamic table entry */
	uint32_t ins;		/* literals with incremental indexing */
};

/* An index (name or field) of a representation: 0 is a literal name,
 * 1..61 the static table, above that the dynamic table. */
static void hp_ref(struct hp_shape *sh, uint32_t idx)
{
	if (idx > HPACK_STATIC_ENTRIES)
		sh->dyn = true;
}

/* Can a (well-formed) block be remembered, and what does it touch?
 * False for a table size update or anything that does not parse to the
 * end (nghttp2 then decides).  A block with dyn false decodes to the same
 * fields whatever the table holds; one with ins 0 leaves the table as it
 * was. */
static bool hpack_shape(const uint8_t *p, size_t n, struct hp_shape *sh)
{
	const uint8_t *end = p + n;
	uint32_t v;

	sh->dyn = false;
	sh->ins = 0;
	while (p < end) {
		uint8_t c = *p;
		int prefix;

		if (c & 0x80) {			/* indexed field */
			if (!hp_int(&p, end, 7, &v) || v == 0)
				return false;
			hp_ref(sh, v);
			continue;
		}
		if (c & 0x40) {			/* 01: incremental indexing */
			prefix = 6;
			sh->ins++;
		} else if (c & 0x20) {		/* 001: table size update */
			return false;
		} else {			/* 0000, 0001: no indexing */
			prefix = 4;
		}
		if (!hp_int(&p, end, prefix, &v))
			return false;
		if (v == 0 && !hp_skip_str(&p, end))
			return false;
		hp_ref(sh, v);
		if (!hp_skip_str(&p, end))
			return false;
	}
	return (!sh->dyn || !sh->ins) && sh->ins <= UINT16_MAX;
}

/* The memo's fields into x, with the same accounting as a decode. */
static int memo_replay(struct h2_conn *h, const struct h2_dir *d,
		       struct hctx *x)
{
	const uint8_t *p = d->memo + d->memo_blk;
	size_t total = 0;
	/* a plain field of a request or response: what on_field() does */
	bool plain = (x->t == T_REQ || x->t == T_RESP || x->t == T_PUSH);

	for (unsigned i = 0; i < d->memo_n; i++) {
		uint16_t nl, vl;

		memcpy(&nl, p, 2);
		memcpy(&vl, p + 2, 2);
		total += (size_t)nl + vl + 32;
		if (total > h->o.max_header_bytes)
			return -E2BIG;
		if (plain && p[4] == FK_REGULAR && !x->interim) {
			x->regular = true;
			http_msg_add_header(x->m, (const char *)p + 5, nl,
					    (const char *)p + 5 + nl, vl);
		} else {
			on_field(x, (enum fkind)p[4], p + 5, nl, p + 5 + nl,
				 vl);
		}
		p += 5u + nl + vl;
	}
	return 0;
}

/* Decode a block only for what it does to inf's table. */
static int inflate_quiet(nghttp2_hd_inflater *inf, const uint8_t *in,
			 size_t len)
{
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);

		if (rv < 0)
			return (int)rv;
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			return 0;
		}
		in += rv;
		len -= (size_t)rv;
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && len == 0)
			return NGHTTP2_ERR_HEADER_COMP;
	}
}

/* Bring d's table to where the memo's deferred repeats leave it.  Each
 * repeat adds memo_ins entries of at least 32 bytes, so of P repeats only
 * the last k with k * 32 * memo_ins > the table's size can leave entries
 * behind: the table keeps its newest entries up to that size, which then
 * all come from those k.  Running k repeats is exact and never costs
 * more than decoding each one would have. */
static void memo_sync(struct h2_dir *d)
{
	uint64_t k;

	if (!d->memo_pending || !d->inf)
		return;
	k = nghttp2_hd_inflate_get_max_dynamic_table_size(d->inf) /
	    (32u * d->memo_ins) + 1;
	k = MIN(k, d->memo_pending);
	d->memo_pending = 0;
	while (k--)
		if (inflate_quiet(d->inf, d->memo, d->memo_blk)) {
			d->memo_bad = true;
			return;
		}
}

/* Run the block through dir's inflater into x.  0, -EBADMSG (HPACK error,
 * *msg set), -E2BIG (decoded size over max_header_bytes). */
static int inflate_block(struct h2_conn *h, int dir, const uint8_t *in,
			 size_t len, struct hctx *x, const char **msg)
{
	static const uint8_t empty[1];
	struct h2_dir *d = &h->d[dir];
	nghttp2_hd_inflater *inf = d->inf;
	size_t total = 0, used, blen = len;
	const uint8_t *blk;
	struct hp_shape sh = { 0 };
	bool keep;

	if (!in)		/* an empty block gathered nothing: no buffer */
		in = empty;
	blk = in;
	if (d->memo_ok && len == d->memo_blk && !memcmp(in, d->memo, len)) {
		int r = memo_replay(h, d, x);

		if (!r && d->memo_ins)
			d->memo_pending++;	/* its entries: memo_sync() */
		return r;
	}
	memo_sync(d);
	if (d->memo_bad) {
		*msg = "replaying a repeated block failed";
		return -EBADMSG;
	}
	/* this block is remembered if its fields do not depend on what a
	 * repeat would add to the table */
	d->memo_ok = false;
	keep = !h2_memo_off && len <= H2_MEMO_CAP / 4 &&
	       hpack_shape(in, len, &sh) &&
	       (d->memo || (d->memo = malloc(H2_MEMO_CAP)));
	used = len;
	d->memo_n = 0;
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);

		if (rv < 0) {
			*msg = nghttp2_strerror((int)rv);
			return -EBADMSG;
		}
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			/* RFC 9113 6.5.2 accounting: name + value + 32 */
			total += nv.namelen + nv.valuelen + 32;
			if (total > h->o.max_header_bytes)
				return -E2BIG;
			enum fkind k = field_kind(nv.name, nv.namelen,
						  nv.value, nv.valuelen);

			on_field(x, k, nv.name, nv.namelen, nv.value,
				 nv.valuelen);
			if (keep && used + 5 + nv.namelen + nv.valuelen <=
					    H2_MEMO_CAP) {
				uint16_t nl = (uint16_t)nv.namelen,
					 vl = (uint16_t)nv.valuelen;

				memcpy(d->memo + used, &nl, 2);
				memcpy(d->memo + used + 2, &vl, 2);
				d->memo[used + 4] = (uint8_t)k;
				memcpy(d->memo + used + 5, nv.name, nl);
				memcpy(d->memo + used + 5 + nl, nv.value, vl);
				used += 5u + nl + vl;
				d->memo_n++;
			} else {
				keep = false;
			}
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			if (keep) {
				memcpy(d->memo, blk, blen);
				d->memo_blk = (uint16_t)blen;
				d->memo_ins = (uint16_t)sh.ins;
				d->memo_ok = true;
			}
			break;
		}
		in += rv;
		len -= (size_t)rv;
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && len == 0) {
			*msg = "header block ended inside a field";
			return -EBADMSG;
		}
	}
	return 0;
}

/* A stream that an unseen (pre-capture or lost) frame opened, so the
 * side we did not see is done with why. */
static struct h2_stream *stream_unseen(struct h2_conn *h, uint32_t id,
				       int seen_dir, const char *why)
{
	struct h2_stream *s = stream_new(h, id, NULL);

	if (s && !s->ended[!seen_dir])
		side_end(h, s, !seen_dir, false, why);
	return s;
}

/* Which stream and part of the call does a HEADERS block of dir on sid
 * go to?  May create the stream; T_DISCARD with *s NULL when the block is
 * decoded only to keep HPACK in step; -1 when the connection broke. */
static int headers_target(struct h2_conn *h, int dir, uint32_t sid,
			  struct h2_stream **sp)
{
	struct h2_stream *s = st_find(h, sid);
	bool lenient = h->midstream || h->d[!dir].lost;
	const struct h2_dir *o = &h->d[!dir];
	bool is_new;

	*sp = NULL;
	if (s) {
		if (s->ended[dir]) {
			conn_break(h, PROTO "HEADERS on stream %u after END_STREAM", sid);
			return -1;
		}
		*sp = s;
		if (s->trailers[dir]) {
			call_error(s->c, "another header block after trailers in %s (not recorded)",
				   side_name[dir]);
			return T_EXTRA;
		}
		return s->hdrs[dir] ? T_TRAILERS : dir ? T_RESP : T_REQ;
	}
	/* not open: in flight after a reset / GOAWAY, new, or misuse */
	is_new = dir == 0 && (sid & 1) && sid > h->last_id[0];
	if (!is_new && (reset_recent(h, sid) ||
			(o->goaway && sid > o->goaway_last &&
			 (dir == 0) == (sid & 1))))
		return T_DISCARD;
	if (dir == 0) {
		if (!(sid & 1)) {
			conn_break(h, PROTO "client HEADERS on even stream %u", sid);
			return -1;
		}
		if (sid > h->last_id[0]) {
			h->last_id[0] = sid;
			*sp = stream_new(h, sid, NULL);
			return *sp ? T_REQ : -1;
		}
		if (h->midstream)
			return T_DISCARD;	/* trailers of an unseen request */
		conn_break(h, PROTO "stream %u reused after close", sid);
		return -1;
	}
	if (lenient) {
		*sp = stream_unseen(h, sid, 1, h->d[0].lost ? "gap in HTTP/2 stream" :
				    (sid & 1) ? "request not seen (capture started mid-connection)" :
				    "PUSH_PROMISE not seen (capture started mid-connection)");
		if (*sp && !(sid & 1))
			(*sp)->c->pushed = true;
		return *sp ? T_RESP : -1;
	}
	if ((sid & 1) && sid > h->last_id[0])
		conn_break(h, PROTO "HEADERS from server on idle stream %u", sid);
	else if (!(sid & 1) && sid > h->last_id[1])
		conn_break(h, PROTO "HEADERS on idle stream %u", sid);
	else
		conn_break(h, PROTO "stream %u reused after close", sid);
	return -1;
}

/* The header block of dir is complete: in[0..len). */
static void block_decode(struct h2_conn *h, int dir, const uint8_t *in,
			 size_t len)
{
	struct h2_dir *d = &h->d[dir];
	struct hctx x;
	struct h2_stream *s = NULL;
	int t;
	const char *msg = NULL;

	d->in_block = false;
	if (d->blk_skip)
		return;	/* midstream: the block started before the capture */
	memset(&x, 0, sizeof(x));
	if (d->blk_type == F_PUSH) {
		uint32_t pid = d->blk_promised;

		if (!h->midstream && (pid == 0 || (pid & 1) || pid <= h->last_id[1])) {
			conn_break(h, PROTO "invalid promised stream id %u", pid);
			return;
		}
		if (pid > h->last_id[1])
			h->last_id[1] = pid;
		s = st_find(h, pid);
		if (s) {
			conn_break(h, PROTO "invalid promised stream id %u", pid);
			return;
		}
		s = stream_new(h, pid, NULL);
		if (!s)
			return;
		s->c->pushed = true;
		t = T_PUSH;
	} else {
		t = headers_target(h, dir, d->blk_sid, &s);
		if (t < 0)
			return;
	}
	x.h = h;
	x.s = s;
	x.t = s ? (enum h2_target)t : T_DISCARD;
	x.dir = dir;
	if (s && t != T_EXTRA)
		x.m = (t == T_RESP || (t == T_TRAILERS && dir == 1)) ?
		      &s->c->resp : &s->c->req;
	if (d->hpack_unknown) {
		if (s)
			call_error(s->c, "%s", HPACK_UNKNOWN);
	} else {
		int r = inflate_block(h, dir, in, len, &x, &msg);

		if (r && x.m && (r == -E2BIG || !h->midstream))
			http_msg_drop_fields(x.m, t == T_TRAILERS);
		if (r == -E2BIG) {
			conn_break(h, LIMIT "decoded headers of stream %u exceed max_header_bytes (%u)",
				   d->blk_type == F_PUSH ? d->blk_promised : d->blk_sid,
				   h->o.max_header_bytes);
			return;
		}
		if (r == -EBADMSG && !h->midstream) {
			conn_break(h, PROTO "HPACK decoding error in %s headers of stream %u (%s)",
				   side_name[dir], d->blk_sid, msg);
			return;
		}
		if (r == -EBADMSG) {
			/* refers to a table entry from before the capture:
			 * what decoded before the failure is dropped too, a
			 * block is recorded whole or not at all */
			d->hpack_unknown = true;
			nghttp2_hd_inflate_del(d->inf);
			d->inf = NULL;
			d->memo_ok = false;
			d->memo_pending = 0;
			if (s) {
				call_error(s->c, "%s", HPACK_UNKNOWN);
				if (x.m)
					http_msg_drop_fields(x.m, t == T_TRAILERS);
				x.grpc = x.interim = false;
			}
		}
	}
	if (!s)
		return;
	switch (t) {
	case T_PUSH:
		s->c->req.present = true;
		s->c->req.ts_first_ns = d->blk_ts;
		s->hdrs[0] = true;
		if (x.grpc)
			s->grpc[0] = s->grpc[1] = s->c->grpc.present = true;
		side_end(h, s, 0, true, NULL);
		return;	/* the PUSH_PROMISE's END_STREAM flag is not END_STREAM */
	case T_REQ:
		s->c->req.present = true;
		s->c->req.ts_first_ns = d->blk_ts;
		s->hdrs[0] = true;
		if (!s->c->req.authority) {
			const char *host = http_msg_header(&s->c->req, "host");

			if (host)
				s->c->req.authority = http_msg_strdup(&s->c->req, host, strlen(host));
		}
		if (x.grpc)
			s->grpc[0] = s->grpc[1] = s->c->grpc.present = true;
		break;
	case T_RESP:
		if (x.interim && !d->blk_es)
			return;
		s->c->resp.present = true;
		if (!s->c->resp.ts_first_ns)
			s->c->resp.ts_first_ns = d->blk_ts;
		s->hdrs[1] = true;
		if (x.grpc)
			s->grpc[1] = s->c->grpc.present = true;
		break;
	case T_TRAILERS:
		s->trailers[dir] = true;
		if (!d->blk_es)
			call_error(s->c, "trailers without END_STREAM in %s",
				   side_name[dir]);
		break;
	default:
		break;
	}
	if (d->blk_es)
		side_end(h, s, dir, true, NULL);
}

static void block_begin(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir];

	d->in_block = true;
	d->blk_skip = false;
	d->blk_type = d->ftype;
	d->blk_sid = d->fsid;
	d->blk_es = d->ftype == F_HEADERS && (d->fflags & FL_END_STREAM);
	d->blk_promised = d->ftype == F_PUSH ?
		be32(d->pre + ((d->fflags & FL_PADDED) ? 1 : 0)) & 0x7fffffffu : 0;
	d->blk_ts = d->frame_ts;
	d->blk_budget = 0;
	d->hb_len = 0;
	d->any_frame = true;
}

/* Fragment bytes of the block (copied unless decoded in place). */
static void block_append(struct h2_conn *h, int dir, const uint8_t *p,
			 size_t n, bool in_place)
{
	struct h2_dir *d = &h->d[dir];
	size_t max = h->o.max_header_bytes;

	d->blk_budget += n;
	if (d->blk_budget > max) {
		conn_break(h, LIMIT "header block of stream %u exceeds max_header_bytes (%zu)",
			   d->blk_sid, max);
		return;
	}
	if (d->blk_skip)
		return;
	if (in_place) {
		d->blk_direct = true;
		block_decode(h, dir, p, n);
		return;
	}
	if (d->hb_len + n > d->hb_cap) {
		size_t ncap = MAX(d->hb_cap * 2, (size_t)1024);
		uint8_t *nb;

		while (ncap < d->hb_len + n)
			ncap *= 2;
		nb = realloc(d->hb, ncap);
		if (!nb) {
			conn_break(h, LIMIT "header block of stream %u exceeds max_header_bytes (%zu)",
				   d->blk_sid, max);
			return;
		}
		d->hb = nb;
		d->hb_cap = ncap;
	}
	memcpy(d->hb + d->hb_len, p, n);
	d->hb_len += n;
}

/* ----------------------------------------------------- frame layer */

static void data_begin(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir];
	struct h2_stream *s = st_find(h, d->fsid);
	uint32_t sid = d->fsid;

	d->data_live = false;
	if (!s) {
		bool lenient = h->midstream || h->d[!dir].lost;
		int par = (sid & 1) ? 0 : 1;

		if (!lenient && sid > h->last_id[par])
			conn_break(h, PROTO "DATA on idle stream %u", sid);
		return;	/* closed (reset, or before the capture): dropped */
	}
	if (s->ended[dir]) {
		conn_break(h, PROTO "DATA on stream %u after END_STREAM", sid);
		return;
	}
	if (!s->hdrs[dir]) {
		conn_break(h, PROTO "DATA before HEADERS on stream %u", sid);
		return;
	}
	(dir ? &s->c->resp : &s->c->req)->body.present = true;
	d->data_live = true;
}

static void data_bytes(struct h2_conn *h, int dir, const uint8_t *p,
		       size_t n)
{
	struct h2_stream *s = st_find(h, h->d[dir].fsid);
	struct http_msg *m;

	if (!h->d[dir].data_live || !s || s->ended[dir])
		return;
	m = dir ? &s->c->resp : &s->c->req;
	body_feed(&m->body, p, n);
	if (s->grpc[dir])
		grpc_feed(&s->gd[dir], &s->c->grpc, dir, p, n);
}

/* The frame header is complete: validate it. */
static void frame_begin(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir];
	const uint8_t *f = d->fh;
	uint32_t len = (uint32_t)f[0] << 16 | (uint32_t)f[1] << 8 | f[2];
	uint8_t type = f[3], fl = f[4];
	uint32_t sid = be32(f + 5) & 0x7fffffffu;
	uint8_t pre = 0;
	bool padded = false;

	d->flen = len;
	d->ftype = type;
	d->fflags = fl;
	d->fsid = sid;
	if (len > d->max_frame) {
		conn_break(h, PROTO "frame of %u bytes exceeds max frame size %u (%s)",
			   len, d->max_frame, frame_name(type));
		return;
	}
	if (d->in_block && (type != F_CONT || sid != d->blk_sid)) {
		conn_break(h, PROTO "CONTINUATION expected for stream %u, got %s",
			   d->blk_sid, frame_name(type));
		return;
	}
	switch (type) {
	case F_DATA:
	case F_HEADERS:
	case F_PRIORITY:
	case F_RST:
	case F_PUSH:
	case F_CONT:
		if (sid == 0) {
			conn_break(h, PROTO "%s frame on stream 0", frame_name(type));
			return;
		}
		break;
	case F_SETTINGS:
	case F_PING:
	case F_GOAWAY:
		if (sid != 0) {
			conn_break(h, PROTO "%s frame on stream %u (must be 0)",
				   frame_name(type), sid);
			return;
		}
		break;
	default:
		break;
	}
	switch (type) {
	case F_DATA:
		padded = fl & FL_PADDED;
		pre = padded;
		break;
	case F_HEADERS:
		padded = fl & FL_PADDED;
		pre = (uint8_t)(padded + ((fl & FL_PRIORITY) ? 5 : 0));
		break;
	case F_PRIORITY:
		if (len != 5) {
			conn_break(h, PROTO "PRIORITY frame length %u != 5", len);
			return;
		}
		pre = 5;
		break;
	case F_RST:
		if (len != 4) {
			conn_break(h, PROTO "RST_STREAM frame length %u != 4", len);
			return;
		}
		pre = 4;
		break;
	case F_SETTINGS:
		if ((fl & FL_ACK) && len) {
			conn_break(h, PROTO "SETTINGS ACK with a payload");
			return;
		}
		if (len % 6) {
			conn_break(h, PROTO "SETTINGS frame length %u not a multiple of 6", len);
			return;
		}
		memset(&d->set_cur, 0, sizeof(d->set_cur));
		d->set_n = 0;
		break;
	case F_PUSH:
		if (dir == 0) {
			conn_break(h, PROTO "PUSH_PROMISE from client");
			return;
		}
		padded = fl & FL_PADDED;
		pre = (uint8_t)(padded + 4);
		break;
	case F_PING:
		if (len != 8) {
			conn_break(h, PROTO "PING frame length %u != 8", len);
			return;
		}
		pre = 8;
		break;
	case F_GOAWAY:
		if (len < 8) {
			conn_break(h, PROTO "GOAWAY frame length %u < 8", len);
			return;
		}
		pre = 8;
		break;
	case F_WINUP:
		if (len != 4) {
			conn_break(h, PROTO "WINDOW_UPDATE frame length %u != 4", len);
			return;
		}
		pre = 4;
		break;
	case F_CONT:
		if (!d->in_block) {
			if (h->midstream && !d->any_frame) {
				/* the rest of a block begun before the
				 * capture: skipped, and so is its decoding */
				d->in_block = true;
				d->blk_skip = true;
				d->blk_type = F_HEADERS;
				d->blk_sid = sid;
				d->blk_budget = 0;
				d->hb_len = 0;
				break;
			}
			conn_break(h, PROTO "CONTINUATION without HEADERS");
			return;
		}
		/* each frame costs its header too: empty floods are bounded */
		d->blk_budget += H2_FHDR;
		if (d->blk_budget > h->o.max_header_bytes) {
			conn_break(h, LIMIT "header block of stream %u exceeds max_header_bytes (%u)",
				   d->blk_sid, h->o.max_header_bytes);
			return;
		}
		break;
	default:
		break;	/* unknown / extension frames are skipped */
	}
	if (pre > len) {
		conn_break(h, PROTO "%s frame too short (%u bytes)", frame_name(type), len);
		return;
	}
	d->pre_need = pre;
	d->pre_n = 0;
	d->pad_left = 0;
	d->content_left = d->content_total = len - pre;
	d->st = S_PRE;
}

static void content_done(struct h2_conn *h, int dir);

/* Pad length, priority, promised id, control payloads are in d->pre. */
static void pre_done(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir];
	bool padded = (d->ftype == F_DATA || d->ftype == F_HEADERS ||
		       d->ftype == F_PUSH) && (d->fflags & FL_PADDED);

	if (padded) {
		uint32_t pad = d->pre[0];

		if (pad > d->content_left) {
			conn_break(h, PROTO "padding longer than the frame");
			return;
		}
		d->pad_left = pad;
		d->content_left -= pad;
		d->content_total = d->content_left;
	}
	switch (d->ftype) {
	case F_DATA:
		data_begin(h, dir);
		break;
	case F_HEADERS:
	case F_PUSH:
		block_begin(h, dir);
		break;
	case F_RST:
		on_rst(h, dir, d->fsid, be32(d->pre));
		break;
	case F_GOAWAY:
		on_goaway(h, dir, be32(d->pre) & 0x7fffffffu, be32(d->pre + 4));
		break;
	default:
		break;
	}
	if (d->st == S_LOST)
		return;
	d->blk_direct = false;
	if (d->content_left)
		d->st = S_CONTENT;
	else
		content_done(h, dir);
}

static void content(struct h2_conn *h, int dir, const uint8_t *p, size_t n,
		    bool whole)
{
	struct h2_dir *d = &h->d[dir];

	switch (d->ftype) {
	case F_DATA:
		data_bytes(h, dir, p, n);
		break;
	case F_HEADERS:
	case F_PUSH:
	case F_CONT:
		/* the common case: one frame, whole in this buffer */
		block_append(h, dir, p, n, whole && d->hb_len == 0 &&
			     (d->fflags & FL_END_HEADERS));
		break;
	case F_SETTINGS:
		while (n && d->st != S_LOST) {
			size_t k = MIN(n, (size_t)(6 - d->set_n));

			memcpy(d->set_acc + d->set_n, p, k);
			d->set_n = (uint8_t)(d->set_n + k);
			p += k;
			n -= k;
			if (d->set_n == 6) {
				settings_entry(h, dir, d->set_acc);
				d->set_n = 0;
			}
		}
		break;
	default:
		break;	/* GOAWAY debug data, unknown frames */
	}
}

/* The frame's content is over (its padding may follow). */
static void content_done(struct h2_conn *h, int dir)
{
	struct h2_dir *d = &h->d[dir];

	d->st = d->pad_left ? S_PAD : S_FHDR;
	switch (d->ftype) {
	case F_DATA:
		if (d->data_live && (d->fflags & FL_END_STREAM)) {
			struct h2_stream *s = st_find(h, d->fsid);

			if (s && !s->ended[dir])
				side_end(h, s, dir, true, NULL);
		}
		break;
	case F_HEADERS:
	case F_PUSH:
	case F_CONT:
		if ((d->fflags & FL_END_HEADERS) && d->in_block && !d->blk_direct)
			block_decode(h, dir, d->hb, d->hb_len);
		if (d->hb_cap > 65536 && !d->in_block) {
			free(d->hb);	/* a big block was an exception */
			d->hb = NULL;
			d->hb_cap = 0;
		}
		break;
	case F_SETTINGS:
		settings_done(h, dir);
		break;
	default:
		break;
	}
}

static void dir_feed(struct h2_conn *h, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &h->d[dir];

	while (n) {
		size_t k;

		switch (d->st) {
		case S_PREFACE:
			k = MIN(n, sizeof(preface) - d->preface_n);
			if (memcmp(p, preface + d->preface_n, k)) {
				conn_break(h, PROTO "invalid connection preface");
				return;
			}
			d->preface_n = (uint8_t)(d->preface_n + k);
			if (d->preface_n == sizeof(preface))
				d->st = S_FHDR;
			break;
		case S_FHDR:
			if (d->fh_n == 0)
				d->frame_ts = d->ts;
			k = MIN(n, (size_t)(H2_FHDR - d->fh_n));
			memcpy(d->fh + d->fh_n, p, k);
			d->fh_n = (uint8_t)(d->fh_n + k);
			if (d->fh_n == H2_FHDR) {
				d->fh_n = 0;
				frame_begin(h, dir);
				if (d->st == S_PRE && d->pre_need == 0)
					pre_done(h, dir);
			}
			break;
		case S_PRE:
			k = MIN(n, (size_t)(d->pre_need - d->pre_n));
			memcpy(d->pre + d->pre_n, p, k);
			d->pre_n = (uint8_t)(d->pre_n + k);
			if (d->pre_n == d->pre_need)
				pre_done(h, dir);
			break;
		case S_CONTENT:
			k = MIN(n, (size_t)d->content_left);
			content(h, dir, p, k, k == d->content_total);
			if (d->st != S_CONTENT)
				return;	/* broken */
			d->content_left -= (uint32_t)k;
			if (!d->content_left)
				content_done(h, dir);
			break;
		case S_PAD:
			k = MIN(n, (size_t)d->pad_left);
			d->pad_left -= (uint32_t)k;
			if (!d->pad_left)
				d->st = S_FHDR;
			break;
		case S_LOST:
		default:
			return;
		}
		p += k;
		n -= k;
	}
}

/* nghttp2's memory for the inflaters: every field decoded becomes an
 * rcbuf of a few dozen bytes, freed when the next one is asked for - eight
 * malloc/free pairs per call of a small-call capture, most of them past
 * glibc's per-thread cache.  Here: blocks of four size classes kept on
 * free lists (at most H2_FREE_KEEP per class, so what is kept is bounded:
 * 256 KiB with the headers), bigger ones from malloc.  Each block has a 16-byte header
 * holding its class (16: malloc's alignment is kept).  Only the parsing
 * thread decodes HPACK; the lists are per thread anyway. */
#define H2_FREE_KEEP 256
#define H2_CLASSES 4
#define H2_CLASS_BIG 0xff
static const size_t h2_class_size[H2_CLASSES] = { 64, 128, 256, 512 };

union h2_blk {
	union h2_blk *next;		/* on a free list */
	struct {
		uint8_t cls;		/* in use: its class or H2_CLASS_BIG */
	} h;
	char pad[16];
} __attribute__((aligned(16)));
_Static_assert(sizeof(union h2_blk) == 16, "16-byte block header");

static __thread union h2_blk *h2_free[H2_CLASSES];
static __thread unsigned h2_nfree[H2_CLASSES];

static void *h2_malloc(size_t size, void *ud)
{
	union h2_blk *b;
	int c = 0;

	(void)ud;
	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	while (c < H2_CLASSES && size > h2_class_size[c])
		c++;
	if (c < H2_CLASSES && h2_free[c]) {
		b = h2_free[c];
		h2_free[c] = b->next;
		h2_nfree[c]--;
		ASAN_UNPOISON_MEMORY_REGION(b, sizeof(*b) + h2_class_size[c]);
	} else {
		b = malloc(sizeof(*b) + (c < H2_CLASSES ? h2_class_size[c] : size));
		if (!b)
			return NULL;
	}
	b->h.cls = c < H2_CLASSES ? (uint8_t)c : H2_CLASS_BIG;
	return b + 1;
}

static void h2_free_blk(void *ptr, void *ud)
{
	union h2_blk *b;
	int c;

	(void)ud;
	if (!ptr)
		return;
	b = (union h2_blk *)ptr - 1;
	c = b->h.cls;
	if (c == H2_CLASS_BIG || h2_nfree[c] >= H2_FREE_KEEP) {
		free(b);
		return;
	}
	b->next = h2_free[c];
	h2_free[c] = b;
	h2_nfree[c]++;
	/* the list link stays readable; the rest is off limits until reuse */
	ASAN_POISON_MEMORY_REGION((char *)(b + 1), h2_class_size[c]);
}

static void *h2_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = h2_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *h2_realloc(void *ptr, size_t size, void *ud)
{
	union h2_blk *b;
	size_t have = 0;
	void *n;

	if (!ptr)
		return h2_malloc(size, ud);
	b = (union h2_blk *)ptr - 1;
	if (b->h.cls != H2_CLASS_BIG) {
		have = h2_class_size[b->h.cls];
		if (size <= have)
			return ptr;
	} else {
		/* a big block: let realloc move it (its header moves along) */
		union h2_blk *nb = size > SIZE_MAX - sizeof(*b) ? NULL :
				   realloc(b, sizeof(*b) + size);

		return nb ? nb + 1 : NULL;
	}
	n = h2_malloc(size, ud);
	if (!n)
		return NULL;
	memcpy(n, ptr, have);
	h2_free_blk(ptr, ud);
	return n;
}

void h2_thread_cleanup(void)
{
	for (int c = 0; c < H2_CLASSES; c++) {
		while (h2_free[c]) {
			union h2_blk *b = h2_free[c];

			ASAN_UNPOISON_MEMORY_REGION(b, sizeof(*b) + h2_class_size[c]);
			h2_free[c] = b->next;
			free(b);
		}
		h2_nfree[c] = 0;
	}
}

static nghttp2_mem h2_mem = {
	.malloc = h2_malloc,
	.free = h2_free_blk,
	.calloc = h2_calloc,
	.realloc = h2_realloc,
};

/* -------------------------------------------------------------- API */

struct h2_conn *h2_conn_new(const struct h2_opts *o, bool midstream,
			    h2_emit_fn emit, void *ctx)
{
	struct h2_conn *h = xcalloc(1, sizeof(*h));

	if (o)
		h->o = *o;
	if (!h->o.max_header_bytes)
		h->o.max_header_bytes = H2_DEF_MAX_HEADER;
	if (!h->o.max_streams)
		h->o.max_streams = H2_DEF_MAX_STREAMS;
	h->emit = emit;
	h->ctx = ctx;
	h->midstream = midstream;
	for (int dir = 0; dir < 2; dir++) {
		struct h2_dir *d = &h->d[dir];

		d->st = dir == 0 && !midstream ? S_PREFACE : S_FHDR;
		d->max_frame = midstream ? H2_MAX_FRAME : H2_MIN_FRAME;
		d->hpack_limit = H2_HPACK_DEFAULT;
		if (nghttp2_hd_inflate_new2(&d->inf, &h2_mem)) {
			fputs("tapir: error: out of memory\n", stderr);
			abort();
		}
		/* midstream: accept any table size update the encoder makes */
		if (midstream)
			inflater_limit(d, H2_HPACK_TABLE_CAP);
	}
	return h;
}

int h2_feed(struct h2_conn *h, int dir, const uint8_t *p, uint32_t n,
	    uint64_t ts_ns)
{
	if (!h || (dir != 0 && dir != 1) || !n)
		return 0;
	h->d[dir].ts = ts_ns;
	dir_feed(h, dir, p, n);
	return 0;
}

void h2_gap(struct h2_conn *h, int dir, uint64_t n, uint64_t ts_ns)
{
	struct h2_dir *d;

	if (!h || (dir != 0 && dir != 1) || !n)
		return;
	d = &h->d[dir];
	d->ts = ts_ns;
	if (h->broken || d->lost || d->st == S_LOST)
		return;
	/* inside a DATA payload or padding the frame layer stays in step */
	if (d->st == S_CONTENT && d->ftype == F_DATA && n <= d->content_left) {
		struct h2_stream *s = st_find(h, d->fsid);

		if (s && !s->ended[dir]) {
			body_gap(&(dir ? &s->c->resp : &s->c->req)->body, n);
			if (s->grpc[dir])
				grpc_gap(&s->gd[dir]);
		}
		d->content_left -= (uint32_t)n;
		d->content_total = 0;	/* no longer whole */
		if (!d->content_left)
			content_done(h, dir);
		return;
	}
	if (d->st == S_PAD && n <= d->pad_left) {
		d->pad_left -= (uint32_t)n;
		if (!d->pad_left)
			d->st = S_FHDR;
		return;
	}
	dir_lose(h, dir, "gap in HTTP/2 stream");
}

void h2_end(struct h2_conn *h, int dir, int rst, uint64_t ts_ns)
{
	struct h2_dir *d;
	struct h2_stream *s, *next;

	(void)rst;
	if (!h || (dir != 0 && dir != 1))
		return;
	d = &h->d[dir];
	(void)ts_ns;	/* the last frame's time stays the message's end */
	if (d->ended)
		return;
	d->ended = true;
	d->st = S_LOST;
	for (s = h->head; s; s = next) {
		next = s->next;
		if (!s->ended[dir])
			side_end(h, s, dir, false,
				 "connection closed before stream ended");
	}
}

static int b64url_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* HTTP2-Settings (RFC 7540 3.2.1): base64url SETTINGS payload of the
 * client, in force for what the server sends once the 101 is out. */
static void upgrade_settings(struct h2_conn *h, const char *v)
{
	uint8_t e[6];
	uint32_t acc = 0;
	int bits = 0, n = 0;
	struct h2_settings s;

	memset(&s, 0, sizeof(s));
	for (; *v && *v != '='; v++) {
		int x = b64url_val(*v);

		if (x < 0)
			return;	/* not base64url: ignored */
		acc = acc << 6 | (uint32_t)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			e[n++] = (uint8_t)(acc >> bits);
			if (n == 6) {
				uint16_t id = (uint16_t)(e[0] << 8 | e[1]);
				uint32_t val = be32(e + 2);

				if (id == 1) {
					s.has_hts = true;
					s.hts = val;
				} else if (id == 5 && val >= H2_MIN_FRAME &&
					   val <= H2_MAX_FRAME) {
					s.has_mfs = true;
					s.mfs = val;
				}
				n = 0;
			}
		}
	}
	settings_apply(&h->d[1], &s);
}

int h2_conn_upgrade(struct h2_conn *h, struct call *c)
{
	struct h2_stream *s;
	const char *ct, *hs;

	if (!h || !c || h->nopen || h->last_id[0] || h->broken) {
		call_free(c);
		return -EINVAL;
	}
	http_msg_reset(&c->resp, &h->o.body);
	h->last_id[0] = 1;
	s = stream_new(h, 1, c);
	if (!s)
		return -EINVAL;
	s->hdrs[0] = true;
	ct = http_msg_header(&c->req, "content-type");
	if (ct && grpc_content_type(ct, strlen(ct)))
		s->grpc[0] = s->grpc[1] = c->grpc.present = true;
	hs = http_msg_header(&c->req, "http2-settings");
	if (hs)
		upgrade_settings(h, hs);
	/* the request was whole in HTTP/1.1: its side is done */
	s->ended[0] = true;
	return 0;
}

void h2_conn_free(struct h2_conn *h)
{
	if (!h)
		return;
	while (h->head) {
		struct h2_stream *s = h->head;

		for (int dir = 0; dir < 2; dir++)
			if (!s->ended[dir] &&
			    side_end(h, s, dir, false,
				     "connection closed before stream ended"))
				break;
	}
	for (int dir = 0; dir < 2; dir++) {
		free(h->d[dir].hb);
		free(h->d[dir].memo);
		if (h->d[dir].inf)
			nghttp2_hd_inflate_del(h->d[dir].inf);
	}
	free(h->tab);
	free(h->broken);
	free(h);
}
