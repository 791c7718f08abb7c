/* test_capture_bpf.c - tc/capture.bpf.c on crafted frames through
 * BPF_PROG_TEST_RUN (bpf_prog_test_run_opts), and one 64 KiB GSO frame
 * through a real veth in a private network namespace.
 *
 * Owns: one loaded skeleton shared by every case (each case sets the
 * configuration and filter maps it needs, resets counters and drains the
 * ring first), the frames it builds.  Every case checks the exact events
 * read back from the ring buffer (header fields and payload bytes) and the
 * counters.  Needs root (CAP_BPF + CAP_NET_ADMIN): exits 77 with "SKIP:"
 * otherwise.
 *
 * BPF_PROG_TEST_RUN takes linear frames of at most a page, so payloads
 * above ~3.5 KiB (several chunks) are tested with the GSO case: an
 * AF_PACKET socket with PACKET_VNET_HDR sends one 64 KiB TSO frame into a
 * veth whose egress hook runs the program, exactly as a GSO super-packet
 * from the stack reaches TC.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tt.h"
#include "capture.h"
#include "capture.skel.h"
#include "ring.h"

_Static_assert(sizeof(struct tapir_event) == TAPIR_EVENT_SIZE, "event layout");
_Static_assert(sizeof(struct tapir_counters) == TAPIR_COUNTERS_SIZE, "counters");

static struct capture_bpf *skel;

static struct tapir_counters counters(void)
{
	return sum_counters(bpf_map__fd(skel->maps.counters));
}

/* Forget the segment each CPU last copied on ingress (map last_in). */
static void clear_last_in(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_seg_id z[ncpu];
	uint32_t zero = 0;

	memset(z, 0, sizeof(z));
	bpf_map_update_elem(bpf_map__fd(skel->maps.last_in), &zero, z, 0);
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
	clear_map(skel->maps.ifaces);
	clear_map(skel->maps.net4);
	clear_map(skel->maps.net6);
	clear_map(skel->maps.xnet4);
	clear_map(skel->maps.xnet6);
	skel->data->cfg.flags = flags;
	skel->data->cfg.acks_after_drop_ms = 0;
	skel->data->cfg.wakeup_bytes = 0;
	skel->data->cfg.wakeup_gap_us = 0;
	skel->bss->last_drop_ns = 0;
	skel->bss->last_wake_ns = 0;
	clear_last_in();
	drain();
}

/* ---------------------------------------------------------------- frames */

#include "frames.h"

static int run_prog(struct bpf_program *prog, const uint8_t *f, size_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)n,
		    .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);

	if (err)
		return err;
	drain();
	return (int)o.retval;
}

static int run(const struct spec *s)
{
	static uint8_t f[4096];
	size_t n = build(s, f, sizeof(f));

	return run_prog(skel->progs.tapir_ingress, f, n);
}

/* The one event a segment without chunking gives must say exactly this. */
static void check_event(const struct got_ev *g, const struct spec *s,
			uint8_t dir)
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
	TT_EQ_INT(g->h.dir, dir);
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

/* Exactly one event, equal to what s describes; counters agree. */
static void expect_one(const struct spec *s)
{
	struct tapir_counters c;

	TT_EQ_INT(run(s), TC_ACT_UNSPEC);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], s, TAPIR_DIR_INGRESS);
	c = counters();
	TT_EQ_INT(c.matched, 1);
	TT_EQ_INT(c.events, 1);
	TT_EQ_INT(c.bytes, s->plen);
}

/* No event; the packet counted under the given counter. */
#define EXPECT_NONE(s, field)						\
	do {								\
		TT_EQ_INT(run(s), TC_ACT_UNSPEC);			\
		TT_EQ_INT(ngot, 0);					\
		TT_EQ_INT(counters().field, 1);				\
		TT_EQ_INT(counters().events, 0);			\
	} while (0)

/* ---------------------------------------------------------------- parsing */

TT_TEST(ipv4_plain)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	expect_one(&s);
	TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE + TAPIR_TIER_XS);
}

