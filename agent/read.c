/* read.c - `tapir read`: a capture file and key logs in, call records out.
 *
 * Owns: option parsing for the subcommand, the order of the pipeline's
 * construction (keys -> sink -> engine -> source) and teardown, the summary
 * on stderr and the exit status (0 ok, 1 unusable input or output, 2 usage).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "engine.h"
#include "export.h"
#include "json.h"
#include "keystore.h"
#include "par.h"
#include "pcapng.h"
#include "source_pcap.h"
#include "tapir.h"
#include "util.h"

#define MAX_KEYLOGS 64

static void usage(FILE *f)
{
	fputs("usage: tapir read [OPTIONS] CAPTURE\n"
	      "Reconstruct the HTTP calls in a pcap/pcapng file as JSON lines.\n"
	      "\n"
	      "  -k, --keylog FILE         NSS key log (SSLKEYLOGFILE); repeatable\n"
	      "  -o, --output FILE         write records to FILE (default stdout)\n"
	      "      --coverage FILE       decryption coverage per server endpoint as JSON\n"
	      "      --max-body BYTES      body bytes kept per message (default 64K)\n"
	      "      --hash-bodies         add body_sha256 of each decoded body\n"
	      "      --memcap BYTES        memory for buffered stream data (default 256M)\n"
	      "      --max-header-bytes BYTES  HTTP message head limit (default 256K)\n"
	      "      --idle-timeout SECS   flow idle timeout in capture time (default 120)\n"
	      "      --checksum auto|on|off  TCP checksum validation (default auto)\n"
	      "  -j, --threads N           N worker threads, connections shared out\n"
	      "                            (default 1; records in a different order)\n"
	      EXPORT_USAGE
	      "  -q, --quiet               no summary on stderr\n"
	      "  -v, --verbose             more diagnostics on stderr\n"
	      "  -h, --help                this text\n"
	      "\n"
	      "Sizes take K, M and G suffixes (powers of 1024).  The TLS keys in a\n"
	      "pcapng file's Decryption Secrets Blocks are used as well as --keylog.\n", f);
}

static int bad_value(const char *opt, const char *val)
{
	log_err("invalid value for %s: '%s'", opt, val);
	return 2;
}

static void fmt_mib(char *b, size_t n, uint64_t v)
{
	if (v < (1 << 20))
		snprintf(b, n, "%.1f KiB", (double)v / 1024);
	else
		snprintf(b, n, "%.1f MiB", (double)v / (1 << 20));
}

/* What the summary prints: one engine's counters, or the workers' sum. */
struct totals {
	const struct engine_stats *st;
	const struct flow_stats *fs;
	const struct tls_stats *ts;
	const struct memcap *mc;
	const struct coverage *cov;
};

static void print_summary(const char *path, enum csum_mode csum,
			  const struct source_stats *ss,
			  const struct totals *t, const struct keystore *ks)
{
	const struct engine_stats *st = t->st;
	const struct flow_stats *fs = t->fs;
	const struct tls_stats *ts = t->ts;
	const struct memcap *mc = t->mc;
	char peak[32], lim[32];

	fmt_mib(peak, sizeof(peak), mc->peak);
	fmt_mib(lim, sizeof(lim), mc->limit);
	fprintf(stderr,
		"tapir: %s: %" PRIu64 " packets, %" PRIu64 " TCP segments "
		"(%" PRIu64 " not TCP, %" PRIu64 " fragments, %" PRIu64
		" truncated, %" PRIu64 " malformed)%s\n",
		path, ss->packets, ss->tcp, ss->not_tcp, ss->fragments,
		ss->truncated, ss->malformed,
		ss->file_truncated ? ", file truncated" : "");
	fprintf(stderr,
		"tapir: %" PRIu64 " flows (%" PRIu64 " HTTP/1, %" PRIu64
		" HTTP/2, %" PRIu64 " other, %" PRIu64
		" picked up mid-stream), %" PRIu64 " calls (%" PRIu64
		" with errors)\n",
		fs->flows, st->http1_conns, st->h2_conns, st->other_conns,
		st->midstream_conns, st->calls, st->calls_with_errors);
	fprintf(stderr,
		"tapir: TLS sessions: %" PRIu64 " (%" PRIu64 " decrypted, %"
		PRIu64 " not: %" PRIu64 " without keys, %" PRIu64
		" unsupported cipher, %" PRIu64 " mid-session, %" PRIu64
		" bad records); keys loaded: %zu\n",
		st->tls_sessions, st->tls_decrypted, st->tls_undecrypted,
		ts->no_keys, ts->unsupported, ts->midstream, ts->bad_records,
		ks ? keystore_count(ks) : (size_t)0);
	fprintf(stderr,
		"tapir: gaps: %" PRIu64 " (%" PRIu64 " bytes), conflicting "
		"overlaps: %" PRIu64 ", bad checksums dropped: %" PRIu64
		" (validation %s), flows refused: %" PRIu64
		", memory peak %s of %s\n",
		fs->rs.gaps, fs->rs.gap_bytes, fs->rs.conflicts, ss->bad_csum,
		ss->csum_validation ? "on" :
		csum == CSUM_MODE_OFF ? "off" : "off: checksum offload seen",
		fs->flows_refused, peak, lim);
	if (fs->after_close)
		fprintf(stderr, "tapir: %" PRIu64 " late copies of segments of "
			"closed connections dropped\n", fs->after_close);
	if (st->write_errors)
		fprintf(stderr, "tapir: %" PRIu64 " records could not be "
			"written\n", st->write_errors);
	coverage_print(t->cov, stderr, 20);
}

