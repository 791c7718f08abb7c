/* test_keystore.c - NSS key log parsing, lookup, eviction, file warnings. */
#include <errno.h>
#include <fcntl.h>

#include "keystore.h"
#include "util.h"
#include "tt.h"

static const char *const labels[KEY_LABEL_COUNT] = {
	"CLIENT_RANDOM", "CLIENT_EARLY_TRAFFIC_SECRET",
	"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
	"EXPORTER_SECRET", "EARLY_EXPORTER_SECRET",
};

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void mk_random(uint8_t cr[32], unsigned seed)
{
	for (int i = 0; i < 32; i++)
		cr[i] = (uint8_t)(seed * 7 + i * 13 + (seed >> 8));
}

/* "LABEL <cr> <secret of n bytes>" into line (>= 256 bytes). */
static void mk_line(char *line, const char *label, const uint8_t cr[32],
		    uint8_t fillb, size_t n)
{
	uint8_t sec[64];
	char h1[65], h2[129];

	memset(sec, fillb, sizeof(sec));
	hex(h1, cr, 32);
	hex(h2, sec, n);
	sprintf(line, "%s %s %s", label, h1, h2);
}

/* Feed through a guard page so an overread of len crashes. */
static int add(struct keystore *ks, const char *line)
{
	size_t n = strlen(line);
	char *g = tt_guard(line, n ? n : 1);
	int rc = keystore_add_line(ks, g, n);

	tt_guard_free(g);
	return rc;
}

TT_TEST(every_label)
{
	struct keystore *ks = keystore_new(100);
	uint8_t cr[32];
	char line[512];

	mk_random(cr, 1);
	for (int l = 0; l < KEY_LABEL_COUNT; l++) {
		size_t len = l == KEY_CLIENT_RANDOM ? 48 : (l & 1 ? 32 : 48);

		mk_line(line, labels[l], cr, (uint8_t)(0x10 + l), len);
		TT_EQ_INT(add(ks, line), 0);
	}
	TT_EQ_INT(keystore_count(ks), 1);
	for (int l = 0; l < KEY_LABEL_COUNT; l++) {
		const struct key_secret *k = keystore_get(ks, cr, l);
		size_t len = l == KEY_CLIENT_RANDOM ? 48 : (l & 1 ? 32 : 48);
		uint8_t want[48];

		memset(want, 0x10 + l, sizeof(want));
		TT_REQUIRE(k);
		TT_EQ_INT(k->len, len);
		TT_EQ_MEM(k->b, want, len);
	}
	TT_EQ_INT(keystore_stats(ks)->accepted, KEY_LABEL_COUNT);
	TT_EQ_INT(keystore_stats(ks)->rejected, 0);
	TT_EQ_INT(keystore_stats(ks)->lines, KEY_LABEL_COUNT);
	keystore_free(ks);
}

TT_TEST(line_endings_comments_blank)
{
	struct keystore *ks = keystore_new(0);
	uint8_t cr[32];
	char line[512], buf[600];
	static const char *ok[] = { "", "\n", "\r\n", "# comment\n",
				    "   # indented comment", "  \t ",
				    "#CLIENT_RANDOM zz" };

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		TT_EQ_INT(add(ks, ok[i]), 0);
	TT_EQ_INT(keystore_count(ks), 0);
	mk_random(cr, 2);
	mk_line(line, "CLIENT_RANDOM", cr, 0xaa, 48);
	snprintf(buf, sizeof(buf), "%s\r\n", line);
	TT_EQ_INT(add(ks, buf), 0);
	mk_random(cr, 3);
	mk_line(line, "CLIENT_RANDOM", cr, 0xbb, 48);
	snprintf(buf, sizeof(buf), "%s\n", line);
	TT_EQ_INT(add(ks, buf), 0);
	/* uppercase hex */
	mk_random(cr, 4);
	mk_line(line, "CLIENT_RANDOM", cr, 0xcd, 48);
	for (char *p = line; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	TT_EQ_INT(add(ks, line), 0);
	TT_CHECK(keystore_get(ks, cr, KEY_CLIENT_RANDOM) &&
		 keystore_get(ks, cr, KEY_CLIENT_RANDOM)->b[0] == 0xcd);
	TT_EQ_INT(keystore_count(ks), 3);
	TT_EQ_INT(keystore_stats(ks)->rejected, 0);
	/* ignored known labels: OpenSSL's RSA and *_TRAFFIC_SECRET_N */
	TT_EQ_INT(add(ks, "RSA 0011223344556677 00"), 0);
	mk_line(line, "CLIENT_TRAFFIC_SECRET_N", cr, 1, 32);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_count(ks), 3);
	TT_EQ_INT(keystore_stats(ks)->accepted, 3);
	keystore_free(ks);
}

