/* test_json.c - string escaping, UTF-8 validation, the record's shape. */
#include <inttypes.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "call.h"
#include "json.h"
#include "tt.h"
#include "util.h"

static const struct { const char *in; size_t n; int valid; } utf8_cases[] = {
	{ "", 0, 1 },
	{ "plain ascii text", 16, 1 },
	{ "caf\xc3\xa9", 5, 1 },
	{ "\xe2\x82\xac", 3, 1 },			/* euro */
	{ "\xf0\x9f\x98\x80", 4, 1 },			/* emoji */
	{ "\xc3", 1, 0 },				/* cut */
	{ "\xe2\x82", 2, 0 },
	{ "\xc0\xaf", 2, 0 },				/* overlong */
	{ "\xe0\x80\xaf", 3, 0 },			/* overlong */
	{ "\xed\xa0\x80", 3, 0 },			/* surrogate */
	{ "\xf4\x90\x80\x80", 4, 0 },			/* > U+10FFFF */
	{ "\xff", 1, 0 },
	{ "abcdefgh\x80", 9, 0 },			/* after the fast path */
	{ "abc\0def", 7, 1 },				/* NUL is valid */
};

TT_TEST(utf8_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(utf8_cases); i++) {
		void *g = tt_guard(utf8_cases[i].in, utf8_cases[i].n);
		TT_EQ_INT(utf8_valid(g, utf8_cases[i].n), utf8_cases[i].valid);
		tt_guard_free(g);
	}
}

static const struct { const char *in; size_t n; const char *out; } esc_cases[] = {
	{ "", 0, "\"\"" },
	{ "abc", 3, "\"abc\"" },
	{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
	{ "\n\r\t", 3, "\"\\n\\r\\t\"" },
	{ "\x01\x1f", 2, "\"\\u0001\\u001f\"" },
	{ "\0", 1, "\"\\u0000\"" },
	{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
	{ "\xff\xfe", 2, "\"\\u00ff\\u00fe\"" },
	{ "x\xc3", 2, "\"x\\u00c3\"" },
	{ "\x7f", 1, "\"\x7f\"" },
};

TT_TEST(escape_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(esc_cases); i++) {
		struct jbuf b = { 0 };
		void *g = tt_guard(esc_cases[i].in, esc_cases[i].n);
		jbuf_str(&b, g, esc_cases[i].n);
		b.p[b.len] = '\0';
		TT_EQ_STR(b.p, esc_cases[i].out);
		free(b.p);
		tt_guard_free(g);
	}
}

/* The reference escaper: byte at a time, as jbuf_str was before its
 * 8-byte fast path (json.h's rules). */
static void ref_str(struct jbuf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o;

	b->p = malloc(n * 6 + 3);
	o = b->p;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t k;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			*o++ = '\\';
			*o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			i++;
		} else if (c >= 0x20 && c < 0x80) {
			*o++ = (char)c;
			i++;
		} else if (c >= 0x80 && (k = 1, utf8_valid(p + i, 2) ? (k = 2) :
			   utf8_valid(p + i, 3) ? (k = 3) : utf8_valid(p + i, 4) ? (k = 4) : 0,
			   k > 1 && i + k <= n)) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			i++;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* Does jbuf_str give the reference's output for in[0..n)? */
static bool str_matches_ref(const uint8_t *in, size_t n)
{
	struct jbuf got = { 0 }, want = { 0 };
	bool ok;

	jbuf_str(&got, in, n);
	ref_str(&want, in, n);
	ok = got.len == want.len && !memcmp(got.p, want.p, got.len);
	free(got.p);
	free(want.p);
	return ok;
}

/* jbuf_str against the reference on random strings: each byte drawn
 * from the plain range or from the ones the fast path must stop at,
 * at every alignment and length up to 40. */
TT_TEST(escape_random)
{
	static const uint8_t special[] = { '"', '\\', '\n', 0, 0x1f, 0x20, 0x7f,
					   0x80, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff, 'a' };
	uint32_t x = 12345;
	uint8_t in[48];
	int bad = 0;

	for (int iter = 0; iter < 200000; iter++) {
		size_t n = iter % 41;

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			in[i] = (x >> 28) < 3 ? special[(x >> 8) % sizeof(special)] :
				(uint8_t)(0x20 + (x >> 8) % 0x5f);
		}
		bad += !str_matches_ref(in, n);
	}
	TT_EQ_INT(bad, 0);
}

