/* keylog_shim.c - libtapir-keylog.so: an LD_PRELOAD shim that makes any
 * program using OpenSSL 1.1.1 or 3.x export its TLS session keys.
 *
 * Owns: one destination descriptor (the key socket, or the key log file),
 * the saved settings, counters.  Does not own anything of the host: it
 * never allocates in the key path, never blocks, never prints.
 *
 * How: SSL_CTX_new / SSL_CTX_new_ex (and SSL_new, for a context that got
 * past them) install keylog_cb() with the real SSL_CTX_set_keylog_callback.
 * A callback the program sets itself is remembered in the context's
 * ex_data and called after ours (SSL_CTX_get_keylog_callback returns it),
 * so the program behaves as before.
 *
 * Settings are read by the constructor, when the shim is loaded:
 * TAPIR_KEY_SOCKET (a Unix stream socket, tapir's --key-socket) or else
 * SSLKEYLOGFILE (appended to, created 0600).  If libssl is already loaded
 * then, the destination is opened at once - before a server such as nginx
 * clears the environment and drops privileges in its workers, which
 * inherit the descriptor across fork; otherwise at the first SSL_CTX_new.
 *
 * The key path (keylog_cb -> emit) is async-signal-safe and never waits:
 * lines are gathered in one static buffer and written with ONE send()
 * (MSG_DONTWAIT | MSG_NOSIGNAL) or one write() (O_APPEND) per handshake,
 * when its last line comes (CLIENT_TRAFFIC_SECRET_0 in TLS 1.3, client
 * and server alike in OpenSSL 1.1.1 and 3.x; CLIENT_RANDOM in TLS 1.2;
 * any label not known to be followed by more).  A TLS 1.3 handshake logs
 * five lines: one system call and one wake-up of the agent instead of
 * five is most of the shim's cost to its host (bench/shim.sh).  Lines
 * held longer than HOLD_S (a handshake that failed half-way) go out with
 * the next line, the buffer full goes out at once, and what is held at
 * exit goes out from the destructor.  The buffer is taken with a
 * test-and-set flag, never waited for: a thread (or signal handler) that
 * finds it taken writes its line alone, at once.  The agent absent or
 * slow: the lines are dropped and counted, a reconnect is tried at most
 * once a second.  A partial send closes the connection, so the stream
 * never carries half a line followed by another.  Before each write the
 * descriptor is checked (fstat: same device and inode) so a host that
 * closed it and reused the number never receives key lines.  After fork
 * the child keeps the inherited descriptor (it may have been opened with
 * privileges the child dropped) and its own reconnect state, and drops
 * the lines it inherited (the parent sends them) (atfork).
 *
 * OpenSSL makes each key log line before calling any keylog callback, with
 * one sprintf("%02x") per byte (nss_keylog_int() in 1.1.1 and 3.x):
 * about 58,000 instructions a line, 290,000 for a TLS 1.3 handshake's
 * five - 3% of all an nginx worker does for a request, where the shim's
 * own work is a few hundred instructions and two system calls
 * (bench/shim.sh measures both).  So the shim also answers glibc's
 * __sprintf_chk (what a fortified libssl calls) for exactly the format
 * "%02x" of a value below 256 with two table look-ups, and hands every
 * other call on to glibc's __vsprintf_chk unchanged, as glibc's own
 * __sprintf_chk does; the output is identical.  Only while the shim
 * exports keys; otherwise it only hands on.
 *
 * In a program that never calls SSL_CTX_new nothing happens beyond the
 * constructor's getenv; if libssl cannot be resolved the shim stays out of
 * the way (the interposers pass through to whatever they find).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define LINE_MAX_SHIM 512
#define HOLD_MAX 4096		/* lines held until their handshake's last */
#define HOLD_S 1		/* held longer than this: out with the next */

/* OpenSSL types and constants, without its headers: the shim must not
 * reference a single OpenSSL symbol at link time. */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef void (*keylog_fn)(const SSL *ssl, const char *line);
#define CRYPTO_EX_INDEX_SSL_CTX 1

/* The interposed OpenSSL entry points (same signatures as libssl's). */
EXPORT SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth);
EXPORT SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq,
			       const SSL_METHOD *meth);
EXPORT SSL *SSL_new(SSL_CTX *ctx);
EXPORT void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, keylog_fn cb);
EXPORT keylog_fn SSL_CTX_get_keylog_callback(const SSL_CTX *ctx);

