/* tls.c - passive TLS session: record framing, handshake parsing, key
 * schedule driving and record decryption.  See tls.h.
 *
 * Owns: per-direction record buffer (one buffer: reassembly of a record
 * split across feeds, and the plaintext output of decryption, charged to the
 * memcap, at most 2 KiB or 5+16 KiB+2 KiB), handshake message reassembly
 * (only messages whose body is needed, at most HS_MAX), the cipher state
 * (tls_crypto.c) and the current TLS 1.3 traffic secret per direction
 * (wiped on change and free).  Does not own the key store, the plaintext
 * consumer, or any input buffer beyond the tls_session_feed() call.
 *
 * Invariants: every byte fed is consumed (or the session is broken); a
 * direction that is dead (gap, memcap, malformed record) never decrypts
 * again; plaintext is delivered only after its tag/MAC verified, so what
 * ops->plaintext sees is always exactly what the peer sent; tls_info.reason
 * is set once (first cause wins); no key material is ever logged.
 *
 * Session state (s->state), per direction d->epoch:
 *
 *   ST_START --record_start(): dir 0 handshake record starting with type 1--
 *      |                                                    \--> ST_MIDSTREAM
 *      v  hs_client_hello()                                      (anything else)
 *   ST_CLIENT_HELLO --hs_server_hello(), HRR random--> ST_HRR --2nd SH--.
 *      |  hs_server_hello()                                           |
 *      v  <-----------------------------------------------------------'
 *   ST_SERVER_HELLO
 *      TLS 1.3: keys_tls13_handshake()  both dirs  EP_CLEAR -> EP_HANDSHAKE
 *               hs_message(Finished)    per dir    EP_HANDSHAKE -> EP_APP
 *               hs_message(KeyUpdate)   per dir    EP_APP -> EP_APP (next)
 *      TLS 1.2: rec_ccs() -> keys_tls12()  per dir EP_CLEAR -> EP_APP
 *
 *   any state --invalid record header--> ST_BROKEN (-EBADMSG, sticky)
 *   per dir: tls_session_gap() / memcap refusal -> d->dead (no framing)
 *            no keys / unsupported / bad MAC   -> d->stopped (framing only)
 *
 * Late keys (s->hold_max > 0): where keys_tls13_handshake(),
 * keys_tls13_app() or rec_ccs() find no secret, wait_for_keys() sets
 * s->wait (what is missing) instead of stopping.  While s->wait is set,
 * rec_process() appends every complete record of either direction to the
 * held list (wire order, each record with its capture time); a gap or
 * memcap refusal of dir sets d->dead at once (no more framing, so no record
 * of dir is held after it) and d->kill_pending: ops->gap is told after the
 * held records are replayed.  tls_session_retry_keys():
 * keys_ready() -> redo the step that waited -> replay(): held records are
 * decrypted in place, in order, until the list is empty or a later secret
 * is missing (s->wait again).  give_up() drops the list.  Invariant: while
 * s->wait is set no plaintext is delivered and nothing is counted twice;
 * s->held_bytes == sum of held records' charges == what the memcap holds
 * for them.
 */
#include "tls.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_crypto.h"

#define REC_HDR		5
#define BUF_SMALL	2048
#define BUF_MAX		TLS_MAX_CIPHERTEXT
#define HS_MAX		(64 * 1024)

enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23,
       CT_HEARTBEAT = 24 };
enum { HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_NEW_SESSION_TICKET = 4,
       HS_ENCRYPTED_EXTENSIONS = 8, HS_FINISHED = 20, HS_KEY_UPDATE = 24 };
enum { ST_START, ST_CLIENT_HELLO, ST_HRR, ST_SERVER_HELLO, ST_MIDSTREAM,
       ST_BROKEN };
enum { EP_CLEAR, EP_HANDSHAKE, EP_APP };
enum { W_NONE, W_HS13, W_APP13, W_CCS12 };	/* s->wait: what is missing */

/* A record (or a gap marker) held while the session waits for keys. */
struct held {
	struct held *next;
	uint64_t ts;
	uint32_t len;
	uint8_t dir;
	uint8_t hdr[REC_HDR];
	uint8_t p[];		/* len bytes of payload */
};

static const uint8_t hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
	0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
	0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

struct hs_reasm {
	uint8_t hdr[4];
	uint8_t hdr_have;
	bool keep;		/* body buffered (else counted and dropped) */
	uint32_t body_len, got;
	uint8_t *buf;		/* body_len bytes when keep */
};

struct tls_dir {
	/* record framing */
	uint8_t hdr[REC_HDR];
	uint8_t hdr_have;
	bool skipping;		/* current record's payload is discarded */
	uint32_t rec_len, rec_got;
	uint8_t *buf;		/* record payload, then its plaintext */
	uint32_t cap;
	struct hs_reasm hs;
	/* keys */
	struct tls_cipher c;
	uint8_t secret[48];	/* TLS 1.3 current traffic secret */
	uint8_t secret_len;
	uint8_t epoch;
	bool hs_decrypted;	/* a record decrypted with handshake keys */
	bool stopped;		/* no more decryption; framing goes on */
	bool dead;		/* record sync lost: bytes ignored */
	bool failed_reported;
	bool kill_pending;	/* dead while waiting: report after replay */
	uint64_t kill_n;
	const char *kill_why;
};

