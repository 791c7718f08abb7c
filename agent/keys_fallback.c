/* keys_fallback.c - TEMPORARY stand-ins, as weak symbols, for the live-keys
 * API (keylog_follow.h, engine_keys_added) that branch `keys` implements.
 * When that lands the real (strong) definitions replace these at link
 * time; then delete this file.
 *
 * The stand-in follower re-reads its file from the last complete line on
 * every poll (no inotify: fd -1, the caller polls on its timer); no
 * rotation or truncation handling.  engine_keys_added() does nothing: a
 * session whose keys come after its first encrypted records stays
 * undecrypted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "keylog_follow.h"
#include "util.h"

struct keylog_follow {
	struct keystore *ks;
	char *path;
	long off;
};

__attribute__((weak)) struct keylog_follow *
keylog_follow_new(struct keystore *ks, const char *path)
{
	struct keylog_follow *k = xcalloc(1, sizeof(*k));

	k->ks = ks;
	k->path = xstrndup(path, strlen(path));
	return k;
}

__attribute__((weak)) int keylog_follow_fd(const struct keylog_follow *k)
{
	(void)k;
	return -1;
}

__attribute__((weak)) int keylog_follow_poll(struct keylog_follow *k)
{
	char line[1024];
	size_t before = keystore_count(k->ks);
	FILE *f = fopen(k->path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fseek(f, k->off, SEEK_SET) == 0) {
		while (fgets(line, sizeof(line), f)) {
			size_t n = strlen(line);
			if (!n || line[n - 1] != '\n')
				break;	/* partial line: next time */
			keystore_add_line(k->ks, line, n);
			k->off += (long)n;
		}
	}
	secure_wipe(line, sizeof(line));
	fclose(f);
	return (int)(keystore_count(k->ks) - before);
}

__attribute__((weak)) void keylog_follow_free(struct keylog_follow *k)
{
	if (!k)
		return;
	free(k->path);
	free(k);
}

__attribute__((weak)) void engine_keys_added(struct engine *e, uint64_t now_ns)
{
	(void)e;
	(void)now_ns;
}
