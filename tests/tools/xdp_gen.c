/* xdp_gen.c - a small-packet generator for the span benchmark
 * (bench/span.sh): the kernel's own XDP traffic generator, as xdp-tools'
 * xdp-trafficgen uses it.  BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES runs a two-instruction XDP program that
 * redirects its frame to IFACE, REPEAT times, so each run is one frame
 * sent through the driver's ndo_xdp_xmit - for a veth, straight into the
 * peer's XDP path, with no socket or qdisc in between (tcpreplay's
 * per-packet sendmsg tops out far below what an XDP program can take).
 *
 * usage: xdp_gen IFACE REPEAT [PAYLOAD_BYTES]
 * Sends one TCP frame 10.1.0.2:40000 -> 10.1.0.1:80 (PSH ACK, PAYLOAD
 * bytes, default 6: a 60-byte frame) REPEAT times; prints
 * "sent N frames in S s: P pps".  Owns only the program it loads.
 * Why not a skeleton: the program is four instructions; bpf_prog_load()
 * with them inline keeps the tool one file.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned char f[1514];
	struct bpf_insn prog[4];
	unsigned long repeat;
	unsigned int pay = 6, n, ifindex;
	int fd, err;
	double t0, t1;

	if (argc < 3) {
		fprintf(stderr, "usage: xdp_gen IFACE REPEAT [PAYLOAD_BYTES]\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	repeat = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		pay = (unsigned int)strtoul(argv[3], NULL, 10);
	if (!ifindex || !repeat || repeat > 0xffffffffUL || pay > 1400) {
		fprintf(stderr, "xdp_gen: bad interface, count or payload\n");
		return 2;
	}
	/* r1 = ifindex; r2 = 0; r0 = bpf_redirect(r1, r2); exit */
	memset(prog, 0, sizeof(prog));
	prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	prog[0].dst_reg = BPF_REG_1;
	prog[0].imm = (int)ifindex;
	prog[1].code = BPF_ALU64 | BPF_MOV | BPF_K;
	prog[1].dst_reg = BPF_REG_2;
	prog[2].code = BPF_JMP | BPF_CALL;
	prog[2].imm = BPF_FUNC_redirect;
	prog[3].code = BPF_JMP | BPF_EXIT;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "tapir_xdp_gen", "GPL", prog, 4, NULL);
	if (fd < 0) {
		fprintf(stderr, "xdp_gen: loading the program: %s\n", strerror(errno));
		return 1;
	}
	/* Ethernet, IPv4 (DF), TCP (PSH ACK), payload */
	memset(f, 0, sizeof(f));
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	f[14] = 0x45;
	f[16] = (unsigned char)((40 + pay) >> 8);
	f[17] = (unsigned char)(40 + pay);
	f[20] = 0x40;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, "\x0a\x01\x00\x02\x0a\x01\x00\x01", 8);
	memcpy(f + 34, "\x9c\x40\x00\x50\x00\x00\x03\xe8\x00\x00\x00\x01\x50\x18\x01\xf6", 16);
	for (unsigned int i = 0; i < pay; i++)
		f[54 + i] = (unsigned char)('a' + i % 26);
	n = 54 + pay;
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = n,
			    .repeat = (__u32)repeat,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
		t0 = now_s();
		err = bpf_prog_test_run_opts(fd, &o);
		t1 = now_s();
	}
	if (err) {
		fprintf(stderr, "xdp_gen: live-frame test run: %s\n", strerror(errno));
		return 1;
	}
	printf("sent %lu frames of %u bytes in %.3f s: %.0f pps\n", repeat, n,
	       t1 - t0, (double)repeat / (t1 - t0));
	return 0;
}
