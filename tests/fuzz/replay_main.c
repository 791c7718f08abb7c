/* replay_main.c - run a fuzz harness over its kept inputs, without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_<name>.c into build/tests/test_fuzz_<name>
 * (so `make unit`, `make test` and `make test-asan` run it).  Replays every
 * file in tests/fuzz/regress/<name>/ (crashes found and fixed) and
 * tests/fuzz/corpus/<name>/ (seeds), or the files given as arguments, each
 * in a forked child so one crash names its input and the rest still run.
 * Prints "fuzz_<name>: N passed, N failed" (tests/run-unit.sh's format).
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME=\"name\" -DFUZZ_DIR=\"tests/fuzz\""
#endif

static int passed, failed;

static int run_one(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, k;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		k = fread(buf + n, 1, cap - n, f);
		if (!k)
			break;
		n += k;
	}
	fclose(f);
	/* exact-size copy: a read past the input is caught by ASan */
	uint8_t *in = fz_dup(buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(in, n);
	free(in);
	return 0;
}

static void replay(const char *path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		failed++;
		return;
	}
	if (pid == 0)
		exit(run_one(path) ? 2 : 0);	/* exit, not _exit: LeakSanitizer checks at exit */
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "FAIL %s: %s %d\n", path,
			WIFSIGNALED(st) ? "signal" : "exit",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		failed++;
	} else {
		passed++;
	}
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names)
			abort();
		names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
		if (!names[n])
			abort();
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
			replay(names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay(argv[i]);
	} else {
		replay_dir(FUZZ_DIR "/regress/" FUZZ_NAME);
		replay_dir(FUZZ_DIR "/corpus/" FUZZ_NAME);
	}
	printf("fuzz_%s: %d passed, %d failed\n", FUZZ_NAME, passed, failed);
	return failed ? 1 : 0;
}