TT_TEST(ipv4_options_and_tcp_options)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.ip4_opt = 40;		/* the maximum: IHL 15 */
	s.tcp_opt = 40;		/* the maximum: data offset 15 */
	s.plen = 1000;
	expect_one(&s);
	TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE + TAPIR_TIER_S);
}

TT_TEST(ipv4_ethernet_padding_not_payload)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.plen = 2;
	s.trailer = 6;	/* a 60-byte minimum frame's padding */
	expect_one(&s);
}

TT_TEST(ipv6_extension_headers)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.v6ext[0] = 0; s.v6ext[1] = 43; s.v6ext[2] = 60; s.v6ext[3] = 51;
	s.nv6ext = 4;
	s.tcp_opt = 12;
	expect_one(&s);
}

TT_TEST(ipv6_atomic_fragment_is_tcp)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.v6ext[0] = 44; s.nv6ext = 1; s.frag = 0;
	expect_one(&s);
}

TT_TEST(ipv6_real_fragment_is_not)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.v6ext[0] = 44; s.nv6ext = 1; s.frag = 1;	/* M set */
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	s.frag = 8 << 3;				/* offset 8 */
	EXPECT_NONE(&s, not_tcp);
}

TT_TEST(ipv4_fragments_are_not)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.frag = 0x2000;	/* MF, first fragment */
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	s.frag = 185;		/* offset, last fragment */
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	s.frag = 0x4000;	/* DF only: a whole segment */
	expect_one(&s);
}

TT_TEST(vlan_8021q)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.vlans = 1;
	expect_one(&s);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.vlans = 1;
	expect_one(&s);
}

TT_TEST(qinq)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.vlans = 2;
	s.ip4_opt = 8;
	expect_one(&s);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.vlans = 2;
	s.v6ext[0] = 0; s.nv6ext = 1;
	expect_one(&s);
}

TT_TEST(non_tcp)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.l4 = IPPROTO_UDP;
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.l4 = 58;	/* ICMPv6 */
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.v6ext[0] = 60; s.nv6ext = 1; s.l4 = IPPROTO_UDP;
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.ethertype = 0x0806;	/* ARP */
	EXPECT_NONE(&s, not_tcp);
	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.vlans = 1;
	s.ethertype = 0x88cc;	/* LLDP behind a tag */
	EXPECT_NONE(&s, not_tcp);
}

/* Every cut of the headers, for each stack: no event, counted as short
 * (or as not TCP when the cut leaves only an EtherType to look at). */
static void every_cut(struct spec *s)
{
	static uint8_t f[4096];
	size_t n = build(s, f, sizeof(f)), hdr = n - s->plen;

	for (size_t cut = ETH_HLEN; cut < hdr; cut++) {
		struct tapir_counters c;

		reset(TAPIR_CFG_ALL_IFACES);
		TT_EQ_INT(run_prog(skel->progs.tapir_ingress, f, cut),
			  TC_ACT_UNSPEC);
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

	/* IHL 4: shorter than an IPv4 header */
	spec_default(&s, 4);
	n = build(&s, f, sizeof(f));
	reset(TAPIR_CFG_ALL_IFACES);
	f[14] = 0x44;
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().short_hdr, 1);
	/* TCP data offset 4 */
	n = build(&s, f, sizeof(f));
	reset(TAPIR_CFG_ALL_IFACES);
	f[14 + 20 + 12] = 0x40;
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().short_hdr, 1);
	/* tot_len ends inside the TCP header */
	n = build(&s, f, sizeof(f));
	reset(TAPIR_CFG_ALL_IFACES);
	put16(f + 16, 30);
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().short_hdr, 1);
}

/* ------------------------------------------------------ flags, no payload */

TT_TEST(syn_fin_rst_without_payload_are_events)
{
	static const uint8_t fl[] = { 0x02, 0x12, 0x11, 0x04, 0x14 };
	struct spec s;

	for (size_t i = 0; i < ARRAY_SIZE(fl); i++) {
		reset(TAPIR_CFG_ALL_IFACES);
		spec_default(&s, 4);
		s.flags = fl[i];
		s.plen = 0;
		expect_one(&s);
		TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE);
	}
}

