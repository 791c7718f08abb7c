/* json.c - JSON-lines sink for call records (see json.h).
 *
 * Records are built one after the other in one reusable buffer and
 * written with write(2) when SINK_FLUSH_AT bytes have piled up, on
 * json_sink_flush() and on close: whole lines only, so a reader never
 * sees half a record (stdio's buffer would cut records at its block
 * size, and glibc ignores setvbuf's size without a caller's buffer: the
 * 78 MB of a 100,000-call capture went out in 19,000 4 KiB writes).
 * A sink opened with json_sink_open_cb hands its whole records to a
 * callback instead (the workers of `tapir read --threads`, par.c), and
 * json_sink_put adds records formatted by such a sink to a real one.
 */
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FC_CAP 1024		/* the flow/tls cache of a sink */

struct json_sink {
	int fd;
	bool own;		/* fd is ours (opened from path) */
	char *path;
	int err;
	uint64_t lost;		/* records not written (after err) */
	struct jbuf b;		/* whole records not yet written */
	/* json_sink_open_cb(): records go to emit instead of a descriptor */
	void (*emit)(void *ctx, struct jbuf *b);
	void *emit_ctx;
	size_t flush_at;	/* SINK_FLUSH_AT, CB_FLUSH_AT */
	/* the "flow" and "tls" members of the last record, and the flow and
	 * tls they were made from: the calls of one connection share them */
	struct call_flow fc_flow;
	struct call_tls fc_tls;
	bool fc_ok;
	uint16_t fc_len;
	char fc[FC_CAP];
};

/* Written out once this much is buffered (a record larger than that
 * goes out on its own).  The buffer is memory outside the memcap, which
 * a flood can fill at the same moment (tests/e2e/attacks.sh): small.
 * 64 KiB is ~1,200 writes for 100,000 small calls, stdio's 4 KiB blocks
 * were 19,000. */
#define SINK_FLUSH_AT (64u << 10)
/* A json_sink_open_cb sink hands records on in pieces this large: fewer
 * hand-overs between threads (each can be a wakeup).  Under 256 KiB, so
 * its buffer (handed over with them) stays at 256 KiB unless one record
 * is larger than 64 KiB. */
#define CB_FLUSH_AT (192u << 10)

static void jb_grow(struct jbuf *b, size_t n);

/* Room for n more bytes and a NUL; the check inline, growth out of line
 * (called for every piece of every record). */
static inline void jb_reserve(struct jbuf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
		jb_grow(b, n);
}

static void jb_grow(struct jbuf *b, size_t n)
{
	size_t ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + n + 1)
		ncap *= 2;
	char *p = realloc(b->p, ncap);
	if (!p) {
		fputs("tapir: error: out of memory\n", stderr);
		abort();
	}
	b->p = p;
	b->cap = ncap;
}

