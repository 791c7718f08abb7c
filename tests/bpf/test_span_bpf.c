/* test_span_bpf.c - xdp/span.bpf.c on crafted frames through
 * BPF_PROG_TEST_RUN (bpf_prog_test_run_opts): the XDP twin of
 * test_capture_bpf.c, with the same frames (frames.h).
 *
 * Owns: one loaded skeleton shared by every case (each case sets the
 * configuration and filter maps it needs, resets counters and drains the
 * ring first).  Every case checks the verdict (XDP_DROP by default,
 * XDP_PASS with TAPIR_CFG_XDP_PASS - for every frame, copied or not), the
 * exact events read back from the ring buffer (header fields and payload
 * bytes) and the counters.
 *
 * Multi-buffer: a frame longer than a page goes in as a linear head plus
 * fragments (BPF_PROG_TEST_RUN does this for programs loaded with
 * BPF_F_XDP_HAS_FRAGS), so a 60 KB segment checks that the copy crosses
 * fragment boundaries.  A kernel without that (before 5.18) refuses the
 * frame with -EINVAL: the case says so and fails.
 *
 * Needs root (CAP_BPF + CAP_NET_ADMIN): exits 77 with "SKIP:" otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tt.h"
#include "span.h"
#include "span.skel.h"
#include "frames.h"
#include "ring.h"

_Static_assert(sizeof(struct tapir_event) == TAPIR_EVENT_SIZE, "event layout");
_Static_assert(sizeof(struct tapir_counters) == TAPIR_COUNTERS_SIZE, "counters");

static struct span_bpf *skel;

static struct tapir_counters counters(void)
{
	return sum_counters(bpf_map__fd(skel->maps.counters));
}

/* Fresh state for a case: every filter off, counters 0, ring empty. */
static void reset(uint32_t flags)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters zero_c[ncpu];
	uint32_t zero = 0;

	memset(zero_c, 0, sizeof(zero_c));
	bpf_map_update_elem(bpf_map__fd(skel->maps.counters), &zero, zero_c, 0);
	clear_map(skel->maps.ports);
	clear_map(skel->maps.net4);
	clear_map(skel->maps.net6);
	clear_map(skel->maps.xnet4);
	clear_map(skel->maps.xnet6);
	skel->data->cfg.flags = flags;
	skel->data->cfg.acks_after_drop_ms = 0;
	skel->bss->last_drop_ns = 0;
	drain();
}

/* The verdict, or -errno from the test run itself. */
static int run_frame(const uint8_t *f, size_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
		    .data_size_in = (uint32_t)n, .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tapir_span), &o);

	if (err)
		return -errno;
	drain();
	return (int)o.retval;
}

static int run(const struct spec *s)
{
	static uint8_t f[4096];

	return run_frame(f, build(s, f, sizeof(f)));
}

static int want_verdict(void)
{
	return skel->data->cfg.flags & TAPIR_CFG_XDP_PASS ? XDP_PASS : XDP_DROP;
}

/* The one event a segment without chunking gives must say exactly this. */
static void check_event(const struct got_ev *g, const struct spec *s)
{
	uint8_t a[16] = { 0 };
	int af = s->family == 4 ? AF_INET : AF_INET6;

	TT_EQ_INT(g->h.family, s->family);
	TT_EQ_INT(g->h.sport, s->sport);
	TT_EQ_INT(g->h.dport, s->dport);
	TT_EQ_INT(g->h.seq, s->seq);
	TT_EQ_INT(g->h.ack, s->ack);
	TT_EQ_INT(g->h.window, 502);
	TT_EQ_INT(g->h.tcp_flags, s->flags);
	TT_EQ_INT(g->h.dir, TAPIR_DIR_SPAN);
	TT_EQ_INT(g->h.ev_flags, TAPIR_EV_FIRST | TAPIR_EV_LAST);
	TT_EQ_INT(g->h.offset, 0);
	TT_EQ_INT(g->h.len, s->plen);
	TT_EQ_INT(g->h.seg_len, s->plen);
	TT_EQ_INT(g->h.ifindex, 1);	/* test runs use the loopback device */
	TT_CHECK(g->h.ts_ns > 0);
	inet_pton(af, s->src, a);
	TT_EQ_MEM(g->h.saddr, a, 16);
	memset(a, 0, sizeof(a));
	inet_pton(af, s->dst, a);
	TT_EQ_MEM(g->h.daddr, a, 16);
	for (uint32_t i = 0; i < s->plen && i < g->h.len; i++)
		if (g->data[i] != pay_byte(i)) {
			TT_CHECK(g->data[i] == pay_byte(i));
			break;
		}
}

