/* http1.c - passive HTTP/1.0 and 1.1 parser for one connection (http1.h).
 *
 * Owns: one head/line buffer per direction (never more than
 * max_header_bytes), the FIFO of transactions waiting for their response
 * (at most max_pending), and the calls under construction.  Does not own
 * the fed bytes: header fields are copied into the call, body bytes go
 * straight from the caller's buffer to body.c (which keeps a prefix).
 *
 * Per direction (dir 0 requests, dir 1 responses):
 *
 *          skip CR/LF           head_done()          body_len / chunk
 *   START ------------> HEAD ---------------> BODY_LEN | CHUNK_SIZE <-> CHUNK_DATA
 *     ^                  |                     BODY_CLOSE (dir 1)    CHUNK_CRLF
 *     |  msg_done()      |                          |                   | size 0
 *     `------------------+--------------------------+------ TRAILERS <--'
 *                        |  1xx: back to START (interim, not recorded)
 *                        |  101 / CONNECT 2xx: tunnel() -> TUNNEL (both dirs)
 *   dir 0 after an Upgrade/CONNECT request: WAIT_UPGRADE (bytes held, bounded)
 *     until the response: tunnel() or resume_dir0() (held bytes replayed).
 *   lose(): gap outside a known-length body, malformed input, oversize
 *     head -> LOST until the end (no resynchronisation, by design: a wrong
 *     guess would pair responses with the wrong requests).
 *   h1_end() -> CLOSED (close-delimited body completes).
 *
 * Transactions: a request head creates a tx and queues it; a final response
 * head pairs with the oldest queued tx (FIFO, pipelining); the call is
 * emitted when both its request and its response are finished (complete or
 * abandoned, with errors saying why).  When the response direction can no
 * longer be parsed (lost, closed, tunnel, too many pipelined requests) every
 * queued tx is finished with an error and later requests are emitted as
 * soon as they end.  A response with nothing queued becomes a call of its
 * own with "response without matching request".
 *
 * Invariants: no body byte is copied here; a call without errors had every
 * byte of both messages parsed; pairing is never guessed.
 *
 * Errors put on calls (X = request | response):
 *   "gap in X body"            gap inside a Content-Length / chunk /
 *                              close-delimited body (skipped, flagged)
 *   "gap in X headers", "gap in X trailers"           -> direction lost
 *   "malformed request line", "malformed status line",
 *   "malformed X headers", "X headers exceed max_header_bytes (N)",
 *   "invalid Content-Length in X", "conflicting Content-Length values in X",
 *   "both Content-Length and Transfer-Encoding in X",
 *   "unsupported Transfer-Encoding in request", "invalid chunk size in X
 *   body", "invalid chunk framing in X body"        -> direction lost
 *   "response not parsed: <why>"   a later call after the response side
 *                                  was lost
 *   "pairing uncertain after a response without matching request" (every
 *   later call of a connection where one came after requests had been
 *   seen: the directions are out of step, FIFO pairing is not trusted),
 *   "response without matching request", "connection closed before
 *   response", "response incomplete", "request incomplete",
 *   "response body ended by connection reset" (close-delimited + RST),
 *   "too many pipelined requests (limit N); response not parsed",
 *   "protocol upgraded to <Upgrade>; stream not parsed further" (h2c with
 *   an upgrade callback: handed over instead, see h1_conn_set_upgrade),
 *   "CONNECT tunnel established; stream not parsed further",
 *   "unsupported transfer-coding in X body; recorded as sent",
 *   "malformed trailer in X", "decoding error (<coding>) in X body",
 *   "unsupported content-encoding '<v>' in X body; recorded as sent".
 * A lost request side with a request partly seen queues a placeholder call
 * (no method) carrying the error, so the next response pairs with it.
 */
#include "http1.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define H1_DEF_MAX_HEADER (256 * 1024)
#define H1_DEF_MAX_PENDING 1024
#define H1_MAX_LEN ((uint64_t)1 << 62)	/* Content-Length / chunk cap */

enum h1_state {
	H1_START,
	H1_HEAD,
	H1_BODY_LEN,
	H1_CHUNK_SIZE,
	H1_CHUNK_DATA,
	H1_CHUNK_CRLF,
	H1_TRAILERS,
	H1_BODY_CLOSE,
	H1_WAIT_UPGRADE,
	H1_TUNNEL,
	H1_LOST,
	H1_CLOSED,
};

struct h1_tx {
	struct call *c;
	bool req_done, resp_done;
	bool is_head, is_connect, wants_upgrade;
	bool final_seen;	/* final (non-1xx) response head parsed */
};

struct h1_dir {
	enum h1_state st;
	uint8_t *buf;		/* head / line / held bytes */
	size_t len, cap;
	size_t line_len;	/* collect(): bytes of the current line so far */
	uint8_t line_first;	/* ... and its first byte */
	bool checked;		/* start of the head looked plausible */
	bool chunk_cr;		/* CHUNK_CRLF: CR seen */
	uint64_t remain;	/* BODY_LEN / CHUNK_DATA */
	struct h1_tx *cur;	/* message in progress (head parsed) */
	uint64_t ts_first, ts_last;
	/* dir 0, WAIT_UPGRADE */
	struct h1_tx *wait_tx;
	const char *wait_lost;	/* held bytes incomplete (why): no replay */
	bool ended, end_rst;	/* h1_end() arrived while waiting */
	/* dir 1: once set, no response will be parsed; the error later
	 * requests get. */
	char *dead;
};

struct h1_conn {
	struct h1_opts o;
	h1_emit_fn emit;
	void *ctx;
	struct h1_dir d[2];
	struct h1_tx **q;	/* q[qhead..qlen) waiting for a response */
	size_t qhead, qlen, qcap;
	/* A response came with nothing queued after requests had been seen:
	 * the two directions are out of step (a request lost or parsed late),
	 * so FIFO pairing is no longer trusted for the rest of the connection. */
	bool requests_seen, pairing_unsure;
	h1_upgrade_fn upgrade;	/* h2c hand-over, optional */
	struct h1_tx *up_tx;	/* its 101 was just parsed */
};

