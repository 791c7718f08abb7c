/* bpf_cost.c - the TC program's own cost per packet, without traffic:
 * BPF_PROG_TEST_RUN with repeat on crafted IPv4 frames (bench/capture.sh
 * prints it beside the live bpf_stats figures).
 *
 * Owns: one loaded skeleton, the frames, a reader that empties the ring
 * between batches.  Prints one line per case:
 *   <case> <ns per run>
 * Usage: bpf_cost [RING_BYTES] (default 64M, as the agent's).
 * for: a pure ACK (skipped: the fixed cost of parse + filters), payloads
 * of 1448 and 3000 bytes (copied: reserve + one bpf_skb_load_bytes +
 * submit), the 1448-byte one again on egress after the same segment on
 * ingress (skipped by the hook dedup).  Wakeups are not measured here (no
 * reader waits during a test run): bench/capture.sh compares them live.
 * The kernel measures the
 * whole batch once (bpf_test_run's timer), so the figure holds no per-run
 * clock reads; the frames are linear (test runs take no page fragments),
 * so a real skb's copy from fragments costs somewhat more.  Root only;
 * exits 77 with "SKIP:" otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "capture.skel.h"

#define BATCH 2000	/* x 3000-byte payloads (4 KiB records): 8 MiB */
#define BATCHES 10

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx; (void)data; (void)size;
	return 0;
}

static void put16(unsigned char *p, unsigned v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Ethernet + IPv4 + TCP (PSH ACK, or ACK when plen is 0) + plen bytes */
static size_t frame(unsigned char *f, unsigned plen)
{
	size_t n = 14 + 20 + 20 + plen;

	memset(f, 0, n);
	put16(f + 12, 0x0800);
	f[14] = 0x45;
	put16(f + 16, 20 + 20 + plen);
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	put16(f + 34, 51514);
	put16(f + 36, 80);
	f[46] = 5 << 4;
	f[47] = plen ? 0x18 : 0x10;
	put16(f + 48, 502);
	for (unsigned i = 0; i < plen; i++)
		f[54 + i] = (unsigned char)i;
	return n;
}

/* mean ns per run of prog on f over BATCHES x BATCH runs; the ring is
 * emptied after every batch.  first: a program run once before each
 * batch (the ingress copy the egress dedup compares with), or NULL. */
static double cost(struct bpf_program *prog, struct bpf_program *first,
		   const unsigned char *f, size_t n, struct ring_buffer *rb)
{
	unsigned long long total = 0;

	for (int b = 0; b < BATCHES; b++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
			    .data_size_in = (unsigned)n, .repeat = BATCH);
		if (first) {
			LIBBPF_OPTS(bpf_test_run_opts, o1, .data_in = f,
				    .data_size_in = (unsigned)n, .repeat = 1);
			if (bpf_prog_test_run_opts(bpf_program__fd(first), &o1))
				return -1;
		}
		if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o))
			return -1;
		total += o.duration;	/* mean ns per run of this batch */
		ring_buffer__consume(rb);
	}
	return (double)total / BATCHES;
}

int main(int argc, char **argv)
{
	static unsigned char f[4096];
	struct capture_bpf *sk = NULL;
	struct ring_buffer *rb = NULL;
	cpu_set_t one;
	size_t n;
	int rc = 1;
	/* argv[1]: ring bytes (a power of two >= 16M: a batch must fit) */
	unsigned long ring = argc > 1 ? strtoul(argv[1], NULL, 0) : 64ul << 20;

	if (geteuid() != 0) {
		printf("SKIP: BPF_PROG_TEST_RUN needs root\n");
		return 77;
	}
	/* one CPU: last_in (the hook dedup) is per CPU */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	sk = capture_bpf__open();
	if (!sk) {
		printf("SKIP: cannot open the BPF object: %s\n", strerror(errno));
		return 77;
	}
	bpf_map__set_max_entries(sk->maps.events, ring);
	if (capture_bpf__load(sk)) {
		fprintf(stderr, "bpf_cost: cannot load the program\n");
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(sk->maps.events), on_event, NULL, NULL);
	if (!rb)
		goto out;
	sk->data->cfg.flags = TAPIR_CFG_ALL_IFACES | TAPIR_CFG_HOOK_DEDUP;
	sk->data->cfg.wakeup_bytes = 2u << 20;	/* the agent's default */
	sk->data->cfg.wakeup_gap_us = 200;
	n = frame(f, 0);
	printf("ack_skipped %.0f\n", cost(sk->progs.tapir_ingress, NULL, f, n, rb));
	n = frame(f, 1448);
	/* warm-up: every ring page written once (the first write of a page
	 * costs several times a copy here: a VM's shadow paging), as in a
	 * ring that has been running for a while */
	for (unsigned long w = 0; w < 2 * ring; w += BATCH * BATCHES * 2200UL)
		cost(sk->progs.tapir_ingress, NULL, f, n, rb);
	printf("copy_1448 %.0f\n", cost(sk->progs.tapir_ingress, NULL, f, n, rb));
	printf("egress_dup_1448 %.0f\n",
	       cost(sk->progs.tapir_egress, sk->progs.tapir_ingress, f, n, rb));
	n = frame(f, 3000);
	printf("copy_3000 %.0f\n", cost(sk->progs.tapir_ingress, NULL, f, n, rb));
	rc = 0;
out:
	ring_buffer__free(rb);
	capture_bpf__destroy(sk);
	return rc;
}