static struct {
	SSL_CTX *(*ctx_new)(const SSL_METHOD *);
	SSL_CTX *(*ctx_new_ex)(OSSL_LIB_CTX *, const char *,
			       const SSL_METHOD *);
	SSL *(*ssl_new)(SSL_CTX *);
	void (*set_cb)(SSL_CTX *, keylog_fn);
	keylog_fn (*get_cb)(const SSL_CTX *);
	SSL_CTX *(*get_ctx)(const SSL *);
	int (*ex_new_index)(int, long, void *, void *, void *, void *);
	int (*set_ex)(SSL_CTX *, int, void *);
	void *(*get_ex)(const SSL_CTX *, int);
} real;

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static int ex_idx = -1;

/* settings (constructor) */
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char file_path[4096];
static bool use_sock, use_file, opened_once;

/* destination */
static atomic_int dest_fd = -1;
static dev_t dest_dev;
static ino_t dest_ino;
static atomic_long next_try_s;		/* CLOCK_MONOTONIC seconds */

/* lines held for one write per handshake (taken with hold_busy) */
static atomic_flag hold_busy = ATOMIC_FLAG_INIT;
static char hold[HOLD_MAX];
static size_t hold_n;
static unsigned long hold_lines;
static long hold_since;			/* CLOCK_MONOTONIC seconds */

/* counters, for tests and debuggers (tapir_keylog_counters()) */
static atomic_ulong n_sent, n_dropped, n_writes;

EXPORT void tapir_keylog_counters(unsigned long *sent, unsigned long *dropped,
				  unsigned long *writes);
void tapir_keylog_counters(unsigned long *sent, unsigned long *dropped,
			   unsigned long *writes)
{
	*sent = atomic_load(&n_sent);
	*dropped = atomic_load(&n_dropped);
	*writes = atomic_load(&n_writes);
}

/* ---- resolving libssl ---------------------------------------------------- */

static void *sym(const char *name)
{
	static const char *const libs[] = { "libssl.so.3", "libssl.so.1.1",
					    "libssl.so" };
	void *p = dlsym(RTLD_NEXT, name);

	/* libssl loaded RTLD_LOCAL by a dlopen()ed module (Python's _ssl)
	 * is not "next" in the global scope: ask it directly. */
	for (size_t i = 0; !p && i < sizeof(libs) / sizeof(libs[0]); i++) {
		void *h = dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD);

		if (h) {
			p = dlsym(h, name);
			dlclose(h);
		}
	}
	return p;
}

static void resolve(void)
{
	real.ctx_new = (SSL_CTX *(*)(const SSL_METHOD *))sym("SSL_CTX_new");
	real.ctx_new_ex = (SSL_CTX *(*)(OSSL_LIB_CTX *, const char *,
					const SSL_METHOD *))sym("SSL_CTX_new_ex");
	real.ssl_new = (SSL *(*)(SSL_CTX *))sym("SSL_new");
	real.set_cb = (void (*)(SSL_CTX *, keylog_fn))
		sym("SSL_CTX_set_keylog_callback");
	real.get_cb = (keylog_fn (*)(const SSL_CTX *))
		sym("SSL_CTX_get_keylog_callback");
	real.get_ctx = (SSL_CTX *(*)(const SSL *))sym("SSL_get_SSL_CTX");
	real.ex_new_index = (int (*)(int, long, void *, void *, void *,
				     void *))sym("CRYPTO_get_ex_new_index");
	real.set_ex = (int (*)(SSL_CTX *, int, void *))sym("SSL_CTX_set_ex_data");
	real.get_ex = (void *(*)(const SSL_CTX *, int))sym("SSL_CTX_get_ex_data");
	if (real.ex_new_index)
		ex_idx = real.ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL,
					   NULL, NULL, NULL);
}

static bool ready(void)
{
	pthread_once(&resolve_once, resolve);
	return real.set_cb && real.get_cb;
}

/* ---- the destination (async-signal-safe below this line) ---------------- */

static long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

static int open_dest(void)
{
	struct stat st;
	int fd;

	if (use_sock) {
		struct sockaddr_un a;

		memset(&a, 0, sizeof(a));
		a.sun_family = AF_UNIX;
		memcpy(a.sun_path, sock_path, sizeof(a.sun_path));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0);
		if (fd < 0)
			return -1;
		/* room for bursts while the agent is busy: lines that do not
		 * fit are dropped, never waited for (FORCE works for root,
		 * e.g. nginx's master, which connects before forking) */
		int sz = 4 << 20;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz,
					 sizeof(sz));
		if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			close(fd);
			return -1;
		}
	} else if (use_file) {
		fd = open(file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			  O_NOCTTY, 0600);
		if (fd < 0)
			return -1;
	} else {
		return -1;
	}
	if (fstat(fd, &st)) {
		close(fd);
		return -1;
	}
	dest_dev = st.st_dev;
	dest_ino = st.st_ino;
	return fd;
}

