/* par.c - flow-sharded workers for `tapir read --threads` (see par.h).
 *
 * Threads: the caller's (par_push: the dispatcher), one per worker and
 * one writer.  Input goes out in epochs: the dispatcher fills one batch
 * per worker and, every EPOCH_SEGS segments (sooner when a batch is full),
 * sends every worker its batch of the epoch, empty or not.  A worker
 * pushes its batch into its engine, hands the records that completed to
 * the writer as chunks, and ends the epoch with a marker.  The writer
 * takes epoch 0 of worker 0, of worker 1, ..., then epoch 1, and so on:
 * the output order depends on the input and N, never on thread timing.
 *
 * Bounds: BATCHES batches per worker (the dispatcher waits for a free one:
 * that is the backpressure), OUT_CHUNKS record chunks queued per worker
 * (the worker waits for the writer), each chunk at most a sink's flush
 * size or one record.  No deadlock: every epoch goes to all workers before
 * the next one does, so the worker the writer waits for has its batch, and
 * a worker waits only on the writer, which drains the queue it waits on.
 *
 * Which worker owns a connection.  New connections (a SYN) go round-robin
 * in the order they appear: a capture of a few long connections then
 * keeps every worker busy, which a hash of a few tuples would do only by
 * luck.  The choice is remembered in an open-addressed table keyed by the
 * canonical tuple (PIN_SLOTS, at most half full, PIN_PROBES probes).  A
 * tuple not in the table whose segment is not a SYN (a connection picked
 * up mid-stream), or that finds no room, goes to a fixed hash of the
 * tuple and is remembered with it when there is room, so all its segments
 * go to one worker.  Entries idle longer than the engine's idle timeout
 * (plus its tick) are dropped when the table fills, at most once per
 * second of capture time.  One case can split a connection: its first SYN
 * came while the table was full and a retransmitted SYN after it emptied;
 * the workers then both see part of it, as after a capture gap.
 */
#include "par.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http2.h"
#include "util.h"

#define EPOCH_SEGS 2048
#define BATCH_DATA (512u << 10)
#define BATCHES 3
#define OUT_CHUNKS 8
#define CHUNK_KEEP (256u << 10)	/* larger buffers are not kept */
#define PIN_SLOTS (1u << 14)
#define PIN_PROBES 64
#define NS 1000000000ULL

struct batch {
	struct batch *next;
	uint32_t nseg;
	bool finish;
	uint64_t ts;			/* the epoch's latest capture time */
	size_t dlen, dcap;
	uint8_t *data;
	struct seg segs[EPOCH_SEGS];	/* payload: an offset into data */
};

/* Records go from a worker's sink to the writer without a copy: the
 * sink's buffer becomes the chunk's, and the sink goes on in the buffer
 * the chunk had (see emit()). */
struct chunk {
	struct chunk *next;
	bool end, last;		/* end of an epoch; of the input */
	size_t len, cap;
	char *data;		/* malloc'd, or NULL with cap 0 */
};

/* Chunks the writer is done with go back to their worker with their
 * buffers (at most POOL_CHUNKS kept, a buffer only up to CHUNK_KEEP): a
 * fresh buffer per hand-over meant an mmap, its page faults and a munmap
 * each time, which in a VM cost more than copying. */
#define POOL_CHUNKS (OUT_CHUNKS + 2)

struct worker {
	struct par *p;
	pthread_t th;
	bool started;
	struct engine *e;
	struct json_sink *sink;
	uint64_t last_tick;
	/* mu guards the queues below; each waiter has its own condition
	 * (one thread waits on each), so a hand-over wakes only the thread
	 * that waits for it: a shared one woke the others for nothing, and
	 * in a VM each wakeup is costly */
	pthread_mutex_t mu;
	pthread_cond_t cv_free;		/* the dispatcher: a free batch */
	pthread_cond_t cv_work;		/* the worker: a batch to work on */
	pthread_cond_t cv_room;		/* the worker: room for a chunk */
	pthread_cond_t cv_out;		/* the writer: a chunk */
	struct batch *free, *work, **work_tail;
	struct chunk *out, **out_tail;
	unsigned nout;
	struct chunk *pool;		/* empty chunks for reuse */
	unsigned npool;
	/* filled by the worker when it ends, before its engine is freed */
	struct engine_stats st;
	struct flow_stats fs;
	struct tls_stats ts;
	struct memcap mc;
	struct coverage *cov;
};

