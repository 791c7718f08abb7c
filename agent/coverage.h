/* coverage.h - decryption coverage: per server endpoint (address:port and
 * SNI), how many TLS sessions tapir saw, how many it decrypted, and why the
 * others were not, so an operator can tell which workloads still need key
 * export (--coverage FILE, the summary at exit and every --stats-interval).
 *
 * Owns: one entry per (server, SNI), bounded (COVERAGE_MAX_ENDPOINTS; past
 * it, sessions count in one "(other endpoints)" entry).  Does not own TLS
 * sessions: conn.c reports each one once, when it ends.
 */
#ifndef TAPIR_COVERAGE_H
#define TAPIR_COVERAGE_H

#include <stdint.h>
#include <stdio.h>

#include "tls.h"

#define COVERAGE_MAX_ENDPOINTS 10000

struct coverage_totals {
	uint64_t sessions, decrypted;
	uint64_t why[TLS_WHY_COUNT];	/* not decrypted, by tls_info.why */
};

struct coverage;

struct coverage *coverage_new(void);
void coverage_free(struct coverage *c);		/* accepts NULL */
/* One TLS session ended.  server: "addr:port" of the server side. */
void coverage_add(struct coverage *c, const char *server,
		  const struct tls_info *ti);
/* Add src's counts to dst, endpoint by endpoint (the workers of `tapir
 * read --threads`).  Past COVERAGE_MAX_ENDPOINTS in dst, src's extra
 * endpoints count in dst's "(other endpoints)" entry. */
void coverage_merge(struct coverage *dst, const struct coverage *src);
const struct coverage_totals *coverage_totals(const struct coverage *c);
/* The whole table as one JSON object (see coverage.c), to f.  0 or -EIO. */
int coverage_write_json(const struct coverage *c, FILE *f);
/* Write the JSON to path (replaced atomically: path.tmp + rename).
 * 0 or -errno. */
int coverage_write_file(const struct coverage *c, const char *path);
/* Summary lines ("tapir: coverage: ..."), endpoints with the most
 * undecrypted sessions first, at most max_lines endpoints. */
void coverage_print(const struct coverage *c, FILE *f, unsigned max_lines);
/* Short name of a reason ("no_keys", ...) and its words ("no keys"). */
const char *coverage_why_name(int why);
const char *coverage_why_words(int why);

#endif