struct tls_session {
	struct keystore *ks;
	const struct tls_ops *ops;
	void *ctx;
	struct memcap *mc;
	struct tls_stats *st, st_local;
	struct tls_info info;
	struct tls_dir d[2];
	const struct tls_suite *suite;
	uint8_t server_random[32];
	uint8_t state;
	bool etm_offered, etm, early_offered;
	bool failed_any, counted_decrypted, counted_nokeys, counted_unsup;
	uint64_t ts;
	/* late keys */
	uint64_t hold_max;	/* 0: never wait */
	uint8_t wait, wait_dir;	/* W_*; dir for W_APP13 / W_CCS12 */
	bool waited, resumed;
	uint64_t wait_since;
	struct held *held, **held_tail;
	uint64_t held_bytes;
};

/* ---- helpers ---------------------------------------------------------- */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* The category of the first reason: call right before set_reason(). */
static void set_why(struct tls_session *s, uint8_t why)
{
	if (!s->info.reason[0])
		s->info.why = why;
}

__attribute__((format(printf, 2, 3)))
static void set_reason(struct tls_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->info.reason[0])
		return;
	if (!s->info.why)
		s->info.why = TLS_WHY_OTHER;
	va_start(ap, fmt);
	vsnprintf(s->info.reason, sizeof(s->info.reason), fmt, ap);
	va_end(ap);
}

static void report_failed(struct tls_session *s, int dir)
{
	struct tls_dir *d = &s->d[dir];

	if (d->failed_reported)
		return;
	d->failed_reported = true;
	if (s->ops && s->ops->failed)
		s->ops->failed(s->ctx, dir, s->info.reason, s->ts);
}

/* Stop decrypting dir (framing continues).  bad: a decryption failure. */
static void dir_stop(struct tls_session *s, int dir, bool bad)
{
	s->d[dir].stopped = true;
	if (bad) {
		s->failed_any = true;
		s->info.decrypted = false;
	}
	if (!s->d[0].c.keyed || s->d[0].stopped)
		if (!s->d[1].c.keyed || s->d[1].stopped)
			s->info.decrypting = false;
	report_failed(s, dir);
}

static void no_keys(struct tls_session *s, int dir)
{
	set_why(s, TLS_WHY_NO_KEYS);
	set_reason(s, "no keys for session");
	if (!s->counted_nokeys) {
		s->counted_nokeys = true;
		s->st->no_keys++;
	}
	dir_stop(s, dir, false);
}

/* ---- late keys: the held list ---------------------------------------- */

static void held_free(struct tls_session *s, struct held *h)
{
	uint64_t charge = sizeof(*h) + h->len;

	secure_wipe(h, charge);		/* may hold plaintext after replay */
	free(h);
	memcap_release(s->mc, charge);
	s->held_bytes -= charge;
}

static void held_drop(struct tls_session *s)
{
	struct held *h, *next;

	for (h = s->held; h; h = next) {
		next = h->next;
		held_free(s, h);
	}
	s->held = NULL;
	s->held_tail = &s->held;
}

static void held_append(struct tls_session *s, struct held *h)
{
	h->next = NULL;
	*s->held_tail = h;
	s->held_tail = &h->next;
}

static void dir_stop(struct tls_session *s, int dir, bool bad);

/* Stop waiting for good: drop what is held, stop both directions. */
__attribute__((format(printf, 2, 3)))
static void give_up(struct tls_session *s, const char *fmt, ...)
{
	va_list ap;

	held_drop(s);
	s->wait = W_NONE;
	if (!s->info.reason[0]) {
		s->info.why = TLS_WHY_KEYS_LATE;
		va_start(ap, fmt);
		vsnprintf(s->info.reason, sizeof(s->info.reason), fmt, ap);
		va_end(ap);
	}
	dir_stop(s, 0, false);
	dir_stop(s, 1, false);
}

/* A secret is missing for step what (of dir).  Returns true if the session
 * now waits for it (late keys enabled), false if the caller must stop. */
static bool wait_for_keys(struct tls_session *s, int dir, uint8_t what)
{
	if (!s->hold_max)
		return false;
	s->wait = what;
	s->wait_dir = (uint8_t)dir;
	s->wait_since = s->ts;
	if (!s->waited) {
		s->waited = true;
		s->st->keys_waited++;
	}
	return true;
}

/* Hold one complete record of dir (copied).  Always returns 0: past the
 * bound or the memcap the session gives up instead. */
