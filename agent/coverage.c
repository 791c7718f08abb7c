/* coverage.c - decryption coverage per server endpoint (see coverage.h).
 *
 * Owns: a chained hash table of entries keyed by "server|sni" (strings
 * copied), plus one overflow entry.  Invariant: totals == the sum of every
 * entry (overflow included); an entry's sessions == decrypted + sum(why).
 *
 * JSON (--coverage FILE):
 *   {"sessions":N,"decrypted":N,"not_decrypted":{"no_keys":N,...},
 *    "endpoints":[{"server":"10.0.0.1:443","sni":"api.example",
 *                  "sessions":N,"decrypted":N,"not_decrypted":{...},
 *                  "needs_key_export":true}, ...]}
 * Endpoints are sorted by undecrypted sessions, most first;
 * needs_key_export is true when sessions went undecrypted for want of keys
 * (no keys, or keys too late).
 */
#include "coverage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct cov_entry {
	struct cov_entry *next;
	char *server, *sni;
	struct coverage_totals t;
};

struct coverage {
	struct cov_entry **tab;
	size_t nbuckets, count;
	struct cov_entry other;		/* past COVERAGE_MAX_ENDPOINTS */
	struct coverage_totals t;
};

static const char *const why_names[TLS_WHY_COUNT] = {
	[TLS_WHY_NONE] = "none",
	[TLS_WHY_NO_KEYS] = "no_keys",
	[TLS_WHY_KEYS_LATE] = "keys_too_late",
	[TLS_WHY_UNSUPPORTED] = "unsupported",
	[TLS_WHY_MIDSTREAM] = "midstream",
	[TLS_WHY_BAD_RECORD] = "bad_record",
	[TLS_WHY_GAP] = "gap",
	[TLS_WHY_NO_DATA] = "no_application_data",
	[TLS_WHY_OTHER] = "other",
};

static const char *const why_words[TLS_WHY_COUNT] = {
	[TLS_WHY_NONE] = "none",
	[TLS_WHY_NO_KEYS] = "no keys",
	[TLS_WHY_KEYS_LATE] = "keys too late",
	[TLS_WHY_UNSUPPORTED] = "unsupported cipher suite",
	[TLS_WHY_MIDSTREAM] = "capture started mid-session",
	[TLS_WHY_BAD_RECORD] = "bad tag",
	[TLS_WHY_GAP] = "gap in capture",
	[TLS_WHY_NO_DATA] = "no application data",
	[TLS_WHY_OTHER] = "other",
};

const char *coverage_why_name(int why)
{
	return why >= 0 && why < TLS_WHY_COUNT ? why_names[why] : "other";
}

const char *coverage_why_words(int why)
{
	return why >= 0 && why < TLS_WHY_COUNT ? why_words[why] : "other";
}

struct coverage *coverage_new(void)
{
	struct coverage *c = xcalloc(1, sizeof(*c));

	c->nbuckets = 256;
	c->tab = xcalloc(c->nbuckets, sizeof(*c->tab));
	c->other.server = xstrndup("(other endpoints)", 17);
	c->other.sni = xstrndup("", 0);
	return c;
}

void coverage_free(struct coverage *c)
{
	if (!c)
		return;
	for (size_t b = 0; b < c->nbuckets; b++) {
		struct cov_entry *e, *next;

		for (e = c->tab[b]; e; e = next) {
			next = e->next;
			free(e->server);
			free(e->sni);
			free(e);
		}
	}
	free(c->other.server);
	free(c->other.sni);
	free(c->tab);
	free(c);
}

static size_t hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 1099511628211ULL;
	h = (h ^ '|') * 1099511628211ULL;
	for (; *b; b++)
		h = (h ^ (uint8_t)*b) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 31));
}

static void grow(struct coverage *c)
{
	size_t nb = c->nbuckets * 2;
	struct cov_entry **tab = calloc(nb, sizeof(*tab));

	if (!tab)
		return;
	for (size_t b = 0; b < c->nbuckets; b++) {
		struct cov_entry *e, *next;

		for (e = c->tab[b]; e; e = next) {
			size_t k = hash2(e->server, e->sni) & (nb - 1);

			next = e->next;
			e->next = tab[k];
			tab[k] = e;
		}
	}
	free(c->tab);
	c->tab = tab;
	c->nbuckets = nb;
}

static struct cov_entry *find(struct coverage *c, const char *server,
			      const char *sni)
{
	size_t b = hash2(server, sni) & (c->nbuckets - 1);
	struct cov_entry *e;

	for (e = c->tab[b]; e; e = e->next)
		if (!strcmp(e->server, server) && !strcmp(e->sni, sni))
			return e;
	if (c->count >= COVERAGE_MAX_ENDPOINTS)
		return &c->other;
	if (c->count >= c->nbuckets) {
		grow(c);
		b = hash2(server, sni) & (c->nbuckets - 1);
	}
	e = xcalloc(1, sizeof(*e));
	e->server = xstrndup(server, strlen(server));
	e->sni = xstrndup(sni, strlen(sni));
	e->next = c->tab[b];
	c->tab[b] = e;
	c->count++;
	return e;
}

static void count(struct coverage_totals *t, const struct tls_info *ti)
{
	t->sessions++;
	if (ti->decrypted)
		t->decrypted++;
	else
		t->why[ti->why && ti->why < TLS_WHY_COUNT ? ti->why :
		       TLS_WHY_NO_DATA]++;
}

