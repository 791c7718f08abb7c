/* test_tls.c - TLS record layer, handshake parsing and decryption against
 * real OpenSSL peers.
 *
 * Each case runs an OpenSSL client and server in-process over memory BIOs,
 * collects the NSS key log lines through SSL_CTX_set_keylog_callback,
 * records the raw wire bytes per direction in wire order, then feeds them
 * to a tls_session (every input copied to a tt_guard() buffer so that an
 * overread crashes) and checks metadata against what OpenSSL negotiated and
 * plaintext against exactly what each side wrote.
 */
#include <errno.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"
#include "tt.h"

/* ---- conversations with real peers ------------------------------------ */

struct chunk {
	int dir;
	uint8_t *p;
	size_t n;
};

struct conv {
	struct chunk *c;
	size_t nc;
	uint8_t *sent[2];
	size_t nsent[2];
	char *keylog;
	size_t nkeylog;
	char version[16], cipher[64], alpn[32];
	int reused;
	SSL_SESSION *sess;	/* for a resumed follow-up connection */
};

struct tcfg {
	const char *name;
	int version;		/* TLS1_2_VERSION or TLS1_3_VERSION */
	const char *ciphers;	/* 1.2 cipher list or 1.3 ciphersuites */
	int ecdsa, no_etm, keyupdate, hrr, resume;
	const char *alpn;	/* client offer, comma separated; NULL none */
	size_t csize, ssize;	/* application bytes client / server */
};

static struct conv *g_conv;	/* receives key log lines */

static void append(uint8_t **buf, size_t *len, const void *p, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	if (!*buf)
		abort();
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	(void)ssl;
	append((uint8_t **)&g_conv->keylog, &g_conv->nkeylog, line,
	       strlen(line));
	append((uint8_t **)&g_conv->keylog, &g_conv->nkeylog, "\n", 1);
	g_conv->keylog[g_conv->nkeylog] = '\0';
}

static void conv_free(struct conv *cv)
{
	for (size_t i = 0; i < cv->nc; i++)
		free(cv->c[i].p);
	free(cv->c);
	free(cv->sent[0]);
	free(cv->sent[1]);
	free(cv->keylog);
	SSL_SESSION_free(cv->sess);
	memset(cv, 0, sizeof(*cv));
}

static EVP_PKEY *rsa_key, *ec_key;
static X509 *rsa_cert, *ec_cert;

static X509 *make_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *nm;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				   (const unsigned char *)"api.example", -1,
				   -1, 0);
	X509_set_issuer_name(x, nm);
	if (!X509_sign(x, k, EVP_sha256()))
		abort();
	return x;
}

static void keys_init(void)
{
	if (rsa_key)
		return;
	rsa_key = EVP_RSA_gen(2048);
	ec_key = EVP_EC_gen("P-256");
	if (!rsa_key || !ec_key)
		abort();
	rsa_cert = make_cert(rsa_key);
	ec_cert = make_cert(ec_key);
}

static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (inlen < 2 || in[0] + 1u > inlen)
		return SSL_TLSEXT_ERR_NOACK;
	*out = in + 1;		/* the client's first choice */
	*outlen = in[0];
	return SSL_TLSEXT_ERR_OK;
}

static void make_ctxs(const struct tcfg *t, SSL_CTX **cc, SSL_CTX **sc)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());

	keys_init();
	SSL_CTX_set_min_proto_version(c, t->version);
	SSL_CTX_set_max_proto_version(c, t->version);
	SSL_CTX_set_min_proto_version(s, t->version);
	SSL_CTX_set_max_proto_version(s, t->version);
	if (t->version == TLS1_3_VERSION) {
		if (!SSL_CTX_set_ciphersuites(c, t->ciphers) ||
		    !SSL_CTX_set_ciphersuites(s, t->ciphers))
			abort();
	} else if (!SSL_CTX_set_cipher_list(c, t->ciphers) ||
		   !SSL_CTX_set_cipher_list(s, t->ciphers)) {
		abort();
	}
	SSL_CTX_use_certificate(s, t->ecdsa ? ec_cert : rsa_cert);
	SSL_CTX_use_PrivateKey(s, t->ecdsa ? ec_key : rsa_key);
	SSL_CTX_set_dh_auto(s, 1);
	SSL_CTX_set_alpn_select_cb(s, alpn_select, NULL);
	SSL_CTX_set_session_id_context(s, (const unsigned char *)"t", 1);
	if (t->no_etm) {
		SSL_CTX_set_options(c, SSL_OP_NO_ENCRYPT_THEN_MAC);
		SSL_CTX_set_options(s, SSL_OP_NO_ENCRYPT_THEN_MAC);
	}
	if (t->hrr) {
		SSL_CTX_set1_groups_list(c, "X25519:P-256");
		SSL_CTX_set1_groups_list(s, "P-256");
	}
	SSL_CTX_set_keylog_callback(c, keylog_cb);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	*cc = c;
	*sc = s;
}

struct link {
	SSL *ssl[2];		/* client, server */
	BIO *out[2];		/* what each writes */
	BIO *in[2];		/* what each reads */
	struct conv *cv;
};

/* Move everything each side wrote to the other, recording wire chunks. */
static void pump(struct link *l)
{
	uint8_t buf[65536];
	int n;

	for (int dir = 0; dir < 2; dir++) {
		while ((n = BIO_read(l->out[dir], buf, sizeof(buf))) > 0) {
			struct conv *cv = l->cv;

			cv->c = realloc(cv->c, (cv->nc + 1) * sizeof(*cv->c));
			cv->c[cv->nc].dir = dir;
			cv->c[cv->nc].p = malloc((size_t)n);
			memcpy(cv->c[cv->nc].p, buf, (size_t)n);
			cv->c[cv->nc++].n = (size_t)n;
			BIO_write(l->in[!dir], buf, n);
		}
	}
}

static void fill(uint8_t *p, size_t n, int dir, size_t off)
{
	static const char *pfx[2] = { "GET /v1/things HTTP/1.1\r\n",
				      "HTTP/1.1 200 OK\r\n" };
	for (size_t i = 0; i < n; i++) {
		size_t k = off + i, pl = strlen(pfx[dir]);

		p[i] = k < pl ? (uint8_t)pfx[dir][k] :
			(uint8_t)(k * 131 + dir * 17 + (k >> 9));
	}
}

/* dir writes n bytes, the peer reads them all. */
static int xfer_app(struct link *l, int dir, size_t n)
{
	struct conv *cv = l->cv;
	uint8_t *p = malloc(n ? n : 1), *r = malloc(n ? n : 1);
	size_t got = 0;
	int ok = 1;

	fill(p, n, dir, cv->nsent[dir]);
	if (n && SSL_write(l->ssl[dir], p, (int)n) != (int)n)
		ok = 0;
	append(&cv->sent[dir], &cv->nsent[dir], p, n);
	for (int i = 0; ok && got < n && i < 100000; i++) {
		int k;

		pump(l);
		k = SSL_read(l->ssl[!dir], r + got, (int)(n - got));
		if (k > 0) {
			if (memcmp(r + got, p + got, (size_t)k))
				ok = 0;
			got += (size_t)k;
		} else if (SSL_get_error(l->ssl[!dir], k) !=
			   SSL_ERROR_WANT_READ) {
			ok = 0;
		}
	}
	/* Let the writer see anything the reader sent back (tickets, KU). */
	pump(l);
	if (SSL_read(l->ssl[dir], r, 1) > 0)
		ok = 0;
	free(p);
	free(r);
	return ok && got == n;
}

