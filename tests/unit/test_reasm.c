/* test_reasm.c - TCP reassembly, table-driven (Suricata OVERLAP_STEP style).
 *
 * Each case is one line: a list of steps (segments, ACKs from the peer) and
 * the exact stream the upper layer must see, written as the delivered bytes
 * with "{G<n>}" for a gap of n bytes and "|FIN" / "|RST" / "|TO" / "|EOF"
 * for the end.  Every case runs at initial sequence numbers 0, 1, 2^32-1
 * and 2^32-11, and is flushed with REASM_END_EOF at the end; the memcap
 * must be back to 0 afterwards.
 *
 * Sequence numbers in the table are relative to the base: a SYN at 0 makes
 * rel 1 stream offset 0.  Mid-stream cases have no SYN.
 */
#include <errno.h>
#include <inttypes.h>

#include "reasm.h"
#include "segment.h"
#include "tt.h"

struct rec {
	char buf[8192];
	size_t n;
	int ends;
	const uint8_t *last_p;
};

/* Opaque to the compiler, so -Wformat-truncation does not size the
 * 8 KiB buffer into the harness's 512-byte messages. */
__attribute__((noinline)) static const char *rec_str(const struct rec *r)
{
	return r->buf;
}

static void rec_put(struct rec *r, const char *s, size_t n)
{
	if (r->n + n >= sizeof(r->buf))
		n = sizeof(r->buf) - 1 - r->n;
	memcpy(r->buf + r->n, s, n);
	r->n += n;
	r->buf[r->n] = 0;
}

static void on_data(void *ctx, int dir, const uint8_t *p, uint32_t n,
		    uint64_t ts)
{
	struct rec *r = ctx;

	r->last_p = p;
	rec_put(r, (const char *)p, n);
}

static void on_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
	char b[32];

	snprintf(b, sizeof(b), "{G%" PRIu64 "}", n);
	rec_put(ctx, b, strlen(b));
}

static void on_end(void *ctx, int dir, enum reasm_end how, uint64_t ts)
{
	static const char *names[] = { "?", "|FIN", "|RST", "|TO", "|EOF" };
	struct rec *r = ctx;

	r->ends++;
	rec_put(r, names[how], strlen(names[how]));
}

static const struct reasm_ops ops = { on_data, on_gap, on_end };

enum { K_END = 0, K_SEG, K_ACK, K_FLUSH };

struct step {
	int kind;
	int32_t rel;
	uint8_t flags;
	const char *data;
};

#define S(rel, d)	{ K_SEG, rel, TCPF_ACK, d }
#define SF(rel, d)	{ K_SEG, rel, TCPF_ACK | TCPF_FIN, d }
#define SYN(rel, d)	{ K_SEG, rel, TCPF_SYN, d }
#define RST(rel)	{ K_SEG, rel, TCPF_RST, "" }
#define ACK(rel)	{ K_ACK, rel, 0, NULL }
/* REORDER_ACKS + 1 (17) ACKs: past reasm.c's reordering tolerance */
#define ACK4(rel)	ACK(rel), ACK(rel), ACK(rel), ACK(rel)
#define ACKS(rel)	ACK4(rel), ACK4(rel), ACK4(rel), ACK4(rel), ACK(rel)
#define FLUSH(how)	{ K_FLUSH, how, 0, NULL }

#define NOLIM UINT64_MAX
#define W 65536		/* default window_max */
#define X -1		/* statistic not checked */

struct rcase {
	const char *name;
	uint32_t window;
	uint64_t memcap;
	const char *expect;
	int conflicts, retrans, overlaps, gaps;
	struct step steps[64];
};

#define CASE(name, win, mc, exp, conf, retr, ovl, gaps, ...)                  \
	{ name, win, mc, exp, conf, retr, ovl, gaps, { __VA_ARGS__ } }