static const char *const side[2] = { "request", "response" };

static void dir_feed(struct h1_conn *h, int dir, const uint8_t *p, size_t n);

/* ---------------------------------------------------------------- tx */

static void tx_emit(struct h1_conn *h, struct h1_tx *tx)
{
	struct call *c = tx->c;

	body_finish(&c->req.body);
	body_finish(&c->resp.body);
	call_body_errors(c, &c->req, side[0]);
	call_body_errors(c, &c->resp, side[1]);
	free(tx);
	if (h->emit)
		h->emit(h->ctx, c);
	else
		call_free(c);
}

static void tx_try_emit(struct h1_conn *h, struct h1_tx *tx)
{
	if (tx->req_done && tx->resp_done)
		tx_emit(h, tx);
}

static struct h1_tx *tx_new(struct h1_conn *h)
{
	struct h1_tx *tx = xcalloc(1, sizeof(*tx));

	tx->c = call_new(&h->o.body);
	return tx;
}

static struct h1_tx *q_peek(struct h1_conn *h)
{
	return h->qhead < h->qlen ? h->q[h->qhead] : NULL;
}

static void q_pop(struct h1_conn *h)
{
	if (++h->qhead == h->qlen)
		h->qhead = h->qlen = 0;
}

/* Queue tx for a response; 0, or -ENOSPC when max_pending are queued. */
static int q_push(struct h1_conn *h, struct h1_tx *tx)
{
	if (h->qlen - h->qhead >= h->o.max_pending)
		return -ENOSPC;
	if (h->qlen == h->qcap && h->qhead) {
		memmove(h->q, h->q + h->qhead,
			(h->qlen - h->qhead) * sizeof(*h->q));
		h->qlen -= h->qhead;
		h->qhead = 0;
	}
	if (h->qlen == h->qcap) {
		size_t ncap = h->qcap ? h->qcap * 2 : 8;
		struct h1_tx **nq = realloc(h->q, ncap * sizeof(*nq));

		if (!nq)
			return -ENOSPC;
		h->q = nq;
		h->qcap = ncap;
	}
	h->q[h->qlen++] = tx;
	return 0;
}

/* The request of tx ended (complete or not).  May emit (free) tx. */
static void req_finished(struct h1_conn *h, struct h1_tx *tx)
{
	struct h1_dir *d1 = &h->d[1];

	if (h->d[0].cur == tx)
		h->d[0].cur = NULL;
	tx->req_done = true;
	if (!tx->resp_done && d1->dead && d1->cur != tx && q_peek(h) != tx) {
		/* Never queued: the response side was already gone. */
		call_error(tx->c, "%s", d1->dead);
		tx->resp_done = true;
	}
	tx_try_emit(h, tx);
}

/* The response of tx ended.  May emit (free) tx. */
static void resp_finished(struct h1_conn *h, struct h1_tx *tx)
{
	if (q_peek(h) == tx)
		q_pop(h);
	if (h->d[1].cur == tx)
		h->d[1].cur = NULL;
	tx->resp_done = true;
	tx_try_emit(h, tx);
}

/* ------------------------------------------------------ buffering */

static int buf_append(struct h1_dir *d, const uint8_t *p, size_t n,
		      size_t max)
{
	if (n > max || d->len > max - n)
		return -E2BIG;
	if (d->len + n > d->cap) {
		size_t ncap = MAX(d->cap * 2, (size_t)1024);
		uint8_t *nb;

		while (ncap < d->len + n)
			ncap *= 2;
		ncap = MIN(ncap, max);
		nb = realloc(d->buf, ncap);
		if (!nb)
			return -E2BIG;
		d->buf = nb;
		d->cap = ncap;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += n;
	return 0;
}

static void buf_reset(struct h1_dir *d)
{
	d->len = 0;
	d->line_len = 0;
}

static void buf_free(struct h1_dir *d)
{
	free(d->buf);
	d->buf = NULL;
	d->len = d->cap = 0;
	d->line_len = 0;
}

/* Gather bytes up to the end of one line (block false) or of a block that
 * ends with an empty line (block true), scanning with memchr.  Returns 1
 * when complete (*out, *outlen: the whole line/block, in p itself when
 * nothing was buffered, else in d->buf), 0 when all of p was buffered,
 * -E2BIG beyond max.  *used: bytes of p consumed. */
static int collect(struct h1_dir *d, size_t max, bool block,
		   const uint8_t *p, size_t n, const uint8_t **out,
		   size_t *outlen, size_t *used)
{
	size_t i = 0, end = n;
	bool found = false;

	while (i < n) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t k, seg, total;
		uint8_t first;

		if (!nl) {
			if (d->line_len == 0)
				d->line_first = p[i];
			d->line_len += n - i;
			break;
		}
		k = (size_t)(nl - p);
		seg = k - i;
		total = d->line_len + seg;
		first = d->line_len ? d->line_first : seg ? p[i] : 0;
		d->line_len = 0;
		i = k + 1;
		if (!block || total == 0 || (total == 1 && first == '\r')) {
			found = true;
			end = i;
			break;
		}
	}
	if (found && d->len == 0 && end <= max) {
		*out = p;
		*outlen = end;
		*used = end;
		return 1;
	}
	if (buf_append(d, p, end, max))
		return -E2BIG;
	*used = end;
	if (!found)
		return 0;
	*out = d->buf;
	*outlen = d->len;
	return 1;
}