static void alpn_wire(const char *list, unsigned char *out, unsigned *len)
{
	*len = 0;
	while (list && *list) {
		const char *e = strchr(list, ',');
		size_t n = e ? (size_t)(e - list) : strlen(list);

		out[(*len)++] = (unsigned char)n;
		memcpy(out + *len, list, n);
		*len += (unsigned)n;
		list += n + (e ? 1 : 0);
	}
}

/* One connection; returns 1 when the exchange worked. */
static int run_conn(const struct tcfg *t, SSL_CTX *cc, SSL_CTX *sc,
		    SSL_SESSION *resume, struct conv *cv)
{
	struct link l = { .cv = cv };
	int done[2] = { 0, 0 }, ok = 1;
	const unsigned char *sel;
	unsigned sel_len;

	memset(cv, 0, sizeof(*cv));
	g_conv = cv;
	l.ssl[0] = SSL_new(cc);
	l.ssl[1] = SSL_new(sc);
	for (int i = 0; i < 2; i++) {
		l.out[i] = BIO_new(BIO_s_mem());
		l.in[i] = BIO_new(BIO_s_mem());
		SSL_set_bio(l.ssl[i], l.in[i], l.out[i]);
	}
	SSL_set_connect_state(l.ssl[0]);
	SSL_set_accept_state(l.ssl[1]);
	SSL_set_tlsext_host_name(l.ssl[0], "api.example");
	if (t->alpn) {
		unsigned char w[64];
		unsigned wl;

		alpn_wire(t->alpn, w, &wl);
		SSL_set_alpn_protos(l.ssl[0], w, wl);
	}
	if (resume)
		SSL_set_session(l.ssl[0], resume);
	for (int i = 0; i < 50 && !(done[0] && done[1]); i++) {
		for (int k = 0; k < 2; k++) {
			int r;

			if (done[k])
				continue;
			r = SSL_do_handshake(l.ssl[k]);
			if (r == 1)
				done[k] = 1;
			else if (SSL_get_error(l.ssl[k], r) != SSL_ERROR_WANT_READ)
				ok = 0;
			pump(&l);
		}
		if (!ok)
			break;
	}
	if (!done[0] || !done[1]) {
		ERR_print_errors_fp(stderr);
		ok = 0;
		goto out;
	}
	ok &= xfer_app(&l, 0, t->csize);
	ok &= xfer_app(&l, 1, t->ssize);
	if (t->keyupdate) {
		ok &= SSL_key_update(l.ssl[0], SSL_KEY_UPDATE_REQUESTED);
		ok &= xfer_app(&l, 0, 3000);
		ok &= xfer_app(&l, 1, 5000);
		ok &= SSL_key_update(l.ssl[1], SSL_KEY_UPDATE_NOT_REQUESTED);
		ok &= xfer_app(&l, 1, 700);
		ok &= SSL_key_update(l.ssl[1], SSL_KEY_UPDATE_NOT_REQUESTED);
		ok &= xfer_app(&l, 1, 20000);
		ok &= xfer_app(&l, 0, 900);
	}
	snprintf(cv->version, sizeof(cv->version), "%s",
		 SSL_get_version(l.ssl[0]));
	snprintf(cv->cipher, sizeof(cv->cipher), "%s",
		 SSL_CIPHER_standard_name(SSL_get_current_cipher(l.ssl[0])));
	SSL_get0_alpn_selected(l.ssl[0], &sel, &sel_len);
	snprintf(cv->alpn, sizeof(cv->alpn), "%.*s", (int)sel_len, sel);
	cv->reused = SSL_session_reused(l.ssl[0]);
	cv->sess = SSL_get1_session(l.ssl[0]);
	SSL_shutdown(l.ssl[0]);
	pump(&l);
	SSL_shutdown(l.ssl[1]);
	pump(&l);
out:
	SSL_free(l.ssl[0]);
	SSL_free(l.ssl[1]);
	g_conv = NULL;
	return ok;
}

/* Build the conversation for t (the resumed one when t->resume). */
static int make_conv(const struct tcfg *t, struct conv *cv)
{
	SSL_CTX *cc, *sc;
	struct conv first;
	int ok;

	make_ctxs(t, &cc, &sc);
	if (t->resume) {
		ok = run_conn(t, cc, sc, NULL, &first);
		ok = ok && run_conn(t, cc, sc, first.sess, cv);
		ok = ok && cv->reused;
		conv_free(&first);
	} else {
		ok = run_conn(t, cc, sc, NULL, cv);
	}
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	return ok;
}

/* ---- feeding a tls_session ------------------------------------------- */

struct sink {
	uint8_t *got[2];
	size_t n[2];
	int gaps[2], failed[2];
	int prefix_bad;		/* plaintext diverged from expected */
	int count_only;		/* count, spot-check, keep no copy (perf) */
	const struct conv *cv;
};

static void on_plaintext(void *ctx, int dir, const uint8_t *p, uint32_t n,
			 uint64_t ts)
{
	struct sink *k = ctx;

	(void)ts;
	if (k->n[dir] + n > k->cv->nsent[dir] ||
	    (k->count_only ? n && (p[0] != k->cv->sent[dir][k->n[dir]] ||
				   p[n - 1] != k->cv->sent[dir][k->n[dir] +
								n - 1]) :
	     memcmp(k->cv->sent[dir] + k->n[dir], p, n)))
		k->prefix_bad = 1;
	if (k->count_only)
		k->n[dir] += n;
	else
		append(&k->got[dir], &k->n[dir], p, n);
}

static void on_failed(void *ctx, int dir, const char *reason, uint64_t ts)
{
	struct sink *k = ctx;

	(void)ts;
	(void)reason;
	k->failed[dir]++;
}

static void on_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
	struct sink *k = ctx;

	(void)ts;
	(void)n;
	k->gaps[dir]++;
}

static const struct tls_ops ops = { on_plaintext, on_failed, on_gap };

static void sink_free(struct sink *k)
{
	free(k->got[0]);
	free(k->got[1]);
}

static struct keystore *ks_from(const char *text, size_t n)
{
	struct keystore *ks = keystore_new(1000);
	size_t i = 0;

	while (i < n) {
		const char *e = memchr(text + i, '\n', n - i);
		size_t l = e ? (size_t)(e - (text + i)) : n - i;

		if (keystore_add_line(ks, text + i, l))
			abort();
		i += l + 1;
	}
	return ks;
}

/* Feed p/n through a guard buffer.  Returns tls_session_feed's result. */
static int gfeed(struct tls_session *s, int dir, const uint8_t *p, size_t n)
{
	uint8_t *g = tt_guard(p, n);
	int rc = tls_session_feed(s, dir, g, (uint32_t)n, 1000);

	tt_guard_free(g);
	return rc;
}

enum feed_mode { FEED_CHUNKS, FEED_BYTES, FEED_RANDOM };

struct run {
	struct tls_session *s;
	struct sink k;
	struct memcap mc;
	struct tls_stats st;
	struct keystore *ks;
	int rc_bad;		/* a feed returned something unexpected */
};

static void run_start(struct run *r, const struct conv *cv,
		      struct keystore *ks)
{
	memset(r, 0, sizeof(*r));
	r->k.cv = cv;
	r->ks = ks;
	memcap_init(&r->mc, 64 << 20);
	r->s = tls_session_new(ks, &ops, &r->k, &r->mc, &r->st);
}