/* name                      window memcap expect                  conf retr ovl gaps  steps */
static const struct rcase cases[] = {
CASE("in order",               W, NOLIM, "ABCDEF|EOF",             0, 0, 0, 0, SYN(0, ""), S(1, "ABC"), S(4, "DEF")),
CASE("reverse order",          W, NOLIM, "ABCDEFGHI|EOF",          0, 0, 0, 0, SYN(0, ""), S(7, "GHI"), S(4, "DEF"), S(1, "ABC")),
CASE("1-byte segments",        W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(1, "A"), S(2, "B"), S(3, "C"), S(4, "D")),
CASE("1-byte reversed",        W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(4, "D"), S(3, "C"), S(2, "B"), S(1, "A")),
CASE("hole filled later",      W, NOLIM, "ABCDEF|EOF",             0, 0, 0, 0, SYN(0, ""), S(1, "AB"), S(5, "EF"), S(3, "CD")),
CASE("two holes",              W, NOLIM, "ABCDEFGH|EOF",           0, 0, 0, 0, SYN(0, ""), S(3, "CD"), S(7, "GH"), S(1, "AB"), S(5, "EF")),
CASE("retransmit delivered",   W, NOLIM, "ABCDEF|EOF",             0, 1, 0, 0, SYN(0, ""), S(1, "ABC"), S(1, "ABC"), S(4, "DEF")),
CASE("retransmit queued",      W, NOLIM, "ABCDEFGHI|EOF",          0, 1, 0, 0, SYN(0, ""), S(7, "GHI"), S(7, "GHI"), S(1, "ABCDEF")),
CASE("retransmit differs, delivered (not comparable)",
                               W, NOLIM, "ABCDEF|EOF",             0, 1, 0, 0, SYN(0, ""), S(1, "ABC"), S(1, "xyz"), S(4, "DEF")),
CASE("partly new",             W, NOLIM, "ABCDEF|EOF",             0, 0, 1, 0, SYN(0, ""), S(1, "ABCD"), S(3, "CDEF")),
CASE("partly new, old differs",W, NOLIM, "ABCDEF|EOF",             0, 0, 1, 0, SYN(0, ""), S(1, "ABCD"), S(3, "cdEF")),
CASE("overlap before, same",   W, NOLIM, "ABCDEFGH|EOF",           0, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(3, "CDEF"), S(1, "AB")),
CASE("overlap before, differs",W, NOLIM, "ABCDEFGH|EOF",           1, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(3, "CDef"), S(1, "AB")),
CASE("overlap after, same",    W, NOLIM, "ABCDEFGHIJ|EOF",         0, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(7, "GHIJ"), S(1, "ABCD")),
CASE("overlap after, differs", W, NOLIM, "ABCDEFGHIJ|EOF",         1, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(7, "ghIJ"), S(1, "ABCD")),
CASE("overlap inside, same",   W, NOLIM, "ABCDEFGH|EOF",           0, 1, 0, 0, SYN(0, ""), S(5, "EFGH"), S(6, "FG"), S(1, "ABCD")),
CASE("overlap inside, differs",W, NOLIM, "ABCDEFGH|EOF",           1, 1, 0, 0, SYN(0, ""), S(5, "EFGH"), S(6, "fg"), S(1, "ABCD")),
CASE("overlap exact, differs", W, NOLIM, "ABCDEFGH|EOF",           1, 1, 0, 0, SYN(0, ""), S(5, "EFGH"), S(5, "efgh"), S(1, "ABCD")),
CASE("overlap spanning, same", W, NOLIM, "ABCDEFGHIJ|EOF",         0, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(3, "CDEFGHIJ"), S(1, "AB")),
CASE("overlap spanning, differs",
                               W, NOLIM, "ABCDEFGHIJ|EOF",         1, 0, 1, 0, SYN(0, ""), S(5, "EFGH"), S(3, "CDefghIJ"), S(1, "AB")),
CASE("spanning two queued",    W, NOLIM, "ABCDEFGHIJ|EOF",         0, 0, 1, 0, SYN(0, ""), S(3, "CD"), S(7, "GH"), S(2, "BCDEFGHI"), S(1, "A"), S(10, "J")),
CASE("spanning two, differs",  W, NOLIM, "ABCDEFGHIJ|EOF",         1, 0, 1, 0, SYN(0, ""), S(3, "CD"), S(7, "GH"), S(2, "BcDEFgHI"), S(1, "A"), S(10, "J")),
CASE("fill from delivered edge over queue",
                               W, NOLIM, "ABCDEFGH|EOF",           0, 0, 1, 0, SYN(0, ""), S(1, "AB"), S(5, "EF"), S(2, "BCDEFGH")),
CASE("hole never filled",      W, NOLIM, "AB{G3}FG|EOF",           0, 0, 0, 1, SYN(0, ""), S(1, "AB"), S(6, "FG")),
CASE("two holes never filled", W, NOLIM, "AB{G3}FG{G3}KL|EOF",     0, 0, 0, 2, SYN(0, ""), S(1, "AB"), S(11, "KL"), S(6, "FG")),
CASE("window exceeded",        4, NOLIM, "AB{G3}FGHIJ|EOF",        0, 0, 0, 1, SYN(0, ""), S(1, "AB"), S(6, "FGH"), S(9, "IJ")),
CASE("window exceeded, late fill dropped",
                               4, NOLIM, "AB{G3}FGHIJ|EOF",        0, 1, 0, 1, SYN(0, ""), S(1, "AB"), S(6, "FGH"), S(9, "IJ"), S(3, "CDE")),
CASE("window 0: no buffering", 0, NOLIM, "AB{G3}FG{G2}J|EOF",      0, 0, 0, 2, SYN(0, ""), S(1, "AB"), S(6, "FG"), S(10, "J")),
CASE("memcap refuses",         W, 0,     "AB{G3}FG|EOF",           0, 1, 0, 1, SYN(0, ""), S(1, "AB"), S(6, "FG"), S(3, "CDE")),
CASE("ack past hole",          W, NOLIM, "AB{G1}{G2}FG|EOF",       0, 0, 0, 2, SYN(0, ""), S(1, "AB"), S(6, "FG"), ACKS(4), ACKS(8)),
CASE("ack past hole, fills rest",
                               W, NOLIM, "AB{G1}DEFG|EOF",         0, 0, 1, 1, SYN(0, ""), S(1, "AB"), S(6, "FG"), ACKS(4), S(3, "CDE")),
CASE("ack past hole, reordering tolerated",
                               W, NOLIM, "ABCDEFG|EOF",            0, 0, 0, 0, SYN(0, ""), S(1, "AB"), S(6, "FG"), ACK4(8), ACK4(8), ACK4(8), ACK4(8), S(3, "CDE")),
CASE("tolerance restarts when the hole fills",
                               W, NOLIM, "ABCDEFGHIJ|EOF",         0, 0, 0, 0, SYN(0, ""), S(1, "AB"), S(6, "FG"), ACK4(8), ACK4(8), ACK4(8), S(3, "CDE"), S(10, "J"), ACK4(11), ACK4(11), ACK4(11), S(8, "HI")),
CASE("ack past two holes",     W, NOLIM, "AB{G3}FG{G3}KL|EOF",     0, 0, 0, 2, SYN(0, ""), S(1, "AB"), S(6, "FG"), S(11, "KL"), ACKS(13)),
CASE("ack, nothing queued: no gap",
                               W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(1, "AB"), ACK(10), S(3, "CD")),
CASE("acked bytes never seen: gap, late copy dropped",
                               W, NOLIM, "AB{G7}|EOF",             0, 1, 0, 1, SYN(0, ""), S(1, "AB"), ACKS(10), S(3, "CD")),
CASE("ack below next",         W, NOLIM, "AB{G3}FG|EOF",           0, 0, 0, 1, SYN(0, ""), S(1, "AB"), S(6, "FG"), ACK(2), ACK(0)),
CASE("ack counts the FIN",     W, NOLIM, "AB{G2}EF|FIN",           0, 0, 0, 1, SYN(0, ""), S(1, "AB"), SF(5, "EF"), ACKS(8)),
CASE("fin after ooo",          W, NOLIM, "ABCDEF|FIN",             0, 0, 0, 0, SYN(0, ""), S(1, "AB"), SF(5, "EF"), S(3, "CD")),
CASE("fin first, data later",  W, NOLIM, "ABCDEF|FIN",             0, 0, 0, 0, SYN(0, ""), SF(7, ""), S(4, "DEF"), S(1, "ABC")),
CASE("fin, hole at flush",     W, NOLIM, "AB{G2}EF|FIN",           0, 0, 0, 1, SYN(0, ""), S(1, "AB"), SF(5, "EF")),
CASE("fin, empty tail hole",   W, NOLIM, "AB{G4}|FIN",             0, 0, 0, 1, SYN(0, ""), S(1, "AB"), SF(7, "")),
CASE("data after fin ignored", W, NOLIM, "AB|FIN",                 0, 0, 0, 0, SYN(0, ""), S(1, "AB"), SF(3, ""), S(3, "CD")),
CASE("queued after fin dropped",
                               W, NOLIM, "ABCD|FIN",               0, 0, 0, 0, SYN(0, ""), S(1, "AB"), S(6, "FGH"), SF(3, "CD")),
CASE("straddling fin trimmed", W, NOLIM, "ABCDE|FIN",              0, 1, 0, 0, SYN(0, ""), S(4, "DEFGH"), SF(5, "E"), S(1, "ABC"), S(5, "EXYZ")),
CASE("fin retransmitted",      W, NOLIM, "AB|FIN",                 0, 0, 0, 0, SYN(0, ""), SF(1, "AB"), SF(1, "AB")),
CASE("rst",                    W, NOLIM, "AB|RST",                 0, 0, 0, 0, SYN(0, ""), S(1, "AB"), RST(3), S(3, "CD")),
CASE("rst with queued data",   W, NOLIM, "AB{G2}EF|RST",           0, 0, 0, 1, SYN(0, ""), S(1, "AB"), S(5, "EF"), RST(3)),
CASE("rst out of window ignored",
                               W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(1, "AB"), RST(0x7fff0000), S(3, "CD")),
CASE("explicit flush timeout", W, NOLIM, "AB{G2}EF|TO",            0, 0, 0, 1, SYN(0, ""), S(1, "AB"), S(5, "EF"), FLUSH(REASM_END_TIMEOUT), S(7, "GH")),
CASE("mid-stream pickup",      W, NOLIM, "ABCDEF|EOF",             0, 0, 0, 0, S(100, "ABC"), S(103, "DEF")),
CASE("mid-stream, earlier data dropped",
                               W, NOLIM, "ABCDEF|EOF",             0, 1, 1, 0, S(100, "ABC"), S(97, "xyz"), S(98, "yzABCD"), S(104, "EF")),
CASE("mid-stream, pure ack does not anchor",
                               W, NOLIM, "ABC|EOF",                0, 0, 0, 0, S(50, ""), S(100, "ABC")),
CASE("mid-stream ooo",         W, NOLIM, "AB{G2}EF|EOF",           0, 0, 0, 1, S(100, "AB"), S(104, "EF")),
CASE("mid-stream fin only",    W, NOLIM, "|FIN",                   0, 0, 0, 0, SF(100, "")),
CASE("syn retransmitted",      W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), SYN(0, ""), S(1, "AB"), S(3, "CD")),
CASE("syn with data (TFO)",    W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, "AB"), S(3, "CD")),
CASE("TFO syn retransmitted",  W, NOLIM, "ABCD|EOF",               0, 1, 0, 0, SYN(0, "AB"), SYN(0, "AB"), S(3, "CD")),
CASE("syn with other isn ignored",
                               W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(1, "AB"), SYN(1000, "zz"), S(3, "CD")),
