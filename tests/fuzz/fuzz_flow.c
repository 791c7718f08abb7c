/* fuzz_flow.c - the flow table: segments among a few addresses and ports.
 *
 * Input: byte 0 = max_flows (1..16) and idle timeout choice; then records
 *   tuple(1) flags(1) seq(2) ack(2) len(1) tdelta(1)
 * tuple bits: 0-1 client address, 2 direction (0 c->s, 1 s->c), 3-4 client
 * port, 5 IPv6, 6-7 server port.  seq/ack are offsets from one of two base
 * ISNs per direction (so a SYN with a "new ISN" happens), payload is
 * zeros of length len, time advances by tdelta ms (then
 * flow_table_expire).  The memcap (64 KiB) is small so eviction and
 * refusal paths run.
 *
 * Invariants: every opened flow is closed exactly once (by expiry, eviction,
 * flush_all or free); no stream callback for a flow after its close (ASan:
 * the app state is freed at close); per direction, data + gap bytes are
 * reported in order and end comes last; memcap.used == 0 after free.
 */
#include <errno.h>

#include "flow.h"
#include "fuzz.h"

struct app {
	uint64_t cov[2];
	int ended[2];
};

struct ctx {
	uint64_t opened, closed;
};

static void *app_open(void *c, struct flow *f)
{
	((struct ctx *)c)->opened++;
	struct app *a = calloc(1, sizeof(*a));
	FZ_ASSERT(a);
	return a;
}

static void app_close(void *c, struct flow *f, void *app)
{
	((struct ctx *)c)->closed++;
	free(app);
}

static void on_data(void *c, int dir, const uint8_t *p, uint32_t n, uint64_t ts)
{
	struct app *a = ((struct flow *)c)->app;
	FZ_ASSERT(dir == 0 || dir == 1);
	FZ_ASSERT(!a->ended[dir]);
	for (uint32_t i = 0; i < n; i++)
		FZ_ASSERT(p[i] == 0);
	a->cov[dir] += n;
}

static void on_gap(void *c, int dir, uint64_t n, uint64_t ts)
{
	struct app *a = ((struct flow *)c)->app;
	FZ_ASSERT(!a->ended[dir]);
	a->cov[dir] += n;
}

static void on_end(void *c, int dir, enum reasm_end how, uint64_t ts)
{
	struct app *a = ((struct flow *)c)->app;
	FZ_ASSERT(!a->ended[dir]);
	a->ended[dir] = 1;
}

static const struct flow_app_ops ops = {
	.open = app_open, .close = app_close,
	.stream = { on_data, on_gap, on_end },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t cports[4] = { 40000, 40001, 80, 65535 };
	static const uint16_t sports[4] = { 443, 80, 8443, 40000 };
	static const uint8_t zeros[256];
	struct fz f = { data, size, 0 };
	uint8_t h = fz_u8(&f);
	struct flow_table_opts o = {
		.idle_timeout_ns = (h & 0x10) ? 5000000ULL : 0,
		.reasm_window = (h & 0x20) ? 1024 : 0,
		.max_flows = (h & 0x0f) + 1,
	};
	struct ctx c = { 0, 0 };
	struct memcap mc;
	uint64_t ts = 1000000000ULL;

	memcap_init(&mc, 64 * 1024);
	struct flow_table *t = flow_table_new(&o, &ops, &c, &mc);
	if (!t)
		return 0;
	while (f.n >= 8) {
		uint8_t tu = fz_u8(&f), fl = fz_u8(&f);
		uint16_t sq = fz_u16(&f), ak = fz_u16(&f);
		uint8_t len = fz_u8(&f), td = fz_u8(&f);
		int dir = (tu >> 2) & 1, v6 = (tu >> 5) & 1;
		struct seg s;
		memset(&s, 0, sizeof(s));
		s.family = v6 ? 6 : 4;
		uint8_t *ca = dir ? s.dst : s.src, *sa = dir ? s.src : s.dst;
		ca[0] = 10; ca[1] = 0; ca[2] = 0; ca[3] = (uint8_t)(2 + (tu & 3));
		sa[0] = 10; sa[1] = 0; sa[2] = 0; sa[3] = 1;
		if (v6) {
			ca[0] = 0xfd; sa[0] = 0xfd; ca[15] = ca[3]; sa[15] = 1;
		}
		uint16_t cp = cports[(tu >> 3) & 3], sp = sports[(tu >> 6) & 3];
		s.sport = dir ? sp : cp;
		s.dport = dir ? cp : sp;
		s.flags = fl & 0x3f;
		uint32_t isn_me = (dir ? 0x80000000u : 0xfffffff0u) + ((fl & 0x80) ? 0x1000000u : 0);
		uint32_t isn_peer = (dir ? 0xfffffff0u : 0x80000000u);
		s.seq = isn_me + sq;
		s.ack = isn_peer + ak;
		s.window = 65535;
		ts += (uint64_t)td * 1000000ULL;
		s.ts_ns = ts;
		s.payload = zeros;
		s.len = s.wire_len = len;
		int r = flow_table_push(t, &s);
		FZ_ASSERT(r == 0 || r == -ENOMEM);
		FZ_ASSERT(mc.used <= mc.limit);
		if (fl & 0x40)
			flow_table_expire(t, ts);
		const struct flow_stats *st = flow_table_stats(t);
		FZ_ASSERT(st->flows_active <= o.max_flows);
		FZ_ASSERT(c.opened - c.closed == st->flows_active);
	}
	if (!(h & 0x80))
		flow_table_flush_all(t, ts + 1);
	flow_table_free(t);
	FZ_ASSERT(c.opened == c.closed);
	FZ_ASSERT(mc.used == 0);
	return 0;
}
