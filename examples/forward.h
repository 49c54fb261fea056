/* How the example proxies forward one request upstream: one libcurl easy
 * handle per request, the way many small services do it.  Kept apart from
 * the server so that a test can call it in-process (see
 * test_proxy_trace.c). */
#ifndef EXAMPLES_FORWARD_H
#define EXAMPLES_FORWARD_H

#include <stddef.h>
#include <curl/curl.h>

struct fwd_request {
	const char *method;
	const char *target;         /* path and query, starting with '/' */
	struct curl_slist *headers; /* "Name: value" lines to send, may be NULL */
	const char *body;           /* may be NULL when body_len is 0 */
	size_t body_len;
};

struct fwd_response {
	/* The transfer's handle, kept until fwd_response_free() so that the
	 * caller can still ask libcurl (or authtap) about the response. */
	CURL *easy;
	CURLcode result;
	long status;
	char *content_type; /* NULL when the upstream sent none */
	char *body;         /* malloc'ed, NUL-terminated */
	size_t body_len;
	char error[CURL_ERROR_SIZE];
};

/* Sends req to upstream (a base URL without a trailing slash) + req->target.
 * Returns 0 when a response arrived, whatever its status, and -1 otherwise
 * with res->result and res->error saying why.  Either way res must be
 * released with fwd_response_free(). */
int fwd_perform(const char *upstream, const struct fwd_request *req, struct fwd_response *res);

void fwd_response_free(struct fwd_response *res);

#endif