/* Next line of [*pp, end): without its LF and a CR before it. */
static bool next_line(const uint8_t **pp, const uint8_t *end,
		      const uint8_t **line, size_t *len)
{
	const uint8_t *p = *pp, *nl;

	if (p >= end)
		return false;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		nl = end;
	*line = p;
	*len = (size_t)(nl - p);
	if (*len && p[*len - 1] == '\r')
		(*len)--;
	*pp = nl < end ? nl + 1 : end;
	return true;
}

/* ---------------------------------------------------------- syntax */

/* RFC 9110 tchar */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static void trim(const uint8_t **p, size_t *n)
{
	while (*n && is_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && is_ows((*p)[*n - 1]))
		(*n)--;
}

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
	"TRACE", "PATCH",
	/* WebDAV (RFC 4918, 3253, 3648, 3744, 4791, 5323, 5842) */
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
	"SEARCH", "REPORT", "MKCALENDAR", "MKACTIVITY", "CHECKOUT",
	"CHECKIN", "UNCHECKOUT", "VERSION-CONTROL", "MERGE", "LABEL",
	"UPDATE", "MKWORKSPACE", "BASELINE-CONTROL", "ORDERPATCH", "ACL",
	"BIND", "UNBIND", "REBIND",
};

int h1_looks_like_request(const uint8_t *p, uint32_t n)
{
	bool maybe = false;

	if (n == 0)
		return -EAGAIN;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		size_t ml = strlen(methods[i]);

		if (n > ml) {
			if (!memcmp(p, methods[i], ml) && p[ml] == ' ')
				return 1;
		} else if (!memcmp(p, methods[i], n)) {
			maybe = true;	/* "GE", "GET" (space not yet seen) */
		}
	}
	return maybe ? -EAGAIN : 0;
}

int h1_looks_like_response(const uint8_t *p, uint32_t n)
{
	static const char pre[] = "HTTP/1.";
	size_t pl = sizeof(pre) - 1;

	if (memcmp(p, pre, MIN((size_t)n, pl)))
		return 0;
	if (n > pl && (p[pl] < '0' || p[pl] > '9'))
		return 0;
	if (n > pl + 1 && p[pl + 1] != ' ')
		return 0;
	return n > pl + 1 ? 1 : -EAGAIN;
}

/* Is the start of a head plausible?  Requests: a token then SP (any
 * method, not only the known ones); responses: "HTTP/1.".  1 / 0 /
 * -EAGAIN, over the buffered bytes followed by p. */
static int head_start_ok(int dir, const struct h1_dir *d, const uint8_t *p,
			 size_t n)
{
	uint8_t tmp[24];
	size_t t = MIN(d->len, sizeof(tmp));

	if (t)
		memcpy(tmp, d->buf, t);
	if (t < sizeof(tmp)) {
		size_t more = MIN(n, sizeof(tmp) - t);

		memcpy(tmp + t, p, more);
		t += more;
	}
	if (dir == 1) {
		static const char pre[] = "HTTP/1.";
		size_t pl = sizeof(pre) - 1;

		if (memcmp(tmp, pre, MIN(t, pl)))
			return 0;
		return t >= pl ? 1 : -EAGAIN;
	}
	for (size_t i = 0; i < t; i++) {
		if (tmp[i] == ' ')
			return i ? 1 : 0;
		if (!tchar[tmp[i]])
			return 0;
	}
	return t == sizeof(tmp) ? 0 : -EAGAIN;
}

/* Comma-separated Content-Length values (several headers or a list) must
 * all be the same decimal.  0, -EBADMSG (invalid), -EEXIST (conflict). */
static int parse_cl(const char *v, bool *seen, uint64_t *out)
{
	const char *s = v;

	for (;;) {
		uint64_t x = 0;
		size_t digits = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		while (*s >= '0' && *s <= '9') {
			x = x * 10 + (uint64_t)(*s++ - '0');
			if (++digits > 18)
				return -EBADMSG;
		}
		if (!digits)
			return -EBADMSG;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*seen && x != *out)
			return -EEXIST;
		*seen = true;
		*out = x;
		if (!*s)
			return 0;
		if (*s++ != ',')
			return -EBADMSG;
	}
}

/* Last transfer-coding of a Transfer-Encoding value is chunked? */
static bool te_last_chunked(const char *v, bool *others)
{
	const char *last = v, *c;
	size_t n;

	for (c = v; *c; c++)
		if (*c == ',')
			last = c + 1;
	for (c = v; c < last; c++)
		if (*c != ',' && !is_ows((uint8_t)*c)) {
			*others = true;
			break;
		}
	while (is_ows((uint8_t)*last))
		last++;
	n = strlen(last);
	while (n && is_ows((uint8_t)last[n - 1]))
		n--;
	if (n == 7 && !strncasecmp(last, "chunked", 7))
		return true;
	*others = true;
	return false;
}

/* Make *buf (holding `used` bytes) hold at least `need`: doubled. */
static void fold_reserve(char **buf, size_t *cap, size_t used, size_t need)
{
	char *nb;

	if (need <= *cap && *buf)
		return;
	*cap = MAX(MAX(2 * *cap, need), 64);
	nb = xmalloc(*cap);
	if (used)
		memcpy(nb, *buf, used);
	free(*buf);
	*buf = nb;
}

/* Header (or trailer) lines of [p, end) into m; stops at the empty line.
 * Obsolete line folding is unfolded into one SP (RFC 9112 5.2), in one
 * pass: the continuation lines of a field are joined into a buffer grown
 * geometrically (copying the value again per line was quadratic: a 240 KB
 * head of folds cost 0.44 s).  0 or -EBADMSG. */
