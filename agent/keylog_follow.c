/* keylog_follow.c - a key log file followed as it grows (see
 * keylog_follow.h).
 *
 * Owns: the descriptor of the file being read (fd), an inotify descriptor
 * watching the file's directory (ifd; -1 if inotify is unavailable: the
 * caller polls), a read buffer and the partial-line buffer (both hold key
 * material: wiped after use and on free).  Does not own the key store.
 *
 * Every keylog_follow_poll() re-checks the file by name and by descriptor,
 * so inotify is only a wake-up: a missed or coalesced event costs latency,
 * never lines.  One poll:
 *
 *   drain inotify events
 *   fd open?  --no--> open(path): ENOENT -> done (file created later)
 *      | yes
 *   read_to_eof(fd)            lines appended since the last poll
 *   fstat(fd).size < off  ---> truncated: offset 0, partial line dropped,
 *      |                       read_to_eof again
 *   stat(path) is another file (rename + new file, or delete + create)
 *      ---> rotated: the old fd was read to its end above; close it, open
 *           the new file from offset 0
 *
 * Invariants: a line is handed to the key store only when its newline has
 * been read; a line longer than KEYLOG_LINE_MAX is dropped whole and
 * counted (never half-parsed); warnings carry the path, the line number in
 * the current file and the reason, never a byte of the line; line numbers
 * restart at 1 after a truncation or a rotation.  A truncation followed by
 * a rewrite past the old offset before the next poll is not detectable by
 * size (as with tail -F).
 */
#include "keylog_follow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define READ_CHUNK	(64 * 1024)

/* What the directory watch listens for. */
#define KEYLOG_IN_MASK (IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | \
			IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB |              \
			IN_DELETE_SELF | IN_MOVE_SELF)

struct keylog_follow {
	struct keystore *ks;
	char *path, *dir, *base;
	int ifd, wd;
	int fd;			/* -1: not open (yet) */
	dev_t dev;
	ino_t ino;
	off_t off;		/* bytes of fd consumed */
	uint64_t lineno;	/* lines of the current file seen */
	char line[KEYLOG_LINE_MAX];
	size_t nline;
	bool overlong;		/* discarding up to the next newline */
	bool warned_open;
	struct keylog_follow_stats st;
	uint8_t buf[READ_CHUNK];
};

static void line_reset(struct keylog_follow *k)
{
	secure_wipe(k->line, k->nline);
	k->nline = 0;
	k->overlong = false;
}

static void file_close(struct keylog_follow *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->off = 0;
	k->lineno = 0;
	line_reset(k);
}

static void add_line(struct keylog_follow *k, const char *p, size_t n)
{
	const char *why;

	k->lineno++;
	k->st.lines++;
	if (keystore_add_line_reason(k->ks, p, n, &why)) {
		k->st.rejected++;
		log_warn("%s:%" PRIu64 ": %s", k->path, k->lineno, why);
	}
}

/* Split p/n into lines, keeping a partial last line. */
static void consume(struct keylog_follow *k, const uint8_t *p, size_t n)
{
	while (n) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (k->overlong) {
			/* dropped already; skip to the newline */
		} else if (k->nline + take > sizeof(k->line)) {
			k->overlong = true;
			k->lineno++;
			k->st.lines++;
			k->st.overlong++;
			log_warn("%s:%" PRIu64 ": line longer than %d bytes, "
				 "ignored", k->path, k->lineno,
				 KEYLOG_LINE_MAX);
			line_reset(k);
			k->overlong = true;
		} else if (nl && !k->nline) {
			add_line(k, (const char *)p, take);	/* no copy */
		} else {
			memcpy(k->line + k->nline, p, take);
			k->nline += take;
			if (nl) {
				add_line(k, k->line, k->nline);
				line_reset(k);
			}
		}
		if (nl) {
			k->overlong = false;
			take++;
		}
		p += take;
		n -= take;
	}
}

