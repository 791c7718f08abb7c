/* test_export.c - the export sink: -C/-W ring of files, key hold (keys
 * then packets, timeout, cap), ENOSPC through the write hook: the file on
 * disk is whole and parses, the export says why it stopped. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "export.h"
#include "pcapng.h"
#include "tt.h"
#include "util.h"

static uint8_t pay[2000];
static char dir[] = "/tmp/test_export.XXXXXX";

static struct seg mkseg(uint16_t sport, uint32_t len, uint64_t ts)
{
	struct seg s = { 0 };
	s.family = 4;
	s.flags = TCPF_ACK;
	memcpy(s.src, "\x0a\x00\x00\x02", 4);
	memcpy(s.dst, "\x0a\x00\x00\x01", 4);
	s.sport = sport;
	s.dport = 443;
	s.seq = 1000;
	s.payload = pay;
	s.len = s.wire_len = len;
	s.ts_ns = ts;
	return s;
}

static uint8_t *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	uint8_t *b = malloc(4 << 20);
	*n = f ? fread(b, 1, 4 << 20, f) : 0;
	if (f)
		fclose(f);
	return b;
}

static int count_files(const char *prefix, int *tmp)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	*tmp = 0;
	while ((e = readdir(d))) {
		if (strstr(e->d_name, ".tmp"))
			(*tmp)++;
		else if (!strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	}
	closedir(d);
	return n;
}

/* walk a pcapng image: returns the index of the first EPB and DSB */
static void first_blocks(const uint8_t *b, size_t n, int *epb, int *dsb,
			 int *nblocks)
{
	size_t off = 0;
	int i = 0;
	*epb = *dsb = -1;
	while (off + 12 <= n) {
		uint32_t t, l;
		memcpy(&t, b + off, 4);
		memcpy(&l, b + off + 4, 4);
		if (t == PCAPNG_EPB && *epb < 0) *epb = i;
		if (t == PCAPNG_DSB && *dsb < 0) *dsb = i;
		if (l < 12 || off + l > n) break;
		off += l;
		i++;
	}
	*nblocks = off == n ? i : -1;
}

/* the captured bytes of a pcapng image's EPBs */
static uint64_t epb_bytes(const uint8_t *b, size_t n)
{
	uint64_t sum = 0;

	for (size_t off = 0; off + 28 <= n;) {
		uint32_t t, l, cap;
		memcpy(&t, b + off, 4);
		memcpy(&l, b + off + 4, 4);
		memcpy(&cap, b + off + 20, 4);
		if (t == PCAPNG_EPB)
			sum += cap;
		if (l < 12)
			break;
		off += l;
	}
	return sum;
}

static void noop(void *c, const uint8_t *p, size_t n) { (void)c; (void)p; (void)n; }

TT_TEST(rotation_ring_exactly_w)
{
	struct export_opts o;
	char path[256], err[256];
	int tmp;
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/ring", dir);
	o.path = path;
	o.rotate_bytes = 5000;
	o.max_files = 3;
	struct exporter *x = export_new(&o, NULL, err, sizeof(err));
	TT_REQUIRE(x);
	for (int i = 0; i < 60; i++) {
		struct seg s = mkseg(40000, 1000, 1000000000ULL + (uint64_t)i);
		export_seg(x, &s);
	}
	TT_EQ_INT(export_finish(x), 0);
	TT_CHECK(export_stats(x)->files >= 10);
	TT_EQ_INT(export_stats(x)->packets, 60);
	TT_EQ_INT(count_files("ring", &tmp), 3);
	TT_EQ_INT(tmp, 0);
	for (int i = 0; i < 3; i++) {
		char p[300];
		size_t n;
		struct stat sb;
		snprintf(p, sizeof(p), "%s%d", path, i);
		uint8_t *b = slurp(p, &n);
		TT_CHECK(pcapng_scan_dsb(b, n, noop, NULL) >= 0);
		TT_CHECK(n <= 5000 + 1100);
		TT_CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
		free(b);
	}
	export_free(x);
}

TT_TEST(rotation_by_time_names)
{
	struct export_opts o;
	char path[256], err[256], p[300];
	const uint64_t base = 1700000000ULL * 1000000000ULL, s1 = 1000000000ULL;
	const uint64_t ts[] = { base, base + s1 / 2, base + s1 + 1, base + 3 * s1 };
	struct stat sb;
	int tmp;

	for (int strf = 0; strf < 2; strf++) {
		export_opts_default(&o);
		snprintf(path, sizeof(path), strf ? "%s/t-%%H%%M%%S.pcapng" :
			 "%s/t.pcapng", dir);
		o.path = path;
		o.rotate_ns = s1;
		struct exporter *x = export_new(&o, NULL, err, sizeof(err));
		TT_REQUIRE(x);
		for (size_t i = 0; i < ARRAY_SIZE(ts); i++) {
			struct seg s = mkseg(43000, 10, ts[i]);
			export_seg(x, &s);
		}
		TT_EQ_INT(export_finish(x), 0);
		TT_EQ_INT(export_stats(x)->files, 3);
		export_free(x);
	}
	/* NAME.<n> */
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/t.pcapng.%d", dir, i);
		TT_CHECK(stat(p, &sb) == 0);
	}
	/* strftime of each file's first packet, UTC: 22:13:20, :21, :23 */
	snprintf(p, sizeof(p), "%s/t-221320.pcapng", dir);
	TT_CHECK(stat(p, &sb) == 0);
	snprintf(p, sizeof(p), "%s/t-221321.pcapng", dir);
	TT_CHECK(stat(p, &sb) == 0);
	snprintf(p, sizeof(p), "%s/t-221323.pcapng", dir);
	TT_CHECK(stat(p, &sb) == 0);
	TT_EQ_INT(count_files("t", &tmp), 6);
	TT_EQ_INT(tmp, 0);
}