static int parse_fields(struct http_msg *m, const uint8_t *p,
			const uint8_t *end, bool trailers)
{
	const uint8_t *line;
	size_t len;
	char *fold = NULL;	/* the joined value, when a field folds */
	size_t fcap = 0;
	bool folded;
	int ret = 0;

	while (next_line(&p, end, &line, &len)) {
		const uint8_t *colon, *v, *q = p, *cl;
		size_t nl, vl, cn, fl;

		if (len == 0)
			break;
		if (is_ows(line[0])) {
			ret = -EBADMSG;	/* a continuation with no field */
			break;
		}
		colon = memchr(line, ':', len);
		if (!colon || colon == line) {
			ret = -EBADMSG;
			break;
		}
		nl = (size_t)(colon - line);
		for (size_t i = 0; i < nl; i++)
			if (!tchar[line[i]]) {
				ret = -EBADMSG;
				goto out;
			}
		v = colon + 1;
		vl = len - nl - 1;
		trim(&v, &vl);
		/* NUL or a bare CR would make the copy differ from the wire */
		if (memchr(v, '\0', vl) || memchr(v, '\r', vl)) {
			ret = -EBADMSG;
			break;
		}
		/* continuation lines: v SP line SP line ... */
		folded = false;
		fl = 0;
		while (next_line(&q, end, &cl, &cn) && cn && is_ows(cl[0])) {
			trim(&cl, &cn);
			if (memchr(cl, '\0', cn) || memchr(cl, '\r', cn)) {
				ret = -EBADMSG;
				goto out;
			}
			if (!folded) {
				folded = true;
				fold_reserve(&fold, &fcap, 0, vl);
				memcpy(fold, v, vl);
				fl = vl;
			}
			if (cn) {
				fold_reserve(&fold, &fcap, fl, fl + 1 + cn);
				fold[fl++] = ' ';
				memcpy(fold + fl, cl, cn);
				fl += cn;
			}
			p = q;
		}
		if (folded) {
			v = (const uint8_t *)fold;
			vl = fl;
		}
		if (trailers)
			http_msg_add_trailer(m, (const char *)line, nl,
					     (const char *)v, vl);
		else
			http_msg_add_header(m, (const char *)line, nl,
					    (const char *)v, vl);
	}
out:
	free(fold);
	return ret;
}

enum framing { FR_NONE, FR_LEN, FR_CHUNKED, FR_CLOSE };

/* Decide body framing from m's headers (RFC 9112 6.3).  Sets the content
 * coding.  0 or -EBADMSG with *why set. */
static int msg_framing(struct http_msg *m, int dir, enum framing *fr,
		       uint64_t *len, bool *te_others, const char **why)
{
	bool cl_seen = false, te_seen = false, chunked = false;
	int ce = 0;

	*te_others = false;
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct hdr *hd = &m->hdrs[i];

		if (!strcasecmp(hd->name, "content-length")) {
			int r = parse_cl(hd->value, &cl_seen, len);

			if (r == -EEXIST) {
				*why = "conflicting Content-Length values in";
				return -EBADMSG;
			}
			if (r) {
				*why = "invalid Content-Length in";
				return -EBADMSG;
			}
		} else if (!strcasecmp(hd->name, "transfer-encoding")) {
			if (te_seen)
				*te_others = true;	/* chunked must be last of all */
			te_seen = true;
			chunked = te_last_chunked(hd->value, te_others);
		} else if (!strcasecmp(hd->name, "content-encoding")) {
			if (ce++ == 0)
				body_set_coding(&m->body, hd->value,
						strlen(hd->value));
			else
				m->body.coding = BODY_UNKNOWN_CODING;
		}
	}
	if (cl_seen && te_seen) {
		*why = "both Content-Length and Transfer-Encoding in";
		return -EBADMSG;
	}
	if (cl_seen && *len >= H1_MAX_LEN) {
		*why = "invalid Content-Length in";
		return -EBADMSG;
	}
	if (te_seen && chunked) {
		*fr = FR_CHUNKED;
	} else if (te_seen) {
		if (dir == 0) {
			*why = "unsupported Transfer-Encoding in";
			return -EBADMSG;
		}
		*fr = FR_CLOSE;
	} else if (cl_seen) {
		*fr = FR_LEN;
	} else {
		*fr = dir ? FR_CLOSE : FR_NONE;
	}
	return 0;
}

/* chunk-size [ BWS ; chunk-ext ] : 0 or -EBADMSG. */
static int parse_chunk_size(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	for (; i < n; i++) {
		uint8_t c = p[i];
		unsigned dgt;

		if (c >= '0' && c <= '9')
			dgt = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			dgt = (c | 0x20) - 'a' + 10;
		else
			break;
		if (i >= 15)
			return -EBADMSG;
		v = v << 4 | dgt;
	}
	if (i == 0)
		return -EBADMSG;
	while (i < n && is_ows(p[i]))
		i++;
	if (i < n && p[i] != ';')
		return -EBADMSG;
	*out = v;
	return 0;
}

/* ----------------------------------------------------- state changes */

static void kill_dir1(struct h1_conn *h, const char *cur_err,
		      const char *head_err, const char *rest_err);

/* More than max_pending requests wait for a response: stop parsing
 * responses (pairing would be guessed otherwise); every waiting call and
 * every later one says so.  Memory stays bounded. */
static void pipeline_overflow(struct h1_conn *h)
{
	char e[96];

	snprintf(e, sizeof(e), "too many pipelined requests (limit %u); response not parsed",
		 h->o.max_pending);
	kill_dir1(h, e, e, e);
	h->d[1].st = H1_LOST;
	buf_free(&h->d[1]);
}

