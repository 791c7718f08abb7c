/* capture.c - the live subcommands: `tapir capture` (the TC program,
 * tc/capture.bpf.c, on clsact hooks) and `tapir span` (the XDP program,
 * xdp/span.bpf.c, on a mirror port), calls out as with `tapir read`.
 *
 * Owns: option parsing for both (with --config; one option table, so
 * filters, keys, outputs and stats are the same options for both), the
 * order of construction and teardown, the main loop (epoll over the ring
 * buffer, key log followers, a 100 ms timer and a signalfd), the stats
 * lines and the exit status (0 ok, 1 could not start or write, 2 usage).
 * The two differ only in the kernel side: which skeleton, and how it is
 * attached (tc_attach.c or xdp_attach.c); the ring, the maps' contents
 * (bpf/tapir_filter.h) and the counters are the same.
 *
 * Span: both directions of a flow arrive on the one port, so events carry
 * TAPIR_DIR_SPAN and the flow table decides client and server (SYN, else
 * heuristics) exactly as for a capture file.  The duplicate filter
 * (source_ring.h) never drops on a span port: every event has the same
 * hook, and the same segment twice on one hook is a retransmission.
 * libxdp loads the XDP program itself (its dispatcher needs it loaded as
 * an extension), so the configuration is written before attaching and the
 * filter maps right after: for those few milliseconds a frame that a
 * --port/--net filter would let through is not copied (never the reverse).
 *
 * Order (libbpf's): keys -> sink -> engine -> open skeleton -> set ring
 * size -> load -> fill filter maps and cfg -> ring consumer -> attach
 * (tc_attach.c) -> drop capabilities -> loop -> detach -> drain the ring
 * -> engine_finish -> summary.  Span: ... -> set ring size and cfg ->
 * bpffs mounted? (else mount) -> leftovers removed -> load + attach
 * (libxdp) -> fill filter maps -> ring consumer -> ... -> detach ->
 * unmount the bpffs if tapir mounted it -> ...  Detaching happens on every way out once
 * something is attached (SIGINT, SIGTERM, --duration, a fatal error); a
 * SIGKILL leaves filters behind that the next start removes.
 *
 * Capabilities: started as root, it keeps only CAP_BPF, CAP_NET_ADMIN and
 * CAP_PERFMON after attaching (span: and CAP_SYS_ADMIN when it mounted the
 * bpffs, to unmount it at exit) (effective, permitted and bounding sets;
 * ambient cleared; no_new_privs): enough to read the maps, detach its
 * filters and delete the clsact it created.  Key log files that appear
 * later must be readable without CAP_DAC_OVERRIDE (owned by root, or
 * readable by it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <net/if.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "capture.skel.h"
#include "span.h"
#include "span.skel.h"
#include "config.h"
#include "coverage.h"
#include "engine.h"
#include "export.h"
#include "json.h"
#include "keylog_follow.h"
#include "keysock.h"
#include "keystore.h"
#include "netfilter.h"
#include "source_ring.h"
#include "tapir.h"
#include "tc_attach.h"
#include "util.h"
#include "xdp_attach.h"

#define MAX_IFACES 64
#define MAX_KEYLOGS 64
#define MAX_NETS TAPIR_MAX_NETS
#define TICK_MS 100
/* With wakeups below the threshold off (cfg.wakeup_bytes), the ring is
 * read every POLL_MS while records come, every IDLE_POLL_MS when the last
 * read found none (an idle gateway wakes 20 times a second). */
#define POLL_MS 5
#define IDLE_POLL_MS 50
/* at most one forced wakeup per this many microseconds */
#define WAKEUP_GAP_US 200


struct capture {
	struct tc_iface ifs[MAX_IFACES];
	int nifs;
	uint8_t dirs;
	uint16_t ports[TAPIR_MAX_PORTS];
	int nports;
	struct cidr nets[MAX_NETS], xnets[MAX_NETS], inets[MAX_NETS];
	int nnets, nxnets, ninets;
	const char *keylogs[MAX_KEYLOGS];
	struct keylog_follow *kf[MAX_KEYLOGS];
	int nkeylogs;
	struct keysock_opts kso;	/* kso.path NULL: no key socket */
	struct keysock *ksock;
	uint64_t key_ttl_ns;
	const char *coverage_path;
	uint64_t ring_size;
	int64_t ring_wakeup;	/* bytes; -1 = auto (ring_wakeup_auto()) */
	uint64_t stats_interval_ns, duration_ns, dedup_ns;
	bool acks, quiet;
	const char *out;
	bool span;			/* tapir span: XDP, not TC */
	enum xdp_attach_mode xdp_mode;	/* XDP_MODE_UNSPEC: auto */
	bool xdp_pass;
	/* run time */
	struct capture_bpf *skel;	/* capture */
	struct span_bpf *sskel;		/* span */
	struct bpf_object *obj;		/* the one of them in use */
	struct xdp_iface xif;		/* span's interface */
	bool bpffs_mounted;
	struct source_ring *src;
	struct json_sink *sink;
	bool out_failed;		/* the output's write error was logged */
	struct engine *e;
	struct keystore *ks;
	uint64_t keys_added;
	struct export_opts xo;		/* --pcap/--pcapng, -C/-G/-W */
	struct exporter *x;
};

