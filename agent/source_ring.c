/* source_ring.c - the live source (see source_ring.h). */
#include "source_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "capture.h"
#include "util.h"

_Static_assert(sizeof(struct tapir_event) == TAPIR_EVENT_SIZE,
	       "struct tapir_event differs between kernel and user space");
_Static_assert(sizeof(struct tapir_counters) == TAPIR_COUNTERS_SIZE,
	       "struct tapir_counters differs between kernel and user space");

#define DEDUP_SLOTS (1u << 16)

struct dedup_slot {
	uint64_t key;		/* 0 = empty */
	uint64_t ts;		/* monotonic ns */
	uint32_t hook;		/* ifindex << 2 | dir */
};

struct source_ring {
	struct ring_buffer *rb;
	struct engine *e;
	struct ring_stats st;
	int64_t offset_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC */
	uint64_t window_ns;
	uint64_t seed[2];
	struct dedup_slot *dd;
	void (*hook)(void *ctx);
	void *hook_ctx;
	struct exporter *x;
};

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A keyed 64-bit mix (splitmix64 steps) of the segment identity. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t seg_key(const struct source_ring *r, const struct tapir_event *ev)
{
	uint64_t h = r->seed[0], a[4];

	memcpy(a, ev->saddr, 16);
	memcpy(a + 2, ev->daddr, 16);
	for (int i = 0; i < 4; i++)
		h = mix(h, a[i] ^ r->seed[1]);
	h = mix(h, (uint64_t)ev->sport << 48 | (uint64_t)ev->dport << 32 |
		   (uint64_t)ev->family << 8 | ev->tcp_flags);
	h = mix(h, (uint64_t)ev->seq << 32 | ev->ack);
	h = mix(h, (uint64_t)ev->len << 32 | ev->seg_len);
	return h ? h : 1;
}

/* 1 when ev was seen on another hook within the window. */
static int is_dup(struct source_ring *r, const struct tapir_event *ev)
{
	uint64_t k = seg_key(r, ev);
	uint32_t hook = ev->ifindex << 2 | ev->dir;
	struct dedup_slot *s = &r->dd[k & (DEDUP_SLOTS - 1)];

	uint64_t age = ev->ts_ns > s->ts ? ev->ts_ns - s->ts : s->ts - ev->ts_ns;

	if (s->key == k && s->hook != hook && age <= r->window_ns)
		return 1;
	s->key = k;
	s->ts = ev->ts_ns;
	s->hook = hook;
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct source_ring *r = ctx;
	const struct tapir_event *ev = data;
	struct seg s;

	r->st.events++;
	if (r->hook && r->st.events % SOURCE_RING_HOOK_EVENTS == 0)
		r->hook(r->hook_ctx);
	if (size < sizeof(*ev) || ev->len > size - sizeof(*ev) ||
	    (ev->family != 4 && ev->family != 6)) {
		r->st.bad++;
		return 0;
	}
	r->st.bytes += ev->len;
	if (ev->ev_flags & TAPIR_EV_TRUNCATED)
		r->st.truncated++;
	if (r->window_ns && is_dup(r, ev)) {
		r->st.dups++;
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.family = ev->family;
	s.flags = ev->tcp_flags;
	s.csum = CSUM_UNKNOWN;
	memcpy(s.src, ev->saddr, 16);
	memcpy(s.dst, ev->daddr, 16);
	s.sport = ev->sport;
	s.dport = ev->dport;
	s.window = ev->window;
	s.seq = ev->seq;
	s.ack = ev->ack;
	s.ifindex = ev->ifindex;
	s.ts_ns = source_ring_time(r, ev->ts_ns);
	s.payload = (const uint8_t *)(ev + 1);
	s.len = ev->len;
	s.wire_len = ev->ev_flags & TAPIR_EV_TRUNCATED ?
		     ev->seg_len - ev->offset : ev->len;
	r->st.segments++;
	engine_push(r->e, &s);
	if (r->x)
		export_seg(r->x, &s);	/* after the duplicate filter: once */
	return 0;
}

void source_ring_set_export(struct source_ring *r, struct exporter *x)
{
	r->x = x;
}

struct source_ring *source_ring_new(int map_fd, struct engine *e,
				    uint64_t dedup_window_ns)
{
	struct source_ring *r = xcalloc(1, sizeof(*r));

	r->e = e;
	r->window_ns = dedup_window_ns;
	r->offset_ns = (int64_t)(clock_ns(CLOCK_REALTIME) -
				 clock_ns(CLOCK_MONOTONIC));
	if (getrandom(r->seed, sizeof(r->seed), 0) != sizeof(r->seed))
		r->seed[0] = clock_ns(CLOCK_MONOTONIC), r->seed[1] = ~r->seed[0];
	r->dd = calloc(DEDUP_SLOTS, sizeof(*r->dd));
	if (!r->dd) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->rb = ring_buffer__new(map_fd, on_event, r, NULL);
	if (!r->rb) {
		int err = errno;
		free(r->dd);
		free(r);
		errno = err;
		return NULL;
	}
	return r;
}

void source_ring_set_hook(struct source_ring *r, void (*fn)(void *ctx),
			  void *ctx)
{
	r->hook = fn;
	r->hook_ctx = ctx;
}

int source_ring_fd(const struct source_ring *r)
{
	return ring_buffer__epoll_fd(r->rb);
}

int source_ring_drain(struct source_ring *r)
{
	return ring_buffer__consume(r->rb);
}

uint64_t source_ring_time(const struct source_ring *r, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + r->offset_ns);
}

uint64_t source_ring_now(const struct source_ring *r)
{
	return source_ring_time(r, clock_ns(CLOCK_MONOTONIC));
}

const struct ring_stats *source_ring_stats(const struct source_ring *r)
{
	return &r->st;
}

void source_ring_free(struct source_ring *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	free(r->dd);
	free(r);
}