/* Exactly one event, equal to what s describes; verdict and counters. */
static void expect_one(const struct spec *s)
{
	struct tapir_counters c;

	TT_EQ_INT(run(s), want_verdict());
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], s);
	c = counters();
	TT_EQ_INT(c.seen, 1);
	TT_EQ_INT(c.matched, 1);
	TT_EQ_INT(c.events, 1);
	TT_EQ_INT(c.bytes, s->plen);
}

/* No event, the verdict all the same, the frame counted in *field. */
static void expect_none(const struct spec *s, const char *what,
			size_t field_off)
{
	struct tapir_counters c;

	TT_EQ_INT(run(s), want_verdict());
	TT_EQ_INT(ngot, 0);
	c = counters();
	TT_EQ_INT(c.seen, 1);
	TT_EQ_INT(c.events, 0);
	if (*(uint64_t *)((uint8_t *)&c + field_off) != 1)
		fprintf(stderr, "  expected the frame counted as %s\n", what);
	TT_EQ_INT(*(uint64_t *)((uint8_t *)&c + field_off), 1);
}
#define NONE(s, field) \
	expect_none(s, #field, offsetof(struct tapir_counters, field))

/* ---------------------------------------------------------------- parsing */

/* One line per frame shape: it must give exactly one event, dropped (and,
 * the second time, passed). */
TT_TEST(frames_copied_then_dropped_or_passed)
{
	static const struct {
		int family, vlans, ip4_opt, tcp_opt, nv6ext;
		uint8_t v6ext[4];
		uint32_t plen, trailer;
		uint16_t frag;
		uint8_t flags;
	} t[] = {
		{ 4, 0, 0, 0, 0, { 0 }, 100, 0, 0, 0x18 },	/* plain */
		{ 4, 0, 40, 40, 0, { 0 }, 1000, 0, 0, 0x18 },	/* max options */
		{ 4, 0, 0, 0, 0, { 0 }, 2, 6, 0, 0x18 },	/* padding */
		{ 4, 0, 0, 0, 0, { 0 }, 100, 0, 0x4000, 0x18 },	/* DF */
		{ 6, 0, 0, 12, 4, { 0, 43, 60, 51 }, 100, 0, 0, 0x18 },
		{ 6, 0, 0, 0, 1, { 44 }, 100, 0, 0, 0x18 },	/* atomic frag */
		{ 4, 1, 0, 0, 0, { 0 }, 100, 0, 0, 0x18 },	/* 802.1Q */
		{ 6, 1, 0, 0, 0, { 0 }, 100, 0, 0, 0x18 },
		{ 4, 2, 8, 0, 0, { 0 }, 100, 0, 0, 0x18 },	/* QinQ */
		{ 6, 2, 0, 0, 1, { 0 }, 100, 0, 0, 0x18 },
		{ 4, 0, 0, 0, 0, { 0 }, 0, 0, 0, 0x02 },	/* SYN */
		{ 4, 0, 0, 0, 0, { 0 }, 0, 0, 0, 0x12 },	/* SYN-ACK */
		{ 6, 0, 0, 0, 0, { 0 }, 0, 0, 0, 0x11 },	/* FIN */
		{ 4, 0, 0, 0, 0, { 0 }, 0, 0, 0, 0x04 },	/* RST */
		{ 6, 0, 0, 0, 0, { 0 }, 300, 0, 0, 0x02 },	/* TFO */
		{ 4, 0, 0, 0, 0, { 0 }, 3300, 0, 0, 0x18 },	/* tier M */
	};

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
			struct spec s;
			int before = tt_cur_failed;

			tt_cur_failed = 0;
			reset(pass ? TAPIR_CFG_XDP_PASS : 0);
			spec_default(&s, t[i].family);
			s.vlans = t[i].vlans;
			s.ip4_opt = t[i].ip4_opt;
			s.tcp_opt = t[i].tcp_opt;
			s.nv6ext = t[i].nv6ext;
			memcpy(s.v6ext, t[i].v6ext, 4);
			s.plen = t[i].plen;
			s.trailer = t[i].trailer;
			s.frag = t[i].frag;
			s.flags = t[i].flags;
			expect_one(&s);
			if (tt_cur_failed)
				fprintf(stderr, "  at row %zu, %s\n", i,
					pass ? "pass" : "drop");
			tt_cur_failed |= before;
		}
}

