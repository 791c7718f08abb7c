/* tls_pair.c - an OpenSSL program for testing the keys/ preload shim: runs
 * N in-process TLS handshakes (client and server over memory BIOs) and,
 * optionally, logs keys itself through its own keylog callback (so the
 * shim's chaining can be checked against it).
 *
 *   tls_pair [-n N] [-a APPLOG] [-x] [-f] [-1] [-h] [-c COUNTERS]
 *     -n N       handshakes (default 1)
 *     -a APPLOG  the program's own keylog callback appends to APPLOG
 *     -x         create contexts with SSL_CTX_new_ex (OpenSSL 3)
 *     -f         fork after creating the contexts; the child does the
 *                handshakes, the parent waits
 *     -1         TLS 1.2 only (default: TLS 1.3)
 *     -h         half handshakes: one round only (the server logs its
 *                first lines, never the client's traffic secret)
 *     -H         no handshakes: print what __sprintf_chk makes of "%02x"
 *                for 0..300 and of a few other formats (the shim answers
 *                "%02x" itself: its output must be glibc's)
 *     -c FILE    at exit, write the shim's counters to FILE ("sent S
 *                dropped D writes W"; "no shim" without it)
 * Prints "ok N" and exits 0 when every handshake completed and
 * SSL_CTX_get_keylog_callback() returned what the program set.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static FILE *app_log;
static int rounds = 20;

static void app_cb(const SSL *ssl, const char *line)
{
	(void)ssl;
	if (app_log) {
		fprintf(app_log, "%s\n", line);
		fflush(app_log);
	}
}

static void pump(BIO *out[2], BIO *in[2])
{
	char buf[16384];
	int n;

	for (int d = 0; d < 2; d++)
		while ((n = BIO_read(out[d], buf, sizeof(buf))) > 0)
			BIO_write(in[!d], buf, n);
}

static int handshake(SSL_CTX *cx, SSL_CTX *sx)
{
	SSL *s[2] = { SSL_new(cx), SSL_new(sx) };
	BIO *out[2], *in[2];
	int done = 0;

	for (int i = 0; i < 2; i++) {
		out[i] = BIO_new(BIO_s_mem());
		in[i] = BIO_new(BIO_s_mem());
		SSL_set_bio(s[i], in[i], out[i]);
	}
	SSL_set_connect_state(s[0]);
	SSL_set_accept_state(s[1]);
	for (int r = 0; r < rounds && done != 3; r++)
		for (int i = 0; i < 2; i++) {
			if (SSL_do_handshake(s[i]) == 1)
				done |= 1 << i;
			pump(out, in);
		}
	SSL_free(s[0]);
	SSL_free(s[1]);
	return done == 3 || rounds == 1;
}

static int hex_table(void)
{
	char b[64];

	for (unsigned v = 0; v <= 300; v++) {
		__builtin___sprintf_chk(b, 1, sizeof(b), "%02x", v);
		fputs(b, stdout);
	}
	__builtin___sprintf_chk(b, 1, sizeof(b), "|%02x|%2x|%02X|%s|%d|%04x",
				7u, 7u, 171u, "ok", -5, 255u);
	puts(b);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 1, ex = 0, dofork = 0, v12 = 0, opt, ok = 0;
	SSL_CTX *cx, *sx;
	EVP_PKEY *k;
	X509 *x;
	const char *counters = NULL;

	while ((opt = getopt(argc, argv, "n:a:xf1hc:H")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'a': app_log = fopen(optarg, "a"); break;
		case 'x': ex = 1; break;
		case 'f': dofork = 1; break;
		case '1': v12 = 1; break;
		case 'h': rounds = 1; break;
		case 'c': counters = optarg; break;
		case 'H': return hex_table();
		default: return 2;
		}
	}
	cx = ex ? SSL_CTX_new_ex(NULL, NULL, TLS_client_method()) :
		  SSL_CTX_new(TLS_client_method());
	sx = ex ? SSL_CTX_new_ex(NULL, NULL, TLS_server_method()) :
		  SSL_CTX_new(TLS_server_method());
	k = EVP_EC_gen("P-256");
	x = X509_new();
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	SSL_CTX_use_certificate(sx, x);
	SSL_CTX_use_PrivateKey(sx, k);
	if (v12) {
		SSL_CTX_set_max_proto_version(cx, TLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(sx, TLS1_2_VERSION);
	}
	if (app_log) {
		SSL_CTX_set_keylog_callback(cx, app_cb);
		SSL_CTX_set_keylog_callback(sx, app_cb);
		if (SSL_CTX_get_keylog_callback(cx) != app_cb) {
			fprintf(stderr, "tls_pair: get_keylog_callback lies\n");
			return 1;
		}
	} else if (SSL_CTX_get_keylog_callback(cx) != NULL) {
		fprintf(stderr, "tls_pair: unexpected keylog callback\n");
		return 1;
	}
	if (dofork) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			for (int i = 0; i < n; i++)
				ok += handshake(cx, sx);
			_exit(ok == n ? 0 : 1);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid ||
		    !WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
		ok = n;
	} else {
		for (int i = 0; i < n; i++)
			ok += handshake(cx, sx);
	}
	SSL_CTX_free(cx);
	SSL_CTX_free(sx);
	X509_free(x);
	EVP_PKEY_free(k);
	if (counters) {
		void (*get)(unsigned long *, unsigned long *, unsigned long *) =
			(void (*)(unsigned long *, unsigned long *,
				  unsigned long *))dlsym(RTLD_DEFAULT,
							 "tapir_keylog_counters");
		FILE *f = fopen(counters, "w");
		unsigned long c[3] = { 0, 0, 0 };

		if (!f)
			return 1;
		if (get) {
			get(&c[0], &c[1], &c[2]);
			fprintf(f, "sent %lu dropped %lu writes %lu\n", c[0],
				c[1], c[2]);
		} else {
			fprintf(f, "no shim\n");
		}
		fclose(f);
	}
	printf("ok %d\n", ok);
	return ok == n ? 0 : 1;
}