struct pin_key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t family, pad[3];
};

struct pin {
	struct pin_key k;
	uint64_t last_ts;
	uint32_t used, worker;
};

struct par {
	unsigned n;
	struct worker *w;
	struct batch **cur;		/* being filled, per worker */
	uint32_t epoch_segs;
	uint64_t epoch_ts;
	struct json_sink *out;
	pthread_t writer;
	bool writer_started, finished;
	uint64_t idle_ns;
	/* connection -> worker */
	struct pin *pins;
	struct pin *last_pin;		/* the last segment's, or NULL */
	uint32_t npins, rr;
	uint64_t last_purge;
	struct par_totals tot;
};

/* ------------------------------------------------------------ queues */

static struct batch *take_free(struct worker *w)
{
	struct batch *b;

	pthread_mutex_lock(&w->mu);
	while (!w->free)
		pthread_cond_wait(&w->cv_free, &w->mu);
	b = w->free;
	w->free = b->next;
	pthread_mutex_unlock(&w->mu);
	b->next = NULL;
	b->nseg = 0;
	b->dlen = 0;
	b->finish = false;
	return b;
}

static void give_free(struct worker *w, struct batch *b)
{
	pthread_mutex_lock(&w->mu);
	b->next = w->free;
	w->free = b;
	pthread_cond_signal(&w->cv_free);
	pthread_mutex_unlock(&w->mu);
}

