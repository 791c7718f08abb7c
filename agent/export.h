/* export.h - the packet export sink: pcap / pcapng (+ keys) with rotation.
 *
 * Owns: the export file(s) (export_file.h), the export filter, the flows it
 * has seen (only to know each TLS session's client_random) and the packets
 * held while a session's keys are not known yet.  Borrows the key store.
 *
 * Input: `tapir read` hands each original frame (export_frame, with its
 * decoded segment when it is TCP); live capture hands segments after the
 * duplicate filter (export_seg), which are rebuilt into frames (frame.h).
 *
 * Keys (pcapng only): a TLS flow's client_random is read from its
 * ClientHello.  Before the first packet of that flow in a file, a DSB with
 * the key log lines of that client_random (only those) is written, so each
 * file - rotation included - carries the keys of its own sessions, ahead
 * of the packets that need them (tshark 4.0 ignores a DSB that comes after
 * them).  When the keys are not known yet (live: the client writes them
 * after the handshake), the flow's packets are held (key_hold_bytes in
 * all) until they arrive (export_keys_added), then DSB and packets are
 * written; after key_wait_ns, or when the hold is full (oldest first),
 * they are written without keys and counted.  Other flows go on being
 * written meanwhile, so a file is not in strict time order then.
 *
 * Rotation as tcpdump: rotate_bytes (-C, in units of 1,000,000 bytes),
 * rotate_ns (-G, capture time), max_files (-W: a ring; the oldest file is
 * removed - or, with numbered names, overwritten - so exactly W remain).
 * Names: -G with a '%' in the name: strftime() of the file's start time
 * (UTC); -G without: NAME.<n>; -C or -W alone: NAME<n>; none: NAME.
 *
 * Errors: a file that cannot be created or written stops the export (the
 * reason is kept, see export_error()); what was written stays complete on
 * disk.  The caller's JSON output is not affected.
 */
#ifndef TAPIR_EXPORT_H
#define TAPIR_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export_file.h"
#include "keystore.h"
#include "netfilter.h"
#include "segment.h"

struct export_opts {
	const char *path;		/* NULL: no export */
	enum export_format fmt;
	uint32_t snaplen;		/* --pcap-snaplen; 0 = 262144 */
	uint64_t rotate_bytes;		/* -C MB (bytes here); 0 = off */
	uint64_t rotate_ns;		/* -G SECONDS; 0 = off */
	uint32_t max_files;		/* -W; 0 = unlimited */
	uint64_t key_hold_bytes;	/* --pcap-key-hold (default 16M) */
	uint64_t key_wait_ns;		/* 0: no hold (keys known up front) */
	int linktype;			/* DLT_ of the frames */
	struct netfilter filter;	/* empty: everything */
	/* interface names for IDBs; NULL: if_indextoname() */
	const char *(*ifname)(void *ctx, uint32_t ifindex);
	void *ifname_ctx;
};

struct export_stats {
	uint64_t packets, bytes;	/* written (captured bytes) */
	uint64_t filtered;		/* not matching the export filter */
	uint64_t snapped;		/* cut at snaplen */
	uint64_t files;			/* finished files */
	uint64_t dsbs;			/* key blocks written */
	uint64_t tls_sessions;		/* ClientHellos seen */
	uint64_t held;			/* packets that waited for keys */
	uint64_t released_timeout;	/* sessions written without keys: key_wait */
	uint64_t released_full;		/* ...: hold full */
	uint64_t released_nokeys;	/* ...: no wait (read) or at the end */
	uint64_t lost;			/* not written: export stopped */
	uint64_t flows_evicted;
	uint64_t hold_peak;		/* bytes */
	bool stopped;
};

void export_opts_default(struct export_opts *o);

/* The options shared by read, capture and span: entries for getopt_long's
 * table (short options "C:G:W:" go in the optstring), and their parser.
 * export_parse_opt() returns 1 if opt was one of them (handled), 0 if not,
 * -EINVAL for a bad value (logged). */
enum {
	EXPORT_OPT_PCAP = 0x200,
	EXPORT_OPT_PCAPNG,
	EXPORT_OPT_SNAPLEN,
	EXPORT_OPT_PORT,
	EXPORT_OPT_NET,
	EXPORT_OPT_XNET,
	EXPORT_OPT_KEY_HOLD,
};
#define EXPORT_LONGOPTS                                                    \
	{ "pcap", required_argument, NULL, EXPORT_OPT_PCAP },              \
	{ "pcapng", required_argument, NULL, EXPORT_OPT_PCAPNG },          \
	{ "pcap-snaplen", required_argument, NULL, EXPORT_OPT_SNAPLEN },   \
	{ "pcap-key-hold", required_argument, NULL, EXPORT_OPT_KEY_HOLD }, \
	{ "export-port", required_argument, NULL, EXPORT_OPT_PORT },       \
	{ "export-net", required_argument, NULL, EXPORT_OPT_NET },         \
	{ "export-exclude-net", required_argument, NULL, EXPORT_OPT_XNET }, \
	{ "rotate-size", required_argument, NULL, 'C' },                   \
	{ "rotate-seconds", required_argument, NULL, 'G' },                \
	{ "rotate-files", required_argument, NULL, 'W' }
#define EXPORT_USAGE                                                          \
	"      --pcap FILE           export the packets as classic pcap (libpcap)\n" \
	"      --pcapng FILE         export as pcapng with the TLS keys (DSB) of the\n" \
	"                            sessions in each file\n"                   \
	"      --pcap-snaplen N      bytes kept per exported packet (default 262144)\n" \
	"      --pcap-key-hold BYTES packets waiting for their keys (default 16M)\n" \
	"      --export-port P       export only flows with port P; repeatable\n" \
	"      --export-net CIDR     export only flows with an end in CIDR; repeatable\n" \
	"      --export-exclude-net CIDR  never export flows with an end in CIDR\n" \
	"  -C, --rotate-size MB      new export file after MB x 1,000,000 bytes\n" \
	"  -G, --rotate-seconds SECS new export file every SECS (strftime name)\n" \
	"  -W, --rotate-files COUNT  keep only the last COUNT export files\n"
int export_parse_opt(struct export_opts *o, int opt, const char *arg);
/* After parsing: -EINVAL (logged) if the combination is not valid. */
int export_opts_check(const struct export_opts *o);

struct exporter;

/* NULL and a message in err, also logged (the export is then off), on a
 * bad option or a file that cannot be created. */
struct exporter *export_new(const struct export_opts *o, struct keystore *ks,
			    char *err, size_t errlen);
/* One original frame (read).  s: its decoded TCP segment, NULL if it is
 * not TCP. */
void export_frame(struct exporter *x, uint32_t ifindex, uint64_t ts_ns,
		  const uint8_t *data, uint32_t caplen, uint32_t wire_len,
		  const struct seg *s);
/* One live segment: rebuilt into frames. */
void export_seg(struct exporter *x, const struct seg *s);
/* New keys in the store: held flows whose keys came are written. */
void export_keys_added(struct exporter *x);
/* Capture time now: held flows past key_wait_ns are written, -G rotates. */
void export_tick(struct exporter *x, uint64_t now_ns);
/* Write what is held (without keys if they never came), finish the file.
 * 0 or the -errno that stopped the export. */
int export_finish(struct exporter *x);
void export_free(struct exporter *x);	/* accepts NULL; finishes first */
const struct export_stats *export_stats(const struct exporter *x);
/* Why the export stopped ("" if it did not): never contains key bytes. */
const char *export_error(const struct exporter *x);
/* One summary line on f. */
void export_print(const struct exporter *x, FILE *f);

#endif