static void run_end(struct run *r)
{
	tls_session_free(r->s);
	TT_EQ_INT(r->mc.used, 0);
	sink_free(&r->k);
	keystore_free(r->ks);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void feed_conv(struct run *r, const struct conv *cv, int mode)
{
	for (size_t i = 0; i < cv->nc; i++) {
		const struct chunk *c = &cv->c[i];
		size_t off = 0;

		while (off < c->n) {
			size_t n = c->n - off;
			int rc;

			if (mode == FEED_BYTES)
				n = 1;
			else if (mode == FEED_RANDOM) {
				size_t m = 1 + rnd() % 3000;

				n = MIN(n, m);
			}
			rc = gfeed(r->s, c->dir, c->p + off, n);
			if (rc)
				r->rc_bad = 1;
			off += n;
		}
	}
}

static void check_ok(struct run *r, const struct conv *cv)
{
	const struct tls_info *in = tls_session_info(r->s);

	TT_EQ_INT(r->rc_bad, 0);
	TT_EQ_STR(in->version_name, cv->version);
	TT_EQ_STR(in->cipher_name, cv->cipher);
	TT_EQ_STR(in->sni, "api.example");
	TT_EQ_STR(in->alpn, cv->alpn);
	TT_EQ_STR(in->reason, "");
	/* "decrypted" needs an application record (a close_notify is not) */
	TT_EQ_INT(in->decrypted, cv->nsent[0] + cv->nsent[1] > 0);
	TT_CHECK(in->decrypting);
	TT_CHECK(in->have_client_random);
	for (int d = 0; d < 2; d++) {
		TT_EQ_INT(r->k.n[d], cv->nsent[d]);
		TT_EQ_INT(in->app_bytes[d], cv->nsent[d]);
		if (r->k.n[d] == cv->nsent[d] && cv->nsent[d])
			TT_EQ_MEM(r->k.got[d], cv->sent[d], cv->nsent[d]);
		TT_EQ_INT(r->k.gaps[d], 0);
		TT_EQ_INT(r->k.failed[d], 0);
	}
	TT_EQ_INT(r->k.prefix_bad, 0);
	TT_EQ_INT(r->st.sessions, 1);
	TT_EQ_INT(r->st.decrypted, cv->nsent[0] + cv->nsent[1] > 0);
	TT_EQ_INT(r->st.bad_records, 0);
}

/* ---- the table -------------------------------------------------------- */

#define T13(n, cs) { n, TLS1_3_VERSION, cs, 0, 0, 0, 0, 0, "http/1.1", \
		     20000, 40000 }
#define T12(n, cs, ec, noetm) { n, TLS1_2_VERSION, cs, ec, noetm, 0, 0, 0, \
				"http/1.1", 20000, 40000 }

static const struct tcfg cases[] = {
	T13("tls13_aes128gcm", "TLS_AES_128_GCM_SHA256"),
	T13("tls13_aes256gcm", "TLS_AES_256_GCM_SHA384"),
	T13("tls13_chacha", "TLS_CHACHA20_POLY1305_SHA256"),
	T12("tls12_ecdhe_rsa_aes128gcm", "ECDHE-RSA-AES128-GCM-SHA256", 0, 0),
	T12("tls12_ecdhe_rsa_aes256gcm", "ECDHE-RSA-AES256-GCM-SHA384", 0, 0),
	T12("tls12_ecdhe_rsa_chacha", "ECDHE-RSA-CHACHA20-POLY1305", 0, 0),
	T12("tls12_ecdhe_rsa_aes128sha_etm", "ECDHE-RSA-AES128-SHA", 0, 0),
	T12("tls12_ecdhe_rsa_aes128sha_mte", "ECDHE-RSA-AES128-SHA", 0, 1),
	T12("tls12_ecdhe_rsa_aes256sha384_etm", "ECDHE-RSA-AES256-SHA384", 0,
	    0),
	T12("tls12_ecdhe_rsa_aes256sha384_mte", "ECDHE-RSA-AES256-SHA384", 0,
	    1),
	T12("tls12_rsa_aes128sha256_etm", "AES128-SHA256", 0, 0),
	T12("tls12_rsa_aes128sha256_mte", "AES128-SHA256", 0, 1),
	T12("tls12_rsa_aes256sha_mte", "AES256-SHA", 0, 1),
	T12("tls12_dhe_rsa_aes128gcm", "DHE-RSA-AES128-GCM-SHA256", 0, 0),
	T12("tls12_dhe_rsa_aes256sha256_mte", "DHE-RSA-AES256-SHA256", 0, 1),
	T12("tls12_ecdhe_ecdsa_aes128gcm", "ECDHE-ECDSA-AES128-GCM-SHA256", 1,
	    0),
	T12("tls12_ecdhe_ecdsa_aes256sha_etm", "ECDHE-ECDSA-AES256-SHA", 1, 0),
	T12("tls12_ecdhe_ecdsa_chacha", "ECDHE-ECDSA-CHACHA20-POLY1305", 1, 0),
	{ "tls13_ecdsa", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 1, 0, 0, 0,
	  0, "h2", 1000, 2000 },
	{ "tls13_keyupdate", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0, 0,
	  1, 0, 0, "h2", 5000, 7000 },
	{ "tls13_keyupdate_chacha", TLS1_3_VERSION,
	  "TLS_CHACHA20_POLY1305_SHA256", 0, 0, 1, 0, 0, NULL, 5000, 7000 },
	{ "tls13_hrr", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 0, 0, 0, 1,
	  0, "h2,http/1.1", 3000, 3000 },
	{ "tls13_resume", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0, 0, 0,
	  0, 1, "h2", 3000, 3000 },
	{ "tls12_resume", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", 0, 0,
	  0, 0, 1, "http/1.1", 3000, 3000 },
	{ "tls12_resume_cbc", TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA", 0, 0, 0,
	  0, 1, NULL, 3000, 3000 },
	{ "tls12_alpn_h2", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", 0,
	  0, 0, 0, 0, "h2,http/1.1", 100, 100 },
	{ "tls12_no_alpn", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", 0,
	  0, 0, 0, 0, NULL, 100, 100 },
	{ "tls13_no_data", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0, 0, 0,
	  0, 0, NULL, 0, 0 },
};

static const struct tcfg small13 = { "small13", TLS1_3_VERSION,
	"TLS_AES_128_GCM_SHA256", 1, 0, 0, 0, 0, "h2", 60, 80 };
static const struct tcfg small12 = { "small12", TLS1_2_VERSION,
	"ECDHE-ECDSA-AES128-SHA", 1, 1, 0, 0, 0, "http/1.1", 60, 80 };

static int has_hrr(const struct conv *cv)
{
	static const uint8_t magic[8] = { 0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A,
					  0x61, 0x11 };

	for (size_t i = 0; i < cv->nc; i++)
		if (cv->c[i].dir == 1 &&
		    memmem(cv->c[i].p, cv->c[i].n, magic, sizeof(magic)))
			return 1;
	return 0;
}

