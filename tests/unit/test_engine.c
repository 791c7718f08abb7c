/* test_engine.c - the pipeline end to end on synthetic segments: flow
 * table -> reassembly -> conn dispatch -> HTTP/1 -> JSON.  Checks roles,
 * recognition by bytes on any port, segment splits, gaps, TLS without keys. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "coverage.h"
#include "engine.h"
#include "json.h"
#include "tt.h"

struct lab {
	char path[64];
	struct json_sink *sink;
	struct engine *e;
	uint32_t seq[2];	/* next seq of client (0) and server (1) */
	uint64_t ts;
	uint16_t cport, sport;
	char out[1 << 16];
};

/* engine_opts.describe_flow, as tapir capture sets it */
static void describe(void *ctx, uint32_t ifindex, uint8_t family,
		     const uint8_t *client, const uint8_t *server, char *iface,
		     size_t iface_len, const char **direction)
{
	(void)ctx;
	(void)family;
	(void)client;
	(void)server;
	snprintf(iface, iface_len, "if%u", ifindex);
	*direction = "east-west";
}

static void lab_init_keys(struct lab *l, uint16_t cport, uint16_t sport,
			  struct keystore *ks, uint64_t key_wait_ns)
{
	struct engine_opts o;
	int fd;

	memset(l, 0, sizeof(*l));
	strcpy(l->path, "/tmp/tapir-engine-XXXXXX");
	fd = mkstemp(l->path);
	close(fd);
	l->sink = json_sink_open(l->path, false);
	engine_opts_default(&o);
	o.body.hash = true;
	o.key_wait_ns = key_wait_ns;
	if (key_wait_ns) {
		o.describe_flow = describe;
		o.describe_ctx = l;
	}
	l->e = engine_new(&o, ks, l->sink);
	l->seq[0] = 1000;
	l->seq[1] = 4000000000u;
	l->ts = 1764291723000000000ULL;
	l->cport = cport;
	l->sport = sport;
}

static void lab_init(struct lab *l, uint16_t cport, uint16_t sport)
{
	lab_init_keys(l, cport, sport, NULL, 0);
}

/* Send from side (0 client, 1 server). */
static void lab_send(struct lab *l, int side, uint8_t flags, const char *p,
		     size_t n)
{
	struct seg s;
	uint8_t ca[4] = { 10, 0, 0, 2 }, sa[4] = { 10, 0, 0, 1 };

	memset(&s, 0, sizeof(s));
	s.family = 4;
	memcpy(s.src, side ? sa : ca, 4);
	memcpy(s.dst, side ? ca : sa, 4);
	s.sport = side ? l->sport : l->cport;
	s.dport = side ? l->cport : l->sport;
	s.seq = l->seq[side];
	s.ack = l->seq[!side];
	s.flags = flags | (flags & TCPF_SYN && side == 0 ? 0 : TCPF_ACK);
	s.payload = (const uint8_t *)p;
	s.len = s.wire_len = (uint32_t)n;
	s.ifindex = 7;
	s.ts_ns = (l->ts += 1000);
	engine_push(l->e, &s);
	l->seq[side] += (uint32_t)n + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
}

static void lab_handshake(struct lab *l)
{
	lab_send(l, 0, TCPF_SYN, NULL, 0);
	lab_send(l, 1, TCPF_SYN, NULL, 0);
	lab_send(l, 0, 0, NULL, 0);
}

static void lab_close(struct lab *l)
{
	lab_send(l, 0, TCPF_FIN, NULL, 0);
	lab_send(l, 1, TCPF_FIN, NULL, 0);
}

