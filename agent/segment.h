/* segment.h - the unit every source hands to the flow table.
 *
 * A segment is one TCP segment as seen on the wire: addresses, ports,
 * sequence numbers, flags, a timestamp and a *view* of the payload.  The
 * payload pointer belongs to the source (the libpcap buffer, a ring-buffer
 * record) and is only valid for the duration of the flow_table_push() call
 * that receives it; anything that must outlive the call copies.
 *
 * Owns: nothing.  Invariant: len bytes at payload are readable.
 */
#ifndef TAPIR_SEGMENT_H
#define TAPIR_SEGMENT_H

#include <stdint.h>

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20

enum csum_state {
	CSUM_UNKNOWN = 0, /* not verifiable (truncated capture, live source) */
	CSUM_OK = 1,
	CSUM_BAD = 2,
};

struct seg {
	uint8_t family;		/* 4 or 6 */
	uint8_t flags;		/* TCPF_* */
	uint8_t csum;		/* enum csum_state */
	uint8_t pad;
	uint8_t src[16];	/* IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	uint16_t sport, dport;	/* host order */
	uint16_t window;
	uint32_t seq, ack;	/* host order */
	uint32_t ifindex;	/* interface id in the capture, 0 if unknown */
	uint64_t ts_ns;		/* capture time, ns since the epoch */
	const uint8_t *payload;
	uint32_t len;		/* payload bytes present */
	uint32_t wire_len;	/* payload bytes on the wire (>= len if snapped) */
};

/* Where a source's segments go: an engine (engine_consumer()) or the
 * dispatcher of `tapir read --threads` (par.h). */
struct seg_consumer {
	int (*push)(void *ctx, const struct seg *s);
	void (*finish)(void *ctx, uint64_t now_ns);	/* end of input */
	void *ctx;
};

#endif
