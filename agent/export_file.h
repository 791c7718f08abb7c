/* export_file.h - one export file on disk (internal to export.c).
 *
 * Owns: the descriptor, the temporary name ".NAME.tmp" in NAME's directory
 * (created 0600: it may hold key material), the output buffer, and for
 * classic pcap the libpcap dumper.  The file appears under its final name
 * only when closed: flushed, fsync'ed, renamed - so a file under a final
 * name is always complete.
 *
 * Writes: blocks accumulate in the buffer; at XFILE_CHUNK bytes it is
 * queued for a writer thread (write-behind: the write(2) and the page cache
 * copy overlap the parsing; up to XFILE_QDEPTH buffers wait, so the
 * caller waits only when the disk is behind) and filling goes on in a
 * spare buffer.  The writer issues one write(2) per buffer and, every
 * XFILE_WB_CHUNK bytes, sync_file_range() to start writeback, so the
 * fsync at close finds little left to do.  A buffer only ever holds whole blocks/records when
 * written out.  The writer thread touches only the queue's head buffer,
 * off, wb_off and werr; the queue indices and werr under mu.
 *
 * Errors (ENOSPC, EIO, EFBIG...): the file is truncated back to the end of
 * the last buffer written whole - a block boundary - and closed and renamed
 * as usual, so it is complete and parses; if nothing was written at all the
 * temporary file is removed.  The error is sticky: every later call fails
 * at once.  A test hook (xfile_fail_after) makes writes fail with ENOSPC
 * after a number of bytes.
 */
#ifndef TAPIR_EXPORT_FILE_H
#define TAPIR_EXPORT_FILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pcapng.h"

#define XFILE_CHUNK (256u << 10)
/* buffers the writer may have queued; a sleeping writer is woken once
 * XFILE_WAKE of them wait (one wakeup per buffer was 5% of the caller's
 * time in this guest) */
#define XFILE_QDEPTH 4
#define XFILE_WAKE 2
/* writeback is started every this many bytes: 8 MiB requests bring the
 * export close to what dd manages on this disk; 256 KiB ones cost 45%
 * more time (docs/export.md) */
#define XFILE_WB_CHUNK (8u << 20)

enum export_format { EXPORT_PCAP = 1, EXPORT_PCAPNG = 2 };

struct xcount {
	uint64_t packets, bytes;	/* bytes: captured (caplen) */
};

struct xfile {
	int fd;
	char *final, *tmp;
	enum export_format fmt;
	struct pcapng_buf buf;	/* being filled (caller's thread) */
	uint64_t queued;	/* bytes handed to the writer */
	/* write-behind: full buffers wait in q[qhead..qhead+qn) (the one at
	 * qhead is being written), empty ones in spare[0..nspare) */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work, room;	/* writer waits / caller waits */
	bool th_on, quit, sleeping;
	unsigned qhead, qn, nspare;
	struct pcapng_buf q[XFILE_QDEPTH], spare[XFILE_QDEPTH];
	/* packets and their captured bytes: in each queued buffer, queued
	 * so far (caller), in buffers dropped by a write error */
	struct xcount qcount[XFILE_QDEPTH], handed, unwritten;
	int werr;		/* the writer's error */
	uint64_t off;		/* bytes written to the file (writer) */
	uint64_t wb_off;	/* writeback started up to here (writer) */
	struct xcount put;	/* packets put in the file's buffers */
	int err;		/* sticky -errno */
	/* classic pcap: libpcap writes into buf through a stdio cookie */
	void *pd, *dumper;	/* pcap_t *, pcap_dumper_t * */
	FILE *cookie;
};

/* Test hook: when > 0, writes fail with ENOSPC once this many bytes in all
 * have been written (process-wide). */
extern uint64_t xfile_fail_after;

/* Create the temporary file and write the file header (pcap header, or
 * pcapng SHB).  0 or -errno (the struct is then closed). */
int xfile_open(struct xfile *f, const char *final, enum export_format fmt,
	       int linktype, uint32_t snaplen);
/* Size of the file so far (written + buffered). */
static inline uint64_t xfile_size(const struct xfile *f)
{
	return f->queued + f->buf.len;
}
/* The buffer is at a block boundary: write it out if it is large. 0 or
 * the sticky -errno. */
int xfile_commit(struct xfile *f);
/* Classic pcap: one record through libpcap.  0 or -errno. */
int xfile_pcap_record(struct xfile *f, uint64_t ts_ns, const uint8_t *data,
		      uint32_t caplen, uint32_t wire_len);
/* After xfile_close: how much of what was put (f->put) never reached the
 * file: it was in buffers dropped by a write error. */
static inline struct xcount xfile_unwritten(const struct xfile *f)
{
	return f->unwritten;
}
/* Flush, fsync, close, rename to the final name (also after an error:
 * the file was cut at a block boundary).  Returns 0 or the first -errno
 * the file met (sticky error, fsync, rename).  Safe on a closed struct. */
int xfile_close(struct xfile *f);

#endif
