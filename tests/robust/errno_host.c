/* Checks that errno after curl_easy_perform is what the last interposer in
 * the chain left (tests/programs/errno_preload.c sets EOWNERDEAD).
 *
 *   errno-host URL...
 *
 * One transfer per URL on one handle; prints per transfer
 *
 *   transfer 0 result=0 status=401 errno=sentinel
 *
 * and at the end how many calls the second interposer saw. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: errno-host URL...\n", stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	int all = 1;
	for (int i = 1; i < argc; i++) {
		long status = 0;
		curl_easy_setopt(h, CURLOPT_URL, argv[i]);
		errno = 0;
		CURLcode rc = curl_easy_perform(h);
		int e = errno;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (e == EOWNERDEAD)
			printf("transfer %d result=%d status=%ld errno=sentinel\n", i - 1, (int)rc,
			       status);
		else
			printf("transfer %d result=%d status=%ld errno=%d (%s)\n", i - 1, (int)rc,
			       status, e, strerror(e));
		all &= e == EOWNERDEAD;
	}
	curl_easy_cleanup(h);
	curl_global_cleanup();

	atomic_long *calls = dlsym(RTLD_DEFAULT, "errno_preload_calls");
	if (calls)
		printf("chain calls=%ld\n", atomic_load(calls));
	else
		printf("chain absent\n");
	return all ? 0 : 1;
}
