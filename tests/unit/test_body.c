/* test_body.c - body.c: identity / gzip / deflate (zlib and raw) / br
 * decoding, kept prefix vs max_keep, SHA-256 on/off, sticky decode errors,
 * unknown codings, gaps, and a 100 MB decompression bomb with bounded
 * memory.  Compressed inputs are made with zlib at run time; the br input
 * is a fixed blob made once with the brotli CLI (-q 11). */
#include <errno.h>
#include <sys/resource.h>
#include <zlib.h>
#include <openssl/sha.h>

#include "tt.h"
#include "body.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* "The quick brown fox jumps over the lazy dog. " x 20 (900 bytes) */
static const uint8_t fox_br[] = {
	0xa1, 0x18, 0x1c, 0x40, 0x64, 0x71, 0xc0, 0x9b, 0x86, 0xae, 0xec, 0xba,
	0x84, 0xd8, 0xbd, 0x58, 0x49, 0x55, 0x86, 0x96, 0x64, 0x66, 0x6c, 0x0d,
	0xe2, 0x32, 0x97, 0xb7, 0x41, 0xce, 0xf0, 0xf4, 0x54, 0xd8, 0x1b, 0x6c,
	0xc0, 0x81, 0x43, 0x02, 0x79, 0x23, 0xf1, 0x0d, 0x3a, 0xad, 0x70, 0xe6,
	0xf0, 0x38, 0x51, 0x4d, 0xc1, 0x11, 0x4e, 0xc4, 0x7d, 0x1a, 0x0c,
};
#define FOX_SHA "48046ee2e2bded150eb986c1deb51487f118ac774f8802392b953db227329eb6"
#define HELLO_SHA "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char fox[901];

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

/* wbits: 31 gzip, 15 zlib, -15 raw.  Returns a malloc'd buffer. */
static uint8_t *zcompress(const void *in, size_t n, int wbits, size_t *outlen)
{
	z_stream z;
	size_t cap = compressBound(n) + 64;
	uint8_t *out = malloc(cap);

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* Feed `in` through a body in pieces of `step` bytes (0: one shot), from a
 * guarded copy. */
static void run(struct body *b, const char *coding, const uint8_t *in,
		size_t n, size_t step)
{
	/* tt_guard(_, 0) returns the guard page itself, which tt_guard_free()
	 * then reads: never guard an empty input. */
	uint8_t *g = n ? tt_guard(in, n) : NULL;

	if (coding)
		body_set_coding(b, coding, strlen(coding));
	if (!step)
		step = n ? n : 1;
	for (size_t off = 0; off < n; off += step)
		body_feed(b, g + off, MIN(step, n - off));
	body_finish(b);
	if (g)
		tt_guard_free(g);
}

struct dcase {
	const char *name;
	const char *coding;	/* Content-Encoding value */
	int wbits;		/* 0: input as is; else zlib-compress fox */
	size_t max_keep;
	bool hash;
	size_t step;		/* 0: one shot */
	enum body_coding want_coding;
	size_t want_kept;
	const char *want_sha;	/* NULL: hash off (all zero) */
};

#define FOXN 900
static const struct dcase dcases[] = {
	/* name         coding     wbits keep  hash step  coding          kept sha */
	{ "identity",   NULL,       0,  4096, true,  0, BODY_IDENTITY,    FOXN, FOX_SHA },
	{ "identity-kw","identity", 0,  4096, true,  7, BODY_IDENTITY,    FOXN, FOX_SHA },
	{ "trunc",      NULL,       0,    10, true,  0, BODY_IDENTITY,      10, FOX_SHA },
	{ "trunc-1",    NULL,       0,    10, true,  1, BODY_IDENTITY,      10, FOX_SHA },
	{ "keep0",      NULL,       0,     0, true,  0, BODY_IDENTITY,       0, FOX_SHA },
	{ "nohash",     NULL,       0,  4096, false, 0, BODY_IDENTITY,    FOXN, NULL },
	{ "gzip",       "gzip",    31,  4096, true,  0, BODY_GZIP,        FOXN, FOX_SHA },
	{ "gzip-1",     "gzip",    31,  4096, true,  1, BODY_GZIP,        FOXN, FOX_SHA },
	{ "x-gzip",     " X-GZip ",31,   100, true,  3, BODY_GZIP,         100, FOX_SHA },
	{ "deflate-z",  "deflate", 15,  4096, true,  0, BODY_DEFLATE,     FOXN, FOX_SHA },
	{ "deflate-z1", "deflate", 15,  4096, true,  1, BODY_DEFLATE,     FOXN, FOX_SHA },
	{ "deflate-raw","deflate",-15,  4096, true,  0, BODY_DEFLATE,     FOXN, FOX_SHA },
	{ "deflate-r1", "deflate",-15,  4096, true,  1, BODY_DEFLATE,     FOXN, FOX_SHA },
	{ "br",         "br",       1,  4096, true,  0, BODY_BR,          FOXN, FOX_SHA },
	{ "br-1",       "br",       1,   333, true,  1, BODY_BR,           333, FOX_SHA },
	{ "br-nohash",  "BR",       1,  4096, false, 5, BODY_BR,          FOXN, NULL },
};

TT_TEST(decode_table)
{
	make_fox();
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dcase *k = &dcases[i];
		struct body_opts o = { .max_keep = k->max_keep, .hash = k->hash };
		struct body b;
		uint8_t *in = NULL;
		size_t n;
		char h[65];

		if (k->wbits == 0) {
			n = FOXN;
			in = (uint8_t *)fox;
		} else if (k->wbits == 1) {
			n = sizeof(fox_br);
			in = (uint8_t *)fox_br;
		} else {
			in = zcompress(fox, FOXN, k->wbits, &n);
		}
		body_init(&b, &o);
		run(&b, k->coding, in, n, k->step);
		if (b.coding != k->want_coding || b.size != FOXN ||
		    b.wire_size != n || b.kept_len != k->want_kept ||
		    b.decode_error || b.gap || !b.present ||
		    b.truncated != (k->want_kept < FOXN) ||
		    memcmp(b.kept ? (char *)b.kept : "", fox, b.kept_len))
			fprintf(stderr, "case %s\n", k->name);
		TT_EQ_INT(b.coding, k->want_coding);
		TT_EQ_INT(b.size, FOXN);
		TT_EQ_INT(b.wire_size, n);
		TT_EQ_INT(b.kept_len, k->want_kept);
		TT_CHECK(!b.decode_error && !b.gap && b.present);
		TT_EQ_INT(b.truncated, k->want_kept < FOXN);
		if (b.kept_len)
			TT_EQ_MEM(b.kept, fox, b.kept_len);
		hex(b.sha256, h);
		if (k->want_sha)
			TT_EQ_STR(h, k->want_sha);
		else
			TT_EQ_STR(h, "0000000000000000000000000000000000000000000000000000000000000000");
		body_fini(&b);
		if (k->wbits && k->wbits != 1)
			free(in);
	}
}