/* Stop parsing dir for good; the calls affected carry why. */
static void lose(struct h1_conn *h, int dir, bool placeholder,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void lose(struct h1_conn *h, int dir, bool placeholder,
		 const char *fmt, ...)
{
	struct h1_dir *d = &h->d[dir];
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (dir == 0) {
		struct h1_tx *tx = d->cur;

		if (!tx && placeholder) {
			/* A request was (at least partly) there: queue a call
			 * for it so its response pairs with it, not with the
			 * next request. */
			tx = tx_new(h);
			tx->c->req.ts_first_ns = d->ts_first;
			if (!h->d[1].dead && q_push(h, tx))
				pipeline_overflow(h);
		}
		if (tx) {
			call_error(tx->c, "%s", why);
			tx->c->req.ts_last_ns = d->ts_last;
			body_finish(&tx->c->req.body);
			req_finished(h, tx);
		}
		d->cur = NULL;
		d->st = H1_LOST;
		buf_free(d);
		return;
	}
	{
		char rest[200];

		snprintf(rest, sizeof(rest), "response not parsed: %s", why);
		kill_dir1(h, why, why, rest);
	}
	d->st = H1_LOST;
	buf_free(d);
}

/* Bytes held while waiting for an upgrade decision are HTTP after all. */
static void resume_dir0(struct h1_conn *h)
{
	struct h1_dir *d = &h->d[0];
	uint8_t *held = d->buf;
	size_t n = d->len;
	const char *gap = d->wait_lost;
	bool ended = d->ended, rst = d->end_rst;

	if (d->st != H1_WAIT_UPGRADE)
		return;
	d->buf = NULL;
	d->len = d->cap = d->line_len = 0;
	d->wait_tx = NULL;
	d->wait_lost = NULL;
	d->ended = false;
	d->st = H1_START;
	if (n)
		dir_feed(h, 0, held, n);
	free(held);
	/* The held bytes were whole; what followed them was not. */
	if (gap && (d->st == H1_START || d->st == H1_HEAD))
		lose(h, 0, true, "%s", gap);
	else if (gap && d->st == H1_WAIT_UPGRADE)
		d->wait_lost = gap;
	else if (gap && d->st != H1_LOST && d->st != H1_TUNNEL &&
		 d->st != H1_CLOSED)
		lose(h, 0, false, "%s", gap);
	if (ended)
		h1_end(h, 0, rst, d->ts_last);
}

/* The response direction will parse nothing more: finish every queued tx.
 * cur_err: the response in progress; head_err: the oldest queued tx when no
 * response is in progress; rest_err: every other one and, from now on,
 * every new request.  NULL: no error for that one. */
static void kill_dir1(struct h1_conn *h, const char *cur_err,
		      const char *head_err, const char *rest_err)
{
	struct h1_dir *d = &h->d[1];
	struct h1_tx *tx;
	bool first = true;

	if (!d->dead)
		d->dead = xstrndup(rest_err, strlen(rest_err));
	if ((tx = d->cur)) {
		if (cur_err)
			call_error(tx->c, "%s", cur_err);
		tx->c->resp.ts_last_ns = d->ts_last;
		first = false;
		resp_finished(h, tx);
	} else if (d->st == H1_HEAD && !q_peek(h)) {
		first = false;	/* a partial orphan response: nothing to pin */
	} else if (d->st != H1_HEAD && d->st != H1_START) {
		first = false;
	}
	while ((tx = q_peek(h))) {
		const char *e = first ? (d->st == H1_HEAD ? cur_err : head_err)
				      : rest_err;

		if (e)
			call_error(tx->c, "%s", e);
		first = false;
		resp_finished(h, tx);
	}
	if (h->d[0].st == H1_WAIT_UPGRADE)
		resume_dir0(h);
}

/* Protocol switched (101, CONNECT 2xx): neither direction is HTTP/1 any
 * more.  tx's response head is complete. */
static void tunnel(struct h1_conn *h, struct h1_tx *tx, const char *note)
{
	struct h1_dir *d0 = &h->d[0], *d1 = &h->d[1];

	call_error(tx->c, "%s", note);
	tx->c->resp.complete = true;
	tx->c->resp.ts_last_ns = d1->ts_last;
	if (d0->cur && d0->cur != tx) {
		call_error(d0->cur->c, "request not parsed further: protocol switched");
		req_finished(h, d0->cur);
	}
	if (d0->cur == tx) {
		tx->c->req.ts_last_ns = d0->ts_last;
		req_finished(h, tx);	/* not emitted yet: resp not done */
	}
	d0->st = H1_TUNNEL;
	d0->wait_tx = NULL;
	buf_free(d0);
	resp_finished(h, tx);
	d1->st = H1_TUNNEL;
	kill_dir1(h, NULL, "response not parsed: protocol switched",
		  "response not parsed: protocol switched");
	d1->st = H1_TUNNEL;
}

/* The 101 of an h2c upgrade was parsed: hand the request's call and the
 * bytes that follow it (both directions) to the upgrade callback; both
 * directions become TUNNEL. */
static void h2c_switch(struct h1_conn *h, const uint8_t *rest, size_t nrest)
{
	struct h1_tx *tx = h->up_tx;
	struct h1_dir *d0 = &h->d[0], *d1 = &h->d[1];
	uint8_t *held = d0->buf;
	size_t nheld = d0->len;
	struct call *c = tx->c;

	h->up_tx = NULL;
	d0->buf = NULL;
	d0->len = d0->cap = d0->line_len = 0;
	d0->wait_tx = NULL;
	d0->st = H1_TUNNEL;
	c->resp.complete = true;
	c->resp.ts_last_ns = d1->ts_last;
	if (q_peek(h) == tx)
		q_pop(h);
	d1->cur = NULL;
	free(tx);
	d1->st = H1_TUNNEL;
	kill_dir1(h, NULL, "response not parsed: protocol switched",
		  "response not parsed: protocol switched");
	d1->st = H1_TUNNEL;
	buf_free(d1);
	h->upgrade(h->ctx, c, held, nheld, rest, nrest);
	free(held);
}

/* The message in progress on dir reached the end of its framing. */
static void msg_done(struct h1_conn *h, int dir, bool complete)
{
	struct h1_dir *d = &h->d[dir];
	struct h1_tx *tx = d->cur;
	struct http_msg *m = dir ? &tx->c->resp : &tx->c->req;

	m->complete = complete;
	m->ts_last_ns = d->ts_last;
	body_finish(&m->body);
	d->st = H1_START;
	buf_reset(d);
	if (dir == 0) {
		bool wait = (tx->wants_upgrade || tx->is_connect) &&
			    !tx->final_seen && !h->d[1].dead;

		if (wait) {
			d->st = H1_WAIT_UPGRADE;
			d->wait_tx = tx;
			d->wait_lost = NULL;
		}
		req_finished(h, tx);
	} else {
		resp_finished(h, tx);
	}
}

/* Start the body of the message whose head was just parsed. */
static void body_start(struct h1_conn *h, int dir, enum framing fr,
		       uint64_t len)
{
	struct h1_dir *d = &h->d[dir];
	struct http_msg *m = dir ? &d->cur->c->resp : &d->cur->c->req;

	switch (fr) {
	case FR_NONE:
		msg_done(h, dir, true);
		return;
	case FR_LEN:
		m->body.present = true;
		if (len == 0) {
			msg_done(h, dir, true);
			return;
		}
		d->remain = len;
		d->st = H1_BODY_LEN;
		return;
	case FR_CHUNKED:
		m->body.present = true;
		d->st = H1_CHUNK_SIZE;
		return;
	case FR_CLOSE:
		m->body.present = true;
		d->st = H1_BODY_CLOSE;
		return;
	}
}

static void request_head(struct h1_conn *h, const uint8_t *p, size_t n)
{
	struct h1_dir *d = &h->d[0];
	const uint8_t *end = p + n, *line, *sp1, *sp2;
	size_t len, ml, tl;
	struct h1_tx *tx;
	struct call *c;
	enum framing fr;
	uint64_t clen = 0;
	bool te_others;
	const char *why, *host;

	next_line(&p, end, &line, &len);
	sp1 = memchr(line, ' ', len);
	if (!sp1 || sp1 == line) {
		lose(h, 0, true, "malformed request line");
		return;
	}
	ml = (size_t)(sp1 - line);
	for (size_t i = 0; i < ml; i++)
		if (!tchar[line[i]]) {
			lose(h, 0, true, "malformed request line");
			return;
		}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1));
	tl = sp2 ? (size_t)(sp2 - sp1 - 1) : 0;
	if (!sp2 || tl == 0 || line + len - sp2 - 1 != 8 ||
	    memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1')) {
		lose(h, 0, true, "malformed request line");
		return;
	}
	for (size_t i = 0; i < tl; i++)
		if (sp1[1 + i] <= ' ' || sp1[1 + i] == 0x7f) {
			lose(h, 0, true, "malformed request line");
			return;
		}
	tx = tx_new(h);
	c = tx->c;
	c->http_version = sp2[8] == '0' ? "1.0" : "1.1";
	c->req.present = true;
	c->req.method = http_msg_strdup(&c->req, line, ml);
	c->req.path = http_msg_strdup(&c->req, sp1 + 1, tl);
	c->req.ts_first_ns = d->ts_first;
	tx->is_head = !strcmp(c->req.method, "HEAD");
	tx->is_connect = !strcmp(c->req.method, "CONNECT");
	d->cur = tx;
	h->requests_seen = true;
	if (!h->d[1].dead && q_push(h, tx))
		pipeline_overflow(h);
	if (parse_fields(&c->req, p, end, false)) {
		lose(h, 0, false, "malformed request headers");
		return;
	}
	if (msg_framing(&c->req, 0, &fr, &clen, &te_others, &why)) {
		lose(h, 0, false, "%s request", why);
		return;
	}
	if (te_others)
		call_error(c, "unsupported transfer-coding in request body; recorded as sent");
	host = http_msg_header(&c->req, "host");
	if (host)
		c->req.authority = http_msg_strdup(&c->req, host, strlen(host));
	else if (tx->is_connect)
		c->req.authority = http_msg_strdup(&c->req, c->req.path, tl);
	tx->wants_upgrade = http_msg_header(&c->req, "upgrade") != NULL;
	body_start(h, 0, fr, clen);
}

