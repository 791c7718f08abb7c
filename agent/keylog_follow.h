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

#include "keystore.h"

struct keylog_follow;

/* Start following path (it may not exist yet).  NULL with errno set on
 * failure (e.g. the directory does not exist). */
struct keylog_follow *keylog_follow_new(struct keystore *ks, const char *path);
/* A descriptor to poll for readability (inotify), or -1: then call
 * keylog_follow_poll() periodically. */
int keylog_follow_fd(const struct keylog_follow *k);
/* Read whatever is new.  Returns the number of secrets added (>= 0) or
 * -errno on a hard error (the follower keeps trying on later calls). */
int keylog_follow_poll(struct keylog_follow *k);
void keylog_follow_free(struct keylog_follow *k);	/* accepts NULL */

#endif
