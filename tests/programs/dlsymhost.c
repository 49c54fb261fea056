/* A host that reaches libcurl only through dlsym and dlvsym, as Python's
 * ctypes and Ruby's FFI do, for authtap's tests (GitHub issue 12, item 7).
 * It links no libcurl.
 *
 *   dlsymhost URL LIB[@VERSION]...
 *
 * For each LIB it dlopens it (RTLD_LOCAL) and looks every libcurl function
 * it uses up with dlsym on that handle (curl_easy_perform with dlvsym and
 * VERSION when given), then runs URL once through curl_easy_perform and
 * once through the multi interface.  Stdout is the same with and without
 * the preload:
 *
 *   libcurl-gnutls.so.4 easy result=0 status=401 ran_in=libcurl-gnutls.so.4
 *   libcurl-gnutls.so.4 multi result=0 status=401 ran_in=libcurl-gnutls.so.4
 *   libc.so.6 has no curl_easy_perform: dlsym gives NULL and an error
 *
 * ran_in is the object that called the write callback: the libcurl that
 * really ran the transfer.  On stderr, what dlsym(RTLD_NEXT, ...) from this
 * program found (the next definition after the program's own, so under the
 * preload authtap's hook):
 *
 *   next curl_easy_perform in=libauthtap.so
 *   next malloc in=libc.so.6
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SECS 20

struct api {
	CURL *(*easy_init)(void);
	CURLcode (*setopt)(CURL *, CURLoption, ...);
	CURLcode (*getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*perform)(CURL *);
	void (*cleanup)(CURL *);
	CURLM *(*multi_init)(void);
	CURLMcode (*add)(CURLM *, CURL *);
	CURLMcode (*remove)(CURLM *, CURL *);
	CURLMcode (*mperform)(CURLM *, int *);
	CURLMcode (*poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
	CURLMsg *(*info_read)(CURLM *, int *);
	CURLMcode (*mcleanup)(CURLM *);
};

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static const char *object_of(const void *addr)
{
	Dl_info info;
	return addr && dladdr(addr, &info) && info.dli_fname ? base(info.dli_fname) : "-";
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	char *ran_in = ud;

	(void)p;
	if (!ran_in[0])
		snprintf(ran_in, 128, "%s", object_of(__builtin_return_address(0)));
	return size * n;
}

static CURL *make(const struct api *a, const char *url, char *ran_in)
{
	CURL *h = a->easy_init();

	if (h) {
		a->setopt(h, CURLOPT_URL, url);
		a->setopt(h, CURLOPT_PROXY, "");
		a->setopt(h, CURLOPT_NOSIGNAL, 1L);
		a->setopt(h, CURLOPT_TIMEOUT, (long)SECS);
		a->setopt(h, CURLOPT_WRITEFUNCTION, on_write);
		a->setopt(h, CURLOPT_WRITEDATA, ran_in);
	}
	return h;
}

static void report(const struct api *a, const char *lib, CURL *h, const char *api, int result,
		   const char *ran_in)
{
	long status = 0;

	a->getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	printf("%s %s result=%d status=%ld ran_in=%s\n", lib, api, result, status,
	       ran_in[0] ? ran_in : "-");
}

static int run(const struct api *a, const char *lib, const char *url)
{
	char ran_easy[128] = "", ran_multi[128] = "";
	CURL *e = make(a, url, ran_easy);
	int rc = 0, done = 0, running = 1;

	if (!e)
		return 1;
	CURLcode r = a->perform(e);
	report(a, lib, e, "easy", (int)r, ran_easy);
	a->cleanup(e);

	CURLM *m = a->multi_init();
	CURL *h = make(a, url, ran_multi);
	if (!m || !h || a->add(m, h) != CURLM_OK)
		return 1;
	time_t start = time(NULL);
	while (!done && time(NULL) - start < SECS) {
		CURLMsg *msg;
		int left;
		if (a->mperform(m, &running) != CURLM_OK)
			break;
		while ((msg = a->info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
				report(a, lib, h, "multi", (int)msg->data.result, ran_multi);
				done = 1;
			}
		if (!done && a->poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	a->remove(m, h);
	a->cleanup(h);
	a->mcleanup(m);
	return rc || r != CURLE_OK || !done;
}

#define LOOK(field, name)                                                                          \
	if (!(*(void **)&a.field = dlsym(h, name))) {                                              \
		printf("%s: no %s\n", lib, name);                                                  \
		return 1;                                                                          \
	}

static int use(const char *arg, const char *url)
{
	char lib[512];
	const char *at = strchr(arg, '@');
	struct api a;

	snprintf(lib, sizeof(lib), "%.*s", at ? (int)(at - arg) : (int)strlen(arg), arg);
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen %s failed\n", lib);
		return 1;
	}
	LOOK(easy_init, "curl_easy_init")
	LOOK(setopt, "curl_easy_setopt")
	LOOK(getinfo, "curl_easy_getinfo")
	LOOK(perform, "curl_easy_perform")
	LOOK(cleanup, "curl_easy_cleanup")
	LOOK(multi_init, "curl_multi_init")
	LOOK(add, "curl_multi_add_handle")
	LOOK(remove, "curl_multi_remove_handle")
	LOOK(mperform, "curl_multi_perform")
	LOOK(poll, "curl_multi_poll")
	LOOK(info_read, "curl_multi_info_read")
	LOOK(mcleanup, "curl_multi_cleanup")
	if (at && !(*(void **)&a.perform = dlvsym(h, "curl_easy_perform", at + 1))) {
		printf("%s: no curl_easy_perform@%s\n", lib, at + 1);
		return 1;
	}
	return run(&a, base(lib), url);
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 3) {
		fputs("usage: dlsymhost URL LIB[@VERSION]...\n", stderr);
		return 2;
	}
	fprintf(stderr, "next curl_easy_perform in=%s\n",
		object_of(dlsym(RTLD_NEXT, "curl_easy_perform")));
	fprintf(stderr, "next malloc in=%s\n", object_of(dlsym(RTLD_NEXT, "malloc")));
	for (int i = 2; i < argc; i++)
		rc |= use(argv[i], argv[1]);

	/* A library that does not define the name gives nothing. */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	dlerror();
	void *f = libc ? dlsym(libc, "curl_easy_perform") : NULL;
	const char *err = dlerror();
	printf("libc.so.6 has no curl_easy_perform: %s\n",
	       !f && err ? "dlsym gives NULL and an error" : "WRONG");
	fflush(stdout);
	return rc;
}