static int hold_record(struct tls_session *s, int dir, const uint8_t *hdr,
		       const uint8_t *payload, uint32_t len)
{
	uint64_t charge = sizeof(struct held) + len;
	struct held *h;

	if (s->held_bytes + charge > s->hold_max) {
		s->st->hold_exceeded++;
		give_up(s, "ciphertext held for keys exceeded %" PRIu64 " bytes",
			s->hold_max);
		return 0;
	}
	if (memcap_charge(s->mc, charge))
		goto refused;
	h = malloc(charge);
	if (!h) {
		memcap_release(s->mc, charge);
		goto refused;
	}
	memset(h, 0, sizeof(*h));
	h->ts = s->ts;
	h->len = len;
	h->dir = (uint8_t)dir;
	memcpy(h->hdr, hdr, REC_HDR);
	if (len)
		memcpy(h->p, payload, len);
	s->held_bytes += charge;
	held_append(s, h);
	return 0;
refused:
	s->st->hold_exceeded++;
	give_up(s, "memory cap reached while holding ciphertext for keys");
	return 0;
}

static void buf_free(struct tls_session *s, struct tls_dir *d)
{
	if (d->buf) {
		secure_wipe(d->buf, d->cap);	/* held plaintext */
		free(d->buf);
		memcap_release(s->mc, d->cap);
	}
	d->buf = NULL;
	d->cap = 0;
}

static void hs_free(struct tls_session *s, struct tls_dir *d)
{
	if (d->hs.buf) {
		secure_wipe(d->hs.buf, d->hs.body_len);
		free(d->hs.buf);
		memcap_release(s->mc, d->hs.body_len);
	}
	d->hs.buf = NULL;
}

/* Grow d->buf to hold need bytes; its contents are not kept (called only
 * between records).  0 or -ENOMEM (memcap or malloc). */
static int buf_reserve(struct tls_session *s, struct tls_dir *d, uint32_t need)
{
	uint32_t ncap = need <= BUF_SMALL ? BUF_SMALL : BUF_MAX;
	uint8_t *nb;

	if (d->cap >= need)
		return 0;
	if (memcap_charge(s->mc, ncap - d->cap))
		return -ENOMEM;
	nb = malloc(ncap);
	if (!nb) {
		memcap_release(s->mc, ncap - d->cap);
		return -ENOMEM;
	}
	if (d->buf) {
		secure_wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = nb;
	d->cap = ncap;
	return 0;
}

/* dir is dead: stop it for good, tell ops. */
static void dir_killed(struct tls_session *s, int dir, uint64_t n,
		       const char *why)
{
	struct tls_dir *d = &s->d[dir];

	d->kill_pending = false;
	d->stopped = true;
	buf_free(s, d);
	hs_free(s, d);
	if (!s->info.decrypted) {
		set_why(s, strncmp(why, "gap", 3) ? TLS_WHY_OTHER : TLS_WHY_GAP);
		set_reason(s, "%s", why);
	}
	if (s->ops && s->ops->gap)
		s->ops->gap(s->ctx, dir, n, s->ts);
}

/* Record sync of dir is lost.  While the session waits for keys, records
 * of dir held before this point are still to be replayed: the rest is
 * deferred to replay(). */
static void dir_kill(struct tls_session *s, int dir, uint64_t n,
		     const char *why)
{
	struct tls_dir *d = &s->d[dir];

	if (d->dead)
		return;
	d->dead = true;
	if (s->wait) {
		buf_free(s, d);
		hs_free(s, d);
		d->hdr_have = 0;
		d->kill_pending = true;
		d->kill_n = n;
		d->kill_why = why;
		return;
	}
	dir_killed(s, dir, n, why);
}

static int session_break(struct tls_session *s, const char *why)
{
	s->state = ST_BROKEN;
	held_drop(s);
	s->wait = W_NONE;
	set_reason(s, "%s", why);
	s->info.decrypted = false;
	s->info.decrypting = false;
	for (int dir = 0; dir < 2; dir++) {
		s->d[dir].dead = true;
		s->d[dir].stopped = true;
		report_failed(s, dir);
	}
	return -EBADMSG;
}

static void copy_name(char *dst, size_t dlen, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && i + 1 < dlen; i++)
		dst[i] = p[i] > 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	dst[i] = '\0';
}

static void set_version_name(struct tls_session *s, uint16_t v)
{
	static const char *const names[] = { "SSLv3", "TLSv1.0", "TLSv1.1",
					     "TLSv1.2", "TLSv1.3" };

	s->info.version = v;
	if (v >= 0x0300 && v <= 0x0304)
		snprintf(s->info.version_name, sizeof(s->info.version_name),
			 "%s", names[v - 0x0300]);
	else
		snprintf(s->info.version_name, sizeof(s->info.version_name),
			 "0x%04X", v);
}

/* ---- handshake message parsing ---------------------------------------- */

struct rd {
	const uint8_t *p;
	uint32_t n;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, uint32_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->n -= n;
	return p;
}

static uint32_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint32_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? be16(p) : 0;
}

/* Calls fn for each extension; returns -EBADMSG if the block is malformed.
 * r must be positioned at the extensions length (or be empty). */
typedef void (*ext_fn)(struct tls_session *s, uint32_t type,
		       const uint8_t *p, uint32_t n);