TT_TEST(bad_lines)
{
	struct keystore *ks = keystore_new(10);
	uint8_t cr[32];
	char line[512], h1[65], h48[97], h32[65];
	uint8_t sec[48];
	char bad[20][600];
	int nb = 0;

	mk_random(cr, 5);
	memset(sec, 0x5a, sizeof(sec));
	hex(h1, cr, 32);
	hex(h48, sec, 48);
	hex(h32, sec, 32);
	sprintf(bad[nb++], "CLIENT_RANDOM %s", h1);		/* missing */
	sprintf(bad[nb++], "CLIENT_RANDOM");
	sprintf(bad[nb++], "CLIENT_RANDOM %s %s extra", h1, h48);
	sprintf(bad[nb++], "CLIENT_RANDOMX %s %s", h1, h48);	/* label */
	sprintf(bad[nb++], "client_random %s %s", h1, h48);
	sprintf(bad[nb++], "SERVER_TRAFFIC_SECRET_1 %s %s", h1, h32);
	sprintf(bad[nb++], "CLIENT_RANDOM %.63s %s", h1, h48);	/* lengths */
	sprintf(bad[nb++], "CLIENT_RANDOM %s0 %s", h1, h48);
	sprintf(bad[nb++], "CLIENT_RANDOM %s %s", h1, h32);
	sprintf(bad[nb++], "CLIENT_RANDOM %s %.95s", h1, h48);
	sprintf(bad[nb++], "CLIENT_TRAFFIC_SECRET_0 %s %.80s", h1, h48);
	sprintf(bad[nb++], "CLIENT_TRAFFIC_SECRET_0 %s %s00", h1, h48);
	sprintf(bad[nb++], "CLIENT_RANDOM %s %s", h1, h48);	/* hex */
	bad[nb - 1][20] = 'g';
	sprintf(bad[nb++], "CLIENT_RANDOM %s %s", h1, h48);
	bad[nb - 1][14 + 65 + 10] = 'x';
	sprintf(bad[nb++], "CLIENT_RANDOM %s %s", h1, h48);
	bad[nb - 1][14 + 65 + 95] = ' ';
	sprintf(bad[nb++], "CLIENT_RANDOM,%s,%s", h1, h48);
	for (int i = 0; i < nb; i++) {
		int rc = add(ks, bad[i]);

		if (rc != -EBADMSG)
			fprintf(stderr, "accepted bad line %d\n", i);
		TT_EQ_INT(rc, -EBADMSG);
	}
	TT_EQ_INT(keystore_count(ks), 0);
	TT_EQ_INT(keystore_stats(ks)->rejected, nb);
	TT_EQ_INT(keystore_stats(ks)->accepted, 0);
	/* and the good version of the same line is fine */
	sprintf(line, "CLIENT_RANDOM %s %s", h1, h48);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_count(ks), 1);
	/* whitespace-separated: tabs and runs of spaces accepted */
	sprintf(line, "CLIENT_HANDSHAKE_TRAFFIC_SECRET\t%s   %s", h1, h32);
	TT_EQ_INT(add(ks, line), 0);
	TT_CHECK(keystore_get(ks, cr, KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET));
	keystore_free(ks);
}

TT_TEST(duplicates_last_wins)
{
	struct keystore *ks = keystore_new(10);
	uint8_t cr[32];
	char line[512];

	mk_random(cr, 6);
	mk_line(line, "SERVER_TRAFFIC_SECRET_0", cr, 1, 32);
	TT_EQ_INT(add(ks, line), 0);
	mk_line(line, "SERVER_TRAFFIC_SECRET_0", cr, 2, 48);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_stats(ks)->duplicates, 1);
	TT_EQ_INT(keystore_get(ks, cr, KEY_SERVER_TRAFFIC_SECRET_0)->len, 48);
	TT_EQ_INT(keystore_get(ks, cr, KEY_SERVER_TRAFFIC_SECRET_0)->b[0], 2);
	TT_EQ_INT(keystore_count(ks), 1);
	keystore_free(ks);
}

TT_TEST(lookup_misses)
{
	struct keystore *ks = keystore_new(10);
	uint8_t cr[32], other[32];
	char line[512];

	mk_random(cr, 7);
	mk_random(other, 8);
	TT_CHECK(!keystore_get(ks, cr, KEY_CLIENT_RANDOM));	/* empty */
	mk_line(line, "CLIENT_RANDOM", cr, 3, 48);
	TT_EQ_INT(add(ks, line), 0);
	TT_CHECK(keystore_get(ks, cr, KEY_CLIENT_RANDOM));
	TT_CHECK(!keystore_get(ks, other, KEY_CLIENT_RANDOM));
	TT_CHECK(!keystore_get(ks, cr, KEY_SERVER_TRAFFIC_SECRET_0));
	TT_CHECK(!keystore_get(ks, cr, KEY_LABEL_COUNT));
	TT_CHECK(!keystore_get(NULL, cr, KEY_CLIENT_RANDOM));
	keystore_free(ks);
	keystore_free(NULL);
}

