/* A plugin that does its transfers through the libcurl build it is linked
 * against, for authtap's tests of several builds in one process.  It is
 * built once per build (PLUGIN_NAME says which) and also into tests/dlhost
 * itself, for the host's own transfers.
 *
 * Each transfer prints one line on stdout, the same with and without the
 * preload, and its handle on stderr:
 *
 *   gnutls easy result=0 status=401 ran_in=libcurl-gnutls.so.4
 *   handle gnutls-easy 0x7f3a48001230                          (stderr)
 *
 * ran_in is the object that called the write callback: the libcurl that
 * really ran the transfer, whatever the preload routed it through. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must name the libcurl build"
#endif

#define PLUGIN_SECS 20

struct seen {
	char ran_in[128];
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct seen *s = ud;
	Dl_info info;

	(void)p;
	if (!s->ran_in[0] && dladdr(__builtin_return_address(0), &info) && info.dli_fname) {
		const char *base = strrchr(info.dli_fname, '/');
		snprintf(s->ran_in, sizeof(s->ran_in), "%s", base ? base + 1 : info.dli_fname);
	}
	return size * n;
}

static CURL *make(const char *url, struct seen *s, const char *label)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	fprintf(stderr, "handle %s-%s %p\n", PLUGIN_NAME, label, (void *)h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)PLUGIN_SECS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	return h;
}

static void report(CURL *h, const char *api, int result, const struct seen *s)
{
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	printf("%s %s result=%d status=%ld ran_in=%s\n", PLUGIN_NAME, api, result, status,
	       s->ran_in[0] ? s->ran_in : "-");
	fflush(stdout);
}

/* Returns 0 when both transfers ran to their end. */
int PLUGIN_ENTRY(const char *easy_url, const char *multi_url)
{
	struct seen se = {{0}}, sm = {{0}};
	int rc = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *e = make(easy_url, &se, "easy");
	if (!e)
		return 1;
	CURLcode r = curl_easy_perform(e);
	report(e, "easy", (int)r, &se);
	if (r != CURLE_OK)
		rc = 1;
	curl_easy_cleanup(e);

	CURLM *m = curl_multi_init();
	CURL *h = make(multi_url, &sm, "multi");
	if (!m || !h || curl_multi_add_handle(m, h) != CURLM_OK) {
		curl_multi_cleanup(m);
		curl_easy_cleanup(h);
		return 1;
	}
	time_t start = time(NULL);
	int running = 1, done = 0;
	while (!done && time(NULL) - start < PLUGIN_SECS) {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
				report(h, "multi", (int)msg->data.result, &sm);
				if (msg->data.result != CURLE_OK)
					rc = 1;
				done = 1;
			}
		if (!done && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	if (!done) {
		printf("%s multi unfinished\n", PLUGIN_NAME);
		rc = 1;
	}
	curl_multi_remove_handle(m, h);
	curl_easy_cleanup(h);
	curl_multi_cleanup(m);
	return rc;
}
