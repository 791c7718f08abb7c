/* body.c - record one HTTP message body: decode, keep a prefix, hash, count.
 *
 * Owns: the kept prefix (grown geometrically, never past opts.max_keep), the
 * EVP digest context, and the content decoder (zlib z_stream or brotli
 * state), all created lazily on the first byte so an empty or unhashed body
 * costs nothing.  Does not own framing (http1.c / http2.c de-chunk).
 *
 * Decoding streams through a fixed scratch buffer on the stack: the memory
 * used per body is max_keep + the decoder's window (zlib ~44 KiB; brotli up
 * to its 16 MiB window) whatever the decoded size, so a decompression bomb
 * costs CPU in proportion to its output but no extra memory.
 *
 *        body_feed()                  body_feed() error
 *   INIT -----------> DECODING ------------------------> ERROR (sticky:
 *     |                 |   \  body_gap()                 bytes only count
 *     |                 |    `---------------> GAP        to wire_size)
 *     |   body_finish() v                       |
 *     `-------------> FINISHED <----------------'  body_finish()
 *
 * deflate: RFC 9110 says zlib-wrapped (RFC 1950), some servers send raw
 * RFC 1951.  The first two bytes decide (a valid zlib header has CM=8,
 * CINFO<=7 and a header checksum divisible by 31), as browsers do.
 * gzip: several members in a row are decoded as one body (RFC 1952);
 * any other data after the end of the compressed stream is a decode error.
 * A compressed stream that has not reached its end at body_finish() is a
 * decode error too (unless a gap already explains it).
 */
#include "body.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>

#include "util.h"

#define BODY_SCRATCH (16 * 1024)

struct body_dec {
	z_stream z;
	bool z_live;		/* inflateInit2 done */
	BrotliDecoderState *br;
	bool ended;		/* the compressed stream reached its end */
	uint8_t hold;		/* deflate: first byte, waiting for the second */
	bool held;
};

/* Capacity of the kept buffer for a given length: powers of two from
 * KEPT_MIN, capped at max_keep.  Derived from kept_len so no field is
 * needed. */
#define KEPT_MIN 256

static size_t kept_cap(const struct body *b, size_t len)
{
	size_t c = KEPT_MIN;

	if (len == 0)
		return 0;
	while (c < len)
		c <<= 1;
	return MIN(c, b->opts.max_keep);
}

/* Kept buffers of KEPT_MIN bytes (the bodies of small calls) freed are
 * kept for reuse, per thread (at most KEPT_CACHE): a malloc and a free
 * per message otherwise.  Off in sanitizer builds (util.h), which then
 * see every use after free. */
#ifdef TAPIR_SANITIZED
#define KEPT_CACHE 0
#else
#define KEPT_CACHE 64
#endif
union kept_blk {
	union kept_blk *next;
	uint8_t b[KEPT_MIN];
};
static __thread union kept_blk *kept_free;
static __thread unsigned kept_nfree;

static uint8_t *kept_grow(uint8_t *old, size_t oc, size_t nc)
{
	if (!oc && nc == KEPT_MIN && kept_free) {
		union kept_blk *k = kept_free;

		kept_free = k->next;
		kept_nfree--;
		return k->b;
	}
	return realloc(old, nc);
}

static void kept_release(struct body *b)
{
	if (b->kept && kept_nfree < KEPT_CACHE &&
	    kept_cap(b, b->kept_len) == KEPT_MIN) {
		union kept_blk *k = (union kept_blk *)(void *)b->kept;

		k->next = kept_free;
		kept_free = k;
		kept_nfree++;
	} else {
		free(b->kept);
	}
	b->kept = NULL;
}

void body_thread_cleanup(void)
{
	while (kept_free) {
		union kept_blk *k = kept_free;

		kept_free = k->next;
		free(k);
	}
	kept_nfree = 0;
}

/* Account decoded bytes: size, hash, kept prefix.  The only copy of body
 * bytes tapir makes is the kept prefix. */