static void response_head(struct h1_conn *h, const uint8_t *p, size_t n)
{
	struct h1_dir *d = &h->d[1];
	const uint8_t *end = p + n, *line;
	size_t len;
	int status;
	struct h1_tx *tx;
	struct call *c;
	enum framing fr;
	uint64_t clen = 0;
	bool te_others, resume;
	const char *why;

	next_line(&p, end, &line, &len);
	if (len < 12 || memcmp(line, "HTTP/1.", 7) || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ' || line[9] < '1' ||
	    line[9] > '9' || line[10] < '0' || line[10] > '9' ||
	    line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' ')) {
		lose(h, 1, false, "malformed status line");
		return;
	}
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + line[11] - '0';
	tx = q_peek(h);
	if (status < 200 && status != 101) {
		/* Interim (100 Continue, 103 Early Hints): not recorded; the
		 * final response follows. */
		d->st = H1_START;
		buf_reset(d);
		return;
	}
	if (!tx) {
		tx = tx_new(h);
		call_error(tx->c, "response without matching request");
		tx->req_done = true;
		h->pairing_unsure |= h->requests_seen;
	} else if (h->pairing_unsure) {
		call_error(tx->c, "pairing uncertain after a response without "
				  "matching request");
	}
	c = tx->c;
	d->cur = tx;
	tx->final_seen = true;
	if (!c->http_version)
		c->http_version = line[7] == '0' ? "1.0" : "1.1";
	c->resp.present = true;
	c->resp.status = status;
	c->resp.ts_first_ns = d->ts_first;
	if (parse_fields(&c->resp, p, end, false)) {
		lose(h, 1, false, "malformed response headers");
		return;
	}
	resume = h->d[0].wait_tx == tx;
	if (status == 101) {
		const char *up = http_msg_header(&c->resp, "upgrade");
		char note[128];

		if (!up)
			up = http_msg_header(&c->req, "upgrade");
		if (h->upgrade && up && !strcasecmp(up, "h2c") &&
		    h->d[0].st == H1_WAIT_UPGRADE && h->d[0].wait_tx == tx &&
		    !h->d[0].wait_lost) {
			h->up_tx = tx;	/* dir_feed hands over, with the rest */
			return;
		}
		snprintf(note, sizeof(note), "protocol upgraded to %.48s; stream not parsed further",
			 up && *up ? up : "unknown protocol");
		tunnel(h, tx, note);
		return;
	}
	if (tx->is_connect && status < 300) {
		tunnel(h, tx, "CONNECT tunnel established; stream not parsed further");
		return;
	}
	if (tx->is_head || status == 204 || status == 304) {
		fr = FR_NONE;
		/* still note the coding for completeness */
		for (size_t i = 0; i < c->resp.nhdrs; i++)
			if (!strcasecmp(c->resp.hdrs[i].name, "content-encoding"))
				body_set_coding(&c->resp.body, c->resp.hdrs[i].value,
						strlen(c->resp.hdrs[i].value));
	} else if (msg_framing(&c->resp, 1, &fr, &clen, &te_others, &why)) {
		lose(h, 1, false, "%s response", why);
		return;
	} else if (te_others) {
		call_error(c, "unsupported transfer-coding in response body; recorded as sent");
	}
	body_start(h, 1, fr, clen);
	if (resume)
		resume_dir0(h);
}

