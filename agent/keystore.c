/* keystore.c - NSS key log secrets by client_random.  See keystore.h.
 *
 * Owns: one heap entry per client_random (all labels of that session), a
 * chained hash table over them (grown by doubling) and an insertion-ordered
 * list used for oldest-first eviction.  Does not own files beyond the
 * duration of keystore_load_file().
 *
 * Lines are whitespace-separated "LABEL CLIENT_RANDOM SECRET"; the NSS
 * labels RSA, ECH_SECRET, ECH_CONFIG and OpenSSL's CLIENT_/SERVER_TRAFFIC_
 * SECRET_N are known but unused: such lines are skipped like comments.
 *
 * Invariants: count <= max_entries (0 = unlimited); every entry is in exactly
 * one hash chain and in the age list; freed or evicted entries are wiped with
 * secure_wipe() before free(); no secret byte is ever passed to a log call
 * (warnings name the file, the line number and the reason only).
 */
#include "keystore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ks_entry {
	uint8_t cr[32];
	struct key_secret sec[KEY_LABEL_COUNT];
	struct ks_entry *hnext;			/* hash chain */
	struct ks_entry *older, *newer;		/* age list */
	uint64_t born_ns;	/* first keystore_expire() that saw it; 0 not yet */
};

struct keystore {
	struct ks_entry **tab;
	size_t nbuckets;	/* power of two */
	size_t count, max_entries;
	uint64_t ttl_ns;	/* 0: entries never expire */
	struct ks_entry *oldest, *newest;
	struct keystore_stats st;
};