CASE("syn after mid-stream data, same isn",
                               W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, S(1, "AB"), SYN(0, ""), S(3, "CD")),
CASE("bogus far-ahead segment dropped",
                               W, NOLIM, "ABCD|EOF",               0, 0, 0, 0, SYN(0, ""), S(1, "AB"), S(0x50000000, "zz"), S(3, "CD")),
};

static const uint32_t bases[] = { 0, 1, UINT32_MAX, UINT32_MAX - 10 };

static void run_case(const struct rcase *c, uint32_t base)
{
	struct reasm r;
	struct reasm_stats st = { 0 };
	struct memcap mc;
	struct rec rec = { .n = 0 };
	char msg[512];
	uint64_t ts = 1;

	memcap_init(&mc, c->memcap);
	reasm_init(&r, 0, &ops, &rec, &mc, &st, c->window);
	for (const struct step *s = c->steps; s->kind != K_END; s++) {
		uint32_t seq = base + (uint32_t)s->rel;

		switch (s->kind) {
		case K_SEG: {
			size_t n = strlen(s->data);
			/* the payload ends at a guard page (tt_guard_free()
			 * cannot free an empty guard: it reads the guard) */
			uint8_t *p = n ? tt_guard(s->data, n) : NULL;

			reasm_push(&r, seq, s->flags, p, (uint32_t)n, ts++);
			if (p)
				tt_guard_free(p);
			break;
		}
		case K_ACK:
			reasm_ack(&r, seq, ts++);
			break;
		case K_FLUSH:
			reasm_flush(&r, (enum reasm_end)s->rel, ts++);
			break;
		}
	}
	reasm_flush(&r, REASM_END_EOF, ts);
	reasm_fini(&r);

	snprintf(msg, sizeof(msg), "case \"%s\" base %u: got \"%s\" want \"%s\"",
		 c->name, base, rec_str(&rec), c->expect);
	if (strcmp(rec.buf, c->expect))
		tt_fail(__FILE__, __LINE__, msg);
	if (rec.ends != 1)
		tt_fail(__FILE__, __LINE__, msg);
	if ((c->conflicts != X && st.conflicts != (uint64_t)c->conflicts) ||
	    (c->retrans != X && st.retrans_segments != (uint64_t)c->retrans) ||
	    (c->overlaps != X && st.overlaps != (uint64_t)c->overlaps) ||
	    (c->gaps != X && st.gaps != (uint64_t)c->gaps)) {
		snprintf(msg, sizeof(msg),
			 "case \"%s\" base %u: conflicts %" PRIu64
			 " retrans %" PRIu64 " overlaps %" PRIu64
			 " gaps %" PRIu64 " want %d %d %d %d",
			 c->name, base, st.conflicts, st.retrans_segments,
			 st.overlaps, st.gaps, c->conflicts, c->retrans,
			 c->overlaps, c->gaps);
		tt_fail(__FILE__, __LINE__, msg);
	}
	if (c->memcap == 0 && st.memcap_drops == 0)
		tt_fail(__FILE__, __LINE__, "memcap refusal not counted");
	if (mc.used != 0) {
		snprintf(msg, sizeof(msg), "case \"%s\" base %u: memcap %" PRIu64,
			 c->name, base, mc.used);
		tt_fail(__FILE__, __LINE__, msg);
	}
	/* delivered + gap bytes account for the whole stream */
	TT_EQ_INT(r.delivered + st.gap_bytes, r.next);
	TT_EQ_INT(st.bytes, r.delivered);
}

