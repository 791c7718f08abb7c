/* test_keysock.c - the key socket against real clients in this process:
 * valid lines from several interleaved clients, binary garbage, a 10 MB
 * line, 1,000 connections that never send (memory and fds bounded, a
 * client arriving after them still served), eviction keeping the lines a
 * client had sent and sparing clients that delivered keys, the socket's
 * mode, stale and foreign paths, peer credentials in the log, secrets never
 * in the log. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "keysock.h"
#include "util.h"
#include "tt.h"

struct env {
	char dir[64], path[128];
	struct keystore *ks;
	struct keysock *k;
};

static void env_init(struct env *e, const struct keysock_opts *o)
{
	struct keysock_opts d;

	strcpy(e->dir, "/tmp/tapir-ksock-XXXXXX");
	if (!mkdtemp(e->dir))
		abort();
	snprintf(e->path, sizeof(e->path), "%s/keys.sock", e->dir);
	e->ks = keystore_new(100000);
	if (!o) {
		keysock_opts_default(&d);
		o = &d;
	}
	d = *o;
	d.path = e->path;
	e->k = keysock_new(e->ks, &d);
	if (!e->k)
		abort();
}

static void env_fini(struct env *e)
{
	keysock_free(e->k);
	keystore_free(e->ks);
	rmdir(e->dir);
}

static int client(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	strcpy(a.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		abort();
	return fd;
}

static unsigned cr_byte(unsigned n, int i)
{
	return i == 0 ? n & 0xff : i == 1 ? (n >> 8) & 0xff : (unsigned)i;
}

static size_t key_line(char *out, unsigned n)
{
	char *p = out;

	p += sprintf(p, "CLIENT_RANDOM ");
	for (int i = 0; i < 32; i++)
		p += sprintf(p, "%02x", cr_byte(n, i));
	*p++ = ' ';
	for (int i = 0; i < 48; i++)
		p += sprintf(p, "cd");
	*p++ = '\n';
	*p = '\0';
	return (size_t)(p - out);
}

static int has_key(struct keystore *ks, unsigned n)
{
	uint8_t cr[32];

	for (int i = 0; i < 32; i++)
		cr[i] = (uint8_t)cr_byte(n, i);
	return keystore_get(ks, cr, KEY_CLIENT_RANDOM) != NULL;
}

/* Poll until nothing is ready for 20 ms; returns secrets added. */
static int settle(struct keysock *k)
{
	struct pollfd p = { .fd = keysock_fd(k), .events = POLLIN };
	int total = 0;

	while (poll(&p, 1, 20) == 1) {
		int r = keysock_poll(k);

		if (r < 0)
			return r;
		total += r;
	}
	return total;
}

static void xsend(int fd, const void *p, size_t n)
{
	if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n)
		abort();
}

TT_TEST(several_clients_interleaved)
{
	struct env e;
	int fd[3], total = 0;
	char l[256];
	struct stat st;

	env_init(&e, NULL);
	TT_REQUIRE(stat(e.path, &st) == 0);
	TT_EQ_INT(st.st_mode & 0777, 0600);
	TT_CHECK(S_ISSOCK(st.st_mode));
	for (int i = 0; i < 3; i++)
		fd[i] = client(e.path);
	/* each line in two pieces, the clients interleaved */
	for (unsigned n = 0; n < 30; n++) {
		size_t len = key_line(l, n);
		int c = (int)(n % 3);

		xsend(fd[c], l, 50);
		total += settle(e.k);
		xsend(fd[c], l + 50, len - 50);
	}
	total += settle(e.k);
	TT_EQ_INT(total, 30);
	for (unsigned n = 0; n < 30; n++)
		TT_CHECK(has_key(e.ks, n));
	TT_EQ_INT(keysock_nconns(e.k), 3);
	/* a last line without newline, then close: still parsed */
	key_line(l, 99);
	xsend(fd[0], l, strlen(l) - 1);
	close(fd[0]);
	TT_EQ_INT(settle(e.k), 1);
	TT_EQ_INT(keysock_nconns(e.k), 2);
	TT_EQ_INT(keysock_stats(e.k)->rejected, 0);
	close(fd[1]);
	close(fd[2]);
	settle(e.k);
	TT_EQ_INT(keysock_nconns(e.k), 0);
	TT_EQ_INT(keysock_stats(e.k)->accepted, 3);
	env_fini(&e);
}