void coverage_add(struct coverage *c, const char *server,
		  const struct tls_info *ti)
{
	if (!c)
		return;
	count(&find(c, server, ti->sni)->t, ti);
	count(&c->t, ti);
}

static void add_totals(struct coverage_totals *d,
		       const struct coverage_totals *s)
{
	d->sessions += s->sessions;
	d->decrypted += s->decrypted;
	for (int i = 0; i < TLS_WHY_COUNT; i++)
		d->why[i] += s->why[i];
}

void coverage_merge(struct coverage *dst, const struct coverage *src)
{
	if (!dst || !src)
		return;
	for (size_t b = 0; b < src->nbuckets; b++)
		for (const struct cov_entry *e = src->tab[b]; e; e = e->next)
			add_totals(&find(dst, e->server, e->sni)->t, &e->t);
	add_totals(&dst->other.t, &src->other.t);
	add_totals(&dst->t, &src->t);
}

const struct coverage_totals *coverage_totals(const struct coverage *c)
{
	return &c->t;
}

static uint64_t undecrypted(const struct coverage_totals *t)
{
	return t->sessions - t->decrypted;
}

static bool needs_keys(const struct coverage_totals *t)
{
	return t->why[TLS_WHY_NO_KEYS] + t->why[TLS_WHY_KEYS_LATE] > 0;
}

static int by_undecrypted(const void *a, const void *b)
{
	const struct cov_entry *x = *(const struct cov_entry *const *)a;
	const struct cov_entry *y = *(const struct cov_entry *const *)b;
	uint64_t ux = undecrypted(&x->t), uy = undecrypted(&y->t);
	int r;

	if (ux != uy)
		return ux > uy ? -1 : 1;
	if (x->t.sessions != y->t.sessions)
		return x->t.sessions > y->t.sessions ? -1 : 1;
	r = strcmp(x->server, y->server);
	return r ? r : strcmp(x->sni, y->sni);
}

/* Every entry (overflow last if used), sorted; caller frees. */
static struct cov_entry **sorted(const struct coverage *c, size_t *n)
{
	struct cov_entry **v = xcalloc(c->count + 1, sizeof(*v));
	size_t k = 0;

	for (size_t b = 0; b < c->nbuckets; b++)
		for (struct cov_entry *e = c->tab[b]; e; e = e->next)
			v[k++] = e;
	qsort(v, k, sizeof(*v), by_undecrypted);
	if (c->other.t.sessions)
		v[k++] = (struct cov_entry *)&c->other;
	*n = k;
	return v;
}

static void json_totals(FILE *f, const struct coverage_totals *t)
{
	fprintf(f, "\"sessions\":%" PRIu64 ",\"decrypted\":%" PRIu64
		",\"not_decrypted\":{", t->sessions, t->decrypted);
	for (int w = 1, first = 1; w < TLS_WHY_COUNT; w++) {
		fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", why_names[w],
			t->why[w]);
		first = 0;
	}
	fputc('}', f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

int coverage_write_json(const struct coverage *c, FILE *f)
{
	size_t n;
	struct cov_entry **v = sorted(c, &n);

	fputc('{', f);
	json_totals(f, &c->t);
	fputs(",\"endpoints\":[", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"server\":", i ? "," : "");
		json_str(f, v[i]->server);
		fputs(",\"sni\":", f);
		json_str(f, v[i]->sni);
		fputc(',', f);
		json_totals(f, &v[i]->t);
		fprintf(f, ",\"needs_key_export\":%s}",
			needs_keys(&v[i]->t) ? "true" : "false");
	}
	fputs("]}\n", f);
	free(v);
	return ferror(f) ? -EIO : 0;
}

int coverage_write_file(const struct coverage *c, const char *path)
{
	char tmp[4096];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	rc = coverage_write_json(c, f);
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static void print_line(FILE *f, const char *server, const char *sni,
		       const struct coverage_totals *t)
{
	fprintf(f, "tapir: coverage: %s%s%s: %" PRIu64 " TLS sessions, %"
		PRIu64 " decrypted", server, sni[0] ? " " : "", sni,
		t->sessions, t->decrypted);
	if (undecrypted(t)) {
		const char *sep = " (";

		fprintf(f, ", %" PRIu64 " not", undecrypted(t));
		for (int w = 1; w < TLS_WHY_COUNT; w++)
			if (t->why[w]) {
				fprintf(f, "%s%" PRIu64 " %s", sep, t->why[w],
					why_words[w]);
				sep = ", ";
			}
		fputc(')', f);
	}
	if (needs_keys(t))
		fputs(" - needs key export", f);
	fputc('\n', f);
}

void coverage_print(const struct coverage *c, FILE *f, unsigned max_lines)
{
	size_t n;
	struct cov_entry **v;

	if (!c || !c->t.sessions)
		return;
	v = sorted(c, &n);
	for (size_t i = 0; i < n && i < max_lines; i++)
		print_line(f, v[i]->server, v[i]->sni, &v[i]->t);
	if (n > max_lines)
		fprintf(f, "tapir: coverage: ... %zu more endpoints (--coverage "
			"FILE has them all)\n", n - max_lines);
	free(v);
}