TT_TEST(table)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		for (size_t b = 0; b < ARRAY_SIZE(bases); b++)
			run_case(&cases[i], bases[b]);
}

/* Causal order: data pushed with push_need waits (queued) until the peer
 * stream has delivered that far, and so does its FIN; every way of giving
 * up (flush, window overflow, an ack past a hole, a forced wait) delivers
 * it, so nothing is lost and nothing loops. */
static void push_need(struct reasm *r, uint64_t need, uint32_t seq,
		      uint8_t flags, const char *d, uint64_t ts)
{
	r->push_need = need;
	reasm_push(r, seq, flags, (const uint8_t *)d, (uint32_t)strlen(d), ts);
	r->push_need = 0;
}

TT_TEST(causal_wait)
{
	struct reasm r, pr;
	struct memcap mc;
	struct rec rec = { .n = 0 }, prec = { .n = 0 };
	struct reasm_stats st = { 0 };

	memcap_init(&mc, 1 << 20);
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	reasm_init(&pr, 1, &ops, &prec, &mc, NULL, 1 << 20);
	r.peer = &pr;
	reasm_push(&pr, 500, TCPF_SYN, NULL, 0, 1);
	reasm_push(&r, 100, TCPF_SYN, NULL, 0, 1);
	push_need(&r, 3, 101, TCPF_ACK, "AB", 2);
	push_need(&r, 3, 105, TCPF_ACK, "EF", 3);
	push_need(&r, 3, 103, TCPF_ACK | TCPF_FIN, "CD", 4);
	TT_EQ_STR(rec_str(&rec), "");
	TT_CHECK(reasm_waiting(&r));
	TT_CHECK(!reasm_kick(&r, 5));
	reasm_push(&pr, 501, TCPF_ACK, (const uint8_t *)"xy", 2, 5);
	TT_CHECK(!reasm_kick(&r, 5));	/* peer at 2 of 3 */
	reasm_push(&pr, 503, TCPF_ACK, (const uint8_t *)"z", 1, 6);
	TT_CHECK(reasm_kick(&r, 6));
	TT_EQ_STR(rec_str(&rec), "ABCD|FIN");	/* EF was past the FIN */
	/* data without a need is not held back by waiting data before it */
	reasm_flush(&pr, REASM_END_EOF, 7);
	TT_EQ_INT(mc.used, 0);

	/* a FIN alone waits too */
	rec.n = 0;
	rec.buf[0] = 0;
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	reasm_init(&pr, 1, &ops, &prec, &mc, NULL, 1 << 20);
	r.peer = &pr;
	reasm_push(&pr, 500, TCPF_SYN, NULL, 0, 1);
	reasm_push(&r, 100, TCPF_SYN, NULL, 0, 1);
	push_need(&r, 0, 101, TCPF_ACK, "AB", 2);
	push_need(&r, 2, 103, TCPF_ACK | TCPF_FIN, "", 3);
	TT_EQ_STR(rec_str(&rec), "AB");
	TT_CHECK(reasm_waiting(&r));
	reasm_force_one(&r, 4);
	TT_EQ_STR(rec_str(&rec), "AB|FIN");
	TT_EQ_INT(st.order_forced, 1);
	reasm_flush(&pr, REASM_END_EOF, 7);

	/* flush while waiting */
	rec.n = 0;
	rec.buf[0] = 0;
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	reasm_init(&pr, 1, &ops, &prec, &mc, NULL, 1 << 20);
	r.peer = &pr;
	reasm_push(&pr, 500, TCPF_SYN, NULL, 0, 1);
	reasm_push(&r, 100, TCPF_SYN, NULL, 0, 1);
	push_need(&r, 9, 101, TCPF_ACK, "AB", 2);
	push_need(&r, 9, 105, TCPF_ACK, "EF", 3);
	reasm_flush(&r, REASM_END_EOF, 4);
	TT_EQ_STR(rec_str(&rec), "AB{G2}EF|EOF");
	TT_EQ_INT(mc.used, 0);

	/* window overflow while waiting: delivered, not looped on */
	rec.n = 0;
	rec.buf[0] = 0;
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 4);
	r.peer = &pr;
	reasm_push(&r, 100, TCPF_SYN, NULL, 0, 1);
	push_need(&r, 9, 101, TCPF_ACK, "ABC", 2);
	TT_EQ_STR(rec_str(&rec), "");
	push_need(&r, 9, 104, TCPF_ACK, "DE", 3);
	TT_EQ_STR(rec_str(&rec), "ABC");	/* the oldest wait given up */
	reasm_flush(&r, REASM_END_EOF, 4);
	TT_EQ_STR(rec_str(&rec), "ABCDE|EOF");
	TT_EQ_INT(mc.used, 0);

	/* an ack past a hole while waiting: gap after the tolerance */
	rec.n = 0;
	rec.buf[0] = 0;
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	r.peer = &pr;
	reasm_push(&r, 100, TCPF_SYN, NULL, 0, 1);
	push_need(&r, 9, 101, TCPF_ACK, "AB", 2);
	push_need(&r, 9, 105, TCPF_ACK, "EF", 3);
	for (int i = 0; i < 16; i++)
		reasm_ack(&r, 107, 4);
	TT_EQ_STR(rec_str(&rec), "");
	reasm_ack(&r, 107, 5);
	/* the hole is lost, but "AB" still waits for the peer's 9 bytes */
	TT_EQ_STR(rec_str(&rec), "");
	TT_EQ_INT(r.lost_to, 6);
	reasm_push(&pr, 501, TCPF_ACK, (const uint8_t *)"123456789", 9, 5);
	TT_CHECK(reasm_kick(&r, 5));
	TT_EQ_STR(rec_str(&rec), "AB{G2}EF");
	reasm_flush(&r, REASM_END_EOF, 6);
	TT_EQ_INT(mc.used, 0);
	reasm_fini(&pr);
}