/* The destination descriptor, (re)opened if needed and allowed now; -1
 * if there is none. */
static int get_dest(void)
{
	int fd = atomic_load(&dest_fd), nfd, expect = -1;
	struct stat st;
	long now;

	if (fd >= 0) {
		if (!fstat(fd, &st) && st.st_dev == dest_dev &&
		    st.st_ino == dest_ino)
			return fd;
		/* closed (and maybe reused) by the host: forget, never close */
		atomic_compare_exchange_strong(&dest_fd, &fd, -1);
	}
	now = mono_s();
	if (now < atomic_load(&next_try_s))
		return -1;
	atomic_store(&next_try_s, now + 1);
	nfd = open_dest();
	if (nfd < 0)
		return -1;
	if (!atomic_compare_exchange_strong(&dest_fd, &expect, nfd)) {
		close(nfd);	/* another thread won */
		return expect;
	}
	atomic_store(&next_try_s, 0);
	return nfd;
}

static void drop_dest(int fd)
{
	int expect = fd;

	if (atomic_compare_exchange_strong(&dest_fd, &expect, -1))
		close(fd);
}

static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");	/* keep the wipe */
}

/* Write n bytes holding `lines` whole lines with one system call. */
static void put(const char *buf, size_t n, unsigned long lines)
{
	ssize_t w;
	int fd = get_dest();

	if (fd < 0) {
		atomic_fetch_add(&n_dropped, lines);
		return;
	}
	if (use_sock) {
		for (int attempt = 0;; attempt++) {
			do
				w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
			atomic_fetch_add(&n_writes, 1);
			if (w == (ssize_t)n) {
				atomic_fetch_add(&n_sent, lines);
				break;
			}
			/* a full buffer (EAGAIN, nothing sent) keeps the
			 * connection; the agent gone, or part sent: start
			 * afresh (the agent discards a partial last line) */
			if (w >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				drop_dest(fd);
			/* the agent restarted, or closed this connection to
			 * admit another: one new connection, at once */
			if (attempt == 0 && w < 0 && (errno == EPIPE ||
			    errno == ECONNRESET || errno == ENOTCONN) &&
			    (fd = get_dest()) >= 0)
				continue;
			atomic_fetch_add(&n_dropped, lines);
			break;
		}
	} else {
		do
			w = write(fd, buf, n);
		while (w < 0 && errno == EINTR);
		atomic_fetch_add(&n_writes, 1);
		if (w == (ssize_t)n)
			atomic_fetch_add(&n_sent, lines);
		else
			atomic_fetch_add(&n_dropped, lines);
	}
}

/* Labels that OpenSSL logs before others of the same handshake
 * (tls13_change_cipher_state(): handshake secrets at ServerHello, the
 * exporter and server traffic secrets before the client's). */
static bool more_follows(const char *line)
{
	static const char *const early[] = {
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
		"SERVER_HANDSHAKE_TRAFFIC_SECRET ",
		"SERVER_TRAFFIC_SECRET_0 ", "EXPORTER_SECRET ",
		"CLIENT_EARLY_TRAFFIC_SECRET ", "EARLY_EXPORTER_SECRET ",
	};

	for (size_t i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		if (!strncmp(line, early[i], strlen(early[i])))
			return true;
	return false;
}

static void flush_held(void)
{
	if (hold_n)
		put(hold, hold_n, hold_lines);
	wipe(hold, hold_n);
	hold_n = 0;
	hold_lines = 0;
}

static void emit(const char *line)
{
	char buf[LINE_MAX_SHIM];
	size_t n = strnlen(line, sizeof(buf));
	long now;

	if (n >= sizeof(buf) - 1 || (!use_sock && !use_file)) {
		atomic_fetch_add(&n_dropped, 1);
		return;
	}
	if (atomic_flag_test_and_set_explicit(&hold_busy, memory_order_acquire)) {
		/* another thread (or an interrupted one) holds the buffer */
		memcpy(buf, line, n);
		buf[n++] = '\n';
		put(buf, n, 1);
		wipe(buf, n);
		return;
	}
	now = mono_s();
	if (hold_n + n + 1 > sizeof(hold))
		flush_held();
	if (!hold_n)
		hold_since = now;
	memcpy(hold + hold_n, line, n);
	hold_n += n;
	hold[hold_n++] = '\n';
	hold_lines++;
	if (!more_follows(line) || now - hold_since > HOLD_S)
		flush_held();
	atomic_flag_clear_explicit(&hold_busy, memory_order_release);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	int saved = errno;
	keylog_fn app = NULL;

	if (line)
		emit(line);
	if (ex_idx >= 0 && real.get_ctx && real.get_ex) {
		SSL_CTX *ctx = real.get_ctx(ssl);

		if (ctx)
			app = (keylog_fn)(uintptr_t)real.get_ex(ctx, ex_idx);
	}
	errno = saved;
	if (app)
		app(ssl, line);
}

/* ---- OpenSSL's hex formatting ------------------------------------------- */

EXPORT int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...);
extern int __vsprintf_chk(char *s, int flag, size_t slen, const char *fmt,
			  va_list ap);

int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
{
	static const char hex[] = "0123456789abcdef";
	va_list ap;
	int r;

	if ((use_sock || use_file) && fmt[0] == '%' && fmt[1] == '0' &&
	    fmt[2] == '2' && fmt[3] == 'x' && !fmt[4] && slen >= 3) {
		unsigned v;

		va_start(ap, fmt);
		v = va_arg(ap, unsigned);
		va_end(ap);
		if (v < 256) {
			s[0] = hex[v >> 4];
			s[1] = hex[v & 15];
			s[2] = '\0';
			return 2;
		}
	}
	va_start(ap, fmt);
	r = __vsprintf_chk(s, flag, slen, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- interposers (normal context) ------------------------------------- */

static void install(SSL_CTX *ctx)
{
	keylog_fn cur;

	if (!ctx || !ready())
		return;
	if (!opened_once && (use_sock || use_file)) {
		opened_once = true;
		(void)get_dest();
	}
	cur = real.get_cb(ctx);
	if (cur == keylog_cb)
		return;
	if (cur && ex_idx >= 0 && real.set_ex)
		real.set_ex(ctx, ex_idx, (void *)(uintptr_t)cur);
	real.set_cb(ctx, keylog_cb);
}

EXPORT SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth)
{
	SSL_CTX *ctx;

	pthread_once(&resolve_once, resolve);
	if (!real.ctx_new)
		return NULL;
	ctx = real.ctx_new(meth);
	install(ctx);
	return ctx;
}

EXPORT SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq,
			       const SSL_METHOD *meth)
{
	SSL_CTX *ctx;

	pthread_once(&resolve_once, resolve);
	if (!real.ctx_new_ex)
		return NULL;
	ctx = real.ctx_new_ex(libctx, propq, meth);
	install(ctx);
	return ctx;
}

EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
	pthread_once(&resolve_once, resolve);
	if (!real.ssl_new)
		return NULL;
	install(ctx);
	return real.ssl_new(ctx);
}

