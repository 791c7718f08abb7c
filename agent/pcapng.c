/* pcapng.c - pcapng block encoders and the DSB reader (see pcapng.h).
 *
 * Written here rather than taken from a library: libpcap cannot write
 * pcapng, and the blocks tapir needs are four fixed layouts. */
#include "pcapng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pcapng_buf_free(struct pcapng_buf *pb)
{
	free(pb->b);
	pb->b = NULL;
	pb->len = pb->cap = 0;
}

int pcapng_buf_reserve(struct pcapng_buf *pb, size_t more)
{
	size_t want = pb->len + more, ncap;
	uint8_t *nb;

	if (want <= pb->cap)
		return 0;
	ncap = pb->cap ? pb->cap : 4096;
	while (ncap < want)
		ncap *= 2;
	nb = realloc(pb->b, ncap);
	if (!nb)
		return -ENOMEM;
	pb->b = nb;
	pb->cap = ncap;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* Append an option (code, length, value, padding). */
static uint8_t *put_opt(uint8_t *p, uint16_t code, const void *v, uint16_t len)
{
	put16(p, code);
	put16(p + 2, len);
	memcpy(p + 4, v, len);
	memset(p + 4 + len, 0, pad4(len) - len);
	return p + 4 + pad4(len);
}

int pcapng_put_shb(struct pcapng_buf *pb)
{
	uint8_t *p;

	if (pcapng_buf_reserve(pb, 28))
		return -ENOMEM;
	p = pb->b + pb->len;
	put32(p, PCAPNG_SHB);
	put32(p + 4, 28);
	put32(p + 8, PCAPNG_BOM);
	put16(p + 12, 1);		/* major */
	put16(p + 14, 0);		/* minor */
	memset(p + 16, 0xff, 8);	/* section length: unknown */
	put32(p + 24, 28);
	pb->len += 28;
	return 0;
}

int pcapng_put_idb(struct pcapng_buf *pb, uint16_t linktype, uint32_t snaplen,
		   const char *if_name)
{
	size_t nlen = if_name ? strnlen(if_name, 255) : 0;
	size_t total = 16 + (nlen ? 4 + pad4(nlen) : 0) + 8 + 4 + 4;
	uint8_t tsresol = 9, *p, *o;

	if (pcapng_buf_reserve(pb, total))
		return -ENOMEM;
	p = pb->b + pb->len;
	put32(p, PCAPNG_IDB);
	put32(p + 4, (uint32_t)total);
	put16(p + 8, linktype);
	put16(p + 10, 0);
	put32(p + 12, snaplen);
	o = p + 16;
	if (nlen)
		o = put_opt(o, 2, if_name, (uint16_t)nlen);	/* if_name */
	o = put_opt(o, 9, &tsresol, 1);				/* if_tsresol */
	put32(o, 0);						/* opt_endofopt */
	put32(o + 4, (uint32_t)total);
	pb->len += total;
	return 0;
}

int pcapng_put_epb(struct pcapng_buf *pb, uint32_t if_id, uint64_t ts_ns,
		   const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
	size_t total = pcapng_epb_size(caplen);
	uint8_t *p;

	if (pcapng_buf_reserve(pb, total))
		return -ENOMEM;
	p = pb->b + pb->len;
	put32(p, PCAPNG_EPB);
	put32(p + 4, (uint32_t)total);
	put32(p + 8, if_id);
	put32(p + 12, (uint32_t)(ts_ns >> 32));
	put32(p + 16, (uint32_t)ts_ns);
	put32(p + 20, caplen);
	put32(p + 24, origlen);
	memcpy(p + 28, data, caplen);
	memset(p + 28 + caplen, 0, pad4(caplen) - caplen);
	put32(p + total - 4, (uint32_t)total);
	pb->len += total;
	return 0;
}

int pcapng_put_dsb(struct pcapng_buf *pb, uint32_t secrets_type,
		   const void *data, uint32_t len)
{
	size_t total = 16 + pad4(len) + 4;
	uint8_t *p;

	if (pcapng_buf_reserve(pb, total))
		return -ENOMEM;
	p = pb->b + pb->len;
	put32(p, PCAPNG_DSB);
	put32(p + 4, (uint32_t)total);
	put32(p + 8, secrets_type);
	put32(p + 12, len);
	memcpy(p + 16, data, len);
	memset(p + 16 + len, 0, pad4(len) - len);
	put32(p + total - 4, (uint32_t)total);
	pb->len += total;
	return 0;
}

/* ------------------------------------------------------------ reading */

static uint32_t get32(const uint8_t *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

/* The byte order of a section from its SHB's first 12 bytes: 0 native,
 * 1 swapped, -1 not an SHB. */
static int shb_order(const uint8_t *h)
{
	uint32_t bom;

	if (get32(h, 0) != PCAPNG_SHB)
		return -1;
	memcpy(&bom, h + 8, 4);
	if (bom == PCAPNG_BOM)
		return 0;
	if (bom == __builtin_bswap32(PCAPNG_BOM))
		return 1;
	return -1;
}

int pcapng_scan_dsb(const uint8_t *buf, size_t len,
		    void (*fn)(void *ctx, const uint8_t *secrets, size_t n),
		    void *ctx)
{
	size_t off = 0;
	int swap = 0, n = 0;

	if (len < 12 || shb_order(buf) < 0)
		return -ENOTSUP;
	while (off < len) {
		uint32_t type, blen;

		if (len - off < 12)
			return -EBADMSG;
		type = get32(buf + off, 0);
		if (type == PCAPNG_SHB) {
			swap = shb_order(buf + off);
			if (swap < 0)
				return -EBADMSG;
		}
		blen = get32(buf + off + 4, swap);
		if (blen < 12 || blen % 4 || blen > len - off ||
		    get32(buf + off + blen - 4, swap) != blen)
			return -EBADMSG;
		if (type != PCAPNG_SHB && get32(buf + off, swap) == PCAPNG_DSB) {
			uint32_t stype, slen;

			if (blen < 20)
				return -EBADMSG;
			stype = get32(buf + off + 8, swap);
			slen = get32(buf + off + 12, swap);
			if (slen > blen - 20)
				return -EBADMSG;
			if (stype == PCAPNG_SECRETS_TLS) {
				fn(ctx, buf + off + 16, slen);
				n++;
			}
		}
		off += blen;
	}
	return n;
}

int pcapng_scan_dsb_file(const char *path, size_t max_dsb,
			 void (*fn)(void *ctx, const uint8_t *secrets, size_t n),
			 void *ctx)
{
	static uint8_t skip[64u << 10];
	uint8_t h[16];
	uint8_t *body = NULL;
	size_t bcap = 0;
	int swap = 0, n = 0, ret;
	FILE *f = fopen(path, "rbe");

	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOFBF, 256u << 10);
	if (fread(h, 1, 12, f) != 12 || shb_order(h) < 0) {
		fclose(f);
		return -ENOTSUP;
	}
	rewind(f);
	for (;;) {
		uint32_t type, blen;
		size_t got = fread(h, 1, 12, f);

		if (got == 0) {
			ret = n;
			break;
		}
		if (got < 12) {
			ret = -EBADMSG;
			break;
		}
		type = get32(h, 0);
		if (type == PCAPNG_SHB) {
			swap = shb_order(h);
			if (swap < 0) {
				ret = -EBADMSG;
				break;
			}
		} else {
			type = get32(h, swap);
		}
		blen = get32(h + 4, swap);
		if (blen < 12 || blen % 4) {
			ret = -EBADMSG;
			break;
		}
		if (type == PCAPNG_DSB && blen >= 20 && blen - 12 <= max_dsb) {
			uint32_t stype = get32(h + 8, swap), slen;
			uint8_t *nb = realloc(body, blen - 12);

			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			body = nb;
			bcap = blen - 12;
			/* 4 bytes of the body were read with the header */
			if (fread(body, 1, blen - 12, f) != blen - 12) {
				ret = -EBADMSG;
				break;
			}
			slen = get32(body, swap);
			if (slen > blen - 20 ||
			    get32(body + blen - 16, swap) != blen) {
				ret = -EBADMSG;
				break;
			}
			if (stype == PCAPNG_SECRETS_TLS) {
				fn(ctx, body + 4, slen);
				n++;
			}
		} else if (blen - 12 <= sizeof(skip)) {
			/* through the stdio buffer: an fseeko() per block
			 * would be an lseek(2) per packet */
			if (fread(skip, 1, blen - 12, f) != blen - 12) {
				ret = n;	/* a truncated last block */
				break;
			}
		} else if (fseeko(f, (off_t)blen - 12, SEEK_CUR)) {
			ret = -errno;
			break;
		}
	}
	if (body)
		explicit_bzero(body, bcap);	/* key material */
	free(body);
	fclose(f);
	return ret;
}