/* Without an isn, acks are remembered: the lowest anchors the stream. */
TT_TEST(anchor_at_ack)
{
	struct reasm r;
	struct rec rec = { .n = 0 };

	reasm_init(&r, 0, &ops, &rec, NULL, NULL, 1024);
	TT_CHECK(!reasm_anchor_at_ack(&r));
	reasm_ack(&r, 205, 1);
	reasm_ack(&r, 201, 1);
	reasm_ack(&r, 203, 1);
	TT_CHECK(reasm_anchor_at_ack(&r));
	TT_CHECK(!reasm_anchor_at_ack(&r));
	reasm_push(&r, 203, TCPF_ACK, (const uint8_t *)"CD", 2, 2);
	TT_EQ_STR(rec_str(&rec), "");
	reasm_push(&r, 201, TCPF_ACK, (const uint8_t *)"AB", 2, 3);
	reasm_flush(&r, REASM_END_EOF, 4);
	TT_EQ_STR(rec_str(&rec), "ABCD|EOF");
}

/* In-order data reaches the upper layer straight from the caller's buffer. */
TT_TEST(zero_copy)
{
	struct reasm r;
	struct rec rec = { .n = 0 };
	static const uint8_t buf[] = "hello";

	reasm_init(&r, 1, &ops, &rec, NULL, NULL, 1024);
	reasm_push(&r, 41, TCPF_SYN, NULL, 0, 1);
	reasm_push(&r, 42, TCPF_ACK, buf, 5, 2);
	TT_CHECK(rec.last_p == buf);
	TT_EQ_INT(r.next, 5);
	reasm_flush(&r, REASM_END_EOF, 3);
	TT_EQ_STR(rec_str(&rec), "hello|EOF");
}

