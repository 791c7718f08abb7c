/* keysock.c - the key socket (see keysock.h).
 *
 * Owns: the listening socket, its path, the connection slots (fd, line
 * buffer, peer credentials, last activity), the epoll descriptor.
 *
 * Per connection:
 *
 *   accept_all() --slot free, or a slot evicted (evict())--> OPEN
 *   OPEN --conn_read(): bytes--> consume(): complete lines -> key store,
 *        partial line kept (<= line_max), longer: dropped up to the next
 *        newline (overlong)
 *   OPEN --EOF / error--> conn_close() (a last unterminated line is parsed)
 *   OPEN --evict(): table full--> shutdown(SHUT_RD), conn_pull() drains
 *        what the peer had sent (complete lines -> key store), then
 *        conn_close(); a partial line is discarded and counted (cut)
 *
 * Eviction picks the least recently active connection among those that
 * never delivered a valid key line, and only when every slot has
 * delivered one, the least recently active of all: a flood of idle
 * connections churns through the unproven slots and leaves a working
 * exporter (nginx's shim) connected.  Nothing already sent is lost by an
 * eviction: shutdown(SHUT_RD) makes the peer's next send fail (EPIPE, on
 * which the shim reconnects at once) and everything queued before it is
 * still read, up to EVICT_BUDGET bytes.  The listen queue is as long as
 * the kernel allows, so a flood of connects does not make the shim's own
 * non-blocking connect fail before the agent gets to evict anything.
 *
 * Invariants: never a blocking call (every fd is O_NONBLOCK; epoll_wait
 * with timeout 0); work per keysock_poll() is bounded (MAX_EVENTS events,
 * ACCEPT_BUDGET accepts, READ_BUDGET bytes per connection); memory is
 * bounded by max_conns * (line_max + slot); line buffers hold key material
 * and are wiped; no log call receives a byte a client sent (warnings name
 * the peer's pid and the reason, and stop after WARN_PER_CONN per
 * connection).
 */
#include "keysock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define MAX_EVENTS	64
#define ACCEPT_BUDGET	128
#define READ_BUDGET	(64 * 1024)
#define EVICT_BUDGET	(1024 * 1024)
#define WARN_PER_CONN	5
#define LISTENER	UINT32_MAX

struct kconn {
	int fd;			/* -1: free slot */
	pid_t pid;
	uid_t uid;
	uint64_t last;		/* activity sequence number (LRU) */
	uint64_t lineno;
	uint64_t good;		/* lines the key store accepted */
	unsigned warned;
	bool overlong;
	uint32_t n;
	char *buf;		/* line_max bytes */
};

struct keysock {
	struct keystore *ks;
	struct keysock_opts o;
	char *path;
	dev_t dev;		/* the socket file bound at path: unlinked */
	ino_t ino;		/* at exit only if path still names it */
	int lfd, ep;
	struct kconn *c;
	unsigned nconns;
	uint64_t seq;
	struct keysock_stats st;
};

void keysock_opts_default(struct keysock_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = 0600;
	o->owner = (uid_t)-1;
	o->group = (gid_t)-1;
	o->max_conns = 64;
	o->line_max = 4096;
}

static void conn_line(struct keysock *k, struct kconn *c, const char *p,
		      size_t n)
{
	const char *why;

	c->lineno++;
	k->st.lines++;
	if (keystore_add_line_reason(k->ks, p, n, &why)) {
		k->st.rejected++;
		if (c->warned++ < WARN_PER_CONN)
			log_warn("key socket: client pid %d: line %" PRIu64
				 ": %s", (int)c->pid, c->lineno, why);
	} else {
		c->good++;
	}
}

