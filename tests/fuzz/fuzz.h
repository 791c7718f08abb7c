/* fuzz.h - shared helpers for the libFuzzer harnesses in tests/fuzz/.
 *
 * Owns: nothing.  Each harness (fuzz_<parser>.c) defines
 * LLVMFuzzerTestOneInput() and is linked either with -fsanitize=fuzzer
 * (make fuzz) or with replay_main.c (make unit / test-asan: replays
 * tests/fuzz/regress/<parser>/ and tests/fuzz/corpus/<parser>/).
 *
 * fz_* read the fuzzer's input as a stream of small fields; reading past
 * the end yields zeros and sets eof, so a harness never reads out of bounds.
 * FZ_ASSERT aborts (libFuzzer reports it as a crash): invariants, not input
 * checks.
 */
#ifndef TAPIR_FUZZ_H
#define TAPIR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t *p;
	size_t n;
	int eof;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n) {
		f->eof = 1;
		return 0;
	}
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t hi = fz_u8(f);
	return (uint16_t)(hi << 8 | fz_u8(f));
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t hi = fz_u16(f);
	return hi << 16 | fz_u16(f);
}

/* Up to want bytes as a view; *got says how many. */
static inline const uint8_t *fz_take(struct fz *f, size_t want, size_t *got)
{
	const uint8_t *p = f->p;
	if (want > f->n)
		want = f->n;
	f->p += want;
	f->n -= want;
	*got = want;
	if (!f->n)
		f->eof = 1;
	return p;
}

/* A heap copy of exactly n bytes, so ASan sees a read one byte past it. */
static inline uint8_t *fz_dup(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (!d)
		abort();
	if (n)
		memcpy(d, p, n);
	return d;
}

#define FZ_ASSERT(cond)                                                      \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",      \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

#endif
