/* pcapng.h - the pcapng blocks tapir writes, and the reader of the
 * Decryption Secrets Blocks in a pcapng file.
 *
 * Owns: the byte layout only (pcapng specification, draft-ietf-opsawg-
 * pcapng): Section Header Block, Interface Description Block (if_name,
 * if_tsresol = 9: nanoseconds), Enhanced Packet Block, Decryption Secrets
 * Block (secrets type TLS key log, 0x544c534b).  Every block is written in
 * host byte order (the SHB's byte-order magic says which), its body padded
 * to 4 bytes, its total length repeated at its end.  Does not own files:
 * the encoders append to a struct pcapng_buf the caller writes out.
 *
 * libpcap reads pcapng but cannot write it, and ignores DSBs when reading,
 * hence this file.
 */
#ifndef TAPIR_PCAPNG_H
#define TAPIR_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_DSB 0x0000000Au
#define PCAPNG_BOM 0x1A2B3C4Du
#define PCAPNG_SECRETS_TLS 0x544c534bu	/* "TLSK": NSS key log */

/* A growable output buffer.  Encoders return 0 or -ENOMEM; on -ENOMEM
 * the buffer is unchanged. */
struct pcapng_buf {
	uint8_t *b;
	size_t len, cap;
};

void pcapng_buf_free(struct pcapng_buf *pb);	/* keeps the struct */
int pcapng_buf_reserve(struct pcapng_buf *pb, size_t more);

/* Block encoders; each appends exactly one whole block. */
int pcapng_put_shb(struct pcapng_buf *pb);
int pcapng_put_idb(struct pcapng_buf *pb, uint16_t linktype, uint32_t snaplen,
		   const char *if_name);	/* if_name may be NULL */
int pcapng_put_epb(struct pcapng_buf *pb, uint32_t if_id, uint64_t ts_ns,
		   const uint8_t *data, uint32_t caplen, uint32_t origlen);
int pcapng_put_dsb(struct pcapng_buf *pb, uint32_t secrets_type,
		   const void *data, uint32_t len);
/* Size of an EPB for caplen bytes (no options). */
static inline size_t pcapng_epb_size(uint32_t caplen)
{
	return 32 + (((size_t)caplen + 3) & ~(size_t)3);
}

/* Walk the blocks of a pcapng image in memory and call fn for the body
 * of every TLS key log DSB (secrets as given, not NUL-terminated).
 * Either byte order; several sections.  Returns the number of DSBs seen
 * (>= 0), or -EBADMSG at the first malformed block (DSBs before it have
 * been handed on), -ENOTSUP if buf is not pcapng. */
int pcapng_scan_dsb(const uint8_t *buf, size_t len,
		    void (*fn)(void *ctx, const uint8_t *secrets, size_t n),
		    void *ctx);

/* The same over a file, reading block headers and skipping bodies (only
 * DSB bodies are read, each up to max_dsb bytes).  -ENOTSUP if the file
 * is not pcapng (e.g. classic pcap), -errno if it cannot be read. */
int pcapng_scan_dsb_file(const char *path, size_t max_dsb,
			 void (*fn)(void *ctx, const uint8_t *secrets, size_t n),
			 void *ctx);

#endif
