/* test_engine.c - the pipeline end to end on synthetic segments: flow
 * table -> reassembly -> conn dispatch -> HTTP/1 -> JSON.  Checks roles,
 * recognition by bytes on any port, segment splits, gaps, TLS without keys. */
#include <stdlib.h>
#include <string.h>

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

static void lab_init(struct lab *l, uint16_t cport, uint16_t sport)
{
	struct engine_opts o;
	int fd;

	memset(l, 0, sizeof(*l));
	strcpy(l->path, "/tmp/tapir-engine-XXXXXX");
	fd = mkstemp(l->path);
	close(fd);
	l->sink = json_sink_open(l->path);
	engine_opts_default(&o);
	o.body.hash = true;
	l->e = engine_new(&o, NULL, l->sink);
	l->seq[0] = 1000;
	l->seq[1] = 4000000000u;
	l->ts = 1764291723000000000ULL;
	l->cport = cport;
	l->sport = sport;
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

TT_MAIN()
