/* source_pcap.c - offline source: libpcap -> decode -> consumer (see
 * source_pcap.h).  Packets are handed on in file order; the read-ahead
 * used for the checksum decision keeps that order. */
#include "source_pcap.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decode.h"
#include "util.h"

#define PROBE_MAX_BYTES (8u << 20)
/* stdio buffer under libpcap: large enough that reads are few, small
 * enough to stay in cache and to cost few page faults (each one is
 * expensive in a VM; 256 KiB measured 18% faster than 4 MiB here). */
#define FILE_BUF (256u << 10)

struct held_pkt {
	uint64_t ts_ns;
	uint32_t caplen, len;
	uint8_t *data;
};

static uint64_t hdr_ts_ns(const struct pcap_pkthdr *h, bool nano)
{
	return (uint64_t)h->ts.tv_sec * 1000000000ULL +
	       (uint64_t)h->ts.tv_usec * (nano ? 1ULL : 1000ULL);
}

/* Decode one frame and hand it on per the checksum policy. */
static void handle(int dlt, const uint8_t *pkt, uint32_t caplen, uint32_t len,
		   uint64_t ts, const struct seg_consumer *to,
		   struct exporter *x, struct source_stats *st)
{
	struct seg s;
	int r = decode_packet(dlt, pkt, caplen,
			      st->csum_validation ? 0 : DECODE_F_NO_CSUM, &s);

	/* export: every original frame, whatever it is */
	if (x) {
		s.ts_ns = ts;
		export_frame(x, 0, ts, pkt, caplen, len,
			     r == DECODE_TCP ? &s : NULL);
	}
	switch (r) {
	case DECODE_TCP:
		break;
	case DECODE_NOT_TCP: st->not_tcp++; return;
	case DECODE_FRAGMENT: st->fragments++; return;
	case DECODE_TRUNCATED: st->truncated++; return;
	case DECODE_UNSUPPORTED_LINK: st->unsupported++; return;
	default: st->malformed++; return;
	}
	st->tcp++;
	if (st->csum_validation && s.csum == CSUM_BAD) {
		st->bad_csum++;
		return;
	}
	s.ts_ns = ts;
	to->push(to->ctx, &s);
}

static void count_ts(struct source_stats *st, uint64_t ts)
{
	if (!st->first_ts_ns || ts < st->first_ts_ns)
		st->first_ts_ns = ts;
	if (ts > st->last_ts_ns)
		st->last_ts_ns = ts;
}

/* Checksum probe of a regular file, in a pass of its own over its first
 * segments (no copies; the main pass then reads from the start).  Sets
 * *on to the decision; false when the file cannot be read that way. */
static bool probe_file(const char *path, int dlt, bool *on)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const uint8_t *pkt;
	uint64_t ok = 0, bad = 0, bytes = 0, n = 0;
	pcap_t *p;
	FILE *fp = fopen(path, "rbe");
	char *fbuf;

	if (!fp)
		return false;
	fbuf = malloc(FILE_BUF);
	if (fbuf)
		setvbuf(fp, fbuf, _IOFBF, FILE_BUF);
	p = pcap_fopen_offline_with_tstamp_precision(fp,
						     PCAP_TSTAMP_PRECISION_NANO,
						     ebuf);
	if (!p) {
		fclose(fp);
		free(fbuf);
		return false;
	}
	if (pcap_datalink(p) != dlt) {
		pcap_close(p);
		free(fbuf);
		return false;
	}
	while (ok + bad < CSUM_PROBE_PKTS && n < CSUM_PROBE_PKTS * 4 &&
	       bytes < PROBE_MAX_BYTES && pcap_next_ex(p, &h, &pkt) == 1) {
		struct seg s;

		n++;
		bytes += h->caplen;
		if (decode_packet(dlt, pkt, h->caplen, 0, &s) == DECODE_TCP) {
			if (s.csum == CSUM_OK)
				ok++;
			else if (s.csum == CSUM_BAD)
				bad++;
		}
	}
	pcap_close(p);	/* closes fp */
	free(fbuf);
	*on = bad * 10 <= ok + bad;
	return true;
}

static bool is_regular(FILE *fp)
{
	struct stat sb;

	return !fstat(fileno(fp), &sb) && S_ISREG(sb.st_mode);
}

