/* par.h - `tapir read --threads N`: the engine run as N workers, each with
 * its own flows.
 *
 * The reading thread decodes packets (source_pcap.c) and hands each
 * segment to par_push(), which sends it to the worker that owns its
 * connection; each worker is a whole engine (flow table, TLS, HTTP, its
 * share of the memcap) in a thread of its own, and a writer thread puts
 * the workers' records into the one output in a fixed order.  Same input,
 * same N: same output, byte for byte.  Against --threads 1 the records
 * are the same but their order differs: records of different connections
 * completed close together may come out the other way round.
 *
 * Memory outside the memcap (which the workers share out): the connection
 * table (16,384 entries, ~0.9 MiB) and per worker up to 3 input batches
 * (~0.7 MiB each) and 19 record buffers of 256 KiB (8 queued for the
 * writer, 10 kept for reuse, its sink's), so ~1 MiB + N x 7 MiB
 * (tests/e2e/attacks.sh holds -j2 to it under attack); a record over
 * 64 KiB makes its buffer larger until the writer is done with it.
 *
 * Owns: the workers (engine, JSON formatting sink, threads), the batches
 * and record chunks between the threads, the connection-to-worker table.
 * Borrows: the key store (read-only while workers run) and the output sink.
 */
#ifndef TAPIR_PAR_H
#define TAPIR_PAR_H

#include <stdint.h>

#include "coverage.h"
#include "engine.h"
#include "json.h"
#include "keystore.h"
#include "segment.h"

#define PAR_MAX_THREADS 16

struct par;

/* The sum over the workers, valid after par_finish() until par_free().
 * memcap: limit and peak are the sums of the workers' (the peak an upper
 * bound: the workers' peaks need not coincide). */
struct par_totals {
	struct engine_stats st;
	struct flow_stats fs;
	struct tls_stats ts;
	struct memcap mc;
	struct coverage *cov;
	uint64_t unpinned;	/* connections sent by hash: table full */
};

/* nthreads workers (2..PAR_MAX_THREADS), each an engine with o but a
 * 1/nthreads share of o->memcap and o->max_flows.  Records go to out.
 * Returns NULL (and logs why) if a thread or engine cannot be set up. */
struct par *par_new(unsigned nthreads, const struct engine_opts *o,
		    struct keystore *ks, struct json_sink *out);
/* The seg_consumer callbacks (source_pcap.h); ctx is the struct par.
 * par_push copies the segment; it waits when the workers are behind. */
int par_push(void *ctx, const struct seg *s);
/* End of input: every worker finishes its flows, the writer writes the
 * last records, the threads end and the totals are summed. */
void par_finish(void *ctx, uint64_t now_ns);
const struct par_totals *par_totals(const struct par *p);
void par_free(struct par *p);		/* accepts NULL; after par_finish */

#endif
