/* export.c - the packet export sink (see export.h).
 *
 * Per-flow state, only what the keys need:
 *
 *   (new) --first payload, a ClientHello--> TLS (random known)
 *     |                                       | keys in store? -> DSB, write
 *     +--first payload, anything else-> PLAIN | no keys, key_wait > 0
 *                                             v
 *                                          HOLDING --keys (export_keys_added)--> DSB, write held
 *                                             |------key_wait / hold full------> write held (no keys)
 *
 * Flows are kept in a chained hash (EXPORT_MAX_FLOWS, the least recently
 * seen evicted first) and forgotten after EXPORT_FLOW_IDLE of capture time.
 */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

#define EXPORT_BUCKETS 65536u
#define EXPORT_MAX_FLOWS 262144u
#define EXPORT_FLOW_IDLE (600ULL * 1000000000ULL)
#define EXPORT_MAX_IFS 64
#define DEFAULT_SNAPLEN 262144u
/* key log lines kept per flow for the files after rotation, in all */
#define KEYS_KEPT (16u << 20)

struct held {
	struct held *next;
	uint32_t ifindex, caplen, wire_len;
	uint64_t ts_ns;
	uint8_t data[];
};

enum xf_state { XF_NEW = 0, XF_PLAIN, XF_TLS };

struct xflow {
	struct xflow *hnext;			/* hash chain */
	struct xflow *lprev, *lnext;		/* LRU, oldest first */
	struct xflow *wprev, *wnext;		/* holding, oldest first */
	uint8_t family, state;
	bool holding;
	uint8_t a[16], b[16];			/* canonical: a <= b */
	uint16_t pa, pb;
	uint8_t random[32];
	uint64_t last_ts, hold_since;
	uint64_t dsb_file;			/* file seq with its DSB */
	char *keys;				/* its key log lines, kept for */
	uint32_t keys_len;			/* later files (--key-ttl) */
	struct held *hhead, *htail;
};

struct exporter {
	struct export_opts o;
	struct keystore *ks;
	struct xfile f;
	bool open;
	bool pin;				/* no rotation: keys + packet */
	uint64_t file_seq;			/* 1-based, the open file */
	uint64_t file_start_ns;
	uint32_t ifs[EXPORT_MAX_IFS];		/* IDB order in this file */
	int nifs;
	char **ring;				/* -W: finished names */
	uint32_t nring, ring_head;
	struct xflow **bucket;
	struct xflow *lru_head, *lru_tail;
	struct xflow *w_head, *w_tail;
	uint64_t nflows, hold_bytes, now_ns;
	uint64_t keys_bytes;			/* kept in flows, <= KEYS_KEPT */
	struct export_stats st;
	char err[256];
	uint8_t frame[FRAME_MAX_LEN];
	char dsb[8 * 256];
};