TT_TEST(binary_garbage)
{
	struct env e;
	uint8_t *junk = malloc(1 << 20);
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	char l[256];
	int fd;

	env_init(&e, NULL);
	for (size_t i = 0; i < (1 << 20); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	fd = client(e.path);
	for (size_t off = 0; off < (1 << 20);) {
		ssize_t r = send(fd, junk + off, (1 << 20) - off, MSG_NOSIGNAL);

		if (r > 0)
			off += (size_t)r;
		TT_CHECK(keysock_poll(e.k) == 0);
	}
	xsend(fd, "\n", 1);
	key_line(l, 7);
	xsend(fd, l, strlen(l));	/* the same client, a good line */
	TT_EQ_INT(settle(e.k), 1);
	TT_CHECK(has_key(e.ks, 7));
	TT_CHECK(keysock_stats(e.k)->rejected + keysock_stats(e.k)->overlong >
		 100);
	TT_EQ_INT(keysock_stats(e.k)->bytes, (1 << 20) + 1 + strlen(l));
	close(fd);
	settle(e.k);
	free(junk);
	env_fini(&e);
}

TT_TEST(ten_megabyte_line)
{
	struct env e;
	size_t total = 10u << 20, off = 0;
	char *big = malloc(65536), l[256];
	int fd, polls = 0;

	env_init(&e, NULL);
	memset(big, 'e', 65536);
	fd = client(e.path);
	while (off < total) {
		ssize_t r = send(fd, big, MIN((size_t)65536, total - off),
				 MSG_NOSIGNAL);

		if (r > 0)
			off += (size_t)r;
		TT_EQ_INT(keysock_poll(e.k), 0);
		polls++;
	}
	xsend(fd, "\n", 1);
	key_line(l, 8);
	xsend(fd, l, strlen(l));
	TT_EQ_INT(settle(e.k), 1);
	TT_EQ_INT(keysock_stats(e.k)->overlong, 1);
	TT_EQ_INT(keysock_stats(e.k)->rejected, 0);
	TT_EQ_INT(keysock_stats(e.k)->lines, 2);
	TT_CHECK(has_key(e.ks, 8));
	close(fd);
	settle(e.k);
	free(big);
	env_fini(&e);
}

static int count_fds(void)
{
	char p[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

TT_TEST(thousand_idle_connections)
{
	struct env e;
	struct rlimit rl;
	int fds[1000], before, during, n = 0;
	char l[256];

	TT_REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2300) {
		rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)4096);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	TT_REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 2300);
	env_init(&e, NULL);
	before = count_fds();
	for (int i = 0; i < 1000; i++) {
		fds[i] = client(e.path);
		n++;
		if (i % 50 == 49)
			settle(e.k);	/* the backlog is 128 */
	}
	settle(e.k);
	during = count_fds();
	/* 1000 client ends here + at most 64 server ends */
	TT_CHECK(during - before <= 1000 + 64);
	TT_EQ_INT(keysock_nconns(e.k), 64);
	TT_EQ_INT(keysock_stats(e.k)->accepted, 1000);
	TT_EQ_INT(keysock_stats(e.k)->evicted, 936);
	/* a real client arriving now is served */
	{
		int fd = client(e.path);

		key_line(l, 9);
		xsend(fd, l, strlen(l));
		TT_EQ_INT(settle(e.k), 1);
		TT_CHECK(has_key(e.ks, 9));
		close(fd);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	settle(e.k);
	TT_EQ_INT(keysock_nconns(e.k), 0);
	env_fini(&e);
	TT_EQ_INT(count_fds(), before - 2);	/* listener and epoll closed */
}

/* A connection evicted before the agent ever read it: the complete lines
 * it had sent are parsed, the partial one is counted as cut, and its next
 * send fails (EPIPE) so a shim knows to reconnect. */
TT_TEST(eviction_keeps_sent_lines)
{
	struct env e;
	struct keysock_opts o;
	int a, idle[4];
	char l[256];
	size_t n;

	keysock_opts_default(&o);
	o.max_conns = 4;
	env_init(&e, &o);
	a = client(e.path);
	n = key_line(l, 1);
	xsend(a, l, n);
	n = key_line(l, 2);
	xsend(a, l, n);
	xsend(a, "CLIENT_RANDOM 0102", 18);	/* no newline yet */
	/* four more before the agent polls: all accepted in one go, the
	 * fifth evicts a, whose bytes were never read */
	for (int i = 0; i < 4; i++)
		idle[i] = client(e.path);
	TT_EQ_INT(settle(e.k), 2);
	TT_CHECK(has_key(e.ks, 1));
	TT_CHECK(has_key(e.ks, 2));
	TT_EQ_INT(keysock_stats(e.k)->accepted, 5);
	TT_EQ_INT(keysock_stats(e.k)->evicted, 1);
	TT_EQ_INT(keysock_stats(e.k)->cut, 1);
	TT_EQ_INT(keysock_stats(e.k)->rejected, 0);
	TT_EQ_INT(keysock_nconns(e.k), 4);
	errno = 0;
	TT_CHECK(send(a, "x\n", 2, MSG_NOSIGNAL) == -1);
	TT_EQ_INT(errno, EPIPE);
	close(a);
	for (int i = 0; i < 4; i++)
		close(idle[i]);
	settle(e.k);
	TT_EQ_INT(keysock_nconns(e.k), 0);
	env_fini(&e);
}

/* A client that delivered keys outlives a flood of idle connections;
 * with every slot proven, the least recently active goes. */
TT_TEST(eviction_spares_proven_clients)
{
	struct env e;
	struct keysock_opts o;
	int g, idle[40], p[4], late;
	char l[256];

	keysock_opts_default(&o);
	o.max_conns = 4;
	env_init(&e, &o);
	g = client(e.path);
	xsend(g, l, key_line(l, 10));
	TT_EQ_INT(settle(e.k), 1);
	for (int i = 0; i < 40; i++) {
		idle[i] = client(e.path);
		if (i % 8 == 7)
			settle(e.k);
	}
	settle(e.k);
	TT_EQ_INT(keysock_stats(e.k)->evicted, 41 - 4);
	/* g is still connected: its next line arrives */
	{
		size_t n = key_line(l, 11);

		TT_CHECK(send(g, l, n, MSG_NOSIGNAL) == (ssize_t)n);
	}
	TT_EQ_INT(settle(e.k), 1);
	TT_CHECK(has_key(e.ks, 11));
	for (int i = 0; i < 40; i++)
		close(idle[i]);
	settle(e.k);
	TT_EQ_INT(keysock_nconns(e.k), 1);
	/* three more proven clients: every slot proven; g is the least
	 * recently active (p[] sent after it) and goes for a newcomer */
	for (int i = 0; i < 3; i++) {
		p[i] = client(e.path);
		xsend(p[i], l, key_line(l, 20 + (unsigned)i));
		TT_EQ_INT(settle(e.k), 1);
	}
	TT_EQ_INT(keysock_nconns(e.k), 4);
	late = client(e.path);
	settle(e.k);
	TT_EQ_INT(keysock_stats(e.k)->evicted, 41 - 4 + 1);
	errno = 0;
	TT_CHECK(send(g, "x\n", 2, MSG_NOSIGNAL) == -1);
	TT_EQ_INT(errno, EPIPE);
	for (int i = 0; i < 3; i++) {
		xsend(p[i], l, key_line(l, 30 + (unsigned)i));
		close(p[i]);
	}
	xsend(late, l, key_line(l, 40));
	close(late);
	TT_EQ_INT(settle(e.k), 4);
	TT_CHECK(has_key(e.ks, 30) && has_key(e.ks, 31) && has_key(e.ks, 32));
	TT_CHECK(has_key(e.ks, 40));
	TT_EQ_INT(keysock_stats(e.k)->cut, 0);
	close(g);
	env_fini(&e);
}

/* Peer credentials logged at connect; malformed lines warned without
 * their bytes; warnings per connection limited. */
TT_TEST(log_has_peer_not_secrets)
{
	struct env e;
	char errpath[160], buf[16384];
	int saved, efd, fd, lvl = tapir_log_level;
	ssize_t n;
	FILE *f;

	env_init(&e, NULL);
	snprintf(errpath, sizeof(errpath), "%s/stderr", e.dir);
	fflush(stderr);
	saved = dup(2);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(efd, 2);
	tapir_log_level = LOG_INFO;
	fd = client(e.path);
	for (int i = 0; i < 20; i++)
		xsend(fd, "CLIENT_RANDOM zz1234 s3cr3tvalue\n", 33);
	settle(e.k);
	tapir_log_level = lvl;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(efd);
	f = fopen(errpath, "r");
	TT_REQUIRE(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	unlink(errpath);
	buf[n > 0 ? n : 0] = '\0';
	{
		char want[64];

		snprintf(want, sizeof(want), "(pid %d, uid %u)", (int)getpid(),
			 (unsigned)getuid());
		TT_CHECK(strstr(buf, want));
	}
	TT_CHECK(strstr(buf, "line 1: client_random is not 64 hex digits"));
	TT_CHECK(!strstr(buf, "s3cr3t"));
	TT_CHECK(!strstr(buf, "zz1234"));
	TT_CHECK(!strstr(buf, "line 6:"));	/* 5 warnings at most */
	TT_EQ_INT(keysock_stats(e.k)->rejected, 20);
	close(fd);
	settle(e.k);
	env_fini(&e);
}

TT_TEST(paths_and_modes)
{
	struct env e;
	struct keysock_opts o;
	struct keysock *k2;
	struct stat st;
	char other[160];
	int fd;

	keysock_opts_default(&o);
	o.mode = 0660;
	o.group = getgid();
	env_init(&e, &o);
	TT_REQUIRE(stat(e.path, &st) == 0);
	TT_EQ_INT(st.st_mode & 0777, 0660);
	TT_EQ_INT(st.st_gid, getgid());
	/* a live socket is not taken over */
	o.path = e.path;
	errno = 0;
	k2 = keysock_new(e.ks, &o);
	TT_CHECK(!k2);
	TT_EQ_INT(errno, EADDRINUSE);
	TT_CHECK(stat(e.path, &st) == 0);	/* and not unlinked */
	/* a regular file is not replaced */
	snprintf(other, sizeof(other), "%s/file", e.dir);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	close(fd);
	o.path = other;
	errno = 0;
	TT_CHECK(!keysock_new(e.ks, &o));
	TT_EQ_INT(errno, EEXIST);
	TT_CHECK(stat(other, &st) == 0);
	unlink(other);
	/* a stale socket (nobody listening) is replaced */
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(other, sizeof(other), "%s/stale.sock", e.dir);
		strcpy(a.sun_path, other);
		TT_REQUIRE(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
		close(s);
		o.path = other;
		k2 = keysock_new(e.ks, &o);
		TT_CHECK(k2);
		keysock_free(k2);
		TT_CHECK(stat(other, &st) != 0);	/* unlinked on free */
	}
	env_fini(&e);
	TT_CHECK(stat(e.path, &st) != 0);
}

TT_MAIN()
