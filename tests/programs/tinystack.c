/* An unmodified libcurl program whose transfers all run on a thread with a
 * tiny stack, for authtap's tests (GitHub issue 12, item 1).
 *
 *   tinystack [--stack BYTES] [--late PATH] easy|multi URL...
 *
 * The main thread only calls curl_global_init (which authtap does not
 * interpose), so the thread's first hooked call is the first of the
 * process.  The thread, with a stack of BYTES (default PTHREAD_STACK_MIN,
 * 16 KiB in glibc), runs every URL through curl_easy_perform (easy) or at
 * once on one multi handle (multi).  With --late, the main thread first
 * dlopens PATH (this file built as libtinylate.so, TINY_LATE), loaded after
 * the preload's own start, and the thread runs the transfers through its
 * tiny_late_run instead: that object's first call reaches authtap from the
 * tiny stack.
 *
 * Built with AddressSanitizer (tests/sanitize.sh asan), whose frames and
 * red zones are several times larger, the default is four times that.
 *
 * Each transfer prints one line, the same with and without the preload:
 *
 *   transfer api=easy result=0 status=401
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define TINY_STACK (4 * PTHREAD_STACK_MIN)
#else
#define TINY_STACK PTHREAD_STACK_MIN
#endif
#define TINY_URLS_MAX 16
#define TINY_SECS 20

typedef int (*late_fn)(int multi, char **urls, int n);

struct job {
	int multi;
	char **urls;
	int n;
	late_fn late;
	int rc;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static CURL *make(const char *url)
{
	CURL *h = curl_easy_init();

	if (h) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TINY_SECS);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	}
	return h;
}

static void report(CURL *h, const char *api, int result)
{
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	printf("transfer api=%s result=%d status=%ld\n", api, result, status);
}

static int run_easy(struct job *j)
{
	int rc = 0;

	for (int i = 0; i < j->n; i++) {
		CURL *h = make(j->urls[i]);
		if (!h)
			return 1;
		CURLcode r = curl_easy_perform(h);
		report(h, "easy", (int)r);
		rc |= r != CURLE_OK;
		curl_easy_cleanup(h);
	}
	return rc;
}

static int run_multi(struct job *j)
{
	CURL *h[TINY_URLS_MAX];
	int result[TINY_URLS_MAX];
	CURLM *m = curl_multi_init();
	int rc = 0, done = 0, running = 1;

	if (!m)
		return 1;
	for (int i = 0; i < j->n; i++) {
		h[i] = make(j->urls[i]);
		result[i] = -1;
		if (!h[i] || curl_multi_add_handle(m, h[i]) != CURLM_OK)
			return 1;
	}
	time_t start = time(NULL);
	while (done < j->n && time(NULL) - start < TINY_SECS) {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)))
			for (int i = 0; i < j->n; i++)
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == h[i]) {
					result[i] = (int)msg->data.result;
					rc |= msg->data.result != CURLE_OK;
					done++;
				}
		if (done < j->n && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	/* In the order of the URLs, whatever order they ended in. */
	for (int i = 0; i < j->n; i++) {
		report(h[i], "multi", result[i]);
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_multi_cleanup(m);
	return rc || done < j->n;
}

#ifdef TINY_LATE
int tiny_late_run(int multi, char **urls, int n);

int tiny_late_run(int multi, char **urls, int n)
{
	struct job j = {.multi = multi, .urls = urls, .n = n};

	return multi ? run_multi(&j) : run_easy(&j);
}
#else
static void *thread_main(void *arg)
{
	struct job *j = arg;

	if (j->late)
		j->rc = j->late(j->multi, j->urls, j->n);
	else
		j->rc = j->multi ? run_multi(j) : run_easy(j);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t stack = TINY_STACK;
	const char *late = NULL;
	int i = 1;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--stack") == 0)
			stack = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--late") == 0)
			late = argv[i + 1];
	}
	if (argc - i < 2 || argc - i - 1 > TINY_URLS_MAX ||
	    (strcmp(argv[i], "easy") != 0 && strcmp(argv[i], "multi") != 0)) {
		fputs("usage: tinystack [--stack BYTES] [--late PATH] easy|multi URL...\n", stderr);
		return 2;
	}
	struct job j = {
	    .multi = strcmp(argv[i], "multi") == 0, .urls = argv + i + 1, .n = argc - i - 1};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (late) {
		void *lib = dlopen(late, RTLD_NOW | RTLD_LOCAL);
		j.late = lib ? (late_fn)dlsym(lib, "tiny_late_run") : NULL;
		/* Its libcurl's own start, heavy for the GnuTLS build, runs
		 * here, as a program's curl_global_init would. */
		CURLcode (*init)(long) =
		    lib ? (CURLcode(*)(long))dlsym(lib, "curl_global_init") : NULL;
		if (!j.late || !init || init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			printf("%s unusable: %s\n", late, dlerror());
			return 1;
		}
	}

	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	int e = pthread_attr_setstacksize(&attr, stack);
	if (e == 0)
		e = pthread_create(&t, &attr, thread_main, &j);
	if (e != 0) {
		printf("no thread with a %zu-byte stack: %s\n", stack, strerror(e));
		return 1;
	}
	pthread_join(t, NULL);
	printf("thread done rc=%d\n", j.rc);
	fflush(stdout);
	curl_global_cleanup();
	return j.rc;
}
#endif
