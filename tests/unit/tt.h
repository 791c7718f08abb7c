/* tt.h - tapir's small unit-test harness (header only).
 *
 * TT_TEST(name) { ... } registers a test; TT_CHECK / TT_EQ_* record a
 * failure with file:line and go on; TT_REQUIRE returns from the test.
 * main() is provided by TT_MAIN().  The binary prints one line per failed
 * check, then the summary line "<prog>: N passed, N failed" and exits 1 if
 * any test failed.
 *
 * tt_guard() copies input so that it ends exactly at a PROT_NONE page: a
 * parser that reads one byte past its input crashes instead of passing.
 */
#ifndef TAPIR_TT_H
#define TAPIR_TT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef void (*tt_fn)(void);
struct tt_case { const char *name; tt_fn fn; };

static struct tt_case tt_cases[512];
static int tt_ncases;
static int tt_cur_failed;
static const char *tt_cur_name;

#define TT_TEST(tname)                                                       \
	static void tt_##tname(void);                                        \
	__attribute__((constructor)) static void tt_reg_##tname(void)        \
	{                                                                    \
		tt_cases[tt_ncases].name = #tname;                           \
		tt_cases[tt_ncases++].fn = tt_##tname;                       \
	}                                                                    \
	static void tt_##tname(void)

static inline void tt_fail(const char *file, int line, const char *msg)
{
	fprintf(stderr, "FAIL %s (%s:%d): %s\n", tt_cur_name, file, line, msg);
	tt_cur_failed = 1;
}

#define TT_CHECK(cond)                                                       \
	do {                                                                 \
		if (!(cond))                                                 \
			tt_fail(__FILE__, __LINE__, #cond);                  \
	} while (0)

#define TT_EQ_INT(a, b)                                                      \
	do {                                                                 \
		long long tt_a = (long long)(a), tt_b = (long long)(b);      \
		if (tt_a != tt_b) {                                          \
			char tt_m[256];                                      \
			snprintf(tt_m, sizeof(tt_m), "%s == %s (%lld vs %lld)", \
				 #a, #b, tt_a, tt_b);                        \
			tt_fail(__FILE__, __LINE__, tt_m);                   \
		}                                                            \
	} while (0)

#define TT_EQ_STR(a, b)                                                      \
	do {                                                                 \
		const char *tt_a = (a), *tt_b = (b);                         \
		if (!tt_a || !tt_b || strcmp(tt_a, tt_b)) {                  \
			char tt_m[512];                                      \
			snprintf(tt_m, sizeof(tt_m), "%s == %s (\"%s\" vs \"%s\")", \
				 #a, #b, tt_a ? tt_a : "(null)",             \
				 tt_b ? tt_b : "(null)");                    \
			tt_fail(__FILE__, __LINE__, tt_m);                   \
		}                                                            \
	} while (0)

#define TT_EQ_MEM(a, b, n) TT_CHECK(memcmp((a), (b), (n)) == 0)

/* Stop the current test (a function returning void) when cond fails. */
#define TT_REQUIRE(cond)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			tt_fail(__FILE__, __LINE__, "required: " #cond);     \
			return;                                              \
		}                                                            \
	} while (0)

/* Guarded copies: the returned buffer's last byte is followed by a
 * PROT_NONE page.  Free with tt_guard_free(). */
struct tt_guard_hdr { void *base; size_t maplen; };

static inline void *tt_guard(const void *data, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t datapages = (n + sizeof(struct tt_guard_hdr) + pg - 1) / pg;
	size_t maplen = (datapages + 1) * pg;
	uint8_t *base = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *p;
	struct tt_guard_hdr h = { base, maplen };

	if (base == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (mprotect(base + datapages * pg, pg, PROT_NONE)) {
		perror("mprotect");
		exit(2);
	}
	p = base + datapages * pg - n;
	memcpy(base, &h, sizeof(h));
	if (n)
		memcpy(p, data, n);
	return p;
}

static inline void tt_guard_free(void *p)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	/* p - 1: for an empty input p is the guard page itself */
	uint8_t *base = (uint8_t *)((uintptr_t)((uint8_t *)p - 1) &
				    ~(uintptr_t)(pg - 1));
	struct tt_guard_hdr h;

	/* p may sit anywhere in the data pages: walk back to the header. */
	for (;;) {
		memcpy(&h, base, sizeof(h));
		if (h.base == base)
			break;
		base -= pg;
	}
	munmap(h.base, h.maplen);
}

#define TT_MAIN()                                                            \
	int main(int argc, char **argv)                                      \
	{                                                                    \
		int passed = 0, failed = 0;                                  \
		const char *only = argc > 1 ? argv[1] : NULL;                \
		const char *prog = strrchr(argv[0], '/');                    \
		prog = prog ? prog + 1 : argv[0];                            \
		for (int i = 0; i < tt_ncases; i++) {                        \
			if (only && strcmp(only, tt_cases[i].name))          \
				continue;                                    \
			tt_cur_name = tt_cases[i].name;                      \
			tt_cur_failed = 0;                                   \
			tt_cases[i].fn();                                    \
			if (tt_cur_failed)                                   \
				failed++;                                    \
			else                                                 \
				passed++;                                    \
		}                                                            \
		printf("%s: %d passed, %d failed\n", prog, passed, failed);  \
		return failed ? 1 : 0;                                       \
	}

#endif