/* The short-string path reads a whole vector (util.h TAPIR_OVERREAD):
 * bytes past the end that need escaping must not count, at the start of
 * a page (vector read allowed) and at its end (not allowed). */
TT_TEST(escape_short_overread_masked)
{
	uint8_t *pg = aligned_alloc(4096, 8192);
	int bad = 0;

	TT_REQUIRE(pg);
	/* strings up to 48 bytes - their last vector read past the end, or
	 * not when that would leave the page - followed by '"' bytes that
	 * must stay masked, with one byte to escape anywhere or none */
	for (size_t n = 0; n <= 48; n++) {
		size_t offs[5] = { 0, 5, 4096 - n, 4096 - n - 3,
				   4096 - 16 - n / 2 };

		for (int k = 0; k < 5; k++) {
			uint8_t *in = pg + offs[k];

			for (size_t e = 0; e <= n; e++) {
				memset(pg, '"', 8192);
				for (size_t i = 0; i < n; i++)
					in[i] = (uint8_t)('a' + i % 26);
				if (e < n)
					in[e] = e % 3 ? '\\' : '\n';
				bad += !str_matches_ref(in, n);
			}
		}
	}
	free(pg);
	TT_EQ_INT(bad, 0);
}

static char *write_one(const struct call *c)
{
	char path[] = "/tmp/tapir-json-XXXXXX";
	int fd = mkstemp(path);
	struct json_sink *s;
	static char buf[65536];
	FILE *f;
	size_t n;

	close(fd);
	s = json_sink_open(path, false);
	if (!s)
		return NULL;
	json_sink_write(s, c);
	json_sink_close(s);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return buf;
}

TT_TEST(record_shape)
{
	struct body_opts bo = { .max_keep = 4, .hash = true };
	struct call *c = call_new(&bo);
	char *out;

	c->http_version = "1.1";
	snprintf(c->flow.src, sizeof(c->flow.src), "10.0.0.2:51514");
	snprintf(c->flow.dst, sizeof(c->flow.dst), "10.0.0.1:443");
	c->tls.present = true;
	snprintf(c->tls.version, sizeof(c->tls.version), "TLSv1.3");
	snprintf(c->tls.cipher, sizeof(c->tls.cipher), "TLS_AES_128_GCM_SHA256");
	c->tls.decrypted = true;
	c->req.present = true;
	c->req.method = http_msg_strdup(&c->req, "POST", strlen("POST"));
	c->req.path = http_msg_strdup(&c->req, "/v1/x", strlen("/v1/x"));
	c->req.authority = http_msg_strdup(&c->req, "api.example", strlen("api.example"));
	c->req.ts_first_ns = 1764291723000000000ULL;
	c->req.ts_last_ns = c->req.ts_first_ns;
	http_msg_add_header(&c->req, "content-type", 12, "application/json", 16);
	body_feed(&c->req.body, (const uint8_t *)"abcdef", 6);
	body_finish(&c->req.body);
	c->req.complete = true;
	c->resp.present = true;
	c->resp.status = 201;
	c->resp.ts_first_ns = c->req.ts_first_ns + 500000;
	c->resp.ts_last_ns = c->req.ts_first_ns + 812000;
	body_feed(&c->resp.body, (const uint8_t *)"\xff\x00", 2);
	body_finish(&c->resp.body);
	c->resp.complete = true;

	out = write_one(c);
	TT_REQUIRE(out);
	TT_CHECK(strstr(out, "{\"ts\":\"2025-11-28T01:02:03.000000Z\","
			     "\"duration_us\":812,") == out);
	TT_CHECK(strstr(out, "\"flow\":{\"src\":\"10.0.0.2:51514\",\"dst\":\"10.0.0.1:443\"}"));
	TT_CHECK(strstr(out, "\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\""));
	TT_CHECK(strstr(out, "\"decrypted\":true"));
	TT_CHECK(strstr(out, "\"http_version\":\"1.1\""));
	TT_CHECK(strstr(out, "\"method\":\"POST\",\"authority\":\"api.example\",\"path\":\"/v1/x\""));
	TT_CHECK(strstr(out, "\"headers\":[[\"content-type\",\"application/json\"]]"));
	/* kept 4 of 6 bytes; size and hash of all 6 */
	TT_CHECK(strstr(out, "\"body_size\":6,\"body\":\"abcd\",\"body_encoding\":\"utf8\",\"body_truncated\":true"));
	TT_CHECK(strstr(out, "\"body_sha256\":\"bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721\""));
	TT_CHECK(strstr(out, "\"status\":201"));
	TT_CHECK(strstr(out, "\"body_size\":2,\"body\":\"/wA=\",\"body_encoding\":\"base64\",\"body_truncated\":false"));
	TT_CHECK(strstr(out, "\"errors\":[]}\n"));
	call_error(c, "gap in response body");
	call_error(c, "gap in response body");	/* deduplicated */
	out = write_one(c);
	TT_REQUIRE(out);
	TT_CHECK(strstr(out, "\"errors\":[\"gap in response body\"]}\n"));
	call_free(c);
}

