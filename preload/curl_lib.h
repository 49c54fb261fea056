/* The functions of one loaded libcurl build that authtap calls, all looked
 * up in the library that owns the real curl_easy_perform. */
#ifndef AUTHTAP_CURL_LIB_H
#define AUTHTAP_CURL_LIB_H

#include <curl/curl.h>

typedef CURLcode (*curl_perform_fn)(CURL *h);
typedef void (*curl_cleanup_fn)(CURL *h);
typedef CURLcode (*curl_getinfo_fn)(CURL *h, CURLINFO info, ...);
typedef CURLHcode (*curl_header_fn)(CURL *h, const char *name, size_t index, unsigned int origin,
				    int request, struct curl_header **hout);

struct curl_lib {
	curl_perform_fn real_curl_easy_perform;
	curl_cleanup_fn real_curl_easy_cleanup;
	curl_getinfo_fn real_curl_easy_getinfo;
	curl_header_fn real_curl_easy_header; /* NULL before 7.84 or when built without */
};

#endif
