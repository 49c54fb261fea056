/* A library whose constructor does a libcurl transfer, as some plugins and
 * language runtimes do, so that authtap is asked to record one before its
 * own constructor may have run.
 *
 * CTOR_URL is the URL (nothing happens without it).  CTOR_LOG is authtap's
 * log path: authtap creates it when it starts, so its absence at this point
 * proves that this constructor ran first.  One line goes to stdout:
 *
 *   ctor first=1 result=0 status=401 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <curl/curl.h>

static int ctor_ran;

/* The host calls this, so that the linker keeps the library as needed. */
int ctor_lib_ran(void)
{
	return ctor_ran;
}

static size_t ctor_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

__attribute__((constructor)) static void ctor_transfer(void)
{
	const char *url = getenv("CTOR_URL");
	const char *log = getenv("CTOR_LOG");

	ctor_ran = 1;
	if (!url)
		return;
	int first = !log || access(log, F_OK) != 0;
	long status = 0;
	CURLcode rc = CURLE_FAILED_INIT;
	CURL *h = curl_easy_init();
	if (h) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ctor_discard);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(h);
	}
	printf("ctor first=%d result=%d status=%ld\n", first, (int)rc, status);
	fflush(stdout);
}