static void send_work(struct worker *w, struct batch *b)
{
	pthread_mutex_lock(&w->mu);
	b->next = NULL;
	*w->work_tail = b;
	w->work_tail = &b->next;
	pthread_cond_signal(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
}

static struct batch *take_work(struct worker *w)
{
	struct batch *b;

	pthread_mutex_lock(&w->mu);
	while (!w->work)
		pthread_cond_wait(&w->cv_work, &w->mu);
	b = w->work;
	w->work = b->next;
	if (!w->work)
		w->work_tail = &w->work;
	pthread_mutex_unlock(&w->mu);
	return b;
}

static void put_chunk(struct worker *w, struct chunk *c)
{
	pthread_mutex_lock(&w->mu);
	while (w->nout >= OUT_CHUNKS && !c->end)
		pthread_cond_wait(&w->cv_room, &w->mu);
	c->next = NULL;
	*w->out_tail = c;
	w->out_tail = &c->next;
	w->nout++;
	pthread_cond_signal(&w->cv_out);
	pthread_mutex_unlock(&w->mu);
}

static void chunk_free(struct chunk *c)
{
	if (c)
		free(c->data);
	free(c);
}

/* An empty chunk, from w's pool if it has one (with its buffer). */
static struct chunk *new_chunk(struct worker *w)
{
	struct chunk *c;

	pthread_mutex_lock(&w->mu);
	c = w->pool;
	if (c) {
		w->pool = c->next;
		w->npool--;
	}
	pthread_mutex_unlock(&w->mu);
	if (!c) {
		c = xmalloc(sizeof(*c));
		c->data = NULL;
		c->cap = 0;
	}
	c->end = c->last = false;
	c->len = 0;
	return c;
}

static void drop_chunk(struct worker *w, struct chunk *c)
{
	if (c->cap > CHUNK_KEEP) {
		free(c->data);
		c->data = NULL;
		c->cap = 0;
	}
	pthread_mutex_lock(&w->mu);
	if (w->npool < POOL_CHUNKS) {
		c->next = w->pool;
		w->pool = c;
		w->npool++;
		c = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	chunk_free(c);
}

static struct chunk *take_chunk(struct worker *w)
{
	struct chunk *c;

	pthread_mutex_lock(&w->mu);
	while (!w->out)
		pthread_cond_wait(&w->cv_out, &w->mu);
	c = w->out;
	w->out = c->next;
	if (!w->out)
		w->out_tail = &w->out;
	if (w->nout-- == OUT_CHUNKS)
		pthread_cond_signal(&w->cv_room);
	pthread_mutex_unlock(&w->mu);
	return c;
}

/* ----------------------------------------------------------- threads */

/* The worker's sink: the records its engine formatted become a chunk,
 * buffer and all, and the sink gets the chunk's buffer to go on in. */
static void emit(void *ctx, struct jbuf *b)
{
	struct chunk *c = new_chunk(ctx);
	char *spare = c->data;
	size_t spare_cap = c->cap;

	c->data = b->p;
	c->cap = b->cap;
	c->len = b->len;
	b->p = spare;
	b->cap = spare_cap;
	b->len = 0;
	put_chunk(ctx, c);
}

static void end_epoch(struct worker *w, bool last)
{
	struct chunk *c = new_chunk(w);

	c->end = true;
	c->last = last;
	put_chunk(w, c);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bool last;

	do {
		struct batch *b = take_work(w);

		for (uint32_t i = 0; i < b->nseg; i++) {
			struct seg s = b->segs[i];

			s.payload = b->data + (uintptr_t)s.payload;
			engine_push(w->e, &s);
		}
		last = b->finish;
		if (last) {
			engine_finish(w->e, b->ts);
		} else if (b->ts >= w->last_tick + NS) {
			/* capture time passed for this worker's idle flows
			 * too, even when none of the epoch was its */
			engine_tick(w->e, b->ts);
			w->last_tick = b->ts;
		}
		json_sink_flush(w->sink);
		give_free(w, b);
		if (last) {
			/* the totals, then the engine goes in this thread
			 * (its allocators' free lists are per thread) */
			w->st = *engine_stats(w->e);
			w->fs = *engine_flow_stats(w->e);
			w->ts = *engine_tls_stats(w->e);
			w->mc = *engine_memcap(w->e);
			w->cov = coverage_new();
			coverage_merge(w->cov, engine_coverage(w->e));
			engine_free(w->e);
			w->e = NULL;
			json_sink_flush(w->sink);
			h2_thread_cleanup();
			call_thread_cleanup();
		}
		end_epoch(w, last);
	} while (!last);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct par *p = arg;
	bool last = false;

	while (!last) {
		for (unsigned i = 0; i < p->n; i++) {
			for (;;) {
				struct chunk *c = take_chunk(&p->w[i]);

				if (c->end) {
					last = c->last;
					drop_chunk(&p->w[i], c);
					break;
				}
				json_sink_put(p->out, c->data, c->len);
				drop_chunk(&p->w[i], c);
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------- connection owners */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static uint64_t pin_hash(const struct pin_key *k)
{
	uint64_t w[5], h = 0x243f6a8885a308d3ULL;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++)
		h = mix(h, w[i]);
	return h;
}

/* The tuple with the lower (address, port) end first. */
static void pin_key_of(const struct seg *s, struct pin_key *k)
{
	size_t al = s->family == 4 ? 4 : 16;
	int c = memcmp(s->src, s->dst, al);
	bool swap = c > 0 || (c == 0 && s->sport > s->dport);

	memset(k, 0, sizeof(*k));
	k->family = s->family;
	memcpy(k->a, swap ? s->dst : s->src, al);
	memcpy(k->b, swap ? s->src : s->dst, al);
	k->pa = swap ? s->dport : s->sport;
	k->pb = swap ? s->sport : s->dport;
}

static struct pin *pin_slot(struct pin *tab, const struct pin_key *k,
			    bool *found)
{
	uint32_t i = (uint32_t)pin_hash(k) & (PIN_SLOTS - 1);

	for (int n = 0; n < PIN_PROBES; n++, i = (i + 1) & (PIN_SLOTS - 1)) {
		if (!tab[i].used) {
			*found = false;
			return &tab[i];
		}
		if (!memcmp(&tab[i].k, k, sizeof(*k))) {
			*found = true;
			return &tab[i];
		}
	}
	*found = false;
	return NULL;
}

/* Drop entries idle past the engine's timeout (and its one-second tick). */
static void pin_purge(struct par *p, uint64_t now)
{
	struct pin *old = p->pins, *tab = xcalloc(PIN_SLOTS, sizeof(*tab));

	p->npins = 0;
	for (uint32_t i = 0; i < PIN_SLOTS; i++) {
		struct pin *e;
		bool found;

		if (!old[i].used || old[i].last_ts + p->idle_ns + 2 * NS < now)
			continue;
		e = pin_slot(tab, &old[i].k, &found);
		if (e) {
			*e = old[i];
			p->npins++;
		}
	}
	free(old);
	p->pins = tab;
	p->last_pin = NULL;
	p->last_purge = now;
}

static unsigned owner(struct par *p, const struct seg *s)
{
	struct pin_key k;
	struct pin *e;
	bool found, syn = (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
	uint64_t h;

	pin_key_of(s, &k);
	/* mostly the connection of the segment before */
	e = p->last_pin;
	found = e && !memcmp(&e->k, &k, sizeof(k));
	if (!found)
		e = pin_slot(p->pins, &k, &found);
	if (found) {
		e->last_ts = s->ts_ns;
		p->last_pin = e;
		return e->worker;
	}
	h = pin_hash(&k);
	if (p->npins >= PIN_SLOTS / 2 &&
	    s->ts_ns >= p->last_purge + NS) {
		pin_purge(p, s->ts_ns);
		e = pin_slot(p->pins, &k, &found);
	}
	if (!e || p->npins >= PIN_SLOTS / 2) {
		p->tot.unpinned++;
		return (unsigned)((h >> 32) % p->n);
	}
	e->k = k;
	e->used = 1;
	e->last_ts = s->ts_ns;
	e->worker = syn ? p->rr++ % p->n : (unsigned)((h >> 32) % p->n);
	p->npins++;
	p->last_pin = e;
	return e->worker;
}

/* -------------------------------------------------------- dispatcher */

static void send_epoch(struct par *p, bool finish, uint64_t now)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct batch *b = p->cur[i] ? p->cur[i] : take_free(&p->w[i]);

		b->ts = finish ? now : p->epoch_ts;
		b->finish = finish;
		p->cur[i] = NULL;
		send_work(&p->w[i], b);
	}
	p->epoch_segs = 0;
}

int par_push(void *ctx, const struct seg *s)
{
	struct par *p = ctx;
	unsigned i = owner(p, s);
	struct batch *b = p->cur[i];

	if (!b)
		b = p->cur[i] = take_free(&p->w[i]);
	if (b->nseg == EPOCH_SEGS || b->dlen + s->len > b->dcap) {
		if (b->nseg) {
			send_epoch(p, false, 0);
			b = p->cur[i] = take_free(&p->w[i]);
		}
		if (s->len > b->dcap) {	/* one segment larger than a batch */
			free(b->data);
			b->data = xmalloc(s->len);
			b->dcap = s->len;
		}
	}
	b->segs[b->nseg] = *s;
	b->segs[b->nseg].payload = (const uint8_t *)(uintptr_t)b->dlen;
	if (s->len)
		memcpy(b->data + b->dlen, s->payload, s->len);
	b->dlen += s->len;
	b->nseg++;
	if (s->ts_ns > p->epoch_ts)
		p->epoch_ts = s->ts_ns;
	if (++p->epoch_segs >= EPOCH_SEGS)
		send_epoch(p, false, 0);
	return 0;
}

static void add_u64s(uint64_t *d, const uint64_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] += s[i];
}

#define ADD_ALL(d, s) do { \
	_Static_assert(sizeof(d) % sizeof(uint64_t) == 0, "u64 fields"); \
	add_u64s((uint64_t *)&(d), (const uint64_t *)&(s), \
		 sizeof(d) / sizeof(uint64_t)); \
} while (0)

void par_finish(void *ctx, uint64_t now_ns)
{
	struct par *p = ctx;

	if (p->finished)
		return;
	send_epoch(p, true, now_ns);
	for (unsigned i = 0; i < p->n; i++) {
		pthread_join(p->w[i].th, NULL);
		p->w[i].started = false;
	}
	pthread_join(p->writer, NULL);
	p->writer_started = false;
	p->finished = true;
	p->tot.cov = coverage_new();
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		ADD_ALL(p->tot.st, w->st);
		ADD_ALL(p->tot.fs, w->fs);
		ADD_ALL(p->tot.ts, w->ts);
		ADD_ALL(p->tot.mc, w->mc);
		coverage_merge(p->tot.cov, w->cov);
	}
	p->tot.st.write_errors = 0;	/* the caller's sink counts them */
}

const struct par_totals *par_totals(const struct par *p)
{
	return &p->tot;
}

/* --------------------------------------------------------- lifecycle */

struct par *par_new(unsigned nthreads, const struct engine_opts *o,
		    struct keystore *ks, struct json_sink *out)
{
	struct par *p;
	struct engine_opts wo = *o;
	int err;

	if (nthreads < 2 || nthreads > PAR_MAX_THREADS)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->n = nthreads;
	p->out = out;
	p->idle_ns = o->idle_timeout_ns;
	p->pins = xcalloc(PIN_SLOTS, sizeof(*p->pins));
	p->w = xcalloc(nthreads, sizeof(*p->w));
	p->cur = xcalloc(nthreads, sizeof(*p->cur));
	wo.memcap = o->memcap / nthreads;
	wo.max_flows = (o->max_flows + nthreads - 1) / nthreads;
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &p->w[i];

		w->p = p;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv_free, NULL);
		pthread_cond_init(&w->cv_work, NULL);
		pthread_cond_init(&w->cv_room, NULL);
		pthread_cond_init(&w->cv_out, NULL);
		w->work_tail = &w->work;
		w->out_tail = &w->out;
		for (int j = 0; j < BATCHES; j++) {
			struct batch *b = xmalloc(sizeof(*b));

			b->dcap = BATCH_DATA;
			b->data = xmalloc(BATCH_DATA);
			b->next = w->free;
			w->free = b;
		}
		w->sink = json_sink_open_cb(emit, w);
		w->e = engine_new(&wo, ks, w->sink);
		if (!w->e) {
			log_err("cannot set up worker %u", i);
			goto fail;
		}
	}
	for (unsigned i = 0; i < nthreads; i++) {
		err = pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]);
		if (err) {
			log_err("cannot start worker thread: %s", strerror(err));
			goto fail;
		}
		p->w[i].started = true;
	}
	err = pthread_create(&p->writer, NULL, writer_main, p);
	if (err) {
		log_err("cannot start writer thread: %s", strerror(err));
		goto fail;
	}
	p->writer_started = true;
	return p;
