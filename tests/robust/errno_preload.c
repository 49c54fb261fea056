/* A second interposer of curl_easy_perform, preloaded after authtap
 * (LD_PRELOAD="libauthtap.so:liberrno-preload.so"): it calls the next
 * definition and leaves a sentinel errno just before returning, so that the
 * host can see whether authtap handed errno back untouched.  The number of
 * calls it saw is exported, to prove that it really was in the chain. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>

#include <curl/curl.h>

#define ERRNO_SENTINEL EOWNERDEAD

typedef CURLcode (*perform_fn)(CURL *h);

__attribute__((visibility("default"))) atomic_long errno_preload_calls;

__attribute__((visibility("default"))) CURLcode curl_easy_perform(CURL *h)
{
	static _Atomic(perform_fn) real;
	perform_fn f = atomic_load(&real);

	if (!f) {
		dlerror();
		f = (perform_fn)dlsym(RTLD_NEXT, "curl_easy_perform");
		atomic_store(&real, f);
	}
	CURLcode rc = f ? f(h) : CURLE_FAILED_INIT;
	atomic_fetch_add(&errno_preload_calls, 1);
	errno = ERRNO_SENTINEL;
	return rc;
}
