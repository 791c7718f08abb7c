/* keylog_follow.h - a key log file followed as it grows (live capture).
 *
 * Owns: the file descriptor of the followed file, an inotify watch on its
 * directory, a partial-line buffer (bounded).  Does not own the key store
 * it feeds.
 *
 * Follows the file as `tail -F` does: lines appended are parsed as they
 * come; a file that does not exist yet is picked up when created; after a
 * truncation reading restarts at the beginning; after a rotation (rename +
 * new file) the rest of the old file is read, then the new one.  Malformed
 * lines are counted and warned about with their line number, never echoed.
 */
#ifndef TAPIR_KEYLOG_FOLLOW_H
#define TAPIR_KEYLOG_FOLLOW_H

#include <stdint.h>

#include "keystore.h"

struct keylog_follow;

/* Start following path (it may not exist yet).  NULL with errno set on
 * failure (e.g. the directory does not exist). */
struct keylog_follow *keylog_follow_new(struct keystore *ks, const char *path);
/* A descriptor to poll for readability (inotify), or -1: then call
 * keylog_follow_poll() periodically.  Even with a descriptor, calling it
 * about once a second as well costs little (a stat) and covers a directory
 * that is removed and recreated. */
int keylog_follow_fd(const struct keylog_follow *k);
/* Read whatever is new.  Returns the number of secrets added (>= 0) or
 * -errno on a hard error (the follower keeps trying on later calls). */
int keylog_follow_poll(struct keylog_follow *k);
void keylog_follow_free(struct keylog_follow *k);	/* accepts NULL */

/* Longest key log line accepted (without its newline); longer lines are
 * dropped whole and counted in overlong.  An NSS line is at most ~200. */
#define KEYLOG_LINE_MAX 4096

struct keylog_follow_stats {
	uint64_t bytes, lines;
	uint64_t rejected;	/* malformed lines (warned with line number) */
	uint64_t overlong;	/* lines over KEYLOG_LINE_MAX, dropped */
	uint64_t opens;		/* the file (re)opened: start, create, rotate */
	uint64_t truncations, rotations;
	uint64_t partial_dropped; /* unterminated last line of a rotated file */
	uint64_t rewatches;	/* directory watch re-established */
	uint64_t errors;	/* polls that returned -errno */
};

/* Counters; valid until keylog_follow_free(). */
const struct keylog_follow_stats *
keylog_follow_stats(const struct keylog_follow *k);

#endif