TT_TEST(payload_tiers)
{
	static const uint32_t sz[] = { 1, 256, 257, 2048, 2049, 3300 };
	static const uint32_t tier[] = { TAPIR_TIER_XS, TAPIR_TIER_XS,
		TAPIR_TIER_S, TAPIR_TIER_S, TAPIR_TIER_M, TAPIR_TIER_M };
	struct spec s;

	for (size_t i = 0; i < ARRAY_SIZE(sz); i++) {
		reset(0);
		spec_default(&s, 4);
		s.plen = sz[i];
		expect_one(&s);
		TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE + tier[i]);
	}
}

TT_TEST(not_copied_but_dropped_all_the_same)
{
	struct spec s;

	for (int pass = 0; pass < 2; pass++) {
		uint32_t fl = pass ? TAPIR_CFG_XDP_PASS : 0;

		reset(fl);
		spec_default(&s, 4);
		s.l4 = IPPROTO_UDP;
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 6);
		s.v6ext[0] = 60; s.nv6ext = 1; s.l4 = IPPROTO_UDP;
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 4);
		s.ethertype = 0x0806;	/* ARP */
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 4);
		s.vlans = 1;
		s.ethertype = 0x88cc;	/* LLDP behind a tag */
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 4);
		s.frag = 0x2000;	/* first IPv4 fragment */
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 6);
		s.v6ext[0] = 44; s.nv6ext = 1; s.frag = 8 << 3;
		NONE(&s, not_tcp);
		reset(fl);
		spec_default(&s, 4);
		s.flags = 0x10;		/* pure ACK */
		s.plen = 0;
		NONE(&s, acks_skipped);
	}
	reset(TAPIR_CFG_ACKS);
	spec_default(&s, 4);
	s.flags = 0x10;
	s.plen = 0;
	expect_one(&s);
}

/* Every cut of the headers: no event, counted as short or not TCP, and
 * the frame still gets the verdict.  (BPF_PROG_TEST_RUN takes no XDP
 * frame shorter than an Ethernet header, nor does a driver pass one.) */
static void every_cut(struct spec *s)
{
	static uint8_t f[4096];
	size_t n = build(s, f, sizeof(f)), hdr = n - s->plen;

	for (size_t cut = ETH_HLEN; cut < hdr; cut++) {
		struct tapir_counters c;

		reset(0);
		TT_EQ_INT(run_frame(f, cut), XDP_DROP);
		TT_EQ_INT(ngot, 0);
		c = counters();
		TT_EQ_INT(c.seen, 1);
		TT_EQ_INT(c.short_hdr + c.not_tcp, 1);
		if (ngot || c.short_hdr + c.not_tcp != 1) {
			fprintf(stderr, "  at cut %zu of %zu\n", cut, hdr);
			return;
		}
	}
}

TT_TEST(truncated_headers)
{
	struct spec s;

	spec_default(&s, 4);
	s.vlans = 2; s.ip4_opt = 12; s.tcp_opt = 20;
	every_cut(&s);
	spec_default(&s, 6);
	s.vlans = 1; s.v6ext[0] = 0; s.v6ext[1] = 44; s.v6ext[2] = 51;
	s.nv6ext = 3; s.tcp_opt = 8;
	every_cut(&s);
}

TT_TEST(impossible_lengths)
{
	static uint8_t f[4096];
	struct spec s;
	size_t n;

	spec_default(&s, 4);
	n = build(&s, f, sizeof(f));
	reset(0);
	f[14] = 0x44;			/* IHL 4 */
	TT_EQ_INT(run_frame(f, n), XDP_DROP);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().short_hdr, 1);
	n = build(&s, f, sizeof(f));
	reset(0);
	put16(f + 16, 30);		/* tot_len ends inside TCP */
	TT_EQ_INT(run_frame(f, n), XDP_DROP);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().short_hdr, 1);
}