EXPORT void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, keylog_fn cb)
{
	if (!ready() || !ctx)
		return;
	if (ex_idx >= 0 && real.set_ex) {
		real.set_ex(ctx, ex_idx, (void *)(uintptr_t)cb);
		real.set_cb(ctx, keylog_cb);
	} else {
		real.set_cb(ctx, cb);	/* cannot chain: the program's wins */
	}
}

EXPORT keylog_fn SSL_CTX_get_keylog_callback(const SSL_CTX *ctx)
{
	keylog_fn cur;

	if (!ready() || !ctx)
		return NULL;
	cur = real.get_cb(ctx);
	if (cur == keylog_cb)
		return ex_idx >= 0 && real.get_ex ?
			(keylog_fn)(uintptr_t)real.get_ex(ctx, ex_idx) : NULL;
	return cur;
}

/* ---- load time ------------------------------------------------------------ */

static void atfork_child(void)
{
	atomic_store(&next_try_s, 0);	/* the child may retry at once */
	/* the only thread now: the held lines are the parent's to send */
	wipe(hold, hold_n);
	hold_n = 0;
	hold_lines = 0;
	atomic_flag_clear(&hold_busy);
}

/* What is held at exit goes out (a handshake that never finished). */
__attribute__((destructor)) static void shim_fini(void)
{
	if (atomic_flag_test_and_set(&hold_busy))
		return;
	flush_held();
	atomic_flag_clear(&hold_busy);
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv("TAPIR_KEY_SOCKET");
	const char *f = getenv("SSLKEYLOGFILE");

	if (s && *s && strlen(s) < sizeof(sock_path)) {
		memcpy(sock_path, s, strlen(s) + 1);
		use_sock = true;
	} else if (f && *f && strlen(f) < sizeof(file_path)) {
		memcpy(file_path, f, strlen(f) + 1);
		use_file = true;
	}
	if (!use_sock && !use_file)
		return;
	pthread_atfork(NULL, NULL, atfork_child);
	/* libssl already here (linked, not dlopen()ed later): open now,
	 * while the process still has its privileges. */
	if (dlsym(RTLD_NEXT, "SSL_CTX_new")) {
		opened_once = true;
		(void)get_dest();
	}
}