static void usage(FILE *f, bool span)
{
	if (span)
		fputs("usage: tapir span -i IFACE [OPTIONS]\n"
		      "Capture the TCP traffic mirrored to a span port (a switch's SPAN,\n"
		      "a TAP) with an XDP program, attached through libxdp's dispatcher,\n"
		      "and write the HTTP calls in it as JSON lines.  Frames are dropped\n"
		      "after copying (--xdp-pass: passed on).  Needs root (CAP_BPF,\n"
		      "CAP_NET_ADMIN, CAP_PERFMON; the rest are dropped once attached);\n"
		      "mounts a bpffs on " XDP_BPFFS_PATH " if there is none (and unmounts it).\n"
		      "\n"
		      "  -i, --interface IFACE     the span port\n"
		      "      --xdp-mode MODE       native, skb or auto (default: native, else skb)\n"
		      "      --xdp-pass            pass frames to the stack after copying\n", f);
	else
		fputs("usage: tapir capture -i IFACE[,IFACE...] [OPTIONS]\n"
		      "Capture TCP traffic live with a TC BPF program and write the HTTP\n"
		      "calls in it as JSON lines.  Needs root (CAP_BPF, CAP_NET_ADMIN,\n"
		      "CAP_PERFMON; the rest are dropped once attached).\n"
		      "\n"
		      "  -i, --interface LIST      interfaces to attach to; repeatable\n"
		      "      --direction DIR       ingress, egress or both (default both)\n"
		      "      --dedup-window MS     same segment on two hooks within MS is one (default 50)\n", f);
	fputs("      --port P              only flows with this TCP port; repeatable\n"
	      "      --net CIDR            only flows with an end in CIDR; repeatable\n"
	      "      --exclude-net CIDR    never flows with an end in CIDR; repeatable\n"
	      "      --internal-net CIDR   internal addresses for flow.direction\n"
	      "                            (default: RFC 1918, fc00::/7, loopback)\n"
	      "  -k, --keylog FILE         NSS key log to follow as it grows; repeatable\n"
	      "      --key-socket PATH     Unix socket on which local programs send key log\n"
	      "                            lines (the keys/ preload shim: TAPIR_KEY_SOCKET)\n"
	      "      --key-socket-mode OCTAL   its mode (default 0600)\n"
	      "      --key-socket-owner USER   its owner (name or uid; default: tapir's)\n"
	      "      --key-socket-group GROUP  its group (name or gid; default: tapir's)\n"
	      "      --key-wait SECS       how long ciphertext waits for its keys (default 5)\n"
	      "      --key-ttl SECS        forget a session's keys SECS after they came\n"
	      "                            (default 600; 0: only when the store is full)\n"
	      "      --coverage FILE       decryption coverage per server endpoint as JSON,\n"
	      "                            at exit and every --stats-interval\n"
	      "      --ring-size BYTES     BPF ring buffer size (default 64M)\n"
	      "      --ring-wakeup BYTES   wake the agent when BYTES wait in the ring, else\n"
	      "                            poll every few ms (default: ring/32, 64K..2M;\n"
	      "                            0: wake on every record, the kernel's default)\n"
	      "      --stats-interval SECS counters on stderr every SECS (default 0: at exit)\n"
	      "      --duration SECS       stop after SECS (default: until SIGINT/SIGTERM)\n"
	      "      --ack-events          copy pure ACKs too (default: only after a ring drop)\n"
	      "      --config FILE         options from FILE (keys are the long options)\n"
	      "  -o, --output FILE         append records to FILE (default stdout);\n"
	      "                            SIGHUP reopens it (log rotation)\n"
	      "      --max-body BYTES      body bytes kept per message (default 64K)\n"
	      "      --hash-bodies         add body_sha256 of each decoded body\n"
	      "      --memcap BYTES        memory for buffered stream data (default 256M)\n"
	      "      --max-header-bytes BYTES  HTTP message head limit (default 256K)\n"
	      "      --idle-timeout SECS   flow idle timeout (default 120)\n"
	      EXPORT_USAGE
	      "  -q, --quiet               no summary on stderr\n"
	      "  -v, --verbose             more diagnostics (-vv: libbpf's too)\n"
	      "  -h, --help                this text\n"
	      "\n"
	      "Sizes take K, M and G suffixes (powers of 1024).\n", f);
}

/* long-only options */
enum {
	OPT_XDP_MODE = 0x100,
	OPT_XDP_PASS,
	OPT_RING_WAKEUP,
	OPT_KEY_WAIT,
	OPT_KEY_GROUP,
};

static const struct option longopts[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "direction", required_argument, NULL, 'D' },
	{ "port", required_argument, NULL, 'p' },
	{ "net", required_argument, NULL, 'n' },
	{ "exclude-net", required_argument, NULL, 'x' },
	{ "internal-net", required_argument, NULL, 'I' },
	{ "keylog", required_argument, NULL, 'k' },
	{ "key-wait", required_argument, NULL, OPT_KEY_WAIT },
	{ "key-socket", required_argument, NULL, 'K' },
	{ "key-socket-mode", required_argument, NULL, 'm' },
	{ "key-socket-owner", required_argument, NULL, 'U' },
	{ "key-socket-group", required_argument, NULL, OPT_KEY_GROUP },
	{ "key-ttl", required_argument, NULL, 't' },
	{ "coverage", required_argument, NULL, 'V' },
	{ "ring-size", required_argument, NULL, 'R' },
	{ "ring-wakeup", required_argument, NULL, OPT_RING_WAKEUP },
	{ "stats-interval", required_argument, NULL, 'S' },
	{ "duration", required_argument, NULL, 'd' },
	{ "dedup-window", required_argument, NULL, 'w' },
	{ "ack-events", no_argument, NULL, 'a' },
	{ "config", required_argument, NULL, 'c' },
	{ "output", required_argument, NULL, 'o' },
	{ "max-body", required_argument, NULL, 'B' },
	{ "hash-bodies", no_argument, NULL, 'H' },
	{ "memcap", required_argument, NULL, 'M' },
	{ "max-header-bytes", required_argument, NULL, 'X' },
	{ "idle-timeout", required_argument, NULL, 'T' },
	{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
	{ "xdp-pass", no_argument, NULL, OPT_XDP_PASS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	EXPORT_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static int bad_value(const char *opt, const char *val)
{
	log_err("invalid value for %s: '%s'", opt, val);
	return 2;
}

/* "1.5" seconds -> ns, in [0, max_s]. */
static int parse_secs(const char *s, double max_s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > max_s)
		return -EINVAL;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

/* engine_opts.describe_flow: the interface's name and north-south /
 * east-west (both ends internal) from --internal-net. */
static void describe_flow(void *ctx, uint32_t ifindex, uint8_t family,
			  const uint8_t *client, const uint8_t *server,
			  char *iface, size_t iface_len, const char **direction)
{
	struct capture *cap = ctx;

	for (int i = 0; i < cap->nifs; i++)
		if ((uint32_t)cap->ifs[i].ifindex == ifindex) {
			snprintf(iface, iface_len, "%s", cap->ifs[i].name);
			break;
		}
	if (!iface[0]) {
		char n[IF_NAMESIZE];
		if (ifindex && if_indextoname(ifindex, n))
			snprintf(iface, iface_len, "%s", n);
	}
	*direction = cidr_in_list(cap->inets, cap->ninets, family, client) &&
		     cidr_in_list(cap->inets, cap->ninets, family, server) ?
		     "east-west" : "north-south";
}

static void default_internal(struct capture *cap)
{
	static const char *const def[] = {
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
		"127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
		"fc00::/7", "fe80::/10", "::1/128",
	};

	for (size_t i = 0; i < ARRAY_SIZE(def); i++)
		cidr_parse(def[i], &cap->inets[cap->ninets++]);
}

static int add_ifaces(struct capture *cap, const char *list)
{
	char buf[1024], *tok, *save = NULL;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct tc_iface *t;
		int i;

		if (!*tok)
			continue;
		for (i = 0; i < cap->nifs; i++)
			if (!strcmp(cap->ifs[i].name, tok))
				break;
		if (i < cap->nifs)
			continue;
		if (cap->nifs == MAX_IFACES || strlen(tok) >= IF_NAMESIZE)
			return -EINVAL;
		t = &cap->ifs[cap->nifs++];
		memset(t, 0, sizeof(*t));
		snprintf(t->name, sizeof(t->name), "%s", tok);
	}
	return 0;
}

static int add_ports(struct capture *cap, const char *list)
{
	char buf[1024], *tok, *save = NULL;
	uint64_t v;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (parse_uint(tok, 1, 65535, &v) || cap->nports == TAPIR_MAX_PORTS)
			return -EINVAL;
		cap->ports[cap->nports++] = (uint16_t)v;
	}
	return 0;
}