static inline void jb_put(struct jbuf *b, const char *s, size_t n)
{
	jb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void jb_puts(struct jbuf *b, const char *s)
{
	jb_put(b, s, strlen(s));
}

static void jb_printf(struct jbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void jb_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	jb_reserve(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		jb_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Decimal digits of v, without printf (a record has a dozen numbers and
 * vsnprintf was the sink's largest cost on small HTTP/2 calls), two at a
 * time from a table. */
static const char digit_pairs[201] =
	"00010203040506070809" "10111213141516171819"
	"20212223242526272829" "30313233343536373839"
	"40414243444546474849" "50515253545556575859"
	"60616263646566676869" "70717273747576777879"
	"80818283848586878889" "90919293949596979899";

static void jb_u64(struct jbuf *b, uint64_t v)
{
	char t[20];
	int i = 20;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		i -= 2;
		memcpy(t + i, digit_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(t + i, digit_pairs + 2 * v, 2);
	} else {
		t[--i] = (char)('0' + v);
	}
	jb_put(b, t + i, (size_t)(20 - i));
}

static void jb_bool(struct jbuf *b, bool v)
{
	if (v)
		jb_put(b, "true", 4);
	else
		jb_put(b, "false", 5);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0;	/* overlong */
		if (c == 0xED && p[1] > 0x9F)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;
		if (c == 0xF4 && p[1] > 0x8F)
			return 0;
		return 4;
	}
	return 0;
}

bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		/* fast path over ASCII, 8 bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* Does any of the 8 bytes at p need escaping (< 0x20, >= 0x80, '"' or
 * '\\')?  The usual SWAR tests: for each byte, (v - k) & ~v & 0x80 has
 * the top bit set only if some byte of v is below k (k <= 0x80), so a
 * zero result is exact for "none is". */
static inline bool word_needs_escape(const uint8_t *p)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
	uint64_t x, q, bs;

	memcpy(&x, p, 8);
	q = x ^ (ones * '"');
	bs = x ^ (ones * '\\');
	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
		((bs - ones) & ~bs) | x) & high;
}

static inline bool byte_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define JSON_SSE2 1
/* Bit i set when byte i of the 16 at p needs escaping: a signed compare
 * below 0x20 catches both the control bytes and those >= 0x80. */
static inline unsigned esc_mask16(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i m = _mm_or_si128(
		_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

	return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Plain bytes are copied straight into room reserved up front (n + 2 +
 * 16: a record's strings are mostly short and plain, and whole vectors
 * are stored); each byte that needs more reserves room for its escape
 * and the rest.  16 bytes are checked at a time, and the last few of a
 * string too when one vector read stays in their page (TAPIR_OVERREAD):
 * header names and values are mostly one vector each, and a short body
 * with quotes in it does not fall back to the byte loop. */
static __attribute__((noinline)) void str_any(struct jbuf *b,
						     const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, k;
	char *o;

	jb_reserve(b, n + 2 + 16);
	o = b->p + b->len;
	*o++ = '"';
	for (;;) {
#ifdef JSON_SSE2
		while (i < n) {
			size_t left = n - i;
			unsigned m;

			if (left >= 16) {
				m = esc_mask16(p + i);
				left = 16;
#ifdef TAPIR_OVERREAD
			} else if (OVERREAD_OK(p + i, left)) {	/* util.h */
				m = esc_mask16(p + i) & ((1u << left) - 1);
#endif
			} else {
				break;
			}
			memcpy(o, p + i, 16);
			if (m) {
				k = (unsigned)__builtin_ctz(m);
				o += k;
				i += k;
				goto escape;
			}
			o += left;
			i += left;
		}
		if (i == n)
			break;
		/* the rest of a string of 16 bytes or more in one vector,
		 * ending at n and overlapping bytes already copied: only if
		 * all 16 are plain, so the overlap was copied as it is */
		if (n >= 16 && !esc_mask16(p + n - 16)) {
			memcpy(o + (n - i) - 16, p + n - 16, 16);
			o += n - i;
			i = n;
			break;
		}
#endif
		while (i + 8 <= n && !word_needs_escape(p + i)) {
			memcpy(o, p + i, 8);
			o += 8;
			i += 8;
		}
		/* the rest of a string of 8 bytes or more in one word, ending
		 * at n and overlapping what was already checked */
		if (i < n && i + 8 > n && n >= 8 &&
		    !word_needs_escape(p + n - 8)) {
			memcpy(o + (n - i) - 8, p + n - 8, 8);
			o += n - i;
			i = n;
			break;
		}
		while (i < n && byte_plain(p[i]))
			*o++ = (char)p[i++];
		if (i == n)
			break;
#ifdef JSON_SSE2
escape:
#endif
		b->len = (size_t)(o - b->p);
		jb_reserve(b, 6 + (n - i) + 1 + 16);
		o = b->p + b->len;
		uint8_t c = p[i];
		switch (c) {
		case '"': *o++ = '\\'; *o++ = '"'; i++; continue;
		case '\\': *o++ = '\\'; *o++ = '\\'; i++; continue;
		case '\n': *o++ = '\\'; *o++ = 'n'; i++; continue;
		case '\r': *o++ = '\\'; *o++ = 'r'; i++; continue;
		case '\t': *o++ = '\\'; *o++ = 't'; i++; continue;
		default: break;
		}
		if (c >= 0x80 && (k = utf8_seq(p + i, n - i))) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		/* a control byte, or not UTF-8: the byte as U+00XX (Latin-1,
		 * see json.h) */
		memcpy(o, "\\u00", 4);
		o[4] = hex[c >> 4];
		o[5] = hex[c & 15];
		o += 6;
		i++;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* Is p[0..n) a short string (1-31 bytes) with nothing to escape, that
 * can be read as two vectors (TAPIR_OVERREAD)? */
static inline bool short_plain(const uint8_t *p, size_t n)
{
#ifdef TAPIR_OVERREAD
	if (n && n < 32 && ((uintptr_t)p & 4095) <= 4096 - 32) {
		unsigned m = esc_mask16(p) | esc_mask16(p + 16) << 16;

		return !(m & ((1u << n) - 1));
	}
#endif
	(void)p;
	(void)n;
	return false;
}

/* Most strings of a record (header names and values) are short and
 * plain: those are copied here, inline at each call, as two vectors;
 * the rest in str_any(). */
static inline void jb_str(struct jbuf *b, const uint8_t *p, size_t n)
{
	if (short_plain(p, n)) {
		char *o;

		jb_reserve(b, 32 + 2);
		o = b->p + b->len;
		*o = '"';
		memcpy(o + 1, p, 32);
		o[n + 1] = '"';
		b->len += n + 2;
		return;
	}
	str_any(b, p, n);
}

void jbuf_str(struct jbuf *b, const uint8_t *p, size_t n)
{
	jb_str(b, p, n);
}

static void jb_cstr(struct jbuf *b, const char *s)
{
	jb_str(b, (const uint8_t *)s, strlen(s));
}

/* A string tapir formatted itself from its own tables and numbers
 * ("10.0.0.1:443", "TLSv1.3", a cipher suite's name or "0x1301", "2"):
 * nothing in it needs escaping, so it is copied between quotes.  Never
 * for bytes from the wire (SNI, ALPN, headers, interface names). */
static void jb_safe(struct jbuf *b, const char *s)
{
	size_t n = strlen(s);

	jb_reserve(b, n + 2);
	b->p[b->len] = '"';
	memcpy(b->p + b->len + 1, s, n);
	b->p[b->len + 1 + n] = '"';
	b->len += n + 2;
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/* b64_pair[v]: the two characters of 12 bits v, first in the low byte
 * (as they lie in memory on a little-endian machine) */
static uint16_t b64_pair[4096];

__attribute__((constructor)) static void b64_pair_init(void)
{
	for (unsigned v = 0; v < 4096; v++) {
		uint8_t c[2] = { (uint8_t)b64_chars[v >> 6], (uint8_t)b64_chars[v & 63] };

		memcpy(&b64_pair[v], c, 2);
	}
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

void jbuf_base64(struct jbuf *b, const uint8_t *p, size_t n)
{
	size_t i = 0;
	char *o;

	jb_reserve(b, (n + 2) / 3 * 4 + 2);
	o = b->p + b->len;
	*o++ = '"';
	/* 6 bytes -> 8 characters: four 12-bit table lookups (a binary body
	 * of a live capture spent a sixth of the agent's time here) */
	for (; i + 8 <= n; i += 6) {
		uint64_t x = load_be64(p + i);

		memcpy(o, &b64_pair[x >> 52], 2);
		memcpy(o + 2, &b64_pair[(x >> 40) & 0xfff], 2);
		memcpy(o + 4, &b64_pair[(x >> 28) & 0xfff], 2);
		memcpy(o + 6, &b64_pair[(x >> 16) & 0xfff], 2);
		o += 8;
	}
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		memcpy(o, &b64_pair[v >> 12], 2);
		memcpy(o + 2, &b64_pair[v & 0xfff], 2);
		o += 4;
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = b64_chars[v >> 18];
		*o++ = b64_chars[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = b64_chars[v >> 18];
		*o++ = b64_chars[(v >> 12) & 63];
		*o++ = b64_chars[(v >> 6) & 63];
		*o++ = '=';
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* [["name","value"],...]: a field whose name and value are both short
 * and plain (most) in one reservation and straight copies. */
static void jb_headers(struct jbuf *b, const struct hdr *h, size_t n)
{
	jb_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *nm = (const uint8_t *)h[i].name,
			      *v = (const uint8_t *)h[i].value;
		size_t nl = h[i].name_len, vl = h[i].value_len;

		if (short_plain(nm, nl) && short_plain(v, vl)) {
			char *o;

			/* at most 3 + 32 + 3 + 32 bytes stored, 70 kept */
			jb_reserve(b, 72);
			o = b->p + b->len;
			if (i)
				*o++ = ',';
			memcpy(o, "[\"", 2);
			memcpy(o + 2, nm, 32);
			o += 2 + nl;
			memcpy(o, "\",\"", 3);
			memcpy(o + 3, v, 32);
			o += 3 + vl;
			memcpy(o, "\"]", 2);
			b->len = (size_t)(o + 2 - b->p);
			continue;
		}
		if (i)
			jb_puts(b, ",");
		jb_puts(b, "[");
		jb_str(b, nm, nl);
		jb_puts(b, ",");
		jb_str(b, v, vl);
		jb_puts(b, "]");
	}
	jb_puts(b, "]");
}

/* force_b64: gRPC bodies are binary framing whatever their bytes. */
static void jb_body(struct jbuf *b, const struct body *bd, bool force_b64)
{
	static const char hex[] = "0123456789abcdef";

	jb_puts(b, ",\"body_size\":");
	jb_u64(b, bd->size);
	if (bd->kept_len) {
		/* A cut at max_keep may split a UTF-8 sequence: then base64. */
		jb_puts(b, ",\"body\":");
		if (!force_b64 && utf8_valid(bd->kept, bd->kept_len)) {
			jb_str(b, bd->kept, bd->kept_len);
			jb_puts(b, ",\"body_encoding\":\"utf8\"");
		} else {
			jbuf_base64(b, bd->kept, bd->kept_len);
			jb_puts(b, ",\"body_encoding\":\"base64\"");
		}
	}
	jb_puts(b, ",\"body_truncated\":");
	jb_bool(b, bd->truncated);
	if (bd->opts.hash && bd->finished && !bd->gap && !bd->decode_error) {
		char h[65];
		for (int i = 0; i < 32; i++) {
			h[2 * i] = hex[bd->sha256[i] >> 4];
			h[2 * i + 1] = hex[bd->sha256[i] & 15];
		}
		jb_puts(b, ",\"body_sha256\":\"");
		jb_put(b, h, 64);
		jb_put(b, "\"", 1);
	}
}

static void jb_msg(struct jbuf *b, const struct http_msg *m, bool req,
		   bool b64)
{
	jb_puts(b, "{");
	if (req) {
		jb_puts(b, "\"method\":");
		jb_cstr(b, m->method ? m->method : "");
		if (m->scheme) {
			jb_puts(b, ",\"scheme\":");
			jb_cstr(b, m->scheme);
		}
		jb_puts(b, ",\"authority\":");
		jb_cstr(b, m->authority ? m->authority : "");
		jb_puts(b, ",\"path\":");
		jb_cstr(b, m->path ? m->path : "");
	} else {
		jb_puts(b, "\"status\":");
		if (m->status < 0) {
			jb_put(b, "-", 1);
			jb_u64(b, (uint64_t)-(int64_t)m->status);
		} else {
			jb_u64(b, (uint64_t)m->status);
		}
	}
	jb_puts(b, ",\"headers\":");
	jb_headers(b, m->hdrs, m->nhdrs);
	if (m->ntrailers) {
		jb_puts(b, ",\"trailers\":");
		jb_headers(b, m->trailers, m->ntrailers);
	}
	jb_body(b, &m->body, b64);
	jb_puts(b, ",\"complete\":");
	jb_bool(b, m->complete);
	jb_puts(b, "}");
}

static void jb_grpc(struct jbuf *b, const struct call_grpc *g)
{
	static const char *const side[2] = { "request", "response" };

	jb_printf(b, ",\"grpc\":{\"request_messages\":%u,\"response_messages\":%u",
		  g->msgs[0], g->msgs[1]);
	for (int d = 0; d < 2; d++) {
		jb_printf(b, ",\"%s_message_sizes\":[", side[d]);
		for (uint32_t i = 0; i < g->nsizes[d]; i++)
			jb_printf(b, "%s%u", i ? "," : "", g->sizes[d][i]);
		jb_puts(b, "]");
		/* sizes beyond the first CALL_GRPC_SIZES: only counted */
		jb_printf(b, ",\"%s_message_bytes\":%" PRIu64, side[d],
			  g->bytes[d]);
		if (g->compressed[d])
			jb_printf(b, ",\"%s_compressed_messages\":%u", side[d],
				  g->compressed[d]);
	}
	if (g->status) {
		jb_puts(b, ",\"status\":");
		jb_cstr(b, g->status);
	}
	if (g->message) {
		jb_puts(b, ",\"message\":");
		jb_cstr(b, g->message);
	}
	jb_puts(b, "}");
}

/* The "flow" and "tls" members of c's record. */
static void jb_flow_tls(struct jbuf *b, const struct call *c)
{
	jb_puts(b, ",\"flow\":{\"src\":");
	jb_safe(b, c->flow.src);
	jb_puts(b, ",\"dst\":");
	jb_safe(b, c->flow.dst);
	if (c->flow.iface[0]) {
		jb_puts(b, ",\"iface\":");
		jb_cstr(b, c->flow.iface);
	}
	if (c->flow.direction) {
		jb_puts(b, ",\"direction\":");
		jb_cstr(b, c->flow.direction);
	}
	jb_puts(b, "}");
	if (c->tls.present) {
		jb_puts(b, ",\"tls\":{\"version\":");
		jb_safe(b, c->tls.version);
		jb_puts(b, ",\"cipher\":");
		jb_safe(b, c->tls.cipher);
		jb_puts(b, ",\"sni\":");
		jb_cstr(b, c->tls.sni);
		jb_puts(b, ",\"alpn\":");
		jb_cstr(b, c->tls.alpn);
		jb_puts(b, ",\"decrypted\":");
		jb_bool(b, c->tls.decrypted);
		if (c->tls.reason[0]) {
			jb_puts(b, ",\"reason\":");
			jb_cstr(b, c->tls.reason);
		}
		jb_puts(b, "}");
	}
}

/* Appends c's line to b; s (or NULL) lends its flow/tls cache. */
static void format_call(struct jbuf *b, const struct call *c,
			struct json_sink *s)
{
	char ts[40];
	uint64_t t0 = c->req.present ? c->req.ts_first_ns :
		      c->resp.present ? c->resp.ts_first_ns : c->ts_start_ns;
	uint64_t t1 = c->resp.present ? c->resp.ts_last_ns :
		      c->req.present ? c->req.ts_last_ns : c->ts_end_ns;

	fmt_rfc3339_us(ts, sizeof(ts), t0);
	jb_puts(b, "{\"ts\":\"");
	jb_puts(b, ts);
	jb_puts(b, "\",\"duration_us\":");
	jb_u64(b, t1 > t0 ? (t1 - t0) / 1000 : 0);
	if (s && s->fc_ok && !memcmp(&c->flow, &s->fc_flow, sizeof(c->flow)) &&
	    !memcmp(&c->tls, &s->fc_tls, sizeof(c->tls))) {
		/* the same bytes in: the same members out */
		jb_put(b, s->fc, s->fc_len);
	} else {
		size_t at = b->len;

		jb_flow_tls(b, c);
		if (s) {
			s->fc_ok = b->len - at <= FC_CAP;
			if (s->fc_ok) {
				s->fc_len = (uint16_t)(b->len - at);
				memcpy(s->fc, b->p + at, s->fc_len);
				s->fc_flow = c->flow;
				s->fc_tls = c->tls;
			}
		}
	}
	if (c->http_version) {
		jb_puts(b, ",\"http_version\":");
		jb_safe(b, c->http_version);
	}
	if (c->stream_id) {
		jb_puts(b, ",\"stream_id\":");
		jb_u64(b, c->stream_id);
	}
	if (c->pushed)
		jb_puts(b, ",\"pushed\":true");
	if (c->req.present) {
		jb_puts(b, ",\"request\":");
		jb_msg(b, &c->req, true, c->grpc.present);
	}
	if (c->resp.present) {
		jb_puts(b, ",\"response\":");
		jb_msg(b, &c->resp, false, c->grpc.present);
	}
	if (c->grpc.present)
		jb_grpc(b, &c->grpc);
	jb_puts(b, ",\"errors\":[");
	for (size_t i = 0; i < c->nerrors; i++) {
		if (i)
			jb_puts(b, ",");
		jb_cstr(b, c->errors[i]);
	}
	jb_puts(b, "]}\n");
}

static int open_out(const char *path, bool append)
{
	/* bodies and headers are sensitive: owner-only, like keys.  O_APPEND:
	 * a file cut by logrotate's copytruncate is written from its new end,
	 * not with a hole up to the old offset. */
	return open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
		    (append ? O_APPEND : O_TRUNC), 0600);
}

struct json_sink *json_sink_open(const char *path, bool append)
{
	struct json_sink *s = xcalloc(1, sizeof(*s));

	s->flush_at = SINK_FLUSH_AT;
	if (!path || !strcmp(path, "-")) {
		s->fd = STDOUT_FILENO;
		return s;
	}
	s->fd = open_out(path, append);
	if (s->fd < 0) {
		int e = errno;

		free(s);
		errno = e;
		return NULL;
	}
	s->own = true;
	s->path = xstrndup(path, strlen(path));
	return s;
}

int json_sink_reopen(struct json_sink *s)
{
	int fd;

	if (!s->own)
		return 0;
	json_sink_flush(s);
	fd = open_out(s->path, true);
	if (fd < 0)
		return -errno;
	close(s->fd);
	s->fd = fd;
	s->err = 0;	/* a full disk freed, then SIGHUP: write again */
	return 0;
}

struct json_sink *json_sink_open_cb(void (*emit)(void *ctx, struct jbuf *b),
				    void *ctx)
{
	struct json_sink *s = xcalloc(1, sizeof(*s));

	s->fd = -1;
	s->flush_at = CB_FLUSH_AT;
	s->emit = emit;
	s->emit_ctx = ctx;
	return s;
}

/* Write p[0..len) out; what a failed write leaves counts as lost: each
 * record ends its line (a newline inside one is escaped), a record cut
 * short counts too. */
static void sink_out(struct json_sink *s, const char *p, size_t len)
{
	size_t off = 0;

	while (!s->err && off < len) {
		ssize_t n = write(s->fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			s->err = -(n < 0 && errno ? errno : EIO);
		else
			off += (size_t)n;
	}
	for (size_t i = off; i < len; i++)
		s->lost += p[i] == '\n';
}

int json_sink_flush(struct json_sink *s)
{
	if (s->emit) {
		if (s->b.len)
			s->emit(s->emit_ctx, &s->b);
	} else {
		sink_out(s, s->b.p, s->b.len);
	}
	s->b.len = 0;
	return s->err;
}

int json_sink_put(struct json_sink *s, const char *p, size_t len)
{
	if (s->emit) {
		/* a callback sink hands on its buffer, a large piece too */
		jb_put(&s->b, p, len);
		if (s->b.len >= s->flush_at)
			return json_sink_flush(s);
		return 0;
	}
	if (s->b.len + len < s->flush_at) {
		jb_put(&s->b, p, len);
		return 0;
	}
	/* a large piece goes out as it is, after what is buffered */
	json_sink_flush(s);
	sink_out(s, p, len);
	return s->err;
}

uint64_t json_sink_lost(const struct json_sink *s)
{
	return s->lost;
}

int json_sink_write(struct json_sink *s, const struct call *c)
{
	if (s->err) {
		s->lost++;
		return s->err;
	}
	format_call(&s->b, c, s);
	if (s->b.len >= s->flush_at)
		return json_sink_flush(s);
	return 0;
}

int json_sink_close(struct json_sink *s)
{
	int err;

	if (!s)
		return 0;
	err = json_sink_flush(s);
	if (s->own && s->fd >= 0 && close(s->fd) && !err)
		err = -(errno ? errno : EIO);
	free(s->path);
	free(s->b.p);
	free(s);
	return err;
}