static void client_hello(uint8_t random_byte)
{
	memset(pay, 0, 100);
	pay[0] = 0x16; pay[1] = 0x03; pay[2] = 0x01; pay[5] = 0x01;
	memset(pay + 11, random_byte, 32);
}

static const char *line(uint8_t r, char *buf)
{
	int n = sprintf(buf, "CLIENT_RANDOM ");
	for (int i = 0; i < 32; i++) n += sprintf(buf + n, "%02x", r);
	buf[n++] = ' ';
	for (int i = 0; i < 48; i++) n += sprintf(buf + n, "%02x", i);
	buf[n] = 0;
	return buf;
}

TT_TEST(key_hold_then_dsb_before_packets)
{
	struct export_opts o;
	struct keystore *ks = keystore_new(16);
	char path[256], err[256], l[256];
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/hold.pcapng", dir);
	o.path = path;
	o.key_wait_ns = 5000000000ULL;
	struct exporter *x = export_new(&o, ks, err, sizeof(err));
	TT_REQUIRE(x);
	client_hello(0xaa);
	struct seg s = mkseg(40001, 200, 1000);
	export_seg(x, &s);
	s = mkseg(40001, 300, 2000);
	export_seg(x, &s);
	TT_EQ_INT(export_stats(x)->held, 2);
	TT_EQ_INT(export_stats(x)->packets, 0);
	/* another flow, plain, goes on being written */
	memset(pay, 'G', 10);
	s = mkseg(40002, 10, 3000);
	export_seg(x, &s);
	TT_EQ_INT(export_stats(x)->packets, 1);
	export_keys_added(x);		/* not its keys yet */
	TT_EQ_INT(export_stats(x)->packets, 1);
	line(0xaa, l);
	TT_EQ_INT(keystore_add_line(ks, l, strlen(l)), 0);
	export_keys_added(x);
	TT_EQ_INT(export_stats(x)->packets, 3);
	TT_EQ_INT(export_stats(x)->dsbs, 1);
	TT_EQ_INT(export_finish(x), 0);
	size_t n;
	int epb, dsb, nb;
	uint8_t *b = slurp(path, &n);
	first_blocks(b, n, &epb, &dsb, &nb);
	TT_EQ_INT(nb, 1 + 1 + 1 + 3);	/* SHB IDB EPB(plain) DSB EPB EPB */
	TT_EQ_INT(epb, 2);
	TT_EQ_INT(dsb, 3);
	/* the DSB holds exactly that session's line */
	struct { int n; } c = { 0 };
	TT_EQ_INT(pcapng_scan_dsb(b, n, noop, &c), 1);
	TT_CHECK(memmem(b, n, l, strlen(l)) != NULL);
	free(b);
	export_free(x);
	keystore_free(ks);
}

TT_TEST(keys_kept_for_rotated_files)
{
	struct export_opts o;
	struct keystore *ks = keystore_new(1);	/* holds one session */
	char path[256], err[256], l[256], p[300];
	int epb, dsb, nb;
	size_t n;
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/kept", dir);
	o.path = path;
	o.rotate_bytes = 3000;
	line(0xa1, l);
	TT_EQ_INT(keystore_add_line(ks, l, strlen(l)), 0);
	struct exporter *x = export_new(&o, ks, err, sizeof(err));
	TT_REQUIRE(x);
	client_hello(0xa1);
	struct seg s = mkseg(44000, 1000, 1000);
	export_seg(x, &s);
	/* the store forgets it: another session evicts it */
	line(0xb2, l);
	TT_EQ_INT(keystore_add_line(ks, l, strlen(l)), 0);
	line(0xa1, l);
	{
		uint8_t r[32];
		memset(r, 0xa1, 32);
		TT_CHECK(keystore_get(ks, r, KEY_CLIENT_RANDOM) == NULL);
	}
	for (int i = 0; i < 4; i++) {
		memset(pay, 'x', 1000);
		s = mkseg(44000, 1000, 2000 + (uint64_t)i);
		export_seg(x, &s);
	}
	TT_EQ_INT(export_finish(x), 0);
	TT_CHECK(export_stats(x)->files >= 3);
	TT_EQ_INT(export_stats(x)->dsbs, export_stats(x)->files);
	for (uint64_t i = 0; i < export_stats(x)->files; i++) {
		snprintf(p, sizeof(p), "%s%d", path, (int)i);
		uint8_t *b = slurp(p, &n);
		first_blocks(b, n, &epb, &dsb, &nb);
		TT_CHECK(dsb >= 0 && dsb < epb);
		TT_CHECK(memmem(b, n, l, strlen(l)) != NULL);
		free(b);
	}
	export_free(x);
	keystore_free(ks);
}