/* Read fd to its current end.  0 or -errno. */
static int read_to_eof(struct keylog_follow *k)
{
	for (;;) {
		ssize_t r = pread(k->fd, k->buf, sizeof(k->buf), k->off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return 0;
		k->off += r;
		k->st.bytes += (uint64_t)r;
		consume(k, k->buf, (size_t)r);
		secure_wipe(k->buf, (size_t)r);
	}
}

/* Open path if it exists.  1 opened, 0 absent, -errno. */
static int file_open(struct keylog_follow *k)
{
	struct stat st;
	int fd = open(k->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (!k->warned_open)
			log_warn("cannot open key log %s: %s", k->path,
				 strerror(errno));
		k->warned_open = true;
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		int err = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		if (!k->warned_open)
			log_warn("key log %s is not a regular file", k->path);
		k->warned_open = true;
		return -err;
	}
	k->warned_open = false;
	k->fd = fd;
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->off = 0;
	k->lineno = 0;
	line_reset(k);
	k->st.opens++;
	return 1;
}

static void drain_inotify(struct keylog_follow *k)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t r;

	if (k->ifd < 0)
		return;
	while ((r = read(k->ifd, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + r;) {
			const struct inotify_event *ie = (const void *)p;

			if (ie->mask & (IN_IGNORED | IN_DELETE_SELF |
					IN_MOVE_SELF)) {
				/* directory gone or moved: polling only */
				inotify_rm_watch(k->ifd, k->wd);
				k->wd = -1;
			}
			p += sizeof(*ie) + ie->len;
		}
	}
	if (k->wd < 0) {
		k->wd = inotify_add_watch(k->ifd, k->dir, KEYLOG_IN_MASK);
		if (k->wd >= 0)
			k->st.rewatches++;
	}
}

int keylog_follow_poll(struct keylog_follow *k)
{
	uint64_t before = keystore_stats(k->ks)->accepted;
	struct stat st;
	int rc = 0;

	drain_inotify(k);
	for (int round = 0; round < 4; round++) {
		if (k->fd < 0) {
			rc = file_open(k);
			if (rc <= 0)
				break;
		}
		rc = read_to_eof(k);
		if (rc)
			break;
		if (!fstat(k->fd, &st) && st.st_size < k->off) {
			/* truncated: start again at the beginning */
			k->st.truncations++;
			k->off = 0;
			k->lineno = 0;
			line_reset(k);
			rc = read_to_eof(k);
			if (rc)
				break;
		}
		if (stat(k->path, &st) ||
		    (st.st_dev == k->dev && st.st_ino == k->ino))
			break;	/* gone (keep reading the old one) or same */
		/* rotated: the old file was read to its end above */
		if (k->nline || k->overlong)
			k->st.partial_dropped++;
		k->st.rotations++;
		file_close(k);
	}
	if (rc < 0 && rc != -ENOENT) {
		k->st.errors++;
		return rc;
	}
	return (int)MIN(keystore_stats(k->ks)->accepted - before,
			(uint64_t)INT_MAX);
}

struct keylog_follow *keylog_follow_new(struct keystore *ks, const char *path)
{
	struct keylog_follow *k;
	const char *slash;
	struct stat st;

	if (!ks || !path || !*path) {
		errno = EINVAL;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->ks = ks;
	k->fd = k->ifd = k->wd = -1;
	k->path = strdup(path);
	slash = strrchr(path, '/');
	k->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
		       : strdup(".");
	k->base = strdup(slash ? slash + 1 : path);
	if (!k->path || !k->dir || !k->base) {
		keylog_follow_free(k);
		errno = ENOMEM;
		return NULL;
	}
	if (!*k->base || stat(k->dir, &st) || !S_ISDIR(st.st_mode)) {
		int err = !*k->base ? EINVAL : errno ? errno : ENOTDIR;

		keylog_follow_free(k);
		errno = err;
		return NULL;
	}
	k->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (k->ifd >= 0) {
		k->wd = inotify_add_watch(k->ifd, k->dir, KEYLOG_IN_MASK);
		if (k->wd < 0) {
			close(k->ifd);
			k->ifd = -1;
		}
	}
	if (k->ifd < 0)
		log_info("key log %s: inotify unavailable, polling", path);
	return k;
}

int keylog_follow_fd(const struct keylog_follow *k)
{
	return k->ifd;
}

const struct keylog_follow_stats *
keylog_follow_stats(const struct keylog_follow *k)
{
	return &k->st;
}

void keylog_follow_free(struct keylog_follow *k)
{
	if (!k)
		return;
	file_close(k);
	if (k->ifd >= 0)
		close(k->ifd);
	free(k->path);
	free(k->dir);
	free(k->base);
	secure_wipe(k, sizeof(*k));
	free(k);
}