TT_TEST(empty_and_hello)
{
	struct body_opts o = { .max_keep = 64, .hash = true };
	struct body b;
	char h[65];

	body_init(&b, &o);
	body_finish(&b);
	hex(b.sha256, h);
	TT_EQ_STR(h, EMPTY_SHA);
	TT_EQ_INT(b.size, 0);
	TT_CHECK(!b.present && !b.truncated);
	body_finish(&b);	/* idempotent */
	body_fini(&b);

	body_init(&b, &o);
	run(&b, "", (const uint8_t *)"hello world", 11, 0);
	hex(b.sha256, h);
	TT_EQ_STR(h, HELLO_SHA);
	TT_EQ_INT(b.kept_len, 11);
	body_fini(&b);

	/* empty gzip body (e.g. a 204 that says gzip): no error */
	body_init(&b, &o);
	run(&b, "gzip", NULL, 0, 0);
	TT_CHECK(!b.decode_error);
	hex(b.sha256, h);
	TT_EQ_STR(h, EMPTY_SHA);
	body_fini(&b);
}

TT_TEST(coding_names)
{
	static const struct { const char *v; enum body_coding c; } t[] = {
		{ "gzip", BODY_GZIP }, { "GZIP", BODY_GZIP },
		{ "x-gzip", BODY_GZIP }, { "deflate", BODY_DEFLATE },
		{ "br", BODY_BR }, { "identity", BODY_IDENTITY },
		{ "", BODY_IDENTITY }, { "  ", BODY_IDENTITY },
		{ "compress", BODY_UNKNOWN_CODING },
		{ "gzip, br", BODY_UNKNOWN_CODING },
		{ "zstd", BODY_UNKNOWN_CODING }, { "gzipx", BODY_UNKNOWN_CODING },
	};
	struct body_opts o = { .max_keep = 16 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct body b;

		body_init(&b, &o);
		body_set_coding(&b, t[i].v, strlen(t[i].v));
		TT_EQ_INT(b.coding, t[i].c);
		body_fini(&b);
	}
}

