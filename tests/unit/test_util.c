/* test_util.c - size/uint parsing, memcap accounting, formatting. */
#include <errno.h>

#include "tt.h"
#include "util.h"

static const struct { const char *in; int ret; uint64_t v; } size_cases[] = {
	{ "0", 0, 0 },
	{ "123", 0, 123 },
	{ "64K", 0, 64 << 10 },
	{ "64k", 0, 64 << 10 },
	{ "256M", 0, 256ULL << 20 },
	{ "1G", 0, 1ULL << 30 },
	{ "2GiB", 0, 2ULL << 30 },
	{ "10KB", 0, 10 << 10 },
	{ "5B", 0, 5 },
	{ "", -EINVAL, 0 },
	{ "K", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "1X", -EINVAL, 0 },
	{ "1 K", -EINVAL, 0 },
	{ "1KK", -EINVAL, 0 },
	{ "99999999999999999999", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
};

TT_TEST(parse_size_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(size_cases); i++) {
		uint64_t v = 0;
		int r = parse_size(size_cases[i].in, &v);
		TT_EQ_INT(r, size_cases[i].ret);
		if (!r)
			TT_EQ_INT(v, size_cases[i].v);
	}
	TT_EQ_INT(parse_size(NULL, &(uint64_t){0}), -EINVAL);
}

TT_TEST(parse_uint_bounds)
{
	uint64_t v;
	TT_EQ_INT(parse_uint("5", 1, 10, &v), 0);
	TT_EQ_INT(v, 5);
	TT_EQ_INT(parse_uint("0", 1, 10, &v), -ERANGE);
	TT_EQ_INT(parse_uint("11", 1, 10, &v), -ERANGE);
	TT_EQ_INT(parse_uint("1a", 1, 10, &v), -EINVAL);
	TT_EQ_INT(parse_uint("", 1, 10, &v), -EINVAL);
}

TT_TEST(memcap_limits)
{
	struct memcap mc;
	memcap_init(&mc, 100);
	TT_EQ_INT(memcap_charge(&mc, 60), 0);
	TT_EQ_INT(memcap_charge(&mc, 41), -ENOMEM);
	TT_EQ_INT(mc.refused, 1);
	TT_EQ_INT(memcap_charge(&mc, 40), 0);
	TT_EQ_INT(mc.used, 100);
	TT_EQ_INT(mc.peak, 100);
	memcap_release(&mc, 70);
	TT_EQ_INT(mc.used, 30);
	TT_EQ_INT(memcap_charge(&mc, UINT64_MAX), -ENOMEM);
	memcap_release(&mc, 1000);	/* never underflows */
	TT_EQ_INT(mc.used, 0);
	TT_EQ_INT(memcap_charge(NULL, 1ULL << 62), 0);
}

TT_TEST(format_endpoint_and_time)
{
	char b[64];
	uint8_t v4[16] = { 10, 0, 0, 1 };
	uint8_t v6[16] = { 0xfd, 0, [15] = 1 };

	fmt_endpoint(b, sizeof(b), 4, v4, 443);
	TT_EQ_STR(b, "10.0.0.1:443");
	fmt_endpoint(b, sizeof(b), 6, v6, 8443);
	TT_EQ_STR(b, "[fd00::1]:8443");
	fmt_rfc3339_us(b, sizeof(b), 1764291723123456789ULL);
	TT_EQ_STR(b, "2025-11-28T01:02:03.123456Z");
	fmt_rfc3339_us(b, sizeof(b), 0);
	TT_EQ_STR(b, "1970-01-01T00:00:00.000000Z");
}

/* mem_has_nul_cr_lf (the header-field check of HTTP/2): every length to
 * 40, each of NUL, CR, LF at every position, near misses never; input
 * ending at a guard page (byte-wise path) and at a page start followed by
 * CR bytes (the one-vector path must mask them off). */
TT_TEST(nul_cr_lf_every_position)
{
	static const uint8_t hit[] = { 0, '\r', '\n' };
	static const uint8_t miss[] = { 0x01, 0x0b, 0x0c, 0x0e, 0x8a, 0x8d, 0xff, ' ' };
	uint8_t *pg = aligned_alloc(4096, 8192), buf[40];
	int bad = 0;

	TT_REQUIRE(pg);
	for (size_t n = 0; n <= 40; n++) {
		for (size_t pos = 0; pos <= n; pos++) {
			for (size_t h = 0; h < sizeof(hit) + 1; h++) {
				bool want = h < sizeof(hit) && pos < n;

				for (size_t i = 0; i < n; i++)
					buf[i] = miss[(i + pos) % sizeof(miss)];
				if (want)
					buf[pos] = hit[h];
				void *g = tt_guard(buf, n);
				bad += mem_has_nul_cr_lf(g, n) != want;
				tt_guard_free(g);
				memset(pg, '\r', 8192);
				memcpy(pg, buf, n);
				bad += mem_has_nul_cr_lf(pg, n) != want;
			}
		}
	}
	free(pg);
	TT_EQ_INT(bad, 0);
}

TT_TEST(secure_wipe_zeroes)
{
	uint8_t k[32];
	memset(k, 0xAB, sizeof(k));
	secure_wipe(k, sizeof(k));
	for (size_t i = 0; i < sizeof(k); i++)
		TT_EQ_INT(k[i], 0);
}

TT_MAIN()