TT_TEST(pure_ack_skipped_unless_asked)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 4);
	s.flags = 0x10;
	s.plen = 0;
	EXPECT_NONE(&s, acks_skipped);
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_ACKS);
	expect_one(&s);
}

TT_TEST(syn_with_payload)
{
	struct spec s;

	reset(TAPIR_CFG_ALL_IFACES);
	spec_default(&s, 6);
	s.flags = 0x02;		/* TCP Fast Open: data on the SYN */
	s.plen = 300;
	expect_one(&s);
	TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE + TAPIR_TIER_S);
}

TT_TEST(payload_tiers)
{
	static const uint32_t sz[] = { 1, 256, 257, 2048, 2049, 3300 };
	static const uint32_t tier[] = { TAPIR_TIER_XS, TAPIR_TIER_XS,
		TAPIR_TIER_S, TAPIR_TIER_S, TAPIR_TIER_M, TAPIR_TIER_M };
	struct spec s;

	for (size_t i = 0; i < ARRAY_SIZE(sz); i++) {
		reset(TAPIR_CFG_ALL_IFACES);
		spec_default(&s, 4);
		s.plen = sz[i];
		expect_one(&s);
		TT_EQ_INT(got[0].rec_size, TAPIR_EVENT_SIZE + tier[i]);
	}
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

TT_TEST(port_filter)
{
	struct spec s;

	spec_default(&s, 4);
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS);
	add_port(443);			/* destination */
	expect_one(&s);
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS);
	add_port(51514);		/* source */
	expect_one(&s);
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS);
	add_port(80);
	add_port(8443);
	EXPECT_NONE(&s, filtered);
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS);	/* empty: nothing */
	EXPECT_NONE(&s, filtered);
}

TT_TEST(net_include)
{
	struct spec s;
	uint32_t f = TAPIR_CFG_ALL_IFACES | TAPIR_CFG_NET;

	spec_default(&s, 4);
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "10.0.0.1/32");
	expect_one(&s);					/* dst */
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/30");
	expect_one(&s);					/* both */
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "10.0.0.2/32");
	expect_one(&s);					/* src */
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "10.0.1.0/24");
	add_net(skel->maps.net4, skel->maps.net6, "fd00::/8");
	EXPECT_NONE(&s, filtered);			/* miss; v6 range */
	spec_default(&s, 6);
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "fd00::1/128");
	expect_one(&s);
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "fd00::/16");
	expect_one(&s);
	reset(f); add_net(skel->maps.net4, skel->maps.net6, "fd01::/16");
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/8");
	EXPECT_NONE(&s, filtered);
}

TT_TEST(net_exclude)
{
	struct spec s;
	uint32_t f = TAPIR_CFG_ALL_IFACES | TAPIR_CFG_XNET;

	spec_default(&s, 4);
	reset(f); add_net(skel->maps.xnet4, skel->maps.xnet6, "10.0.0.2/32");
	EXPECT_NONE(&s, filtered);			/* src */
	reset(f); add_net(skel->maps.xnet4, skel->maps.xnet6, "10.0.0.0/24");
	EXPECT_NONE(&s, filtered);			/* dst too */
	reset(f); add_net(skel->maps.xnet4, skel->maps.xnet6, "10.9.0.0/16");
	expect_one(&s);					/* miss */
	/* exclude wins over include */
	reset(f | TAPIR_CFG_NET);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/8");
	add_net(skel->maps.xnet4, skel->maps.xnet6, "10.0.0.1/32");
	EXPECT_NONE(&s, filtered);
	spec_default(&s, 6);
	reset(f); add_net(skel->maps.xnet4, skel->maps.xnet6, "fd00::2/128");
	EXPECT_NONE(&s, filtered);
	reset(f); add_net(skel->maps.xnet4, skel->maps.xnet6, "fe80::/10");
	expect_one(&s);
}

