/* A program linked against tests/programs/ctor_lib.c: the library's
 * constructor does its transfer before main, then main does one more.
 *
 *   ctor-host URL */
#include <stdio.h>

#include <curl/curl.h>

int ctor_lib_ran(void);

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: ctor-host URL\n", stderr);
		return 2;
	}
	CURL *h = curl_easy_init();
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, argv[1]);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	printf("main ctor_ran=%d result=%d status=%ld\n", ctor_lib_ran(), (int)rc, status);
	return rc == CURLE_OK ? 0 : 1;
}
