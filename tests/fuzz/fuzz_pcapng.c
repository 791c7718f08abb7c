/* fuzz_pcapng.c - the pcapng DSB reader (pcapng_scan_dsb), the path
 * `tapir read` uses to take keys from a capture file.
 *
 * Input: a pcapng image.  Checks: the result is a count, -EBADMSG or
 * -ENOTSUP; every secrets span handed over lies inside the input; the
 * count equals the calls made.
 */
#include <errno.h>

#include "fuzz.h"
#include "pcapng.h"

struct fz_ctx { const uint8_t *b; size_t n; int calls; };

static void cb(void *c, const uint8_t *p, size_t n)
{
	struct fz_ctx *x = c;

	FZ_ASSERT(p >= x->b && p + n <= x->b + x->n);
	x->calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = fz_dup(data, size);
	struct fz_ctx x = { copy, size, 0 };
	int r = pcapng_scan_dsb(copy, size, cb, &x);

	FZ_ASSERT(r >= 0 || r == -EBADMSG || r == -ENOTSUP);
	if (r >= 0)
		FZ_ASSERT(r == x.calls);
	free(copy);
	return 0;
}