static void trailers_done(struct h1_conn *h, int dir, const uint8_t *p,
			  size_t n)
{
	struct h1_dir *d = &h->d[dir];
	struct call *c = d->cur->c;
	struct http_msg *m = dir ? &c->resp : &c->req;

	if (parse_fields(m, p, p + n, true))
		call_error(c, "malformed trailer in %s", side[dir]);
	msg_done(h, dir, true);
}

static void body_bytes(struct h1_dir *d, int dir, const uint8_t *p, size_t n)
{
	struct call *c = d->cur->c;

	body_feed(dir ? &c->resp.body : &c->req.body, p, n);
}

/* ------------------------------------------------------------ driver */

static void dir_feed(struct h1_conn *h, int dir, const uint8_t *p, size_t n)
{
	struct h1_dir *d = &h->d[dir];
	size_t max = h->o.max_header_bytes;

	while (n) {
		const uint8_t *blk;
		size_t blen, used, m;
		int r;

		switch (d->st) {
		case H1_START:
			while (n && (*p == '\r' || *p == '\n')) {
				p++;
				n--;
			}
			if (!n)
				return;
			if (d->cap > 16384)
				buf_free(d);	/* a big head was an exception */
			d->st = H1_HEAD;
			d->ts_first = d->ts_last;
			d->checked = false;
			buf_reset(d);
			break;
		case H1_HEAD:
			if (!d->checked) {
				r = head_start_ok(dir, d, p, n);
				if (r == 0) {
					lose(h, dir, true, dir ? "malformed status line" :
					     "malformed request line");
					return;
				}
				d->checked = r == 1;
			}
			r = collect(d, max, true, p, n, &blk, &blen, &used);
			if (r < 0) {
				lose(h, dir, true, "%s headers exceed max_header_bytes (%zu)",
				     side[dir], max);
				return;
			}
			p += used;
			n -= used;
			if (r == 0)
				return;
			if (dir == 0)
				request_head(h, blk, blen);
			else
				response_head(h, blk, blen);
			if (h->up_tx) {
				h2c_switch(h, p, n);
				return;
			}
			if (d->st != H1_LOST)
				buf_reset(d);
			break;
		case H1_BODY_LEN:
		case H1_CHUNK_DATA:
			m = (size_t)MIN((uint64_t)n, d->remain);
			body_bytes(d, dir, p, m);
			p += m;
			n -= m;
			d->remain -= m;
			if (d->remain)
				return;
			if (d->st == H1_BODY_LEN) {
				msg_done(h, dir, true);
			} else {
				d->st = H1_CHUNK_CRLF;
				d->chunk_cr = false;
			}
			break;
		case H1_CHUNK_SIZE: {
			uint64_t sz;

			r = collect(d, max, false, p, n, &blk, &blen, &used);
			if (r == 0)
				return;
			if (r < 0 || parse_chunk_size(blk, blen, &sz)) {
				lose(h, dir, false, "invalid chunk size in %s body",
				     side[dir]);
				return;
			}
			p += used;
			n -= used;
			buf_reset(d);
			if (sz) {
				d->remain = sz;
				d->st = H1_CHUNK_DATA;
			} else {
				d->st = H1_TRAILERS;
			}
			break;
		}
		case H1_CHUNK_CRLF:
			if (*p == '\r' && !d->chunk_cr) {
				d->chunk_cr = true;
			} else if (*p == '\n') {
				d->st = H1_CHUNK_SIZE;
				buf_reset(d);
			} else {
				lose(h, dir, false, "invalid chunk framing in %s body",
				     side[dir]);
				return;
			}
			p++;
			n--;
			break;
		case H1_TRAILERS:
			r = collect(d, max, true, p, n, &blk, &blen, &used);
			if (r < 0) {
				lose(h, dir, false, "%s trailers exceed max_header_bytes (%zu)",
				     side[dir], max);
				return;
			}
			p += used;
			n -= used;
			if (r == 0)
				return;
			trailers_done(h, dir, blk, blen);
			break;
		case H1_BODY_CLOSE:
			body_bytes(d, dir, p, n);
			return;
		case H1_WAIT_UPGRADE:
			if (!d->wait_lost && buf_append(d, p, n, max)) {
				d->wait_lost = "request bytes sent before the upgrade response exceed max_header_bytes";
				buf_free(d);
			}
			return;
		case H1_TUNNEL:
		case H1_LOST:
		case H1_CLOSED:
			return;
		}
	}
}