static void consume(struct keysock *k, struct kconn *c, const char *p,
		    size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (c->overlong) {
			/* dropping up to the newline */
		} else if (c->n + take > k->o.line_max) {
			c->overlong = true;
			c->lineno++;
			k->st.lines++;
			k->st.overlong++;
			if (c->warned++ < WARN_PER_CONN)
				log_warn("key socket: client pid %d: line %"
					 PRIu64 " longer than %u bytes, "
					 "ignored", (int)c->pid, c->lineno,
					 k->o.line_max);
			secure_wipe(c->buf, c->n);
			c->n = 0;
		} else if (nl && !c->n) {
			conn_line(k, c, p, take);
		} else {
			memcpy(c->buf + c->n, p, take);
			c->n += (uint32_t)take;
			if (nl) {
				conn_line(k, c, c->buf, c->n);
				secure_wipe(c->buf, c->n);
				c->n = 0;
			}
		}
		if (nl) {
			c->overlong = false;
			take++;
		}
		p += take;
		n -= take;
	}
}

static void conn_close(struct keysock *k, struct kconn *c, bool eof)
{
	if (c->fd < 0)
		return;
	if (eof && c->n && !c->overlong)
		conn_line(k, c, c->buf, c->n);	/* unterminated last line */
	epoll_ctl(k->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	secure_wipe(c->buf, k->o.line_max);
	c->n = 0;
	c->overlong = false;
	k->nconns--;
}

/* Read what the peer sent, up to budget bytes, into consume().  Returns
 * 1 at EOF, -1 on an error of the connection, 0 otherwise (nothing more
 * now, or the budget is spent).  Never closes. */
static int conn_pull(struct keysock *k, struct kconn *c, size_t budget)
{
	char chunk[4096];
	int rc = 0;

	while (budget) {
		ssize_t r = recv(c->fd, chunk, MIN(sizeof(chunk), budget),
				 MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				rc = -1;
			break;
		}
		if (r == 0) {
			rc = 1;
			break;
		}
		k->st.bytes += (uint64_t)r;
		budget -= (size_t)r;
		consume(k, c, chunk, (size_t)r);
		secure_wipe(chunk, (size_t)r);
	}
	return rc;
}

static void conn_read(struct keysock *k, struct kconn *c)
{
	int r;

	c->last = ++k->seq;
	r = conn_pull(k, c, READ_BUDGET);
	if (r) {
		k->st.closed++;
		conn_close(k, c, r > 0);
	}
}

/* Close c to free its slot, keeping every complete line it had sent. */
static void evict(struct keysock *k, struct kconn *c)
{
	int r;

	k->st.evicted++;
	/* from here on the peer's sends fail (EPIPE); what it queued before
	 * stays readable, then recv() returns 0 */
	(void)shutdown(c->fd, SHUT_RD);
	r = conn_pull(k, c, EVICT_BUDGET);
	if ((c->n && !c->overlong) || r == 0)
		k->st.cut++;	/* a partial line, or more than the budget */
	conn_close(k, c, false);
}

static struct kconn *free_slot(struct keysock *k)
{
	struct kconn *lru = NULL, *lru_new = NULL;

	for (unsigned i = 0; i < k->o.max_conns; i++) {
		struct kconn *c = &k->c[i];

		if (c->fd < 0)
			return c;
		if (!lru || c->last < lru->last)
			lru = c;
		if (!c->good && (!lru_new || c->last < lru_new->last))
			lru_new = c;
	}
	lru = lru_new ? lru_new : lru;
	evict(k, lru);
	return lru;
}

static int accept_all(struct keysock *k)
{
	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		int fd = accept4(k->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		struct kconn *c;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				return 0;	/* try again next poll */
			return -errno;
		}
		c = free_slot(k);
		ev.data.u32 = (uint32_t)(c - k->c);
		if (epoll_ctl(k->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			continue;
		}
		memset(&cr, 0, sizeof(cr));
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl))
			cr.pid = 0;
		c->fd = fd;
		c->pid = cr.pid;
		c->uid = cr.uid;
		c->last = ++k->seq;
		c->lineno = 0;
		c->good = 0;
		c->warned = 0;
		k->nconns++;
		k->st.accepted++;
		log_info("key socket: client connected (pid %d, uid %u)",
			 (int)cr.pid, (unsigned)cr.uid);
	}
	return 0;
}