int source_pcap_run(const char *path, enum csum_mode csum,
		    const struct seg_consumer *to, struct exporter *x,
		    struct source_stats *st, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const uint8_t *pkt;
	struct held_pkt *held = NULL;
	size_t nheld = 0, held_bytes = 0;
	uint64_t probe_ok = 0, probe_bad = 0;
	bool probing = csum == CSUM_MODE_AUTO;
	bool nano;
	int dlt, r, ret = 0;
	pcap_t *p;
	FILE *fp;
	char *fbuf;

	memset(st, 0, sizeof(*st));
	/* Our own FILE with a large buffer: libpcap reads record by record,
	 * and stdio's default 4 KiB buffer makes that a syscall storm. */
	fp = strcmp(path, "-") ? fopen(path, "rbe") : stdin;
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	fbuf = malloc(FILE_BUF);
	if (fbuf)
		setvbuf(fp, fbuf, _IOFBF, FILE_BUF);
	p = pcap_fopen_offline_with_tstamp_precision(fp,
						     PCAP_TSTAMP_PRECISION_NANO,
						     ebuf);
	if (!p) {
		snprintf(err, errlen, "%s: %s", path, ebuf);
		if (fp != stdin)
			fclose(fp);
		free(fbuf);
		return -EINVAL;
	}
	nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	dlt = pcap_datalink(p);
	if (!decode_linktype_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		snprintf(err, errlen, "%s: unsupported link type %d (%s)", path,
			 dlt, name ? name : "unknown");
		pcap_close(p);
		free(fbuf);
		return -ENOTSUP;
	}
	st->csum_validation = csum != CSUM_MODE_OFF;
	/* a regular file is probed in a pass of its own; a pipe by holding
	 * copies of what was read ahead */
	if (probing && fp != stdin && is_regular(fp) &&
	    probe_file(path, dlt, &st->csum_validation))
		probing = false;
	if (probing)
		held = xcalloc(CSUM_PROBE_PKTS * 4, sizeof(*held));

	while ((r = pcap_next_ex(p, &h, &pkt)) == 1) {
		uint64_t ts = hdr_ts_ns(h, nano);

		st->packets++;
		st->bytes += h->caplen;
		count_ts(st, ts);
		if (probing) {
			struct seg s;
			uint8_t *copy = malloc(h->caplen ? h->caplen : 1);

			if (!copy) {
				snprintf(err, errlen, "out of memory");
				ret = -ENOMEM;
				break;
			}
			memcpy(copy, pkt, h->caplen);
			held[nheld].ts_ns = ts;
			held[nheld].caplen = h->caplen;
			held[nheld].len = h->len;
			held[nheld].data = copy;
			nheld++;
			held_bytes += h->caplen;
			if (decode_packet(dlt, pkt, h->caplen, 0, &s) == DECODE_TCP) {
				if (s.csum == CSUM_OK)
					probe_ok++;
				else if (s.csum == CSUM_BAD)
					probe_bad++;
			}
			if (probe_ok + probe_bad < CSUM_PROBE_PKTS &&
			    nheld < CSUM_PROBE_PKTS * 4 &&
			    held_bytes < PROBE_MAX_BYTES)
				continue;
			/* decide, then replay what was held, in order */
			probing = false;
			st->csum_validation = probe_bad * 10 <= probe_ok + probe_bad;
			for (size_t i = 0; i < nheld; i++) {
				handle(dlt, held[i].data, held[i].caplen,
				       held[i].len, held[i].ts_ns, to, x, st);
				free(held[i].data);
			}
			nheld = 0;
			continue;
		}
		handle(dlt, pkt, h->caplen, h->len, ts, to, x, st);
	}
	if (r == PCAP_ERROR) {
		/* libpcap says "truncated dump file" and the like: what was
		 * read stands, the rest is missing */
		st->file_truncated = true;
		log_warn("%s: %s (read %llu packets)", path, pcap_geterr(p),
			 (unsigned long long)st->packets);
	}
	if (probing || nheld) {
		st->csum_validation = probe_bad * 10 <= probe_ok + probe_bad;
		for (size_t i = 0; i < nheld; i++) {
			if (!ret)
				handle(dlt, held[i].data, held[i].caplen,
				       held[i].len, held[i].ts_ns, to, x, st);
			free(held[i].data);
		}
	}
	free(held);
	if (!ret)
		to->finish(to->ctx, st->last_ts_ns);
	pcap_close(p);	/* closes fp */
	free(fbuf);
	return ret;
}

int source_pcap_linktype(const char *path)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	pcap_t *p;
	int dlt;

	if (!strcmp(path, "-"))
		return -EINVAL;
	p = pcap_open_offline(path, ebuf);
	if (!p)
		return -EINVAL;
	dlt = pcap_datalink(p);
	pcap_close(p);
	return dlt;
}
