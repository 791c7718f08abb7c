/* source_pcap.h - the offline source: a pcap/pcapng file through libpcap.
 *
 * Owns: the pcap handle and a bounded read-ahead buffer used once, at the
 * start, to decide whether TCP checksums can be trusted.  Does not own the
 * consumer it feeds.
 *
 * Checksums (as Suricata's checksum-validation: auto): the first
 * CSUM_PROBE_PKTS TCP segments whose checksum is verifiable are read ahead;
 * if more than 10% of them are bad, the capture was taken where checksum
 * offload leaves them unfilled (the capturing host's own packets) and
 * validation is switched off for the whole file.  Otherwise segments with
 * a bad checksum are dropped and counted.
 */
#ifndef TAPIR_SOURCE_PCAP_H
#define TAPIR_SOURCE_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "export.h"

#define CSUM_PROBE_PKTS 1000

enum csum_mode { CSUM_MODE_AUTO = 0, CSUM_MODE_ON, CSUM_MODE_OFF };

struct source_stats {
	uint64_t packets, bytes;
	uint64_t tcp, not_tcp, fragments, truncated, malformed, unsupported;
	uint64_t bad_csum;		/* dropped for a bad TCP checksum */
	bool csum_validation;		/* the mode in force after probing */
	bool file_truncated;		/* the file ended mid-record */
	uint64_t first_ts_ns, last_ts_ns;
};

/* Read path: its TCP segments into the consumer to (finished at the end
 * of a usable file), each frame as it is into x (NULL: no export; the
 * caller sets x's linktype from source_pcap_linktype()).  Returns 0 (also
 * for a truncated file: a warning, and st->file_truncated), or -errno with
 * a one-line message in err when the input is unusable (cannot open, not
 * a capture, unsupported link type). */
int source_pcap_run(const char *path, enum csum_mode csum,
		    const struct seg_consumer *to, struct exporter *x,
		    struct source_stats *st, char *err, size_t errlen);
/* The link type of a capture file (DLT_*), or -errno / -EINVAL. */
int source_pcap_linktype(const char *path);

#endif