/* Queued data is charged with its header; the charge returns on fini,
 * without anything reported. */
TT_TEST(memcap_fini)
{
	struct reasm r;
	struct memcap mc;
	struct rec rec = { .n = 0 };
	struct reasm_stats st = { 0 };
	uint8_t b[100];

	memset(b, 'x', sizeof(b));
	memcap_init(&mc, 1 << 20);
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	reasm_push(&r, 1000, TCPF_SYN, NULL, 0, 1);
	for (int i = 1; i <= 50; i++)
		reasm_push(&r, 1001 + (uint32_t)i * 200, TCPF_ACK, b, 100, 2);
	TT_EQ_INT(r.queued, 5000);
	TT_CHECK(mc.used > 5000);
	TT_EQ_INT(st.ooo_segments, 50);
	reasm_fini(&r);
	TT_EQ_INT(mc.used, 0);
	TT_EQ_INT(r.queued, 0);
	TT_EQ_STR(rec_str(&rec), "");
}

/* A memcap that holds one queued segment: the second one forces the first
 * hole out, nothing captured is lost. */
TT_TEST(memcap_partial)
{
	struct reasm r;
	struct memcap mc;
	struct rec rec = { .n = 0 };
	struct reasm_stats st = { 0 };

	memcap_init(&mc, 64);	/* one queued segment of 2 bytes (seg_charge) */
	reasm_init(&r, 0, &ops, &rec, &mc, &st, 1 << 20);
	reasm_push(&r, 0, TCPF_SYN, NULL, 0, 1);
	reasm_push(&r, 1, TCPF_ACK, (const uint8_t *)"AB", 2, 1);
	reasm_push(&r, 6, TCPF_ACK, (const uint8_t *)"FG", 2, 1);
	TT_CHECK(mc.used > 0);
	reasm_push(&r, 11, TCPF_ACK, (const uint8_t *)"KL", 2, 1);
	TT_EQ_INT(mc.used, 0);
	reasm_push(&r, 13, TCPF_ACK | TCPF_FIN, (const uint8_t *)"MN", 2, 1);
	TT_EQ_STR(rec_str(&rec), "AB{G3}FG{G3}KLMN|FIN");
	TT_EQ_INT(st.memcap_drops, 1);
	TT_EQ_INT(mc.used, 0);
	reasm_fini(&r);
}

