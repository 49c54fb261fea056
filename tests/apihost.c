/* A host that asks authtap through the header-only shim and links nothing of
 * authtap.  It runs a little command language so that each API test is one
 * command line, run with and without the preload:
 *
 *   apihost get URL status count value 0 64 param Bearer scope 64 last
 *
 * and prints one line per query. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "authtap.h"

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static CURL *new_handle(void)
{
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	return h;
}

static void print_buf(const char *what, int rc, const char *buf, size_t size)
{
	printf("%s %d", what, rc);
	if (size)
		printf(" [%s]", buf);
	printf("\n");
}

struct stress {
	const char *url401, *url200;
	const char *expect; /* the one value the 401 carries */
	atomic_bool stop;
	atomic_long transfers, queries, torn;
};

/* Transfers, queries and cleanups from many threads at once: every answer
 * must be the whole value or none, never a mixture. */
static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	char buf[512];
	unsigned seed = (unsigned)(size_t)&buf;

	while (!atomic_load(&s->stop)) {
		CURL *h = new_handle();
		for (int i = 0; i < 4; i++) {
			curl_easy_setopt(h, CURLOPT_URL, rand_r(&seed) % 2 ? s->url401 : s->url200);
			curl_easy_perform(h);
			atomic_fetch_add(&s->transfers, 1);
			const CURL *last = authtap_last();
			for (int q = 0; q < 8; q++) {
				int n = authtap_value(last ? last : h, 0, buf, sizeof(buf));
				if (n >= 0 && strcmp(buf, s->expect) != 0)
					atomic_fetch_add(&s->torn, 1);
				long st = authtap_status(h);
				if (st != 0 && st != 401)
					atomic_fetch_add(&s->torn, 1);
				atomic_fetch_add(&s->queries, 1);
			}
		}
		curl_easy_cleanup(h);
	}
	return NULL;
}

static int stress(int threads, int seconds, const char *url401, const char *url200,
		  const char *expect)
{
	struct stress s = {.url401 = url401, .url200 = url200, .expect = expect};
	pthread_t t[64];

	if (threads > 64)
		threads = 64;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, stress_thread, &s);
	struct timespec d = {seconds, 0};
	nanosleep(&d, NULL);
	atomic_store(&s.stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("stress transfers=%s queries=%s torn=%ld\n",
	       atomic_load(&s.transfers) > 0 ? "some" : "none",
	       atomic_load(&s.queries) > 0 ? "some" : "none", atomic_load(&s.torn));
	return 0;
}

int main(int argc, char **argv)
{
	CURL *h;
	const CURL *remembered = NULL;
	char *buf = NULL;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = new_handle();
	for (int i = 1; i < argc; i++) {
		const char *cmd = argv[i];
		if (strcmp(cmd, "get") == 0 && i + 1 < argc) {
			curl_easy_setopt(h, CURLOPT_URL, argv[++i]);
			printf("get %d\n", (int)curl_easy_perform(h));
		} else if (strcmp(cmd, "new") == 0) {
			curl_easy_cleanup(h);
			h = new_handle();
		} else if (strcmp(cmd, "cleanup") == 0) {
			remembered = h;
			curl_easy_cleanup(h);
			h = new_handle();
		} else if (strcmp(cmd, "old-status") == 0) {
			printf("old-status %ld\n", authtap_status(remembered));
		} else if (strcmp(cmd, "active") == 0) {
			printf("active %d\n", authtap_active());
		} else if (strcmp(cmd, "status") == 0) {
			printf("status %ld\n", authtap_status(h));
		} else if (strcmp(cmd, "count") == 0) {
			printf("count %zu\n", authtap_count(h));
		} else if (strcmp(cmd, "challenges") == 0) {
			printf("challenges %zu\n", authtap_challenges(h));
		} else if ((strcmp(cmd, "value") == 0 || strcmp(cmd, "name") == 0 ||
			    strcmp(cmd, "scheme") == 0) && i + 2 < argc) {
			size_t idx = strtoul(argv[++i], NULL, 10);
			size_t size = strtoul(argv[++i], NULL, 10);
			buf = realloc(buf, size + 1);
			memset(buf, '#', size + 1);
			buf[size] = '\0';
			int rc = cmd[0] == 'v'   ? authtap_value(h, idx, size ? buf : NULL, size)
				 : cmd[0] == 'n' ? authtap_name(h, idx, size ? buf : NULL, size)
						 : authtap_scheme(h, idx, size ? buf : NULL, size);
			print_buf(cmd, rc, buf, size);
		} else if (strcmp(cmd, "param") == 0 && i + 3 < argc) {
			const char *scheme = strcmp(argv[i + 1], "-") == 0 ? NULL : argv[i + 1];
			const char *name = argv[i + 2];
			size_t size = strtoul(argv[i + 3], NULL, 10);
			i += 3;
			buf = realloc(buf, size + 1);
			memset(buf, '#', size + 1);
			buf[size] = '\0';
			print_buf("param", authtap_param(h, scheme, name, size ? buf : NULL, size), buf,
				  size);
		} else if (strcmp(cmd, "last") == 0) {
			const CURL *l = authtap_last();
			printf("last %s\n", !l ? "null" : l == h ? "self" : "other");
		} else if (strcmp(cmd, "forget") == 0) {
			authtap_forget(h);
		} else if (strcmp(cmd, "stress") == 0 && i + 5 < argc) {
			stress(atoi(argv[i + 1]), atoi(argv[i + 2]), argv[i + 3], argv[i + 4],
			       argv[i + 5]);
			i += 5;
		} else {
			fprintf(stderr, "apihost: bad command %s\n", cmd);
			return 2;
		}
	}
	curl_easy_cleanup(h);
	free(buf);
	curl_global_cleanup();
	return 0;
}