static const char *const label_names[KEY_LABEL_COUNT] = {
	[KEY_CLIENT_RANDOM] = "CLIENT_RANDOM",
	[KEY_CLIENT_EARLY_TRAFFIC_SECRET] = "CLIENT_EARLY_TRAFFIC_SECRET",
	[KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	[KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET] = "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	[KEY_CLIENT_TRAFFIC_SECRET_0] = "CLIENT_TRAFFIC_SECRET_0",
	[KEY_SERVER_TRAFFIC_SECRET_0] = "SERVER_TRAFFIC_SECRET_0",
	[KEY_EXPORTER_SECRET] = "EXPORTER_SECRET",
	[KEY_EARLY_EXPORTER_SECRET] = "EARLY_EXPORTER_SECRET",
};

void export_opts_default(struct export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fmt = EXPORT_PCAPNG;
	o->snaplen = DEFAULT_SNAPLEN;
	o->key_hold_bytes = 16u << 20;
	o->linktype = DLT_EN10MB;
}

int export_parse_opt(struct export_opts *o, int opt, const char *arg)
{
	uint64_t v;
	int r = 0;

	switch (opt) {
	case EXPORT_OPT_PCAP:
	case EXPORT_OPT_PCAPNG:
		if (o->path) {
			log_err("one of --pcap and --pcapng, once");
			return -EINVAL;
		}
		o->path = arg;
		o->fmt = opt == EXPORT_OPT_PCAP ? EXPORT_PCAP : EXPORT_PCAPNG;
		return 1;
	case EXPORT_OPT_SNAPLEN:
		if (parse_uint(arg, 64, 262144, &v))
			goto bad;
		o->snaplen = (uint32_t)v;
		return 1;
	case EXPORT_OPT_KEY_HOLD:
		if (parse_size(arg, &v) || v > (1ULL << 32))
			goto bad;
		o->key_hold_bytes = v;
		return 1;
	case EXPORT_OPT_PORT:
		r = netfilter_add_port(&o->filter, arg);
		break;
	case EXPORT_OPT_NET:
	case EXPORT_OPT_XNET:
		r = netfilter_add_net(&o->filter, arg, opt == EXPORT_OPT_XNET);
		break;
	case 'C':
		if (parse_uint(arg, 1, 1000000, &v))
			goto bad;
		o->rotate_bytes = v * 1000000ULL;
		return 1;
	case 'G':
		if (parse_uint(arg, 1, 86400 * 366, &v))
			goto bad;
		o->rotate_ns = v * 1000000000ULL;
		return 1;
	case 'W':
		if (parse_uint(arg, 1, 100000, &v))
			goto bad;
		o->max_files = (uint32_t)v;
		return 1;
	default:
		return 0;
	}
	if (r == -ENOSPC) {
		log_err("at most %d values per export filter", NETFILTER_MAX);
		return -EINVAL;
	}
	if (!r)
		return 1;
bad:
	log_err("invalid value for an export option: '%s'", arg);
	return -EINVAL;
}

int export_opts_check(const struct export_opts *o)
{
	if (!o->path && (o->rotate_bytes || o->rotate_ns || o->max_files ||
			 !netfilter_empty(&o->filter))) {
		log_err("-C, -G, -W and --export-* need --pcap or --pcapng");
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ files */

static void stop(struct exporter *x, int err, const char *what)
{
	if (x->st.stopped)
		return;
	x->st.stopped = true;
	snprintf(x->err, sizeof(x->err), "%s %.200s: %s", what,
		 x->f.final ? x->f.final : x->o.path, strerror(-err));
	log_err("export stopped: %s (the capture goes on)", x->err);
}

/* Name of file number n (0-based). */
static void file_name(const struct exporter *x, uint64_t n, uint64_t start_ns,
		      char *out, size_t len)
{
	const char *p = x->o.path;

	if (x->o.rotate_ns && strchr(p, '%')) {
		time_t t = (time_t)(start_ns / 1000000000ULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		if (!strftime(out, len, p, &tm))
			snprintf(out, len, "%s", p);
	} else if (x->o.rotate_ns) {
		snprintf(out, len, "%s.%" PRIu64, p, n);
	} else if (x->o.rotate_bytes || x->o.max_files) {
		snprintf(out, len, "%s%" PRIu64, p,
			 x->o.max_files ? n % x->o.max_files : n);
	} else {
		snprintf(out, len, "%s", p);
	}
}

static int open_file(struct exporter *x, uint64_t start_ns)
{
	char name[4096];
	int r;

	file_name(x, x->file_seq, start_ns, name, sizeof(name));
	r = xfile_open(&x->f, name, x->o.fmt, x->o.linktype, x->o.snaplen);
	if (r) {
		x->f.final = NULL;
		snprintf(x->err, sizeof(x->err), "cannot create %.200s: %s",
			 name, strerror(-r));
		x->st.stopped = true;
		log_err("export stopped: %s (the capture goes on)", x->err);
		return r;
	}
	x->open = true;
	x->file_seq++;
	x->file_start_ns = start_ns;
	x->nifs = 0;
	return 0;
}

/* -W: remember a finished file; remove the one that fell off the ring
 * (unless a newer file took its name). */
static void ring_add(struct exporter *x, const char *name)
{
	uint32_t w = x->o.max_files;

	if (!w)
		return;
	if (x->nring == w) {
		char *old = x->ring[x->ring_head];

		if (strcmp(old, name))
			unlink(old);
		free(old);
		x->ring[x->ring_head] = xstrndup(name, strlen(name));
		x->ring_head = (x->ring_head + 1) % w;
		return;
	}
	/* a name already in the ring (numbered names wrap) is replaced */
	for (uint32_t i = 0; i < x->nring; i++)
		if (!strcmp(x->ring[i], name))
			return;
	x->ring[x->nring++] = xstrndup(name, strlen(name));
}

static int close_file(struct exporter *x)
{
	struct xcount lost;
	char *name;
	int r;

	if (!x->open)
		return 0;
	x->open = false;
	if (x->f.final && x->o.rotate_ns && strchr(x->o.path, '%')) {
		/* strftime names are of the file's first packet, known only
		 * now for a file created before any (the first one) */
		char n[4096];

		file_name(x, x->file_seq - 1, x->file_start_ns, n, sizeof(n));
		if (strcmp(n, x->f.final) && (name = strdup(n))) {
			free(x->f.final);
			x->f.final = name;
		}
	}
	name = x->f.final ? strdup(x->f.final) : NULL;
	r = xfile_close(&x->f);
	/* packets counted as written that a write error dropped */
	lost = xfile_unwritten(&x->f);
	x->st.packets -= lost.packets;
	x->st.bytes -= lost.bytes;
	x->st.lost += lost.packets;
	if (r && !x->st.stopped) {
		x->st.stopped = true;
		snprintf(x->err, sizeof(x->err), "writing %.200s: %s",
			 name ? name : x->o.path, strerror(-r));
		log_err("export stopped: %s (the capture goes on; the file "
			"holds what was written before)", x->err);
	}
	if (name) {
		x->st.files++;
		ring_add(x, name);
	}
	free(name);
	return r;
}

/* Before writing a packet of ts_ns and about `more` bytes: rotate if due.
 * 0, or -1 when the export is stopped. */
static int ensure_file(struct exporter *x, uint64_t ts_ns, size_t more)
{
	if (x->st.stopped)
		return -1;
	if (x->open && x->f.put.packets && !x->pin) {
		bool due = false;

		if (x->o.rotate_bytes &&
		    xfile_size(&x->f) + more > x->o.rotate_bytes)
			due = true;
		if (x->o.rotate_ns && ts_ns >= x->file_start_ns + x->o.rotate_ns)
			due = true;
		if (due && close_file(x))
			return -1;
	}
	if (!x->open && open_file(x, ts_ns ? ts_ns : x->now_ns))
		return -1;
	/* -G counts from a file's first packet (the first file is created
	 * before any packet, to report an unwritable path at once) */
	if (!x->f.put.packets && ts_ns)
		x->file_start_ns = ts_ns;
	return 0;
}

static const char *if_name(struct exporter *x, uint32_t ifindex, char *buf)
{
	if (x->o.ifname)
		return x->o.ifname(x->o.ifname_ctx, ifindex);
	if (ifindex && if_indextoname(ifindex, buf))
		return buf;
	return NULL;
}

/* pcapng: the IDB id of ifindex in this file, writing the IDB if new. */
static int idb_id(struct exporter *x, uint32_t ifindex, uint32_t *id)
{
	char buf[IF_NAMESIZE];
	int i;

	for (i = 0; i < x->nifs; i++) {
		if (x->ifs[i] == ifindex) {
			*id = (uint32_t)i;
			return 0;
		}
	}
	if (x->nifs == EXPORT_MAX_IFS) {
		*id = 0;	/* more interfaces than IDBs kept: the first */
		return 0;
	}
	if (pcapng_put_idb(&x->f.buf, (uint16_t)x->o.linktype, x->o.snaplen,
			   if_name(x, ifindex, buf)))
		return -ENOMEM;
	x->ifs[x->nifs] = ifindex;
	*id = (uint32_t)x->nifs++;
	return 0;
}

/* Write one frame into the open file. */
static void write_frame(struct exporter *x, uint32_t ifindex, uint64_t ts_ns,
			const uint8_t *data, uint32_t caplen, uint32_t wire_len)
{
	uint32_t id;
	int r;

	if (caplen > x->o.snaplen) {
		caplen = x->o.snaplen;
		x->st.snapped++;
	}
	if (ensure_file(x, ts_ns, pcapng_epb_size(caplen))) {
		x->st.lost++;
		return;
	}
	if (x->o.fmt == EXPORT_PCAPNG) {
		r = idb_id(x, ifindex, &id);
		if (!r)
			r = pcapng_put_epb(&x->f.buf, id, ts_ns, data, caplen,
					   wire_len);
		if (!r) {
			x->f.put.packets++;
			x->f.put.bytes += caplen;
		}
	} else {
		r = xfile_pcap_record(&x->f, ts_ns, data, caplen, wire_len);
	}
	if (r) {		/* not in the buffer */
		x->st.lost++;
		stop(x, r, "writing");
		close_file(x);
		return;
	}
	/* in the buffer: counted as written unless an error drops the
	 * buffer (close_file moves such packets to `lost`) */
	x->st.packets++;
	x->st.bytes += caplen;
	r = xfile_commit(&x->f);
	if (r) {
		stop(x, r, "writing");
		close_file(x);
	}
}

/* pcapng: the DSB with f's key log lines, if the store has any and this
 * file does not have them yet.  Returns true if f's keys are in the
 * file (or the format carries none). */
static bool write_keys(struct exporter *x, struct xflow *f, uint64_t ts_ns)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (x->o.fmt != EXPORT_PCAPNG || f->state != XF_TLS)
		return true;
	if (f->dsb_file == x->file_seq && x->open)
		return true;
	if (f->keys) {
		n = f->keys_len;
		memcpy(x->dsb, f->keys, n);
		goto put;
	}
	if (!x->ks)
		return false;
	for (int l = 0; l < KEY_LABEL_COUNT; l++) {
		const struct key_secret *k = keystore_get(x->ks, f->random,
							  (enum key_label)l);
		size_t need;

		if (!k || !k->len)
			continue;
		need = strlen(label_names[l]) + 1 + 64 + 1 + 2u * k->len + 1;
		if (n + need > sizeof(x->dsb))
			break;
		n += (size_t)sprintf(x->dsb + n, "%s ", label_names[l]);
		for (int i = 0; i < 32; i++) {
			x->dsb[n++] = hex[f->random[i] >> 4];
			x->dsb[n++] = hex[f->random[i] & 15];
		}
		x->dsb[n++] = ' ';
		for (int i = 0; i < k->len; i++) {
			x->dsb[n++] = hex[k->b[i] >> 4];
			x->dsb[n++] = hex[k->b[i] & 15];
		}
		x->dsb[n++] = '\n';
	}
	if (!n)
		return false;
	/* a complete set is kept with the flow: a file after rotation gets
	 * it even when the store has forgotten it (--key-ttl, eviction) */
	if ((keystore_get(x->ks, f->random, KEY_CLIENT_RANDOM) ||
	     (keystore_get(x->ks, f->random, KEY_CLIENT_TRAFFIC_SECRET_0) &&
	      keystore_get(x->ks, f->random, KEY_SERVER_TRAFFIC_SECRET_0))) &&
	    x->keys_bytes + n <= KEYS_KEPT && (f->keys = malloc(n))) {
		memcpy(f->keys, x->dsb, n);
		f->keys_len = (uint32_t)n;
		x->keys_bytes += n;
	}
put:
	if (ensure_file(x, ts_ns, 16 + n + 4) == 0) {
		if (pcapng_put_dsb(&x->f.buf, PCAPNG_SECRETS_TLS, x->dsb,
				   (uint32_t)n) == 0) {
			f->dsb_file = x->file_seq;
			x->st.dsbs++;
		}
	}
	secure_wipe(x->dsb, n);
	return true;
}

/* A packet of TLS flow f: its keys first if this file lacks them, the
 * two in the same file (rotation is checked once, for both). */
static void write_tls_frame(struct exporter *x, struct xflow *f,
			    uint32_t ifindex, uint64_t ts_ns,
			    const uint8_t *data, uint32_t caplen,
			    uint32_t wire_len)
{
	if (ensure_file(x, ts_ns, sizeof(x->dsb) + 20 +
			pcapng_epb_size(caplen))) {
		x->st.lost++;
		return;
	}
	x->pin = true;
	write_keys(x, f, ts_ns);
	write_frame(x, ifindex, ts_ns, data, caplen, wire_len);
	x->pin = false;
}

/* ------------------------------------------------------------ flows */

static uint32_t flow_hash(const struct xflow *k)
{
	uint64_t h = 1469598103934665603ULL;
	const uint8_t *p = k->a;

	for (int i = 0; i < 32; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	h = (h ^ k->pa) * 1099511628211ULL;
	h = (h ^ k->pb) * 1099511628211ULL;
	h = (h ^ k->family) * 1099511628211ULL;
	return (uint32_t)(h ^ (h >> 32)) & (EXPORT_BUCKETS - 1);
}

static void flow_key(const struct seg *s, struct xflow *k)
{
	int c = memcmp(s->src, s->dst, 16);

	memset(k, 0, sizeof(*k));
	k->family = s->family;
	if (c < 0 || (c == 0 && s->sport <= s->dport)) {
		memcpy(k->a, s->src, 16);
		memcpy(k->b, s->dst, 16);
		k->pa = s->sport;
		k->pb = s->dport;
	} else {
		memcpy(k->a, s->dst, 16);
		memcpy(k->b, s->src, 16);
		k->pa = s->dport;
		k->pb = s->sport;
	}
}

static bool same_flow(const struct xflow *f, const struct xflow *k)
{
	return f->family == k->family && f->pa == k->pa && f->pb == k->pb &&
	       !memcmp(f->a, k->a, 16) && !memcmp(f->b, k->b, 16);
}

static void lru_unlink(struct exporter *x, struct xflow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		x->lru_head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		x->lru_tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_append(struct exporter *x, struct xflow *f)
{
	f->lprev = x->lru_tail;
	f->lnext = NULL;
	if (x->lru_tail)
		x->lru_tail->lnext = f;
	else
		x->lru_head = f;
	x->lru_tail = f;
}

/* A ClientHello at the start of a client's first payload: its random. */
static bool client_hello(const struct seg *s, uint8_t random[32])
{
	const uint8_t *p = s->payload;

	if (s->len < 43 || p[0] != 0x16 || p[1] != 0x03 || p[5] != 0x01)
		return false;
	memcpy(random, p + 11, 32);
	return true;
}

static bool keys_known(struct exporter *x, const uint8_t random[32])
{
	return x->ks && (keystore_get(x->ks, random, KEY_CLIENT_RANDOM) ||
			 keystore_get(x->ks, random,
				      KEY_CLIENT_TRAFFIC_SECRET_0));
}

/* Write f's held packets (its keys first if they are known). */
static void release(struct exporter *x, struct xflow *f, uint64_t *counter)
{
	struct held *h = f->hhead, *next;

	if (!f->holding)
		return;
	if (counter && !keys_known(x, f->random))
		(*counter)++;
	for (; h; h = next) {
		next = h->next;
		write_tls_frame(x, f, h->ifindex, h->ts_ns, h->data, h->caplen,
				h->wire_len);
		x->hold_bytes -= sizeof(*h) + h->caplen;
		free(h);
	}
	f->hhead = f->htail = NULL;
	f->holding = false;
	if (f->wprev)
		f->wprev->wnext = f->wnext;
	else
		x->w_head = f->wnext;
	if (f->wnext)
		f->wnext->wprev = f->wprev;
	else
		x->w_tail = f->wprev;
	f->wprev = f->wnext = NULL;
}

static void flow_free(struct exporter *x, struct xflow *f)
{
	struct xflow **pp = &x->bucket[flow_hash(f)];

	release(x, f, &x->st.released_nokeys);
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(x, f);
	x->nflows--;
	if (f->keys) {
		secure_wipe(f->keys, f->keys_len);
		free(f->keys);
		x->keys_bytes -= f->keys_len;
	}
	free(f);
}

static struct xflow *flow_get(struct exporter *x, const struct seg *s)
{
	struct xflow k, *f;
	uint32_t h;

	flow_key(s, &k);
	h = flow_hash(&k);
	for (f = x->bucket[h]; f; f = f->hnext)
		if (same_flow(f, &k))
			break;
	if (!f) {
		if (x->nflows >= EXPORT_MAX_FLOWS) {
			flow_free(x, x->lru_head);
			x->st.flows_evicted++;
		}
		f = malloc(sizeof(*f));
		if (!f)
			return NULL;
		*f = k;
		f->hnext = x->bucket[h];
		x->bucket[h] = f;
		x->nflows++;
	} else {
		lru_unlink(x, f);
	}
	lru_append(x, f);
	f->last_ts = s->ts_ns;
	return f;
}

static void hold(struct exporter *x, struct xflow *f, uint32_t ifindex,
		 uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
		 uint32_t wire_len)
{
	struct held *h;

	if (caplen > x->o.snaplen)
		caplen = x->o.snaplen;
	/* the hold is full: the oldest waiting flows go out without keys */
	while (x->w_head && x->hold_bytes + sizeof(*h) + caplen >
				    x->o.key_hold_bytes)
		release(x, x->w_head, &x->st.released_full);
	if (sizeof(*h) + caplen > x->o.key_hold_bytes ||
	    !(h = malloc(sizeof(*h) + caplen))) {
		write_frame(x, ifindex, ts_ns, data, caplen, wire_len);
		return;
	}
	h->next = NULL;
	h->ifindex = ifindex;
	h->ts_ns = ts_ns;
	h->caplen = caplen;
	h->wire_len = wire_len;
	memcpy(h->data, data, caplen);
	if (!f->holding) {
		f->holding = true;
		f->hold_since = ts_ns;
		f->wprev = x->w_tail;
		f->wnext = NULL;
		if (x->w_tail)
			x->w_tail->wnext = f;
		else
			x->w_head = f;
		x->w_tail = f;
	}
	if (f->htail)
		f->htail->next = h;
	else
		f->hhead = h;
	f->htail = h;
	x->hold_bytes += sizeof(*h) + caplen;
	if (x->hold_bytes > x->st.hold_peak)
		x->st.hold_peak = x->hold_bytes;
	x->st.held++;
}

/* ------------------------------------------------------------ API */

struct exporter *export_new(const struct export_opts *o, struct keystore *ks,
			    char *err, size_t errlen)
{
	struct exporter *x;

	if (!o->path || !*o->path || o->snaplen < 64) {
		snprintf(err, errlen, "export: %s", o->path && *o->path ?
			 "snaplen under 64" : "no file name");
		log_err("%s", err);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->bucket = calloc(EXPORT_BUCKETS, sizeof(*x->bucket)))) {
		free(x);
		snprintf(err, errlen, "export: out of memory");
		log_err("%s", err);
		return NULL;
	}
	x->o = *o;
	x->ks = ks;
	x->f.fd = -1;
	if (o->max_files)
		x->ring = xcalloc(o->max_files, sizeof(*x->ring));
	/* create the first file now: an unwritable path is reported at once */
	if (open_file(x, 0)) {
		snprintf(err, errlen, "%s", x->err);
		export_free(x);
		return NULL;
	}
	return x;
}

/* A TCP frame of flow f: keys first, or hold, or write. */
static void tcp_frame(struct exporter *x, const struct seg *s, uint32_t ifindex,
		      uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
		      uint32_t wire_len)
{
	struct xflow *f = flow_get(x, s);

	if (!f) {
		write_frame(x, ifindex, ts_ns, data, caplen, wire_len);
		return;
	}
	if (f->state == XF_NEW && s->len) {
		if (client_hello(s, f->random)) {
			f->state = XF_TLS;
			x->st.tls_sessions++;
			if (x->o.fmt == EXPORT_PCAPNG && !keys_known(x, f->random)) {
				if (x->o.key_wait_ns)
					hold(x, f, ifindex, ts_ns, data, caplen,
					     wire_len);
				else {
					x->st.released_nokeys++;
					write_frame(x, ifindex, ts_ns, data,
						    caplen, wire_len);
				}
				return;
			}
		} else {
			f->state = XF_PLAIN;
		}
	}
	if (f->holding) {
		hold(x, f, ifindex, ts_ns, data, caplen, wire_len);
		return;
	}
	if (f->state == XF_TLS && x->o.fmt == EXPORT_PCAPNG) {
		/* a new file (rotation) needs this session's keys again */
		write_tls_frame(x, f, ifindex, ts_ns, data, caplen, wire_len);
		return;
	}
	write_frame(x, ifindex, ts_ns, data, caplen, wire_len);
}

static void expire(struct exporter *x, uint64_t now)
{
	x->now_ns = now;
	while (x->w_head && now >= x->w_head->hold_since + x->o.key_wait_ns)
		release(x, x->w_head, &x->st.released_timeout);
	while (x->lru_head && now > x->lru_head->last_ts + EXPORT_FLOW_IDLE)
		flow_free(x, x->lru_head);
}

void export_frame(struct exporter *x, uint32_t ifindex, uint64_t ts_ns,
		  const uint8_t *data, uint32_t caplen, uint32_t wire_len,
		  const struct seg *s)
{
	if (!netfilter_empty(&x->o.filter) &&
	    (!s || !netfilter_match(&x->o.filter, s->family, s->src, s->dst,
				    s->sport, s->dport))) {
		x->st.filtered++;
		return;
	}
	if (x->st.stopped) {
		x->st.lost++;
		return;
	}
	if (x->w_head || (x->lru_head && ts_ns > x->lru_head->last_ts +
						    EXPORT_FLOW_IDLE))
		expire(x, ts_ns);
	if (!s) {
		write_frame(x, ifindex, ts_ns, data, caplen, wire_len);
		return;
	}
	tcp_frame(x, s, ifindex, ts_ns, data, caplen, wire_len);
}

void export_seg(struct exporter *x, const struct seg *s)
{
	uint32_t n = frame_count(s);

	if (!netfilter_empty(&x->o.filter) &&
	    !netfilter_match(&x->o.filter, s->family, s->src, s->dst,
			     s->sport, s->dport)) {
		x->st.filtered += n;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t wire, len = frame_build(s, i, x->frame, &wire);

		/* every piece is of s's flow (held with it, keys before
		 * it); the ClientHello test only ever looks at the first */
		export_frame(x, s->ifindex, s->ts_ns, x->frame, len, wire, s);
	}
}

void export_keys_added(struct exporter *x)
{
	struct xflow *f = x->w_head, *next;

	for (; f; f = next) {
		next = f->wnext;
		if (keys_known(x, f->random))
			release(x, f, NULL);
	}
}

void export_tick(struct exporter *x, uint64_t now_ns)
{
	if (x->st.stopped)
		return;
	expire(x, now_ns);
	if (x->open && x->o.rotate_ns && x->f.put.packets &&
	    now_ns >= x->file_start_ns + x->o.rotate_ns)
		close_file(x);
}

int export_finish(struct exporter *x)
{
	while (x->w_head) {
		struct xflow *f = x->w_head;

		release(x, f, keys_known(x, f->random) ? NULL :
			&x->st.released_nokeys);
	}
	close_file(x);
	return x->st.stopped ? -EIO : 0;
}

void export_free(struct exporter *x)
{
	if (!x)
		return;
	export_finish(x);
	while (x->lru_head)
		flow_free(x, x->lru_head);
	for (uint32_t i = 0; i < x->nring; i++)
		free(x->ring[i]);
	free(x->ring);
	free(x->bucket);
	free(x);
}

const struct export_stats *export_stats(const struct exporter *x)
{
	return &x->st;
}

const char *export_error(const struct exporter *x)
{
	return x->err;
}

void export_print(const struct exporter *x, FILE *out)
{
	const struct export_stats *s = &x->st;

	fprintf(out, "tapir: export %s: %" PRIu64 " packets (%" PRIu64
		" bytes) in %" PRIu64 " files, %" PRIu64 " key blocks for %"
		PRIu64 " TLS sessions; %" PRIu64 " packets waited for keys; "
		"sessions written without keys: %" PRIu64 " after --key-wait, %"
		PRIu64 " hold full, %" PRIu64 " keys never known; %" PRIu64
		" filtered, %" PRIu64 " snapped, %" PRIu64 " lost%s%s\n",
		x->o.path, s->packets, s->bytes, s->files, s->dsbs,
		s->tls_sessions, s->held, s->released_timeout,
		s->released_full, s->released_nokeys, s->filtered, s->snapped,
		s->lost, s->stopped ? "; STOPPED: " : "",
		s->stopped ? x->err : "");
}
