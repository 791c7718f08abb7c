/* util.h - small shared helpers: logging, size parsing, memory accounting.
 *
 * Owns: the process-wide log level and the memcap type.  Nothing here
 * allocates on behalf of a caller except xstrndup()/xmemdup().
 *
 * Logging never receives key material: callers pass labels and counts, never
 * secrets (see docs/security.md).
 */
#ifndef TAPIR_UTIL_H
#define TAPIR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* TAPIR_OVERREAD: a short string may be read as one 16-byte SSE2 vector
 * (JSON strings under 32 bytes: two) past its end when the read stays
 * inside the page of its first byte (so it cannot fault; the extra bytes
 * are masked off and never used).  Not under ASan or TSan, which would
 * rightly report the bytes past the end (TSan: when they lie in a freed
 * block): sanitizer builds take the byte-wise paths. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAPIR_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define TAPIR_SANITIZED 1
#endif
#endif
#if defined(__SSE2__) && !defined(TAPIR_SANITIZED)
#define TAPIR_OVERREAD 1
#endif
#define OVERREAD_OK(p, n) \
	((n) && (n) < 16 && ((uintptr_t)(p) & 4095) <= 4096 - 16)

#ifdef __SSE2__
#include <emmintrin.h>
/* Bit i set when byte i of the 16 at p is NUL, CR or LF. */
static inline unsigned nul_cr_lf_mask16(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(
		_mm_cmpeq_epi8(v, _mm_setzero_si128()),
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')),
			     _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')))));
}
#endif

/* Does v[0..n) hold a NUL, CR or LF?  One pass instead of three memchr
 * calls: 16 bytes at a time, and a short string (most header values) in
 * one vector (TAPIR_OVERREAD). */
static inline bool mem_has_nul_cr_lf(const uint8_t *v, size_t n)
{
	size_t i = 0;

#ifdef TAPIR_OVERREAD
	if (OVERREAD_OK(v, n))
		return nul_cr_lf_mask16(v) & ((1u << n) - 1);
#endif
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16)
		if (nul_cr_lf_mask16(v + i))
			return true;
	if (i < n && n >= 16)
		return nul_cr_lf_mask16(v + n - 16);
#endif
	for (; i < n; i++)
		if (v[i] <= '\r' && (v[i] == 0 || v[i] == '\r' || v[i] == '\n'))
			return true;
	return false;
}

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int tapir_log_level;

/* printf-style logging to stderr, prefixed "tapir: " (and "warning: " ...). */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Parse "123", "64K", "256M", "1G" (binary multiples, case-insensitive,
 * an optional trailing "B"/"iB" accepted).  Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal integer in [min, max].  0 or -EINVAL/-ERANGE. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A memory budget shared by every stage that buffers (reassembly queues,
 * TLS record buffers, pending ciphertext).  memcap_charge() fails with
 * -ENOMEM instead of going over the limit; the caller then drops data and
 * reports a gap.  Not thread-safe: one pipeline, one thread. */
struct memcap {
	uint64_t limit;
	uint64_t used;
	uint64_t peak;
	uint64_t refused;	/* charges refused */
};

void memcap_init(struct memcap *mc, uint64_t limit);
/* 0 or -ENOMEM.  A NULL memcap means "unlimited". */
int memcap_charge(struct memcap *mc, uint64_t n);
void memcap_release(struct memcap *mc, uint64_t n);

/* Allocation helpers that abort on OOM of *small* fixed objects only; data
 * buffers sized by the wire go through the memcap and malloc() checks. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* Format an address+port as "1.2.3.4:80" or "[::1]:80". buf >= 64 bytes. */
void fmt_endpoint(char *buf, size_t len, uint8_t family, const uint8_t *addr,
		  uint16_t port);

/* RFC 3339 UTC with microseconds: "2026-11-28T01:02:03.123456Z". buf >= 32. */
void fmt_rfc3339_us(char *buf, size_t len, uint64_t ts_ns);

/* Overwrite memory that held secrets; not optimised away. */
void secure_wipe(void *p, size_t n);

#endif
