/* test_pcapng.c - pcapng blocks byte-exact, parsed back; the DSB reader
 * on good, swapped and malformed input. */
#include <errno.h>

#include "pcapng.h"
#include "tt.h"

static uint32_t g32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t g16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

TT_TEST(shb_exact)
{
	struct pcapng_buf b = { 0 };
	TT_REQUIRE(pcapng_put_shb(&b) == 0);
	TT_EQ_INT(b.len, 28);
	TT_EQ_INT(g32(b.b), 0x0A0D0D0A);
	TT_EQ_INT(g32(b.b + 4), 28);
	TT_EQ_INT(g32(b.b + 8), 0x1A2B3C4D);
	TT_EQ_INT(g16(b.b + 12), 1);
	TT_EQ_INT(g16(b.b + 14), 0);
	TT_EQ_INT(g32(b.b + 24), 28);
	pcapng_buf_free(&b);
}

TT_TEST(idb_exact)
{
	struct pcapng_buf b = { 0 };
	TT_REQUIRE(pcapng_put_idb(&b, 1, 262144, "eth0") == 0);
	/* 16 + if_name (4 + 4) + if_tsresol (4 + 4) + end (4) + len (4) */
	TT_EQ_INT(b.len, 40);
	TT_EQ_INT(g32(b.b), 1);
	TT_EQ_INT(g32(b.b + 4), 40);
	TT_EQ_INT(g16(b.b + 8), 1);
	TT_EQ_INT(g32(b.b + 12), 262144);
	TT_EQ_INT(g16(b.b + 16), 2);
	TT_EQ_INT(g16(b.b + 18), 4);
	TT_EQ_MEM(b.b + 20, "eth0", 4);
	TT_EQ_INT(g16(b.b + 24), 9);
	TT_EQ_INT(g16(b.b + 26), 1);
	TT_EQ_INT(b.b[28], 9);
	TT_EQ_INT(b.b[29] | b.b[30] | b.b[31], 0);
	TT_EQ_INT(g32(b.b + 32), 0);
	TT_EQ_INT(g32(b.b + 36), 40);
	b.len = 0;
	TT_REQUIRE(pcapng_put_idb(&b, 101, 65535, NULL) == 0);
	TT_EQ_INT(b.len, 32);
	TT_EQ_INT(g32(b.b + 28), 32);
	pcapng_buf_free(&b);
}

TT_TEST(epb_exact_every_pad)
{
	uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	for (uint32_t n = 0; n <= 8; n++) {
		struct pcapng_buf b = { 0 };
		uint64_t ts = 0x0123456789abcdefULL;
		TT_REQUIRE(pcapng_put_epb(&b, 3, ts, data, n, n + 100) == 0);
		TT_EQ_INT(b.len, pcapng_epb_size(n));
		TT_EQ_INT(b.len % 4, 0);
		TT_EQ_INT(g32(b.b), 6);
		TT_EQ_INT(g32(b.b + 4), b.len);
		TT_EQ_INT(g32(b.b + 8), 3);
		TT_EQ_INT(g32(b.b + 12), 0x01234567);
		TT_EQ_INT(g32(b.b + 16), 0x89abcdef);
		TT_EQ_INT(g32(b.b + 20), n);
		TT_EQ_INT(g32(b.b + 24), n + 100);
		TT_EQ_MEM(b.b + 28, data, n);
		for (size_t i = 28 + n; i < b.len - 4; i++)
			TT_EQ_INT(b.b[i], 0);
		TT_EQ_INT(g32(b.b + b.len - 4), b.len);
		pcapng_buf_free(&b);
	}
}

struct got { int n; char s[256]; };
static void cb(void *ctx, const uint8_t *p, size_t n)
{
	struct got *g = ctx;
	memcpy(g->s, p, n < 255 ? n : 255);
	g->s[n < 255 ? n : 255] = 0;
	g->n++;
}

static void image(struct pcapng_buf *b, const char *secrets)
{
	uint8_t pkt[60] = { 0 };
	TT_CHECK(pcapng_put_shb(b) == 0);
	TT_CHECK(pcapng_put_idb(b, 1, 65535, "lo") == 0);
	TT_CHECK(pcapng_put_dsb(b, PCAPNG_SECRETS_TLS, secrets,
				(uint32_t)strlen(secrets)) == 0);
	TT_CHECK(pcapng_put_epb(b, 0, 1, pkt, 60, 60) == 0);
}