static int parse_exts(struct tls_session *s, struct rd *r, ext_fn fn)
{
	struct rd e;
	uint32_t len;

	if (r->bad)
		return -EBADMSG;
	if (r->n == 0)
		return 0;		/* no extensions */
	len = rd_u16(r);
	e.p = rd_take(r, len);
	e.n = len;
	e.bad = r->bad;
	while (!e.bad && e.n) {
		uint32_t type = rd_u16(&e), elen = rd_u16(&e);
		const uint8_t *ep = rd_take(&e, elen);

		if (ep)
			fn(s, type, ep, elen);
	}
	return e.bad ? -EBADMSG : 0;
}

static void alpn_first(struct tls_session *s, const uint8_t *p, uint32_t n)
{
	struct rd r = { p, n, false };
	uint32_t l;
	const uint8_t *name;

	rd_u16(&r);
	l = rd_u8(&r);
	name = rd_take(&r, l);
	if (name && l)
		copy_name(s->info.alpn, sizeof(s->info.alpn), name, l);
}

static void ch_ext(struct tls_session *s, uint32_t type, const uint8_t *p,
		   uint32_t n)
{
	struct rd r = { p, n, false };

	switch (type) {
	case 0x0000: {		/* server_name */
		uint32_t list = rd_u16(&r);
		struct rd l = { rd_take(&r, list), list, r.bad };

		while (!l.bad && l.n) {
			uint32_t nt = rd_u8(&l), nl = rd_u16(&l);
			const uint8_t *name = rd_take(&l, nl);

			if (name && nt == 0 && !s->info.sni[0]) {
				copy_name(s->info.sni, sizeof(s->info.sni),
					  name, nl);
				break;
			}
		}
		break;
	}
	case 0x0016:		/* encrypt_then_mac */
		s->etm_offered = true;
		break;
	case 0x002a:		/* early_data */
		s->early_offered = true;
		break;
	default:
		break;
	}
}

static void sh_ext(struct tls_session *s, uint32_t type, const uint8_t *p,
		   uint32_t n)
{
	switch (type) {
	case 0x0010:		/* ALPN (TLS 1.2) */
		alpn_first(s, p, n);
		break;
	case 0x0016:
		s->etm = s->etm_offered;
		break;
	case 0x002b:		/* supported_versions: selected */
		if (n == 2)
			set_version_name(s, (uint16_t)be16(p));
		break;
	default:
		break;
	}
}

static void ee_ext(struct tls_session *s, uint32_t type, const uint8_t *p,
		   uint32_t n)
{
	if (type == 0x0010)
		alpn_first(s, p, n);
}

static int hs_client_hello(struct tls_session *s, const uint8_t *p,
			   uint32_t n)
{
	struct rd r = { p, n, false };
	const uint8_t *random;

	if (s->state != ST_START && s->state != ST_CLIENT_HELLO)
		return 0;	/* 2nd ClientHello after HRR: same random */
	rd_u16(&r);
	random = rd_take(&r, 32);
	rd_take(&r, rd_u8(&r));		/* session_id */
	rd_take(&r, rd_u16(&r));	/* cipher_suites */
	rd_take(&r, rd_u8(&r));		/* compression */
	if (r.bad || !random)
		return -EBADMSG;
	memcpy(s->info.client_random, random, 32);
	s->info.have_client_random = true;
	s->state = ST_CLIENT_HELLO;
	return parse_exts(s, &r, ch_ext);
}

static void unsupported(struct tls_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void unsupported(struct tls_session *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->info.reason[0]) {
		s->info.why = TLS_WHY_UNSUPPORTED;
		va_start(ap, fmt);
		vsnprintf(s->info.reason, sizeof(s->info.reason), fmt, ap);
		va_end(ap);
	}
	if (!s->counted_unsup) {
		s->counted_unsup = true;
		s->st->unsupported++;
	}
	dir_stop(s, 0, false);
	dir_stop(s, 1, false);
}

/* TLS 1.3: both directions switch to handshake traffic keys. */
static void keys_tls13_handshake(struct tls_session *s)
{
	static const enum key_label lab[2] = {
		KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET,
		KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET };
	const struct key_secret *k[2];

	for (int dir = 0; dir < 2; dir++)
		k[dir] = keystore_get(s->ks, s->info.client_random, lab[dir]);
	if (!k[0] || !k[1]) {
		if (wait_for_keys(s, 0, W_HS13))
			return;
		no_keys(s, 0);
		no_keys(s, 1);
		return;
	}
	for (int dir = 0; dir < 2; dir++) {
		struct tls_dir *d = &s->d[dir];

		if (d->stopped)
			continue;
		if (tls_cipher_init13(&d->c, s->suite, k[dir]->b, k[dir]->len)) {
			set_reason(s, "key log secret does not fit %s",
				   s->suite->name);
			dir_stop(s, dir, false);
			continue;
		}
		d->epoch = EP_HANDSHAKE;
		s->info.decrypting = true;
	}
}

