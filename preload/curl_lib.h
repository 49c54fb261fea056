/* The functions of one loaded libcurl build that authtap calls, all looked
 * up in that library, so that a host of the GnuTLS build is never handed
 * the OpenSSL build's functions. */
#ifndef AUTHTAP_CURL_LIB_H
#define AUTHTAP_CURL_LIB_H

#include <curl/curl.h>
#include <stdint.h>

#include "hooks.h"

/* The real functions of the hooks (AUTHTAP_CURL_HOOKS), then those
 * authtap only calls (AUTHTAP_CURL_CALLED; curl_easy_header is NULL before
 * 7.84 or when built without), each real_<name>. */
struct curl_lib {
#define CURL_LIB_REAL(ret, name, params, args) ret(*real_##name) params;
#define CURL_LIB_REAL_VOID(name, params, args) void(*real_##name) params;
	AUTHTAP_CURL_HOOKS(CURL_LIB_REAL, CURL_LIB_REAL_VOID)
	AUTHTAP_CURL_CALLED(CURL_LIB_REAL)
#undef CURL_LIB_REAL
#undef CURL_LIB_REAL_VOID
	/* Where the library itself is loaded: a call from inside it is
	 * libcurl calling its own exported functions. */
	uintptr_t lo, size;
};

/* The hooks (hook.c) under names of authtap's own, which calls from
 * inside it reach directly, whatever the global scope holds. */
#define CURL_LIB_HOOK(ret, name, params, args) ret hook_##name params;
#define CURL_LIB_HOOK_VOID(name, params, args) void hook_##name params;
AUTHTAP_CURL_HOOKS(CURL_LIB_HOOK, CURL_LIB_HOOK_VOID)
#undef CURL_LIB_HOOK
#undef CURL_LIB_HOOK_VOID

#endif