TT_TEST(eviction_oldest_first)
{
	struct keystore *ks = keystore_new(3);
	uint8_t cr[6][32];
	char line[512];

	for (unsigned i = 0; i < 6; i++) {
		mk_random(cr[i], 100 + i);
		mk_line(line, "CLIENT_RANDOM", cr[i], (uint8_t)i, 48);
		TT_EQ_INT(add(ks, line), 0);
		TT_CHECK(keystore_count(ks) <= 3);
	}
	TT_EQ_INT(keystore_count(ks), 3);
	TT_EQ_INT(keystore_stats(ks)->evicted, 3);
	for (unsigned i = 0; i < 6; i++)
		TT_EQ_INT(keystore_get(ks, cr[i], KEY_CLIENT_RANDOM) != NULL,
			  i >= 3);
	/* a new label for a stored session adds no entry, evicts nothing */
	mk_line(line, "EXPORTER_SECRET", cr[3], 9, 32);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_count(ks), 3);
	TT_EQ_INT(keystore_stats(ks)->evicted, 3);
	/* the oldest (cr[3]) goes next, even though it was just updated */
	mk_line(line, "CLIENT_RANDOM", cr[0], 0, 48);
	TT_EQ_INT(add(ks, line), 0);
	TT_CHECK(!keystore_get(ks, cr[3], KEY_CLIENT_RANDOM));
	TT_CHECK(keystore_get(ks, cr[4], KEY_CLIENT_RANDOM));
	TT_CHECK(keystore_get(ks, cr[0], KEY_CLIENT_RANDOM));
	keystore_free(ks);
}

TT_TEST(many_entries)
{
	struct keystore *ks = keystore_new(0);
	char line[512];
	uint8_t cr[32];

	for (unsigned i = 0; i < 20000; i++) {
		mk_random(cr, i);
		memcpy(cr + 28, &i, 4);
		mk_line(line, "CLIENT_TRAFFIC_SECRET_0", cr, (uint8_t)i, 32);
		TT_EQ_INT(keystore_add_line(ks, line, strlen(line)), 0);
	}
	TT_EQ_INT(keystore_count(ks), 20000);
	for (unsigned i = 0; i < 20000; i++) {
		const struct key_secret *k;

		mk_random(cr, i);
		memcpy(cr + 28, &i, 4);
		k = keystore_get(ks, cr, KEY_CLIENT_TRAFFIC_SECRET_0);
		TT_REQUIRE(k);
		TT_EQ_INT(k->b[31], (uint8_t)i);
	}
	keystore_free(ks);
}