TT_TEST(iface_and_direction)
{
	static uint8_t f[4096];
	struct spec s;
	uint32_t lo = 1;
	uint8_t dirs;
	size_t n;

	spec_default(&s, 4);
	n = build(&s, f, sizeof(f));
	reset(0);					/* lo not configured */
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().filtered, 1);
	reset(0);
	dirs = TAPIR_IF_EGRESS;
	bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces), &lo, &dirs, 0);
	run_prog(skel->progs.tapir_ingress, f, n);	/* wrong direction */
	TT_EQ_INT(ngot, 0);
	run_prog(skel->progs.tapir_egress, f, n);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], &s, TAPIR_DIR_EGRESS);
	reset(0);
	dirs = TAPIR_IF_INGRESS | TAPIR_IF_EGRESS;
	bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces), &lo, &dirs, 0);
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], &s, TAPIR_DIR_INGRESS);
	TT_EQ_INT(counters().filtered, 0);
}

TT_TEST(combined_filters)
{
	struct spec s;
	uint32_t f = TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS | TAPIR_CFG_NET;

	spec_default(&s, 4);
	reset(f); add_port(443);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/24");
	expect_one(&s);
	reset(f); add_port(80);
	add_net(skel->maps.net4, skel->maps.net6, "10.0.0.0/24");
	EXPECT_NONE(&s, filtered);			/* port misses */
	reset(f); add_port(443);
	add_net(skel->maps.net4, skel->maps.net6, "192.168.0.0/16");
	EXPECT_NONE(&s, filtered);			/* net misses */
}

/* ---------------------------------------------- same segment on two hooks */

/* last_in is per CPU: the ingress and egress runs of a case must run on
 * the same CPU, as a forwarded packet's two hooks do in the kernel. */
static int pin_cpu(cpu_set_t *old)
{
	cpu_set_t one;

	if (sched_getaffinity(0, sizeof(*old), old))
		return -1;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, old)) {
			CPU_SET(c, &one);
			break;
		}
	return sched_setaffinity(0, sizeof(one), &one);
}

TT_TEST(hook_dedup_egress_after_ingress)
{
	static uint8_t f[4096], g[4096];
	struct spec s, t;
	cpu_set_t old;
	size_t n, m;

	TT_REQUIRE(!pin_cpu(&old));
	spec_default(&s, 4);
	s.plen = 1448;
	n = build(&s, f, sizeof(f));
	/* dedup on: ingress copies, egress of the same segment does not */
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_HOOK_DEDUP);
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], &s, TAPIR_DIR_INGRESS);
	run_prog(skel->progs.tapir_egress, f, n);
	TT_EQ_INT(ngot, 0);
	/* a flooded packet leaves by several ports: every egress skipped */
	run_prog(skel->progs.tapir_egress, f, n);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().hook_dups, 2);
	TT_EQ_INT(counters().matched, 1);
	TT_EQ_INT(counters().seen, 3);
	/* any field differing is another segment: copied */
	t = s;
	t.seq += 1448;
	m = build(&t, g, sizeof(g));
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], &t, TAPIR_DIR_EGRESS);
	t = s; t.ack += 1;	m = build(&t, g, sizeof(g));
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 1);
	t = s; t.plen -= 1;	m = build(&t, g, sizeof(g));
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 1);
	t = s; t.dst = "10.0.0.9";	m = build(&t, g, sizeof(g));
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 1);
	t = s; t.flags |= 0x01;	m = build(&t, g, sizeof(g));	/* FIN */
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 1);
	TT_EQ_INT(counters().hook_dups, 2);
	/* egress first, then ingress: both copied (only egress skips) */
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_HOOK_DEDUP);
	run_prog(skel->progs.tapir_egress, f, n);
	TT_EQ_INT(ngot, 1);
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 1);
	TT_EQ_INT(counters().hook_dups, 0);
	/* dedup off: both hooks copy */
	reset(TAPIR_CFG_ALL_IFACES);
	run_prog(skel->progs.tapir_ingress, f, n);
	TT_EQ_INT(ngot, 1);
	run_prog(skel->progs.tapir_egress, f, n);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		check_event(&got[0], &s, TAPIR_DIR_EGRESS);
	TT_EQ_INT(counters().hook_dups, 0);
	/* the same for a pure ACK copied on ingress (acks asked for) */
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_HOOK_DEDUP | TAPIR_CFG_ACKS);
	t = s; t.flags = 0x10; t.plen = 0; m = build(&t, g, sizeof(g));
	run_prog(skel->progs.tapir_ingress, g, m);
	TT_EQ_INT(ngot, 1);
	run_prog(skel->progs.tapir_egress, g, m);
	TT_EQ_INT(ngot, 0);
	TT_EQ_INT(counters().hook_dups, 1);
	sched_setaffinity(0, sizeof(old), &old);
}