/* The sink keeps the "flow" and "tls" members of its last record for the
 * next call with the same flow and tls (json.c): each record must still
 * say its own call's, whichever field changed, and one too large to keep
 * is written in full. */
TT_TEST(flow_tls_cache_follows_call)
{
	struct body_opts bo = { .max_keep = 4 };
	char path[] = "/tmp/tapir-json-XXXXXX", line[4096];
	static const char *const want[] = {
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"a.example\",\"alpn\":\"h2\",\"decrypted\":true}",
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"a.example\",\"alpn\":\"h2\",\"decrypted\":true}",
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"b.example\",\"alpn\":\"h2\",\"decrypted\":true}",
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\",\"iface\":\"eth0\",\"direction\":\"east-west\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"b.example\",\"alpn\":\"h2\",\"decrypted\":true}",
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\",\"iface\":\"eth0\",\"direction\":\"east-west\"},\"http_version\"",
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"a.example\",\"alpn\":\"h2\",\"decrypted\":false,\"reason\":\"no keys\"}",
		NULL,	/* an SNI of 200 control bytes: 1,200 bytes escaped */
		"\"flow\":{\"src\":\"10.0.0.2:1\",\"dst\":\"10.0.0.1:443\"},\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\"C\",\"sni\":\"a.example\",\"alpn\":\"h2\",\"decrypted\":true}",
	};
	int fd = mkstemp(path), n = 0;
	struct json_sink *sk;
	FILE *f;

	TT_REQUIRE(fd >= 0);
	close(fd);
	sk = json_sink_open(path, false);
	TT_REQUIRE(sk);
	for (int i = 0; i < 8; i++) {
		struct call *c = call_new(&bo);

		c->http_version = "2";
		snprintf(c->flow.src, sizeof(c->flow.src), "10.0.0.2:1");
		snprintf(c->flow.dst, sizeof(c->flow.dst), "10.0.0.1:443");
		c->tls.present = i != 4;
		snprintf(c->tls.version, sizeof(c->tls.version), "TLSv1.3");
		snprintf(c->tls.cipher, sizeof(c->tls.cipher), "C");
		snprintf(c->tls.sni, sizeof(c->tls.sni), "%s",
			 i == 2 || i == 3 ? "b.example" : "a.example");
		snprintf(c->tls.alpn, sizeof(c->tls.alpn), "h2");
		c->tls.decrypted = i != 5;
		if (i == 5)
			snprintf(c->tls.reason, sizeof(c->tls.reason), "no keys");
		if (i == 3 || i == 4) {
			snprintf(c->flow.iface, sizeof(c->flow.iface), "eth0");
			c->flow.direction = "east-west";
		}
		if (i == 6)
			memset(c->tls.sni, 1, 200);
		json_sink_write(sk, c);
		call_free(c);
	}
	TT_EQ_INT(json_sink_close(sk), 0);
	f = fopen(path, "r");
	TT_REQUIRE(f);
	while (fgets(line, sizeof(line), f) && n < 8) {
		if (want[n]) {
			if (!strstr(line, want[n]))
				fprintf(stderr, "record %d: %s", n, line);
			TT_CHECK(strstr(line, want[n]) != NULL);
		} else {
			TT_CHECK(strlen(line) > 1200);
			TT_CHECK(strstr(line, "\"sni\":\"\\u0001\\u0001") != NULL);
			TT_CHECK(strstr(line, "\\u0001\",\"alpn\":\"h2\"") != NULL);
		}
		n++;
	}
	fclose(f);
	unlink(path);
	TT_EQ_INT(n, 8);
}

