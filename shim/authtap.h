/* authtap.h - ask authtap what the upstream answered, from inside the host.
 *
 * Header only: include it, link nothing of authtap.  When the program runs
 * under the preload (LD_PRELOAD=libauthtap.so, or `authtap -- program`),
 * these calls answer from authtap's table; without it, or with
 * AUTHTAP_DISABLE=1, authtap_active() is 0 and every query answers "none".
 *
 *   CURL *h = curl_easy_init();
 *   ...
 *   curl_easy_perform(h);
 *   char rm[512];
 *   if (authtap_status(h) == 401 &&
 *       authtap_param(h, "Bearer", "resource_metadata", rm, sizeof(rm)) >= 0)
 *           printf("sign in via %s\n", rm);
 *
 * What is kept per handle: the final response of its last transfer, when it
 * was recorded (by default a 401, 403 or 407 with a challenge, or a 401/407
 * without one).  A later transfer on the same handle replaces it, one that
 * records nothing clears it, and curl_easy_cleanup drops it.  Strings are
 * copied out: functions taking (buf, size) follow snprintf (they return the
 * full length, write at most size - 1 bytes and a NUL, and write nothing
 * when size is 0) and return -1 when there is nothing to copy.  Every call
 * is thread-safe and leaves errno as it was.
 *
 * Needs only libc (glibc 2.34 or later has dlsym and pthread_once in it). */
#ifndef AUTHTAP_H
#define AUTHTAP_H

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CURLINC_CURL_H
typedef void CURL;
#endif

struct authtap_shim_v1 {
	int (*active)(void);
	long (*status)(const void *h);
	size_t (*count)(const void *h);
	int (*value)(const void *h, size_t i, char *buf, size_t size);
	int (*name)(const void *h, size_t i, char *buf, size_t size);
	size_t (*challenges)(const void *h);
	int (*scheme)(const void *h, size_t i, char *buf, size_t size);
	int (*param)(const void *h, const char *scheme, const char *name, char *buf,
		     size_t size);
	const void *(*last)(void);
	void (*forget)(const void *h);
};

/* One table per program: the preload is looked up in the already-loaded
 * objects (never loaded a second time), once.  A preload missing any entry
 * point counts as absent. */
static inline void authtap_shim_v1_lookup(void);

static inline struct authtap_shim_v1 *authtap_shim_v1_table(void)
{
	static struct authtap_shim_v1 table;
	return &table;
}

static inline void authtap_shim_v1_lookup(void)
{
	struct authtap_shim_v1 *t = authtap_shim_v1_table(), found;
	int saved = errno;
	void **slot = (void **)&found;
	static const char *const names[] = {
		"authtap_v1_active",     "authtap_v1_status", "authtap_v1_count",
		"authtap_v1_value",      "authtap_v1_name",   "authtap_v1_challenges",
		"authtap_v1_scheme",     "authtap_v1_param",  "authtap_v1_last",
		"authtap_v1_forget",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		dlerror();
		slot[i] = dlsym(RTLD_DEFAULT, names[i]);
		if (!slot[i]) {
			errno = saved;
			return;
		}
	}
	*t = found;
	errno = saved;
}

static inline const struct authtap_shim_v1 *authtap_shim_v1(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, authtap_shim_v1_lookup);
	return authtap_shim_v1_table();
}

/* 1 when libauthtap.so is loaded and not disabled, else 0. */
static inline int authtap_active(void)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->active ? t->active() : 0;
}

/* The status of the final response of h's last transfer if it was recorded,
 * else 0.  For a refused CONNECT tunnel, the proxy's status. */
static inline long authtap_status(const CURL *h)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->status ? t->status(h) : 0;
}

/* How many challenge header values (WWW-Authenticate, then
 * Proxy-Authenticate lines) were recorded for that response; 0 when none. */
static inline size_t authtap_count(const CURL *h)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->count ? t->count(h) : 0;
}

/* Copies header value i (0 <= i < authtap_count(h)), as libcurl stored it. */
static inline int authtap_value(const CURL *h, size_t i, char *buf, size_t size)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->value ? t->value(h, i, buf, size) : -1;
}

/* Copies the name of header i as the server spelt it ("WWW-Authenticate",
 * "www-authenticate" on HTTP/2, "Proxy-Authenticate"). */
static inline int authtap_name(const CURL *h, size_t i, char *buf, size_t size)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->name ? t->name(h, i, buf, size) : -1;
}

/* How many challenges those values hold: one header may carry several. */
static inline size_t authtap_challenges(const CURL *h)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->challenges ? t->challenges(h) : 0;
}

/* Copies the auth-scheme of challenge i (0 <= i < authtap_challenges(h)),
 * as sent ("Bearer", "Digest", "Negotiate"). */
static inline int authtap_scheme(const CURL *h, size_t i, char *buf, size_t size)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->scheme ? t->scheme(h, i, buf, size) : -1;
}

/* Copies the value of auth-param name (case-insensitive), unquoted, from the
 * first challenge of the given scheme (case-insensitive) that has it; with
 * scheme NULL, from the first challenge of any scheme that has it.
 *   authtap_param(h, "Bearer", "resource_metadata", buf, sizeof(buf)) */
static inline int authtap_param(const CURL *h, const char *scheme, const char *name, char *buf,
				size_t size)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->param ? t->param(h, scheme, name, buf, size) : -1;
}

/* The handle of the calling thread's last recorded transfer, while what was
 * recorded is still kept; else NULL.  For code that never sees the handle:
 * call the library function that does the transfer, then ask. */
static inline const CURL *authtap_last(void)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	return t->last ? (const CURL *)t->last() : NULL;
}

/* Drops what is kept for h, as curl_easy_cleanup does. */
static inline void authtap_forget(const CURL *h)
{
	const struct authtap_shim_v1 *t = authtap_shim_v1();
	if (t->forget)
		t->forget(h);
}

#ifdef __cplusplus
}
#endif

#endif