/* Offsets are 64-bit: more than 4 GiB through one stream, with the
 * sequence number wrapping, then reordering across the wrap. */
static uint64_t big_bytes;
static void big_data(void *ctx, int dir, const uint8_t *p, uint32_t n,
		     uint64_t ts)
{
	big_bytes += n;
}
static void big_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
	*(int *)ctx = 1;
}
static const struct reasm_ops big_ops = { big_data, big_gap, NULL };

TT_TEST(beyond_4g)
{
	static uint8_t chunk[65536];
	struct reasm r;
	struct memcap mc;
	int gapped = 0;
	uint32_t seq = 0xfffff000u;
	uint64_t total = (1ull << 32) + 3 * 65536;

	memcap_init(&mc, 1 << 20);
	reasm_init(&r, 0, &big_ops, &gapped, &mc, NULL, 1 << 20);
	reasm_push(&r, seq++, TCPF_SYN, NULL, 0, 0);
	for (uint64_t done = 0; done < total; done += sizeof(chunk)) {
		reasm_push(&r, seq, TCPF_ACK, chunk, sizeof(chunk), 0);
		seq += sizeof(chunk);
	}
	/* one reordered pair */
	reasm_push(&r, seq + 1000, TCPF_ACK, chunk, 1000, 0);
	reasm_push(&r, seq, TCPF_ACK, chunk, 1000, 0);
	TT_EQ_INT(big_bytes, total + 2000);
	TT_EQ_INT(r.next, total + 2000);
	TT_CHECK(!gapped);
	TT_EQ_INT(mc.used, 0);
	reasm_fini(&r);
}