static const struct {
	const char *name;
	enum key_label label;
} labels[] = {
	{ "CLIENT_RANDOM", KEY_CLIENT_RANDOM },
	{ "CLIENT_EARLY_TRAFFIC_SECRET", KEY_CLIENT_EARLY_TRAFFIC_SECRET },
	{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	  KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET },
	{ "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	  KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET },
	{ "CLIENT_TRAFFIC_SECRET_0", KEY_CLIENT_TRAFFIC_SECRET_0 },
	{ "SERVER_TRAFFIC_SECRET_0", KEY_SERVER_TRAFFIC_SECRET_0 },
	{ "EXPORTER_SECRET", KEY_EXPORTER_SECRET },
	{ "EARLY_EXPORTER_SECRET", KEY_EARLY_EXPORTER_SECRET },
};

/* Labels tapir has no use for, accepted silently and not stored: OpenSSL
 * writes "RSA" lines next to CLIENT_RANDOM for RSA key exchange, and
 * "*_TRAFFIC_SECRET_N" at each KeyUpdate (tls.c derives those itself). */
static bool ignored_label(const char *f, size_t n)
{
	static const char *const names[] = {
		"RSA", "ECH_SECRET", "ECH_CONFIG",
		"CLIENT_TRAFFIC_SECRET_N", "SERVER_TRAFFIC_SECRET_N" };

	for (size_t k = 0; k < ARRAY_SIZE(names); k++)
		if (strlen(names[k]) == n && !memcmp(names[k], f, n))
			return true;
	return false;
}

static size_t ks_hash(const uint8_t cr[32])
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (int i = 0; i < 32; i++) {
		h ^= cr[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

struct keystore *keystore_new(size_t max_entries)
{
	struct keystore *ks = xcalloc(1, sizeof(*ks));

	ks->nbuckets = 64;
	ks->tab = xcalloc(ks->nbuckets, sizeof(*ks->tab));
	ks->max_entries = max_entries;
	return ks;
}

static void entry_free(struct ks_entry *e)
{
	secure_wipe(e, sizeof(*e));
	free(e);
}

void keystore_free(struct keystore *ks)
{
	struct ks_entry *e, *next;

	if (!ks)
		return;
	for (e = ks->oldest; e; e = next) {
		next = e->newer;
		entry_free(e);
	}
	free(ks->tab);
	free(ks);
}

static struct ks_entry *ks_find(const struct keystore *ks,
				const uint8_t cr[32])
{
	struct ks_entry *e = ks->tab[ks_hash(cr) & (ks->nbuckets - 1)];

	for (; e; e = e->hnext)
		if (!memcmp(e->cr, cr, 32))
			return e;
	return NULL;
}

static void ks_grow(struct keystore *ks)
{
	size_t nb = ks->nbuckets * 2;
	struct ks_entry **tab = calloc(nb, sizeof(*tab));
	struct ks_entry *e;

	if (!tab)
		return;		/* keep the old table: longer chains only */
	for (e = ks->oldest; e; e = e->newer) {
		size_t b = ks_hash(e->cr) & (nb - 1);

		e->hnext = tab[b];
		tab[b] = e;
	}
	free(ks->tab);
	ks->tab = tab;
	ks->nbuckets = nb;
}

static void ks_unlink_oldest(struct keystore *ks)
{
	struct ks_entry *e = ks->oldest, **pp;

	pp = &ks->tab[ks_hash(e->cr) & (ks->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	ks->oldest = e->newer;
	if (ks->oldest)
		ks->oldest->older = NULL;
	else
		ks->newest = NULL;
	ks->count--;
	entry_free(e);
}

static void ks_evict_oldest(struct keystore *ks)
{
	ks_unlink_oldest(ks);
	ks->st.evicted++;
}

void keystore_set_ttl(struct keystore *ks, uint64_t ttl_ns)
{
	ks->ttl_ns = ttl_ns;
}

size_t keystore_expire(struct keystore *ks, uint64_t now_ns)
{
	struct ks_entry *e;
	size_t n = 0;

	if (!ks || !ks->ttl_ns)
		return 0;
	/* entries added since the last call are born now (newest end) */
	for (e = ks->newest; e && !e->born_ns; e = e->older)
		e->born_ns = now_ns ? now_ns : 1;
	while (ks->oldest && ks->oldest->born_ns &&
	       now_ns - ks->oldest->born_ns >= ks->ttl_ns &&
	       now_ns >= ks->oldest->born_ns) {
		ks_unlink_oldest(ks);
		ks->st.expired++;
		n++;
	}
	return n;
}

size_t keystore_memory(const struct keystore *ks)
{
	return sizeof(*ks) + ks->nbuckets * sizeof(*ks->tab) +
	       ks->count * sizeof(struct ks_entry);
}

static struct ks_entry *ks_insert(struct keystore *ks, const uint8_t cr[32])
{
	struct ks_entry *e;
	size_t b;

	if (ks->max_entries && ks->count >= ks->max_entries)
		ks_evict_oldest(ks);
	if (ks->count >= ks->nbuckets)
		ks_grow(ks);
	e = xcalloc(1, sizeof(*e));
	memcpy(e->cr, cr, 32);
	b = ks_hash(cr) & (ks->nbuckets - 1);
	e->hnext = ks->tab[b];
	ks->tab[b] = e;
	e->older = ks->newest;
	if (ks->newest)
		ks->newest->newer = e;
	else
		ks->oldest = e;
	ks->newest = e;
	ks->count++;
	return e;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly n hex chars (n even) into out.  0 or -EBADMSG. */
static int unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse one line; on -EBADMSG *why names the reason (never the secret). */
static int ks_parse(struct keystore *ks, const char *line, size_t len,
		    const char **why)
{
	const char *f[4];
	size_t fl[4], nf = 0, i = 0;
	uint8_t cr[32];
	struct key_secret sec;
	struct ks_entry *e;
	int label = -1;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	while (i < len && is_ws(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 0;
	while (i < len) {
		size_t start = i;

		while (i < len && !is_ws(line[i]))
			i++;
		if (nf == 4) {
			*why = "too many fields";
			return -EBADMSG;
		}
		f[nf] = line + start;
		fl[nf++] = i - start;
		while (i < len && is_ws(line[i]))
			i++;
	}
	if (nf == 4) {
		*why = "too many fields";
		return -EBADMSG;
	}
	if (nf < 3) {
		*why = "missing fields (expected LABEL CLIENT_RANDOM SECRET)";
		return -EBADMSG;
	}
	for (size_t k = 0; k < ARRAY_SIZE(labels); k++)
		if (strlen(labels[k].name) == fl[0] &&
		    !memcmp(labels[k].name, f[0], fl[0]))
			label = (int)labels[k].label;
	if (label < 0 && ignored_label(f[0], fl[0]))
		return 0;
	if (label < 0) {
		*why = "unknown label";
		return -EBADMSG;
	}
	if (fl[1] != 64 || unhex(f[1], 64, cr)) {
		*why = "client_random is not 64 hex digits";
		return -EBADMSG;
	}
	memset(&sec, 0, sizeof(sec));
	if (label == KEY_CLIENT_RANDOM ? fl[2] != 96
				       : fl[2] != 64 && fl[2] != 96) {
		*why = label == KEY_CLIENT_RANDOM ?
			"secret is not 48 bytes (96 hex digits)" :
			"secret is not 32 or 48 bytes (64 or 96 hex digits)";
		return -EBADMSG;
	}
	if (unhex(f[2], fl[2], sec.b)) {
		secure_wipe(&sec, sizeof(sec));
		*why = "secret is not hex";
		return -EBADMSG;
	}
	sec.len = (uint8_t)(fl[2] / 2);
	e = ks_find(ks, cr);
	if (!e)
		e = ks_insert(ks, cr);
	if (e->sec[label].len)
		ks->st.duplicates++;	/* last one wins */
	e->sec[label] = sec;
	secure_wipe(&sec, sizeof(sec));
	ks->st.accepted++;
	return 0;
}

int keystore_add_line_reason(struct keystore *ks, const char *line,
			     size_t len, const char **why)
{
	const char *w = "malformed line";
	int rc;

	ks->st.lines++;
	rc = ks_parse(ks, line, len, &w);
	if (rc)
		ks->st.rejected++;
	if (why)
		*why = rc ? w : NULL;
	return rc;
}

int keystore_add_line(struct keystore *ks, const char *line, size_t len)
{
	return keystore_add_line_reason(ks, line, len, NULL);
}

int keystore_load_file(struct keystore *ks, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	uint64_t before = ks->st.accepted;

	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		const char *why = "malformed line";

		lineno++;
		ks->st.lines++;
		if (ks_parse(ks, line, (size_t)n, &why)) {
			ks->st.rejected++;
			log_warn("%s:%zu: %s", path, lineno, why);
		}
	}
	if (line) {
		secure_wipe(line, cap);
		free(line);
	}
	if (ferror(f)) {
		int err = errno ? errno : EIO;

		fclose(f);
		return -err;
	}
	fclose(f);
	return (int)MIN(ks->st.accepted - before, (uint64_t)0x7fffffff);
}

const struct key_secret *keystore_get(const struct keystore *ks,
				      const uint8_t client_random[32],
				      enum key_label label)
{
	const struct ks_entry *e;

	if (!ks || (unsigned)label >= KEY_LABEL_COUNT)
		return NULL;
	e = ks_find(ks, client_random);
	if (!e || !e->sec[label].len)
		return NULL;
	return &e->sec[label];
}

const struct keystore_stats *keystore_stats(const struct keystore *ks)
{
	return &ks->st;
}

size_t keystore_count(const struct keystore *ks)
{
	return ks->count;
}