/* TLS 1.3: dir's Finished seen: application traffic keys from now on. */
static void keys_tls13_app(struct tls_session *s, int dir)
{
	struct tls_dir *d = &s->d[dir];
	const struct key_secret *k = keystore_get(s->ks, s->info.client_random,
		dir ? KEY_SERVER_TRAFFIC_SECRET_0 : KEY_CLIENT_TRAFFIC_SECRET_0);

	if (!k) {
		if (!wait_for_keys(s, dir, W_APP13))
			no_keys(s, dir);
		return;
	}
	secure_wipe(d->secret, sizeof(d->secret));
	memcpy(d->secret, k->b, k->len);
	d->secret_len = k->len;
	if (tls_cipher_init13(&d->c, s->suite, d->secret, d->secret_len)) {
		set_reason(s, "key log secret does not fit %s", s->suite->name);
		dir_stop(s, dir, false);
		return;
	}
	d->epoch = EP_APP;
}

static void key_update(struct tls_session *s, int dir)
{
	struct tls_dir *d = &s->d[dir];

	if (tls13_next_secret(s->suite, d->secret, d->secret_len) ||
	    tls_cipher_init13(&d->c, s->suite, d->secret, d->secret_len)) {
		set_reason(s, "KeyUpdate key derivation failed");
		dir_stop(s, dir, true);
	}
}

static int hs_server_hello(struct tls_session *s, const uint8_t *p,
			   uint32_t n)
{
	struct rd r = { p, n, false };
	const uint8_t *random;
	uint16_t cipher;
	int rc;

	if (s->state != ST_CLIENT_HELLO && s->state != ST_HRR)
		return 0;
	set_version_name(s, (uint16_t)rd_u16(&r));
	random = rd_take(&r, 32);
	rd_take(&r, rd_u8(&r));
	cipher = (uint16_t)rd_u16(&r);
	rd_u8(&r);
	if (r.bad || !random)
		return -EBADMSG;
	s->etm = false;
	rc = parse_exts(s, &r, sh_ext);
	if (rc)
		return rc;
	s->info.cipher = cipher;
	s->suite = tls_suite_find(cipher);
	if (s->suite)
		snprintf(s->info.cipher_name, sizeof(s->info.cipher_name),
			 "%s", s->suite->name);
	else
		snprintf(s->info.cipher_name, sizeof(s->info.cipher_name),
			 "0x%04X", cipher);
	if (!memcmp(random, hrr_random, 32)) {
		s->state = ST_HRR;
		return 0;
	}
	memcpy(s->server_random, random, 32);
	s->state = ST_SERVER_HELLO;
	if (s->info.version != 0x0303 && s->info.version != 0x0304) {
		unsupported(s, "unsupported version %s",
			    s->info.version_name);
		return 0;
	}
	if (!s->suite || s->suite->bulk == TLS_BULK_NONE ||
	    s->suite->tls13 != (s->info.version == 0x0304)) {
		unsupported(s, "unsupported cipher suite %s",
			    s->info.cipher_name);
		return 0;
	}
	if (s->info.version == 0x0304)
		keys_tls13_handshake(s);
	return 0;
}

static int hs_message(struct tls_session *s, int dir, uint8_t type,
		      const uint8_t *body, uint32_t n)
{
	struct tls_dir *d = &s->d[dir];
	bool tls13 = s->state == ST_SERVER_HELLO && s->info.version == 0x0304;

	switch (type) {
	case HS_CLIENT_HELLO:
		return dir == 0 && body ? hs_client_hello(s, body, n) : 0;
	case HS_SERVER_HELLO:
		return dir == 1 && body ? hs_server_hello(s, body, n) : 0;
	case HS_ENCRYPTED_EXTENSIONS:
		if (tls13 && dir == 1 && body && d->epoch == EP_HANDSHAKE) {
			struct rd r = { body, n, false };

			parse_exts(s, &r, ee_ext);	/* ALPN only */
		}
		return 0;
	case HS_FINISHED:
		if (tls13 && d->epoch == EP_HANDSHAKE)
			keys_tls13_app(s, dir);
		return 0;
	case HS_KEY_UPDATE:
		if (tls13 && d->epoch == EP_APP && body && n == 1)
			key_update(s, dir);
		return 0;
	default:
		return 0;	/* certificates, tickets, ...: not needed */
	}
}

static bool hs_keep(uint8_t type)
{
	return type == HS_CLIENT_HELLO || type == HS_SERVER_HELLO ||
	       type == HS_ENCRYPTED_EXTENSIONS || type == HS_KEY_UPDATE;
}