/* --key-socket-owner / -group: a name or a number. */
static int parse_owner(const char *s, bool group, uint32_t *id)
{
	uint64_t v;

	if (!parse_uint(s, 0, 0xfffffffeULL, &v)) {
		*id = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);
		if (!g)
			return -ENOENT;
		*id = g->gr_gid;
	} else {
		struct passwd *pw = getpwnam(s);
		if (!pw)
			return -ENOENT;
		*id = pw->pw_uid;
	}
	return 0;
}

/* ---------------------------------------------------------------- kernel */

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* libbpf warns about expected misses too (no leftover filter to
	 * remove): its output only with -v (warnings), -vv (all) */
	if (level == LIBBPF_DEBUG && tapir_log_level < LOG_DEBUG + 1)
		return 0;
	if (tapir_log_level < LOG_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The ring's wakeup threshold (cfg.wakeup_bytes): by default 1/32 of
 * the ring, within 64 KiB..2 MiB - early enough that a burst never fills
 * the ring while the agent sleeps, late enough that one wakeup carries
 * hundreds of records.  Below it, the agent's POLL_MS timer reads. */
static uint32_t ring_wakeup_bytes(const struct capture *cap)
{
	uint64_t w = cap->ring_size / 32;

	if (cap->ring_wakeup >= 0)
		return (uint32_t)(cap->ring_wakeup < (int64_t)cap->ring_size ?
				  cap->ring_wakeup : (int64_t)cap->ring_size / 2);
	if (w < (64u << 10))
		w = 64u << 10;
	if (w > (2u << 20))
		w = 2u << 20;
	return (uint32_t)w;
}

/* A map of the loaded program (either skeleton's: the names are the
 * same, bpf/capture.bpf.h). */
static int kmap_fd(struct capture *cap, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(cap->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* The program's configuration for the options given. */
static struct tapir_cfg kernel_cfg(const struct capture *cap)
{
	struct tapir_cfg c = { .acks_after_drop_ms = 2000 };

	if (cap->nports)
		c.flags |= TAPIR_CFG_PORTS;
	if (cap->nnets)
		c.flags |= TAPIR_CFG_NET;
	if (cap->nxnets)
		c.flags |= TAPIR_CFG_XNET;
	if (cap->acks)
		c.flags |= TAPIR_CFG_ACKS;
	if (cap->xdp_pass)
		c.flags |= TAPIR_CFG_XDP_PASS;
	if (cap->dedup_ns)
		c.flags |= TAPIR_CFG_HOOK_DEDUP;
	c.wakeup_bytes = ring_wakeup_bytes(cap);
	c.wakeup_gap_us = WAKEUP_GAP_US;
	return c;
}

static int fill_maps(struct capture *cap)
{
	uint8_t one = 1;
	int err;

	for (int i = 0; i < cap->nports; i++) {
		err = bpf_map_update_elem(kmap_fd(cap, "ports"),
					  &cap->ports[i], &one, BPF_ANY);
		if (err)
			return err;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct cidr *l = pass ? cap->xnets : cap->nets;
		int n = pass ? cap->nxnets : cap->nnets;
		int m4 = kmap_fd(cap, pass ? "xnet4" : "net4");
		int m6 = kmap_fd(cap, pass ? "xnet6" : "net6");

		for (int i = 0; i < n; i++) {
			if (l[i].family == 4) {
				struct tapir_lpm4 k = { .prefixlen = l[i].plen };
				memcpy(k.addr, l[i].addr, 4);
				err = bpf_map_update_elem(m4, &k,
							  &one, BPF_ANY);
			} else {
				struct tapir_lpm6 k = { .prefixlen = l[i].plen };
				memcpy(k.addr, l[i].addr, 16);
				err = bpf_map_update_elem(m6, &k,
							  &one, BPF_ANY);
			}
			if (err)
				return err;
		}
	}
	if (cap->span)
		return 0;	/* no ifaces map: it runs where it is attached */
	for (int i = 0; i < cap->nifs; i++) {
		uint32_t ifx = (uint32_t)cap->ifs[i].ifindex;
		err = bpf_map_update_elem(kmap_fd(cap, "ifaces"), &ifx,
					  &cap->ifs[i].dirs, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

static void kernel_counters(struct capture *cap, struct tapir_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters *per;
	uint32_t zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return;
	if (!bpf_map_lookup_elem(kmap_fd(cap, "counters"), &zero, per)) {
		for (int c = 0; c < ncpu; c++) {
			uint64_t *s = (uint64_t *)sum, *p = (uint64_t *)&per[c];
			for (size_t i = 0; i < sizeof(*sum) / 8; i++)
				s[i] += p[i];
		}
	}
	free(per);
}

/* Keep CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON (and CAP_SYS_ADMIN if
 * sys_admin); drop every other capability from the bounding, permitted,
 * effective, inheritable and ambient sets. */
static int drop_caps(bool sys_admin)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	const int keep[] = { CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF,
			     sys_admin ? CAP_SYS_ADMIN : CAP_BPF };
	int last = CAP_LAST_CAP;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	for (int c = 0; c <= last; c++) {
		bool k = false;
		for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
			k |= keep[i] == c;
		/* already out (e.g. systemd's CapabilityBoundingSet): dropping
		 * it again would need CAP_SETPCAP, which may be gone too */
		if (k || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			return -errno;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		d[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		d[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if (syscall(SYS_capset, &h, d))
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- stats */

static void fmt_mib(char *b, size_t n, uint64_t v)
{
	if (v < (1 << 20))
		snprintf(b, n, "%.1f KiB", (double)v / 1024);
	else
		snprintf(b, n, "%.1f MiB", (double)v / (1 << 20));
}

static void print_stats(struct capture *cap, bool final)
{
	const struct engine_stats *st = engine_stats(cap->e);
	const struct flow_stats *fs = engine_flow_stats(cap->e);
	const struct tls_stats *ts = engine_tls_stats(cap->e);
	const struct memcap *mc = engine_memcap(cap->e);
	const struct ring_stats *rs = source_ring_stats(cap->src);
	struct tapir_counters k;
	char used[32], peak[32], lim[32];

	kernel_counters(cap, &k);
	fmt_mib(used, sizeof(used), mc->used);
	fmt_mib(peak, sizeof(peak), mc->peak);
	fmt_mib(lim, sizeof(lim), mc->limit);
	fprintf(stderr,
		"tapir: %skernel: %" PRIu64 " packets seen, %" PRIu64
		" TCP segments matched (%" PRIu64 " filtered out, %" PRIu64
		" not TCP, %" PRIu64 " short headers, %" PRIu64
		" pure ACKs skipped, %" PRIu64
		" forwarded copies skipped), %" PRIu64 " events / %" PRIu64
		" bytes copied, %" PRIu64 " events (%" PRIu64
		" bytes) lost to a full ring, %" PRIu64 " segments truncated\n",
		final ? "" : "[stats] ", (uint64_t)k.seen,
		(uint64_t)k.matched, (uint64_t)k.filtered,
		(uint64_t)k.not_tcp, (uint64_t)k.short_hdr,
		(uint64_t)k.acks_skipped, (uint64_t)k.hook_dups,
		(uint64_t)k.events,
		(uint64_t)k.bytes, (uint64_t)k.ring_drops,
		(uint64_t)k.ring_drop_bytes, (uint64_t)k.truncated);
	fprintf(stderr,
		"tapir: %sagent: %" PRIu64 " events read, %" PRIu64
		" duplicates dropped (seen on two hooks); %" PRIu64
		" flows (%" PRIu64 " active, %" PRIu64 " HTTP/1, %" PRIu64
		" HTTP/2, %" PRIu64 " other, %" PRIu64
		" picked up mid-stream), %" PRIu64 " calls (%" PRIu64
		" with errors)\n",
		final ? "" : "[stats] ", rs->events, rs->dups, fs->flows,
		fs->flows_active, st->http1_conns, st->h2_conns,
		st->other_conns,
		MAX(st->midstream_conns, fs->flows_midstream), st->calls,
		st->calls_with_errors);
	fprintf(stderr,
		"tapir: %sTLS sessions: %" PRIu64 " (%" PRIu64 " decrypted, %"
		PRIu64 " not: %" PRIu64 " without keys, %" PRIu64
		" unsupported, %" PRIu64 " mid-session); keys: %zu; gaps: %"
		PRIu64 " (%" PRIu64 " bytes); memory %s (peak %s of %s), "
		"flows refused %" PRIu64 "\n",
		final ? "" : "[stats] ", st->tls_sessions, st->tls_decrypted,
		st->tls_undecrypted, ts->no_keys, ts->unsupported,
		ts->midstream, cap->ks ? keystore_count(cap->ks) : (size_t)0,
		fs->rs.gaps, fs->rs.gap_bytes, used, peak, lim,
		fs->flows_refused);
	if (cap->ks) {
		const struct keystore_stats *kst = keystore_stats(cap->ks);
		fmt_mib(used, sizeof(used), keystore_memory(cap->ks));
		fprintf(stderr,
			"tapir: %skeys: %zu sessions held (%s), %" PRIu64
			" secrets added, %" PRIu64 " lines rejected, %" PRIu64
			" expired (TTL), %" PRIu64 " evicted; %" PRIu64
			" TLS sessions waiting for keys now, %" PRIu64
			" waited (%" PRIu64 " decrypted late, %" PRIu64
			" timed out, %" PRIu64 " over the hold bound)\n",
			final ? "" : "[stats] ", keystore_count(cap->ks), used,
			kst->accepted, kst->rejected, kst->expired, kst->evicted,
			engine_keys_waiting(cap->e), ts->keys_waited,
			ts->keys_late, ts->keys_timeout, ts->hold_exceeded);
	}
	for (int i = 0; i < cap->nkeylogs; i++) {
		const struct keylog_follow_stats *f = keylog_follow_stats(cap->kf[i]);
		fprintf(stderr,
			"tapir: %skey log %s: %" PRIu64 " lines (%" PRIu64
			" rejected, %" PRIu64 " overlong), %" PRIu64
			" opens, %" PRIu64 " truncations, %" PRIu64
			" rotations\n", final ? "" : "[stats] ", cap->keylogs[i],
			f->lines, f->rejected, f->overlong, f->opens,
			f->truncations, f->rotations);
	}
	if (cap->ksock) {
		const struct keysock_stats *k2 = keysock_stats(cap->ksock);
		fprintf(stderr,
			"tapir: %skey socket %s: %" PRIu64 " connections (%u open, %"
			PRIu64 " evicted), %" PRIu64 " lines (%" PRIu64
			" rejected, %" PRIu64 " overlong), %" PRIu64 " bytes, %"
			PRIu64 " partial lines cut by eviction\n",
			final ? "" : "[stats] ", cap->kso.path, k2->accepted,
			keysock_nconns(cap->ksock), k2->evicted, k2->lines,
			k2->rejected, k2->overlong, k2->bytes, k2->cut);
	}
	if (st->write_errors)
		fprintf(stderr, "tapir: %" PRIu64 " records could not be "
			"written\n", st->write_errors);
	if (final) {
		coverage_print(engine_coverage(cap->e), stderr, 20);
	} else {
		/* the same lines, marked as periodic */
		char *buf = NULL, *line, *save = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (m) {
			coverage_print(engine_coverage(cap->e), m, 20);
			fclose(m);
			for (line = strtok_r(buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				fprintf(stderr, "tapir: [stats] %s\n",
					strncmp(line, "tapir: ", 7) ? line : line + 7);
			free(buf);
		}
	}
}

static void write_coverage(struct capture *cap)
{
	int err;

	if (!cap->coverage_path)
		return;
	err = coverage_write_file(engine_coverage(cap->e), cap->coverage_path);
	if (err)
		log_err("cannot write coverage %s: %s", cap->coverage_path,
			strerror(-err));
}

/* ---------------------------------------------------------------- loop */

/* Read new key log lines: only_fd >= 0 the follower with that descriptor,
 * -1 those without one (the timer polls them), -2 all of them. */
static void poll_keylogs(struct capture *cap, int only_fd, uint64_t now)
{
	int added = 0;

	for (int i = 0; i < cap->nkeylogs; i++) {
		int r, fd = keylog_follow_fd(cap->kf[i]);

		if (only_fd >= 0 && fd != only_fd)
			continue;
		if (only_fd == -1 && fd >= 0)
			continue;	/* epoll tells when it grows */
		r = keylog_follow_poll(cap->kf[i]);
		if (r > 0)
			added += r;
	}
	if (added) {
		cap->keys_added += (uint64_t)added;
		engine_keys_added(cap->e, now);
		if (cap->x)
			export_keys_added(cap->x);
	}
}

/* Accept and read what is ready on the key socket (bounded work, never
 * blocks). */
static void poll_keysock(struct capture *cap, uint64_t now)
{
	int r;

	if (!cap->ksock)
		return;
	r = keysock_poll(cap->ksock);
	if (r > 0) {
		cap->keys_added += (uint64_t)r;
		engine_keys_added(cap->e, now);
		if (cap->x)
			export_keys_added(cap->x);
	} else if (r < 0) {
		log_warn("key socket %s: %s", cap->kso.path, strerror(-r));
	}
}

/* source_ring hook: during a long drain, pick up key log lines and key
 * socket lines that arrived meanwhile (the inotify and epoll descriptors
 * are non-blocking: cheap when nothing changed). */
static void drain_hook(void *ctx)
{
	struct capture *cap = ctx;
	uint64_t now = source_ring_now(cap->src);

	poll_keylogs(cap, -2, now);
	poll_keysock(cap, now);
}

static int run_loop(struct capture *cap, int sfd)
{
	struct epoll_event ev, evs[16];
	struct itimerspec its = { { 0, TICK_MS * 1000000L },
				  { 0, TICK_MS * 1000000L } };
	uint64_t start = source_ring_now(cap->src), next_stats, now;
	int ep, tfd, ret = 0, n, wr, timeout = 1000;
	bool stop = false;
	bool polled = ring_wakeup_bytes(cap) != 0;

	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL)) {
		ret = -errno;
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.fd = source_ring_fd(cap->src);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	for (int i = 0; i < cap->nkeylogs; i++) {
		ev.data.fd = keylog_follow_fd(cap->kf[i]);
		if (ev.data.fd >= 0)
			epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	if (cap->ksock) {
		ev.data.fd = keysock_fd(cap->ksock);
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	if (cap->nkeylogs || cap->ksock)
		source_ring_set_hook(cap->src, drain_hook, cap);
	next_stats = cap->stats_interval_ns ? start + cap->stats_interval_ns : 0;
	while (!stop) {
		n = epoll_wait(ep, evs, (int)ARRAY_SIZE(evs), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		now = source_ring_now(cap->src);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					/* log rotation (dist/tapir.logrotate) */
					int r = json_sink_reopen(cap->sink);

					if (r) {
						log_warn("SIGHUP: cannot reopen %s (%s): still writing to the old file",
							 cap->out, strerror(-r));
					} else {
						log_info("SIGHUP: output reopened");
						cap->out_failed = false;
					}
					continue;
				}
				log_info("signal %u: stopping", si.ssi_signo);
				stop = true;
			} else if (fd == tfd) {
				uint64_t exp;
				if (read(tfd, &exp, sizeof(exp)) < 0)
					exp = 0;
				poll_keylogs(cap, -1, now);
				if (cap->ks && cap->key_ttl_ns)
					keystore_expire(cap->ks, now);
			} else if (cap->ksock && fd == keysock_fd(cap->ksock)) {
				poll_keysock(cap, now);
			} else if (fd != source_ring_fd(cap->src)) {
				poll_keylogs(cap, fd, now);
			}
		}
		n = source_ring_drain(cap->src);
		if (n < 0) {
			ret = n;
			break;
		}
		if (polled)
			timeout = n > 0 ? POLL_MS : IDLE_POLL_MS;
		engine_tick(cap->e, now);
		if (cap->x)
			export_tick(cap->x, now);
		/* records out now, whole lines: a reader (tail -f, a log
		 * shipper) sees each call within a pass of this loop */
		wr = engine_flush_output(cap->e);
		if (wr && !cap->out_failed) {
			log_err("writing %s: %s; records are counted as lost until SIGHUP reopens it",
				cap->out ? cap->out : "stdout", strerror(-wr));
			cap->out_failed = true;
		}
		if (next_stats && now >= next_stats) {
			if (!cap->quiet)
				print_stats(cap, false);
			write_coverage(cap);
			next_stats = now + cap->stats_interval_ns;
		}
		if (cap->duration_ns && now - start >= cap->duration_ns)
			stop = true;
	}
out:
	if (tfd >= 0)
		close(tfd);
	if (ep >= 0)
		close(ep);
	return ret;
}

/* argv with the --config file's options first (see config.h). */
static int expand_config(int argc, char **argv, char ***nargv, int *nargc,
			 char ***cfg, int *ncfg)
{
	const char *path = NULL;
	char err[512];
	int r, k = 0;

	*cfg = NULL;
	*ncfg = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	if (path) {
		r = config_load(path, longopts, cfg, ncfg, err, sizeof(err));
		if (r) {
			log_err("%s", err);
			return r == -EINVAL ? 2 : 1;
		}
	}
	*nargv = calloc((size_t)(argc + *ncfg + 1), sizeof(char *));
	if (!*nargv)
		return 1;
	(*nargv)[k++] = argv[0];
	for (int i = 0; i < *ncfg; i++)
		(*nargv)[k++] = (*cfg)[i];
	for (int i = 1; i < argc; i++)
		(*nargv)[k++] = argv[i];
	*nargc = k;
	return 0;
}

/* Open, configure, load and attach the span program (XDP, through
 * libxdp).  0 or 1 (logged). */
static int span_start(struct capture *cap)
{
	struct xdp_iface *x = &cap->xif;
	int err;

	cap->sskel = span_bpf__open();
	if (!cap->sskel) {
		log_err("cannot open the BPF program: %s", strerror(errno));
		return 1;
	}
	cap->obj = cap->sskel->obj;
	bpf_map__set_max_entries(cap->sskel->maps.events,
				 (uint32_t)cap->ring_size);
	cap->sskel->data->cfg = kernel_cfg(cap);
	err = xdp_bpffs_ensure(&cap->bpffs_mounted);
	if (err) {
		log_err("libxdp needs a bpffs on %s, and mounting one failed: %s",
			XDP_BPFFS_PATH, strerror(-err));
		return 1;
	}
	if (cap->bpffs_mounted && !cap->quiet)
		fprintf(stderr, "tapir: no bpffs on %s: mounted one for libxdp "
			"(unmounted at exit)\n", XDP_BPFFS_PATH);
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", cap->ifs[0].name);
	x->ifindex = cap->ifs[0].ifindex;
	x->want = cap->xdp_mode;
	err = xdp_remove_leftovers(x, TAPIR_XDP_PROG_NAME);
	if (err)
		log_warn("%s: looking for a previous run's XDP program: %s",
			 x->name, strerror(-err));
	if (x->leftovers)
		log_warn("%s: removed %d tapir XDP program(s) left by an earlier "
			 "run", x->name, x->leftovers);
	err = xdp_attach_iface(x, cap->obj, TAPIR_XDP_PROG_NAME);
	if (err) {
		log_err("%s: cannot load and attach the XDP program (%s mode): %s "
			"(-v for libxdp's and the verifier's log)", x->name,
			xdp_mode_name(x->want), strerror(-err));
		return 1;
	}
	err = fill_maps(cap);
	if (err) {
		log_err("cannot fill the filter maps: %s", strerror(-err));
		return 1;
	}
	return 0;
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBXDP_DEBUG && tapir_log_level < LOG_DEBUG + 1)
		return 0;
	if (tapir_log_level < LOG_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int live_main(int argc, char **argv, bool span)
{
	static struct capture cap_s;
	struct capture *cap = &cap_s;
	struct engine_opts eo;
	struct json_sink *sink = NULL;
	char **av = NULL, **cfgv = NULL;
	int ac, ncfg, opt, ret = 1, err, sfd = -1, prog_fd[2];
	bool attached = false;
	sigset_t mask;
	uint64_t v;

	memset(cap, 0, sizeof(*cap));
	cap->span = span;
	engine_opts_default(&eo);
	eo.key_wait_ns = 5ULL * 1000000000ULL;
	cap->dirs = TAPIR_IF_INGRESS | TAPIR_IF_EGRESS;
	cap->ring_size = 64ULL << 20;
	/* span: every event comes from one hook; nothing to deduplicate */
	cap->dedup_ns = span ? 0 : 50ULL * 1000000ULL;
	cap->ring_wakeup = -1;
	keysock_opts_default(&cap->kso);
	cap->kso.path = NULL;
	cap->key_ttl_ns = 600ULL * 1000000000ULL;
	export_opts_default(&cap->xo);
	ret = expand_config(argc, argv, &av, &ac, &cfgv, &ncfg);
	if (ret)
		return ret;
	ret = 2;
	optind = 1;
	while ((opt = getopt_long(ac, av, "i:k:o:qvhC:G:W:", longopts,
				  NULL)) != -1) {
		err = export_parse_opt(&cap->xo, opt, optarg);
		if (err < 0)
			goto cleanup;
		if (err > 0)
			continue;
		switch (opt) {
		case 'i':
			if (add_ifaces(cap, optarg)) {
				ret = bad_value("--interface", optarg);
				goto cleanup;
			}
			break;
		case 'D':
			if (span) {
				log_err("--direction is for tapir capture: a span "
					"port has none");
				goto cleanup;
			}
			if (!strcmp(optarg, "ingress"))
				cap->dirs = TAPIR_IF_INGRESS;
			else if (!strcmp(optarg, "egress"))
				cap->dirs = TAPIR_IF_EGRESS;
			else if (!strcmp(optarg, "both"))
				cap->dirs = TAPIR_IF_INGRESS | TAPIR_IF_EGRESS;
			else {
				ret = bad_value("--direction", optarg);
				goto cleanup;
			}
			break;
		case 'p':
			if (add_ports(cap, optarg)) {
				ret = bad_value("--port", optarg);
				goto cleanup;
			}
			break;
		case 'n':
		case 'x':
		case 'I': {
			struct cidr *l = opt == 'n' ? cap->nets : opt == 'x' ?
					 cap->xnets : cap->inets;
			int *cnt = opt == 'n' ? &cap->nnets : opt == 'x' ?
				   &cap->nxnets : &cap->ninets;
			if (*cnt == MAX_NETS || cidr_parse(optarg, &l[*cnt])) {
				ret = bad_value(opt == 'n' ? "--net" : opt == 'x' ?
						"--exclude-net" : "--internal-net",
						optarg);
				goto cleanup;
			}
			(*cnt)++;
			break;
		}
		case 'k':
			if (cap->nkeylogs == MAX_KEYLOGS) {
				log_err("at most %d --keylog files", MAX_KEYLOGS);
				goto cleanup;
			}
			cap->keylogs[cap->nkeylogs++] = optarg;
			break;
		case OPT_KEY_WAIT:
			if (parse_secs(optarg, 3600, &eo.key_wait_ns)) {
				ret = bad_value("--key-wait", optarg);
				goto cleanup;
			}
			break;
		case 'K':
			cap->kso.path = optarg;
			break;
		case 'm': {
			char *end;
			long m;
			errno = 0;
			m = strtol(optarg, &end, 8);
			if (errno || end == optarg || *end || m < 0 || m > 0777) {
				ret = bad_value("--key-socket-mode", optarg);
				goto cleanup;
			}
			cap->kso.mode = (mode_t)m;
			break;
		}
		case 'U':
		case OPT_KEY_GROUP: {
			uint32_t id;
			if (parse_owner(optarg, opt == OPT_KEY_GROUP, &id)) {
				ret = bad_value(opt == OPT_KEY_GROUP ?
						"--key-socket-group" :
						"--key-socket-owner", optarg);
				goto cleanup;
			}
			if (opt == OPT_KEY_GROUP)
				cap->kso.group = (gid_t)id;
			else
				cap->kso.owner = (uid_t)id;
			break;
		}
		case 't':
			if (parse_secs(optarg, 86400 * 365.0, &cap->key_ttl_ns)) {
				ret = bad_value("--key-ttl", optarg);
				goto cleanup;
			}
			break;
		case 'V':
			cap->coverage_path = optarg;
			break;
		case 'R':
			if (parse_size(optarg, &v) || v < 4096 || v > (1ULL << 31)) {
				ret = bad_value("--ring-size (4K..2G)", optarg);
				goto cleanup;
			}
			cap->ring_size = v;
			break;
		case OPT_RING_WAKEUP:
			if (parse_size(optarg, &v) || v > (1ULL << 30)) {
				ret = bad_value("--ring-wakeup (0..1G)", optarg);
				goto cleanup;
			}
			cap->ring_wakeup = (int64_t)v;
			break;
		case 'S':
			if (parse_secs(optarg, 86400, &cap->stats_interval_ns)) {
				ret = bad_value("--stats-interval", optarg);
				goto cleanup;
			}
			break;
		case 'd':
			if (parse_secs(optarg, 86400 * 365.0, &cap->duration_ns)) {
				ret = bad_value("--duration", optarg);
				goto cleanup;
			}
			break;
		case 'w':
			if (parse_uint(optarg, 0, 10000, &v)) {
				ret = bad_value("--dedup-window", optarg);
				goto cleanup;
			}
			cap->dedup_ns = v * 1000000ULL;
			break;
		case 'a':
			cap->acks = true;
			break;
		case 'c':
			break;	/* read by expand_config() */
		case 'o':
			cap->out = optarg;
			break;
		case 'B':
			if (parse_size(optarg, &v) || v > (1ULL << 30)) {
				ret = bad_value("--max-body", optarg);
				goto cleanup;
			}
			eo.body.max_keep = (size_t)v;
			break;
		case 'H':
			eo.body.hash = true;
			break;
		case 'M':
			if (parse_size(optarg, &v) || v < (1 << 20)) {
				ret = bad_value("--memcap (at least 1M)", optarg);
				goto cleanup;
			}
			eo.memcap = v;
			break;
		case 'X':
			if (parse_size(optarg, &v) || v < 1024 || v > (64u << 20)) {
				ret = bad_value("--max-header-bytes (1K..64M)", optarg);
				goto cleanup;
			}
			eo.max_header_bytes = (uint32_t)v;
			break;
		case 'T':
			if (parse_uint(optarg, 1, 86400 * 365, &v)) {
				ret = bad_value("--idle-timeout", optarg);
				goto cleanup;
			}
			eo.idle_timeout_ns = v * 1000000000ULL;
			break;
		case OPT_XDP_MODE:
		case OPT_XDP_PASS:
			if (!span) {
				log_err("--xdp-mode and --xdp-pass are for tapir span");
				goto cleanup;
			}
			if (opt == OPT_XDP_PASS)
				cap->xdp_pass = true;
			else if (xdp_mode_parse(optarg, &cap->xdp_mode)) {
				ret = bad_value("--xdp-mode (native, skb, auto)",
						optarg);
				goto cleanup;
			}
			break;
		case 'q':
			cap->quiet = true;
			break;
		case 'v':
			tapir_log_level++;
			break;
		case 'h':
			usage(stdout, span);
			ret = 0;
			goto cleanup;
		default:
			usage(stderr, span);
			goto cleanup;
		}
	}
	if (optind != ac) {
		log_err("unexpected argument '%s'", av[optind]);
		usage(stderr, span);
		goto cleanup;
	}
	if (export_opts_check(&cap->xo))
		goto cleanup;
	if (!cap->nifs) {
		log_err("no interface given (-i IFACE)");
		usage(stderr, span);
		goto cleanup;
	}
	if (span && cap->nifs > 1) {
		log_err("tapir span takes one interface (-i IFACE); run one per "
			"span port");
		goto cleanup;
	}
	for (int i = 0; i < cap->nifs; i++) {
		cap->ifs[i].ifindex = (int)if_nametoindex(cap->ifs[i].name);
		cap->ifs[i].dirs = cap->dirs;
		if (!cap->ifs[i].ifindex) {
			log_err("no interface '%s'", cap->ifs[i].name);
			goto cleanup;
		}
	}
	if (!cap->ninets)
		default_internal(cap);
	ret = 1;
	if (geteuid() != 0)
		log_warn("not root: loading and attaching will likely fail");

	/* keys -> sink -> engine */
	if (cap->nkeylogs || cap->kso.path) {
		cap->ks = keystore_new(1u << 20);
		if (!cap->ks) {
			log_err("cannot set up the key store");
			goto cleanup;
		}
		keystore_set_ttl(cap->ks, cap->key_ttl_ns);
		for (int i = 0; i < cap->nkeylogs; i++) {
			cap->kf[i] = keylog_follow_new(cap->ks, cap->keylogs[i]);
			if (!cap->kf[i]) {
				log_err("cannot follow key log %s: %s",
					cap->keylogs[i], strerror(errno));
				goto cleanup;
			}
			keylog_follow_poll(cap->kf[i]);
		}
		if (cap->kso.path) {
			cap->ksock = keysock_new(cap->ks, &cap->kso);
			if (!cap->ksock) {
				log_err("cannot create key socket %s: %s",
					cap->kso.path, strerror(errno));
				goto cleanup;
			}
		}
	}
	sink = cap->sink = json_sink_open(cap->out, true);
	if (!sink) {
		log_err("cannot open output %s: %s", cap->out, strerror(errno));
		goto cleanup;
	}
	eo.describe_flow = describe_flow;
	eo.describe_ctx = cap;
	cap->e = engine_new(&eo, cap->ks, sink);
	if (!cap->e) {
		log_err("cannot set up the pipeline");
		goto cleanup;
	}

	/* open -> configure -> load */
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
	{
		uint64_t rs = 4096;
		while (rs < cap->ring_size)
			rs <<= 1;	/* a power of two, at least a page */
		cap->ring_size = rs;
	}
	if (span) {
		if (span_start(cap))
			goto cleanup;
		goto ring;
	}
	cap->skel = capture_bpf__open();
	if (!cap->skel) {
		log_err("cannot open the BPF program: %s", strerror(errno));
		goto cleanup;
	}
	cap->obj = cap->skel->obj;
	bpf_map__set_max_entries(cap->skel->maps.events, (uint32_t)cap->ring_size);
	err = capture_bpf__load(cap->skel);
	if (err) {
		log_err("cannot load the BPF program: %s (-v for the verifier's "
			"log; needs root: CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)",
			strerror(-err));
		goto cleanup;
	}
	err = fill_maps(cap);
	if (err) {
		log_err("cannot fill the filter maps: %s", strerror(-err));
		goto cleanup;
	}
	cap->skel->data->cfg = kernel_cfg(cap);
ring:
	cap->src = source_ring_new(kmap_fd(cap, "events"), cap->e,
				   cap->dedup_ns);
	if (!cap->src) {
		log_err("cannot read the ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	if (cap->xo.path) {
		char xerr[512];

		/* packets wait for their keys as long as the calls do */
		cap->xo.key_wait_ns = eo.key_wait_ns;
		cap->x = export_new(&cap->xo, cap->ks, xerr, sizeof(xerr));
		if (!cap->x)
			goto cleanup;	/* logged */
		source_ring_set_export(cap->src, cap->x);
	}

	/* signals before attaching: a SIGTERM from now on detaches */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto cleanup;
	}

	attached = true;
	for (int i = 0; !span && i < cap->nifs; i++) {
		prog_fd[TAPIR_DIR_INGRESS] =
			bpf_program__fd(cap->skel->progs.tapir_ingress);
		prog_fd[TAPIR_DIR_EGRESS] =
			bpf_program__fd(cap->skel->progs.tapir_egress);
		err = tc_attach_iface(&cap->ifs[i], prog_fd);
		if (err) {
			log_err("%s: cannot attach: %s", cap->ifs[i].name,
				strerror(-err));
			goto cleanup;
		}
		if (cap->ifs[i].leftovers)
			log_warn("%s: removed %d tapir filter(s) left by an "
				 "earlier run", cap->ifs[i].name,
				 cap->ifs[i].leftovers);
	}
	err = drop_caps(cap->bpffs_mounted);
	if (err) {
		log_err("cannot drop capabilities: %s", strerror(-err));
		goto cleanup;
	}
	if (!cap->quiet && span) {
		fprintf(stderr, "tapir: capturing on %s (span port, XDP %s mode, "
			"frames %s), ring %" PRIu64 " MiB\n", cap->xif.name,
			xdp_mode_name(cap->xif.mode),
			cap->xdp_pass ? "passed" : "dropped", cap->ring_size >> 20);
	} else if (!cap->quiet) {
		fprintf(stderr, "tapir: capturing on");
		for (int i = 0; i < cap->nifs; i++)
			fprintf(stderr, " %s", cap->ifs[i].name);
		fprintf(stderr, " (%s), ring %" PRIu64 " MiB\n",
			cap->dirs == (TAPIR_IF_INGRESS | TAPIR_IF_EGRESS) ? "both directions" :
			cap->dirs == TAPIR_IF_INGRESS ? "ingress" : "egress",
			cap->ring_size >> 20);
	}
	err = run_loop(cap, sfd);
	if (err)
		log_err("capture loop: %s", strerror(-err));
	ret = err ? 1 : 0;

cleanup:
	if (attached && !span) {
		for (int i = 0; i < cap->nifs; i++)
			tc_detach_iface(&cap->ifs[i]);
	}
	if (span) {
		xdp_detach_iface(&cap->xif);	/* also after a failed attach */
		err = xdp_bpffs_release(cap->bpffs_mounted);
		if (err < 0)
			log_warn("unmounting the bpffs on %s: %s", XDP_BPFFS_PATH,
				 strerror(-err));
		else if (cap->bpffs_mounted && err == 0)
			log_info("the bpffs tapir mounted on %s stays: something "
				 "else is pinned in it", XDP_BPFFS_PATH);
	}
	if (cap->src) {
		uint64_t now = source_ring_now(cap->src);
		source_ring_drain(cap->src);	/* what came before detach */
		if (cap->nkeylogs)
			poll_keylogs(cap, -2, now);
		poll_keysock(cap, now);
		engine_finish(cap->e, now);
		engine_flush_output(cap->e);	/* before the summary counts */
		/* an export that stopped (disk full) said so when it
		 * happened and says so in the summary; the capture itself
		 * went on, so it does not decide the exit status */
		if (cap->x)
			export_finish(cap->x);
		if (!cap->quiet) {
			print_stats(cap, true);
			if (cap->x)
				export_print(cap->x, stderr);
		}
		if (cap->coverage_path) {
			err = coverage_write_file(engine_coverage(cap->e),
						  cap->coverage_path);
			if (err) {
				log_err("cannot write coverage %s: %s",
					cap->coverage_path, strerror(-err));
				ret = 1;
			}
		}
		if (ret == 0 && engine_stats(cap->e)->write_errors)
			ret = 1;
	}
	source_ring_free(cap->src);
	export_free(cap->x);
	capture_bpf__destroy(cap->skel);
	span_bpf__destroy(cap->sskel);
	engine_free(cap->e);
	if (sink && json_sink_close(sink) && ret == 0) {
		log_err("writing %s failed", cap->out ? cap->out : "stdout");
		ret = 1;
	}
	for (int i = 0; i < cap->nkeylogs; i++)
		keylog_follow_free(cap->kf[i]);
	keysock_free(cap->ksock);
	keystore_free(cap->ks);
	if (sfd >= 0)
		close(sfd);
	free(av);
	config_free(cfgv, ncfg);
	return ret;
}

int cmd_capture(int argc, char **argv)
{
	return live_main(argc, argv, false);
}

int cmd_span(int argc, char **argv)
{
	return live_main(argc, argv, true);
}