TT_TEST(split_segment_held_whole)
{
	static uint8_t bigp[100000];
	struct export_opts o;
	struct keystore *ks = keystore_new(16);
	char path[256], err[256], l[256];
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/split.pcapng", dir);
	o.path = path;
	o.key_wait_ns = 5000000000ULL;
	struct exporter *x = export_new(&o, ks, err, sizeof(err));
	TT_REQUIRE(x);
	client_hello(0xc3);
	struct seg s = mkseg(45000, 100, 1000);
	export_seg(x, &s);
	s = mkseg(45000, 0, 2000);
	s.payload = bigp;
	s.len = s.wire_len = sizeof(bigp);	/* a GSO super-packet: 2 frames */
	export_seg(x, &s);
	TT_EQ_INT(export_stats(x)->held, 3);
	TT_EQ_INT(export_stats(x)->packets, 0);
	line(0xc3, l);
	TT_EQ_INT(keystore_add_line(ks, l, strlen(l)), 0);
	export_keys_added(x);
	TT_EQ_INT(export_stats(x)->packets, 3);
	TT_EQ_INT(export_stats(x)->dsbs, 1);
	export_free(x);
	keystore_free(ks);
}

TT_TEST(key_hold_timeout_and_cap)
{
	struct export_opts o;
	struct keystore *ks = keystore_new(16);
	char path[256], err[256];
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/to.pcapng", dir);
	o.path = path;
	o.key_wait_ns = 5000000000ULL;
	o.key_hold_bytes = 3000;
	struct exporter *x = export_new(&o, ks, err, sizeof(err));
	TT_REQUIRE(x);
	client_hello(0x01);
	struct seg s = mkseg(41000, 500, 1000);
	export_seg(x, &s);
	export_tick(x, 1000 + 4000000000ULL);
	TT_EQ_INT(export_stats(x)->packets, 0);
	export_tick(x, 1000 + 5000000000ULL);
	TT_EQ_INT(export_stats(x)->released_timeout, 1);
	TT_EQ_INT(export_stats(x)->packets, 1);
	/* two sessions over a 3000-byte hold: the older goes out */
	client_hello(0x02);
	s = mkseg(41001, 1500, 6000000000ULL);
	export_seg(x, &s);
	client_hello(0x03);
	s = mkseg(41002, 1500, 6000000001ULL);
	export_seg(x, &s);
	TT_EQ_INT(export_stats(x)->released_full, 1);
	TT_CHECK(export_stats(x)->hold_peak <= 3000);
	TT_EQ_INT(export_finish(x), 0);
	TT_EQ_INT(export_stats(x)->released_nokeys, 1);
	TT_EQ_INT(export_stats(x)->packets, 3);
	export_free(x);
	keystore_free(ks);
}

TT_TEST(enospc_file_whole)
{
	struct export_opts o;
	char path[256], err[256];
	int tmp;
	export_opts_default(&o);
	snprintf(path, sizeof(path), "%s/full.pcapng", dir);
	o.path = path;
	struct exporter *x = export_new(&o, NULL, err, sizeof(err));
	TT_REQUIRE(x);
	xfile_fail_after = 600000;
	for (int i = 0; i < 2000; i++) {
		struct seg s = mkseg(42000, 1000, 1000 + (uint64_t)i);
		export_seg(x, &s);
	}
	TT_CHECK(export_stats(x)->stopped);
	TT_CHECK(strstr(export_error(x), "No space left") != NULL);
	TT_CHECK(export_stats(x)->lost > 0);
	TT_EQ_INT(export_finish(x), -EIO);
	xfile_fail_after = 0;
	size_t n;
	int epb, dsb, nb;
	uint8_t *b = slurp(path, &n);
	first_blocks(b, n, &epb, &dsb, &nb);
	TT_CHECK(n > 0 && n <= 600000);
	TT_CHECK(nb > 2);		/* whole blocks to the last byte */
	/* exact counts: SHB, IDB, then one EPB per packet counted as
	 * written; the rest (also those queued behind the failed write)
	 * are lost */
	TT_EQ_INT(export_stats(x)->packets, nb - 2);
	TT_EQ_INT(export_stats(x)->packets + export_stats(x)->lost, 2000);
	TT_EQ_INT(export_stats(x)->bytes, epb_bytes(b, n));
	TT_EQ_INT(count_files("full", &tmp), 1);
	TT_EQ_INT(tmp, 0);
	free(b);
	export_free(x);
}

TT_TEST(unwritable_path)
{
	struct export_opts o;
	char err[256];
	export_opts_default(&o);
	o.path = "/nonexistent-dir/x.pcapng";
	TT_CHECK(export_new(&o, NULL, err, sizeof(err)) == NULL);
	TT_CHECK(strstr(err, "No such file") != NULL);
}

__attribute__((constructor)) static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
}

__attribute__((destructor)) static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

TT_MAIN()
