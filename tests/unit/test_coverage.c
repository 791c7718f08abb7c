/* test_coverage.c - decryption coverage per endpoint: counting by reason,
 * the JSON file, the summary lines, ordering, the endpoint bound. */
#include <errno.h>
#include <sys/stat.h>

#include "coverage.h"
#include "util.h"
#include "tt.h"

static void add(struct coverage *c, const char *server, const char *sni,
		int decrypted, int why, int n)
{
	struct tls_info ti;

	memset(&ti, 0, sizeof(ti));
	snprintf(ti.sni, sizeof(ti.sni), "%s", sni);
	ti.decrypted = decrypted;
	ti.why = (uint8_t)why;
	for (int i = 0; i < n; i++)
		coverage_add(c, server, &ti);
}

static char *mem_json(const struct coverage *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f || coverage_write_json(c, f))
		abort();
	fclose(f);
	return buf;
}

TT_TEST(counts_and_json)
{
	struct coverage *c = coverage_new();
	const struct coverage_totals *t;
	char *j;

	add(c, "10.0.0.1:443", "api.example", 1, 0, 10);
	add(c, "10.0.0.1:443", "api.example", 0, TLS_WHY_NO_KEYS, 2);
	add(c, "10.0.0.1:443", "other.example", 0, TLS_WHY_KEYS_LATE, 1);
	add(c, "10.0.0.2:8443", "", 0, TLS_WHY_UNSUPPORTED, 5);
	add(c, "10.0.0.2:8443", "", 0, TLS_WHY_MIDSTREAM, 1);
	add(c, "10.0.0.2:8443", "", 0, TLS_WHY_BAD_RECORD, 1);
	add(c, "[::1]:443", "x\"y", 0, TLS_WHY_NONE, 1);	/* no data */
	t = coverage_totals(c);
	TT_EQ_INT(t->sessions, 21);
	TT_EQ_INT(t->decrypted, 10);
	TT_EQ_INT(t->why[TLS_WHY_NO_KEYS], 2);
	TT_EQ_INT(t->why[TLS_WHY_KEYS_LATE], 1);
	TT_EQ_INT(t->why[TLS_WHY_UNSUPPORTED], 5);
	TT_EQ_INT(t->why[TLS_WHY_NO_DATA], 1);
	j = mem_json(c);
	TT_CHECK(!strncmp(j, "{\"sessions\":21,\"decrypted\":10,", 30));
	/* most undecrypted first: 8443 (7), then api.example (2) ... */
	TT_CHECK(strstr(j, "\"endpoints\":[{\"server\":\"10.0.0.2:8443\",\"sni\":\"\",\"sessions\":7,\"decrypted\":0,"));
	TT_CHECK(strstr(j, "{\"server\":\"10.0.0.1:443\",\"sni\":\"api.example\",\"sessions\":12,\"decrypted\":10,\"not_decrypted\":{\"no_keys\":2,\"keys_too_late\":0,"));
	TT_CHECK(strstr(j, "\"sni\":\"other.example\",\"sessions\":1,\"decrypted\":0,\"not_decrypted\":{\"no_keys\":0,\"keys_too_late\":1,"));
	TT_CHECK(strstr(j, "\"sni\":\"x\\\"y\""));
	TT_CHECK(strstr(j, "\"no_application_data\":1"));
	TT_CHECK(strstr(j, "\"unsupported\":5,\"midstream\":1,\"bad_record\":1,\"gap\":0,\"no_application_data\":0,\"other\":0},\"needs_key_export\":false}"));
	TT_CHECK(strstr(j, "\"keys_too_late\":1,\"unsupported\":0,\"midstream\":0,\"bad_record\":0,\"gap\":0,\"no_application_data\":0,\"other\":0},\"needs_key_export\":true}"));
	free(j);
	coverage_free(c);
}

TT_TEST(summary_lines)
{
	struct coverage *c = coverage_new();
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	add(c, "10.0.0.1:443", "api.example", 1, 0, 3);
	add(c, "10.0.0.1:443", "api.example", 0, TLS_WHY_NO_KEYS, 2);
	add(c, "10.0.0.1:443", "api.example", 0, TLS_WHY_BAD_RECORD, 1);
	add(c, "10.0.0.3:443", "", 1, 0, 1);
	add(c, "10.0.0.4:443", "", 1, 0, 1);
	f = open_memstream(&buf, &len);
	coverage_print(c, f, 2);
	fclose(f);
	static const char want[] =
		  "tapir: coverage: 10.0.0.1:443 api.example: 6 TLS sessions, 3 decrypted, 3 not (2 no keys, 1 bad tag) - needs key export\n"
		  "tapir: coverage: 10.0.0.3:443: 1 TLS sessions, 1 decrypted\n"
		  "tapir: coverage: ... 1 more endpoints (--coverage FILE has them all)\n";
	TT_CHECK(buf && !strcmp(buf, want));
	if (buf && strcmp(buf, want))
		fputs(buf, stderr);
	free(buf);
	coverage_free(c);
	coverage_print(NULL, stderr, 5);	/* nothing, no crash */
}

TT_TEST(endpoint_bound)
{
	struct coverage *c = coverage_new();
	char server[64], *j;

	for (int i = 0; i < COVERAGE_MAX_ENDPOINTS + 50; i++) {
		snprintf(server, sizeof(server), "10.%d.%d.1:443", i >> 8,
			 i & 255);
		add(c, server, "", 0, TLS_WHY_NO_KEYS, 1);
	}
	TT_EQ_INT(coverage_totals(c)->sessions, COVERAGE_MAX_ENDPOINTS + 50);
	j = mem_json(c);
	TT_CHECK(strstr(j, "{\"server\":\"(other endpoints)\",\"sni\":\"\",\"sessions\":50,"));
	free(j);
	coverage_free(c);
}

TT_TEST(write_file)
{
	struct coverage *c = coverage_new();
	char dir[] = "/tmp/tapir-cov-XXXXXX", path[64], tmp[80];
	struct stat st;

	TT_REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cov.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	add(c, "10.0.0.1:443", "a", 1, 0, 1);
	TT_EQ_INT(coverage_write_file(c, path), 0);
	TT_CHECK(stat(path, &st) == 0 && st.st_size > 50);
	TT_CHECK(stat(tmp, &st) != 0);
	TT_EQ_INT(coverage_write_file(c, "/nonexistent-dir/cov.json"), -ENOENT);
	unlink(path);
	rmdir(dir);
	coverage_free(c);
}

TT_MAIN()
