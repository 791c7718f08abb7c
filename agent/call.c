/* call.c - construction and destruction of call records (see call.h).
 * Owns the memory of every call it hands out until call_free(). */
#include "call.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Freed calls kept for reuse, per thread (at most CALL_CACHE): a struct
 * call is ~1.8 KB, past glibc's per-thread cache, so each malloc and
 * free of one took the allocator's slow path (~3% of an HTTP/2 read). */
#ifdef TAPIR_SANITIZED
#define CALL_CACHE 0	/* sanitizer builds (util.h): every use after free
			 * stays visible */
#else
#define CALL_CACHE 64
#endif
union call_blk {
	union call_blk *next;
	struct call c;
};
static __thread union call_blk *call_cache;
static __thread unsigned call_ncache;

/* Zero c except the messages' inline string and header arrays, which
 * hold nothing until used (str_used and hdrs say how much is). */
static void call_zero(struct call *c)
{
	memset(c, 0, offsetof(struct call, req));
	memset(&c->req, 0, offsetof(struct http_msg, str_inl));
	memset(&c->resp, 0, offsetof(struct http_msg, str_inl));
	memset(&c->ts_start_ns, 0,
	       sizeof(*c) - offsetof(struct call, ts_start_ns));
}

struct call *call_new(const struct body_opts *opts)
{
	struct call *c;

	if (call_cache) {
		union call_blk *k = call_cache;

		call_cache = k->next;
		call_ncache--;
		c = &k->c;
	} else {
		c = xmalloc(sizeof(union call_blk));
	}
	call_zero(c);
	body_init(&c->req.body, opts);
	body_init(&c->resp.body, opts);
	return c;
}

struct str_chunk {
	struct str_chunk *next;
	size_t cap, used;
	char data[];
};

#define STR_CHUNK 4000	/* bytes of strings per overflow chunk */

static void strs_free(struct http_msg *m)
{
	struct str_chunk *k = m->chunks, *next;

	for (; k; k = next) {
		next = k->next;
		free(k);
	}
	m->chunks = NULL;
	m->str_used = 0;
}

/* n bytes of m's string store */
static char *strs_alloc(struct http_msg *m, size_t n)
{
	struct str_chunk *k = m->chunks;
	char *r;

	if (sizeof(m->str_inl) - m->str_used >= n) {
		r = m->str_inl + m->str_used;
		m->str_used += n;
		return r;
	}
	if (!k || k->cap - k->used < n) {
		size_t cap = n > STR_CHUNK ? n : STR_CHUNK;

		k = xmalloc(sizeof(*k) + cap);
		k->cap = cap;
		k->used = 0;
		k->next = m->chunks;
		m->chunks = k;
	}
	r = k->data + k->used;
	k->used += n;
	return r;
}

char *http_msg_strdup(struct http_msg *m, const void *p, size_t n)
{
	char *r = strs_alloc(m, n + 1);

	memcpy(r, p, n);
	r[n] = '\0';
	return r;
}

static void msg_fini(struct http_msg *m)
{
	if (m->hdrs != m->hdr_inl)
		free(m->hdrs);
	free(m->trailers);
	strs_free(m);
	body_fini(&m->body);
}

void call_free(struct call *c)
{
	if (!c)
		return;
	msg_fini(&c->req);
	msg_fini(&c->resp);
	free(c->grpc.sizes[0]);
	free(c->grpc.sizes[1]);
	free(c->grpc.status);
	free(c->grpc.message);
	for (size_t i = 0; i < c->nerrors; i++)
		free(c->errors[i]);
	free(c->errors);
	if (call_ncache < CALL_CACHE) {
		union call_blk *k = (union call_blk *)(void *)c;

		k->next = call_cache;
		call_cache = k;
		call_ncache++;
		return;
	}
	free(c);
}

void call_thread_cleanup(void)
{
	while (call_cache) {
		union call_blk *k = call_cache;

		call_cache = k->next;
		free(k);
	}
	call_ncache = 0;
	body_thread_cleanup();
}

void http_msg_reset(struct http_msg *m, const struct body_opts *opts)
{
	msg_fini(m);
	memset(m, 0, offsetof(struct http_msg, str_inl));
	body_init(&m->body, opts);
}

