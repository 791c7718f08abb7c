/* test_shim.c - the keys/ preload shim (build/libtapir-keylog.so) around a
 * real OpenSSL program (build/tools/tls_pair): key lines reach
 * SSLKEYLOGFILE (0600) and the key socket exactly as the program's own
 * keylog callback sees them (chained, not replaced); SSL_CTX_new_ex;
 * TLS 1.2; a forked child; the agent absent (the program runs on, fast);
 * a program without OpenSSL is unaffected. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "keysock.h"
#include "util.h"
#include "tt.h"

static char shim[4096], tool[4096], tdir[64];

static void paths(void)
{
	char exe[4096], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		abort();
	exe[n] = '\0';
	d = dirname(dirname(exe));	/* build/tests/x -> build */
	snprintf(shim, sizeof(shim), "%s/libtapir-keylog.so", d);
	snprintf(tool, sizeof(tool), "%s/tools/tls_pair", d);
	strcpy(tdir, "/tmp/tapir-shim-XXXXXX");
	if (!mkdtemp(tdir))
		abort();
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
	if (system(cmd))
		abort();
}

/* Run argv with LD_PRELOAD=shim (unless !preload) and env (NULL-terminated
 * "K=V" list, the rest of the environment dropped), stdout to out (NULL:
 * /dev/null).  Returns the exit status, or -1. */
