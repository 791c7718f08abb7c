/* test_keylog_follow.c - following a key log file with real files in a
 * temporary directory: lines before start, appends in pieces, a file
 * created after start, truncation, rotation (rename + new file), delete +
 * recreate, overlong and malformed lines (warned by line number, secrets
 * never echoed), inotify wake-ups, a missing directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include "keylog_follow.h"
#include "util.h"
#include "tt.h"

struct tdir {
	char dir[64];
	char path[128];
};

static void tdir_init(struct tdir *t)
{
	strcpy(t->dir, "/tmp/tapir-kf-XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	snprintf(t->path, sizeof(t->path), "%s/keys.log", t->dir);
}

static void tdir_fini(struct tdir *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd))
		abort();
}

static unsigned cr_byte(unsigned n, int i)
{
	return i == 0 ? n & 0xff : i == 1 ? (n >> 8) & 0xff : (unsigned)i;
}

/* A valid CLIENT_RANDOM line for session n (secret bytes 0xAB). */
static void key_line(char *out, unsigned n)
{
	char *p = out;

	p += sprintf(p, "CLIENT_RANDOM ");
	for (int i = 0; i < 32; i++)
		p += sprintf(p, "%02x", cr_byte(n, i));
	*p++ = ' ';
	for (int i = 0; i < 48; i++)
		p += sprintf(p, "ab");
	*p++ = '\n';
	*p = '\0';
}

static int has_key(struct keystore *ks, unsigned n)
{
	uint8_t cr[32];

	for (int i = 0; i < 32; i++)
		cr[i] = (uint8_t)cr_byte(n, i);
	return keystore_get(ks, cr, KEY_CLIENT_RANDOM) != NULL;
}