/* Does the ServerHello (start of the first server chunk) carry ext? */
static int sh_has_ext(const struct conv *cv, unsigned ext)
{
	const uint8_t *p = NULL, *e;
	size_t n = 0, off;

	for (size_t i = 0; i < cv->nc && !p; i++)
		if (cv->c[i].dir == 1) {
			p = cv->c[i].p;
			n = cv->c[i].n;
		}
	if (!p || n < 5 + 4 + 35)
		return -1;
	off = 5 + 4 + 2 + 32;
	off += 1 + p[off] + 2 + 1;		/* session id, suite, comp */
	if (off + 2 > n)
		return 0;
	e = p + off + 2;
	n = MIN(n, off + 2 + ((size_t)p[off] << 8 | p[off + 1]));
	for (off = (size_t)(e - p); off + 4 <= n;
	     off += 4 + ((size_t)p[off + 2] << 8 | p[off + 3]))
		if (((unsigned)p[off] << 8 | p[off + 1]) == ext)
			return 1;
	return 0;
}

TT_TEST(real_peers_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcfg *t = &cases[i];
		struct conv cv;

		tt_cur_name = t->name;
		if (!make_conv(t, &cv)) {
			tt_fail(__FILE__, __LINE__, "OpenSSL exchange failed");
			conv_free(&cv);
			continue;
		}
		if (t->hrr)
			TT_CHECK(has_hrr(&cv));
		if (t->resume)
			TT_CHECK(cv.reused);
		if (strstr(cv.cipher, "_CBC_"))	/* both MAC orders covered */
			TT_EQ_INT(sh_has_ext(&cv, 0x0016), !t->no_etm);
		for (int mode = FEED_CHUNKS; mode <= FEED_RANDOM; mode++) {
			struct run r;

			if (mode == FEED_BYTES && cv.nsent[0] + cv.nsent[1] >
			    20000)
				continue;	/* done on small sessions */
			run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
			feed_conv(&r, &cv, mode);
			if (getenv("TT_DEBUG"))
				fprintf(stderr, "%s mode %d\n", t->name, mode);
			check_ok(&r, &cv);
			run_end(&r);
		}
		conv_free(&cv);
	}
	tt_cur_name = "real_peers_table";
}

/* Every 2-way split of every wire chunk, then 1 byte at a time. */
static void split_all(const struct tcfg *t)
{
	struct conv cv;

	TT_REQUIRE(make_conv(t, &cv));
	for (size_t i = 0; i < cv.nc; i++) {
		for (size_t k = 1; k < cv.c[i].n; k++) {
			struct run r;

			run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
			for (size_t j = 0; j < cv.nc; j++) {
				const struct chunk *c = &cv.c[j];

				if (j != i) {
					r.rc_bad |= gfeed(r.s, c->dir, c->p,
							  c->n) != 0;
					continue;
				}
				r.rc_bad |= gfeed(r.s, c->dir, c->p, k) != 0;
				r.rc_bad |= gfeed(r.s, c->dir, c->p + k,
						  c->n - k) != 0;
			}
			check_ok(&r, &cv);
			run_end(&r);
			if (tt_cur_failed)
				goto out;
		}
	}
	{
		struct run r;

		run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
		feed_conv(&r, &cv, FEED_BYTES);
		check_ok(&r, &cv);
		run_end(&r);
	}
out:
	conv_free(&cv);
}

TT_TEST(split_every_offset_tls13)
{
	split_all(&small13);
}

TT_TEST(split_every_offset_tls12_cbc)
{
	split_all(&small12);
}

/* All of one direction's chunks merged: many records per feed call. */
TT_TEST(merged_directions)
{
	struct conv cv;
	struct run r;
	uint8_t *all[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };

	TT_REQUIRE(make_conv(&cases[0], &cv));
	for (size_t i = 0; i < cv.nc; i++)
		append(&all[cv.c[i].dir], &n[cv.c[i].dir], cv.c[i].p,
		       cv.c[i].n);
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	/* Client first in full is still fine: server records never precede
	 * what they depend on in dir 0 (keys come from the key log). */
	r.rc_bad |= gfeed(r.s, 0, all[0], n[0]) != 0;
	r.rc_bad |= gfeed(r.s, 1, all[1], n[1]) != 0;
	/* dir 0 was fed before ServerHello: its records could not be
	 * decrypted yet, so only check the server side here. */
	TT_EQ_INT(r.k.n[1], cv.nsent[1]);
	TT_EQ_INT(r.k.prefix_bad, 0);
	run_end(&r);
	free(all[0]);
	free(all[1]);
	conv_free(&cv);
}

/* ---- hostile and degraded input -------------------------------------- */

TT_TEST(no_keys)
{
	struct conv cv;

	TT_REQUIRE(make_conv(&small13, &cv));
	for (int null_ks = 0; null_ks < 2; null_ks++) {
		struct run r;
		const struct tls_info *in;

		run_start(&r, &cv, null_ks ? NULL : keystore_new(10));
		feed_conv(&r, &cv, FEED_CHUNKS);
		in = tls_session_info(r.s);
		TT_EQ_INT(r.rc_bad, 0);
		TT_EQ_STR(in->version_name, "TLSv1.3");
		TT_EQ_STR(in->cipher_name, "TLS_AES_128_GCM_SHA256");
		TT_EQ_STR(in->sni, "api.example");
		TT_EQ_STR(in->reason, "no keys for session");
		TT_CHECK(!in->decrypted);
		TT_CHECK(!in->decrypting);
		TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
		TT_EQ_INT(r.st.no_keys, 1);
		TT_EQ_INT(r.k.failed[0], 1);
		TT_EQ_INT(r.k.failed[1], 1);
		TT_CHECK(in->records[0] > 2 && in->records[1] > 2);
		run_end(&r);
	}
	conv_free(&cv);
}

TT_TEST(no_keys_tls12)
{
	struct conv cv;
	struct run r;
	const struct tls_info *in;

	TT_REQUIRE(make_conv(&small12, &cv));
	run_start(&r, &cv, keystore_new(10));
	feed_conv(&r, &cv, FEED_RANDOM);
	in = tls_session_info(r.s);
	TT_EQ_STR(in->version_name, "TLSv1.2");
	TT_EQ_STR(in->cipher_name, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA");
	TT_EQ_STR(in->alpn, "http/1.1");
	TT_EQ_STR(in->reason, "no keys for session");
	TT_CHECK(!in->decrypted);
	TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
	run_end(&r);
	conv_free(&cv);
}

/* Corrupt the last hex digit of every secret in the key log. */
static char *wrong_keys(const struct conv *cv)
{
	char *t = malloc(cv->nkeylog + 1);

	memcpy(t, cv->keylog, cv->nkeylog + 1);
	for (size_t i = 0; i < cv->nkeylog; i++)
		if (t[i] == '\n')
			t[i - 1] = t[i - 1] == '0' ? '1' : '0';
	return t;
}

TT_TEST(wrong_key)
{
	const struct tcfg *ts[] = { &small13, &small12, &cases[3],
				    &cases[5] };

	for (size_t i = 0; i < ARRAY_SIZE(ts); i++) {
		struct conv cv;
		struct run r;
		char *bad;
		const struct tls_info *in;

		TT_REQUIRE(make_conv(ts[i], &cv));
		bad = wrong_keys(&cv);
		run_start(&r, &cv, ks_from(bad, cv.nkeylog));
		feed_conv(&r, &cv, FEED_CHUNKS);
		in = tls_session_info(r.s);
		TT_EQ_INT(r.rc_bad, 0);
		TT_EQ_STR(in->reason, "decryption failed (bad record MAC)");
		TT_CHECK(!in->decrypted);
		TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
		TT_CHECK(r.st.bad_records >= 1);
		TT_EQ_INT(r.k.failed[0], 1);
		TT_EQ_INT(r.k.failed[1], 1);
		TT_EQ_STR(in->sni, "api.example");
		run_end(&r);
		free(bad);
		conv_free(&cv);
	}
}

/* Every prefix of the wire (in wire order): no crash, plaintext a prefix. */
TT_TEST(truncated_everywhere)
{
	const struct tcfg *ts[] = { &small13, &small12 };

	for (size_t t = 0; t < ARRAY_SIZE(ts); t++) {
		struct conv cv;
		size_t total = 0;

		TT_REQUIRE(make_conv(ts[t], &cv));
		for (size_t i = 0; i < cv.nc; i++)
			total += cv.c[i].n;
		for (size_t cut = 0; cut <= total; cut++) {
			struct run r;
			size_t left = cut;

			run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
			for (size_t i = 0; i < cv.nc && left; i++) {
				size_t n = MIN(left, cv.c[i].n);

				r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p,
						  n) != 0;
				left -= n;
			}
			TT_EQ_INT(r.rc_bad, 0);
			TT_EQ_INT(r.k.prefix_bad, 0);
			run_end(&r);
			if (tt_cur_failed)
				break;
		}
		conv_free(&cv);
	}
}