/* Trailers only: their strings stay in the store until the message is
 * freed (one trailer block per message: bounded). */
void http_msg_drop_fields(struct http_msg *m, bool trailers_only)
{
	free(m->trailers);
	m->trailers = NULL;
	m->ntrailers = m->cap_trailers = 0;
	if (trailers_only)
		return;
	/* every string of the store belonged to what is dropped here */
	m->method = m->authority = m->path = m->scheme = NULL;
	m->status = 0;
	if (m->hdrs != m->hdr_inl)
		free(m->hdrs);
	m->hdrs = NULL;
	m->nhdrs = m->cap_hdrs = 0;
	strs_free(m);
}

/* inl: the message's inline array to start in (NULL: none) */
static void add_hdr(struct http_msg *m, struct hdr **arr, size_t *n,
		    size_t *cap, struct hdr *inl, const char *name,
		    size_t nlen, const char *value, size_t vlen)
{
	struct hdr *h;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct hdr *p;

		if (!*arr && inl) {
			*arr = inl;
			*cap = MSG_HDR_INLINE;
		} else {
			if (inl && *arr == inl) {
				p = malloc(ncap * sizeof(**arr));
				if (p)
					memcpy(p, inl, *n * sizeof(**arr));
			} else {
				p = realloc(*arr, ncap * sizeof(**arr));
			}
			if (!p)
				return;
			*arr = p;
			*cap = ncap;
		}
	}
	h = &(*arr)[(*n)++];
	h->name = strs_alloc(m, nlen + vlen + 2);
	memcpy(h->name, name, nlen);
	h->name[nlen] = '\0';
	h->value = h->name + nlen + 1;
	memcpy(h->value, value, vlen);
	h->value[vlen] = '\0';
	h->name_len = (uint32_t)nlen;
	h->value_len = (uint32_t)vlen;
}

void http_msg_add_header(struct http_msg *m, const char *name, size_t nlen,
			 const char *value, size_t vlen)
{
	add_hdr(m, &m->hdrs, &m->nhdrs, &m->cap_hdrs, m->hdr_inl, name, nlen,
		value, vlen);
}

void http_msg_add_trailer(struct http_msg *m, const char *name, size_t nlen,
			  const char *value, size_t vlen)
{
	add_hdr(m, &m->trailers, &m->ntrailers, &m->cap_trailers, NULL, name,
		nlen, value, vlen);
}

const char *http_msg_header(const struct http_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nhdrs; i++)
		if (!strcasecmp(m->hdrs[i].name, name))
			return m->hdrs[i].value;
	return NULL;
}

void call_body_errors(struct call *c, const struct http_msg *m,
		      const char *side)
{
	static const char *const names[] = {
		[BODY_IDENTITY] = "identity", [BODY_GZIP] = "gzip",
		[BODY_DEFLATE] = "deflate", [BODY_BR] = "br",
		[BODY_UNKNOWN_CODING] = "unknown",
	};
	const struct body *b = &m->body;

	if (b->gap)
		call_error(c, "gap in %s body", side);
	if (b->decode_error)
		call_error(c, "decoding error (%s) in %s body",
			   names[b->coding], side);
	if (b->coding == BODY_UNKNOWN_CODING && b->wire_size) {
		const char *ce = http_msg_header(m, "content-encoding");

		call_error(c, "unsupported content-encoding '%.64s' in %s body; "
			   "recorded as sent", ce ? ce : "?", side);
	}
}

void call_error(struct call *c, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < c->nerrors; i++)
		if (!strcmp(c->errors[i], buf))
			return;
	/* a bound on what hostile input can pile onto one call: the last
	 * slot says that more were dropped */
	if (c->nerrors >= CALL_MAX_ERRORS)
		return;
	if (c->nerrors == CALL_MAX_ERRORS - 1)
		snprintf(buf, sizeof(buf), "more errors (not recorded)");
	if (c->nerrors == c->cap_errors) {
		size_t ncap = c->cap_errors ? c->cap_errors * 2 : 4;
		char **p = realloc(c->errors, ncap * sizeof(*p));

		if (!p)
			return;
		c->errors = p;
		c->cap_errors = ncap;
	}
	c->errors[c->nerrors++] = xstrndup(buf, strlen(buf));
}
