/* fuzz_pcap.c - the capture file reader and the whole pipeline behind it.
 *
 * Input: byte 0 options (bits 0-1 checksum mode, bit 2 small memcap and
 * limits, bit 3 no keys, bit 4 two worker threads as `tapir read -j2`),
 * the rest is a pcap / pcapng file.  It is written to a memfd and read by
 * source_pcap_run() into an engine (or the workers, par.c) with the fixed
 * key log (fuzz_keys.h) and a JSON sink on /dev/null.  Invariants: the
 * reader returns 0 or -errno with a message; after a successful run no
 * flow is left open; the memcap is never exceeded.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "fuzz.h"
#include "fuzz_keys.h"
#include "par.h"
#include "source_pcap.h"

static struct keystore *keys;
static struct json_sink *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	uint8_t o = fz_u8(&f);
	struct engine_opts eo;
	struct source_stats ss;
	char err[256] = "", path[64];

	if (!keys) {
		const char *p = fuzz_keylog, *nl;
		keys = keystore_new(64);
		while ((nl = strchr(p, '\n'))) {
			keystore_add_line(keys, p, (size_t)(nl - p));
			p = nl + 1;
		}
		sink = json_sink_open("/dev/null", false);
		FZ_ASSERT(sink);
	}
	int fd = memfd_create("fuzz_pcap", 0);
	FZ_ASSERT(fd >= 0);
	if (f.n && write(fd, f.p, f.n) != (ssize_t)f.n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	engine_opts_default(&eo);
	if (o & 4) {
		eo.memcap = 64 * 1024;
		eo.max_header_bytes = 256;
		eo.reasm_window = 2048;
		eo.max_flows = 4;
		eo.body.max_keep = 64;
	}
	eo.body.hash = true;
	if (o & 16) {
		struct par *p = par_new(2, &eo, (o & 8) ? NULL : keys, sink);
		struct seg_consumer to = { par_push, par_finish, p };

		FZ_ASSERT(p);
		memset(&ss, 0, sizeof(ss));
		int r = source_pcap_run(path, (enum csum_mode)((o & 3) % 3), &to,
					NULL, &ss, err, sizeof(err));
		FZ_ASSERT(r <= 0);
		if (r < 0) {
			FZ_ASSERT(err[0]);
		} else {
			const struct par_totals *t = par_totals(p);

			FZ_ASSERT(t->fs.flows_active == 0);
			FZ_ASSERT(t->mc.used <= t->mc.limit);
			FZ_ASSERT(t->mc.limit <= eo.memcap);
		}
		par_free(p);
		close(fd);
		return 0;
	}
	struct engine *e = engine_new(&eo, (o & 8) ? NULL : keys, sink);
	FZ_ASSERT(e);
	memset(&ss, 0, sizeof(ss));
	struct seg_consumer to = engine_consumer(e);
	int r = source_pcap_run(path, (enum csum_mode)((o & 3) % 3), &to, NULL,
				&ss, err, sizeof(err));
	FZ_ASSERT(r <= 0);
	if (r < 0)
		FZ_ASSERT(err[0]);
	else	/* source_pcap_run() finished the engine: every flow closed */
		FZ_ASSERT(engine_flow_stats(e)->flows_active == 0);
	FZ_ASSERT(engine_memcap(e)->used <= engine_memcap(e)->limit);
	engine_free(e);
	close(fd);
	return 0;
}