fail:
	par_free(p);
	return NULL;
}

void par_free(struct par *p)
{
	if (!p)
		return;
	if (!p->finished) {
		/* set-up failed part way: end the threads that started (each
		 * finishes an empty engine), then the writer if it ran */
		for (unsigned i = 0; i < p->n; i++) {
			struct worker *w = &p->w[i];

			if (!w->started)
				continue;
			struct batch *b = take_free(w);

			b->finish = true;
			b->ts = 0;
			send_work(w, b);
			pthread_join(w->th, NULL);
			if (!p->writer_started) {
				while (w->out) {
					struct chunk *c = w->out;

					w->out = c->next;
					chunk_free(c);
				}
			}
		}
		if (p->writer_started)
			pthread_join(p->writer, NULL);
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		engine_free(w->e);
		json_sink_close(w->sink);
		coverage_free(w->cov);
		while (w->pool) {
			struct chunk *c = w->pool;

			w->pool = c->next;
			chunk_free(c);
		}
		while (w->free) {
			struct batch *b = w->free;

			w->free = b->next;
			free(b->data);
			free(b);
		}
		for (struct batch *b = w->work, *n; b; b = n) {
			n = b->next;
			free(b->data);
			free(b);
		}
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv_free);
		pthread_cond_destroy(&w->cv_work);
		pthread_cond_destroy(&w->cv_room);
		pthread_cond_destroy(&w->cv_out);
	}
	for (unsigned i = 0; p->cur && i < p->n; i++)
		if (p->cur[i]) {
			free(p->cur[i]->data);
			free(p->cur[i]);
		}
	coverage_free(p->tot.cov);
	free(p->cur);
	free(p->pins);
	free(p->w);
	free(p);
}