/* Flip one bit at every wire position: the session may fail, but never
 * crashes and never delivers plaintext that was not sent. */
TT_TEST(bit_flip_everywhere)
{
	const struct tcfg *ts[] = { &small13, &small12 };

	for (size_t t = 0; t < ARRAY_SIZE(ts); t++) {
		struct conv cv;
		int failures = 0;

		TT_REQUIRE(make_conv(ts[t], &cv));
		for (size_t i = 0; i < cv.nc; i++) {
			for (size_t pos = 0; pos < cv.c[i].n; pos++) {
				struct run r;
				const struct tls_info *in;

				run_start(&r, &cv,
					  ks_from(cv.keylog, cv.nkeylog));
				cv.c[i].p[pos] ^= (uint8_t)(1u << (pos % 8));
				for (size_t j = 0; j < cv.nc; j++) {
					int rc = gfeed(r.s, cv.c[j].dir,
						       cv.c[j].p, cv.c[j].n);

					TT_CHECK(rc == 0 || rc == -EBADMSG);
				}
				cv.c[i].p[pos] ^= (uint8_t)(1u << (pos % 8));
				in = tls_session_info(r.s);
				TT_EQ_INT(r.k.prefix_bad, 0);
				if (in->reason[0])
					failures++;
				run_end(&r);
			}
		}
		TT_CHECK(failures > 0);
		conv_free(&cv);
	}
}

/* Bit flip in the last application-data record of the server. */
TT_TEST(bit_flip_ciphertext)
{
	struct conv cv;
	struct run r;
	size_t last = 0;
	const struct tls_info *in;

	TT_REQUIRE(make_conv(&cases[0], &cv));
	for (size_t i = 0; i < cv.nc; i++)
		if (cv.c[i].dir == 1 && cv.c[i].n > 20000)
			last = i;
	TT_REQUIRE(last);
	cv.c[last].p[cv.c[last].n / 2] ^= 0x10;
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	feed_conv(&r, &cv, FEED_CHUNKS);
	in = tls_session_info(r.s);
	TT_EQ_STR(in->reason, "decryption failed (bad record MAC)");
	TT_CHECK(!in->decrypted);
	TT_EQ_INT(r.k.n[0], cv.nsent[0]);	/* client side unaffected */
	TT_CHECK(r.k.n[1] < cv.nsent[1]);
	TT_EQ_INT(r.k.prefix_bad, 0);
	TT_EQ_INT(r.k.failed[1], 1);
	TT_EQ_INT(r.k.failed[0], 0);
	TT_EQ_INT(r.st.bad_records, 1);
	run_end(&r);
	conv_free(&cv);
}

TT_TEST(garbage)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct tls_stats st = { 0 };
	struct sink k0 = { 0 };
	struct tls_session *s = tls_session_new(NULL, &ops, &k0, NULL, &st);
	uint8_t rb[4096];

	TT_EQ_INT(gfeed(s, 0, (const uint8_t *)http, strlen(http)), -EBADMSG);
	TT_EQ_INT(gfeed(s, 0, (const uint8_t *)http, 1), -EBADMSG);
	TT_EQ_INT(gfeed(s, 1, (const uint8_t *)http, 1), -EBADMSG);
	TT_EQ_STR(tls_session_info(s)->reason, "not a TLS stream");
	TT_EQ_INT(k0.failed[0] + k0.failed[1], 2);
	tls_session_free(s);
	for (int it = 0; it < 2000; it++) {
		struct sink k = { 0 };
		struct conv none = { 0 };
		size_t n = 1 + rnd() % sizeof(rb);

		k.cv = &none;
		for (size_t i = 0; i < n; i++)
			rb[i] = (uint8_t)rnd();
		if (it & 1) {	/* plausible header, random body */
			rb[0] = (uint8_t)(20 + rnd() % 5);
			rb[1] = 3;
			rb[2] = (uint8_t)(rnd() % 5);
		}
		s = tls_session_new(NULL, &ops, &k, NULL, NULL);
		for (size_t off = 0; off < n;) {
			size_t m = 1 + rnd() % 64;
			int rc;

			m = MIN(n - off, m);
			rc = gfeed(s, (int)(rnd() & 1), rb + off, m);

			TT_CHECK(rc == 0 || rc == -EBADMSG);
			off += m;
		}
		TT_EQ_INT(k.n[0] + k.n[1], 0);
		tls_session_free(s);
		sink_free(&k);
	}
}

TT_TEST(huge_record_length)
{
	static const uint8_t huge[] = { 0x16, 0x03, 0x01, 0xff, 0xff, 0x01 };
	static const uint8_t big_app[] = { 0x17, 0x03, 0x03, 0x48, 0x01 };
	struct tls_session *s = tls_session_new(NULL, NULL, NULL, NULL, NULL);
	struct conv cv;
	struct run r;

	TT_EQ_INT(gfeed(s, 0, huge, sizeof(huge)), -EBADMSG);
	TT_EQ_INT(gfeed(s, 0, huge, 1), -EBADMSG);
	tls_session_free(s);
	s = tls_session_new(NULL, NULL, NULL, NULL, NULL);
	for (size_t i = 0; i < 4; i++)	/* header a byte at a time */
		TT_EQ_INT(gfeed(s, 0, huge + i, 1), 0);
	TT_EQ_INT(gfeed(s, 0, huge + 4, 1), -EBADMSG);
	tls_session_free(s);

	/* After a good handshake: a record longer than 2^14 + 2048. */
	TT_REQUIRE(make_conv(&small13, &cv));
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	feed_conv(&r, &cv, FEED_CHUNKS);
	TT_EQ_INT(gfeed(r.s, 1, big_app, sizeof(big_app)), -EBADMSG);
	TT_EQ_STR(tls_session_info(r.s)->reason,
		  "malformed TLS record (record sync lost)");
	TT_CHECK(!tls_session_info(r.s)->decrypted);
	TT_EQ_INT(gfeed(r.s, 0, big_app, 1), -EBADMSG);
	run_end(&r);
	conv_free(&cv);
}

/* A gap in the server direction after the handshake: server side stops,
 * the client side still decrypts. */
