/* util.c - logging, size parsing, memcap accounting, formatting helpers.
 * See util.h.  Owns no state but the log level. */
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tapir_log_level = LOG_WARN;

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > tapir_log_level)
		return;
	fputs(level == LOG_WARN ? "tapir: warning: " :
	      level == LOG_ERR ? "tapir: error: " : "tapir: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1ULL << 10; end++; break;
	case 'M': mult = 1ULL << 20; end++; break;
	case 'G': mult = 1ULL << 30; end++; break;
	case 'T': mult = 1ULL << 40; end++; break;
	default: break;
	}
	if (mult > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

void memcap_init(struct memcap *mc, uint64_t limit)
{
	memset(mc, 0, sizeof(*mc));
	mc->limit = limit;
}

int memcap_charge(struct memcap *mc, uint64_t n)
{
	if (!mc)
		return 0;
	if (n > mc->limit || mc->used > mc->limit - n) {
		mc->refused++;
		return -ENOMEM;
	}
	mc->used += n;
	if (mc->used > mc->peak)
		mc->peak = mc->used;
	return 0;
}

void memcap_release(struct memcap *mc, uint64_t n)
{
	if (!mc)
		return;
	mc->used = n > mc->used ? 0 : mc->used - n;
}

static void oom(void)
{
	fputs("tapir: error: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		oom();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *xmemdup(const void *s, size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	if (n)
		memcpy(p, s, n);
	return p;
}

void fmt_endpoint(char *buf, size_t len, uint8_t family, const uint8_t *addr,
		  uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == 6) {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, port);
	} else {
		inet_ntop(AF_INET, addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, port);
	}
}

void fmt_rfc3339_us(char *buf, size_t len, uint64_t ts_ns)
{
	/* Records come thousands per second of capture time: the date and
	 * time of day are formatted once per second (per thread), only the
	 * microseconds each time. */
	static __thread time_t last_sec = -1;
	static __thread char last[32];
	static __thread int last_n;
	time_t sec = (time_t)(ts_ns / 1000000000ULL);
	unsigned usec = (unsigned)((ts_ns % 1000000000ULL) / 1000);
	char out[48];

	if (sec != last_sec) {
		struct tm tm;

		gmtime_r(&sec, &tm);
		last_n = snprintf(last, sizeof(last), "%04d-%02d-%02dT%02d:%02d:%02d",
				  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
				  tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (last_n < 0 || last_n >= (int)sizeof(last))
			last_n = 0;
		last_sec = sec;
	}
	memcpy(out, last, (size_t)last_n);
	out[last_n] = '.';
	for (int i = 6; i >= 1; i--) {
		out[last_n + i] = (char)('0' + usec % 10);
		usec /= 10;
	}
	out[last_n + 7] = 'Z';
	if (len) {
		size_t n = MIN((size_t)last_n + 8, len - 1);

		memcpy(buf, out, n);
		buf[n] = '\0';
	}
}

void secure_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}