TT_TEST(dsb_roundtrip_and_every_truncation)
{
	struct pcapng_buf b = { 0 };
	struct got g = { 0 };
	const char *sec = "CLIENT_RANDOM ab cd\n";
	image(&b, sec);
	TT_EQ_INT(pcapng_scan_dsb(b.b, b.len, cb, &g), 1);
	TT_EQ_STR(g.s, sec);
	/* every truncation: never a read past the end (guard page), never a
	 * DSB handed on that was not whole */
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *t = tt_guard(b.b, n);
		struct got h = { 0 };
		int r = pcapng_scan_dsb(t, n, cb, &h);
		TT_CHECK(r == -ENOTSUP || r == -EBADMSG || r >= 0);
		if (n < 28 + 32 + 16 + 20 + 4)
			TT_EQ_INT(h.n, 0);
		tt_guard_free(t);
	}
	pcapng_buf_free(&b);
}

TT_TEST(dsb_bad_lengths)
{
	struct pcapng_buf b = { 0 };
	struct got g = { 0 };
	image(&b, "x\n");
	size_t dsb = 28 + 32;
	uint32_t bad = 7;
	memcpy(b.b + dsb + 4, &bad, 4);		/* not a multiple of 4 */
	TT_EQ_INT(pcapng_scan_dsb(b.b, b.len, cb, &g), -EBADMSG);
	bad = 0xfffffff0;
	memcpy(b.b + dsb + 4, &bad, 4);		/* past the end */
	TT_EQ_INT(pcapng_scan_dsb(b.b, b.len, cb, &g), -EBADMSG);
	bad = 24;
	memcpy(b.b + dsb + 4, &bad, 4);		/* restore */
	bad = 1000;
	memcpy(b.b + dsb + 12, &bad, 4);	/* secrets longer than block */
	TT_EQ_INT(pcapng_scan_dsb(b.b, b.len, cb, &g), -EBADMSG);
	TT_EQ_INT(g.n, 0);
	TT_EQ_INT(pcapng_scan_dsb((const uint8_t *)"\xd4\xc3\xb2\xa1xxxxxxxxxxxx", 16, cb, &g), -ENOTSUP);
	pcapng_buf_free(&b);
}

TT_TEST(dsb_swapped_section)
{
	/* a big-endian section written by hand */
	uint8_t img[28 + 24];
	uint32_t w[] = { 0x0A0D0D0A, 28, 0x1A2B3C4D, 0x00010000, 0xffffffff,
			 0xffffffff, 28, 0x0000000A, 24, 0x544c534b, 4, 0x41420a00, 24 };
	for (size_t i = 0; i < sizeof(w) / 4; i++) {
		uint32_t v = i == 0 ? w[i] : __builtin_bswap32(w[i]);
		if (i == 11)
			v = w[i] == 0x41420a00 ? 0x000a4241 : v;
		memcpy(img + i * 4, &v, 4);
	}
	/* "AB\n" in the body, in byte order as written */
	memcpy(img + 44, "AB\n\0", 4);
	struct got g = { 0 };
	TT_EQ_INT(pcapng_scan_dsb(img, sizeof(img), cb, &g), 1);
	TT_EQ_STR(g.s, "AB\n\0");
}

TT_TEST(dsb_file)
{
	struct pcapng_buf b = { 0 };
	struct got g = { 0 };
	char path[] = "/tmp/test_pcapng.XXXXXX";
	int fd = mkstemp(path);
	TT_REQUIRE(fd >= 0);
	image(&b, "K1\n");
	TT_CHECK(pcapng_put_dsb(&b, PCAPNG_SECRETS_TLS, "K2\n", 3) == 0);
	TT_CHECK(pcapng_put_dsb(&b, 0x12345678, "other", 5) == 0);
	TT_CHECK(write(fd, b.b, b.len) == (ssize_t)b.len);
	close(fd);
	TT_EQ_INT(pcapng_scan_dsb_file(path, 1 << 20, cb, &g), 2);
	TT_EQ_STR(g.s, "K2\n");
	TT_EQ_INT(pcapng_scan_dsb_file("/nonexistent/x", 1 << 20, cb, &g), -ENOENT);
	unlink(path);
	pcapng_buf_free(&b);
}

TT_MAIN()