TT_TEST(gap)
{
	struct conv cv;
	struct run r;
	int gapped = 0;
	const struct tls_info *in;

	TT_REQUIRE(make_conv(&cases[3], &cv));
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	for (size_t i = 0; i < cv.nc; i++) {
		if (!gapped && cv.c[i].dir == 1 && cv.c[i].n > 10000) {
			tls_session_gap(r.s, 1, cv.c[i].n, 5);
			gapped = 1;
			continue;
		}
		r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p, cv.c[i].n) != 0;
	}
	in = tls_session_info(r.s);
	TT_CHECK(gapped);
	TT_EQ_INT(r.rc_bad, 0);
	TT_EQ_INT(r.k.gaps[1], 1);
	TT_EQ_INT(r.k.gaps[0], 0);
	TT_EQ_INT(r.k.n[0], cv.nsent[0]);
	TT_EQ_INT(r.k.n[1], 0);
	TT_CHECK(in->decrypted);	/* dir 0 decrypted, no failure */
	TT_EQ_STR(in->reason, "");
	run_end(&r);

	/* A gap before anything decrypted sets the reason. */
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	r.rc_bad |= gfeed(r.s, 0, cv.c[0].p, cv.c[0].n / 2) != 0;
	tls_session_gap(r.s, 0, 10, 5);
	feed_conv(&r, &cv, FEED_CHUNKS);
	in = tls_session_info(r.s);
	TT_EQ_STR(in->reason, "gap in TLS stream (record sync lost)");
	TT_CHECK(!in->decrypted);
	TT_EQ_INT(r.k.gaps[0], 1);
	TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
	run_end(&r);
	conv_free(&cv);
}

TT_TEST(midstream)
{
	struct conv cv;
	struct run r;
	size_t first_app = 0;

	TT_REQUIRE(make_conv(&cases[3], &cv));
	for (size_t i = 0; i < cv.nc && !first_app; i++)
		if (cv.c[i].n > 10000)
			first_app = i;
	TT_REQUIRE(first_app);
	run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
	for (size_t i = first_app; i < cv.nc; i++)
		r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p, cv.c[i].n) != 0;
	TT_EQ_INT(r.rc_bad, 0);
	TT_EQ_STR(tls_session_info(r.s)->reason,
		  "capture started mid-session");
	TT_EQ_INT(r.st.midstream, 1);
	TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
	run_end(&r);
	conv_free(&cv);
}

TT_TEST(memcap_refusal)
{
	struct conv cv;

	TT_REQUIRE(make_conv(&small13, &cv));
	static const uint64_t limits[] = { 0, 1024, 2048, 3000, 1 << 20 };

	for (size_t li = 0; li < ARRAY_SIZE(limits); li++) {
		uint64_t limit = limits[li];
		struct run r;
		int enomem = 0;

		run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
		memcap_init(&r.mc, limit);
		for (size_t i = 0; i < cv.nc; i++)
			for (size_t off = 0; off < cv.c[i].n; off++) {
				int rc = gfeed(r.s, cv.c[i].dir,
					       cv.c[i].p + off, 1);

				TT_CHECK(rc == 0 || rc == -ENOMEM);
				enomem += rc == -ENOMEM;
			}
		TT_EQ_INT(r.k.prefix_bad, 0);
		if (limit < (1 << 20)) {
			TT_CHECK(enomem >= 1);
			TT_CHECK(r.k.gaps[0] + r.k.gaps[1] >= 1);
			TT_EQ_STR(tls_session_info(r.s)->reason,
				  "memory cap reached");
		} else {
			TT_EQ_INT(enomem, 0);
			TT_EQ_INT(r.k.n[0], cv.nsent[0]);
			TT_EQ_INT(r.k.n[1], cv.nsent[1]);
		}
		TT_CHECK(r.mc.used <= limit);
		run_end(&r);
	}
	conv_free(&cv);
}

TT_TEST(unsupported_suite)
{
	const struct tcfg t13 = { "ccm13", TLS1_3_VERSION,
		"TLS_AES_128_CCM_SHA256", 0, 0, 0, 0, 0, NULL, 100, 100 };
	const struct tcfg t12 = { "ccm12", TLS1_2_VERSION, "AES128-CCM", 0,
		0, 0, 0, 0, NULL, 100, 100 };
	const struct tcfg *ts[] = { &t13, &t12 };
	const char *want[] = {
		"unsupported cipher suite TLS_AES_128_CCM_SHA256",
		"unsupported cipher suite TLS_RSA_WITH_AES_128_CCM" };

	for (int i = 0; i < 2; i++) {
		struct conv cv;
		struct run r;

		TT_REQUIRE(make_conv(ts[i], &cv));
		run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
		feed_conv(&r, &cv, FEED_CHUNKS);
		TT_EQ_INT(r.rc_bad, 0);
		TT_EQ_STR(tls_session_info(r.s)->reason, want[i]);
		TT_EQ_STR(tls_session_info(r.s)->cipher_name, cv.cipher);
		TT_CHECK(!tls_session_info(r.s)->decrypted);
		TT_EQ_INT(r.st.unsupported, 1);
		TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
		run_end(&r);
		conv_free(&cv);
	}
}

/* Keys wiped on free: memcap accounting returns to zero and no plaintext
 * buffer survives (checked by run_end); here: a key log with only the
 * handshake secrets decrypts the handshake (ALPN) but not the data. */
TT_TEST(partial_keylog)
{
	struct conv cv;
	struct run r;
	char *only_hs;
	size_t n = 0;

	TT_REQUIRE(make_conv(&small13, &cv));
	only_hs = calloc(1, cv.nkeylog + 1);
	for (char *line = cv.keylog; *line;) {
		char *e = strchr(line, '\n');
		size_t l = (size_t)(e - line) + 1;

		if (!strncmp(line, "CLIENT_HANDSHAKE", 16) ||
		    !strncmp(line, "SERVER_HANDSHAKE", 16)) {
			memcpy(only_hs + n, line, l);
			n += l;
		}
		line += l;
	}
	run_start(&r, &cv, ks_from(only_hs, n));
	feed_conv(&r, &cv, FEED_CHUNKS);
	TT_EQ_STR(tls_session_info(r.s)->alpn, "h2");
	TT_EQ_STR(tls_session_info(r.s)->reason, "no keys for session");
	TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
	run_end(&r);
	free(only_hs);
	conv_free(&cv);
}

TT_TEST(looks_like_client_hello)
{
	struct conv cv;
	static const uint8_t app[] = { 0x17, 0x03, 0x03, 0x00, 0x20, 0x01 };
	static const uint8_t tiny[] = { 0x16, 0x03, 0x01, 0x00, 0x40, 0x01,
					0x00, 0x00, 0x05 };
	uint8_t *g;

	TT_REQUIRE(make_conv(&small12, &cv));
	g = tt_guard(cv.c[0].p, cv.c[0].n);
	TT_EQ_INT(tls_looks_like_client_hello(g, (uint32_t)cv.c[0].n), 1);
	tt_guard_free(g);
	/* n = 0 without a guard: tt_guard(p, 0) points at the guard page,
	 * which tt_guard_free() cannot handle. */
	TT_EQ_INT(tls_looks_like_client_hello(NULL, 0), -EAGAIN);
	for (uint32_t n = 1; n < 6; n++) {
		g = tt_guard(cv.c[0].p, n);
		TT_EQ_INT(tls_looks_like_client_hello(g, n), -EAGAIN);
		tt_guard_free(g);
	}
	for (uint32_t n = 6; n < 12; n++) {
		g = tt_guard(cv.c[0].p, n);
		TT_EQ_INT(tls_looks_like_client_hello(g, n), 1);
		tt_guard_free(g);
	}
	g = tt_guard(app, sizeof(app));
	TT_EQ_INT(tls_looks_like_client_hello(g, sizeof(app)), 0);
	tt_guard_free(g);
	g = tt_guard(tiny, sizeof(tiny));
	TT_EQ_INT(tls_looks_like_client_hello(g, sizeof(tiny)), 0);
	tt_guard_free(g);
	g = tt_guard(cv.c[1].p, cv.c[1].n);	/* ServerHello */
	TT_EQ_INT(tls_looks_like_client_hello(g, (uint32_t)cv.c[1].n), 0);
	tt_guard_free(g);
	g = tt_guard("GET / HTTP/1.1\r\n", 16);
	TT_EQ_INT(tls_looks_like_client_hello(g, 16), 0);
	tt_guard_free(g);
	conv_free(&cv);
}

