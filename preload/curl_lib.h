/* The functions of one loaded libcurl build that authtap calls, all looked
 * up in that library, so that a host of the GnuTLS build is never handed
 * the OpenSSL build's functions. */
#ifndef AUTHTAP_CURL_LIB_H
#define AUTHTAP_CURL_LIB_H

#include <curl/curl.h>
#include <stdint.h>

#include "hooks.h"

typedef CURLcode (*curl_perform_fn)(CURL *h);
typedef void (*curl_cleanup_fn)(CURL *h);
typedef CURLcode (*curl_getinfo_fn)(CURL *h, CURLINFO info, ...);
typedef CURLHcode (*curl_header_fn)(CURL *h, const char *name, size_t index, unsigned int origin,
                                    int request, struct curl_header **hout);
typedef CURLMcode (*curl_multi_handle_fn)(CURLM *m, CURL *h);
typedef CURLMsg *(*curl_info_read_fn)(CURLM *m, int *msgs_in_queue);
typedef CURLMcode (*curl_multi_cleanup_fn)(CURLM *m);
typedef CURLMcode (*curl_multi_perform_fn)(CURLM *m, int *running_handles);
typedef CURLMcode (*curl_multi_socket_action_fn)(CURLM *m, curl_socket_t s, int ev_bitmask,
                                                 int *running_handles);

struct curl_lib {
	curl_perform_fn real_curl_easy_perform;
	curl_cleanup_fn real_curl_easy_cleanup;
	curl_getinfo_fn real_curl_easy_getinfo;
	curl_header_fn real_curl_easy_header; /* NULL before 7.84 or when built without */
	curl_multi_handle_fn real_curl_multi_add_handle;
	curl_multi_handle_fn real_curl_multi_remove_handle;
	curl_info_read_fn real_curl_multi_info_read;
	curl_multi_cleanup_fn real_curl_multi_cleanup;
	curl_multi_perform_fn real_curl_multi_perform;
	curl_multi_socket_action_fn real_curl_multi_socket_action;
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
