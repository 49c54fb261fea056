/* The interposed libcurl functions, and the lookup of the real ones.
 *
 * The real functions are found lazily, on the first call, because the host
 * may load libcurl after start-up (Python and PHP extensions do).  Every
 * libcurl function authtap calls comes from the library that owns the real
 * curl_easy_perform, so a host of the GnuTLS build is never handed the
 * OpenSSL build's functions. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "curl_lib.h"
#include "log.h"
#include "preload.h"
#include "table.h"

static struct curl_lib hook_lib;
static _Atomic(const struct curl_lib *) hook_lib_ready;
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;

AUTHTAP_EXPORT CURLcode curl_easy_perform(CURL *h);
AUTHTAP_EXPORT void curl_easy_cleanup(CURL *h);

#define HOOK_MAX_CANDIDATES 8

struct candidates {
	char *path[HOOK_MAX_CANDIDATES];
	size_t n;
};

static int note_libcurl(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct candidates *c = arg;
	const char *base = strrchr(info->dlpi_name, '/');

	(void)size;
	base = base ? base + 1 : info->dlpi_name;
	if (strncmp(base, "libcurl", 7) == 0 && c->n < HOOK_MAX_CANDIDATES)
		c->path[c->n++] = strdup(info->dlpi_name);
	return 0;
}

/* dlsym(RTLD_NEXT) sees only the global scope; a libcurl that a Python
 * extension pulled in with RTLD_LOCAL is found among the loaded objects.
 * dlopen is called outside dl_iterate_phdr, which holds the loader lock. */
static void *find_loaded(const char *name, void *own, void **owner)
{
	struct candidates c = {0};
	void *fn = NULL;

	dl_iterate_phdr(note_libcurl, &c);
	for (size_t i = 0; i < c.n; i++) {
		void *lib = c.path[i] ? dlopen(c.path[i], RTLD_LAZY | RTLD_NOLOAD) : NULL;
		if (lib && !fn) {
			dlerror();
			void *f = dlsym(lib, name);
			if (f && f != own) {
				fn = f;
				*owner = lib;
				lib = NULL;
			}
		}
		/* The reference kept for the owner pins the library, so that
		 * the pointers into it stay valid. */
		if (lib)
			dlclose(lib);
		free(c.path[i]);
	}
	return fn;
}

/* The library a function lives in, held open. */
static void *owner_of(void *fn)
{
	Dl_info info;

	if (!dladdr(fn, &info) || !info.dli_fname)
		return NULL;
	return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

static void *sym(void *lib, const char *name)
{
	dlerror();
	return dlsym(lib, name);
}

static bool resolve(void)
{
	void *own = (void *)curl_easy_perform;
	void *lib = NULL;

	dlerror();
	void *perform = dlsym(RTLD_NEXT, "curl_easy_perform");
	if (perform && perform != own)
		lib = owner_of(perform);
	else
		perform = find_loaded("curl_easy_perform", own, &lib);
	if (!perform || !lib)
		return false;

	hook_lib.real_curl_easy_perform = (curl_perform_fn)perform;
	hook_lib.real_curl_easy_cleanup = (curl_cleanup_fn)sym(lib, "curl_easy_cleanup");
	hook_lib.real_curl_easy_getinfo = (curl_getinfo_fn)sym(lib, "curl_easy_getinfo");
	hook_lib.real_curl_easy_header = (curl_header_fn)sym(lib, "curl_easy_header");
	if (!hook_lib.real_curl_easy_cleanup || !hook_lib.real_curl_easy_getinfo ||
	    (void *)hook_lib.real_curl_easy_cleanup == (void *)curl_easy_cleanup)
		return false;
	if (!hook_lib.real_curl_easy_header)
		log_warn("this libcurl has no curl_easy_header (it is older than 7.84 or built "
			 "without it): records will carry status, method and URL only");
	return true;
}

/* The real functions, or NULL when no libcurl can be found (then every
 * hook fails the call as libcurl would for a handle it cannot use). */
static const struct curl_lib *real_lib(void)
{
	const struct curl_lib *l = atomic_load_explicit(&hook_lib_ready, memory_order_acquire);
	if (l)
		return l;
	int saved = errno;
	pthread_mutex_lock(&hook_lock);
	l = atomic_load_explicit(&hook_lib_ready, memory_order_relaxed);
	if (!l && resolve()) {
		l = &hook_lib;
		atomic_store_explicit(&hook_lib_ready, l, memory_order_release);
	}
	pthread_mutex_unlock(&hook_lock);
	errno = saved;
	return l;
}

CURLcode curl_easy_perform(CURL *h)
{
	const struct config *cfg = preload_config();
	const struct curl_lib *lib = real_lib();

	if (!lib)
		return CURLE_FAILED_INIT;
	CURLcode rc = lib->real_curl_easy_perform(h);
	if (!cfg->disabled && h)
		capture_transfer(cfg, lib, h, rc, RECORD_API_EASY);
	return rc;
}

void curl_easy_cleanup(CURL *h)
{
	const struct curl_lib *lib = real_lib();

	/* Dropped first: once the handle is freed, malloc may hand its
	 * address to a new handle on another thread. */
	if (h)
		table_drop(h);
	if (lib)
		lib->real_curl_easy_cleanup(h);
}