static void body_out(struct body *b, const uint8_t *p, size_t n)
{
	if (!n)
		return;
	b->size += n;
	if (b->gap)
		goto out;
	if (b->sha)
		EVP_DigestUpdate(b->sha, p, n);
	if (b->kept_len < b->opts.max_keep) {
		size_t take = MIN(n, b->opts.max_keep - b->kept_len);
		size_t oc = kept_cap(b, b->kept_len);
		size_t nc = kept_cap(b, b->kept_len + take);

		if (nc > oc) {
			uint8_t *k = kept_grow(b->kept, oc, nc);

			if (!k) {
				/* Keep what we have; the rest is truncated. */
				b->opts.max_keep = b->kept_len;
				goto out;
			}
			b->kept = k;
		}
		memcpy(b->kept + b->kept_len, p, take);
		b->kept_len += take;
	}
out:
	b->truncated = b->size > b->kept_len;
}

void body_init(struct body *b, const struct body_opts *o)
{
	memset(b, 0, sizeof(*b));
	if (o)
		b->opts = *o;
	b->coding = BODY_IDENTITY;
}

static bool token_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(p, lit, n);
}

void body_set_coding(struct body *b, const char *value, size_t len)
{
	while (len && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0 || token_eq(value, len, "identity"))
		b->coding = BODY_IDENTITY;
	else if (token_eq(value, len, "gzip") || token_eq(value, len, "x-gzip"))
		b->coding = BODY_GZIP;
	else if (token_eq(value, len, "deflate"))
		b->coding = BODY_DEFLATE;
	else if (token_eq(value, len, "br"))
		b->coding = BODY_BR;
	else
		b->coding = BODY_UNKNOWN_CODING;
}

static void dec_free(struct body *b)
{
	struct body_dec *d = b->dec;

	if (!d)
		return;
	if (d->z_live)
		inflateEnd(&d->z);
	if (d->br)
		BrotliDecoderDestroyInstance(d->br);
	free(d);
	b->dec = NULL;
}

static int fail(struct body *b)
{
	b->decode_error = true;
	dec_free(b);
	return -EBADMSG;
}