/* Kept buffers of 256 bytes are reused per thread (body.c): a body must
 * hold exactly its own bytes whether its buffer is fresh, reused, or a
 * reused one grown past 256; bodies of many lengths in turn, some alive
 * at once. */
TT_TEST(kept_buffers_reused_clean)
{
	struct body_opts o = { .max_keep = 1024 };
	struct body b[3];
	uint8_t want[3][1100];
	size_t len[3];
	int bad = 0;

	for (int i = 0; i < 300; i++) {
		int j = i % 3;

		if (i >= 3) {
			bad += b[j].kept_len != MIN(len[j], 1024) ||
			       (len[j] && memcmp(b[j].kept, want[j],
						 MIN(len[j], 1024)));
			body_fini(&b[j]);
		}
		len[j] = (size_t)(i * 37) % 1100;
		for (size_t k = 0; k < len[j]; k++)
			want[j][k] = (uint8_t)(i + k * 7);
		body_init(&b[j], &o);
		/* in two pieces: growth within one body too */
		body_feed(&b[j], want[j], len[j] / 2);
		body_feed(&b[j], want[j] + len[j] / 2, len[j] - len[j] / 2);
		body_finish(&b[j]);
	}
	for (int j = 0; j < 3; j++)
		body_fini(&b[j]);
	body_thread_cleanup();
	TT_EQ_INT(bad, 0);
}

TT_TEST(unknown_coding_recorded_as_sent)
{
	struct body_opts o = { .max_keep = 64, .hash = true };
	struct body b;
	char h[65];

	body_init(&b, &o);
	run(&b, "compress", (const uint8_t *)"hello world", 11, 3);
	TT_EQ_INT(b.coding, BODY_UNKNOWN_CODING);
	TT_EQ_INT(b.size, 11);
	TT_CHECK(!b.decode_error);
	TT_EQ_MEM(b.kept, "hello world", 11);
	hex(b.sha256, h);
	TT_EQ_STR(h, HELLO_SHA);
	body_fini(&b);
}

TT_TEST(corrupt_gzip_sticky)
{
	struct body_opts o = { .max_keep = 4096, .hash = true };
	struct body b;
	size_t n;
	uint8_t *gz;

	make_fox();
	gz = zcompress(fox, FOXN, 31, &n);
	gz[n / 2] ^= 0x55;
	gz[n / 2 + 1] ^= 0xaa;
	body_init(&b, &o);
	body_set_coding(&b, "gzip", 4);
	(void)body_feed(&b, gz, n);
	TT_CHECK(b.decode_error);
	TT_EQ_INT(body_feed(&b, gz, 4), -EBADMSG);	/* sticky */
	TT_EQ_INT(b.wire_size, n + 4);
	body_finish(&b);
	TT_CHECK(b.decode_error);
	body_fini(&b);

	/* not gzip at all */
	body_init(&b, &o);
	body_set_coding(&b, "gzip", 4);
	TT_EQ_INT(body_feed(&b, (const uint8_t *)"plain text, not gzip", 20), -EBADMSG);
	TT_CHECK(b.decode_error);
	body_fini(&b);

	/* truncated stream: error at finish */
	body_init(&b, &o);
	body_set_coding(&b, "gzip", 4);
	TT_EQ_INT(body_feed(&b, gz, 10), 0);
	TT_CHECK(!b.decode_error);
	body_finish(&b);
	TT_CHECK(b.decode_error);
	body_fini(&b);
	free(gz);

	/* corrupt br, trailing garbage after br */
	{
		uint8_t bad[sizeof(fox_br) + 3];

		memcpy(bad, fox_br, sizeof(fox_br));
		memcpy(bad + sizeof(fox_br), "xyz", 3);
		body_init(&b, &o);
		body_set_coding(&b, "br", 2);
		TT_EQ_INT(body_feed(&b, bad, sizeof(bad)), -EBADMSG);
		TT_CHECK(b.decode_error);
		body_fini(&b);

		body_init(&b, &o);
		body_set_coding(&b, "br", 2);
		TT_EQ_INT(body_feed(&b, (const uint8_t *)"\xff\xff\xff\xff", 4), -EBADMSG);
		body_fini(&b);
	}
}

