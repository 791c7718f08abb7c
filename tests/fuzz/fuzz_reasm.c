/* fuzz_reasm.c - one direction of TCP reassembly driven by segments.
 *
 * Input: byte 0 picks the initial sequence number (0, 1, 2^32-1, 2^32-11,
 * as STYLE.md's reassembly cases) and the window; then records of
 *   op(1) seq_delta(2, signed) len(1)
 * op bits: 0-5 TCP flags (FIN SYN RST PSH ACK URG), 6 = an ACK-only call
 * (reasm_ack at isn + delta), 7 = the payload is the "other" copy.
 * Payload bytes are a function of their sequence number (pat(seq), or
 * pat(seq) ^ 0x55 for the other copy), so every delivered byte can be
 * checked against the sequence number it was delivered at.  The memcap
 * is 8 KiB so memcap refusals and window skips happen all the time.
 *
 * Invariants checked: each delivered byte is one of the two copies pushed
 * at its sequence number; delivered + gap bytes == the stream offset
 * reached (r.next) and, after a FIN, == the FIN's offset; the queue never
 * exceeds the window nor the memcap its limit; end is reported once; after
 * reasm_flush/fini nothing is queued and memcap.used is back to 0.
 */
#include "fuzz.h"
#include "reasm.h"
#include "segment.h"

struct st {
	struct reasm *r;
	uint64_t cov, delivered, gaps;
	int ends;
};

static uint8_t pat(uint32_t seq)
{
	return (uint8_t)((seq * 2654435761u) >> 24);
}

static void on_data(void *ctx, int dir, const uint8_t *p, uint32_t n,
		    uint64_t ts)
{
	struct st *s = ctx;
	FZ_ASSERT(s->ends == 0);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t seq = s->r->isn + (uint32_t)(s->cov + i);
		FZ_ASSERT(p[i] == pat(seq) || p[i] == (pat(seq) ^ 0x55));
	}
	s->cov += n;
	s->delivered += n;
}

static void on_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
	struct st *s = ctx;
	FZ_ASSERT(s->ends == 0);
	FZ_ASSERT(n > 0);
	s->cov += n;
	s->gaps += n;
}

static void on_end(void *ctx, int dir, enum reasm_end how, uint64_t ts)
{
	struct st *s = ctx;
	s->ends++;
	FZ_ASSERT(s->ends == 1);
}

static const struct reasm_ops ops = { on_data, on_gap, on_end };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t isns[] = { 0, 1, 0xffffffffu, 0xfffffff5u };
	static const uint32_t windows[] = { 4096, 65536, 1u << 20, 300 };
	struct fz f = { data, size, 0 };
	uint8_t h = fz_u8(&f);
	uint32_t base = isns[h & 3], window = windows[(h >> 2) & 3];
	struct memcap mc;
	struct reasm_stats rst;
	struct reasm r;
	struct st s = { &r, 0, 0, 0, 0 };
	uint8_t buf[256 * 4];
	uint64_t ts = 1;

	memcap_init(&mc, 8192);
	memset(&rst, 0, sizeof(rst));
	reasm_init(&r, 0, &ops, &s, &mc, &rst, window);
	while (!f.eof && f.n >= 4) {
		uint8_t op = fz_u8(&f);
		int16_t delta = (int16_t)fz_u16(&f);
		uint32_t len = (uint32_t)fz_u8(&f) * ((op & 0x80) && (op & 0x08) ? 4 : 1);
		uint32_t seq = base + (uint32_t)(int32_t)delta * 16;

		ts++;
		if (op & 0x40) {
			reasm_ack(&r, seq, ts);
		} else {
			uint32_t dseq = seq + ((op & TCPF_SYN) ? 1 : 0);
			for (uint32_t i = 0; i < len; i++)
				buf[i] = pat(dseq + i) ^ ((op & 0x80) ? 0x55 : 0);
			uint8_t *p = fz_dup(buf, len);	/* exact size for ASan */
			reasm_push(&r, seq, op & 0x3f, p, len, ts);
			free(p);
		}
		FZ_ASSERT(r.queued <= window || r.ended);
		FZ_ASSERT(mc.used <= mc.limit);
		if (r.have_isn)
			FZ_ASSERT(s.cov == r.next);
	}
	if (h & 0x10) {
		reasm_fini(&r);
	} else {
		reasm_flush(&r, REASM_END_EOF, ts + 1);
		FZ_ASSERT(!r.have_isn || s.ends == 1);
		FZ_ASSERT(s.cov == r.next);
		if (r.fin_seen)
			FZ_ASSERT(s.cov == r.fin_off);
		FZ_ASSERT(s.delivered == rst.bytes);
	}
	FZ_ASSERT(r.q == NULL && (r.queued == 0 || (h & 0x10)));
	FZ_ASSERT(mc.used == 0);
	return 0;
}