/* Finish, read the JSON lines back. */
static const char *lab_finish(struct lab *l)
{
	FILE *f;
	size_t n;

	engine_finish(l->e, l->ts + 1);
	engine_free(l->e);
	json_sink_close(l->sink);
	f = fopen(l->path, "r");
	n = fread(l->out, 1, sizeof(l->out) - 1, f);
	l->out[n] = '\0';
	fclose(f);
	unlink(l->path);
	return l->out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static const char req[] = "GET /hello HTTP/1.1\r\nHost: api.example\r\n\r\n";
static const char resp[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

TT_TEST(plain_exchange_with_syn)
{
	static struct lab l;
	const char *out;

	lab_init(&l, 51514, 8081);	/* not a well-known port */
	lab_handshake(&l);
	lab_send(&l, 0, TCPF_PSH, req, strlen(req));
	lab_send(&l, 1, TCPF_PSH, resp, strlen(resp));
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_INT(count(out, "\n"), 1);
	TT_CHECK(strstr(out, "\"src\":\"10.0.0.2:51514\",\"dst\":\"10.0.0.1:8081\""));
	TT_CHECK(strstr(out, "\"method\":\"GET\",\"authority\":\"api.example\",\"path\":\"/hello\""));
	TT_CHECK(strstr(out, "\"status\":200"));
	TT_CHECK(strstr(out, "\"body_size\":5,\"body\":\"hello\""));
	TT_CHECK(strstr(out, "\"errors\":[]"));
}

TT_TEST(one_byte_segments_and_midstream_roles)
{
	static struct lab l;
	const char *out;

	/* No SYN, client on the lower port: bytes must decide the roles. */
	lab_init(&l, 80, 50000);
	for (size_t i = 0; i < strlen(req); i++)
		lab_send(&l, 0, 0, req + i, 1);
	for (size_t i = 0; i < strlen(resp); i++)
		lab_send(&l, 1, 0, resp + i, 1);
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_INT(count(out, "\n"), 1);
	TT_CHECK(strstr(out, "\"src\":\"10.0.0.2:80\",\"dst\":\"10.0.0.1:50000\""));
	TT_CHECK(strstr(out, "\"path\":\"/hello\""));
	TT_CHECK(strstr(out, "\"body_size\":5,\"body\":\"hello\""));
}

TT_TEST(gap_in_body_is_reported)
{
	static struct lab l;
	const char *out;
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";

	lab_init(&l, 40000, 80);
	lab_handshake(&l);
	lab_send(&l, 0, 0, req, strlen(req));
	lab_send(&l, 1, 0, head, strlen(head));
	lab_send(&l, 1, 0, "01234", 5);
	l.seq[1] += 3;			/* three bytes never captured */
	lab_send(&l, 1, 0, "89", 2);
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_INT(count(out, "\n"), 1);
	TT_CHECK(strstr(out, "\"body_size\""));
	TT_CHECK(strstr(out, "gap") != NULL);
	TT_CHECK(!strstr(out, "\"errors\":[]"));
	/* the request (no body) has a hash, the gapped response must not */
	TT_EQ_INT(count(out, "body_sha256"), 1);
	TT_CHECK(strstr(out, "\"response\"") &&
		 !strstr(strstr(out, "\"response\""), "body_sha256"));
}

TT_TEST(unknown_protocol_yields_nothing)
{
	static struct lab l;
	const char *out;

	lab_init(&l, 40001, 22);
	lab_handshake(&l);
	lab_send(&l, 1, 0, "SSH-2.0-OpenSSH_9.2\r\n", 21);
	lab_send(&l, 0, 0, "SSH-2.0-OpenSSH_9.2\r\n", 21);
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_STR(out, "");
}

/* An HTTP/2 server that speaks first (gRPC servers send SETTINGS on
 * accept): its bytes are held until the client's preface decides, not
 * counted lost (that gave "gap in HTTP/2 stream" on every call). */
TT_TEST(h2_server_speaks_first)
{
	static struct lab l;
	const char *out;
	/* SETTINGS (one entry: MAX_FRAME_SIZE 4194303) + WINDOW_UPDATE */
	static const char srv_set[] =
		"\0\0\x06\x04\0\0\0\0\0" "\0\x05\0\x3f\xff\xff"
		"\0\0\x04\x08\0\0\0\0\0" "\0\x0f\0\x01";
	static const char cli[] =
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
		"\0\0\0\x04\0\0\0\0\0"		/* SETTINGS */
		"\0\0\0\x04\x01\0\0\0\0"		/* ACK */
		/* HEADERS stream 1, END_STREAM|END_HEADERS: GET http /,
		 * :authority a (literal, indexed name 1) */
		"\0\0\x06\x01\x05\0\0\0\x01" "\x82\x86\x84\x01\x01" "a";
	static const char srv_resp[] =
		"\0\0\0\x04\x01\0\0\0\0"		/* ACK */
		"\0\0\x01\x01\x04\0\0\0\x01" "\x88"	/* :status 200 */
		"\0\0\x02\x00\x01\0\0\0\x01" "ok";	/* DATA, END_STREAM */

	lab_init(&l, 40002, 50051);
	lab_handshake(&l);
	lab_send(&l, 1, 0, srv_set, 4);		/* too short to tell */
	lab_send(&l, 1, 0, srv_set + 4, sizeof(srv_set) - 1 - 4);
	lab_send(&l, 0, 0, cli, 10);
	lab_send(&l, 0, 0, cli + 10, sizeof(cli) - 1 - 10);
	lab_send(&l, 1, 0, srv_resp, sizeof(srv_resp) - 1);
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_INT(count(out, "\n"), 1);
	TT_CHECK(strstr(out, "\"http_version\":\"2\",\"stream_id\":1"));
	TT_CHECK(strstr(out, "\"method\":\"GET\""));
	TT_CHECK(strstr(out, "\"status\":200"));
	TT_CHECK(strstr(out, "\"body_size\":2,\"body\":\"ok\""));
	TT_CHECK(strstr(out, "\"errors\":[]"));
}

/* A server-first SETTINGS look-alike on a connection that is not HTTP/2:
 * held (bounded), then nothing is emitted and nothing leaks. */
TT_TEST(h2_server_first_lookalike_not_h2)
{
	static struct lab l;
	static char big[5000];
	const char *out;

	memcpy(big, "\0\0\x06\x04\0\0\0\0\0", 9);
	lab_init(&l, 40003, 7000);
	lab_handshake(&l);
	lab_send(&l, 1, 0, big, 100);
	lab_send(&l, 0, 0, "SSH-2.0-OpenSSH_9.2\r\n", 21);
	lab_send(&l, 1, 0, big + 100, sizeof(big) - 100);	/* over the hold */
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_STR(out, "");
}

TT_TEST(tls_without_keys_gives_metadata_record)
{
	static struct lab l;
	const char *out;
	/* A minimal ClientHello with SNI "api.example" */
	static const uint8_t ch[] = {
		0x16, 0x03, 0x01, 0x00, 0x3c,		/* record, 60 bytes */
		0x01, 0x00, 0x00, 0x38,			/* ClientHello, 56 */
		0x03, 0x03,				/* legacy version */
		1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,
		17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32, /* random */
		0x00,					/* session id */
		0x00, 0x02, 0x13, 0x01,			/* suites */
		0x01, 0x00,				/* compression */
		0x00, 0x0d,				/* extensions: 13 */
		0x00, 0x00, 0x00, 0x09, 0x00, 0x07, 0x00, 0x00, 0x04,
		'a', 'p', 'i', '.',
	};

	lab_init(&l, 40002, 9443);
	lab_handshake(&l);
	lab_send(&l, 0, 0, (const char *)ch, sizeof(ch));
	lab_close(&l);
	out = lab_finish(&l);
	TT_EQ_INT(count(out, "\n"), 1);
	TT_CHECK(strstr(out, "\"decrypted\":false"));
	TT_CHECK(!strstr(out, "\"request\""));
	/* the record spans the connection: its time, not the epoch */
	TT_CHECK(strstr(out, "{\"ts\":\"2025-11-28T01:02:03.0000"));
	TT_CHECK(strstr(out, "\"duration_us\":5,"));
	TT_CHECK(!strstr(out, "\"errors\":[]"));
}

/* ---- late keys: a real TLS 1.3 exchange through the engine ----------- */

struct tls_conv {
	struct { int dir; uint8_t *p; size_t n; } c[64];
	size_t nc;
	char keylog[4096];
	size_t nkeylog;
};

static struct tls_conv *g_tc;

static void tc_keylog(const SSL *ssl, const char *line)
{
	size_t n = strlen(line);

	(void)ssl;
	if (g_tc->nkeylog + n + 2 < sizeof(g_tc->keylog)) {
		memcpy(g_tc->keylog + g_tc->nkeylog, line, n);
		g_tc->nkeylog += n;
		g_tc->keylog[g_tc->nkeylog++] = '\n';
		g_tc->keylog[g_tc->nkeylog] = '\0';
	}
}

static void tc_pump(struct tls_conv *tc, BIO *out[2], BIO *in[2])
{
	uint8_t buf[65536];
	int n;

	for (int d = 0; d < 2; d++)
		while ((n = BIO_read(out[d], buf, sizeof(buf))) > 0) {
			if (tc->nc < 64) {
				tc->c[tc->nc].dir = d;
				tc->c[tc->nc].p = malloc((size_t)n);
				memcpy(tc->c[tc->nc].p, buf, (size_t)n);
				tc->c[tc->nc++].n = (size_t)n;
			}
			BIO_write(in[!d], buf, n);
		}
}

/* Client sends req, server answers resp, over TLS 1.3 (ALPN http/1.1). */
static int tc_make(struct tls_conv *tc)
{
	SSL_CTX *cx = SSL_CTX_new(TLS_client_method());
	SSL_CTX *sx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	SSL *ssl[2];
	BIO *out[2], *in[2];
	char rb[256];
	int done = 0, ok = 0;
	static const unsigned char alpn[] = "\x08http/1.1";

	memset(tc, 0, sizeof(*tc));
	g_tc = tc;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	SSL_CTX_use_certificate(sx, x);
	SSL_CTX_use_PrivateKey(sx, k);
	SSL_CTX_set_keylog_callback(cx, tc_keylog);
	SSL_CTX_set_min_proto_version(cx, TLS1_3_VERSION);
	for (int i = 0; i < 2; i++) {
		ssl[i] = SSL_new(i ? sx : cx);
		out[i] = BIO_new(BIO_s_mem());
		in[i] = BIO_new(BIO_s_mem());
		SSL_set_bio(ssl[i], in[i], out[i]);
	}
	SSL_set_alpn_protos(ssl[0], alpn, sizeof(alpn) - 1);
	SSL_set_connect_state(ssl[0]);
	SSL_set_accept_state(ssl[1]);
	SSL_set_tlsext_host_name(ssl[0], "api.example");
	for (int i = 0; i < 20 && done != 3; i++)
		for (int s = 0; s < 2; s++) {
			if (SSL_do_handshake(ssl[s]) == 1)
				done |= 1 << s;
			tc_pump(tc, out, in);
		}
	if (done == 3 &&
	    SSL_write(ssl[0], req, (int)strlen(req)) > 0) {
		tc_pump(tc, out, in);
		if (SSL_read(ssl[1], rb, sizeof(rb)) == (int)strlen(req) &&
		    SSL_write(ssl[1], resp, (int)strlen(resp)) > 0) {
			tc_pump(tc, out, in);
			ok = SSL_read(ssl[0], rb, sizeof(rb)) ==
			     (int)strlen(resp);
		}
	}
	tc_pump(tc, out, in);
	SSL_free(ssl[0]);
	SSL_free(ssl[1]);
	SSL_CTX_free(cx);
	SSL_CTX_free(sx);
	X509_free(x);
	EVP_PKEY_free(k);
	g_tc = NULL;
	return ok && tc->nkeylog > 0;
}

static void tc_free(struct tls_conv *tc)
{
	for (size_t i = 0; i < tc->nc; i++)
		free(tc->c[i].p);
}

static void tc_keys(struct keystore *ks, const struct tls_conv *tc)
{
	const char *p = tc->keylog;

	while (*p) {
		const char *e = strchr(p, '\n');

		if (keystore_add_line(ks, p, (size_t)(e - p)))
			abort();
		p = e + 1;
	}
}

enum { KEYS_BEFORE, KEYS_AFTER_CLOSE, KEYS_MIDWAY, KEYS_TOO_LATE,
       KEYS_NEVER, KEYS_NO_WAIT };

static const char *late_run(struct lab *l, struct tls_conv *tc, int when)
{
	struct keystore *ks = keystore_new(100);
	uint64_t wait = when == KEYS_NO_WAIT ? 0 : 5000000000ULL;

	lab_init_keys(l, 40100, 9443, ks, wait);
	if (when == KEYS_BEFORE)
		tc_keys(ks, tc);
	lab_handshake(l);
	for (size_t i = 0; i < tc->nc; i++) {
		lab_send(l, tc->c[i].dir, TCPF_PSH, (const char *)tc->c[i].p,
			 tc->c[i].n);
		if (when == KEYS_MIDWAY && i == tc->nc / 2) {
			tc_keys(ks, tc);
			engine_keys_added(l->e, l->ts);
		}
	}
	lab_close(l);
	if (when != KEYS_BEFORE && when != KEYS_MIDWAY && when != KEYS_NO_WAIT)
		TT_EQ_INT(engine_keys_waiting(l->e), 1);
	/* 2 s later (capture time) the keys come */
	l->ts += 2000000000ULL;
	engine_tick(l->e, l->ts);
	if (when == KEYS_AFTER_CLOSE) {
		tc_keys(ks, tc);
		engine_keys_added(l->e, l->ts);
		TT_EQ_INT(engine_keys_waiting(l->e), 0);
	}
	if (when == KEYS_TOO_LATE) {
		l->ts += 4000000000ULL;
		engine_tick(l->e, l->ts);
		TT_EQ_INT(engine_keys_waiting(l->e), 0);
		tc_keys(ks, tc);
		engine_keys_added(l->e, l->ts);
	}
	engine_finish(l->e, l->ts + 1);
	{
		const struct coverage_totals *t =
			coverage_totals(engine_coverage(l->e));
		int why = when == KEYS_TOO_LATE ? TLS_WHY_KEYS_LATE :
			  TLS_WHY_NO_KEYS;

		TT_EQ_INT(t->sessions, 1);
		TT_EQ_INT(t->decrypted, when <= KEYS_MIDWAY);
		TT_EQ_INT(t->why[why], when > KEYS_MIDWAY);
	}
	lab_finish(l);
	keystore_free(ks);
	return l->out;
}

TT_TEST(late_keys_through_engine)
{
	static struct lab l;
	struct tls_conv tc;
	const char *out;

	TT_REQUIRE(tc_make(&tc));
	for (int when = KEYS_BEFORE; when <= KEYS_NO_WAIT; when++) {
		int decrypts = when <= KEYS_MIDWAY;

		out = late_run(&l, &tc, when);
		TT_EQ_INT(count(out, "\n"), 1);
		TT_EQ_INT(count(out, "\"decrypted\":true"), decrypts);
		TT_EQ_INT(count(out, "\"path\":\"/hello\""), decrypts);
		TT_EQ_INT(count(out, "\"body\":\"hello\""), decrypts);
		TT_EQ_INT(count(out, "\"errors\":[]"), decrypts);
		TT_CHECK(strstr(out, "\"sni\":\"api.example\""));
		/* flow facts survive the flow: keys after close come to a
		 * connection whose flow is gone */
		if (when != KEYS_NO_WAIT)
			TT_CHECK(strstr(out, "\"iface\":\"if7\",\"direction\":\"east-west\""));
		if (when == KEYS_TOO_LATE)
			TT_CHECK(strstr(out, "keys did not arrive within 5s"));
		if (when == KEYS_NEVER || when == KEYS_NO_WAIT)
			TT_CHECK(strstr(out, "no keys for session"));
		if (tt_cur_failed) {
			fprintf(stderr, "case %d: %s\n", when, out);
			break;
		}
	}
	tc_free(&tc);
}

TT_MAIN()
