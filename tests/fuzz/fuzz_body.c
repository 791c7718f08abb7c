/* fuzz_body.c - body decoding (identity, gzip, deflate, br, unknown).
 *
 * Input: byte 0 picks the Content-Encoding value (codings[]), byte 1 the
 * options (bit 0 hash, bits 1-2 max_keep, bits 3-5 feed chunk size, bit 6 a
 * gap in the middle, bit 7 body_finish twice), the rest is the encoded body.
 * Invariants (body.h): kept_len <= max_keep; truncated == (size > kept_len)
 * unless a gap or decode error made size untrustworthy; wire_size counts
 * every byte fed; finish is idempotent.
 */
#include <errno.h>

#include "body.h"
#include "fuzz.h"

static const char *const codings[] = {
	"identity", "gzip", "deflate", "br", "x-gzip", "", " gzip ",
	"gzip, br", "compress", "BR",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t keeps[] = { 0, 1, 100, 65536 };
	static const size_t chunks[] = { 1, 2, 7, 64, 512, 4096, 65536, 1 << 20 };
	struct fz f = { data, size, 0 };
	const char *cod = codings[fz_u8(&f) % (sizeof(codings) / sizeof(codings[0]))];
	uint8_t o = fz_u8(&f);
	struct body_opts bo = { keeps[(o >> 1) & 3], o & 1 };
	struct body b;
	size_t chunk = chunks[(o >> 3) & 7], fed = 0, half = f.n / 2;
	int gapped = 0;

	body_init(&b, &bo);
	body_set_coding(&b, cod, strlen(cod));
	while (f.n) {
		size_t got;
		const uint8_t *p = fz_take(&f, chunk, &got);
		if ((o & 0x40) && !gapped && fed >= half) {
			body_gap(&b, 10);
			gapped = 1;
		}
		uint8_t *d = fz_dup(p, got);
		int r = body_feed(&b, d, got);
		FZ_ASSERT(r == 0 || r == -EBADMSG);
		free(d);
		fed += got;
		FZ_ASSERT(b.kept_len <= bo.max_keep);
	}
	body_finish(&b);
	if (o & 0x80)
		body_finish(&b);
	FZ_ASSERT(b.kept_len <= bo.max_keep);
	FZ_ASSERT(b.wire_size >= fed);
	if (!b.gap && !b.decode_error)
		FZ_ASSERT(b.truncated == (b.size > b.kept_len));
	body_fini(&b);
	return 0;
}