/* Numbers are written without printf (jb_u64): each must read as
 * printf would write it, at every digit-count boundary. */
TT_TEST(numbers_match_printf)
{
	static const uint64_t v[] = { 1, 9, 10, 11, 99, 100, 101, 999, 1000,
				      12345, 99999, 100000, 4294967295ULL,
				      4294967296ULL, 18446744073709ULL };
	struct body_opts bo = { .max_keep = 4 };

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct call *c = call_new(&bo);
		char want[64], *out;

		c->http_version = "2";
		c->stream_id = (uint32_t)v[i];
		c->req.present = true;
		c->req.ts_first_ns = 1000;
		c->req.ts_last_ns = 1000 + v[i] * 1000;
		out = write_one(c);
		TT_REQUIRE(out);
		snprintf(want, sizeof(want), "\"duration_us\":%" PRIu64 ",",
			 v[i]);
		TT_CHECK(strstr(out, want) != NULL);
		snprintf(want, sizeof(want), "\"stream_id\":%u,",
			 (uint32_t)v[i]);
		/* 2^32 wraps to 0: no stream_id member */
		TT_CHECK((strstr(out, want) != NULL) == ((uint32_t)v[i] != 0));
		call_free(c);
	}
}

static void jb_append_n(struct jbuf *b, const char *p, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_append(struct jbuf *b, const char *s)
{
	jb_append_n(b, s, strlen(s));
}

/* The headers array: a pair of short plain strings is written in one
 * piece (jb_headers), anything else string by string; every pair must
 * read as the reference escapes it, for names and values of 0-40 bytes,
 * plain or with a byte to escape. */
TT_TEST(header_pairs_match_reference)
{
	struct body_opts bo = { .max_keep = 4 };
	struct call *c = call_new(&bo);
	struct jbuf want = { 0 };
	char *out, name[48], value[48];
	int k = 0;

	c->http_version = "2";
	c->req.present = true;
	jb_append(&want, "\"headers\":[");
	for (size_t nl = 0; nl <= 40; nl += 4) {
		for (size_t vl = 0; vl <= 40; vl++, k++) {
			struct jbuf a = { 0 }, v = { 0 };

			for (size_t i = 0; i < nl; i++)
				name[i] = (char)('a' + (i + k) % 26);
			for (size_t i = 0; i < vl; i++)
				value[i] = (char)('A' + (i * 3 + k) % 26);
			if (k % 4 == 1 && nl)
				name[k % nl] = '"';
			if (k % 4 == 2 && vl)
				value[k % vl] = '\n';
			http_msg_add_header(&c->req, name, nl, value, vl);
			ref_str(&a, (const uint8_t *)name, nl);
			ref_str(&v, (const uint8_t *)value, vl);
			jb_append(&want, k ? ",[" : "[");
			jb_append_n(&want, a.p, a.len);
			jb_append(&want, ",");
			jb_append_n(&want, v.p, v.len);
			jb_append(&want, "]");
			free(a.p);
			free(v.p);
		}
	}
	jb_append(&want, "]");
	out = write_one(c);
	TT_REQUIRE(out);
	TT_CHECK(strstr(out, want.p) != NULL);
	free(want.p);
	call_free(c);
}

TT_TEST(grpc_object)
{
	struct body_opts bo = { .max_keep = 64 };
	struct call *c = call_new(&bo);
	char *out;

	c->http_version = "2";
	c->stream_id = 3;
	c->req.present = true;
	c->req.method = http_msg_strdup(&c->req, "POST", strlen("POST"));
	c->grpc.present = true;
	c->grpc.msgs[0] = 1;
	c->grpc.msgs[1] = 2;
	c->grpc.bytes[0] = 3;
	c->grpc.bytes[1] = 7;
	c->grpc.sizes[0] = calloc(CALL_GRPC_SIZES, sizeof(uint32_t));
	c->grpc.sizes[1] = calloc(CALL_GRPC_SIZES, sizeof(uint32_t));
	c->grpc.sizes[0][0] = 3;
	c->grpc.nsizes[0] = 1;
	c->grpc.sizes[1][0] = 5;
	c->grpc.sizes[1][1] = 2;
	c->grpc.nsizes[1] = 2;
	c->grpc.status = strdup("13");
	c->grpc.message = strdup("boom \"x\"");
	/* gRPC bodies are base64 even when they happen to be UTF-8 */
	body_feed(&c->req.body, (const uint8_t *)"\0\0\0\0\3abc", 8);
	body_finish(&c->req.body);
	out = write_one(c);
	TT_REQUIRE(out);
	TT_CHECK(strstr(out, "\"stream_id\":3"));
	TT_CHECK(strstr(out, "\"body\":\"AAAAAANhYmM=\",\"body_encoding\":\"base64\""));
	TT_CHECK(strstr(out, ",\"grpc\":{\"request_messages\":1,\"response_messages\":2,"
			     "\"request_message_sizes\":[3],\"request_message_bytes\":3,"
			     "\"response_message_sizes\":[5,2],\"response_message_bytes\":7,"
			     "\"status\":\"13\",\"message\":\"boom \\\"x\\\"\"}"));
	call_free(c);
}

/* bytes in path, or -1 */
static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Records are buffered whole and written by json_sink_flush; a capture's
 * sink appends (and reopens its path after a rotation), read's truncates;
 * files are 0600. */
TT_TEST(sink_flush_append_reopen)
{
	struct body_opts bo = { .max_keep = 4 };
	char path[] = "/tmp/tapir-json-XXXXXX", moved[64];
	struct call *c = call_new(&bo);
	struct json_sink *s;
	long one;
	int fd = mkstemp(path);

	TT_CHECK(write(fd, "old\n", 4) == 4);
	close(fd);
	snprintf(moved, sizeof(moved), "%s.1", path);
	c->req.present = true;
	c->req.method = http_msg_strdup(&c->req, "GET", strlen("GET"));
	c->req.path = http_msg_strdup(&c->req, "/x", strlen("/x"));

	s = json_sink_open(path, true);
	TT_CHECK(s != NULL);
	TT_CHECK(json_sink_write(s, c) == 0);
	TT_CHECK(file_size(path) == 4);		/* buffered, not written */
	TT_CHECK(json_sink_flush(s) == 0);
	one = file_size(path) - 4;
	TT_CHECK(one > 10);			/* appended after "old\n" */
	TT_CHECK(json_sink_flush(s) == 0);	/* nothing more */
	TT_CHECK(file_size(path) == 4 + one);

	/* logrotate's copytruncate: the next record starts at the new end */
	TT_CHECK(truncate(path, 0) == 0);
	TT_CHECK(json_sink_write(s, c) == 0 && json_sink_flush(s) == 0);
	TT_CHECK(file_size(path) == one);

	/* rename + SIGHUP: the old file keeps what was written, the buffered
	 * record goes there too, later ones to a new file of mode 0600 */
	TT_CHECK(rename(path, moved) == 0);
	TT_CHECK(json_sink_write(s, c) == 0);
	TT_CHECK(json_sink_reopen(s) == 0);
	TT_CHECK(file_size(moved) == 2 * one);
	TT_CHECK(file_size(path) == 0);
	{
		struct stat st;

		TT_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
	TT_CHECK(json_sink_write(s, c) == 0);
	TT_CHECK(json_sink_close(s) == 0);	/* close flushes */
	TT_CHECK(file_size(path) == one);

	/* tapir read's sink truncates */
	s = json_sink_open(path, false);
	TT_CHECK(s != NULL && json_sink_close(s) == 0);
	TT_CHECK(file_size(path) == 0);

	/* stdout: reopen is a no-op */
	s = json_sink_open("-", true);
	TT_CHECK(s != NULL && json_sink_reopen(s) == 0);
	json_sink_close(s);
	unlink(path);
	unlink(moved);
	call_free(c);
}

/* base64 against OpenSSL's encoder: every length up to 300 (each path of
 * the 6-byte loop, the 3-byte loop and both tails), every byte value. */
TT_TEST(base64_matches_openssl)
{
	uint8_t in[300];
	unsigned char ref[420];
	struct jbuf b = { 0 };
	uint32_t r = 12345;

	for (size_t i = 0; i < sizeof(in); i++) {
		r = r * 1103515245u + 12345u;
		in[i] = i < 256 ? (uint8_t)i : (uint8_t)(r >> 16);
	}
	for (size_t n = 0; n <= sizeof(in); n++) {
		int m = EVP_EncodeBlock(ref, in + (n % 7), (int)(n - (n % 7)));

		b.len = 0;
		jbuf_base64(&b, in + (n % 7), n - (n % 7));
		TT_CHECK(b.len == (size_t)m + 2);
		TT_CHECK(b.p[0] == '"' && b.p[b.len - 1] == '"');
		TT_CHECK(!memcmp(b.p + 1, ref, (size_t)m));
	}
	free(b.p);
}

/* A full disk: the records a failed write leaves are counted lost, so
 * are all after it (sticky), and close reports the error.  /dev/full
 * takes the open and fails every write with ENOSPC. */
TT_TEST(sink_write_error_counts)
{
	struct body_opts bo = { .max_keep = 4 };
	struct call *c = call_new(&bo);
	struct json_sink *s = json_sink_open("/dev/full", true);

	TT_CHECK(s != NULL);
	if (!s) {
		call_free(c);
		return;
	}
	c->req.present = true;
	c->req.method = http_msg_strdup(&c->req, "GET", 3);
	for (int i = 0; i < 3; i++)
		TT_CHECK(json_sink_write(s, c) == 0);	/* buffered */
	TT_EQ_INT((int)json_sink_lost(s), 0);
	TT_EQ_INT(json_sink_flush(s), -ENOSPC);
	TT_EQ_INT((int)json_sink_lost(s), 3);
	TT_EQ_INT(json_sink_write(s, c), -ENOSPC);
	TT_EQ_INT((int)json_sink_lost(s), 4);
	TT_EQ_INT(json_sink_close(s), -ENOSPC);

	/* the path pointed at a full disk; once it is writable again a
	 * reopen (SIGHUP) resumes writing, the loss stays counted */
	{
		char dir[] = "/tmp/tapir-json-XXXXXX", link[64], file[64];
		long sz;
		FILE *f;

		TT_CHECK(mkdtemp(dir) != NULL);
		snprintf(link, sizeof(link), "%s/out", dir);
		snprintf(file, sizeof(file), "%s/real", dir);
		TT_CHECK(symlink("/dev/full", link) == 0);
		s = json_sink_open(link, true);
		TT_CHECK(s != NULL);
		TT_CHECK(json_sink_write(s, c) == 0);
		TT_EQ_INT(json_sink_flush(s), -ENOSPC);
		TT_CHECK(unlink(link) == 0 && symlink(file, link) == 0);
		TT_EQ_INT(json_sink_reopen(s), 0);
		TT_EQ_INT(json_sink_write(s, c), 0);
		TT_EQ_INT((int)json_sink_lost(s), 1);
		TT_EQ_INT(json_sink_close(s), 0);
		f = fopen(file, "r");
		TT_CHECK(f != NULL);
		if (f) {
			fseek(f, 0, SEEK_END);
			sz = ftell(f);
			fclose(f);
			TT_CHECK(sz > 10);	/* the record after the reopen */
		}
		unlink(link);
		unlink(file);
		rmdir(dir);
	}
	call_free(c);
}

TT_TEST(open_failure_is_reported)
{
	TT_CHECK(json_sink_open("/nonexistent-dir/x.json", false) == NULL);
	TT_CHECK(json_sink_close(NULL) == 0);
}

TT_MAIN()