/* keystore_load_file() with stderr captured into out (NUL-terminated). */
static int load_captured(struct keystore *ks, const char *path, char *out,
			 size_t cap)
{
	char tmpl[] = "/tmp/tapir-ks-err-XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2), rc;
	ssize_t n;

	fflush(stderr);
	dup2(fd, 2);
	rc = keystore_load_file(ks, path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(tmpl);
	return rc;
}

TT_TEST(load_file_line_numbers)
{
	char path[] = "/tmp/tapir-ks-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct keystore *ks = keystore_new(100);
	uint8_t cr[32];
	char line[512], err[4096], want[600], secret_hex[97];
	uint8_t sec[48];

	TT_REQUIRE(f);
	mk_random(cr, 9);
	memset(sec, 0x77, sizeof(sec));
	hex(secret_hex, sec, 48);
	fprintf(f, "# SSL/TLS secrets log file\n");			/* 1 */
	mk_line(line, "CLIENT_RANDOM", cr, 0x77, 48);
	fprintf(f, "%s\r\n", line);					/* 2 */
	fprintf(f, "BOGUS_LABEL 00 %s\n", secret_hex);			/* 3 */
	fprintf(f, "\n");						/* 4 */
	mk_line(line, "CLIENT_RANDOM", cr, 0x77, 40);
	fprintf(f, "%s\n", line);					/* 5 */
	mk_line(line, "SERVER_HANDSHAKE_TRAFFIC_SECRET", cr, 0x66, 32);
	fprintf(f, "%s\n", line);					/* 6 */
	mk_line(line, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", cr, 0x77, 48);
	line[strlen(line) - 3] = 'q';
	fprintf(f, "%s", line);				/* 7, no newline */
	fclose(f);

	TT_EQ_INT(load_captured(ks, path, err, sizeof(err)), 2);
	snprintf(want, sizeof(want), "%s:3: unknown label", path);
	TT_CHECK(strstr(err, want));
	snprintf(want, sizeof(want), "%s:5: secret is not 48 bytes", path);
	TT_CHECK(strstr(err, want));
	snprintf(want, sizeof(want), "%s:7: secret is not hex", path);
	TT_CHECK(strstr(err, want));
	snprintf(want, sizeof(want), "%s:2:", path);
	TT_CHECK(!strstr(err, want));
	snprintf(want, sizeof(want), "%s:6:", path);
	TT_CHECK(!strstr(err, want));
	/* never echo a secret, not even part of one */
	TT_CHECK(!strstr(err, "7777777777"));
	TT_CHECK(!strstr(err, "6666666666"));
	TT_EQ_INT(keystore_stats(ks)->rejected, 3);
	TT_EQ_INT(keystore_stats(ks)->lines, 7);
	TT_CHECK(keystore_get(ks, cr, KEY_CLIENT_RANDOM));
	TT_CHECK(keystore_get(ks, cr, KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET));
	TT_CHECK(!keystore_get(ks, cr, KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET));
	unlink(path);
	TT_EQ_INT(keystore_load_file(ks, path), -ENOENT);
	keystore_free(ks);
}

TT_TEST(ttl_expiry)
{
	struct keystore *ks = keystore_new(0);
	const uint64_t s = 1000000000ULL, ttl = 600 * s;
	uint8_t cr[32];
	char line[512];

	/* no TTL: expire does nothing */
	mk_random(cr, 1);
	mk_line(line, "CLIENT_RANDOM", cr, 0x11, 48);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_expire(ks, 1), 0);
	TT_EQ_INT(keystore_expire(ks, 100 * ttl), 0);
	TT_EQ_INT(keystore_count(ks), 1);

	keystore_set_ttl(ks, ttl);
	for (unsigned i = 2; i < 12; i++) {	/* born at 10 s */
		mk_random(cr, i);
		mk_line(line, "CLIENT_RANDOM", cr, 0x22, 48);
		TT_EQ_INT(add(ks, line), 0);
	}
	TT_EQ_INT(keystore_expire(ks, 10 * s), 0);
	for (unsigned i = 12; i < 15; i++) {	/* born at 300 s */
		mk_random(cr, i);
		mk_line(line, "CLIENT_RANDOM", cr, 0x33, 48);
		TT_EQ_INT(add(ks, line), 0);
	}
	TT_EQ_INT(keystore_expire(ks, 300 * s), 0);
	TT_EQ_INT(keystore_count(ks), 14);
	TT_EQ_INT(keystore_expire(ks, 10 * s + ttl - 1), 0);
	/* the first 11 (the one added before the TTL was set counts from the
	 * first expire call: 1 s... 10 s) */
	TT_EQ_INT(keystore_expire(ks, 10 * s + ttl), 11);
	TT_EQ_INT(keystore_count(ks), 3);
	mk_random(cr, 3);
	TT_CHECK(!keystore_get(ks, cr, KEY_CLIENT_RANDOM));
	mk_random(cr, 13);
	TT_CHECK(keystore_get(ks, cr, KEY_CLIENT_RANDOM));
	/* a later label for a session does not renew it */
	mk_line(line, "CLIENT_TRAFFIC_SECRET_0", cr, 0x44, 32);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_expire(ks, 300 * s + ttl), 3);
	TT_EQ_INT(keystore_count(ks), 0);
	TT_EQ_INT(keystore_stats(ks)->expired, 14);
	TT_EQ_INT(keystore_stats(ks)->evicted, 0);
	/* time going backwards expires nothing */
	mk_random(cr, 20);
	mk_line(line, "CLIENT_RANDOM", cr, 0x55, 48);
	TT_EQ_INT(add(ks, line), 0);
	TT_EQ_INT(keystore_expire(ks, 5000 * s), 0);
	TT_EQ_INT(keystore_expire(ks, 1 * s), 0);
	TT_EQ_INT(keystore_count(ks), 1);
	keystore_free(ks);
}

/* Count bound = memory bound: a flood of sessions keeps both fixed. */
TT_TEST(memory_bounded)
{
	struct keystore *ks = keystore_new(1000);
	uint8_t cr[32];
	char line[512];
	size_t mem1k = 0;

	for (unsigned i = 0; i < 50000; i++) {
		mk_random(cr, i);
		memcpy(cr + 28, &i, 4);		/* unique */
		mk_line(line, "CLIENT_RANDOM", cr, 0x66, 48);
		TT_EQ_INT(add(ks, line), 0);
		if (i == 999)
			mem1k = keystore_memory(ks);
	}
	TT_EQ_INT(keystore_count(ks), 1000);
	TT_EQ_INT(keystore_stats(ks)->evicted, 49000);
	TT_CHECK(keystore_memory(ks) <= mem1k + 64 * 1024);
	TT_CHECK(keystore_memory(ks) < 1000 * 600 + 64 * 1024);
	keystore_free(ks);
}

TT_MAIN()