static int run_out(char *const argv[], const char *const env[], int preload,
		   const char *out)
{
	char pre[4200];
	const char *e[16];
	int n = 0, st;
	pid_t pid;

	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", shim);
	if (preload)
		e[n++] = pre;
	for (int i = 0; env && env[i]; i++)
		e[n++] = env[i];
	e[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int null = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) :
				 open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execve(argv[0], argv, (char *const *)e);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int run(char *const argv[], const char *const env[])
{
	return run_out(argv, env, 1, NULL);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *b = calloc(1, 1 << 20);
	size_t n = 0;

	if (f) {
		n = fread(b, 1, (1 << 20) - 1, f);
		fclose(f);
	}
	b[n] = '\0';
	if (len)
		*len = n;
	return b;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of a is in b and vice versa (order may differ). */
static int same_lines(const char *a, const char *b)
{
	if (count_lines(a) != count_lines(b))
		return 0;
	for (const char *p = a; *p;) {
		const char *e = strchr(p, '\n');
		char line[512];
		size_t l = (size_t)(e - p);

		if (!e || l + 2 > sizeof(line))
			return 0;
		memcpy(line, p, l);
		line[l] = '\n';
		line[l + 1] = '\0';
		if (!strstr(b, line))
			return 0;
		p = e + 1;
	}
	return 1;
}

TT_TEST(file_chained_with_program_callback)
{
	static const char *const variants[][3] = {
		{ "-n", "5", NULL }, { "-x", NULL, NULL }, { "-1", NULL, NULL },
		{ "-f", NULL, NULL },
	};

	paths();
	for (size_t v = 0; v < ARRAY_SIZE(variants); v++) {
		char keys[128], app[128], env1[160], *a, *b;
		char *argv[8];
		const char *env[] = { env1, NULL };
		struct stat st;
		int n = 0;

		snprintf(keys, sizeof(keys), "%s/keys%zu.log", tdir, v);
		snprintf(app, sizeof(app), "%s/app%zu.log", tdir, v);
		snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s", keys);
		argv[n++] = tool;
		argv[n++] = "-a";
		argv[n++] = app;
		for (int i = 0; i < 3 && variants[v][i]; i++)
			argv[n++] = (char *)variants[v][i];
		argv[n] = NULL;
		TT_EQ_INT(run(argv, env), 0);
		a = slurp(keys, NULL);
		b = slurp(app, NULL);
		TT_CHECK(count_lines(a) >= (v == 0 ? 5 * 2 * 5 : 2));
		TT_CHECK(same_lines(a, b));
		if (v == 2)
			TT_CHECK(strstr(a, "CLIENT_RANDOM "));
		else
			TT_CHECK(strstr(a, "SERVER_TRAFFIC_SECRET_0 "));
		TT_REQUIRE(stat(keys, &st) == 0);
		TT_EQ_INT(st.st_mode & 0777, 0600);
		free(a);
		free(b);
	}
	cleanup();
}

/* No callback of its own: the program still sees none (get returns NULL),
 * the shim logs anyway. */
TT_TEST(file_without_program_callback)
{
	char keys[128], env1[160], *a;
	char *argv[] = { tool, "-n", "3", NULL };
	const char *env[] = { env1, NULL };

	paths();
	snprintf(keys, sizeof(keys), "%s/keys.log", tdir);
	snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s", keys);
	TT_EQ_INT(run(argv, env), 0);
	a = slurp(keys, NULL);
	TT_EQ_INT(count_lines(a), 3 * 2 * 5);	/* 5 lines per side */
	free(a);
	cleanup();
}

TT_TEST(key_socket)
{
	struct keysock_opts o;
	struct keystore *ks = keystore_new(1000);
	struct keysock *k;
	char sock[128], app[128], env1[160], *b;
	char *argv[] = { tool, "-n", "4", "-a", app, NULL, NULL };
	const char *env[] = { env1, NULL };
	struct pollfd p;
	int added = 0;

	paths();
	snprintf(sock, sizeof(sock), "%s/keys.sock", tdir);
	snprintf(app, sizeof(app), "%s/app.log", tdir);
	snprintf(env1, sizeof(env1), "TAPIR_KEY_SOCKET=%s", sock);
	keysock_opts_default(&o);
	o.path = sock;
	k = keysock_new(ks, &o);
	TT_REQUIRE(k);
	for (int fork_mode = 0; fork_mode < 2; fork_mode++) {
		argv[5] = fork_mode ? "-f" : NULL;
		TT_EQ_INT(run(argv, env), 0);
	}
	p.fd = keysock_fd(k);
	p.events = POLLIN;
	while (poll(&p, 1, 100) == 1)
		added += keysock_poll(k);
	b = slurp(app, NULL);
	TT_EQ_INT(count_lines(b), 2 * 4 * 2 * 5);
	TT_EQ_INT(keysock_stats(k)->lines, (uint64_t)count_lines(b));
	TT_EQ_INT(keysock_stats(k)->rejected, 0);
	TT_EQ_INT(added, count_lines(b));
	TT_EQ_INT(keystore_count(ks), 2 * 4);
	free(b);
	keysock_free(k);
	keystore_free(ks);
	cleanup();
}

/* One write per handshake: each side's five TLS 1.3 lines go out
 * together when its last one (CLIENT_TRAFFIC_SECRET_0) comes; TLS 1.2's
 * one line at once. */
TT_TEST(one_write_per_handshake)
{
	static const char *const variants[][2] = { { "-n", "6" },
						   { "-1", NULL } };

	paths();
	for (size_t v = 0; v < ARRAY_SIZE(variants); v++) {
		char keys[128], cnt[128], env1[160], *a, *c;
		char *argv[] = { tool, "-n", "6", "-c", cnt, NULL, NULL, NULL };
		const char *env[] = { env1, NULL };
		unsigned long sent = 0, dropped = 1, writes = 0;

		snprintf(keys, sizeof(keys), "%s/k%zu.log", tdir, v);
		snprintf(cnt, sizeof(cnt), "%s/c%zu", tdir, v);
		snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s", keys);
		argv[5] = (char *)variants[v][0];
		argv[6] = (char *)variants[v][1];
		if (v == 1)
			argv[6] = NULL;
		TT_EQ_INT(run(argv, env), 0);
		a = slurp(keys, NULL);
		c = slurp(cnt, NULL);
		TT_CHECK(sscanf(c, "sent %lu dropped %lu writes %lu", &sent,
				&dropped, &writes) == 3);
		TT_EQ_INT(sent, (unsigned long)count_lines(a));
		TT_EQ_INT(dropped, 0);
		if (v == 0) {
			TT_EQ_INT(sent, 6 * 2 * 5);
			TT_EQ_INT(writes, 6 * 2);	/* one per side */
		} else {
			TT_EQ_INT(sent, 6 * 2);
			TT_EQ_INT(writes, 6 * 2);
		}
		free(a);
		free(c);
	}
	cleanup();
}

/* A handshake that stops half-way: the lines held for it go out at exit,
 * to the file and to the key socket. */
TT_TEST(held_lines_out_at_exit)
{
	struct keysock_opts o;
	struct keystore *ks = keystore_new(1000);
	struct keysock *k;
	char keys[128], app[128], sock[128], env1[160], *a, *b;
	char *argv[] = { tool, "-h", "-a", app, NULL };
	const char *env[] = { env1, NULL };
	struct pollfd p;

	paths();
	snprintf(keys, sizeof(keys), "%s/keys.log", tdir);
	snprintf(app, sizeof(app), "%s/app.log", tdir);
	snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s", keys);
	TT_EQ_INT(run(argv, env), 0);
	a = slurp(keys, NULL);
	b = slurp(app, NULL);
	/* the server's handshake secrets, exporter and traffic secret */
	TT_EQ_INT(count_lines(b), 4);
	TT_CHECK(!strstr(b, "CLIENT_TRAFFIC_SECRET_0"));
	TT_CHECK(same_lines(a, b));
	free(a);
	free(b);
	snprintf(sock, sizeof(sock), "%s/keys.sock", tdir);
	snprintf(env1, sizeof(env1), "TAPIR_KEY_SOCKET=%s", sock);
	keysock_opts_default(&o);
	o.path = sock;
	k = keysock_new(ks, &o);
	TT_REQUIRE(k);
	TT_EQ_INT(run(argv, env), 0);
	p.fd = keysock_fd(k);
	p.events = POLLIN;
	while (poll(&p, 1, 100) == 1)
		keysock_poll(k);
	TT_EQ_INT(keysock_stats(k)->lines, 4);
	TT_EQ_INT(keysock_stats(k)->rejected, 0);
	keysock_free(k);
	keystore_free(ks);
	cleanup();
}

/* The shim answers __sprintf_chk("%02x") itself (OpenSSL's key log
 * formatting): what the program gets is glibc's output, byte for byte,
 * for every value and for the formats it hands on. */
TT_TEST(sprintf_chk_output_unchanged)
{
	char o[3][128], env1[160], *a, *b, *c;
	char *argv[] = { tool, "-H", NULL };
	const char *env[] = { env1, NULL };

	paths();
	for (int i = 0; i < 3; i++)
		snprintf(o[i], sizeof(o[i]), "%s/hex%d", tdir, i);
	snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s/keys.log", tdir);
	TT_EQ_INT(run_out(argv, NULL, 0, o[0]), 0);	/* no shim */
	TT_EQ_INT(run_out(argv, env, 1, o[1]), 0);	/* shim exporting */
	TT_EQ_INT(run_out(argv, NULL, 1, o[2]), 0);	/* shim idle */
	a = slurp(o[0], NULL);
	b = slurp(o[1], NULL);
	c = slurp(o[2], NULL);
	TT_CHECK(strlen(a) > 600);
	TT_CHECK(!strncmp(a, "000102", 6));
	TT_CHECK(strstr(a, "fdfeff100101"));	/* 253..257 */
	TT_CHECK(strstr(a, "|07| 7|AB|ok|-5|00ff"));
	TT_EQ_STR(b, a);
	TT_EQ_STR(c, a);
	free(a);
	free(b);
	free(c);
	cleanup();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The agent is absent: lines are dropped, the program runs as before. */
TT_TEST(agent_absent)
{
	char app[128], env1[160], *b;
	char *argv[] = { tool, "-n", "200", "-a", app, NULL };
	const char *env[] = { env1, NULL };
	double t0;

	paths();
	snprintf(app, sizeof(app), "%s/app.log", tdir);
	snprintf(env1, sizeof(env1), "TAPIR_KEY_SOCKET=%s/nobody.sock", tdir);
	t0 = now_s();
	TT_EQ_INT(run(argv, env), 0);
	TT_CHECK(now_s() - t0 < 30);
	b = slurp(app, NULL);
	TT_EQ_INT(count_lines(b), 200 * 2 * 5);	/* chaining intact */
	free(b);
	cleanup();
}

/* A program without OpenSSL under the shim: unaffected. */
TT_TEST(program_without_openssl)
{
	char env1[160];
	char *t[] = { "/bin/true", NULL };
	char *f[] = { "/bin/false", NULL };
	char *sh[] = { "/bin/sh", "-c", "exit 7", NULL };
	const char *env[] = { env1, NULL };
	char keys[128];
	struct stat st;

	paths();
	snprintf(keys, sizeof(keys), "%s/keys.log", tdir);
	snprintf(env1, sizeof(env1), "SSLKEYLOGFILE=%s", keys);
	TT_EQ_INT(run(t, env), 0);
	TT_EQ_INT(run(f, env), 1);
	TT_EQ_INT(run(sh, env), 7);
	TT_CHECK(stat(keys, &st) != 0);		/* nothing created */
	TT_EQ_INT(run(t, NULL), 0);		/* no settings at all */
	cleanup();
}

TT_MAIN()