/* Throughput of AES-128-GCM record decryption against raw EVP on the same
 * record sizes, measured in this run (printed, not asserted). */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

TT_TEST(perf_aes128gcm)
{
	struct tcfg t = T13("perf", "TLS_AES_128_GCM_SHA256");
	struct conv cv;
	struct run r;
	double t0, t_tls, t_evp;
	size_t bytes = 0;
	uint8_t key[16] = { 1 }, iv[12] = { 2 }, tag[16];
	static uint8_t buf[16384 + 16];
	EVP_CIPHER_CTX *ctx;
	int l;

	t.csize = 100;
	t.ssize = (size_t)(getenv("TT_PERF_MB") ? atoi(getenv("TT_PERF_MB")) : 8) << 20;
	TT_REQUIRE(make_conv(&t, &cv));
	/* Best of 5 for both, in this run: the machine may be shared. */
	t_tls = t_evp = 1e9;
	for (int rep = 0; rep < 5; rep++) {
		run_start(&r, &cv, ks_from(cv.keylog, cv.nkeylog));
		r.k.count_only = 1;
		t0 = now_s();
		for (size_t i = 0; i < cv.nc; i++)	/* no guard copies */
			r.rc_bad |= tls_session_feed(r.s, cv.c[i].dir,
						     cv.c[i].p,
						     (uint32_t)cv.c[i].n,
						     0) != 0;
		t_tls = MIN(t_tls, now_s() - t0);
		TT_EQ_INT(r.rc_bad, 0);
		TT_EQ_INT(r.k.n[1], cv.nsent[1]);
		TT_EQ_INT(r.k.prefix_bad, 0);
		run_end(&r);
	}

	ctx = EVP_CIPHER_CTX_new();
	EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, NULL);
	memset(tag, 0, sizeof(tag));
	for (int rep = 0; rep < 5; rep++) {
		t0 = now_s();
		for (bytes = 0; bytes < cv.nsent[1]; bytes += 16384) {
			EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv);
			EVP_DecryptUpdate(ctx, NULL, &l, buf, 5);
			EVP_DecryptUpdate(ctx, buf, &l, buf, 16384);
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16,
					    tag);
			EVP_DecryptFinal_ex(ctx, buf, &l);
		}
		t_evp = MIN(t_evp, now_s() - t0);
	}
	EVP_CIPHER_CTX_free(ctx);
	fprintf(stderr, "perf_aes128gcm: tls_session %.0f MB/s, raw EVP %.0f "
		"MB/s, ratio %.2f\n", cv.nsent[1] / t_tls / 1e6,
		bytes / t_evp / 1e6, t_evp / t_tls);
	conv_free(&cv);
}

/* ---- late keys -------------------------------------------------------- */

/* Add key log lines to an existing store; only those whose label starts
 * with one of the prefixes in want (NULL: all). */
static void ks_add(struct keystore *ks, const char *text, size_t n,
		   const char *const *want)
{
	size_t i = 0;

	while (i < n) {
		const char *e = memchr(text + i, '\n', n - i);
		size_t l = e ? (size_t)(e - (text + i)) : n - i;
		int take = !want;

		for (size_t w = 0; want && want[w]; w++)
			take |= !strncmp(text + i, want[w], strlen(want[w]));
		if (take && keystore_add_line(ks, text + i, l))
			abort();
		i += l + 1;
	}
}

/* Feed chunks [from, to) of cv. */
static void feed_range(struct run *r, const struct conv *cv, size_t from,
		       size_t to)
{
	for (size_t i = from; i < to && i < cv->nc; i++)
		r->rc_bad |= gfeed(r->s, cv->c[i].dir, cv->c[i].p,
				   cv->c[i].n) != 0;
}

static const struct tcfg *late_cfgs[] = {
	&small13, &small12, &cases[0], &cases[3], &cases[6], &cases[19],
	&cases[21], &cases[23],
};

/* Keys arrive after every byte of the session: all of it decrypts, in
 * order, exactly as if the keys had been there from the start. */
TT_TEST(late_keys_after_all)
{
	for (size_t i = 0; i < ARRAY_SIZE(late_cfgs); i++) {
		struct conv cv;
		uint64_t since;

		tt_cur_name = late_cfgs[i]->name;
		TT_REQUIRE(make_conv(late_cfgs[i], &cv));
		for (int mode = FEED_CHUNKS; mode <= FEED_RANDOM; mode += 2) {
			struct run r;

			run_start(&r, &cv, keystore_new(100));
			tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
			feed_conv(&r, &cv, mode);
			TT_CHECK(tls_session_waiting(r.s, &since));
			TT_EQ_INT(since, 1000);
			TT_CHECK(tls_session_held(r.s) > cv.nsent[0] +
				 cv.nsent[1]);
			TT_EQ_INT(r.mc.used >= tls_session_held(r.s), 1);
			TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
			TT_EQ_STR(tls_session_info(r.s)->reason, "");
			/* nothing new: still waiting */
			TT_EQ_INT(tls_session_retry_keys(r.s), 1);
			ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
			TT_EQ_INT(tls_session_retry_keys(r.s), 0);
			TT_CHECK(!tls_session_waiting(r.s, NULL));
			TT_EQ_INT(tls_session_held(r.s), 0);
			check_ok(&r, &cv);
			TT_EQ_INT(r.st.keys_waited, 1);
			TT_EQ_INT(r.st.keys_late, 1);
			run_end(&r);
		}
		conv_free(&cv);
	}
	tt_cur_name = "late_keys_after_all";
}

/* Keys arrive after half the chunks; the rest is fed afterwards. */
TT_TEST(late_keys_after_half)
{
	for (size_t i = 0; i < ARRAY_SIZE(late_cfgs); i++) {
		struct conv cv;
		struct run r;

		tt_cur_name = late_cfgs[i]->name;
		TT_REQUIRE(make_conv(late_cfgs[i], &cv));
		run_start(&r, &cv, keystore_new(100));
		tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
		feed_range(&r, &cv, 0, cv.nc / 2);
		TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
		ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
		TT_EQ_INT(tls_session_retry_keys(r.s), 0);
		feed_range(&r, &cv, cv.nc / 2, cv.nc);
		check_ok(&r, &cv);
		TT_EQ_INT(r.st.keys_waited, 1);
		run_end(&r);
		conv_free(&cv);
	}
	tt_cur_name = "late_keys_after_half";
}

