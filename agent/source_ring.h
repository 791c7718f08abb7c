/* source_ring.h - the live source: BPF ring buffer events -> segments ->
 * engine.
 *
 * Owns: the libbpf ring_buffer consumer of one ring map, the clock offset
 * that turns the events' CLOCK_MONOTONIC stamps into wall-clock time, and
 * the duplicate filter.  Does not own the ring map (the skeleton does) nor
 * the engine it feeds.
 *
 * Time: events carry bpf_ktime_get_ns() (CLOCK_MONOTONIC).  At
 * source_ring_new() the offset CLOCK_REALTIME - CLOCK_MONOTONIC is taken
 * once and added to every stamp, so capture time never jumps when the wall
 * clock is stepped during a run (NTP slews affect both clocks alike); the
 * cost is that records drift from the wall clock by any step made after
 * start.  source_ring_now() is the same clock read now, for engine_tick().
 *
 * Duplicates: the same segment seen on two hooks of this node (ingress of
 * one interface and egress of another as a gateway forwards it, or both
 * ends of a veth) is handed on once.  The key is (addresses, ports, seq,
 * ack, length, flags); a segment equal to one seen within dedup_window_ns
 * on a *different* hook (ifindex, direction) is dropped and counted.  The
 * same segment again on the same hook is a real retransmission and passes
 * (the reassembler decides what to do with it).  The table is direct
 * mapped (DEDUP_SLOTS, a 64-bit keyed hash per slot): a collision only
 * forgets a segment, it never drops a different one.
 *
 * Loss: events the kernel could not reserve are counted by the program
 * (ring_drops); the segments are missing here, and the reassembler reports
 * the hole as a gap once the peer's ACK covers it or the flow ends.
 */
#ifndef TAPIR_SOURCE_RING_H
#define TAPIR_SOURCE_RING_H

#include <stdint.h>

#include "engine.h"
#include "export.h"

struct ring_stats {
	uint64_t events;	/* records read */
	uint64_t bytes;		/* payload bytes in them */
	uint64_t segments;	/* handed to the engine */
	uint64_t dups;		/* dropped as seen on another hook */
	uint64_t bad;		/* malformed records (never expected) */
	uint64_t truncated;	/* segments the kernel could not copy whole */
};

struct source_ring;

/* map_fd: a BPF_MAP_TYPE_RINGBUF of tapir_event records.  NULL with errno
 * on failure. */
struct source_ring *source_ring_new(int map_fd, struct engine *e,
				    uint64_t dedup_window_ns);
/* A descriptor that becomes readable when events are waiting (epoll). */
int source_ring_fd(const struct source_ring *r);
/* Hand every waiting event to the engine.  Returns the number of events
 * read (>= 0) or -errno. */
int source_ring_drain(struct source_ring *r);
/* fn(ctx) is called every SOURCE_RING_HOOK_EVENTS events during a drain:
 * a long burst must not keep the caller from reading key log lines that
 * the sessions in that very burst are waiting for. */
#define SOURCE_RING_HOOK_EVENTS 64
void source_ring_set_hook(struct source_ring *r, void (*fn)(void *ctx),
			  void *ctx);
/* Every segment handed to the engine also goes to x (NULL: none). */
void source_ring_set_export(struct source_ring *r, struct exporter *x);
/* The capture clock now (ns since the epoch, see above). */
uint64_t source_ring_now(const struct source_ring *r);
/* Turn an event's monotonic stamp into capture time. */
uint64_t source_ring_time(const struct source_ring *r, uint64_t mono_ns);
const struct ring_stats *source_ring_stats(const struct source_ring *r);
void source_ring_free(struct source_ring *r);	/* accepts NULL */

#endif