/* A segment whose ingress copy was lost to a full ring is copied again on
 * egress: the second chance is not thrown away. */
TT_TEST(hook_dedup_not_after_ring_drop)
{
	struct capture_bpf *sk2 = capture_bpf__open();
	static uint8_t f[4096];
	struct spec s;
	cpu_set_t old;
	uint32_t zero = 0;
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters per[ncpu];
	uint64_t drops = 0, dups = 0, events = 0;
	size_t n;

	TT_REQUIRE(sk2);
	TT_REQUIRE(!pin_cpu(&old));
	bpf_map__set_max_entries(sk2->maps.events, 16384);	/* 4 pages */
	TT_REQUIRE(!capture_bpf__load(sk2));
	sk2->data->cfg.flags = TAPIR_CFG_ALL_IFACES | TAPIR_CFG_HOOK_DEDUP;
	spec_default(&s, 4);
	s.plen = 3000;	/* 3 records fill the ring */
	n = build(&s, f, sizeof(f));
	for (int i = 0; i < 3; i++) {
		s.seq += 3000;
		n = build(&s, f, sizeof(f));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_ingress), &o));
	}
	s.seq += 3000;
	n = build(&s, f, sizeof(f));
	{	/* ring full: this ingress copy is lost ... */
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_ingress), &o));
	}
	{	/* ... so egress tries again (and is lost too, but counted) */
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_egress), &o));
	}
	TT_CHECK(!bpf_map_lookup_elem(bpf_map__fd(sk2->maps.counters), &zero, per));
	for (int k = 0; k < ncpu; k++) {
		drops += per[k].ring_drops;
		dups += per[k].hook_dups;
		events += per[k].events;
	}
	TT_EQ_INT(events, 3);
	TT_EQ_INT(drops, 2);
	TT_EQ_INT(dups, 0);
	capture_bpf__destroy(sk2);
	sched_setaffinity(0, sizeof(old), &old);
}

/* cfg.wakeup_bytes: records go in without a wakeup until that many bytes
 * wait unread; then one forced wakeup (last_wake_ns), at most one per
 * wakeup_gap_us.  The events themselves are the same in every mode. */
TT_TEST(ring_wakeup_threshold)
{
	struct spec s;
	uint64_t w;

	spec_default(&s, 4);
	s.plen = 1000;
	/* 0: the kernel's default wakeups, never forced */
	reset(TAPIR_CFG_ALL_IFACES);
	expect_one(&s);
	TT_EQ_INT(skel->bss->last_wake_ns, 0);
	/* a threshold above what waits: no forced wakeup */
	reset(TAPIR_CFG_ALL_IFACES);
	skel->data->cfg.wakeup_bytes = 1 << 20;
	expect_one(&s);
	TT_EQ_INT(skel->bss->last_wake_ns, 0);
	/* a threshold the record reaches: forced */
	reset(TAPIR_CFG_ALL_IFACES);
	skel->data->cfg.wakeup_bytes = 512;
	expect_one(&s);
	w = skel->bss->last_wake_ns;
	TT_CHECK(w != 0);
	/* again within the gap (an hour): not forced again */
	skel->data->cfg.wakeup_gap_us = 3600u * 1000000u;
	reset(TAPIR_CFG_ALL_IFACES);
	skel->data->cfg.wakeup_bytes = 512;
	skel->data->cfg.wakeup_gap_us = 3600u * 1000000u;
	skel->bss->last_wake_ns = w;
	expect_one(&s);
	TT_EQ_INT(skel->bss->last_wake_ns, w);
}