/* Feed handshake-protocol bytes of dir.  0, -EBADMSG, -ENOMEM. */
static int hs_feed(struct tls_session *s, int dir, const uint8_t *p,
		   uint32_t n)
{
	struct tls_dir *d = &s->d[dir];
	struct hs_reasm *h = &d->hs;
	int rc;

	while (n && !d->stopped) {
		if (h->hdr_have < 4) {
			uint32_t take;

			if (h->hdr_have == 0 && n >= 4 && n - 4 >= be24(p + 1)) {
				uint32_t bl = be24(p + 1);

				rc = hs_message(s, dir, p[0], p + 4, bl);
				if (rc)
					return rc;
				p += 4 + bl;
				n -= 4 + bl;
				continue;
			}
			take = MIN(4u - h->hdr_have, n);
			memcpy(h->hdr + h->hdr_have, p, take);
			h->hdr_have = (uint8_t)(h->hdr_have + take);
			p += take;
			n -= take;
			if (h->hdr_have < 4)
				break;
			h->body_len = be24(h->hdr + 1);
			h->got = 0;
			h->keep = hs_keep(h->hdr[0]);
			if (h->keep) {
				if (h->body_len > HS_MAX)
					return -EBADMSG;
				if (memcap_charge(s->mc, h->body_len))
					return -ENOMEM;
				h->buf = malloc(h->body_len ? h->body_len : 1);
				if (!h->buf) {
					memcap_release(s->mc, h->body_len);
					return -ENOMEM;
				}
			}
		} else {
			uint32_t take = MIN(h->body_len - h->got, n);

			if (h->keep)
				memcpy(h->buf + h->got, p, take);
			h->got += take;
			p += take;
			n -= take;
		}
		if (h->hdr_have == 4 && h->got == h->body_len) {
			rc = hs_message(s, dir, h->hdr[0],
					h->keep ? h->buf : NULL, h->body_len);
			hs_free(s, d);
			h->hdr_have = 0;
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- records ---------------------------------------------------------- */

/* TLS 1.2 ChangeCipherSpec from dir: dir's records are encrypted from now. */
static void rec_ccs(struct tls_session *s, int dir)
{
	struct tls_dir *d = &s->d[dir];
	const struct key_secret *ms;
	const struct tls_suite *su = s->suite;
	uint8_t kb[2 * (48 + 32 + 12)];
	unsigned ml, kl, il;

	if (s->state != ST_SERVER_HELLO || s->info.version != 0x0303)
		return;		/* TLS 1.3 compatibility CCS: ignored */
	if (d->c.keyed) {
		set_reason(s, "TLS 1.2 renegotiation not supported");
		dir_stop(s, dir, false);
		return;
	}
	ms = keystore_get(s->ks, s->info.client_random, KEY_CLIENT_RANDOM);
	if (!ms && wait_for_keys(s, dir, W_CCS12))
		return;
	if (!ms || ms->len != 48) {
		no_keys(s, dir);
		return;
	}
	ml = tls12_mac_key_len(su);
	kl = su->key_len;
	il = tls12_fixed_iv_len(su);
	if (tls12_key_block(su, ms->b, s->info.client_random,
			    s->server_random, kb, 2 * (ml + kl + il)) ||
	    tls_cipher_init12(&d->c, su, kb + dir * ml, kb + 2 * ml + dir * kl,
			      kb + 2 * (ml + kl) + dir * il, s->etm)) {
		set_reason(s, "key derivation failed");
		dir_stop(s, dir, false);
	} else {
		d->epoch = EP_APP;
		s->info.decrypting = true;
	}
	secure_wipe(kb, sizeof(kb));
}

static void app_data(struct tls_session *s, int dir, const uint8_t *p,
		     uint32_t n)
{
	if (!s->failed_any)
		s->info.decrypted = true;
	if (!s->counted_decrypted) {
		s->counted_decrypted = true;
		s->st->decrypted++;
	}
	s->info.app_bytes[dir] += n;
	if (n && s->ops && s->ops->plaintext)
		s->ops->plaintext(s->ctx, dir, p, n, s->ts);
}

static int hs_result(struct tls_session *s, int dir, int rc)
{
	if (rc == -ENOMEM) {
		dir_kill(s, dir, 0, "memory cap reached");
		return -ENOMEM;
	}
	if (rc)
		return session_break(s, "malformed TLS handshake");
	return 0;
}

/* Decrypt one record of dir.  inplace: payload is a buffer tls.c owns
 * (d->buf or a held record) and is decrypted in place; NULL: payload is the
 * caller's input, decrypted into d->buf. */
static int rec_decrypt(struct tls_session *s, int dir, const uint8_t *hdr,
		       const uint8_t *payload, uint32_t len, uint8_t *inplace)
{
	struct tls_dir *d = &s->d[dir];
	uint8_t *pt, type;
	uint32_t pt_len;

	if (d->c.tls13 && hdr[0] != CT_APPDATA)
		return 0;	/* compatibility CCS, cleartext alert */
	if (!inplace && buf_reserve(s, d, len)) {
		dir_kill(s, dir, 0, "memory cap reached");
		return -ENOMEM;
	}
	if (tls_cipher_decrypt(&d->c, hdr, payload, len,
			       inplace ? inplace : d->buf, &pt, &pt_len,
			       &type)) {
		if (dir == 0 && d->epoch == EP_HANDSHAKE && !d->hs_decrypted &&
		    s->early_offered) {
			/* 0-RTT data under the early secret: skipped. */
			if (s->ops && s->ops->gap)
				s->ops->gap(s->ctx, dir, 0, s->ts);
			return 0;
		}
		s->st->bad_records++;
		set_why(s, TLS_WHY_BAD_RECORD);
		set_reason(s, "decryption failed (bad record MAC)");
		dir_stop(s, dir, true);
		return 0;
	}
	if (d->epoch == EP_HANDSHAKE)
		d->hs_decrypted = true;
	switch (type) {
	case CT_APPDATA:
		app_data(s, dir, pt, pt_len);
		return 0;
	case CT_HANDSHAKE:
		return hs_result(s, dir, hs_feed(s, dir, pt, pt_len));
	case CT_CCS:
		if (!d->c.tls13) {
			set_reason(s, "TLS 1.2 renegotiation not supported");
			dir_stop(s, dir, false);
		}
		return 0;
	default:
		return 0;	/* alerts, heartbeats */
	}
}

static int midstream(struct tls_session *s)
{
	s->state = ST_MIDSTREAM;
	set_why(s, TLS_WHY_MIDSTREAM);
	set_reason(s, "capture started mid-session");
	s->st->midstream++;
	for (int dir = 0; dir < 2; dir++) {
		s->d[dir].dead = true;
		s->d[dir].stopped = true;
		report_failed(s, dir);
	}
	return 0;
}

/* One complete record of dir, in order (live or replayed). */
static int rec_handle(struct tls_session *s, int dir, const uint8_t *hdr,
		      const uint8_t *payload, uint32_t len, uint8_t *inplace)
{
	struct tls_dir *d = &s->d[dir];

	if (d->stopped)
		return 0;
	if (d->c.keyed)
		return rec_decrypt(s, dir, hdr, payload, len, inplace);
	switch (hdr[0]) {
	case CT_HANDSHAKE:
		if (d->epoch != EP_CLEAR)
			return 0;
		return hs_result(s, dir, hs_feed(s, dir, payload, len));
	case CT_CCS:
		rec_ccs(s, dir);
		return 0;
	default:
		return 0;	/* cleartext alert; data before keys */
	}
}

/* One complete record of dir as it comes off the wire. */
static int rec_process(struct tls_session *s, int dir, const uint8_t *hdr,
		       const uint8_t *payload, uint32_t len, uint8_t *inplace)
{
	s->info.records[dir]++;
	if (s->state == ST_START) {
		if (dir != 0 || hdr[0] != CT_HANDSHAKE || !len ||
		    payload[0] != HS_CLIENT_HELLO)
			return midstream(s);
	}
	if (s->d[dir].stopped)
		return 0;
	if (s->wait)
		return hold_record(s, dir, hdr, payload, len);
	return rec_handle(s, dir, hdr, payload, len, inplace);
}

static bool hdr_ok(const uint8_t *h)
{
	return h[0] >= CT_CCS && h[0] <= CT_HEARTBEAT && h[1] == 3 &&
	       h[2] <= 4 && be16(h + 3) <= BUF_MAX;
}

static int bad_header(struct tls_session *s)
{
	return session_break(s, s->state == ST_START ?
			     "not a TLS stream" :
			     "malformed TLS record (record sync lost)");
}

int tls_session_feed(struct tls_session *s, int dir, const uint8_t *p,
		     uint32_t n, uint64_t ts_ns)
{
	struct tls_dir *d;
	int rc;

	if (s->state == ST_BROKEN)
		return -EBADMSG;
	if (dir != 0 && dir != 1)
		return -EINVAL;
	d = &s->d[dir];
	s->ts = ts_ns;
	while (n && !d->dead) {
		if (d->hdr_have < REC_HDR) {
			uint32_t take;

			/* Whole record contiguous in the input: no copy. */
			if (d->hdr_have == 0 && n >= REC_HDR) {
				uint32_t rl = be16(p + 3);

				if (!hdr_ok(p))
					return bad_header(s);
				if (n - REC_HDR >= rl) {
					rc = rec_process(s, dir, p, p + REC_HDR,
							 rl, NULL);
					if (rc)
						return rc;
					p += REC_HDR + rl;
					n -= REC_HDR + rl;
					continue;
				}
			}
			take = MIN((uint32_t)REC_HDR - d->hdr_have, n);
			memcpy(d->hdr + d->hdr_have, p, take);
			d->hdr_have = (uint8_t)(d->hdr_have + take);
			p += take;
			n -= take;
			if (d->hdr_have < REC_HDR)
				break;
			if (!hdr_ok(d->hdr))
				return bad_header(s);
			d->rec_len = be16(d->hdr + 3);
			d->rec_got = 0;
			d->skipping = d->stopped && s->state != ST_START;
			if (!d->skipping && buf_reserve(s, d, d->rec_len)) {
				dir_kill(s, dir, 0, "memory cap reached");
				return -ENOMEM;
			}
		} else {
			uint32_t take = MIN(d->rec_len - d->rec_got, n);

			if (!d->skipping)
				memcpy(d->buf + d->rec_got, p, take);
			d->rec_got += take;
			p += take;
			n -= take;
		}
		if (d->rec_got == d->rec_len) {
			d->hdr_have = 0;
			if (d->skipping) {
				s->info.records[dir]++;
				continue;
			}
			rc = rec_process(s, dir, d->hdr, d->buf, d->rec_len,
					 d->buf);
			if (rc)
				return rc;
		}
	}
	return s->state == ST_BROKEN ? -EBADMSG : 0;
}

void tls_session_gap(struct tls_session *s, int dir, uint64_t n,
		     uint64_t ts_ns)
{
	if (!s || (dir != 0 && dir != 1) || s->state == ST_BROKEN)
		return;
	s->ts = ts_ns;
	dir_kill(s, dir, n, "gap in TLS stream (record sync lost)");
}

struct tls_session *tls_session_new(struct keystore *ks,
				    const struct tls_ops *ops, void *ctx,
				    struct memcap *mc, struct tls_stats *st)
{
	struct tls_session *s = xcalloc(1, sizeof(*s));

	s->ks = ks;
	s->ops = ops;
	s->ctx = ctx;
	s->mc = mc;
	s->st = st ? st : &s->st_local;
	s->st->sessions++;
	s->held_tail = &s->held;
	return s;
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	held_drop(s);
	for (int dir = 0; dir < 2; dir++) {
		struct tls_dir *d = &s->d[dir];

		buf_free(s, d);
		hs_free(s, d);
		tls_cipher_fini(&d->c);
	}
	secure_wipe(s, sizeof(*s));
	free(s);
}

const struct tls_info *tls_session_info(const struct tls_session *s)
{
	return &s->info;
}

/* ---- late keys: waiting, retry, giving up ----------------------------- */

void tls_session_set_key_wait(struct tls_session *s, uint64_t max_held)
{
	s->hold_max = max_held;
}

bool tls_session_waiting(const struct tls_session *s, uint64_t *since_ns)
{
	if (since_ns)
		*since_ns = s->wait ? s->wait_since : 0;
	return s->wait != W_NONE;
}

uint64_t tls_session_held(const struct tls_session *s)
{
	return s->held_bytes;
}

/* Are the secrets s->wait needs in the store now? */
static bool keys_ready(const struct tls_session *s)
{
	const uint8_t *cr = s->info.client_random;

	switch (s->wait) {
	case W_HS13:
		return keystore_get(s->ks, cr,
				    KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET) &&
		       keystore_get(s->ks, cr,
				    KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET);
	case W_APP13:
		return keystore_get(s->ks, cr, s->wait_dir ?
				    KEY_SERVER_TRAFFIC_SECRET_0 :
				    KEY_CLIENT_TRAFFIC_SECRET_0);
	case W_CCS12:
		return keystore_get(s->ks, cr, KEY_CLIENT_RANDOM);
	default:
		return false;
	}
}

/* Decrypt held records in order until none is left or a secret is missing
 * again; then report directions that died while waiting. */
static void replay(struct tls_session *s)
{
	uint64_t ts = s->ts;

	while (s->held && !s->wait && s->state != ST_BROKEN) {
		struct held *h = s->held;

		s->held = h->next;
		if (!s->held)
			s->held_tail = &s->held;
		s->ts = h->ts;
		rec_handle(s, h->dir, h->hdr, h->p, h->len, h->p);
		held_free(s, h);
	}
	if (!s->wait)
		for (int dir = 0; dir < 2; dir++)
			if (s->d[dir].kill_pending)
				dir_killed(s, dir, s->d[dir].kill_n,
					   s->d[dir].kill_why);
	s->ts = ts;
}

int tls_session_retry_keys(struct tls_session *s)
{
	uint8_t what = s->wait;

	if (!what)
		return 0;
	if (!keys_ready(s))
		return 1;
	s->wait = W_NONE;
	if (!s->resumed) {
		s->resumed = true;
		s->st->keys_late++;
	}
	switch (what) {
	case W_HS13:
		keys_tls13_handshake(s);
		break;
	case W_APP13:
		keys_tls13_app(s, s->wait_dir);
		break;
	case W_CCS12:
		rec_ccs(s, s->wait_dir);
		break;
	}
	if (!s->wait)
		replay(s);
	return s->wait ? 1 : 0;
}

void tls_session_stop_waiting(struct tls_session *s, uint64_t waited_ns)
{
	if (!s->wait)
		return;
	if (waited_ns) {
		s->st->keys_timeout++;
		give_up(s, "keys did not arrive within %.3gs",
			(double)waited_ns / 1e9);
	} else {
		held_drop(s);
		s->wait = W_NONE;
		no_keys(s, 0);
		no_keys(s, 1);
	}
}

int tls_looks_like_client_hello(const uint8_t *p, uint32_t n)
{
	uint32_t rl;

	if (n < 6)
		return -EAGAIN;
	rl = be16(p + 3);
	if (p[0] != CT_HANDSHAKE || p[1] != 3 || p[2] > 4 || p[5] != 1 ||
	    rl < 4 || rl > 16384)
		return 0;
	if (n >= 9 && be24(p + 6) < 38)	/* version+random+3 length bytes */
		return 0;
	return 1;
}