int keysock_poll(struct keysock *k)
{
	struct epoll_event ev[MAX_EVENTS];
	uint64_t before = keystore_stats(k->ks)->accepted;
	int n, rc = 0;

	n = epoll_wait(k->ep, ev, MAX_EVENTS, 0);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == LISTENER) {
			rc = accept_all(k);
			continue;
		}
		if (ev[i].data.u32 < k->o.max_conns)
			conn_read(k, &k->c[ev[i].data.u32]);
	}
	if (rc < 0)
		return rc;
	return (int)MIN(keystore_stats(k->ks)->accepted - before,
			(uint64_t)INT_MAX);
}

/* Is there a live listener at path?  Then it is not ours to replace. */
static int path_check(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, path, strlen(path));
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	if (rc == 0 || errno == EAGAIN)
		return -EADDRINUSE;
	return unlink(path) ? -errno : 0;	/* stale */
}

struct keysock *keysock_new(struct keystore *ks, const struct keysock_opts *o)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTENER };
	struct keysock *k;
	mode_t old;
	int err;

	if (!ks || !o || !o->path || !*o->path || !o->max_conns ||
	    !o->line_max || strlen(o->path) >= sizeof(a.sun_path)) {
		errno = EINVAL;
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->ks = ks;
	k->o = *o;
	k->lfd = k->ep = -1;
	k->path = strdup(o->path);
	k->c = calloc(o->max_conns, sizeof(*k->c));
	if (!k->path || !k->c)
		goto fail_nomem;
	for (unsigned i = 0; i < o->max_conns; i++) {
		k->c[i].fd = -1;
		k->c[i].buf = malloc(o->line_max);
		if (!k->c[i].buf)
			goto fail_nomem;
	}
	err = path_check(o->path);
	if (err) {
		free(k->path);
		k->path = NULL;		/* not ours: do not unlink */
		errno = -err;
		goto fail;
	}
	k->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (k->lfd < 0)
		goto fail;
	memcpy(a.sun_path, o->path, strlen(o->path));
	old = umask(0177);	/* never wider than 0600 while being set up */
	err = bind(k->lfd, (struct sockaddr *)&a, sizeof(a)) ? errno : 0;
	umask(old);
	if (err) {
		free(k->path);
		k->path = NULL;
		errno = err;
		goto fail;
	}
	{
		struct stat sb;
		if (!lstat(o->path, &sb)) {
			k->dev = sb.st_dev;
			k->ino = sb.st_ino;
		}
	}
	if ((o->owner != (uid_t)-1 || o->group != (gid_t)-1) &&
	    chown(o->path, o->owner, o->group))
		goto fail;
	/* The longest accept queue the kernel allows (net.core.somaxconn):
	 * the shim connects without waiting, so a full queue (a flood of
	 * connections not accepted yet) would make it drop a handshake's
	 * keys; tests/e2e/capture_keys.sh hostile_socket once lost them with
	 * 128. */
	if (chmod(o->path, o->mode & 0777) || listen(k->lfd, SOMAXCONN))
		goto fail;
	k->ep = epoll_create1(EPOLL_CLOEXEC);
	if (k->ep < 0 || epoll_ctl(k->ep, EPOLL_CTL_ADD, k->lfd, &ev))
		goto fail;
	return k;
fail_nomem:
	errno = ENOMEM;
fail:
	err = errno;
	keysock_free(k);
	errno = err;
	return NULL;
}

int keysock_fd(const struct keysock *k)
{
	return k->ep;
}

unsigned keysock_nconns(const struct keysock *k)
{
	return k->nconns;
}

const struct keysock_stats *keysock_stats(const struct keysock *k)
{
	return &k->st;
}

void keysock_free(struct keysock *k)
{
	if (!k)
		return;
	for (unsigned i = 0; k->c && i < k->o.max_conns; i++) {
		if (k->c[i].buf)
			conn_close(k, &k->c[i], false);
		free(k->c[i].buf);
	}
	free(k->c);
	/* unlink before closing the listener, and only our own socket: a
	 * newer instance that replaced it (it saw no listener) keeps its */
	if (k->path) {
		struct stat sb;
		if (!lstat(k->path, &sb) && sb.st_dev == k->dev &&
		    sb.st_ino == k->ino)
			unlink(k->path);
	}
	if (k->ep >= 0)
		close(k->ep);
	if (k->lfd >= 0)
		close(k->lfd);
	free(k->path);
	free(k);
}