/* -------------------------------------------------------------- ring full */

TT_TEST(ring_full_counts_and_turns_acks_on)
{
	struct capture_bpf *sk2 = capture_bpf__open();
	struct ring_buffer *rb2 = NULL;
	static uint8_t f[4096];
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters per[ncpu], c;
	struct spec s;
	uint32_t zero = 0;
	size_t n;
	int i;

	TT_REQUIRE(sk2);
	bpf_map__set_max_entries(sk2->maps.events, 16384);	/* 4 pages */
	TT_REQUIRE(!capture_bpf__load(sk2));
	sk2->data->cfg.flags = TAPIR_CFG_ALL_IFACES;
	sk2->data->cfg.acks_after_drop_ms = 60000;
	spec_default(&s, 4);
	s.plen = 3000;	/* a 4096-byte tier: 3 fit in 16 KiB with headers */
	n = build(&s, f, sizeof(f));
	for (i = 0; i < 5; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_ingress), &o));
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
	/* drain; a pure ACK now goes out (the peer's ACK of lost data is how
	 * the reassembler learns of the hole) */
	rb2 = ring_buffer__new(bpf_map__fd(sk2->maps.events), on_event, NULL, NULL);
	TT_REQUIRE(rb2);
	ngot = 0;
	ring_buffer__consume(rb2);
	TT_EQ_INT(ngot, 3);
	s.flags = 0x10;
	s.plen = 0;
	n = build(&s, f, sizeof(f));
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (uint32_t)n, .repeat = 1);
		TT_CHECK(!bpf_prog_test_run_opts(bpf_program__fd(sk2->progs.tapir_ingress), &o));
	}
	ngot = 0;
	ring_buffer__consume(rb2);
	TT_EQ_INT(ngot, 1);
	if (ngot == 1)
		TT_EQ_INT(got[0].h.tcp_flags, 0x10);
	ring_buffer__free(rb2);
	capture_bpf__destroy(sk2);
}

/* ------------------------------------------------------- 64 KiB GSO frame */

/* In a private network namespace (gone when the process exits): a veth
 * pair, the egress program on one end via libbpf's TC API, and one TSO
 * frame of 64 KiB sent with PACKET_VNET_HDR. */
