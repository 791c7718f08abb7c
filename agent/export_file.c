/* export_file.c - an export file: temp name, buffered writes, fsync and
 * rename, cut at a block boundary on a write error (see export_file.h). */
#include "export_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

uint64_t xfile_fail_after;
static uint64_t xfile_total;	/* bytes written, for the test hook */

static char *tmp_name(const char *final)
{
	const char *slash = strrchr(final, '/');
	size_t dlen = slash ? (size_t)(slash - final) + 1 : 0;
	size_t n = strlen(final) + 8;
	char *t = malloc(n);

	if (!t)
		return NULL;
	snprintf(t, n, "%.*s.%s.tmp", (int)dlen, final, final + dlen);
	return t;
}

/* stdio cookie: libpcap's fwrite()s land in the buffer. */
static ssize_t cookie_write(void *ctx, const char *b, size_t n)
{
	struct xfile *f = ctx;

	if (pcapng_buf_reserve(&f->buf, n))
		return -1;
	memcpy(f->buf.b + f->buf.len, b, n);
	f->buf.len += n;
	return (ssize_t)n;
}

static int write_all(struct xfile *f)
{
	size_t done = 0;

	while (done < f->buf.len) {
		size_t n = f->buf.len - done;
		ssize_t w;

		if (xfile_fail_after) {
			if (xfile_total >= xfile_fail_after)
				return -ENOSPC;
			if (n > xfile_fail_after - xfile_total)
				n = xfile_fail_after - xfile_total;
		}
		w = write(f->fd, f->buf.b + done, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		done += (size_t)w;
		xfile_total += (uint64_t)w;
	}
	return 0;
}

/* Write the buffer out; on failure cut the file back to f->off. */
static int flush(struct xfile *f)
{
	int r;

	if (f->err)
		return f->err;
	if (!f->buf.len)
		return 0;
	r = write_all(f);
	if (r) {
		f->err = r;
		if (ftruncate(f->fd, (off_t)f->off))
			log_warn("export: cannot cut %s back: %s", f->tmp,
				 strerror(errno));
		f->buf.len = 0;
		return r;
	}
	/* start writeback now; the fsync at close then waits for little */
	sync_file_range(f->fd, (off_t)f->off, (off_t)f->buf.len,
			SYNC_FILE_RANGE_WRITE);
	f->off += f->buf.len;
	f->buf.len = 0;
	return 0;
}

int xfile_open(struct xfile *f, const char *final, enum export_format fmt,
	       int linktype, uint32_t snaplen)
{
	int r = 0;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->fmt = fmt;
	f->final = strdup(final);
	f->tmp = tmp_name(final);
	if (!f->final || !f->tmp) {
		r = -ENOMEM;
		goto fail;
	}
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		r = -errno;
		goto fail;
	}
	fchmod(f->fd, 0600);	/* an existing temp file keeps its mode */
	if (pcapng_buf_reserve(&f->buf, XFILE_CHUNK + 4096)) {
		r = -ENOMEM;
		goto fail;
	}
	if (fmt == EXPORT_PCAPNG) {
		r = pcapng_put_shb(&f->buf);
		if (r)
			goto fail;
	} else {
		cookie_io_functions_t io = { .write = cookie_write };

		f->cookie = fopencookie(f, "w", io);
		if (!f->cookie) {
			r = -ENOMEM;
			goto fail;
		}
		setvbuf(f->cookie, NULL, _IONBF, 0);
		f->pd = pcap_open_dead_with_tstamp_precision(
			linktype, (int)snaplen, PCAP_TSTAMP_PRECISION_NANO);
		if (!f->pd) {
			r = -ENOMEM;
			goto fail;
		}
		f->dumper = pcap_dump_fopen(f->pd, f->cookie);
		if (!f->dumper) {
			r = -EIO;
			goto fail;
		}
	}
	return 0;
fail:
	if (f->fd >= 0) {
		unlink(f->tmp);
		close(f->fd);
		f->fd = -1;
	}
	if (f->dumper)
		pcap_dump_close(f->dumper);	/* closes the cookie */
	else if (f->cookie)
		fclose(f->cookie);
	if (f->pd)
		pcap_close(f->pd);
	f->dumper = f->pd = NULL;
	f->cookie = NULL;
	pcapng_buf_free(&f->buf);
	free(f->final);
	free(f->tmp);
	f->final = f->tmp = NULL;
	return r;
}

int xfile_commit(struct xfile *f)
{
	if (f->err)
		return f->err;
	return f->buf.len >= XFILE_CHUNK ? flush(f) : 0;
}

int xfile_pcap_record(struct xfile *f, uint64_t ts_ns, const uint8_t *data,
		      uint32_t caplen, uint32_t wire_len)
{
	struct pcap_pkthdr h;

	if (f->err)
		return f->err;
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000ULL);
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000ULL);	/* ns: see open */
	h.caplen = caplen;
	h.len = wire_len;
	pcap_dump((u_char *)f->dumper, &h, data);
	if (ferror(f->cookie)) {
		f->err = -ENOMEM;
		return f->err;
	}
	f->packets++;
	return 0;
}

int xfile_close(struct xfile *f)
{
	int r, ret;

	if (!f->final)
		return 0;
	if (f->dumper) {
		pcap_dump_close(f->dumper);	/* closes the cookie */
		pcap_close(f->pd);
		f->dumper = f->pd = NULL;
		f->cookie = NULL;
	}
	r = flush(f);
	ret = f->err ? f->err : r;
	if (f->off == 0) {
		/* not even the header made it: nothing worth keeping */
		unlink(f->tmp);
		close(f->fd);
	} else {
		if (fsync(f->fd) && !ret)
			ret = -errno;
		if (close(f->fd) && !ret)
			ret = -errno;
		if (rename(f->tmp, f->final) && !ret)
			ret = -errno;
	}
	f->fd = -1;
	pcapng_buf_free(&f->buf);
	free(f->final);
	free(f->tmp);
	f->final = f->tmp = NULL;
	return ret;
}