/* Hostile: many tiny out-of-order segments, random order, under a memcap:
 * exact content, memcap respected, back to 0. */
TT_TEST(random_order)
{
	enum { N = 2000 };
	static uint8_t stream[N];
	static int order[N];
	struct rec *rec = calloc(1, sizeof(*rec));
	struct reasm r;
	struct memcap mc;
	struct reasm_stats st = { 0 };
	uint32_t isn = 0xffffff00u;
	unsigned seed = 12345;

	TT_REQUIRE(rec);
	for (int i = 0; i < N; i++) {
		stream[i] = (uint8_t)('a' + i % 26);
		order[i] = i;
	}
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rand_r(&seed) % (unsigned)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	memcap_init(&mc, 1 << 20);
	reasm_init(&r, 0, &ops, rec, &mc, &st, 1 << 20);
	reasm_push(&r, isn - 1, TCPF_SYN, NULL, 0, 0);
	for (int i = 0; i < N; i++) {
		int k = order[i], len = 1 + k % 3;

		if (k + len > N)
			len = N - k;
		reasm_push(&r, isn + (uint32_t)k, TCPF_ACK, stream + k,
			   (uint32_t)len, 0);
		TT_CHECK(mc.used <= mc.limit);
	}
	TT_EQ_INT(rec->n, N);
	TT_CHECK(memcmp(rec->buf, stream, N) == 0);
	TT_EQ_INT(st.gaps, 0);
	TT_EQ_INT(st.conflicts, 0);
	TT_EQ_INT(mc.used, 0);
	reasm_flush(&r, REASM_END_EOF, 1);
	reasm_fini(&r);
	free(rec);
}

TT_MAIN()
