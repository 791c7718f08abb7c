/* keystore.h - TLS session secrets from NSS key log lines, by client_random.
 *
 * Owns: the secrets (heap, wiped with secure_wipe() when freed or evicted).
 * Does not own files or sockets: callers hand it lines (keystore_add_line)
 * or a whole file (keystore_load_file).
 *
 * Invariants: a secret is never logged or printed; bounded by max_entries
 * (oldest evicted first) and, when a TTL is set, by age (keystore_expire);
 * every secret is wiped from memory when evicted, expired or freed.  Parsing is strict: a line is "LABEL <64 hex
 * client_random> <hex secret>" with a known label and a secret of a valid
 * length (48 bytes for CLIENT_RANDOM, 32 or 48 for TLS 1.3 secrets);
 * comments ('#') and blank lines are ignored; anything else is rejected and
 * counted, with its line number reported by keystore_load_file().
 */
#ifndef TAPIR_KEYSTORE_H
#define TAPIR_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

enum key_label {
	KEY_CLIENT_RANDOM = 0,		/* TLS 1.2 master secret (48) */
	KEY_CLIENT_EARLY_TRAFFIC_SECRET,
	KEY_CLIENT_HANDSHAKE_TRAFFIC_SECRET,
	KEY_SERVER_HANDSHAKE_TRAFFIC_SECRET,
	KEY_CLIENT_TRAFFIC_SECRET_0,
	KEY_SERVER_TRAFFIC_SECRET_0,
	KEY_EXPORTER_SECRET,
	KEY_EARLY_EXPORTER_SECRET,
	KEY_LABEL_COUNT
};

struct key_secret {
	uint8_t len;		/* 0 = absent */
	uint8_t b[48];
};

struct keystore_stats {
	uint64_t lines, accepted, rejected, duplicates, evicted;
	uint64_t expired;	/* dropped by keystore_expire() (TTL) */
};

struct keystore;

struct keystore *keystore_new(size_t max_entries);
void keystore_free(struct keystore *ks);	/* accepts NULL; wipes */

/* Parse one key log line (without or with trailing newline).
 * Returns 0 (stored or ignorable comment/blank), -EBADMSG (malformed). */
int keystore_add_line(struct keystore *ks, const char *line, size_t len);
/* The same; on -EBADMSG *why (if why) names the reason, a static string
 * that never contains any byte of the line. */
int keystore_add_line_reason(struct keystore *ks, const char *line,
			     size_t len, const char **why);

/* Load a whole file.  Malformed lines are warned about with their line
 * number ("FILE:N: reason") and skipped.  Returns the number of secrets
 * accepted (>= 0), or -errno if the file cannot be read. */
int keystore_load_file(struct keystore *ks, const char *path);

/* Look up a secret.  Returns a pointer into the store (valid until the next
 * keystore_add_line/load/free) or NULL if absent. */
const struct key_secret *keystore_get(const struct keystore *ks,
				      const uint8_t client_random[32],
				      enum key_label label);

const struct keystore_stats *keystore_stats(const struct keystore *ks);
size_t keystore_count(const struct keystore *ks);

/* Expiry (--key-ttl): a session's secrets live ttl_ns after they were
 * added; 0 (the default) = until evicted by max_entries.  Time is the
 * caller's (live capture: a monotonic clock): an entry's age counts from
 * the first keystore_expire() call after it was added, so call it
 * periodically (e.g. every second; the TTL is then exact to that period).
 * Expired entries are wiped and freed.  Returns how many were dropped. */
void keystore_set_ttl(struct keystore *ks, uint64_t ttl_ns);
size_t keystore_expire(struct keystore *ks, uint64_t now_ns);
/* Bytes held (table and entries); bounded by max_entries. */
size_t keystore_memory(const struct keystore *ks);

#endif