TT_TEST(gso_64k_payload_in_chunks)
{
	static uint8_t f[70000];
	struct spec s;
	struct virtio_net_hdr vh = { 0 };
	struct iovec iov[2];
	struct msghdr msg = { 0 };
	struct sockaddr_ll sll = { 0 };
	uint32_t done = 0, seq;
	int fd = -1, one = 1, ifindex;
	size_t n;

	if (unshare(CLONE_NEWNET)) {
		tt_fail(__FILE__, __LINE__, "unshare(CLONE_NEWNET)");
		return;
	}
	TT_REQUIRE(system("ip link add tpa type veth peer name tpb && "
			  "ip link set tpa up && ip link set tpb up") == 0);
	ifindex = (int)if_nametoindex("tpa");
	TT_REQUIRE(ifindex > 0);
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_EGRESS);
		LIBBPF_OPTS(bpf_tc_opts, to, .handle = TAPIR_TC_HANDLE,
			    .priority = TAPIR_TC_PRIO,
			    .prog_fd = bpf_program__fd(skel->progs.tapir_egress));
		TT_REQUIRE(!bpf_tc_hook_create(&hook));
		TT_REQUIRE(!bpf_tc_attach(&hook, &to));
	}
	reset(TAPIR_CFG_ALL_IFACES | TAPIR_CFG_PORTS);
	add_port(443);
	spec_default(&s, 4);
	s.plen = 65535 - 20 - 32;
	s.tcp_opt = 12;
	s.seq = 0xffff0000u;	/* wraps inside the frame */
	n = build(&s, f, sizeof(f));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.hdr_len = 14 + 20 + 32;
	vh.gso_size = 1448;
	vh.csum_start = 14 + 20;
	vh.csum_offset = 16;
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	TT_REQUIRE(fd >= 0);
	TT_REQUIRE(!setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_protocol = htons(ETH_P_IP);
	iov[0].iov_base = &vh; iov[0].iov_len = sizeof(vh);
	iov[1].iov_base = f; iov[1].iov_len = n;
	msg.msg_name = &sll; msg.msg_namelen = sizeof(sll);
	msg.msg_iov = iov; msg.msg_iovlen = 2;
	TT_CHECK(sendmsg(fd, &msg, 0) == (ssize_t)(sizeof(vh) + n));
	close(fd);
	drain();
	/* 16384 x 3, then 4096 x 3, then the rest: 7 events */
	TT_EQ_INT(ngot, 7);
	seq = s.seq;
	for (int i = 0; i < ngot; i++) {
		const struct got_ev *g = &got[i];
		uint32_t want = i < 3 ? 16384 : i < 6 ? 4096 : s.plen - done;

		TT_EQ_INT(g->h.seg_len, s.plen);
		TT_EQ_INT(g->h.offset, done);
		TT_EQ_INT(g->h.len, want);
		TT_EQ_INT(g->h.seq, seq);
		TT_EQ_INT(g->h.dir, TAPIR_DIR_EGRESS);
		TT_EQ_INT(g->h.ifindex, ifindex);
		TT_EQ_INT(g->h.ev_flags, (i == 0 ? TAPIR_EV_FIRST : 0) |
			  (i == ngot - 1 ? TAPIR_EV_LAST : 0));
		for (uint32_t k = 0; k < g->h.len; k++)
			if (g->data[k] != pay_byte(done + k)) {
				TT_CHECK(g->data[k] == pay_byte(done + k));
				break;
			}
		done += g->h.len;
		seq += g->h.len;
	}
	TT_EQ_INT(done, s.plen);
	TT_EQ_INT(counters().bytes, s.plen);
	TT_EQ_INT(counters().truncated, 0);
	/* the netns and everything in it go away with this process */
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	if (geteuid() != 0) {
		printf("SKIP: BPF_PROG_TEST_RUN needs root\n");
		return 77;
	}
	skel = capture_bpf__open();
	if (!skel) {
		printf("SKIP: cannot open the BPF object: %s\n", strerror(errno));
		return 77;
	}
	bpf_map__set_max_entries(skel->maps.events, 4 << 20);
	if (capture_bpf__load(skel)) {
		fprintf(stderr, "test_capture_bpf: loading the program failed\n");
		printf("test_capture_bpf: 0 passed, 1 failed\n");
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		printf("test_capture_bpf: 0 passed, 1 failed\n");
		return 1;
	}
	/* the GSO case moves the process into its own namespace: last */
	for (int i = 0; i < tt_ncases; i++) {
		if (only && strcmp(only, tt_cases[i].name))
			continue;
		if (!strcmp(tt_cases[i].name, "gso_64k_payload_in_chunks") && !only)
			continue;
		tt_cur_name = tt_cases[i].name;
		tt_cur_failed = 0;
		tt_cases[i].fn();
		tt_cur_failed ? failed++ : passed++;
	}
	if (!only) {
		tt_cur_name = "gso_64k_payload_in_chunks";
		tt_cur_failed = 0;
		tt_gso_64k_payload_in_chunks();
		tt_cur_failed ? failed++ : passed++;
	}
	ring_buffer__free(rb);
	capture_bpf__destroy(skel);
	printf("test_capture_bpf: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
