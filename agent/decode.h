/* decode.h - packet decoding: link layer -> IP -> TCP -> struct seg.
 *
 * Owns: nothing (pure function over a caller buffer).  Handles link types
 * Ethernet (DLT_EN10MB), Linux cooked v1 (DLT_LINUX_SLL) and v2
 * (DLT_LINUX_SLL2), raw IP (DLT_RAW, LINKTYPE_IPV4/IPV6), 802.1Q/802.1ad
 * tags (any depth up to 8), IPv4 with options, IPv6 with extension headers
 * (hop-by-hop, routing, destination options, fragment (first fragment with
 * TCP only if unfragmented), AH), TCP with options.
 *
 * Every read is bounds-checked against caplen; the output payload is a view
 * into pkt.  TCP checksum is verified when the whole segment is present.
 */
#ifndef TAPIR_DECODE_H
#define TAPIR_DECODE_H

#include <stdint.h>
#include "segment.h"

enum decode_result {
	DECODE_TCP = 0,		/* *out filled */
	DECODE_NOT_TCP = 1,	/* valid packet, not TCP (or not IP) */
	DECODE_FRAGMENT = 2,	/* IPv4/IPv6 fragment: counted, skipped */
	DECODE_TRUNCATED = 3,	/* headers cut by snaplen or short frame */
	DECODE_MALFORMED = 4,	/* inconsistent lengths / versions */
	DECODE_UNSUPPORTED_LINK = 5,
};

/* decode_packet() flags */
#define DECODE_F_NO_CSUM 0x1	/* skip TCP checksum verification (csum is
				   then CSUM_UNKNOWN): one pass less over
				   the payload when validation is off */

/* Decode one captured frame.  linktype is a DLT_* value from libpcap.
 * caplen bytes are at pkt.  Fills out (payload points into pkt) and
 * returns DECODE_TCP, or another enum decode_result (out undefined). */
int decode_packet(int linktype, const uint8_t *pkt, uint32_t caplen,
		  unsigned flags, struct seg *out);

/* True if libpcap link type dlt is one decode_packet() understands. */
int decode_linktype_supported(int linktype);

#endif