static bool zlib_header(uint8_t b0, uint8_t b1)
{
	return (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 &&
	       ((unsigned)b0 << 8 | b1) % 31 == 0;
}

/* Run inflate over p[0..n) into the scratch buffer until it is consumed. */
static int inflate_feed(struct body *b, const uint8_t *p, size_t n)
{
	struct body_dec *d = b->dec;
	uint8_t scratch[BODY_SCRATCH];

	while (n) {
		uInt chunk = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
		int rc;

		if (d->ended) {
			/* Another gzip member may follow; anything else is an
			 * error (caught by inflate on the reset stream). */
			if (b->coding != BODY_GZIP || inflateReset(&d->z) != Z_OK)
				return fail(b);
			d->ended = false;
		}
		d->z.next_in = (Bytef *)p;
		d->z.avail_in = chunk;
		do {
			size_t got;

			d->z.next_out = scratch;
			d->z.avail_out = sizeof(scratch);
			rc = inflate(&d->z, Z_NO_FLUSH);
			got = sizeof(scratch) - d->z.avail_out;
			body_out(b, scratch, got);
			if (rc == Z_STREAM_END) {
				d->ended = true;
				break;
			}
			if (rc == Z_BUF_ERROR && got == 0)
				break;	/* needs more input */
			if (rc != Z_OK)
				return fail(b);
		} while (d->z.avail_in || d->z.avail_out == 0);
		p += chunk - d->z.avail_in;
		n -= chunk - d->z.avail_in;
	}
	return 0;
}

static int zlib_start(struct body *b, int wbits)
{
	struct body_dec *d = b->dec;

	if (inflateInit2(&d->z, wbits) != Z_OK)
		return fail(b);
	d->z_live = true;
	return 0;
}

static int deflate_feed(struct body *b, const uint8_t *p, size_t n)
{
	struct body_dec *d = b->dec;

	if (!d->z_live) {
		uint8_t b0, b1;
		int rc;

		if (!d->held) {
			if (n == 0)
				return 0;
			d->hold = p[0];
			d->held = true;
			p++;
			n--;
		}
		if (n == 0)
			return 0;
		b0 = d->hold;
		b1 = p[0];
		rc = zlib_start(b, zlib_header(b0, b1) ? MAX_WBITS : -MAX_WBITS);
		if (rc)
			return rc;
		d->held = false;
		rc = inflate_feed(b, &b0, 1);
		if (rc)
			return rc;
	}
	return inflate_feed(b, p, n);
}

static int brotli_feed(struct body *b, const uint8_t *p, size_t n)
{
	struct body_dec *d = b->dec;
	uint8_t scratch[BODY_SCRATCH];
	const uint8_t *in = p;
	size_t avail_in = n;

	if (!d->br) {
		d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		if (!d->br)
			return fail(b);
	}
	if (d->ended)
		return n ? fail(b) : 0;
	for (;;) {
		uint8_t *out = scratch;
		size_t avail_out = sizeof(scratch);
		BrotliDecoderResult r;

		r = BrotliDecoderDecompressStream(d->br, &avail_in, &in,
						  &avail_out, &out, NULL);
		body_out(b, scratch, sizeof(scratch) - avail_out);
		switch (r) {
		case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
			continue;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
			return 0;
		case BROTLI_DECODER_RESULT_SUCCESS:
			d->ended = true;
			return avail_in ? fail(b) : 0;
		default:
			return fail(b);
		}
	}
}

/* SHA-256 of no bytes (a body with none, the common case of requests) */
static const unsigned char sha256_empty[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
	0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

/* The SHA-256 implementation, fetched from the provider once: with
 * EVP_sha256() OpenSSL 3 looks it up again (under the method store's
 * lock) at every EVP_DigestInit_ex, twice per call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

/* A context ready to hash, or NULL (out of memory) */
static EVP_MD_CTX *sha256_new(void)
{
	EVP_MD_CTX *x = EVP_MD_CTX_new();

	pthread_once(&sha256_once, sha256_fetch);
	if (x && !EVP_DigestInit_ex(x, sha256_md ? sha256_md : EVP_sha256(),
				    NULL)) {
		EVP_MD_CTX_free(x);
		x = NULL;
	}
	return x;
}

int body_feed(struct body *b, const uint8_t *p, size_t n)
{
	b->present = true;
	b->wire_size += n;
	if (b->decode_error)
		return -EBADMSG;
	if (!n || b->finished)
		return 0;
	if (b->opts.hash && !b->sha && !b->gap && b->size == 0)
		b->sha = sha256_new();
	switch (b->coding) {
	case BODY_IDENTITY:
	case BODY_UNKNOWN_CODING:
		body_out(b, p, n);
		return 0;
	default:
		break;
	}
	if (b->gap)
		return 0;	/* cannot resume a compressed stream */
	if (!b->dec)
		b->dec = xcalloc(1, sizeof(struct body_dec));
	switch (b->coding) {
	case BODY_GZIP:
		if (!((struct body_dec *)b->dec)->z_live) {
			int rc = zlib_start(b, MAX_WBITS + 32);

			if (rc)
				return rc;
		}
		return inflate_feed(b, p, n);
	case BODY_DEFLATE:
		return deflate_feed(b, p, n);
	case BODY_BR:
		return brotli_feed(b, p, n);
	default:
		return 0;
	}
}

void body_gap(struct body *b, uint64_t len)
{
	b->present = true;
	b->gap = true;
	b->wire_size += len;
	/* Identity: the missing bytes are body bytes, so size stays the true
	 * length; nothing after the gap is kept or hashed.  Encoded: the
	 * decoder cannot resume, the decoded size is unknown from here on. */
	if (b->coding == BODY_IDENTITY || b->coding == BODY_UNKNOWN_CODING)
		b->size += len;
	b->truncated = b->size > b->kept_len;
	dec_free(b);
}

void body_finish(struct body *b)
{
	struct body_dec *d = b->dec;

	if (b->finished)
		return;
	b->finished = true;
	if (d && !d->ended && !b->gap && !b->decode_error)
		b->decode_error = true;	/* compressed stream cut short */
	dec_free(b);
	if (b->opts.hash) {
		unsigned int len = 0;

		if (b->sha) {
			EVP_DigestFinal_ex(b->sha, b->sha256, &len);
			EVP_MD_CTX_free(b->sha);
			b->sha = NULL;
		} else {
			/* nothing was hashed: the digest of no bytes */
			memcpy(b->sha256, sha256_empty, sizeof(sha256_empty));
		}
	}
}

void body_fini(struct body *b)
{
	dec_free(b);
	EVP_MD_CTX_free(b->sha);
	b->sha = NULL;
	kept_release(b);
	b->kept_len = 0;
}