/* ---------------------------------------------------------------- filters */

static void add_port(uint16_t p)
{
	uint8_t one = 1;

	TT_CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.ports), &p, &one, 0));
}

static void add_net(struct bpf_map *m4, struct bpf_map *m6, const char *cidr)
{
	char a[64];
	char *slash;
	uint8_t one = 1;

	snprintf(a, sizeof(a), "%s", cidr);
	slash = strchr(a, '/');
	*slash = 0;
	if (strchr(a, ':')) {
		struct tapir_lpm6 k = { .prefixlen = (uint32_t)atoi(slash + 1) };
		inet_pton(AF_INET6, a, k.addr);
		TT_CHECK(!bpf_map_update_elem(bpf_map__fd(m6), &k, &one, 0));
	} else {
		struct tapir_lpm4 k = { .prefixlen = (uint32_t)atoi(slash + 1) };
		inet_pton(AF_INET, a, k.addr);
		TT_CHECK(!bpf_map_update_elem(bpf_map__fd(m4), &k, &one, 0));
	}
}

TT_TEST(port_filter_hit_and_miss)
{
	struct spec s;

	reset(TAPIR_CFG_PORTS);
	add_port(443);
	spec_default(&s, 4);
	expect_one(&s);			/* dport */
	reset(TAPIR_CFG_PORTS);
	add_port(443);
	s.sport = 443; s.dport = 51514;
	expect_one(&s);			/* sport */
	reset(TAPIR_CFG_PORTS | TAPIR_CFG_XDP_PASS);
	add_port(8080);
	spec_default(&s, 6);
	NONE(&s, filtered);		/* miss: passed, not copied */
}