static void append_raw(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd < 0 || write(fd, s, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void append_keys(const char *path, unsigned from, unsigned to)
{
	char l[256];

	for (unsigned n = from; n < to; n++) {
		key_line(l, n);
		append_raw(path, l, strlen(l));
	}
}

/* Wait up to ms for the inotify fd to become readable. */
static int wake(struct keylog_follow *k, int ms)
{
	struct pollfd pfd = { .fd = keylog_follow_fd(k), .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

TT_TEST(existing_file_and_appends)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;
	char l[256];

	tdir_init(&t);
	append_keys(t.path, 0, 10);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_CHECK(keylog_follow_fd(k) >= 0);
	TT_EQ_INT(keylog_follow_poll(k), 10);
	TT_EQ_INT(keylog_follow_poll(k), 0);
	/* a line written in three pieces: nothing until its newline */
	key_line(l, 10);
	append_raw(t.path, l, 20);
	TT_CHECK(wake(k, 1000));
	TT_EQ_INT(keylog_follow_poll(k), 0);
	TT_CHECK(!has_key(ks, 10));
	append_raw(t.path, l + 20, 100);
	TT_EQ_INT(keylog_follow_poll(k), 0);
	append_raw(t.path, l + 120, strlen(l) - 120);
	TT_EQ_INT(keylog_follow_poll(k), 1);
	TT_CHECK(has_key(ks, 10));
	append_keys(t.path, 11, 500);
	TT_CHECK(wake(k, 1000));
	TT_EQ_INT(keylog_follow_poll(k), 489);
	TT_EQ_INT(keystore_count(ks), 500);
	TT_EQ_INT(keylog_follow_stats(k)->lines, 500);
	TT_EQ_INT(keylog_follow_stats(k)->rejected, 0);
	TT_EQ_INT(keylog_follow_stats(k)->opens, 1);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

TT_TEST(file_created_after_start)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;

	tdir_init(&t);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_EQ_INT(keylog_follow_poll(k), 0);
	TT_EQ_INT(keylog_follow_stats(k)->opens, 0);
	append_keys(t.path, 0, 3);
	TT_CHECK(wake(k, 1000));
	TT_EQ_INT(keylog_follow_poll(k), 3);
	TT_EQ_INT(keylog_follow_stats(k)->opens, 1);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

TT_TEST(truncation)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;
	int fd;

	tdir_init(&t);
	append_keys(t.path, 0, 5);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_EQ_INT(keylog_follow_poll(k), 5);
	/* truncated (same inode), then one new line: shorter than before */
	fd = open(t.path, O_WRONLY | O_TRUNC);
	TT_REQUIRE(fd >= 0);
	close(fd);
	append_keys(t.path, 100, 101);
	TT_CHECK(wake(k, 1000));
	TT_EQ_INT(keylog_follow_poll(k), 1);
	TT_CHECK(has_key(ks, 100));
	TT_EQ_INT(keylog_follow_stats(k)->truncations, 1);
	/* truncate to zero and poll before anything new is written */
	TT_REQUIRE(truncate(t.path, 0) == 0);
	TT_EQ_INT(keylog_follow_poll(k), 0);
	TT_EQ_INT(keylog_follow_stats(k)->truncations, 2);
	append_keys(t.path, 200, 203);
	TT_EQ_INT(keylog_follow_poll(k), 3);
	TT_EQ_INT(keylog_follow_stats(k)->opens, 1);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

TT_TEST(rotation)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;
	char old[160];
	int wfd;
	char l[256];

	tdir_init(&t);
	snprintf(old, sizeof(old), "%s.1", t.path);
	append_keys(t.path, 0, 2);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_EQ_INT(keylog_follow_poll(k), 2);
	/* a writer that still has the old file open writes after the
	 * rename; the new file gets lines too: both are read, old first */
	wfd = open(t.path, O_WRONLY | O_APPEND);
	TT_REQUIRE(wfd >= 0);
	TT_REQUIRE(rename(t.path, old) == 0);
	key_line(l, 2);
	TT_REQUIRE(write(wfd, l, strlen(l)) == (ssize_t)strlen(l));
	close(wfd);
	append_keys(t.path, 3, 6);
	TT_CHECK(wake(k, 1000));
	TT_EQ_INT(keylog_follow_poll(k), 4);
	for (unsigned n = 0; n < 6; n++)
		TT_CHECK(has_key(ks, n));
	TT_EQ_INT(keylog_follow_stats(k)->rotations, 1);
	TT_EQ_INT(keylog_follow_stats(k)->opens, 2);
	/* rename away with nothing new yet: keep reading the old file */
	TT_REQUIRE(rename(t.path, old) == 0);
	TT_EQ_INT(keylog_follow_poll(k), 0);
	append_keys(old, 6, 7);
	TT_EQ_INT(keylog_follow_poll(k), 1);
	/* delete + create */
	TT_REQUIRE(unlink(old) == 0);
	append_keys(t.path, 7, 9);
	TT_EQ_INT(keylog_follow_poll(k), 2);
	TT_EQ_INT(keylog_follow_stats(k)->rotations, 2);
	TT_EQ_INT(keystore_count(ks), 9);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

/* Malformed and overlong lines: counted, warned with their line number,
 * never echoed; the lines around them still count. */
TT_TEST(bad_lines_warned_by_number)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;
	char errpath[160], buf[8192], *big;
	int saved, efd;
	ssize_t n;
	FILE *f;

	tdir_init(&t);
	snprintf(errpath, sizeof(errpath), "%s/stderr", t.dir);
	append_keys(t.path, 0, 1);
	append_raw(t.path, "CLIENT_RANDOM abcd zzsecretzz\n", 30);	/* 2 */
	append_raw(t.path, "# comment\n\n", 11);			/* 3, 4 */
	big = malloc(10000);
	memset(big, 'A', 10000);
	append_raw(t.path, big, 10000);					/* 5 */
	append_raw(t.path, "\n", 1);
	append_keys(t.path, 1, 2);					/* 6 */
	append_raw(t.path, "\x01\x02\xff garbage\n", 13);		/* 7 */
	free(big);

	fflush(stderr);
	saved = dup(2);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(efd, 2);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_EQ_INT(keylog_follow_poll(k), 2);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(efd);

	TT_EQ_INT(keylog_follow_stats(k)->lines, 7);
	TT_EQ_INT(keylog_follow_stats(k)->rejected, 2);
	TT_EQ_INT(keylog_follow_stats(k)->overlong, 1);
	f = fopen(errpath, "r");
	TT_REQUIRE(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	TT_CHECK(strstr(buf, "keys.log:2: "));
	TT_CHECK(strstr(buf, "keys.log:5: line longer than 4096 bytes"));
	TT_CHECK(strstr(buf, "keys.log:7: "));
	TT_CHECK(!strstr(buf, "zzsecret"));
	if (tt_cur_failed)
		fputs(buf, stderr);
	TT_CHECK(!strstr(buf, "abab"));
	TT_CHECK(!strstr(buf, "AAAA"));
	TT_CHECK(!strstr(buf, "garbage"));
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

/* A line exactly KEYLOG_LINE_MAX long is read (and rejected as malformed,
 * being no key line); one byte more is overlong. */
TT_TEST(line_limit_edges)
{
	struct tdir t;
	struct keystore *ks = keystore_new(1000);
	struct keylog_follow *k;
	char *l = malloc(KEYLOG_LINE_MAX + 2);

	tdir_init(&t);
	memset(l, '#', KEYLOG_LINE_MAX + 1);	/* a comment */
	l[KEYLOG_LINE_MAX] = '\n';
	append_raw(t.path, l, KEYLOG_LINE_MAX + 1);
	l[KEYLOG_LINE_MAX] = '#';
	l[KEYLOG_LINE_MAX + 1] = '\n';
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	for (size_t i = 0; i < KEYLOG_LINE_MAX + 2; i += 1000) {
		/* written in pieces between polls */
		size_t m = MIN((size_t)1000, KEYLOG_LINE_MAX + 2 - i);

		append_raw(t.path, l + i, m);
		TT_EQ_INT(keylog_follow_poll(k), 0);
	}
	append_keys(t.path, 5, 6);
	TT_EQ_INT(keylog_follow_poll(k), 1);
	TT_EQ_INT(keylog_follow_stats(k)->overlong, 1);
	TT_EQ_INT(keylog_follow_stats(k)->rejected, 0);
	TT_EQ_INT(keylog_follow_stats(k)->lines, 3);
	free(l);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

TT_TEST(missing_directory_and_bad_args)
{
	struct keystore *ks = keystore_new(10);

	errno = 0;
	TT_CHECK(!keylog_follow_new(ks, "/nonexistent-tapir-dir/keys.log"));
	TT_EQ_INT(errno, ENOENT);
	errno = 0;
	TT_CHECK(!keylog_follow_new(ks, "/tmp/"));
	TT_EQ_INT(errno, EINVAL);
	TT_CHECK(!keylog_follow_new(NULL, "/tmp/x"));
	keylog_follow_free(NULL);
	keystore_free(ks);
}

/* The path is a directory or unreadable: an error, and the follower
 * picks the file up once it is fixed. */
TT_TEST(not_a_regular_file)
{
	struct tdir t;
	struct keystore *ks = keystore_new(10);
	struct keylog_follow *k;

	tdir_init(&t);
	TT_REQUIRE(mkdir(t.path, 0700) == 0);
	k = keylog_follow_new(ks, t.path);
	TT_REQUIRE(k);
	TT_CHECK(keylog_follow_poll(k) < 0);
	TT_REQUIRE(rmdir(t.path) == 0);
	append_keys(t.path, 0, 1);
	TT_EQ_INT(keylog_follow_poll(k), 1);
	keylog_follow_free(k);
	keystore_free(ks);
	tdir_fini(&t);
}

TT_MAIN()
