/* export_file.c - an export file: temp name, buffered writes, fsync and
 * rename, cut at a block boundary on a write error (see export_file.h). */
#include "export_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pcap/pcap.h>
#include <signal.h>
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

static int write_all(struct xfile *f, const struct pcapng_buf *b)
{
	size_t done = 0;

	while (done < b->len) {
		size_t n = b->len - done;
		ssize_t w;

		if (xfile_fail_after) {
			if (xfile_total >= xfile_fail_after)
				return -ENOSPC;
			if (n > xfile_fail_after - xfile_total)
				n = xfile_fail_after - xfile_total;
		}
		w = write(f->fd, b->b + done, n);
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

/* Write b out at f->off; on failure cut the file back to f->off (a block
 * boundary).  Called by the writer thread, or by the caller's thread
 * when the writer is idle. */
static int write_buf(struct xfile *f, struct pcapng_buf *b)
{
	int r;

	if (!b->len)
		return 0;
	r = write_all(f, b);
	if (r) {
		if (ftruncate(f->fd, (off_t)f->off))
			log_warn("export: cannot cut %s back: %s", f->tmp,
				 strerror(errno));
		b->len = 0;
		return r;
	}
	f->off += b->len;
	b->len = 0;
	/* start writeback now, in large pieces (the disk's best request
	 * size); the fsync at close then waits for little */
	if (f->off - f->wb_off >= XFILE_WB_CHUNK) {
		sync_file_range(f->fd, (off_t)f->wb_off,
				(off_t)(f->off - f->wb_off),
				SYNC_FILE_RANGE_WRITE);
		f->wb_off = f->off;
	}
	return 0;
}

static void sync_dir(const char *path)
{
	char *d = strdup(path);
	int fd;

	if (!d)
		return;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
}

static void count_add(struct xcount *to, struct xcount c)
{
	to->packets += c.packets;
	to->bytes += c.bytes;
}

static void *writer(void *arg)
{
	struct xfile *f = arg;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		struct pcapng_buf *b;
		int r, err;

		while (!f->qn && !f->quit) {
			f->sleeping = true;
			pthread_cond_wait(&f->work, &f->mu);
		}
		f->sleeping = false;
		if (!f->qn)
			break;
		b = &f->q[f->qhead];
		err = f->werr;
		pthread_mutex_unlock(&f->mu);
		r = err ? 0 : write_buf(f, b);
		pthread_mutex_lock(&f->mu);
		b->len = 0;
		if (r && !f->werr)
			f->werr = r;
		if (err || r)
			count_add(&f->unwritten, f->qcount[f->qhead]);
		f->spare[f->nspare++] = *b;
		memset(b, 0, sizeof(*b));
		f->qhead = (f->qhead + 1) % XFILE_QDEPTH;
		f->qn--;
		pthread_cond_broadcast(&f->room);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Wait until everything queued is written; returns the writer's error (0
 * if none). */
static int writer_idle(struct xfile *f)
{
	int r;

	if (!f->th_on)
		return f->werr;
	pthread_mutex_lock(&f->mu);
	if (f->qn && f->sleeping)
		pthread_cond_broadcast(&f->work);
	while (f->qn)
		pthread_cond_wait(&f->room, &f->mu);
	r = f->werr;
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* What was put since the last buffer was handed over (= what buf holds);
 * it counts as handed over from now on. */
static struct xcount take_unhanded(struct xfile *f)
{
	struct xcount c = { f->put.packets - f->handed.packets,
			    f->put.bytes - f->handed.bytes };

	f->handed = f->put;
	return c;
}

/* The buffer being filled will not be written: its packets are lost. */
static void drop_buf(struct xfile *f)
{
	count_add(&f->unwritten, take_unhanded(f));
	f->buf.len = 0;
}

/* Queue the buffer for the writer (or write it here if there is none). */
static int flush(struct xfile *f)
{
	int r;

	if (f->err) {
		drop_buf(f);
		return f->err;
	}
	if (!f->buf.len)
		return 0;
	if (!f->th_on) {
		r = f->werr ? f->werr : write_buf(f, &f->buf);
		if (r) {
			f->werr = f->err = r;
			drop_buf(f);
		} else {
			f->handed = f->put;
		}
		return r;
	}
	pthread_mutex_lock(&f->mu);
	if (f->qn == XFILE_QDEPTH && f->sleeping)
		pthread_cond_broadcast(&f->work);
	while (f->qn == XFILE_QDEPTH)
		pthread_cond_wait(&f->room, &f->mu);
	r = f->werr;
	if (r) {
		pthread_mutex_unlock(&f->mu);
		f->err = r;
		drop_buf(f);
		return r;
	}
	f->queued += f->buf.len;
	f->q[(f->qhead + f->qn) % XFILE_QDEPTH] = f->buf;
	f->qcount[(f->qhead + f->qn) % XFILE_QDEPTH] = take_unhanded(f);
	f->qn++;
	f->buf = f->spare[--f->nspare];
	f->buf.len = 0;
	if (f->sleeping && f->qn >= XFILE_WAKE)
		pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static void writer_stop(struct xfile *f)
{
	if (!f->th_on)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = true;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->room);
	f->th_on = false;
}

static void free_bufs(struct xfile *f)
{
	pcapng_buf_free(&f->buf);
	for (unsigned i = 0; i < XFILE_QDEPTH; i++) {
		pcapng_buf_free(&f->q[i]);
		pcapng_buf_free(&f->spare[i]);
	}
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
	/* the writer thread; without one (no thread to be had) the caller's
	 * thread writes.  Spare buffers get their memory when first filled. */
	f->nspare = XFILE_QDEPTH;
	if (pthread_mutex_init(&f->mu, NULL) == 0) {
		sigset_t all, old;

		/* the writer takes no signals: the capture's signalfd
		 * relies on every thread blocking them */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_cond_init(&f->work, NULL);
		pthread_cond_init(&f->room, NULL);
		f->th_on = pthread_create(&f->th, NULL, writer, f) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!f->th_on) {
			pthread_mutex_destroy(&f->mu);
			pthread_cond_destroy(&f->work);
			pthread_cond_destroy(&f->room);
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
	f->put.packets++;
	f->put.bytes += caplen;
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
	r = writer_idle(f);
	writer_stop(f);
	if (r && !f->err)
		f->err = r;
	r = flush(f);		/* no writer now: written here */
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
		else
			sync_dir(f->final);	/* the rename is durable too */
	}
	f->fd = -1;
	free_bufs(f);
	free(f->final);
	free(f->tmp);
	f->final = f->tmp = NULL;
	return ret;
}
