/* fuzz_tls.c - the TLS session (record layer, handshake, decryption).
 *
 * Input: byte 0 bit 0 = use the fixed key log (fuzz_keys.h, the keys of the
 * seed capture, so seeds from it decrypt), bit 1 a small memcap; then
 * records  hdr(1) len(2)  data[len & 0x3fff]
 * hdr bit 0 = direction, bit 1 = a gap of len bytes instead of data.
 * Plaintext is touched byte by byte (ASan checks the view).  Invariants:
 * feed returns 0 / -EBADMSG / -ENOMEM; memcap.used is 0 after free.
 */
#include <errno.h>

#include "fuzz.h"
#include "fuzz_keys.h"
#include "tls.h"

static struct keystore *keys;

static void on_plain(void *ctx, int dir, const uint8_t *p, uint32_t n,
		     uint64_t ts)
{
	volatile uint8_t x = 0;
	FZ_ASSERT(dir == 0 || dir == 1);
	for (uint32_t i = 0; i < n; i++)
		x ^= p[i];
	(void)x;
	*(uint64_t *)ctx += n;
}

static void on_failed(void *ctx, int dir, const char *reason, uint64_t ts)
{
	FZ_ASSERT(reason && strlen(reason) < 96);
}

static void on_gap(void *ctx, int dir, uint64_t n, uint64_t ts)
{
}

static const struct tls_ops ops = { on_plain, on_failed, on_gap };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	uint8_t h = fz_u8(&f);
	struct memcap mc;
	struct tls_stats st;
	uint64_t plain = 0, ts = 1;

	if (!keys) {
		const char *p = fuzz_keylog, *nl;
		keys = keystore_new(64);
		while ((nl = strchr(p, '\n'))) {
			keystore_add_line(keys, p, (size_t)(nl - p));
			p = nl + 1;
		}
	}
	memset(&st, 0, sizeof(st));
	memcap_init(&mc, (h & 2) ? 4096 : 1 << 20);
	struct tls_session *s = tls_session_new((h & 1) ? keys : NULL, &ops,
						&plain, &mc, &st);
	while (f.n >= 3) {
		uint8_t rh = fz_u8(&f);
		uint16_t len = fz_u16(&f) & 0x3fff;
		int dir = rh & 1;
		if (rh & 2) {
			tls_session_gap(s, dir, len, ts++);
			continue;
		}
		size_t got;
		const uint8_t *p = fz_take(&f, len, &got);
		uint8_t *d = fz_dup(p, got);
		int r = tls_session_feed(s, dir, d, (uint32_t)got, ts++);
		FZ_ASSERT(r == 0 || r == -EBADMSG || r == -ENOMEM);
		free(d);
		FZ_ASSERT(mc.used <= mc.limit);
	}
	const struct tls_info *ti = tls_session_info(s);
	FZ_ASSERT(memchr(ti->sni, 0, sizeof(ti->sni)) && memchr(ti->alpn, 0, sizeof(ti->alpn)));
	FZ_ASSERT(memchr(ti->reason, 0, sizeof(ti->reason)));
	tls_session_free(s);
	FZ_ASSERT(mc.used == 0);
	(void)tls_looks_like_client_hello(data, (uint32_t)size);
	return 0;
}