/* TLS 1.3 secrets one label at a time: handshake secrets first (the
 * session resumes, then waits again at the Finished), traffic secrets
 * later.  A secret for the wrong direction does not resume it. */
TT_TEST(late_keys_piecemeal)
{
	static const char *const chs[] = { "CLIENT_HANDSHAKE", NULL };
	static const char *const shs[] = { "SERVER_HANDSHAKE", NULL };
	static const char *const cts[] = { "CLIENT_TRAFFIC", NULL };
	static const char *const sts[] = { "SERVER_TRAFFIC", NULL };
	struct conv cv;
	struct run r;

	TT_REQUIRE(make_conv(&cases[19], &cv));	/* KeyUpdate both ways */
	run_start(&r, &cv, keystore_new(100));
	tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
	feed_conv(&r, &cv, FEED_CHUNKS);
	ks_add(r.ks, cv.keylog, cv.nkeylog, chs);
	TT_EQ_INT(tls_session_retry_keys(r.s), 1);
	ks_add(r.ks, cv.keylog, cv.nkeylog, shs);
	TT_EQ_INT(tls_session_retry_keys(r.s), 1);	/* at a Finished */
	TT_EQ_STR(tls_session_info(r.s)->alpn, "h2");	/* from EE */
	TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
	ks_add(r.ks, cv.keylog, cv.nkeylog, cts);
	ks_add(r.ks, cv.keylog, cv.nkeylog, sts);
	TT_EQ_INT(tls_session_retry_keys(r.s), 0);
	check_ok(&r, &cv);
	run_end(&r);
	conv_free(&cv);
}

/* Keys never come: the engine gives up after --key-wait (or at the end
 * of input); held memory goes back to the memcap at once. */
TT_TEST(late_keys_never)
{
	for (size_t i = 0; i < 2; i++) {
		struct conv cv;

		TT_REQUIRE(make_conv(late_cfgs[i], &cv));
		for (int end = 0; end < 2; end++) {
			struct run r;
			const struct tls_info *in;
			uint64_t held;

			run_start(&r, &cv, keystore_new(100));
			tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
			feed_range(&r, &cv, 0, cv.nc / 2);
			held = tls_session_held(r.s);
			TT_CHECK(held > 0);
			tls_session_stop_waiting(r.s, end ? 0 : 5000000000ULL);
			in = tls_session_info(r.s);
			TT_EQ_STR(in->reason, end ? "no keys for session" :
				  "keys did not arrive within 5s");
			TT_CHECK(!tls_session_waiting(r.s, NULL));
			TT_EQ_INT(tls_session_held(r.s), 0);
			TT_CHECK(r.mc.used <= 2 * 18432);  /* record buffers */
			TT_EQ_INT(r.k.failed[0], 1);
			TT_EQ_INT(r.k.failed[1], 1);
			/* the rest of the session is framed, not held */
			feed_range(&r, &cv, cv.nc / 2, cv.nc);
			TT_EQ_INT(tls_session_held(r.s), 0);
			TT_CHECK(r.mc.used <= 2 * 18432);
			/* keys coming now change nothing */
			ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
			TT_EQ_INT(tls_session_retry_keys(r.s), 0);
			TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
			TT_CHECK(!in->decrypted);
			TT_EQ_INT(r.st.keys_timeout, !end);
			TT_EQ_INT(r.st.no_keys, end);
			run_end(&r);	/* memcap back to 0 */
		}
		conv_free(&cv);
	}
}

/* The per-session bound, and the memcap, stop the hold. */
TT_TEST(late_keys_bound)
{
	struct conv cv;

	TT_REQUIRE(make_conv(&cases[0], &cv));	/* 20000 + 40000 bytes */
	for (int capped = 0; capped < 2; capped++) {
		struct run r;
		const struct tls_info *in;

		run_start(&r, &cv, keystore_new(100));
		if (capped)
			memcap_init(&r.mc, 30000);
		tls_session_set_key_wait(r.s, capped ? TLS_HOLD_MAX_DEFAULT
						     : 10000);
		feed_conv(&r, &cv, FEED_RANDOM);
		in = tls_session_info(r.s);
		TT_EQ_INT(r.rc_bad, 0);
		TT_CHECK(!tls_session_waiting(r.s, NULL));
		TT_EQ_INT(tls_session_held(r.s), 0);
		TT_EQ_STR(in->reason, capped ?
			  "memory cap reached while holding ciphertext for keys" :
			  "ciphertext held for keys exceeded 10000 bytes");
		TT_EQ_INT(r.st.hold_exceeded, 1);
		ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
		TT_EQ_INT(tls_session_retry_keys(r.s), 0);
		TT_EQ_INT(r.k.n[0] + r.k.n[1], 0);
		TT_CHECK(!in->decrypted);
		TT_CHECK(r.mc.used <= 2 * 18432);
		run_end(&r);
	}
	conv_free(&cv);
}

/* A gap while waiting: what came before it decrypts once keys arrive, then
 * the gap is reported, in that order; the other direction is whole. */
TT_TEST(late_keys_gap)
{
	struct conv cv;
	struct run r;
	size_t big = 0;

	TT_REQUIRE(make_conv(&cases[3], &cv));
	for (size_t i = 0; i < cv.nc; i++)
		if (cv.c[i].dir == 1 && cv.c[i].n > 10000) {
			big = i;
			break;
		}
	TT_REQUIRE(big);
	run_start(&r, &cv, keystore_new(100));
	tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
	for (size_t i = 0; i < cv.nc; i++) {
		if (i == big) {
			r.rc_bad |= gfeed(r.s, 1, cv.c[i].p,
					  cv.c[i].n - 100) != 0;
			tls_session_gap(r.s, 1, 100, 5);
			continue;
		}
		r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p, cv.c[i].n) != 0;
	}
	TT_EQ_INT(r.k.gaps[1], 0);		/* not yet: in order */
	ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
	TT_EQ_INT(tls_session_retry_keys(r.s), 0);
	TT_EQ_INT(r.rc_bad, 0);
	TT_EQ_INT(r.k.gaps[1], 1);
	TT_EQ_INT(r.k.gaps[0], 0);
	TT_EQ_INT(r.k.n[0], cv.nsent[0]);
	TT_CHECK(r.k.n[1] > 0 && r.k.n[1] < cv.nsent[1]); /* whole records */
	TT_EQ_INT(r.k.prefix_bad, 0);
	run_end(&r);
	conv_free(&cv);
}

/* Retry between two halves of one record (a key arrives while a record
 * is being reassembled): the partial record is not disturbed. */
TT_TEST(late_keys_mid_record)
{
	struct conv cv;
	struct run r;

	TT_REQUIRE(make_conv(&cases[3], &cv));
	run_start(&r, &cv, keystore_new(100));
	tls_session_set_key_wait(r.s, TLS_HOLD_MAX_DEFAULT);
	for (size_t i = 0; i < cv.nc; i++) {
		size_t h = cv.c[i].n / 2;

		r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p, h) != 0;
		if (i == cv.nc / 2) {
			ks_add(r.ks, cv.keylog, cv.nkeylog, NULL);
			TT_EQ_INT(tls_session_retry_keys(r.s), 0);
		}
		r.rc_bad |= gfeed(r.s, cv.c[i].dir, cv.c[i].p + h,
				  cv.c[i].n - h) != 0;
	}
	check_ok(&r, &cv);
	run_end(&r);
	conv_free(&cv);
}

TT_MAIN()