TT_TEST(net_include_exclude_hit_and_miss)
{
	struct spec s;

	reset(TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/30");
	spec_default(&s, 4);
	expect_one(&s);
	reset(TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.1.0/24");
	NONE(&s, filtered);
	reset(TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/8");
	spec_default(&s, 6);		/* an IPv6 flow needs an IPv6 range */
	NONE(&s, filtered);
	reset(TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "fd00::/64");
	expect_one(&s);
	reset(TAPIR_CFG_XNET);
	add_net(skel->maps.xnet4, skel->maps.xnet6, "fd00::1/128");
	NONE(&s, filtered);
	reset(TAPIR_CFG_XNET | TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "fd00::/8");
	add_net(skel->maps.xnet4, skel->maps.xnet6, "fd01::/16");
	expect_one(&s);
}

/* ---------------------------------------------------------- multi-buffer */

/* 60,000 bytes of payload in one frame: a linear head and page fragments.
 * 3 x 16 KiB, 2 x 4 KiB, then the rest: 6 events, every byte in place. */
TT_TEST(multi_buffer_frame_copied_whole)
{
	static uint8_t f[70000];
	struct spec s;
	uint32_t done = 0, seq;
	size_t n;
	int r;

	reset(0);
	spec_default(&s, 4);
	s.plen = 60000;
	s.seq = 0xffff0000u;	/* wraps inside the frame */
	n = build(&s, f, sizeof(f));
	r = run_frame(f, n);
	if (r == -EINVAL) {
		fprintf(stderr, "  BPF_PROG_TEST_RUN refused a %zu-byte XDP frame: "
			"no multi-buffer test runs in this kernel\n", n);
	}
	TT_EQ_INT(r, XDP_DROP);
	TT_EQ_INT(ngot, 6);
	seq = s.seq;
	for (int i = 0; i < ngot; i++) {
		const struct got_ev *g = &got[i];
		uint32_t want = i < 3 ? 16384 : i < 5 ? 4096 : s.plen - done;

		TT_EQ_INT(g->h.seg_len, s.plen);
		TT_EQ_INT(g->h.offset, done);
		TT_EQ_INT(g->h.len, want);
		TT_EQ_INT(g->h.seq, seq);
		TT_EQ_INT(g->h.dir, TAPIR_DIR_SPAN);
		TT_EQ_INT(g->h.ev_flags, (i == 0 ? TAPIR_EV_FIRST : 0) |
			  (i == ngot - 1 ? TAPIR_EV_LAST : 0));
		for (uint32_t k = 0; k < g->h.len; k++)
			if (g->data[k] != pay_byte(done + k)) {
				TT_CHECK(g->data[k] == pay_byte(done + k));
				fprintf(stderr, "  event %d byte %u\n", i, k);
				break;
			}
		done += g->h.len;
		seq += g->h.len;
	}
	TT_EQ_INT(done, s.plen);
	TT_EQ_INT(counters().bytes, s.plen);
	TT_EQ_INT(counters().truncated, 0);
	/* the same frame with an IPv6 + VLAN head, passed */
	reset(TAPIR_CFG_XDP_PASS);
	spec_default(&s, 6);
	s.vlans = 1;
	s.plen = 20000;
	n = build(&s, f, sizeof(f));
	TT_EQ_INT(run_frame(f, n), XDP_PASS);
	TT_EQ_INT(ngot, 2);	/* 16384, then 3616 in a 4 KiB tier */
	TT_EQ_INT(counters().bytes, 20000);
	if (ngot == 2) {
		TT_EQ_INT(got[1].h.len, 3616);
		TT_EQ_INT(got[1].rec_size, TAPIR_EVENT_SIZE + TAPIR_TIER_M);
		TT_EQ_INT(got[1].data[3615], pay_byte(19999));
	}
}

/* ---------------------------------------------------------------- ring */

TT_TEST(ring_full_counts_and_still_drops)
{
	struct span_bpf *sk2 = span_bpf__open();
	static uint8_t f[4096];
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters per[ncpu], c;
	struct spec s;
	uint32_t zero = 0;
	size_t n;

	TT_REQUIRE(sk2);
	bpf_map__set_max_entries(sk2->maps.events, 16384);	/* 4 pages */
	TT_REQUIRE(!span_bpf__load(sk2));
	sk2->data->cfg.flags = 0;
	spec_default(&s, 4);
	s.plen = 3000;	/* a 4096-byte tier: 3 fit in 16 KiB with headers */
	n = build(&s, f, sizeof(f));
	for (int i = 0; i < 5; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_span), &o));
		TT_EQ_INT(o.retval, XDP_DROP);
	}
	memset(&c, 0, sizeof(c));
	TT_CHECK(!bpf_map_lookup_elem(bpf_map__fd(sk2->maps.counters), &zero, per));
	for (int k = 0; k < ncpu; k++) {
		c.events += per[k].events; c.ring_drops += per[k].ring_drops;
		c.ring_drop_bytes += per[k].ring_drop_bytes;
		c.matched += per[k].matched;
	}
	TT_EQ_INT(c.matched, 5);
	TT_EQ_INT(c.events, 3);
	TT_EQ_INT(c.ring_drops, 2);
	TT_EQ_INT(c.ring_drop_bytes, 6000);
	TT_CHECK(sk2->bss->last_drop_ns != 0);
	span_bpf__destroy(sk2);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	if (geteuid() != 0) {
		printf("SKIP: BPF_PROG_TEST_RUN needs root\n");
		return 77;
	}
	skel = span_bpf__open();
	if (!skel) {
		printf("SKIP: cannot open the BPF object: %s\n", strerror(errno));
		return 77;
	}
	bpf_map__set_max_entries(skel->maps.events, 4 << 20);
	if (span_bpf__load(skel)) {
		fprintf(stderr, "test_span_bpf: loading the program failed\n");
		printf("test_span_bpf: 0 passed, 1 failed\n");
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		printf("test_span_bpf: 0 passed, 1 failed\n");
		return 1;
	}
	for (int i = 0; i < tt_ncases; i++) {
		if (only && strcmp(only, tt_cases[i].name))
			continue;
		tt_cur_name = tt_cases[i].name;
		tt_cur_failed = 0;
		tt_cases[i].fn();
		tt_cur_failed ? failed++ : passed++;
	}
	ring_buffer__free(rb);
	span_bpf__destroy(skel);
	printf("test_span_bpf: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
