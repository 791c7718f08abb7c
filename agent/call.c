/* call.c - construction and destruction of call records (see call.h).
 * Owns the memory of every call it hands out until call_free(). */
#include "call.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

struct call *call_new(const struct body_opts *opts)
{
	struct call *c = xcalloc(1, sizeof(*c));

	body_init(&c->req.body, opts);
	body_init(&c->resp.body, opts);
	return c;
}

static void free_hdrs(struct hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].name);	/* the value lives in the same block */
	free(h);
}

static void msg_fini(struct http_msg *m)
{
	free(m->method);
	free(m->authority);
	free(m->path);
	free(m->scheme);
	free_hdrs(m->hdrs, m->nhdrs);
	free_hdrs(m->trailers, m->ntrailers);
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
	free(c);
}

void http_msg_reset(struct http_msg *m, const struct body_opts *opts)
{
	msg_fini(m);
	memset(m, 0, sizeof(*m));
	body_init(&m->body, opts);
}

void http_msg_drop_fields(struct http_msg *m, bool trailers_only)
{
	free_hdrs(m->trailers, m->ntrailers);
	m->trailers = NULL;
	m->ntrailers = m->cap_trailers = 0;
	if (trailers_only)
		return;
	free(m->method);
	free(m->authority);
	free(m->path);
	free(m->scheme);
	m->method = m->authority = m->path = m->scheme = NULL;
	m->status = 0;
	free_hdrs(m->hdrs, m->nhdrs);
	m->hdrs = NULL;
	m->nhdrs = m->cap_hdrs = 0;
}

/* h = name: value in one block. */
static void hdr_fill(struct hdr *h, const char *name, size_t nlen,
		     const char *value, size_t vlen)
{
	char *p = xmalloc(nlen + vlen + 2);

	memcpy(p, name, nlen);
	p[nlen] = '\0';
	memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	h->name = p;
	h->value = p + nlen + 1;
}

static void add_hdr(struct hdr **arr, size_t *n, size_t *cap, const char *name,
		    size_t nlen, const char *value, size_t vlen)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct hdr *p = realloc(*arr, ncap * sizeof(**arr));

		if (!p)
			return;
		*arr = p;
		*cap = ncap;
	}
	hdr_fill(&(*arr)[*n], name, nlen, value, vlen);
	(*n)++;
}

void http_msg_add_header(struct http_msg *m, const char *name, size_t nlen,
			 const char *value, size_t vlen)
{
	add_hdr(&m->hdrs, &m->nhdrs, &m->cap_hdrs, name, nlen, value, vlen);
}

void http_msg_add_trailer(struct http_msg *m, const char *name, size_t nlen,
			  const char *value, size_t vlen)
{
	add_hdr(&m->trailers, &m->ntrailers, &m->cap_trailers, name, nlen,
		value, vlen);
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
