/* frame.h - rebuild Ethernet/IPv4|IPv6/TCP frames from a live segment.
 *
 * The live source copies TCP payload, not frames; export needs frames that
 * tools read as the original flow.  frame_build() writes Ethernet II (made
 * up, locally administered MACs: 02:00:00:00:00:01 for the lower address,
 * ..:02 for the higher, so each end keeps one), an IPv4 header (DF, TTL 64,
 * correct total length and header checksum) or IPv6 header (hop limit 64,
 * payload length), and a 20-byte TCP header (ports, seq, ack, flags,
 * window, checksum over the pseudo-header), then the payload.
 *
 * Payloads longer than FRAME_MAX_PAYLOAD (a GSO/GRO super-packet copied by
 * TC, or a reassembled record) are split: frame_count() frames, frame i
 * carrying bytes [i*FRAME_MAX_PAYLOAD, ...) at seq + offset; SYN stays on
 * the first, FIN and PSH on the last.
 *
 * Owns nothing; pure functions.
 */
#ifndef TAPIR_FRAME_H
#define TAPIR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define FRAME_ETH_LEN 14
#define FRAME_MAX_PAYLOAD (65535u - 40u)
#define FRAME_MAX_HDR (14 + 40 + 20)
#define FRAME_MAX_LEN (FRAME_MAX_HDR + FRAME_MAX_PAYLOAD)

/* Number of frames for s (at least 1: a segment without payload). */
uint32_t frame_count(const struct seg *s);
/* Write frame i (< frame_count(s)) of s into out (FRAME_MAX_LEN bytes).
 * Payload bytes beyond s->len (a snapped segment) are not invented: the
 * frame's lengths and checksum then cover only the bytes present, and
 * *wire_len says how long it was on the wire.  Returns the frame length. */
uint32_t frame_build(const struct seg *s, uint32_t i, uint8_t *out,
		     uint32_t *wire_len);
/* Internet checksum helpers (RFC 1071), exposed for the tests. */
uint32_t frame_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t frame_csum_fold(uint32_t sum);

#endif
