/* grpc.c - gRPC length-prefixed message framing (see grpc.h).
 * Owns nothing but the per-direction deframer and the strings it puts in
 * struct call_grpc.  No body byte is copied: only the 5-byte prefix, which
 * may straddle DATA frames, is gathered. */
#include "grpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

bool grpc_content_type(const char *v, size_t n)
{
	static const char pre[] = "application/grpc";
	size_t k = sizeof(pre) - 1;

	if (!v || n < k || strncasecmp(v, pre, k))
		return false;
	/* "application/grpc", "application/grpc+proto", "...;charset" */
	return n == k || v[k] == '+' || v[k] == ';' || v[k] == '-';
}

static void count_msg(struct call_grpc *g, int dir, uint8_t flag,
		      uint32_t len)
{
	g->msgs[dir]++;
	if (flag & 1)
		g->compressed[dir]++;
	g->bytes[dir] += len;
	if (g->nsizes[dir] < CALL_GRPC_SIZES) {
		if (!g->sizes[dir])
			g->sizes[dir] = xcalloc(CALL_GRPC_SIZES,
						sizeof(uint32_t));
		g->sizes[dir][g->nsizes[dir]++] = len;
	}
}

void grpc_feed(struct grpc_deframer *d, struct call_grpc *g, int dir,
	       const uint8_t *p, size_t n)
{
	while (n && !d->lost) {
		if (d->remain) {
			size_t k = MIN(n, (size_t)d->remain);

			d->remain -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		d->pre[d->npre++] = *p++;
		n--;
		if (d->npre == 5) {
			uint32_t len = (uint32_t)d->pre[1] << 24 |
				       (uint32_t)d->pre[2] << 16 |
				       (uint32_t)d->pre[3] << 8 | d->pre[4];

			count_msg(g, dir, d->pre[0], len);
			d->npre = 0;
			d->remain = len;
		}
	}
}

void grpc_gap(struct grpc_deframer *d)
{
	d->lost = true;
}

int grpc_end(const struct grpc_deframer *d)
{
	if (d->lost)
		return -ENODATA;
	return d->npre || d->remain ? -EBADMSG : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

void grpc_set_status(struct call_grpc *g, const char *v, size_t n)
{
	free(g->status);
	g->status = xstrndup(v, n);
}

void grpc_set_message(struct call_grpc *g, const char *v, size_t n)
{
	char *o = malloc(n + 1);
	size_t j = 0;

	if (!o)
		return;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		/* %00 stays as sent: the message is a C string */
		if (v[i] == '%' && i + 2 < n &&
		    (hi = hexval(v[i + 1])) >= 0 &&
		    (lo = hexval(v[i + 2])) >= 0 && (hi | lo)) {
			o[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			o[j++] = v[i];
		}
	}
	o[j] = '\0';
	free(g->message);
	g->message = o;
}
