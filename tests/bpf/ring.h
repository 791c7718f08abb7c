/* ring.h - what the BPF tests (tests/bpf/) share besides the frames: the
 * ring buffer reader that keeps the events of one test run, the per-CPU
 * counter sum, and emptying a filter map.
 *
 * Owns: the events read back (got[], ngot) and the reader (rb, created by
 * each test's main with on_event as callback).  Header only, static
 * functions: one test binary each.  Include after the program's header
 * (struct tapir_event, struct tapir_counters, TAPIR_CHUNK_MAX).
 */
#ifndef TAPIR_TEST_RING_H
#define TAPIR_TEST_RING_H

#include <stdint.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_EV 64
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct got_ev {
	struct tapir_event h;
	uint8_t data[TAPIR_CHUNK_MAX];
	size_t rec_size;
};

static struct ring_buffer *rb;
static struct got_ev got[MAX_EV];
static int ngot;

static int on_event(void *ctx __attribute__((unused)), void *data, size_t size)
{
	struct got_ev *g;

	if (ngot == MAX_EV || size < sizeof(struct tapir_event))
		return 0;
	g = &got[ngot++];
	memcpy(&g->h, data, sizeof(g->h));
	g->rec_size = size;
	if (g->h.len <= size - sizeof(g->h))
		memcpy(g->data, (uint8_t *)data + sizeof(g->h), g->h.len);
	return 0;
}

/* Forget the events kept so far and read what the ring holds. */
static void drain(void)
{
	ngot = 0;
	ring_buffer__consume(rb);
}

/* The per-CPU counters map (one entry) summed over every CPU; zeroes when
 * the lookup fails. */
static struct tapir_counters sum_counters(int map_fd)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tapir_counters per[ncpu], sum;
	uint32_t zero = 0;

	memset(&sum, 0, sizeof(sum));
	if (bpf_map_lookup_elem(map_fd, &zero, per))
		return sum;
	for (int c = 0; c < ncpu; c++) {
		uint64_t *s = (uint64_t *)&sum, *p = (uint64_t *)&per[c];
		for (size_t i = 0; i < sizeof(sum) / 8; i++)
			s[i] += p[i];
	}
	return sum;
}

static void clear_map(struct bpf_map *m)
{
	uint8_t key[64], next[64];
	int fd = bpf_map__fd(m);

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, sizeof(key));
		bpf_map_delete_elem(fd, key);
	}
}

#endif
