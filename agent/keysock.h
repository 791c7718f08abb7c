/* keysock.h - the key socket: a Unix stream socket on which local programs
 * (the keys/ preload shim, scripts) send NSS key log lines (--key-socket).
 *
 * Owns: the listening socket and its path (created with the requested mode
 * and owner, unlinked on free), the accepted connections (at most
 * max_conns) with one bounded line buffer each, and an epoll descriptor
 * over all of them.  Does not own the key store it feeds.
 *
 * Nothing here blocks: the caller polls keysock_fd() for readability and
 * calls keysock_poll(), which accepts and reads only what is ready and does
 * a bounded amount of work per call.  A slow, idle or hostile client costs
 * at most one connection slot and one line buffer; when every slot is
 * taken, one is closed to admit the new connection: the least recently
 * active of those that never sent a valid key line (else of all), after
 * the complete lines it had already sent are read and parsed.  Lines are parsed strictly (keystore_add_line); malformed and
 * overlong lines are counted, never echoed; the peer's pid/uid
 * (SO_PEERCRED) is logged when it connects.
 */
#ifndef TAPIR_KEYSOCK_H
#define TAPIR_KEYSOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "keystore.h"

struct keysock_opts {
	const char *path;
	mode_t mode;		/* default 0600 */
	uid_t owner;		/* (uid_t)-1: unchanged */
	gid_t group;		/* (gid_t)-1: unchanged */
	unsigned max_conns;	/* default 64 */
	unsigned line_max;	/* default 4096 bytes (without newline) */
};

struct keysock_stats {
	uint64_t accepted;	/* connections accepted */
	uint64_t evicted;	/* closed to admit a newer one (table full) */
	uint64_t cut;		/* evicted with a partial line (discarded) */
	uint64_t closed;	/* closed by the peer or on error */
	uint64_t lines, bytes;
	uint64_t rejected;	/* malformed lines */
	uint64_t overlong;	/* lines over line_max, dropped */
};

struct keysock;

/* Defaults for every field but path. */
void keysock_opts_default(struct keysock_opts *o);
/* Create, bind and listen.  An existing socket at path that nobody listens
 * on is replaced; anything else there is an error (EADDRINUSE: a live
 * socket, EEXIST: not a socket).  NULL with errno set on failure. */
struct keysock *keysock_new(struct keystore *ks, const struct keysock_opts *o);
/* One descriptor (epoll) that is readable when keysock_poll() has work. */
int keysock_fd(const struct keysock *k);
/* Accept what is pending and read what is ready, without blocking.
 * Returns the number of secrets added (>= 0) or -errno on a hard error of
 * the listening socket. */
int keysock_poll(struct keysock *k);
/* Connections open now (<= max_conns). */
unsigned keysock_nconns(const struct keysock *k);
const struct keysock_stats *keysock_stats(const struct keysock *k);
void keysock_free(struct keysock *k);	/* accepts NULL; unlinks path */

#endif
