/* Runs a fuzz target over files without libFuzzer, so that every build
 * (gcc included, sanitized or not) replays the committed corpus and every
 * input that once failed:
 *
 *   fuzz-challenge-replay tests/fuzz/corpus/challenge tests/fuzz/regress/challenge
 *
 * Each argument is a file or a directory of files (read in name order).
 * Each input is handed over in a buffer of exactly its size, as libFuzzer
 * does, so that a read past its end is a sanitizer report.  A failed
 * invariant aborts with the input's name. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			char *q = realloc(p, cap);
			if (!q) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(p);
		return NULL;
	}
	/* Exactly n bytes, so that a read past the input is caught. */
	char *exact = malloc(n ? n : 1);
	if (exact)
		memcpy(exact, p, n);
	free(p);
	*len = n;
	return exact;
}

static int replay_file(const char *path)
{
	size_t len;
	char *data = read_all(path, &len);

	if (!data) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	fuzz_input_name = path;
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	fuzz_input_name = NULL;
	free(data);
	return 0;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns how many inputs ran, or -1. */
static long replay(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) ? -1 : 1;

	struct dirent **names;
	int n = scandir(path, &names, not_hidden, alphasort);
	long count = 0;
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *file;
		if (count >= 0 && asprintf(&file, "%s/%s", path, names[i]->d_name) > 0) {
			count = replay_file(file) ? -1 : count + 1;
			free(file);
		} else {
			count = -1;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		long n = replay(argv[i]);
		if (n < 0)
			return 1;
		printf("%s: %ld inputs\n", argv[i], n);
		total += n;
	}
	printf("replayed %ld inputs, no invariant failed\n", total);
	return 0;
}