struct h1_conn *h1_conn_new(const struct h1_opts *o, h1_emit_fn emit,
			    void *ctx)
{
	struct h1_conn *h = xcalloc(1, sizeof(*h));

	if (o)
		h->o = *o;
	if (!h->o.max_header_bytes)
		h->o.max_header_bytes = H1_DEF_MAX_HEADER;
	if (!h->o.max_pending)
		h->o.max_pending = H1_DEF_MAX_PENDING;
	h->emit = emit;
	h->ctx = ctx;
	return h;
}

void h1_conn_set_upgrade(struct h1_conn *h, h1_upgrade_fn fn)
{
	if (h)
		h->upgrade = fn;
}

int h1_feed(struct h1_conn *h, int dir, const uint8_t *p, uint32_t n,
	    uint64_t ts_ns)
{
	if (!h || (dir != 0 && dir != 1) || !n)
		return 0;
	h->d[dir].ts_last = ts_ns;
	dir_feed(h, dir, p, n);
	return 0;
}

void h1_gap(struct h1_conn *h, int dir, uint64_t n, uint64_t ts_ns)
{
	struct h1_dir *d;
	struct http_msg *m;

	if (!h || (dir != 0 && dir != 1) || !n)
		return;
	d = &h->d[dir];
	d->ts_last = ts_ns;
	m = d->cur ? (dir ? &d->cur->c->resp : &d->cur->c->req) : NULL;
	switch (d->st) {
	case H1_BODY_LEN:
		if (n < d->remain) {
			body_gap(&m->body, n);
			d->remain -= n;
			return;
		}
		body_gap(&m->body, d->remain);
		n -= d->remain;
		d->remain = 0;
		msg_done(h, dir, true);
		if (n && d->st == H1_WAIT_UPGRADE) {
			d->wait_lost = "gap in request headers";
			buf_free(d);
		} else if (n) {
			lose(h, dir, true, "gap in %s headers", side[dir]);
		}
		return;
	case H1_CHUNK_DATA:
		if (n <= d->remain) {
			body_gap(&m->body, n);
			d->remain -= n;
			if (!d->remain) {
				d->st = H1_CHUNK_CRLF;
				d->chunk_cr = false;
			}
			return;
		}
		body_gap(&m->body, d->remain);
		lose(h, dir, false, "gap in %s body", side[dir]);
		return;
	case H1_BODY_CLOSE:
		body_gap(&m->body, n);
		return;
	case H1_START:
	case H1_HEAD:
		lose(h, dir, true, "gap in %s headers", side[dir]);
		return;
	case H1_CHUNK_SIZE:
	case H1_CHUNK_CRLF:
		body_gap(&m->body, 0);
		lose(h, dir, false, "gap in %s body", side[dir]);
		return;
	case H1_TRAILERS:
		lose(h, dir, false, "gap in %s trailers", side[dir]);
		return;
	case H1_WAIT_UPGRADE:
		if (!d->wait_lost)
			d->wait_lost = "gap in request headers";
		buf_free(d);
		return;
	case H1_TUNNEL:
	case H1_LOST:
	case H1_CLOSED:
		return;
	}
}

/* how: 0 FIN, 1 RST, 2 the connection is being freed (no end seen). */
static void end_dir(struct h1_conn *h, int dir, int how)
{
	struct h1_dir *d = &h->d[dir];

	if (dir == 0) {
		switch (d->st) {
		case H1_WAIT_UPGRADE:
			if (how != 2) {
				d->ended = true;
				d->end_rst = how == 1;
				return;
			}
			break;
		case H1_HEAD:
			lose(h, 0, true, "request incomplete");
			break;
		case H1_BODY_LEN:
		case H1_CHUNK_SIZE:
		case H1_CHUNK_DATA:
		case H1_CHUNK_CRLF:
		case H1_TRAILERS:
			lose(h, 0, false, "request incomplete");
			break;
		default:
			break;
		}
		d->st = H1_CLOSED;
		d->wait_tx = NULL;
		buf_free(d);
		return;
	}
	if (d->st == H1_BODY_CLOSE && how != 2) {
		if (how == 1)
			call_error(d->cur->c, "response body ended by connection reset");
		msg_done(h, 1, true);
	}
	if (d->st == H1_TUNNEL || d->st == H1_LOST) {
		kill_dir1(h, NULL, NULL, "connection closed before response");
	} else {
		kill_dir1(h, "response incomplete", "connection closed before response",
			  "connection closed before response");
		d->st = H1_CLOSED;
	}
	buf_free(d);
}

void h1_end(struct h1_conn *h, int dir, int rst, uint64_t ts_ns)
{
	if (!h || (dir != 0 && dir != 1))
		return;
	if (h->d[dir].st == H1_CLOSED)
		return;
	(void)ts_ns;	/* the last byte's time stays the message's end */
	end_dir(h, dir, rst ? 1 : 0);
}

void h1_conn_free(struct h1_conn *h)
{
	if (!h)
		return;
	if (h->d[0].st != H1_CLOSED)
		end_dir(h, 0, 2);
	if (h->d[1].st != H1_CLOSED)
		end_dir(h, 1, 2);
	/* Every tx has been emitted: requests were finished by dir 0's end,
	 * responses and the queue by dir 1's. */
	free(h->q);
	for (int i = 0; i < 2; i++) {
		buf_free(&h->d[i]);
		free(h->d[i].dead);
	}
	free(h);
}