enum { OPT_CHECKSUM = 0x100 };

/* pcapng_scan_dsb_file() callback: every key log line of a DSB. */
static void dsb_keys(void *ctx, const uint8_t *b, size_t n)
{
	struct keystore *ks = ctx;
	size_t i = 0;

	while (i < n) {
		const uint8_t *nl = memchr(b + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (b + i)) : n - i;

		keystore_add_line(ks, (const char *)b + i, len);
		i += len + 1;
	}
}

int cmd_read(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keylog", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "coverage", required_argument, NULL, 'V' },
		{ "max-body", required_argument, NULL, 'B' },
		{ "hash-bodies", no_argument, NULL, 'H' },
		{ "memcap", required_argument, NULL, 'M' },
		{ "max-header-bytes", required_argument, NULL, 'X' },
		{ "idle-timeout", required_argument, NULL, 'T' },
		{ "checksum", required_argument, NULL, OPT_CHECKSUM },
		{ "threads", required_argument, NULL, 'j' },
		EXPORT_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keylogs[MAX_KEYLOGS];
	int nkeylogs = 0, opt, ret = 1, err;
	const char *out = NULL, *capture, *cov_path = NULL;
	enum csum_mode csum = CSUM_MODE_AUTO;
	struct engine_opts eo;
	struct export_opts xo;
	struct exporter *x = NULL;
	struct keystore *ks = NULL;
	struct json_sink *sink = NULL;
	struct engine *e = NULL;
	struct par *par = NULL;
	struct seg_consumer to;
	struct totals tot;
	struct engine_stats par_st;
	unsigned threads = 1;
	struct source_stats ss;
	bool quiet = false;
	char errbuf[512];
	uint64_t v;

	engine_opts_default(&eo);
	export_opts_default(&xo);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:o:j:qvhC:G:W:", longopts,
				  NULL)) != -1) {
		err = export_parse_opt(&xo, opt, optarg);
		if (err < 0)
			return 2;
		if (err > 0)
			continue;
		switch (opt) {
		case 'k':
			if (nkeylogs == MAX_KEYLOGS) {
				log_err("at most %d --keylog files", MAX_KEYLOGS);
				return 2;
			}
			keylogs[nkeylogs++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'V':
			cov_path = optarg;
			break;
		case 'B':
			if (parse_size(optarg, &v) || v > (1ULL << 30))
				return bad_value("--max-body", optarg);
			eo.body.max_keep = (size_t)v;
			break;
		case 'H':
			eo.body.hash = true;
			break;
		case 'M':
			if (parse_size(optarg, &v) || v < (1 << 20))
				return bad_value("--memcap (at least 1M)", optarg);
			eo.memcap = v;
			break;
		case 'X':
			if (parse_size(optarg, &v) || v < 1024 || v > (64u << 20))
				return bad_value("--max-header-bytes (1K..64M)", optarg);
			eo.max_header_bytes = (uint32_t)v;
			break;
		case 'T':
			if (parse_uint(optarg, 1, 86400 * 365, &v))
				return bad_value("--idle-timeout", optarg);
			eo.idle_timeout_ns = v * 1000000000ULL;
			break;
		case 'j':
			if (parse_uint(optarg, 1, PAR_MAX_THREADS, &v))
				return bad_value("--threads (1..16)", optarg);
			threads = (unsigned)v;
			break;
		case OPT_CHECKSUM:
			if (!strcmp(optarg, "auto"))
				csum = CSUM_MODE_AUTO;
			else if (!strcmp(optarg, "on"))
				csum = CSUM_MODE_ON;
			else if (!strcmp(optarg, "off"))
				csum = CSUM_MODE_OFF;
			else
				return bad_value("--checksum", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			tapir_log_level++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_err(optind >= argc ? "no capture file given" :
			"exactly one capture file expected");
		usage(stderr);
		return 2;
	}
	capture = argv[optind];
	if (export_opts_check(&xo))
		return 2;

	ks = keystore_new(1u << 20);
	/* keys in the capture itself (a pcapng export of ours, Wireshark's
	 * editcap --inject-secrets) */
	if (strcmp(capture, "-")) {
		err = pcapng_scan_dsb_file(capture, 1u << 20, dsb_keys, ks);
		if (err == -EBADMSG)
			log_warn("%s: malformed pcapng block (keys before it "
				 "were read)", capture);
		else if (err > 0)
			log_info("%s: %d decryption secrets blocks", capture,
				 err);
	}
	if (nkeylogs) {
		for (int i = 0; i < nkeylogs; i++) {
			err = keystore_load_file(ks, keylogs[i]);
			if (err < 0) {
				log_err("cannot read key log %s: %s", keylogs[i],
					strerror(-err));
				goto cleanup;
			}
		}
	}
	if (!nkeylogs && !keystore_count(ks)) {
		keystore_free(ks);	/* as before: no keys, no store */
		ks = NULL;
	}
	sink = json_sink_open(out, false);
	if (!sink) {
		log_err("cannot open output %s: %s", out, strerror(errno));
		goto cleanup;
	}
	if (threads > 1) {
		par = par_new(threads, &eo, ks, sink);	/* logs */
		if (!par)
			goto cleanup;
		to = (struct seg_consumer){ par_push, par_finish, par };
	} else {
		e = engine_new(&eo, ks, sink);
		if (!e) {
			log_err("cannot set up the pipeline");
			goto cleanup;
		}
		to = engine_consumer(e);
	}
	if (xo.path) {
		xo.linktype = source_pcap_linktype(capture);
		if (xo.linktype < 0) {
			log_err("%s: export needs a capture file that can be "
				"opened twice (not stdin)", capture);
			goto cleanup;
		}
		/* an export that cannot start is an error; the calls are
		 * still written */
		x = export_new(&xo, ks, errbuf, sizeof(errbuf));	/* logs */
	}
	err = source_pcap_run(capture, csum, &to, x, &ss, errbuf, sizeof(errbuf));
	if (err) {
		log_err("%s", errbuf);
		goto cleanup;
	}
	if (par) {
		const struct par_totals *pt = par_totals(par);

		json_sink_flush(sink);
		par_st = pt->st;
		par_st.write_errors = json_sink_lost(sink);
		tot = (struct totals){ &par_st, &pt->fs, &pt->ts, &pt->mc,
				       pt->cov };
		if (pt->unpinned)
			log_info("%" PRIu64 " segments went to a worker by "
				 "hash (connection table full)", pt->unpinned);
	} else {
		engine_flush_output(e);		/* before the summary counts */
		tot = (struct totals){ engine_stats(e), engine_flow_stats(e),
				       engine_tls_stats(e), engine_memcap(e),
				       engine_coverage(e) };
	}
	ret = tot.st->write_errors ? 1 : 0;
	if (x && export_finish(x))
		ret = 1;
	if (xo.path && !x)
		ret = 1;
	if (!quiet) {
		print_summary(capture, csum, &ss, &tot, ks);
		if (x)
			export_print(x, stderr);
	}
	if (cov_path) {
		err = coverage_write_file(tot.cov, cov_path);
		if (err) {
			log_err("cannot write coverage %s: %s", cov_path,
				strerror(-err));
			ret = 1;
		}
	}
cleanup:
	export_free(x);
	par_free(par);		/* unfinished (unusable capture): ends the threads */
	engine_free(e);
	if (sink && json_sink_close(sink) && ret == 0) {
		log_err("writing %s failed", out ? out : "stdout");
		ret = 1;
	}
	keystore_free(ks);
	return ret;
}