TT_TEST(gzip_multi_member)
{
	struct body_opts o = { .max_keep = 4096, .hash = true };
	struct body b;
	size_t n1, n2;
	uint8_t *a = zcompress("hello ", 6, 31, &n1);
	uint8_t *c = zcompress("world", 5, 31, &n2);
	uint8_t *both = malloc(n1 + n2);
	char h[65];

	memcpy(both, a, n1);
	memcpy(both + n1, c, n2);
	for (size_t step = 0; step <= 4; step++) {
		body_init(&b, &o);
		run(&b, "gzip", both, n1 + n2, step);
		TT_CHECK(!b.decode_error);
		TT_EQ_INT(b.size, 11);
		hex(b.sha256, h);
		TT_EQ_STR(h, HELLO_SHA);
		body_fini(&b);
	}
	/* deflate: data after the end is an error */
	free(a);
	a = zcompress("hello", 5, 15, &n1);
	memcpy(both, a, n1);
	memcpy(both + n1, "junk", 4);
	body_init(&b, &o);
	run(&b, "deflate", both, n1 + 4, 0);
	TT_CHECK(b.decode_error);
	TT_EQ_INT(b.size, 5);
	body_fini(&b);
	free(a);
	free(c);
	free(both);
}

TT_TEST(gap)
{
	struct body_opts o = { .max_keep = 4096, .hash = true };
	struct body b;
	size_t n;
	uint8_t *gz;

	/* identity: size stays the true length; kept stops at the gap */
	body_init(&b, &o);
	body_feed(&b, (const uint8_t *)"hello", 5);
	body_gap(&b, 3);
	body_feed(&b, (const uint8_t *)"xyz", 3);
	body_finish(&b);
	TT_CHECK(b.gap && b.truncated && !b.decode_error);
	TT_EQ_INT(b.size, 11);
	TT_EQ_INT(b.wire_size, 11);
	TT_EQ_INT(b.kept_len, 5);
	TT_EQ_MEM(b.kept, "hello", 5);
	body_fini(&b);

	/* gzip: decoding stops, no decode error on top of the gap */
	make_fox();
	gz = zcompress(fox, FOXN, 31, &n);
	body_init(&b, &o);
	body_set_coding(&b, "gzip", 4);
	body_feed(&b, gz, 20);
	body_gap(&b, 10);
	TT_EQ_INT(body_feed(&b, gz + 30, n - 30), 0);
	body_finish(&b);
	TT_CHECK(b.gap && !b.decode_error);
	TT_EQ_INT(b.wire_size, n);
	TT_CHECK(b.size < FOXN);
	body_fini(&b);
	free(gz);
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 100 MiB of zeros, gzip: the decoded size is exact, the kept prefix is
 * max_keep, and the peak RSS grows by far less than the output. */
TT_TEST(bomb)
{
	const uint64_t total = 100ULL << 20;
	static uint8_t zeros[1 << 16];
	struct body_opts o = { .max_keep = 1024, .hash = true };
	size_t cap = 1 << 20, len = 0;
	uint8_t *gz = malloc(cap);
	uint8_t digest[32], want[32];
	char h[65], w[65];
	z_stream z;
	long before;
	struct body b;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(&z, 0, sizeof(z));
	TT_REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) == Z_OK);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (uint64_t done = 0; done < total; done += sizeof(zeros)) {
		z.next_in = zeros;
		z.avail_in = sizeof(zeros);
		EVP_DigestUpdate(md, zeros, sizeof(zeros));
		do {
			z.next_out = gz + len;
			z.avail_out = (uInt)(cap - len);
			TT_REQUIRE(deflate(&z, done + sizeof(zeros) >= total ?
					   Z_FINISH : Z_NO_FLUSH) != Z_STREAM_ERROR);
			len = cap - z.avail_out;
		} while (z.avail_in);
	}
	deflateEnd(&z);
	EVP_DigestFinal_ex(md, want, NULL);
	EVP_MD_CTX_free(md);
	TT_CHECK(len < 200 * 1024);

	before = maxrss_kb();
	body_init(&b, &o);
	body_set_coding(&b, "gzip", 4);
	for (size_t off = 0; off < len; off += 4096)
		TT_EQ_INT(body_feed(&b, gz + off, MIN((size_t)4096, len - off)), 0);
	body_finish(&b);
	TT_EQ_INT(b.size, total);
	TT_EQ_INT(b.kept_len, 1024);
	TT_CHECK(b.truncated && !b.decode_error);
	memcpy(digest, b.sha256, 32);
	hex(digest, h);
	hex(want, w);
	TT_EQ_STR(h, w);
	TT_CHECK(maxrss_kb() - before < 8 * 1024);
	body_fini(&b);
	free(gz);
}

TT_MAIN()
